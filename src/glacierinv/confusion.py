"""Confusion matrix and per-class pixel scores: OA, precision, recall, F1, IoU, mIoU (seed Eqs. 4-6).

Shared by training validation (segment) and accuracy assessment (assess); the conventions:

- Classes are integers ``0 .. n_classes-1`` (default 0 background, 1 clean ice, 2 debris-covered ice);
  ``nodata`` (default 255) in either map excludes the pixel.
- ``cm[i, j]`` counts pixels of *reference* class ``i`` predicted as class ``j`` (rows = reference).
- Overall accuracy (seed Eq. 4) is ``trace(cm) / cm.sum()``.
- Per class ``k`` (one-vs-rest): precision = TP/(TP+FP), recall = TP/(TP+FN), F1 = 2TP/(2TP+FP+FN)
  (seed Eq. 5), IoU = TP/(TP+FP+FN) (seed Eq. 6).
- mIoU averages the IoU over all classes including background by default; ``miou_exclude`` drops classes.
  A class absent from both maps has an undefined IoU and is left out of the mean.
- Undefined ratios (0/0) are ``None`` in the dictionaries, so the output is strict JSON.
- ``glacier`` scores merge all non-background classes into one class (ice vs not ice).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from glacierinv.classes import CLASS_NAMES, NODATA

__all__ = ["DEFAULT_CLASS_NAMES", "confusion_matrix", "default_class_names", "scores", "scores_batch"]

DEFAULT_CLASS_NAMES = CLASS_NAMES


def confusion_matrix(
    pred: np.ndarray, ref: np.ndarray, n_classes: int = 3, nodata: int | None = NODATA
) -> np.ndarray:
    """Confusion matrix of a predicted class array against a reference class array.

    Parameters
    ----------
    pred, ref
        Integer class arrays of the same shape (float arrays are accepted; NaN counts as nodata).
    n_classes
        Number of classes; valid classes are ``0 .. n_classes-1``.
    nodata
        Value excluded from both arrays (``None``: no nodata value).

    Returns
    -------
    numpy.ndarray
        ``int64`` array ``(n_classes, n_classes)``; ``cm[i, j]`` = pixels of reference class ``i``
        predicted as ``j``.

    Raises
    ------
    ValueError
        Shapes differ, or a valid (non-nodata) pixel holds a value outside ``0 .. n_classes-1``.

    Examples
    --------
    >>> confusion_matrix(np.array([0, 1, 1, 2]), np.array([0, 1, 2, 2]))
    array([[1, 0, 0],
           [0, 1, 0],
           [0, 1, 1]])
    """
    pred = np.asarray(pred)
    ref = np.asarray(ref)
    if pred.shape != ref.shape:
        raise ValueError(f"pred shape {pred.shape} differs from ref shape {ref.shape}")
    if n_classes < 1:
        raise ValueError("n_classes must be at least 1")
    valid = np.ones(pred.shape, dtype=bool)
    for arr in (pred, ref):
        if arr.dtype.kind == "f":
            valid &= ~np.isnan(arr)
        if nodata is not None:
            valid &= arr != nodata
    p = pred[valid].astype("int64", copy=False)
    r = ref[valid].astype("int64", copy=False)
    for name, arr in (("pred", p), ("ref", r)):
        if arr.size and (arr.min() < 0 or arr.max() >= n_classes):
            bad = np.unique(arr[(arr < 0) | (arr >= n_classes)])[:5]
            raise ValueError(
                f"{name} holds class values {bad.tolist()} outside 0..{n_classes - 1} (nodata={nodata})"
            )
    return np.bincount(r * n_classes + p, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num = np.asarray(num, dtype="float64")
    den = np.asarray(den, dtype="float64")
    out = np.full(np.broadcast(num, den).shape, np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


def scores_batch(cms: np.ndarray, miou_exclude: Sequence[int] = ()) -> dict[str, np.ndarray]:
    """Vectorised scores of a stack of confusion matrices ``(..., n, n)`` (NaN where undefined).

    Returns arrays ``oa`` and ``miou`` of shape ``(...)`` and ``precision``, ``recall``, ``f1``, ``iou``
    of shape ``(..., n)``, plus ``glacier_f1``/``glacier_iou`` (all non-background classes merged).
    """
    cms = np.asarray(cms, dtype="float64")
    n = cms.shape[-1]
    tp = np.diagonal(cms, axis1=-2, axis2=-1)
    pred_tot = cms.sum(axis=-2)  # column sums: TP + FP
    ref_tot = cms.sum(axis=-1)  # row sums: TP + FN
    total = cms.sum(axis=(-2, -1))
    iou = _ratio(tp, pred_tot + ref_tot - tp)
    keep = np.array([k not in set(miou_exclude) for k in range(n)])
    with np.errstate(invalid="ignore"):
        sel = iou[..., keep]
        counted = (~np.isnan(sel)).sum(axis=-1)
        miou = _ratio(np.nansum(sel, axis=-1), counted)
    out = {
        "oa": _ratio(tp.sum(axis=-1), total),
        "precision": _ratio(tp, pred_tot),
        "recall": _ratio(tp, ref_tot),
        "f1": _ratio(2 * tp, pred_tot + ref_tot),
        "iou": iou,
        "miou": miou,
    }
    if n >= 2:  # binary glacier (any ice class) vs background
        g_tp = cms[..., 1:, 1:].sum(axis=(-2, -1))
        g_pred = cms[..., :, 1:].sum(axis=(-2, -1))
        g_ref = cms[..., 1:, :].sum(axis=(-2, -1))
        out["glacier_f1"] = _ratio(2 * g_tp, g_pred + g_ref)
        out["glacier_iou"] = _ratio(g_tp, g_pred + g_ref - g_tp)
    return out


def _num(x: float) -> float | None:
    x = float(x)
    return None if np.isnan(x) else x


def scores(
    cm: np.ndarray,
    class_names: Sequence[str] | None = None,
    *,
    miou_exclude: Sequence[int | str] = (),
) -> dict[str, Any]:
    """Accuracy scores of one confusion matrix (seed Eqs. 4-6), as a JSON-serialisable dict.

    Parameters
    ----------
    cm
        ``(n, n)`` confusion matrix, rows = reference, columns = prediction.
    class_names
        Names of the classes (default ``background, clean_ice, debris`` for 3 classes, else ``class_k``).
    miou_exclude
        Classes (indices or names) left out of the mIoU mean, e.g. ``["background"]``. Default: none,
        i.e. mIoU averages over all classes including background.

    Returns
    -------
    dict
        ``n_pixels``, ``oa``, ``miou``, ``miou_classes`` (the classes averaged), ``per_class`` (name →
        ``precision``, ``recall``, ``f1``, ``iou``, ``n_ref``, ``n_pred``), ``glacier`` (``f1``, ``iou``
        of ice vs background) and ``confusion_matrix`` (nested lists). Undefined values are ``None``.
    """
    cm = np.asarray(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"confusion matrix must be square, got shape {cm.shape}")
    if (cm < 0).any():
        raise ValueError("confusion matrix has negative counts")
    n = cm.shape[0]
    names = list(class_names) if class_names is not None else default_class_names(n)
    if len(names) != n:
        raise ValueError(f"{len(names)} class names for {n} classes")
    exclude = [names.index(c) if isinstance(c, str) else int(c) for c in miou_exclude]
    s = scores_batch(cm, exclude)
    per_class = {
        name: {
            "precision": _num(s["precision"][k]),
            "recall": _num(s["recall"][k]),
            "f1": _num(s["f1"][k]),
            "iou": _num(s["iou"][k]),
            "n_ref": int(cm[k, :].sum()),
            "n_pred": int(cm[:, k].sum()),
        }
        for k, name in enumerate(names)
    }
    out: dict[str, Any] = {
        "n_pixels": int(cm.sum()),
        "oa": _num(s["oa"]),
        "miou": _num(s["miou"]),
        "miou_classes": [names[k] for k in range(n) if k not in exclude and not np.isnan(s["iou"][k])],
        "per_class": per_class,
        "confusion_matrix": cm.astype("int64").tolist(),
    }
    if "glacier_f1" in s:
        out["glacier"] = {"f1": _num(s["glacier_f1"]), "iou": _num(s["glacier_iou"])}
    return out


def default_class_names(n: int) -> list[str]:
    return list(DEFAULT_CLASS_NAMES) if n == 3 else [f"class_{k}" for k in range(n)]


# ----------------------------------------------------------------------------------------------------
# Rasters, window by window
