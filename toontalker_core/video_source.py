"""A source that is itself a video: every source frame is reenacted with the driving (or edited) motion.

The face is tracked through the source frames (`FaceCropper`, tracked mode with its smoothing), each frame's
crop is encoded as its own source, transferred with the motion code of the matching driving frame, rendered
and pasted back into that source frame. The output has the source video's length and frame rate; a shorter
driving motion is looped (a one-frame motion, e.g. an edited expression, is held on every frame), a longer one
is cut. In relative mode each source frame keeps its own motion and gets the driving motion relative to the
reference frame on top, so the source's talking and head motion survive.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable, Iterator

import torch

from . import runtime as R
from . import stages as S
from .errors import InputError
from .face import FaceCropper, paste_back
from .model.toontalker import ToonTalker
from .pipeline import reference_code


def driving_index(frame: int, n_driving: int) -> int:
    """The driving frame used for source frame `frame`: the driving motion loops."""
    return frame % n_driving


def reenact_video_source(model: ToonTalker, source_chunks: Iterable[torch.Tensor], cropper: FaceCropper,
                         driving_T1: torch.Tensor, source_domain: str, strength: float = 1.0,
                         mode: str = "relative", reference_T1: torch.Tensor | None = None, feather: float = 0.1,
                         on_chunk: Callable[[int], None] | None = None, *, color_match: float = 0.0,
                         pad_mode: str = "reflect", warn: R.Warn | None = None) -> Iterator[torch.Tensor]:
    """Source video chunks [n,3,H,W] in [0,1] (`cropper` started on the first source frame), driving codes
    [N, M, D] -> output chunks [n,3,H,W] in [0,1] at the source's resolution."""
    done = 0
    for chunk in source_chunks:
        yield reenact_source_chunk(model, chunk, done, cropper, driving_T1, source_domain, strength, mode,
                                   reference_T1, feather, color_match, pad_mode, warn=warn)
        done += len(chunk)
        if on_chunk is not None:
            on_chunk(len(chunk))


def reenact_source_chunk(model: ToonTalker, chunk: torch.Tensor, first: int, cropper: FaceCropper,
                         driving_T1: torch.Tensor, source_domain: str, strength: float = 1.0,
                         mode: str = "relative", reference_T1: torch.Tensor | None = None, feather: float = 0.1,
                         color_match: float = 0.0, pad_mode: str = "reflect", *,
                         warn: R.Warn | None = None) -> torch.Tensor:
    """One chunk of `reenact_video_source`: source frames [n,3,H,W] whose first is frame `first` of the video
    -> those frames with the reenacted face, on the model's device (for callers with their own chunk loop)."""
    S.check_strength(strength)
    if driving_T1.ndim != 3 or driving_T1.shape[0] == 0:
        raise InputError("the driving motion has no frames")
    cropper.crop_size = model.cfg.size
    chunk = chunk.to(model.device, non_blocking=True)  # detect, crop and paste where the model runs
    crops, transform = cropper(chunk)
    with torch.inference_mode():
        source = R.encode_source(model, crops, source_domain, warn=warn)
        idx = torch.tensor([driving_index(first + i, len(driving_T1)) for i in range(len(chunk))])
        z = S.transfer(source, driving_T1[idx.to(driving_T1.device)], strength, mode, reference_T1)
        rendered = R.synthesize(model, source, z, warn=warn)
    return paste_back(chunk, rendered, transform, feather, color_match, pad_mode)


def encode_tracked_driving(model: ToonTalker, chunks: Iterable[torch.Tensor], cropper: FaceCropper,
                           reference01: torch.Tensor, domain: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Driving chunks [n,3,h,w] -> (codes [N, M, D], reference code [1, M, D]); `cropper` started on the
    reference frame [3,h,w]. The codes are small: a whole clip's stay in memory for the looping."""
    ref = reference_code(model, cropper, reference01, domain)
    return torch.cat([tracked_codes(model, c, cropper, domain) for c in chunks]), ref


def tracked_codes(model: ToonTalker, chunk: torch.Tensor, cropper: FaceCropper, domain: str) -> torch.Tensor:
    """One chunk of `encode_tracked_driving`: driving frames [n,3,h,w] -> their codes [n, M, D]."""
    cropper.crop_size = model.cfg.size
    with torch.inference_mode():
        return R.encode_reference(model, cropper(chunk.to(model.device, non_blocking=True))[0], domain).canon_T1


def source_video_info(path, allow_truncated: bool = False):
    """The source's DrivingInfo when `path` holds several frames (a video, a folder of frames, a .npy), else
    None (a still image: `load_image` reports what is wrong with one)."""
    from .media import VIDEO_EXTS, MediaError, probe_driving

    try:
        info = probe_driving(path, allow_truncated=allow_truncated)
    except MediaError:
        if Path(path).suffix.lower() in VIDEO_EXTS:
            raise  # a video source that cannot be read (truncated, damaged): say so
        return None
    return info if info.kind in ("video", "folder", "array") and info.num_frames > 1 else None
