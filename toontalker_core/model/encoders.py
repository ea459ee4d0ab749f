"""The two image encoders of a ToonTalker generator.

`enc` (AppearanceEncoder) keeps every resolution's features: three of them are the appearance maps that the
backward transformer attends to, the rest are the features the synthesis warps.
`enc2` (MotionEncoder) reduces an image to one motion vector (the input of the query transformers).
"""
from __future__ import annotations

import torch
from torch import nn

from .config import ModelConfig
from .layers import ConvLayer, EqualConv2d, ResBlock


def _encoder_trunk(cfg: ModelConfig) -> nn.ModuleList:
    """1x1 conv at full resolution, then a residual downsampling block per octave down to 4x4."""
    convs = nn.ModuleList([ConvLayer(3, cfg.enc_channels(cfg.size), 1)])
    res = cfg.size
    while res > 4:
        convs.append(ResBlock(cfg.enc_channels(res), cfg.enc_channels(res // 2)))
        res //= 2
    return convs


class AppearanceEncoder(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.convs = _encoder_trunk(cfg)

    def forward(self, x: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """-> (appearance maps [4x4, 16x16, 64x64], warp features from 8x8 up to full size).

        The appearance maps come from 4, 16 and 64 px, the resolutions the backward transformer's three
        layers read; warp features are every trunk output but the 4x4 one, coarse to fine, one per
        synthesis level.
        """
        feats = []
        for conv in self.convs:
            x = conv(x)
            feats.append(x)
        coarse_to_fine = feats[::-1]
        appearance = [coarse_to_fine[0], coarse_to_fine[2], coarse_to_fine[4]]
        return appearance, coarse_to_fine[1:]


class MotionEncoder(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.convs = _encoder_trunk(cfg)
        self.convs.append(EqualConv2d(cfg.enc_channels(4), cfg.style_dim, 4, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[B,3,H,W] in [-1,1] -> motion vector [B, style_dim]."""
        for conv in self.convs:
            x = conv(x)
        return x.flatten(1)
