"""Square face crops as exact, invertible affine transforms.

Coordinates are pixel-index coordinates (pixel centres at integers, as in kornia with align_corners=True); a
box (x, y, size) is in continuous source pixels (the top-left corner of pixel (0, 0) is (0, 0)). The crop of a
box to an S x S image maps source index X to crop index u = (X + 0.5 - x) * S / size - 0.5.

`CropTransform` keeps one 3x3 matrix (source -> crop, float64) per frame with the source and crop sizes, so
that paste-back inverts exactly what the crop did. `crop()` samples with bicubic interpolation after an
area pre-reduction (anti-aliasing) when the crop shrinks the source; outside the image it pads by reflection (or edge
replication), never black.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from kornia.geometry.transform import warp_affine

from ..errors import InputError

PAD_MODES = ("reflect", "edge")
MAX_BOX_RATIO = 16  # crop box side / the image's longer side: beyond, the image is a speck in the crop
DEFAULT_SCALE = 1.9     # crop side / face side: the framing of the project's 256 px samples (head, shoulders cut)
DEFAULT_OFFSET = -0.05  # crop centre shift in face sizes (negative: up, more forehead and hair)


def crop_boxes(faces, scale: float = DEFAULT_SCALE, offset: float = DEFAULT_OFFSET) -> torch.Tensor:
    """Face boxes -> square crop boxes [N,3] (x, y, size) in source pixels (float64).

    faces: [N,4] (x0, y0, x1, y1), or a list of objects with a `.box` (e.g. `detect.Face`). The square is
    `scale` times the face box's longer side, centred on the face, moved down by `offset` face sizes.
    """
    if not (math.isfinite(scale) and scale > 0):
        raise InputError(f"crop scale must be a positive number, got {scale}")
    if not math.isfinite(offset):
        raise InputError(f"crop offset must be a finite number, got {offset}")
    if abs(offset) >= scale / 2:  # the face's centre would leave its own crop (offset 2: a box below the face)
        raise InputError(f"crop offset {offset:g} moves the crop off the face: with crop scale {scale:g} use an "
                         f"offset between {-scale / 2:g} and {scale / 2:g} (exclusive), e.g. the default "
                         f"{DEFAULT_OFFSET:g}")
    if isinstance(faces, (list, tuple)) and faces and hasattr(faces[0], "box"):
        faces = [f.box for f in faces]
    b = torch.as_tensor(faces, dtype=torch.float64).reshape(-1, 4)
    side = torch.maximum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]).clamp(min=1.0)
    cx, cy = (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2 + offset * side
    size = side * scale
    return torch.stack([cx - size / 2, cy - size / 2, size], dim=1)


def _box_matrix(box: torch.Tensor, crop_size: int) -> torch.Tensor:
    x, y, s = box.tolist()
    k = crop_size / s
    return torch.tensor([[k, 0.0, (0.5 - x) * k - 0.5], [0.0, k, (0.5 - y) * k - 0.5], [0.0, 0.0, 1.0]],
                        dtype=torch.float64)


def check_box_size(size: float, image_hw: tuple[int, int], what: str = "crop box",
                   hint: str = "use a smaller box") -> None:
    """Refuse a crop box far larger than the image (before anything is allocated for it)."""
    limit = MAX_BOX_RATIO * max(image_hw)
    if size > limit:
        raise InputError(f"{what} is {size:.0f} px, more than {MAX_BOX_RATIO}x the {image_hw[1]}x{image_hw[0]} "
                         f"image's longer side (at most {limit} px); {hint}")


@dataclass
class CropTransform:
    """Per-frame source -> crop affine maps. matrix [N,3,3] float64 (pixel-index coordinates), the square
    boxes [N,3] (x, y, size) they come from, source_size (H, W) and crop_size S."""
    matrix: torch.Tensor
    boxes: torch.Tensor
    source_size: tuple[int, int]
    crop_size: int

    @classmethod
    def from_boxes(cls, boxes, crop_size: int, source_size: tuple[int, int]) -> "CropTransform":
        b = torch.as_tensor(boxes, dtype=torch.float64).reshape(-1, 3).cpu()
        if len(b) == 0:
            raise InputError("no crop boxes")
        if not torch.isfinite(b).all() or (b[:, 2] <= 0).any():
            raise InputError(f"crop boxes need finite coordinates and a positive size, got {b.tolist()}")
        if crop_size < 1:
            raise InputError(f"crop size must be >= 1, got {crop_size}")
        check_box_size(float(b[:, 2].max()), source_size, "the largest crop box")
        m = torch.stack([_box_matrix(box, crop_size) for box in b])
        return cls(m, b, (int(source_size[0]), int(source_size[1])), int(crop_size))

    def __len__(self) -> int:
        return self.matrix.shape[0]

    def __getitem__(self, idx) -> "CropTransform":
        if isinstance(idx, int):
            idx = slice(idx, idx + 1 if idx != -1 else None)
        return CropTransform(self.matrix[idx], self.boxes[idx], self.source_size, self.crop_size)

    @staticmethod
    def cat(parts: list["CropTransform"]) -> "CropTransform":
        if not parts:
            raise InputError("nothing to concatenate")
        first = parts[0]
        for p in parts[1:]:
            if (p.source_size, p.crop_size) != (first.source_size, first.crop_size):
                raise InputError("crop transforms of different source or crop sizes cannot be joined")
        return CropTransform(torch.cat([p.matrix for p in parts]), torch.cat([p.boxes for p in parts]),
                             first.source_size, first.crop_size)

    def repeat(self, n: int) -> "CropTransform":
        """One transform used for n frames (a still source pasted into every output frame)."""
        if len(self) != 1:
            raise InputError("repeat() needs a single transform")
        return CropTransform(self.matrix.expand(n, 3, 3), self.boxes.expand(n, 3), self.source_size, self.crop_size)

    @property
    def scale(self) -> torch.Tensor:
        """Crop pixels per source pixel [N] (> 1: the crop enlarges the source)."""
        return self.matrix[:, 0, 0]

    def inverse(self) -> torch.Tensor:
        """Crop -> source matrices [N,3,3] (float64)."""
        return torch.linalg.inv(self.matrix)

    def to(self, device) -> "CropTransform":
        """Move the (tiny, float64) matrices; on MPS, which has no float64, they stay on the CPU. The crop and
        paste functions accept transforms on any device."""
        if torch.device(device).type == "mps":
            return self
        return CropTransform(self.matrix.to(device), self.boxes.to(device), self.source_size, self.crop_size)

    def cpu(self) -> "CropTransform":
        return self.to("cpu")

    def to_dict(self) -> dict:
        """Plain, JSON-serialisable form (boxes define the transform)."""
        return {"boxes": self.boxes.cpu().tolist(), "source_size": list(self.source_size),
                "crop_size": self.crop_size}

    @classmethod
    def from_dict(cls, d: dict) -> "CropTransform":
        return cls.from_boxes(d["boxes"], d["crop_size"], tuple(d["source_size"]))


def _fold(i: torch.Tensor, n: int, mode: str) -> torch.Tensor:
    """Out-of-range indices folded back into 0..n-1: mirror without repeating the edge, or clamp."""
    if mode == "edge" or n == 1:
        return i.clamp(0, n - 1)
    period = 2 * (n - 1)
    i = i.remainder(period)
    return torch.where(i >= n, period - i, i)


def padded_region(image: torch.Tensor, x0: int, y0: int, x1: int, y1: int, mode: str = "reflect") -> torch.Tensor:
    """image[..., y0:y1, x0:x1] for any integer window, padded by `mode` where it leaves the image."""
    if mode not in PAD_MODES:
        raise InputError(f"pad mode must be one of {PAD_MODES}, got '{mode}'")
    h, w = image.shape[-2:]
    if x0 >= 0 and y0 >= 0 and x1 <= w and y1 <= h:
        return image[..., y0:y1, x0:x1]
    rows = _fold(torch.arange(y0, y1, device=image.device), h, mode)
    cols = _fold(torch.arange(x0, x1, device=image.device), w, mode)
    return image.index_select(-2, rows).index_select(-1, cols)


def _translate(tx: float, ty: float) -> torch.Tensor:
    return torch.tensor([[1.0, 0.0, tx], [0.0, 1.0, ty], [0.0, 0.0, 1.0]], dtype=torch.float64)


def _pool_matrix(f: int) -> torch.Tensor:
    """Index map of avg_pool2d(kernel=stride=f): output pixel i averages inputs f*i .. f*i+f-1."""
    return torch.tensor([[1 / f, 0.0, -(f - 1) / (2 * f)], [0.0, 1 / f, -(f - 1) / (2 * f)], [0.0, 0.0, 1.0]],
                        dtype=torch.float64)


INTERPOLATIONS = ("bicubic", "bilinear")


def _shrink_factor(matrix: torch.Tensor) -> int:
    """Integer area-reduction factor before interpolating: when the map shrinks 1.5x or more, the nearest
    integer factor (at most a 1.25x reduction is left to the interpolation)."""
    scale = math.sqrt(abs(float(torch.linalg.det(matrix[:2, :2]))))
    return round(1 / scale) if scale <= 1 / 1.5 else 1


def _warp(image: torch.Tensor, matrix: torch.Tensor, out_hw: tuple[int, int], interpolation: str) -> torch.Tensor:
    m = matrix[:2].to(torch.float32).to(image.device)[None]  # float64 stays on the CPU (MPS has none)
    out = warp_affine(image, m, dsize=out_hw, mode=interpolation, padding_mode="border", align_corners=True)
    return out.clamp_(image.amin(), image.amax()) if interpolation == "bicubic" else out


def _check_interpolation(interpolation: str) -> None:
    if interpolation not in INTERPOLATIONS:
        raise InputError(f"interpolation must be one of {INTERPOLATIONS}, got '{interpolation}'")


def resample(image: torch.Tensor, matrix: torch.Tensor, out_hw: tuple[int, int],
             interpolation: str = "bicubic") -> torch.Tensor:
    """Warp one image [1,C,h,w] by `matrix` (input index -> output index, 3x3 float64) to out_hw.

    When the map shrinks the image 1.5x or more, the image is first area-averaged by the nearest integer
    factor (anti-aliasing; the pooling's exact index map is folded into the matrix), so at most a 1.25x
    reduction is left to the interpolation. Samples outside the input repeat its edge; bicubic results are
    clamped to the input's range.
    """
    _check_interpolation(interpolation)
    factor = min(_shrink_factor(matrix), *image.shape[-2:])
    if factor > 1:
        image = F.avg_pool2d(image, factor)
        matrix = matrix @ torch.linalg.inv(_pool_matrix(factor))
    return _warp(image, matrix, out_hw, interpolation)


# Above this many values, a shrinking crop's window is area-averaged band by band instead of being gathered
# at full resolution first (a box many times the image would otherwise allocate gigabytes of padding).
POOL_IN_BANDS_FROM = 2 ** 24


def pooled_region(image: torch.Tensor, x0: int, y0: int, x1: int, y1: int, factor: int,
                  mode: str = "reflect") -> torch.Tensor:
    """avg_pool2d(padded_region(image, x0, y0, x1, y1, mode), factor) [..,C,(y1-y0)//f,(x1-x0)//f] without
    building the full-resolution window: memory C x rows_out x W instead of C x (y1-y0) x (x1-x0)."""
    h, w = image.shape[-2:]
    hp, wp = (y1 - y0) // factor, (x1 - x0) // factor
    dev = image.device
    rows = _fold(torch.arange(y0, y0 + hp * factor, device=dev), h, mode).view(hp, factor)
    cols = _fold(torch.arange(x0, x0 + wp * factor, device=dev), w, mode).view(wp, factor)
    band = sum(image.index_select(-2, rows[:, a]) for a in range(factor))          # [.., C, hp, W]
    out = sum(band.index_select(-1, cols[:, b]) for b in range(factor))            # [.., C, hp, wp]
    return out / factor ** 2


def crop(images: torch.Tensor, transform: CropTransform, pad_mode: str = "reflect",
         interpolation: str = "bicubic") -> torch.Tensor:
    """Crop images [B,C,H,W] (B = len(transform), or 1 for the same image in every frame) to
    [N,C,S,S] with S = transform.crop_size, on the images' device."""
    _check_interpolation(interpolation)
    n, s = len(transform), transform.crop_size
    if images.dim() == 3:
        images = images[None]
    if images.shape[0] not in (1, n):
        raise InputError(f"{images.shape[0]} images for {n} crop transforms")
    if tuple(images.shape[-2:]) != transform.source_size:
        raise InputError(f"images are {images.shape[-1]}x{images.shape[-2]} but the crop transform was made for "
                         f"{transform.source_size[1]}x{transform.source_size[0]}")
    if pad_mode not in PAD_MODES:
        raise InputError(f"pad mode must be one of {PAD_MODES}, got '{pad_mode}'")
    boxes, matrices = transform.boxes.cpu().tolist(), transform.matrix.cpu()  # one host copy per chunk
    out = []
    for i in range(n):
        img = images[i if images.shape[0] > 1 else 0][None]
        x, y, size = boxes[i]
        margin = 3 + math.ceil(size / s)  # interpolation support on both scales
        x0, y0 = math.floor(x) - margin, math.floor(y) - margin
        x1, y1 = math.ceil(x + size) + margin, math.ceil(y + size) + margin
        matrix = matrices[i] @ _translate(x0, y0)
        factor = min(_shrink_factor(matrix), y1 - y0, x1 - x0)
        if factor > 1 and img.shape[1] * (y1 - y0) * (x1 - x0) > POOL_IN_BANDS_FROM:
            region = pooled_region(img, x0, y0, x1, y1, factor, pad_mode)
            out.append(_warp(region, matrix @ torch.linalg.inv(_pool_matrix(factor)), (s, s), interpolation))
        else:
            out.append(resample(padded_region(img, x0, y0, x1, y1, pad_mode), matrix, (s, s), interpolation))
    return torch.cat(out)
