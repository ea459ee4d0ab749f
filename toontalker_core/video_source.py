"""A source that is itself a video: every source frame is reenacted with the driving (or edited) motion.

The face is tracked through the source frames (`FaceCropper`, tracked mode with its smoothing), each frame's
crop is encoded as its own source, transferred with the motion code of the matching driving frame, rendered
and pasted back into that source frame. The output has the source video's length and frame rate; a shorter
driving motion is looped (a one-frame motion, e.g. an edited expression, is held on every frame), a longer one
is cut. In relative mode each source frame keeps its own motion and gets the driving motion relative to the
reference frame on top, so the source's talking and head motion survive.

Several faces (faces all, or positions): each chosen face has its own tracker through the source frames (like
the paired driving trackers), is encoded per frame in its own domain and pasted back into its own frame; one
driving face drives them all (its codes encoded once), or driving faces pair with source faces left to right.
"""
from __future__ import annotations

from dataclasses import dataclass
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


@dataclass
class SourceFace:
    """One face of the source video: its tracker (started on the first source frame), its domain and the
    codes of the driving face that drives it (one driving face may drive several source faces: its codes are
    encoded once and shared)."""
    cropper: FaceCropper
    domain: str
    driving_T1: torch.Tensor                 # [N, M, D], looped over the source frames
    reference_T1: torch.Tensor | None = None


def source_faces(croppers: list[FaceCropper], domains: list[str], codes: torch.Tensor,
                 references: list[torch.Tensor]) -> list[SourceFace]:
    """The i-th source cropper and domain with the codes [N, K_d, M, D] of driving face i (paired: K_d = K)
    or of the one driving face that drives them all (K_d = 1)."""
    if codes.shape[1] not in (1, len(croppers)):
        raise InputError(f"{codes.shape[1]} driving faces for {len(croppers)} source faces: one drives all, or "
                         "one per source face")
    drivers = range(len(croppers)) if codes.shape[1] > 1 else [0] * len(croppers)
    return [SourceFace(c, domain, codes[:, d], references[d]) for c, domain, d in zip(croppers, domains, drivers)]


def reenact_video_source(model: ToonTalker, source_chunks: Iterable[torch.Tensor], faces: list[SourceFace],
                         strength: float = 1.0, mode: str = "relative", feather: float = 0.1,
                         on_chunk: Callable[[int], None] | None = None, *, color_match: float = 0.0,
                         pad_mode: str = "reflect", warn: R.Warn | None = None) -> Iterator[torch.Tensor]:
    """Source video chunks [n,3,H,W] in [0,1] with the faces to reenact in them (`SourceFace`, their croppers
    started on the first source frame) -> output chunks [n,3,H,W] in [0,1] at the source's resolution."""
    done = 0
    for chunk in source_chunks:
        yield reenact_source_chunk(model, chunk, done, faces, strength, mode, feather, color_match, pad_mode,
                                   warn=warn)
        done += len(chunk)
        if on_chunk is not None:
            on_chunk(len(chunk))


def reenact_source_chunk(model: ToonTalker, chunk: torch.Tensor, first: int, faces: list[SourceFace],
                         strength: float = 1.0, mode: str = "relative", feather: float = 0.1,
                         color_match: float = 0.0, pad_mode: str = "reflect", *,
                         warn: R.Warn | None = None) -> torch.Tensor:
    """One chunk of `reenact_video_source`: source frames [n,3,H,W] whose first is frame `first` of the video
    -> those frames with every face reenacted, on the model's device (for callers with their own chunk loop).
    Each face is cropped from the source's own frames and pasted in turn (left to right: where crops overlap
    the later face is on top)."""
    S.check_strength(strength)
    if any(f.driving_T1.ndim != 3 or f.driving_T1.shape[0] == 0 for f in faces):
        raise InputError("the driving motion has no frames")
    chunk = chunk.to(model.device, non_blocking=True)  # detect, crop and paste where the model runs
    out = chunk
    for face in faces:
        face.cropper.crop_size = model.cfg.size
        crops, transform = face.cropper(chunk)
        with torch.inference_mode():
            source = R.encode_source(model, crops, face.domain, warn=warn)
            idx = torch.tensor([driving_index(first + i, len(face.driving_T1)) for i in range(len(chunk))])
            z = S.transfer(source, face.driving_T1[idx.to(face.driving_T1.device)], strength, mode,
                           face.reference_T1)
            rendered = R.synthesize(model, source, z, warn=warn)
        out = paste_back(out, rendered, transform, feather, color_match, pad_mode)
    return out


def encode_tracked_driving(model: ToonTalker, chunks: Iterable[torch.Tensor], croppers: list[FaceCropper],
                           reference01: torch.Tensor, domain: str) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Driving chunks [n,3,h,w] -> (codes [N, K_d, M, D] of each driving face, their reference codes [1, M, D]);
    `croppers` (one per driving face) started on the reference frame [3,h,w]. The codes are small: a whole
    clip's stay in memory for the looping."""
    refs = [reference_code(model, c, reference01, domain) for c in croppers]
    return torch.cat([tracked_codes(model, c, croppers, domain) for c in chunks]), refs


def tracked_codes(model: ToonTalker, chunk: torch.Tensor, croppers: list[FaceCropper],
                  domain: str) -> torch.Tensor:
    """One chunk of `encode_tracked_driving`: driving frames [n,3,h,w] -> their codes [n, K_d, M, D]."""
    chunk = chunk.to(model.device, non_blocking=True)
    with torch.inference_mode():
        codes = []
        for cropper in croppers:
            cropper.crop_size = model.cfg.size
            codes.append(R.encode_reference(model, cropper(chunk)[0], domain).canon_T1)
        return torch.stack(codes, dim=1)


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
