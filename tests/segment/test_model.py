"""U-Net+CBAM and its blocks: shapes, gradient flow, attention really changes activations."""

from __future__ import annotations

import pytest
import torch

from glacierinv.segment.blocks import CBAM, ChannelAttention, SpatialAttention
from glacierinv.segment.model import UNetCBAM, UNetSpec


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.mark.parametrize("depth", [2, 3])
def test_unet_output_shape(depth):
    model = UNetCBAM(UNetSpec(in_channels=6, n_classes=3, base_width=8, depth=depth))
    x = torch.randn(2, 6, 64, 64)
    assert model(x).shape == (2, 3, 64, 64)


def test_unet_odd_size_is_padded_back():
    model = UNetCBAM(UNetSpec(in_channels=4, base_width=4, depth=2)).eval()
    assert model(torch.randn(1, 4, 50, 38)).shape == (1, 3, 50, 38)


def test_gradients_reach_every_parameter():
    model = UNetCBAM(UNetSpec(in_channels=5, base_width=8, depth=2, dropout=0.5))
    logits = model(torch.randn(2, 5, 64, 64))
    torch.nn.functional.cross_entropy(logits, torch.randint(0, 3, (2, 64, 64))).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_cbam_changes_activations_and_keeps_shape():
    x = torch.randn(2, 16, 32, 32)
    cbam = CBAM(16, reduction=4)
    y = cbam(x)
    assert y.shape == x.shape
    assert not torch.allclose(x, y)
    # both attention maps are in (0, 1) and have the CBAM shapes: (B, C, 1, 1) and (B, 1, H, W)
    mc, ms = ChannelAttention(16, 4)(x), SpatialAttention(7)(x)
    assert mc.shape == (2, 16, 1, 1) and ms.shape == (2, 1, 32, 32)
    assert ((mc > 0) & (mc < 1)).all() and ((ms > 0) & (ms < 1)).all()


def test_channel_attention_uses_max_pooling_too():
    """Two inputs with the same per-channel mean but different maxima get different weights."""
    att = ChannelAttention(4, reduction=1)
    a = torch.zeros(1, 4, 8, 8)
    b = a.clone()
    b[0, :, 0, 0], b[0, :, 0, 1] = 5.0, -5.0  # same mean (0), larger max
    assert not torch.allclose(att(a), att(b))


def test_cbam_can_be_switched_off():
    with_cbam = UNetCBAM(UNetSpec(in_channels=3, base_width=8, depth=2))
    without = UNetCBAM(UNetSpec(in_channels=3, base_width=8, depth=2, cbam=False))
    n = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert n(with_cbam) > n(without)


def test_invalid_spec_rejected():
    with pytest.raises(ValueError):
        UNetCBAM(UNetSpec(depth=0))
