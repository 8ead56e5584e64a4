"""Segmentation losses: multi-class Dice (seed Eq. 3), Focal (Lin et al. 2017), Dice + cross-entropy.

All take logits ``(B, C, H, W)`` and integer targets ``(B, H, W)``; pixels equal to ``ignore_index``
(nodata) contribute nothing.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["DiceCELoss", "DiceLoss", "FocalLoss", "LOSSES", "make_loss"]

IGNORE_INDEX = 255


def _valid_onehot(logits: torch.Tensor, target: torch.Tensor, ignore_index: int):
    valid = (target != ignore_index).unsqueeze(1).to(logits.dtype)
    safe = torch.where(target == ignore_index, torch.zeros_like(target), target)
    onehot = F.one_hot(safe.long(), logits.shape[1]).permute(0, 3, 1, 2).to(logits.dtype)
    return onehot * valid, valid


class DiceLoss(nn.Module):
    """Multi-class soft Dice loss, seed Eq. 3: ``1 − 2Σpg / (Σp + Σg)`` per class, averaged over classes.

    Sums run over all pixels of the batch (``p`` = softmax probability, ``g`` = one-hot label). ``smooth``
    keeps classes absent from a batch from dividing by zero (their Dice is then ≈ 1, i.e. no penalty
    for predicting none of them).
    """

    def __init__(self, smooth: float = 1.0, ignore_index: int = IGNORE_INDEX):
        super().__init__()
        self.smooth, self.ignore_index = smooth, ignore_index

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        g, valid = _valid_onehot(logits, target, self.ignore_index)
        p = torch.softmax(logits.float(), dim=1) * valid
        g = g.float()
        dims = (0, 2, 3)
        inter = (p * g).sum(dims)
        denom = p.sum(dims) + g.sum(dims)
        dice = (2 * inter + self.smooth) / (denom + self.smooth)
        return 1.0 - dice.mean()


class FocalLoss(nn.Module):
    """Focal loss (Lin et al. 2017): ``−α (1 − p_t)^γ log p_t`` averaged over valid pixels."""

    def __init__(self, gamma: float = 2.0, alpha: float = 1.0, ignore_index: int = IGNORE_INDEX):
        super().__init__()
        self.gamma, self.alpha, self.ignore_index = gamma, alpha, ignore_index

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        logp = F.log_softmax(logits.float(), dim=1)
        valid = target != self.ignore_index
        safe = torch.where(valid, target, torch.zeros_like(target)).long()
        logp_t = logp.gather(1, safe.unsqueeze(1)).squeeze(1)
        p_t = logp_t.exp()
        loss = -self.alpha * (1 - p_t) ** self.gamma * logp_t
        n = valid.sum().clamp(min=1)
        return (loss * valid).sum() / n


class DiceCELoss(nn.Module):
    """Dice (Eq. 3) plus pixel-wise cross-entropy, equally weighted by default."""

    def __init__(self, ce_weight: float = 1.0, ignore_index: int = IGNORE_INDEX):
        super().__init__()
        self.dice = DiceLoss(ignore_index=ignore_index)
        self.ce_weight, self.ignore_index = ce_weight, ignore_index

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        ce = F.cross_entropy(logits.float(), target.long(), ignore_index=self.ignore_index)
        return self.dice(logits, target) + self.ce_weight * ce


LOSSES = {"dice": DiceLoss, "focal": FocalLoss, "dice_ce": DiceCELoss}


def make_loss(name: str) -> nn.Module:
    """The loss named ``name`` (``dice``, ``focal`` or ``dice_ce``)."""
    if name not in LOSSES:
        raise ValueError(f"unknown loss '{name}'; choose one of {', '.join(LOSSES)}")
    return LOSSES[name]()
