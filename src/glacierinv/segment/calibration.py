"""Calibration of the U-Net's class probabilities: temperature scaling and expected calibration error.

Temperature scaling (Guo et al. 2017, "On calibration of modern neural networks", ICML): one scalar
``T > 0`` divides the logits before the softmax, ``p = softmax(z / T)``, fitted by minimising the negative
log-likelihood of validation pixels. It changes no argmax (classes stay identical), only how confident
the probabilities are. ``T`` is stored in the checkpoint (:class:`~glacierinv.segment.checkpoint.ModelMeta`).

Expected calibration error (ECE, Naeini et al. 2015; Guo et al. 2017): pixels are binned by their top
class probability into ``n_bins`` equal-width bins; ECE = Σ_b (n_b / N) · |accuracy_b − confidence_b|.
0 = perfectly calibrated.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import torch

__all__ = ["ReliabilityCounts", "expected_calibration_error", "fit_temperature", "logits_of_tiles"]


class ReliabilityCounts:
    """Per-bin sums for an ECE over data seen in windows (bounded memory)."""

    def __init__(self, n_bins: int = 15):
        if n_bins < 1:
            raise ValueError("n_bins must be >= 1")
        self.n_bins = n_bins
        self.n = np.zeros(n_bins, "int64")
        self.conf = np.zeros(n_bins, "float64")
        self.correct = np.zeros(n_bins, "float64")

    def add(self, proba: np.ndarray, truth: np.ndarray, ignore: int = 255) -> None:
        """Add pixels: ``proba`` (K, ...) class probabilities, ``truth`` (...) class codes (``ignore`` skipped)."""
        p = np.asarray(proba, "float64").reshape(proba.shape[0], -1)
        t = np.asarray(truth).ravel()
        ok = (t != ignore) & np.isfinite(p).all(axis=0)
        p, t = p[:, ok], t[ok]
        if not t.size:
            return
        conf = p.max(axis=0)
        hit = p.argmax(axis=0) == t
        b = np.minimum((conf * self.n_bins).astype("int64"), self.n_bins - 1)
        self.n += np.bincount(b, minlength=self.n_bins)
        self.conf += np.bincount(b, weights=conf, minlength=self.n_bins)
        self.correct += np.bincount(b, weights=hit.astype("float64"), minlength=self.n_bins)

    def ece(self) -> float:
        """Expected calibration error (NaN when no pixel was added)."""
        total = self.n.sum()
        if not total:
            return float("nan")
        m = self.n > 0
        gap = np.abs(self.correct[m] / self.n[m] - self.conf[m] / self.n[m])
        return float((self.n[m] / total * gap).sum())


def expected_calibration_error(
    proba: np.ndarray, truth: np.ndarray, n_bins: int = 15, ignore: int = 255
) -> float:
    """ECE of class probabilities ``proba`` (K, ...) against ``truth`` (...); pixels == ``ignore`` skipped."""
    acc = ReliabilityCounts(n_bins)
    acc.add(proba, truth, ignore)
    return acc.ece()


def fit_temperature(logits: torch.Tensor, labels: torch.Tensor, ignore: int = 255) -> float:
    """The temperature minimising the NLL of ``labels`` (N,) under ``softmax(logits / T)`` (N, K).

    A 1-D problem, solved on ``log T`` by a golden-section search over T in [0.05, 20] (the NLL is convex
    in 1/T); returns 1.0 when there is no labelled pixel.
    """
    ok = labels != ignore
    z, y = logits[ok].float(), labels[ok].long()
    if not y.numel():
        return 1.0

    def nll(log_t: float) -> float:
        return float(torch.nn.functional.cross_entropy(z / math.exp(log_t), y))

    lo, hi = math.log(0.05), math.log(20.0)
    g = (math.sqrt(5) - 1) / 2
    a, b = hi - g * (hi - lo), lo + g * (hi - lo)
    fa, fb = nll(a), nll(b)
    for _ in range(60):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - g * (hi - lo)
            fa = nll(a)
        else:
            lo, a, fa = a, b, fb
            b = lo + g * (hi - lo)
            fb = nll(b)
    return float(math.exp((lo + hi) / 2))


@torch.no_grad()
def logits_of_tiles(
    model: torch.nn.Module,
    tiles: Iterable[tuple[np.ndarray, np.ndarray]],
    device: torch.device | str = "cpu",
    max_pixels: int = 2_000_000,
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits (N, K) and labels (N,) of labelled pixels of ``(x (C,H,W), y (H,W))`` validation tiles.

    At most ``max_pixels`` labelled pixels are kept (an even random subsample per tile, so memory stays
    bounded on large validation sets). ``model`` is run in eval mode in float32.
    """
    model.eval()
    rng = np.random.default_rng(seed)
    zs, ys = [], []
    items = list(tiles)
    per_tile = max(1, max_pixels // max(len(items), 1))
    for x, y in items:
        logits = model(torch.from_numpy(np.ascontiguousarray(x, "float32"))[None].to(device))[0].float().cpu()
        z = logits.reshape(logits.shape[0], -1).T
        lab = torch.from_numpy(np.asarray(y).reshape(-1).astype("int64"))
        keep = np.flatnonzero(lab.numpy() != 255)
        if keep.size > per_tile:
            keep = rng.choice(keep, per_tile, replace=False)
        zs.append(z[keep])
        ys.append(lab[keep])
    if not zs:
        return torch.zeros((0, 3)), torch.zeros(0, dtype=torch.int64)
    return torch.cat(zs), torch.cat(ys)
