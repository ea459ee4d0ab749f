"""`dec` of a ToonTalker generator: motion bases, query transformers, backward transformer and the
warp-rendering synthesis (StyleGAN2 generator whose features are replaced, level by level, by source
features warped with a predicted flow and mask; SFT fusion from 64 px up).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import ModelConfig
from .layers import ConstantInput, ConvLayer, EqualLinear, ModulatedConv2d, StyledConv, Upsample
from .transformer import TransformerDecoderLayer

KV = tuple[torch.Tensor, torch.Tensor]


class ToRGB(nn.Module):
    def __init__(self, in_ch: int):
        super().__init__()
        self.upsample = Upsample()
        self.conv = ConvLayer(in_ch, 3, 1)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))

    def forward(self, x, skip=None):
        out = self.conv(x) + self.bias
        return out if skip is None else out + self.upsample(skip)


def identity_grid(size: int, batch: int, device, dtype) -> torch.Tensor:
    """Sampling grid [B,H,W,2] (x, y) with corners at exactly -1 and 1, as the published models learned."""
    xs = torch.linspace(-1.0, 1.0, size, dtype=torch.float64).to(device=device, dtype=dtype)
    gy, gx = torch.meshgrid(xs, xs, indexing="ij")
    return torch.stack((gx, gy), -1).expand(batch, -1, -1, -1)


class ToFlow(nn.Module):
    """Predicts a flow (2 ch, tanh offsets) and a mask (1 ch, sigmoid) and warps the source features."""

    def __init__(self, in_ch: int, style_dim: int):
        super().__init__()
        self.upsample = Upsample()
        self.conv = ModulatedConv2d(in_ch, 3, 1, style_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))

    def forward(self, x, style, feat, skip=None):
        """-> (warped features * mask, mask, flow logits carried to the next level).

        The flow, grid and sampling run in float32 whatever the model dtype: in bf16 a sampling coordinate
        near 1 is off by up to half a pixel at 256 px.
        """
        out = self.conv(x, style, bias=self.bias.flatten()).float()
        if skip is not None:
            out = out + self.upsample(skip)
        grid = identity_grid(x.shape[2], x.shape[0], x.device, torch.float32)
        grid = grid + torch.tanh(out[:, 0:2]).permute(0, 2, 3, 1)
        mask = torch.sigmoid(out[:, 2:3])
        if feat.shape[0] != x.shape[0]:
            feat = feat.expand(x.shape[0], -1, -1, -1)
        warped = F.grid_sample(feat.float(), grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        warped = (warped * mask).to(x.dtype).contiguous(memory_format=torch.channels_last)  # for the convs
        return warped, mask.to(x.dtype), out


class FuseSFT(nn.Module):
    """Spatial feature transform of the warped features: x + x * scale(x) + shift(x)."""

    def __init__(self, ch: int, style_dim: int):
        super().__init__()
        self.scale1 = StyledConv(ch, ch, 3, style_dim)
        self.scale2 = nn.Conv2d(ch, ch, 3, padding=1)
        self.shift1 = StyledConv(ch, ch, 3, style_dim)
        self.shift2 = nn.Conv2d(ch, ch, 3, padding=1)

    def forward(self, x, style):
        scale = self.scale2(F.leaky_relu(self.scale1(x, style), 0.2))
        shift = self.shift2(F.leaky_relu(self.shift1(x, style), 0.2))
        return x + x * scale + shift


class Synthesis(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        d = cfg.style_dim
        self.direction = nn.Embedding(cfg.motion_dim, d)  # the motion-base memory (queries)

        self.input = ConstantInput(cfg.dec_channels(4))
        self.conv1 = StyledConv(cfg.dec_channels(4), cfg.dec_channels(4), 3, d)
        self.convs = nn.ModuleList()
        self.to_rgbs = nn.ModuleList()
        self.to_flows = nn.ModuleList()
        self.sft = nn.ModuleList()
        in_ch = cfg.dec_channels(4)
        for log_res in range(3, cfg.log_size + 1):
            out_ch = cfg.dec_channels(2 ** log_res)
            self.convs.append(StyledConv(in_ch, out_ch, 3, d, upsample=True))
            self.convs.append(StyledConv(out_ch, out_ch, 3, d))
            self.to_rgbs.append(ToRGB(out_ch))
            self.to_flows.append(ToFlow(out_ch, d))
            if log_res > 5:
                self.sft.append(FuseSFT(out_ch, d))
            in_ch = out_ch

        def layer():
            return TransformerDecoderLayer(d, cfg.n_heads, d)

        self.transformerlayer_0 = layer()  # source query transformer
        self.transformerlayer_1 = layer()  # driving query transformer
        self.transformerlayer = layer()    # backward transformer over the 4x4 appearance map,
        self.transformerlayer_t = layer()  # ... the 16x16 map,
        self.transformerlayer_f = layer()  # ... and the 64x64 map (through latlayer1)
        self.latlayer1 = nn.Conv2d(cfg.enc_channels(64), d, 3, padding=1)
        self.mlp = EqualLinear(d * cfg.motion_dim, d * cfg.n_latent)

    # -- backward transformer ---------------------------------------------------------------------------
    def appearance_memory(self, appearance: list[torch.Tensor]) -> list[KV]:
        """Keys/values of the three appearance maps for the backward transformer's cross-attention.

        They depend on the source only, so they are computed once per source.
        """
        a4, a16, a64 = appearance
        tokens = [a4.flatten(2).transpose(1, 2), a16.flatten(2).transpose(1, 2),
                  self.latlayer1(a64).flatten(2).transpose(1, 2)]
        layers = (self.transformerlayer, self.transformerlayer_t, self.transformerlayer_f)
        return [layer.memory_kv(t) for layer, t in zip(layers, tokens)]

    def backward_transform(self, canonical: torch.Tensor, memory: list[KV]) -> torch.Tensor:
        """Canonical code [B, motion_dim, D] -> style latents [B, n_latent, D] in the source's domain."""
        q = canonical
        for layer, kv in zip((self.transformerlayer, self.transformerlayer_t, self.transformerlayer_f), memory):
            q = layer.forward_kv(q, kv)
        return self.mlp(q.flatten(1)).view(q.shape[0], self.cfg.n_latent, self.cfg.style_dim)

    # -- warp rendering ---------------------------------------------------------------------------------
    def render(self, latent: torch.Tensor, feats: list[torch.Tensor]) -> torch.Tensor:
        """Style latents [B, n_latent, D] + source warp features (8 px .. full size) -> image [B,3,H,W].

        Where it is faster (`per_sample_from`: the CPU), the levels from that size up run one sample at a
        time: each sample's modulated weights go straight into its convolutions and its activations stay
        cache-sized. Elsewhere (CUDA, MPS) every level runs batched: few large kernel launches.
        """
        b = latent.shape[0]
        split_px = per_sample_from(latent.device)
        # channels_last: the layout oneDNN/cuDNN convolutions run fastest in.
        x = self.input(b).to(latent.dtype).contiguous(memory_format=torch.channels_last)
        x = self.conv1(x, latent[:, 0])
        split = len(feats)  # levels before `split` run batched
        if b > 1 and split_px:
            split = sum(1 for level in range(len(feats)) if 8 * 2 ** level < split_px)
        rgb = flow = None
        for level in range(split):
            x, rgb, flow = self._level(level, latent, feats[level], x, rgb, flow)
        if split == len(feats):
            return rgb
        outs = []
        for i in range(b):
            xi, rgbi, flowi = x[i:i + 1], _row(rgb, i), _row(flow, i)
            for level in range(split, len(feats)):
                xi, rgbi, flowi = self._level(level, latent[i:i + 1], _row(feats[level], i), xi, rgbi, flowi)
            outs.append(rgbi)
        return torch.cat(outs)

    def _level(self, level: int, latent, feat, x, rgb, flow):
        """One synthesis level: upsampling conv, conv, warp of the source features, (SFT), RGB skip."""
        i = 1 + 2 * level
        x = self.convs[2 * level](x, latent[:, i])
        x = self.convs[2 * level + 1](x, latent[:, i + 1])
        warped, mask, flow = self.to_flows[level](x, latent[:, i + 2], feat, flow)
        blended = warped + x * (1.0 - mask)
        if level >= 3:  # 64 px and up: SFT-refined warp.
            warped = self.sft[level - 3](warped, latent[:, i + 2])
            # The published models were trained with the *blended features* (not the mask) in this
            # blend; reproduced as is, since their weights depend on it.
            x = warped + x * (1.0 - blended)
        else:
            x = blended
        return x, self.to_rgbs[level](warped, rgb), flow


# Per device type, the level size (px) from which the synthesis runs one sample at a time; absent = batched.
# CPU: per sample from 64 px measured faster than batched convolutions over modulated inputs (the project's
# issue-6 measurements on the 2-core AVX512-BF16 EPYC, torch 2.13, 256 px model: cache-sized activations and
# each sample's modulated weights straight into oneDNN). CUDA/MPS: batched, because the per-sample loop is
# ~150 small kernel launches per frame, which a GPU cannot hide; not measured on a GPU yet.
# Re-measure on any device: `python benchmarks/bench_reenact.py --device DEV` prints the rows "stage:
# synthesis, per sample from 64 px" and "stage: synthesis, all levels batched" (benchmarks/gpu_check.sh too).
PER_SAMPLE_FROM = {"cpu": 64}


def per_sample_from(device: torch.device | str) -> int | None:
    """Level size from which `Synthesis.render` runs per sample on `device`, or None for all batched."""
    return PER_SAMPLE_FROM.get(torch.device(device).type)


def _row(t: torch.Tensor | None, i: int) -> torch.Tensor | None:
    """Sample i of a batch; a batch of one (a shared source) serves every sample."""
    if t is None or t.shape[0] == 1:
        return t
    return t[i:i + 1]
