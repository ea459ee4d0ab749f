"""Full-frame reenactment: find and crop the faces, reenact the crops, paste the result back into the source.

Shared by the CLI (`--crop auto`) and the all-in-one node; streams over driving chunks. Everything runs on the
model's device: each driving chunk is moved there once, detected, cropped, reenacted and pasted back there,
and the frames leave it (to the caller) in chunks sized from the frame size (`memory.full_res_batch`).

The steps are also public, chunk by chunk, for callers with their own loop (the nodes):
    prepare_source(model, source01, box, domain)           -> SourcePlan (the crop transform and the encoding)
    crop_driving(model, cropper, chunk)                    -> crops [n,3,S,S] on the model's device
    paste_chunks(plan, rendered, ...)                      -> full frames, a few at a time
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

import torch

from . import stages as S
from .face import CropTransform, FaceCropper, crop, paste_back
from .face.crop import MAX_BOX_RATIO
from .model.toontalker import ToonTalker
from .memory import full_res_batch
from .runtime import Warn, encode_reference, encode_source, to_uint8


@dataclass
class SourcePlan:
    """A still source on the model's device: the full-resolution image [1,3,H,W], its crop transform and
    its encoding."""
    image: torch.Tensor
    transform: CropTransform
    encoded: S.EncodedSource

    @property
    def frames_per_chunk(self) -> int:
        h, w = self.image.shape[-2:]
        return full_res_batch(h * w)


def prepare_source(model: ToonTalker, source01: torch.Tensor, source_box: torch.Tensor, domain: str,
                   pad_mode: str = "reflect", *, warn: Warn | None = None) -> SourcePlan:
    """Crop the source [1,3,H,W] at `source_box` [3] (x, y, size) to the model size and encode it."""
    image = source01.to(model.device)
    t_src = CropTransform.from_boxes(source_box.reshape(1, 3), model.cfg.size, tuple(image.shape[-2:]))
    return SourcePlan(image, t_src, encode_source(model, crop(image, t_src, pad_mode), domain, warn=warn))


def crop_driving(model: ToonTalker, cropper: FaceCropper, chunk01: torch.Tensor) -> torch.Tensor:
    """Driving frames [n,3,h,w] -> face crops [n,3,S,S] on the model's device (detection there too)."""
    cropper.crop_size = model.cfg.size
    crops, _ = cropper(chunk01.to(model.device, non_blocking=True))
    return crops


def reference_code(model: ToonTalker, cropper: FaceCropper, reference01: torch.Tensor, domain: str, *,
                   warn: Warn | None = None) -> torch.Tensor:
    """The driving reference frame [3,h,w], cropped with the box `cropper` was started on, encoded -> its
    canonical code T1 [1, M, D] (what relative transfer measures the driving motion against)."""
    cropper.crop_size = model.cfg.size
    return encode_reference(model, cropper.reference_crop(reference01.to(model.device)), domain, warn=warn).canon_T1


def paste_chunks(plan: SourcePlan, rendered: torch.Tensor, feather: float = 0.1, color_match: float = 0.0,
                 pad_mode: str = "reflect", per_chunk: int | None = None,
                 out_dtype: torch.dtype = torch.float32) -> Iterator[torch.Tensor]:
    """Rendered crops [n,3,S,S] pasted into the source -> frames [k,3,H,W], k <= per_chunk (default: as many
    full frames as `memory.full_res_batch` allows), on the source's device: float32 in [0,1], or uint8
    (out_dtype=torch.uint8: only the crop's region is blended in float, the rest is the 8-bit source)."""
    step = per_chunk or plan.frames_per_chunk
    region = _paste_region(plan) if out_dtype == torch.uint8 else None
    for i in range(0, len(rendered), step):
        part = rendered[i:i + step]
        if region is None:
            frames = paste_back(plan.image, part, plan.transform.repeat(len(part)), feather, color_match, pad_mode)
            yield frames if out_dtype == torch.float32 else frames.to(out_dtype)
            continue
        (y0, y1, x0, x1), t_region, base = region
        blended = paste_back(plan.image[..., y0:y1, x0:x1], part, t_region.repeat(len(part)), feather,
                             color_match, pad_mode)
        frames = base.expand(len(part), -1, -1, -1).clone()
        frames[..., y0:y1, x0:x1] = to_uint8(blended, inplace=True)
        yield frames


def _paste_region(plan: SourcePlan):
    """((y0, y1, x0, x1), crop transform within that window, the 8-bit source [1,3,H,W]) for pasting into
    the window of the source that the crop (with its interpolation margin) touches; None when that window
    is not much smaller than the whole image."""
    h, w = plan.image.shape[-2:]
    x, y, size = plan.transform.boxes[0].tolist()
    margin = 4 + math.ceil(size / plan.transform.crop_size)  # the crop's and the resampling's support
    x0, y0 = max(0, math.floor(x) - margin), max(0, math.floor(y) - margin)
    x1, y1 = min(w, math.ceil(x + size) + margin), min(h, math.ceil(y + size) + margin)
    if x1 <= x0 or y1 <= y0 or size > MAX_BOX_RATIO * max(y1 - y0, x1 - x0):
        return None
    t_region = CropTransform.from_boxes([(x - x0, y - y0, size)], plan.transform.crop_size, (y1 - y0, x1 - x0))
    return (y0, y1, x0, x1), t_region, to_uint8(plan.image)


def reenact_full_frames(model: ToonTalker, source01: torch.Tensor, source_box: torch.Tensor,
                        cropper: FaceCropper, reference01: torch.Tensor, driving_chunks: Iterable[torch.Tensor],
                        source_domain: str, driving_domain: str, strength: float = 1.0, mode: str = "relative",
                        feather: float = 0.1, color_match: float = 0.0, pad_mode: str = "reflect",
                        on_chunk: Callable[[int], None] | None = None, *, batch_size: int | None = None,
                        out_dtype: torch.dtype = torch.float32, warn: Warn | None = None) -> Iterator[torch.Tensor]:
    """source01 [1,3,H,W] (full resolution) with its crop box [3]; `cropper` started on the driving
    reference frame `reference01` [3,h,w]; driving chunks [n,3,h,w] -> frames [k,3,H,W] in [0,1] on the
    model's device: the source with its face replaced by the reenacted one.

    The model runs on `batch_size` crops at a time (default: each driving chunk as it comes), so callers can
    read large frames in small chunks; the output comes `memory.full_res_batch(H * W)` frames at a time.
    `on_chunk(k)` is called after each output chunk of k frames. out_dtype=torch.uint8 yields 8-bit frames
    made with a quarter of the memory (for writers of 8-bit files).
    """
    from .multiface import reenact_faces  # its one-face case (multiface builds on this module)

    yield from reenact_faces(model, source01, torch.as_tensor(source_box)[None], [source_domain], [cropper],
                             reference01, driving_chunks, driving_domain, strength, mode, feather, color_match,
                             pad_mode, on_chunk, batch_size=batch_size, out_dtype=out_dtype, warn=warn)
