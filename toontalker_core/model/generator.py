"""One ToonTalker generator (`Generator_trans_w` layout): `enc`, `enc2` and `dec`."""
from __future__ import annotations

import torch
from torch import nn

from .config import ModelConfig
from .encoders import AppearanceEncoder, MotionEncoder
from .synthesis import Synthesis


class Generator(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.enc = AppearanceEncoder(cfg)
        self.enc2 = MotionEncoder(cfg)
        self.dec = Synthesis(cfg)

    @property
    def motion_bases(self) -> torch.Tensor:
        """The learnable motion-base memory [motion_dim, D], used as the query transformers' queries."""
        return self.dec.direction.weight
