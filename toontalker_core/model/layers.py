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
        # Scale the output rather than the weight: `mlp` holds 73M weights and only N x 7168 outputs.
        out = F.linear(x, self.weight.to(x.dtype)) * self.scale
        return out if self.bias is None else out + (self.bias * self.lr_mul).to(x.dtype)


class FusedLeakyReLU(nn.Module):
    """Bias add, leaky ReLU(0.2), then gain sqrt(2) to keep activations' variance."""

    def __init__(self, channels):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(1, channels, 1, 1))

    def forward(self, x):
        return F.leaky_relu(x + self.bias, 0.2) * SQRT2


class ConvLayer(nn.Sequential):
    """[Blur] -> EqualConv2d -> [FusedLeakyReLU]; Sequential so that keys read `convs.N.K.weight`.

    Runs as one convolution with the bias (and activation gain) folded into it, then an in-place leaky ReLU:
    leaky(x) * g == leaky(x * g) for g > 0.
    """

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
        self.downsample, self.activate = downsample, activate

    def forward(self, x, gain: float = 1.0):
        """`gain` scales the output (folded into the weights)."""
        if self.downsample:
            x = self[0](x)
        conv: EqualConv2d = self[1 if self.downsample else 0]
        act = self[-1] if self.activate else None
        bias = conv.bias
        if isinstance(act, FusedLeakyReLU):
            gain, bias = gain * SQRT2, act.bias.flatten()
        w = conv.weight * (conv.scale * gain)
        b = None if bias is None else (bias * gain).to(x.dtype)
        out = F.conv2d(x, w.to(x.dtype), b, conv.stride, conv.padding)
        return F.leaky_relu_(out, 0.2) if act is not None else out


class ResBlock(nn.Module):
    """Downsampling residual block of the encoders: (conv2(conv1(x)) + skip(x)) / sqrt(2)."""

    def __init__(self, in_ch, out_ch):
        super().__init__()
        self.conv1 = ConvLayer(in_ch, in_ch, 3)
        self.conv2 = ConvLayer(in_ch, out_ch, 3, downsample=True)
        self.skip = ConvLayer(in_ch, out_ch, 1, downsample=True, bias=False, activate=False)

    def forward(self, x):
        # The 1/sqrt(2) is folded into both branches' weights.
        out = self.conv2(self.conv1(x), gain=1 / SQRT2)
        skip = self.skip(x, gain=1 / SQRT2)
        # In place at inference; autograd needs the activation's output intact.
        return out + skip if out.requires_grad else out.add_(skip)


class ModulatedConv2d(nn.Module):
    """StyleGAN2 modulated convolution (weights scaled per sample by the style, then demodulated).

    Two equivalent evaluations: a single sample convolves with its modulated weights (no extra pass over
    the activations); a batch runs one shared-weight convolution with the input modulated and the output
    demodulated, conv(x, w * s * d) == conv(x * s, w) * d, instead of a grouped convolution.
    `bias`/`gain` fold a following bias add and activation gain into the convolution.
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

    def _conv(self, x, w, bias):
        if self.upsample:  # transposed conv weight layout: [in, out, k, k]
            return F.conv_transpose2d(x, w.transpose(0, 1), stride=2)
        return F.conv2d(x, w, bias, padding=self.padding)

    def forward(self, x, style, bias=None, gain: float = 1.0):
        s = self.modulation(style).float()  # [B, in]
        w = self.weight[0].float() * self.scale  # [out, in, k, k]
        dtype = x.dtype
        # With upsampling the bias comes after the blur; otherwise it is fused into the convolution.
        conv_bias = None if (bias is None or self.upsample) else (bias.float() * gain).to(dtype)
        if x.shape[0] == 1:
            ws = w * s[0, None, :, None, None]
            if self.demodulate:
                ws = ws * torch.rsqrt(ws.pow(2).sum((1, 2, 3)) + 1e-8)[:, None, None, None]
            out = self._conv(x, (ws * gain).to(dtype), conv_bias)
        else:
            out = self._conv(x * s[:, :, None, None].to(dtype), w.to(dtype), None)
            scale = torch.full_like(s[:, :1], gain).expand(-1, self.out_channel)
            if self.demodulate:  # sum_{i,k} (w[o,i,k] s[b,i])^2 = (s^2) @ (sum_k w^2)^T
                scale = scale * torch.rsqrt(s.pow(2) @ w.pow(2).sum((2, 3)).t() + 1e-8)
            out = out.mul_(scale[:, :, None, None].to(dtype))
            if conv_bias is not None:
                out = out.add_(conv_bias[None, :, None, None])
        if self.upsample:
            out = self.blur(out)
            if bias is not None:
                out = out.add_((bias.float() * gain).to(dtype)[None, :, None, None])
        return out


class NoiseInjection(nn.Module):
    """Kept for its checkpoint key; inference runs without noise (the reference passes none)."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return x


class StyledConv(nn.Module):
    """Modulated conv -> (noise) -> bias, leaky ReLU, gain sqrt(2): the bias is fused into the convolution,
    activation and gain run in place. (Folding the gain into the modulated weights too moved the warped
    renders ~30% further from the reference's float32 rounding on the parity fixture.)"""

    def __init__(self, in_ch, out_ch, kernel_size, style_dim, upsample=False):
        super().__init__()
        self.conv = ModulatedConv2d(in_ch, out_ch, kernel_size, style_dim, upsample=upsample)
        self.noise = NoiseInjection()
        self.activate = FusedLeakyReLU(out_ch)

    def forward(self, x, style):
        out = F.leaky_relu_(self.conv(x, style, bias=self.activate.bias.flatten()), 0.2)
        return out * SQRT2 if out.requires_grad else out.mul_(SQRT2)  # autograd needs the activation's output


class ConstantInput(nn.Module):
    def __init__(self, channels, size=4):
        super().__init__()
        self.input = nn.Parameter(torch.randn(1, channels, size, size))

    def forward(self, batch: int):
        return self.input.expand(batch, -1, -1, -1)
