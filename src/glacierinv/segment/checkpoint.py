"""Model checkpoints: weights plus everything needed to use them safely on a feature stack.

A checkpoint is a plain ``dict`` saved with :func:`torch.save` holding only tensors and JSON-like
values, so it loads with ``torch.load(..., weights_only=True)`` (no arbitrary unpickling, ever):

- ``format``: ``"glacierinv-unet/1"``; ``code_version``: glacierinv version that wrote it;
- ``spec``: :class:`~glacierinv.segment.model.UNetSpec` fields;
- ``channels``: input channel names in model order (matched to the stack's band descriptions by name);
- ``norm_mean`` / ``norm_std``: per-channel statistics of the training set (scene-wide normalisation);
- ``class_names``: output classes in logit order; ``tile_px``: training tile size;
- ``train``: training summary (loss, epochs, metrics; free-form JSON values);
- ``temperature`` (optional, float > 0): temperature-scaling calibration of the softmax fitted on
  validation data (``softmax(logits / T)``); checkpoints without it load with ``T = 1`` (uncalibrated);
- ``state_dict``: the weights.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import torch

from glacierinv import __version__
from glacierinv.classes import CLASS_NAMES
from glacierinv.errors import CheckpointError
from glacierinv.io.atomic import atomic_path
from glacierinv.segment.model import UNetCBAM, UNetSpec

__all__ = [
    "FORMAT",
    "SHIPPED_MODEL",
    "ModelMeta",
    "checkpoint_channels",
    "load_checkpoint",
    "match_channels",
    "save_checkpoint",
    "shipped_model_channels",
]

log = logging.getLogger(__name__)

FORMAT = "glacierinv-unet/1"
SHIPPED_MODEL = Path(__file__).parent / "models" / "unet_cbam_synthetic.pt"


@dataclass
class ModelMeta:
    """What a checkpoint says about its model besides the weights."""

    spec: UNetSpec
    channels: list[str]
    norm_mean: list[float]
    norm_std: list[float]
    class_names: list[str] = field(default_factory=lambda: list(CLASS_NAMES))
    tile_px: int = 512
    code_version: str = __version__
    train: dict[str, Any] = field(default_factory=dict)
    temperature: float = 1.0  # softmax temperature (calibration); 1 = uncalibrated / old checkpoint

    def __post_init__(self) -> None:
        if not (math.isfinite(self.temperature) and self.temperature > 0):
            raise CheckpointError(f"checkpoint temperature must be finite and > 0, not {self.temperature}")
        n = len(self.channels)
        if len({c.lower() for c in self.channels}) != n:
            raise CheckpointError(f"checkpoint channel names repeat: {self.channels}")
        if len(self.norm_mean) != n or len(self.norm_std) != n or self.spec.in_channels != n:
            raise CheckpointError(
                f"checkpoint is inconsistent: {n} channels, {len(self.norm_mean)} means, "
                f"{len(self.norm_std)} stds, model in_channels={self.spec.in_channels}"
            )
        if any(not math.isfinite(s) or s <= 0 for s in self.norm_std) or any(
            not math.isfinite(m) for m in self.norm_mean
        ):
            raise CheckpointError("checkpoint normalisation statistics must be finite with std > 0")
        if len(self.class_names) != self.spec.n_classes:
            raise CheckpointError(
                f"checkpoint lists {len(self.class_names)} class names for {self.spec.n_classes} classes"
            )


def save_checkpoint(path: str | Path, model: UNetCBAM, meta: ModelMeta) -> Path:
    """Write ``model`` and ``meta`` atomically to ``path`` (loadable with ``weights_only=True``)."""
    payload = {
        "format": FORMAT,
        "code_version": meta.code_version,
        "spec": meta.spec.to_dict(),
        "channels": list(meta.channels),
        "norm_mean": [float(v) for v in meta.norm_mean],
        "norm_std": [float(v) for v in meta.norm_std],
        "class_names": list(meta.class_names),
        "tile_px": int(meta.tile_px),
        "train": meta.train,
        "temperature": float(meta.temperature),
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return Path(path)


def load_checkpoint(
    path: str | Path | None = None, device: str | torch.device = "cpu"
) -> tuple[UNetCBAM, ModelMeta]:
    """Load a checkpoint (default: the shipped synthetic model) → (model in eval mode, meta).

    Always ``torch.load(..., weights_only=True)``: a checkpoint that needs arbitrary unpickling is
    refused with :class:`CheckpointError`, as is one with missing keys or weights that do not fit.
    """
    p = Path(path) if path is not None else SHIPPED_MODEL
    if not p.is_file():
        raise CheckpointError(
            f"{p}: checkpoint not found. Train one with `glacierinv train CONFIG` or omit --checkpoint "
            "to use the shipped model"
        )
    try:
        raw = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure to load safely means an unusable checkpoint
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(
            f"{p}: not a safe glacierinv checkpoint (it cannot be loaded with weights_only=True: {first}). "
            "Use a checkpoint written by `glacierinv train`"
        ) from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise CheckpointError(f"{p}: not a glacierinv U-Net checkpoint (format {FORMAT!r} expected)")
    missing = [
        k
        for k in ("spec", "channels", "norm_mean", "norm_std", "class_names", "tile_px", "state_dict")
        if k not in raw
    ]
    if missing:
        raise CheckpointError(f"{p}: checkpoint lacks {', '.join(missing)}")
    known = {f.name for f in fields(UNetSpec)}
    try:
        spec = UNetSpec(**{k: v for k, v in raw["spec"].items() if k in known})
        meta = ModelMeta(
            spec=spec,
            channels=[str(c) for c in raw["channels"]],
            norm_mean=[float(v) for v in raw["norm_mean"]],
            norm_std=[float(v) for v in raw["norm_std"]],
            class_names=[str(c) for c in raw["class_names"]],
            tile_px=int(raw["tile_px"]),
            code_version=str(raw.get("code_version", "?")),
            train=dict(raw.get("train", {})),
            temperature=float(raw.get("temperature", 1.0)),
        )
        model = UNetCBAM(spec)
        model.load_state_dict(raw["state_dict"])
    except CheckpointError as exc:
        raise CheckpointError(f"{p}: {exc}") from None
    except (TypeError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{p}: weights do not match the stored architecture ({exc})") from None
    if meta.code_version != __version__:
        log.info("%s: written by glacierinv %s (running %s)", p, meta.code_version, __version__)
    model.eval()
    return model.to(device), meta


def checkpoint_channels(path: str | Path) -> list[str]:
    """The channel names a checkpoint declares, read safely (``weights_only``) without building the model."""
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
        return [str(c) for c in raw["channels"]]
    except Exception as exc:  # noqa: BLE001 - any failure means an unusable checkpoint
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path}: not a readable glacierinv checkpoint ({first})") from None


def shipped_model_channels() -> dict[str, list[str]]:
    """The models shipped in ``glacierinv/segment/models/`` (file name) → the channels each declares."""
    return {p.name: checkpoint_channels(p) for p in sorted(SHIPPED_MODEL.parent.glob("*.pt"))}


def match_channels(meta: ModelMeta, stack_names: list[str], stack_path: str | Path) -> list[int]:
    """0-based stack band indices of the model's channels, matched by name (case-insensitive).

    Raises :class:`CheckpointError` naming the missing channels; never guesses by position.
    """
    names = [(n or "").lower() for n in stack_names]
    missing = [c for c in meta.channels if c.lower() not in names]
    if missing:
        raise CheckpointError(
            f"{stack_path}: the model needs channel(s) {', '.join(missing)} but the stack's bands are "
            f"{', '.join(n or '?' for n in stack_names)}. Build the stack with [stack] channels = "
            f"{list(meta.channels)} or use a checkpoint trained on these channels"
        )
    idx = [names.index(c.lower()) for c in meta.channels]
    if idx != list(range(len(idx))):
        log.info("stack bands %s used as model channels %s (matched by name)", idx, meta.channels)
    return idx
