"""A small StyleGAN2-style discriminator (residual downsampling blocks, minibatch standard deviation,
equalized learning rate), built from the inference core's layers."""
from __future__ import annotations

import math

import torch
from torch import nn

from toontalker_core.model.layers import ConvLayer, EqualLinear, FusedLeakyReLU, ResBlock


class Discriminator(nn.Module):
    def __init__(self, size: int, channel_base: int = 2048, channel_max: int = 128, stddev_group: int = 4):
        super().__init__()

        def ch(res):
            return min(channel_max, channel_base // res)

        layers = [ConvLayer(3, ch(size), 1)]
        res = size
        while res > 4:
            layers.append(ResBlock(ch(res), ch(res // 2)))
            res //= 2
        self.convs = nn.Sequential(*layers)
        self.stddev_group = stddev_group
        self.final_conv = ConvLayer(ch(4) + 1, ch(4), 3)
        self.final_linear = EqualLinear(ch(4) * 16, ch(4))
        self.final_act = FusedLeakyReLU(ch(4))
        self.out = EqualLinear(ch(4), 1)
        self.log_size = int(math.log2(size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[B,3,H,W] in [-1,1] -> logits [B]."""
        x = self.convs(x)
        b, c, h, w = x.shape
        g = min(self.stddev_group, b)
        while b % g:
            g -= 1
        sd = x.view(g, -1, c, h, w)
        sd = torch.sqrt(sd.var(0, unbiased=False) + 1e-8).mean((1, 2, 3))  # [b/g]
        sd = sd.view(-1, 1, 1, 1).repeat(g, 1, h, w)
        x = self.final_conv(torch.cat([x, sd], 1))
        x = self.final_act(self.final_linear(x.flatten(1))[:, :, None, None]).flatten(1)
        return self.out(x).squeeze(1)
