"""StyleGAN2-style building blocks with the parameter names of the published checkpoints.

Every module here keeps the attribute names (and therefore state-dict keys) of the reference network so
that released checkpoints load without any key remapping. The arithmetic is written for batched inference:
modulated convolutions modulate the input and demodulate the output with one shared weight instead of
building a per-sample grouped convolution.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

BLUR_KERNEL = (1, 3, 3, 1)
SQRT2 = math.sqrt(2.0)


def make_kernel(taps=BLUR_KERNEL) -> torch.Tensor:
    """Separable FIR taps -> normalised 2-D kernel."""
    k = torch.tensor(taps, dtype=torch.float32)
    k = k[None, :] * k[:, None]
    return k / k.sum()


def upfirdn2d(x: torch.Tensor, kernel: torch.Tensor, up: int = 1, down: int = 1,
              pad: tuple[int, int] = (0, 0)) -> torch.Tensor:
    """Upsample by zero insertion, pad, filter with `kernel` (per channel), then subsample.

    The kernels used here are symmetric, so correlation equals the convolution of the original definition.
    """
    n, c, h, w = x.shape
    if up > 1:  # zero insertion: each sample followed by (up - 1) zeros along both axes
        x = F.pad(x[:, :, :, None, :, None], (0, up - 1, 0, 0, 0, up - 1)).reshape(n, c, h * up, w * up)
    p0, p1 = pad
    x = F.pad(x, (p0, p1, p0, p1))
    kh, kw = kernel.shape
    weight = kernel.to(x.dtype).flip(0, 1).expand(c, 1, kh, kw)
    x = F.conv2d(x, weight, groups=c)
    if down > 1:
        x = x[:, :, ::down, ::down]
    return x


class Blur(nn.Module):
    def __init__(self, pad: tuple[int, int], upsample_factor: int = 1, taps=BLUR_KERNEL):
        super().__init__()
        self.register_buffer("kernel", make_kernel(taps) * upsample_factor ** 2)
        self.pad = pad

    def forward(self, x):
        return upfirdn2d(x, self.kernel, pad=self.pad)


class Upsample(nn.Module):
    """2x FIR upsampling (used for the RGB and flow skip branches)."""

    def __init__(self, factor: int = 2, taps=BLUR_KERNEL):
        super().__init__()
        self.factor = factor
        self.register_buffer("kernel", make_kernel(taps) * factor ** 2)
        p = self.kernel.shape[0] - factor
        self.pad = ((p + 1) // 2 + factor - 1, p // 2)

    def forward(self, x):
        return upfirdn2d(x, self.kernel, up=self.factor, pad=self.pad)


class EqualConv2d(nn.Module):
    """Conv with the equalized learning-rate scale applied at run time (weights are stored unscaled)."""

    def __init__(self, in_ch, out_ch, kernel_size, stride=1, padding=0, bias=True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_ch)) if bias else None
        self.scale = 1 / math.sqrt(in_ch * kernel_size ** 2)
        self.stride, self.padding = stride, padding

    def forward(self, x):
        return F.conv2d(x, self.weight * self.scale, self.bias, self.stride, self.padding)


class EqualLinear(nn.Module):
    def __init__(self, in_dim, out_dim, bias=True, bias_init=0.0, lr_mul=1.0):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim) / lr_mul)
        self.bias = nn.Parameter(torch.full((out_dim,), float(bias_init))) if bias else None
        self.scale = lr_mul / math.sqrt(in_dim)
        self.lr_mul = lr_mul

    def forward(self, x):
        bias = None if self.bias is None else self.bias * self.lr_mul
        return F.linear(x, self.weight * self.scale, bias)


class FusedLeakyReLU(nn.Module):
    """Bias add, leaky ReLU(0.2), then gain sqrt(2) to keep activations' variance."""

    def __init__(self, channels):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(1, channels, 1, 1))

    def forward(self, x):
        return F.leaky_relu(x + self.bias, 0.2) * SQRT2


