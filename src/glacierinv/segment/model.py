"""The U-Net encoder-decoder with CBAM attention (seed section 3.3.1, Fig. 3).

Encoder: ``depth`` stages of double 3×3 conv (widths ``base, 2·base, 4·base, …``) each refined by CBAM
before it is passed as a skip connection and max-pooled; a bottleneck double conv (with CBAM and dropout,
default p = 0.5 as in the seed); decoder: transposed-conv upsampling, concatenation with the CBAM-refined
skip, double conv; a 1×1 convolution to ``n_classes`` logits (background, clean ice, debris-covered ice).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from glacierinv.segment.blocks import CBAM, ConvBlock, UpBlock

__all__ = ["UNetCBAM", "UNetSpec"]


@dataclass(frozen=True)
class UNetSpec:
    """Architecture hyper-parameters (stored in the checkpoint so the model can be rebuilt)."""

    in_channels: int = 6
    n_classes: int = 3
    base_width: int = 32
    depth: int = 4
    dropout: float = 0.5
    cbam: bool = True
    cbam_reduction: int = 8

    def to_dict(self) -> dict:
        return asdict(self)


class UNetCBAM(nn.Module):
    """U-Net with CBAM on every encoder stage and the bottleneck.

    Parameters
    ----------
    spec : UNetSpec
        Input channels, classes, base width, depth (number of poolings), dropout, CBAM on/off.

    The input height and width should be multiples of ``2**depth`` for exact skip alignment (other sizes
    work through padding). Output: logits ``(batch, n_classes, H, W)``.
    """

    def __init__(self, spec: UNetSpec = UNetSpec()):
        super().__init__()
        if spec.depth < 1 or spec.base_width < 1 or spec.in_channels < 1 or spec.n_classes < 2:
            raise ValueError(f"invalid U-Net spec: {spec}")
        self.spec = spec
        widths = [spec.base_width * 2**i for i in range(spec.depth + 1)]
        self.encoders = nn.ModuleList()
        self.attentions = nn.ModuleList()
        c_in = spec.in_channels
        for w in widths[:-1]:
            self.encoders.append(ConvBlock(c_in, w))
            self.attentions.append(CBAM(w, spec.cbam_reduction) if spec.cbam else nn.Identity())
            c_in = w
        self.pool = nn.MaxPool2d(2)
        self.bottleneck = ConvBlock(widths[-2], widths[-1], dropout=spec.dropout)
        self.bottleneck_attention = CBAM(widths[-1], spec.cbam_reduction) if spec.cbam else nn.Identity()
        self.decoders = nn.ModuleList(
            UpBlock(widths[i + 1], widths[i], widths[i]) for i in reversed(range(spec.depth))
        )
        self.head = nn.Conv2d(widths[0], spec.n_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for enc, att in zip(self.encoders, self.attentions, strict=True):
            x = att(enc(x))
            skips.append(x)
            x = self.pool(x)
        x = self.bottleneck_attention(self.bottleneck(x))
        for dec, skip in zip(self.decoders, reversed(skips), strict=True):
            x = dec(x, skip)
        return self.head(x)
