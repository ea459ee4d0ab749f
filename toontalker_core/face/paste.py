"""Paste rendered crops back into the original frames: inverse warp, feathered mask, optional colour match.

The mask is computed analytically from each crop transform: 1 inside the crop square, falling smoothly
(smoothstep) to 0 at the square's border over `feather` x the crop side. So the rendered crop fades into the
original with no seam, and nothing outside the crop square changes.
"""
from __future__ import annotations

import math

import torch

from ..errors import InputError
from .crop import CropTransform, _translate, crop, resample


def _ramp(d: torch.Tensor, width: float) -> torch.Tensor:
    if width <= 0:
        return (d > 0).float()
    t = (d / width).clamp(0, 1)
    return t * t * (3 - 2 * t)


def _check_feather(feather: float) -> float:
    if not (math.isfinite(feather) and 0 <= feather <= 0.5):
        raise InputError(f"feather must be between 0 and 0.5 (a fraction of the crop side), got {feather}")
    return float(feather)


def check_blend(feather: float, color_match: float) -> tuple[float, float]:
    """Validated (feather, color_match) for `paste_back`; raises InputError with a user-facing message."""
    if not (math.isfinite(color_match) and 0 <= color_match <= 1):
        raise InputError(f"color match must be between 0 and 1, got {color_match}")
    return _check_feather(feather), float(color_match)


def crop_mask(transform: CropTransform, feather: float = 0.1) -> torch.Tensor:
    """The blend mask in crop space [N,S,S] (the same for every frame)."""
    s = transform.crop_size
    c = torch.arange(s, dtype=torch.float32) + 0.5       # continuous crop coordinates of pixel centres
    d = torch.minimum(c, s - c)
    m = _ramp(torch.minimum(d[:, None], d[None, :]), _check_feather(feather) * s)
    return m[None].expand(len(transform), s, s)


def _mask_in_source(matrix: torch.Tensor, x0: int, y0: int, h: int, w: int, s: int, feather: float,
                    device=None) -> torch.Tensor:
    """Mask over source pixels [y0:y0+h, x0:x0+w] for one source -> crop matrix, made on `device`."""
    kx, tx, ky, ty = (float(v) for v in (matrix[0, 0], matrix[0, 2], matrix[1, 1], matrix[1, 2]))
    # axis-aligned crops: x and y separate; the offset is added in float64 before the float32 grid
    u = torch.arange(w, dtype=torch.float32, device=device) * kx + (kx * x0 + tx + 0.5)
    v = torch.arange(h, dtype=torch.float32, device=device) * ky + (ky * y0 + ty + 0.5)
    du, dv = torch.minimum(u, s - u), torch.minimum(v, s - v)
    return _ramp(torch.minimum(dv[:, None], du[None, :]), feather * s)


def match_color(rendered: torch.Tensor, target: torch.Tensor, weight: torch.Tensor,
                amount: float = 1.0) -> torch.Tensor:
    """Shift/scale each channel of rendered [N,C,S,S] so that its weighted mean and std match target's."""
    w = weight[:, None].to(rendered)
    total = w.sum(dim=(2, 3), keepdim=True).clamp(min=1e-6)

    def stats(x):
        mu = (x * w).sum(dim=(2, 3), keepdim=True) / total
        sd = (((x - mu) ** 2 * w).sum(dim=(2, 3), keepdim=True) / total).sqrt()
        return mu, sd

    mu_r, sd_r = stats(rendered)
    mu_t, sd_t = stats(target)
    gain = (sd_t / sd_r.clamp(min=1e-4)).clamp(0.5, 2.0)
    matched = (rendered - mu_r) * gain + mu_t
    return (rendered + amount * (matched - rendered)).clamp(0, 1)


def paste_back(originals: torch.Tensor, rendered: torch.Tensor, transform: CropTransform, feather: float = 0.1,
               color_match: float = 0.0, pad_mode: str = "reflect", interpolation: str = "bicubic") -> torch.Tensor:
    """Blend rendered crops [N,C,S,S] into originals [B,C,H,W] (B = N, or 1 for one still used for every
    frame) -> [N,C,H,W] at the original resolution.

    feather: width of the soft edge as a fraction of the crop side (0 = hard edge). color_match: 0..1, how
    far each crop's per-channel mean/std is moved to the original's inside the mask (0 = off).
    """
    n, s = len(transform), transform.crop_size
    feather, color_match = check_blend(feather, color_match)
    if originals.dim() == 3:
        originals = originals[None]
    if rendered.shape[0] != n or tuple(rendered.shape[-2:]) != (s, s):
        raise InputError(f"rendered crops {tuple(rendered.shape)} do not match {n} transforms of {s}x{s}")
    if originals.shape[0] not in (1, n):
        raise InputError(f"{originals.shape[0]} original images for {n} crop transforms")
    h, w = originals.shape[-2:]
    if (h, w) != transform.source_size:
        raise InputError(f"originals are {w}x{h} but the crop transform was made for "
                         f"{transform.source_size[1]}x{transform.source_size[0]}")
    rendered = rendered.to(originals.device, originals.dtype)
    if color_match > 0:
        target = crop(originals, transform, pad_mode, interpolation)
        rendered = match_color(rendered, target, crop_mask(transform, feather).to(rendered.device), color_match)
    out = originals.expand(n, -1, -1, -1).clone()
    matrices = transform.matrix.cpu()  # one host copy per chunk; the masks are made on the frames' device
    inverse, boxes = torch.linalg.inv(matrices), transform.boxes.cpu().tolist()
    masks: dict[tuple, torch.Tensor] = {}  # a still source pasted into every frame: one mask for all
    for i in range(n):
        x, y, size = boxes[i]
        x0, y0 = max(0, math.floor(x)), max(0, math.floor(y))
        x1, y1 = min(w, math.ceil(x + size)), min(h, math.ceil(y + size))
        if x1 <= x0 or y1 <= y0:
            continue  # the crop lies entirely outside the image
        warped = resample(rendered[i:i + 1], _translate(-x0, -y0) @ inverse[i], (y1 - y0, x1 - x0), interpolation)
        key = tuple(matrices[i].flatten().tolist())
        if key not in masks:
            masks = {key: _mask_in_source(matrices[i], x0, y0, y1 - y0, x1 - x0, s, feather, out.device).to(out.dtype)}
        region = out[i, :, y0:y1, x0:x1]
        region.add_(masks[key] * (warped[0] - region))
    return out


def paste_mask(transform: CropTransform, feather: float = 0.1) -> torch.Tensor:
    """The blend mask over the source frames [N,H,W] (what `paste_back` uses)."""
    h, w = transform.source_size
    feather = _check_feather(feather)
    matrices = transform.matrix.cpu()
    return torch.stack([_mask_in_source(matrices[i], 0, 0, h, w, transform.crop_size, feather)
                        for i in range(len(transform))])
