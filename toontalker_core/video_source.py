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
from .model import ToonTalker


def driving_index(frame: int, n_driving: int) -> int:
    """The driving frame used for source frame `frame`: the driving motion loops."""
    return frame % n_driving


def reenact_video_source(model: ToonTalker, source_chunks: Iterable[torch.Tensor], cropper: FaceCropper,
                         driving_T1: torch.Tensor, source_domain: str, strength: float = 1.0,
                         mode: str = "relative", reference_T1: torch.Tensor | None = None, feather: float = 0.1,
                         on_chunk: Callable[[int], None] | None = None) -> Iterator[torch.Tensor]:
    """Source video chunks [n,3,H,W] in [0,1] (`cropper` started on the first source frame), driving codes
    [N, M, D] -> output chunks [n,3,H,W] in [0,1] at the source's resolution."""
    S.check_strength(strength)
    if driving_T1.ndim != 3 or driving_T1.shape[0] == 0:
        raise InputError("the driving motion has no frames")
    cropper.crop_size = model.cfg.size
    done = 0
    for chunk in source_chunks:
        crops, transform = cropper(chunk)
        with torch.inference_mode():
            source = R.encode_source(model, crops, source_domain)
            idx = torch.tensor([driving_index(done + i, len(driving_T1)) for i in range(len(chunk))])
            z = S.transfer(source, driving_T1[idx.to(driving_T1.device)], strength, mode, reference_T1)
            rendered = R.synthesize(model, source, z)
        yield paste_back(chunk, rendered.to(chunk.device), transform, feather)
        done += len(chunk)
        if on_chunk is not None:
            on_chunk(len(chunk))


def encode_tracked_driving(model: ToonTalker, chunks: Iterable[torch.Tensor], cropper: FaceCropper,
                           reference01: torch.Tensor, domain: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Driving chunks [n,3,h,w] -> (codes [N, M, D], reference code [1, M, D]); `cropper` started on the
    reference frame [3,h,w]. The codes are small: a whole clip's stay in memory for the looping."""
    with torch.inference_mode():
        ref = R.encode_reference(model, cropper.reference_crop(reference01), domain).canon_T1
        codes = torch.cat([R.encode_reference(model, cropper(c)[0], domain).canon_T1
                           for c in chunks])
    return codes, ref


def is_video(path) -> bool:
    """True for a source path that holds several frames (a video or a folder of frames)."""
    from .media import MediaError, probe_driving

    try:
        info = probe_driving(path)
    except MediaError:
        return False
    return info.kind in ("video", "folder", "array") and info.num_frames > 1


def run_cli(args, model: ToonTalker, source_domain: str, driving_domain: str, log) -> "Path":
    """The CLI with a video as --source_path (crop auto): output = the source's length, fps and audio."""
    from pathlib import Path

    from tqdm import tqdm

    from .media import FrameWriter, iter_driving, probe_driving, read_frame

    if args.crop != "auto":
        raise InputError("a video source needs --crop auto (its face is tracked through the frames)")
    src_info, drv_info = probe_driving(args.source_path), probe_driving(args.driving_path)
    audio = src_info.path if src_info.kind == "video" and src_info.has_audio else None
    # the output is checked now (what it would replace, same file as an input, writable), before any rendering
    writer = FrameWriter(args.output, fps=src_info.fps, audio_from=audio,
                         inputs=(args.source_path, args.driving_path))
    ref = S.check_reference(args.reference_frame, drv_info.num_frames)
    size = model.cfg.size
    driving = FaceCropper(size, args.crop_mode, scale=args.crop_scale, offset=args.crop_offset,
                          smoothing=args.smoothing, fps=drv_info.fps, box=args.driving_box)
    reference = read_frame(args.driving_path, ref)
    driving.start(reference, what=f"driving frame {ref} of {args.driving_path}",
                  hint="choose a frame with a face via --reference-frame, or pass --driving-box X Y SIZE")
    codes, ref_T1 = encode_tracked_driving(model, iter_driving(args.driving_path, chunk_size=args.batch_size),
                                           driving, reference, driving_domain)
    source = FaceCropper(size, "tracked", scale=args.crop_scale, offset=args.crop_offset, smoothing=args.smoothing,
                         fps=src_info.fps, box=args.source_box)
    source.start(read_frame(args.source_path, 0), what=f"the first frame of the source video {args.source_path}",
                 hint="pass its face position with --source-box X Y SIZE")
    log(f"video source: {src_info.num_frames} frames at {src_info.fps:g} fps; driving motion: {len(codes)} frames "
        + ("(looped)" if len(codes) < src_info.num_frames else "(cut to the source's length)"
           if len(codes) > src_info.num_frames else ""))
    bar = tqdm(total=src_info.num_frames, unit="frame", disable=args.quiet, desc="reenact")
    with writer:
        for frames in reenact_video_source(model, iter_driving(args.source_path, chunk_size=args.batch_size), source,
                                           codes, source_domain, args.strength, args.mode, ref_T1, args.feather,
                                           on_chunk=bar.update):
            writer.write(frames)
    bar.close()
    log(f"wrote {writer.count} frames to {args.output}")
    return Path(args.output)
