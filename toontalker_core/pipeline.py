"""Full-frame reenactment: find and crop the faces, reenact the crops, paste the result back into the source.

Shared by the CLI (`--crop auto`) and the all-in-one node; streams over driving chunks.
"""
from __future__ import annotations

from typing import Callable, Iterable, Iterator

import torch

from . import stages as S
from .face import CropTransform, FaceCropper, crop, paste_back
from .model import ToonTalker
from .runtime import reenact_batch


def reenact_full_frames(model: ToonTalker, source01: torch.Tensor, source_box: torch.Tensor,
                        cropper: FaceCropper, reference01: torch.Tensor, driving_chunks: Iterable[torch.Tensor],
                        source_domain: str, driving_domain: str, strength: float = 1.0, mode: str = "relative",
                        feather: float = 0.1, color_match: float = 0.0, pad_mode: str = "reflect",
                        on_chunk: Callable[[int], None] | None = None) -> Iterator[torch.Tensor]:
    """source01 [1,3,H,W] (full resolution) with its crop box [3]; `cropper` started on the driving
    reference frame `reference01` [3,h,w]; driving chunks [n,3,h,w] -> frames [n,3,H,W] in [0,1]: the source
    with its face replaced by the reenacted one."""
    S.check_strength(strength)
    size = model.cfg.size
    cropper.crop_size = size
    t_src = CropTransform.from_boxes(source_box.reshape(1, 3), size, tuple(source01.shape[-2:]))
    with torch.inference_mode():
        source = S.encode_source(model, S.to_model_range(crop(source01, t_src, pad_mode), model), source_domain)
        reference = S.encode_driving(model, S.to_model_range(cropper.reference_crop(reference01), model),
                                     driving_domain)
    for chunk in driving_chunks:
        crops, _ = cropper(chunk)
        rendered = reenact_batch(model, source, crops, driving_domain, strength, mode, reference.canon_T1)
        rendered = rendered.to(source01.device)
        yield paste_back(source01, rendered, t_src.repeat(len(rendered)), feather, color_match, pad_mode)
        if on_chunk is not None:
            on_chunk(len(chunk))