class ConvLayer(nn.Sequential):
    """[Blur] -> EqualConv2d -> [FusedLeakyReLU]; Sequential so that keys read `convs.N.K.weight`."""

    def __init__(self, in_ch, out_ch, kernel_size, downsample=False, bias=True, activate=True):
        layers: list[nn.Module] = []
        if downsample:
            p = (len(BLUR_KERNEL) - 2) + (kernel_size - 1)
            layers.append(Blur(pad=((p + 1) // 2, p // 2)))
            stride, padding = 2, 0
        else:
            stride, padding = 1, kernel_size // 2
        layers.append(EqualConv2d(in_ch, out_ch, kernel_size, stride, padding, bias=bias and not activate))
        if activate:
            layers.append(FusedLeakyReLU(out_ch) if bias else nn.LeakyReLU(0.2))
        super().__init__(*layers)


class ResBlock(nn.Module):
    """Downsampling residual block of the encoders."""

    def __init__(self, in_ch, out_ch):
        super().__init__()
        self.conv1 = ConvLayer(in_ch, in_ch, 3)
        self.conv2 = ConvLayer(in_ch, out_ch, 3, downsample=True)
        self.skip = ConvLayer(in_ch, out_ch, 1, downsample=True, bias=False, activate=False)

    def forward(self, x):
        return (self.conv2(self.conv1(x)) + self.skip(x)) / SQRT2


class ModulatedConv2d(nn.Module):
    """StyleGAN2 modulated convolution, computed with one shared weight for the whole batch.

    conv(x, w * s * d) == conv(x * s, w) * d, so the per-sample style scales the input channels and the
    demodulation scales the output channels: a plain (batched) convolution instead of a grouped one.
    """

    def __init__(self, in_ch, out_ch, kernel_size, style_dim, demodulate=True, upsample=False):
        super().__init__()
        self.in_channel, self.out_channel, self.kernel_size = in_ch, out_ch, kernel_size
        self.upsample, self.demodulate = upsample, demodulate
        self.scale = 1 / math.sqrt(in_ch * kernel_size ** 2)
        self.padding = kernel_size // 2
        self.weight = nn.Parameter(torch.randn(1, out_ch, in_ch, kernel_size, kernel_size))
        self.modulation = EqualLinear(style_dim, in_ch, bias_init=1.0)
        if upsample:
            p = (len(BLUR_KERNEL) - 2) - (kernel_size - 1)
            self.blur = Blur(pad=((p + 1) // 2 + 1, p // 2 + 1), upsample_factor=2)

    def forward(self, x, style):
        s = self.modulation(style)  # [B, in]
        w = self.weight[0] * self.scale  # [out, in, k, k]
        x = x * s[:, :, None, None].to(x.dtype)
        if self.upsample:
            out = F.conv_transpose2d(x, w.transpose(0, 1).to(x.dtype), stride=2)
        else:
            out = F.conv2d(x, w.to(x.dtype), padding=self.padding)
        if self.demodulate:
            # sum_{i,k} (w[o,i,k] s[b,i])^2 = (s^2) @ (sum_k w^2)^T
            demod = torch.rsqrt(s.pow(2) @ w.pow(2).sum((2, 3)).t() + 1e-8)
            out = out * demod[:, :, None, None].to(out.dtype)
        if self.upsample:
            out = self.blur(out)
        return out


class NoiseInjection(nn.Module):
    """Kept for its checkpoint key; inference runs without noise (the reference passes none)."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return x


class StyledConv(nn.Module):
    def __init__(self, in_ch, out_ch, kernel_size, style_dim, upsample=False):
        super().__init__()
        self.conv = ModulatedConv2d(in_ch, out_ch, kernel_size, style_dim, upsample=upsample)
        self.noise = NoiseInjection()
        self.activate = FusedLeakyReLU(out_ch)

    def forward(self, x, style):
        return self.activate(self.noise(self.conv(x, style)))


class ConstantInput(nn.Module):
    def __init__(self, channels, size=4):
        super().__init__()
        self.input = nn.Parameter(torch.randn(1, channels, size, size))

    def forward(self, batch: int):
        return self.input.expand(batch, -1, -1, -1)
