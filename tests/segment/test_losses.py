"""Losses: Dice (seed Eq. 3) on hand-computed cases, Focal reduces to CE at gamma 0, ignore index."""

from __future__ import annotations

import math

import pytest
import torch
from torch.nn import functional as F

from glacierinv.segment.losses import DiceCELoss, DiceLoss, FocalLoss, make_loss


def _logits_for(target: torch.Tensor, n_classes: int = 3, scale: float = 50.0) -> torch.Tensor:
    return F.one_hot(target, n_classes).permute(0, 3, 1, 2).float() * scale


def test_dice_perfect_and_worst():
    t = torch.randint(0, 3, (2, 8, 8))
    t[0, 0, :3] = torch.tensor([0, 1, 2])  # every class present
    assert DiceLoss(smooth=0)(_logits_for(t), t).item() == pytest.approx(0.0, abs=1e-6)
    wrong = (t + 1) % 3
    assert DiceLoss(smooth=0)(_logits_for(wrong), t).item() == pytest.approx(1.0, abs=1e-6)


def test_dice_matches_equation_3_by_hand():
    # one image, 4 pixels, two classes; p from explicit logits
    t = torch.tensor([[[0, 0, 1, 1]]])
    p1 = torch.tensor([0.2, 0.4, 0.7, 0.9])
    logits = torch.stack([torch.zeros(4), torch.log(p1 / (1 - p1))]).reshape(1, 2, 1, 4)
    p = torch.stack([1 - p1, p1])
    g = torch.stack([torch.tensor([1.0, 1, 0, 0]), torch.tensor([0.0, 0, 1, 1])])
    dice = [(2 * (p[k] * g[k]).sum() / (p[k].sum() + g[k].sum())).item() for k in range(2)]
    expected = 1 - sum(dice) / 2
    assert DiceLoss(smooth=0)(logits, t).item() == pytest.approx(expected, rel=1e-5)


def test_focal_gamma0_is_cross_entropy_and_down_weights_easy_pixels():
    torch.manual_seed(0)
    logits, t = torch.randn(2, 3, 6, 6), torch.randint(0, 3, (2, 6, 6))
    ce = F.cross_entropy(logits, t)
    assert FocalLoss(gamma=0)(logits, t).item() == pytest.approx(ce.item(), rel=1e-5)
    assert FocalLoss(gamma=2)(logits, t).item() < ce.item()
    # one easy pixel (p_t = 0.9): (1 - 0.9)^2 * -log(0.9)
    lg = torch.tensor([math.log(0.9), math.log(0.05), math.log(0.05)]).reshape(1, 3, 1, 1)
    val = FocalLoss(gamma=2)(lg, torch.zeros(1, 1, 1, dtype=torch.long)).item()
    assert val == pytest.approx(0.01 * -math.log(0.9), rel=1e-4)


@pytest.mark.parametrize("name", ["dice", "focal", "dice_ce"])
def test_ignore_index_pixels_do_not_count(name):
    torch.manual_seed(1)
    loss = make_loss(name)
    logits, t = torch.randn(1, 3, 4, 4), torch.randint(0, 3, (1, 4, 4))
    t2, logits2 = t.clone(), logits.clone()
    t2[0, 0, 0] = 255
    logits2[0, :, 0, 0] = torch.tensor([100.0, -100.0, 0.0])  # whatever is predicted there
    t[0, 0, 0] = 255
    assert loss(logits, t).item() == pytest.approx(loss(logits2, t2).item(), rel=1e-5)


def test_losses_are_differentiable_and_named():
    logits = torch.randn(2, 3, 8, 8, requires_grad=True)
    t = torch.randint(0, 3, (2, 8, 8))
    DiceCELoss()(logits, t).backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="unknown loss"):
        make_loss("hinge")
