"""Still images: any PIL-readable file -> float32 RGB in [0,1], and resizing to the model size."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps

from ..errors import MediaError
from .common import PathLike, require_exists, short_reason

_SIXTEEN_BIT_MODES = {"I;16", "I;16B", "I;16L", "I;16N", "I"}
_EXIF_ORIENTATION = 0x0112


def _pil_to_float(im: Image.Image) -> np.ndarray:
    """Any PIL mode -> float32 HxWx3 in [0,1]; 16-bit data keeps its full range."""
    if im.mode in _SIXTEEN_BIT_MODES:
        gray = np.clip(np.asarray(im).astype(np.float32) / 65535.0, 0.0, 1.0)
        return np.repeat(gray[..., None], 3, axis=2)
    if im.mode == "F":  # float TIFFs are conventionally already in [0,1]
        gray = np.clip(np.nan_to_num(np.asarray(im, dtype=np.float32)), 0.0, 1.0)
        return np.repeat(gray[..., None], 3, axis=2)
    if im.mode in ("P", "PA"):  # palette may carry transparency; expand before dropping alpha
        im = im.convert("RGBA")
    if im.mode != "RGB":
        im = im.convert("RGB")  # L, LA, 1, RGBA, CMYK, YCbCr ... ; alpha is dropped
    return np.asarray(im, dtype=np.uint8).astype(np.float32) / 255.0


def read_image_array(path: Path) -> np.ndarray:
    try:
        with Image.open(path) as im:
            return _pil_to_float(ImageOps.exif_transpose(im))
    except MediaError:
        raise
    except Exception as exc:  # PIL raises many types (OSError, SyntaxError, DecompressionBomb...)
        raise MediaError(f"could not read image {path}: {short_reason(exc)}; "
                         "re-save it as PNG or JPEG") from None


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) after EXIF rotation, from the header only (fast for big folders)."""
    try:
        with Image.open(path) as im:
            w, h = im.size
            if im.getexif().get(_EXIF_ORIENTATION, 1) in (5, 6, 7, 8):
                w, h = h, w
            return w, h
    except Exception as exc:
        raise MediaError(f"could not read image {path}: {short_reason(exc)}; "
                         "re-save it as PNG or JPEG") from None


def load_image(path: PathLike, min_size: int = 32) -> torch.Tensor:
    """Read one image as float32 [3,H,W] in [0,1] (RGB), EXIF orientation applied.

    Grayscale/palette images become RGB, alpha is dropped, 16-bit images are
    scaled by 1/65535 (not clipped at 255).
    """
    p = Path(path)
    require_exists(p, "image")
    if p.is_dir():
        raise MediaError(f"{p} is a folder; expected an image file")
    arr = read_image_array(p)
    h, w = arr.shape[:2]
    if min(h, w) < min_size:
        raise MediaError(f"{p} is {w}x{h} px; ToonTalker needs at least {min_size} px on each side")
    return torch.from_numpy(np.ascontiguousarray(arr)).permute(2, 0, 1).contiguous()


def resize_to(frames: torch.Tensor, size: int) -> torch.Tensor:
    """[N,3,H,W] or [3,H,W] float in [0,1] -> size x size (anti-aliased bicubic, clamped).

    Does not preserve aspect ratio: callers crop first. Returns the input itself
    when it is already size x size.
    """
    return resize_frames(frames, (size, size))


def resize_frames(frames: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    """[N,3,H,W] or [3,H,W] float in [0,1] -> height x width, the input itself when it has that size.

    Bicubic with antialiasing: smooth when it enlarges a small render (Lanczos' extra sharpness would mostly
    ring on a blurry 64 px face, and torch has no Lanczos kernel), and it averages when it shrinks (no
    aliasing); clamped, since bicubic overshoots at edges.
    """
    if frames.dim() not in (3, 4):
        raise ValueError(f"resize_frames expects [3,H,W] or [N,3,H,W], got shape {tuple(frames.shape)}")
    if tuple(frames.shape[-2:]) == tuple(hw):
        return frames
    x = frames[None] if frames.dim() == 3 else frames
    out_dtype = frames.dtype if frames.is_floating_point() else torch.float32
    y = F.interpolate(x.float(), size=tuple(hw), mode="bicubic", align_corners=False, antialias=True)
    y = y.clamp_(0.0, 1.0).to(out_dtype)
    return y[0] if frames.dim() == 3 else y


def fit_longest(hw: tuple[int, int], longest: int) -> tuple[int, int]:
    """(height, width) with the aspect of `hw` and the longer side `longest` (the shorter rounded, >= 1)."""
    h, w = hw
    scale = longest / max(h, w)
    return max(1, round(h * scale)), max(1, round(w * scale))
