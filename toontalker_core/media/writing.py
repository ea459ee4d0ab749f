"""FrameWriter: results out as a video, a .npy array or a folder of PNG frames, atomically."""
from __future__ import annotations

import math
import os
import re
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from ..atomic import (AtomicTarget, check_replaceable, check_writable, describe, holds_npy, holds_video,
                      same_file_input)
from ..errors import MediaError
from .audio import audio_plan
from .common import DEFAULT_FPS, IMAGE_EXTS, VIDEO_EXTS, PathLike, require_exists
from .sinks import NpySink, PngSink, VideoSink, as_nhwc

_WRITE_VIDEO_FORMATS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}
_FRAME_NAME = re.compile(r"^\d{6}\.png$")


OWNER_MARK = ".toontalker"  # file inside every PNG folder we write: only such folders are replaced
_OWNER_TEXT = "PNG frames written by ComfyUI-ToonTalker; a later run with this output path may replace this folder.\n"


def output_kind(out: PathLike) -> str:
    """What FrameWriter writes at `out`: "video" (.mp4/.mov/.mkv/.m4v), "npy", or "folder" (PNG frames)."""
    out = Path(out)
    if out.is_dir():
        return "folder"
    ext = out.suffix.lower()
    if ext in _WRITE_VIDEO_FORMATS:
        return "video"
    if ext == ".npy":
        return "npy"
    if ext in VIDEO_EXTS or ext in IMAGE_EXTS:
        raise MediaError(f"cannot write {out}: use .mp4/.mov/.mkv for video, .npy for an array, "
                         "or a folder name (no extension) for PNG frames")
    return "folder"


def _check_replaceable(out: Path, kind: str) -> None:
    """Only what we would write ourselves may be replaced: a regular file of the same kind, an empty folder,
    or a PNG folder carrying our mark and nothing but frames. Everything else is the user's."""
    if not (out.exists() or out.is_symlink()):
        return
    if kind == "video":
        return check_replaceable(out, "a video", holds_video, MediaError)
    if kind == "npy":
        return check_replaceable(out, "a .npy array", holds_npy, MediaError)
    what = describe(out)
    if what != "a folder":
        raise MediaError(f"output {out} already exists and is {what}, not a PNG folder written by ToonTalker; "
                         "refusing to replace it. Choose another output path (.mp4/.npy or a new folder name)")
    names = [c.name for c in out.iterdir()]
    if not names:
        return
    if OWNER_MARK not in names:
        raise MediaError(f"output folder {out} was not written by ToonTalker and is not empty (e.g. {sorted(names)[0]}); "
                         "refusing to replace it. Choose a new or empty folder")
    foreign = sorted(n for n in names if n != OWNER_MARK and not _FRAME_NAME.match(n))
    if foreign:
        raise MediaError(f"output folder {out} now also contains other files (e.g. {foreign[0]}); "
                         "refusing to replace it. Move them out or choose a new folder")


def check_output(out: PathLike, inputs=()) -> str:
    """Everything about `out` that can be checked before rendering -> its kind (see `output_kind`).

    Refuses what the user did not ask to replace, an output that is one of `inputs` (links resolved, inodes
    compared; for a folder output also inputs inside it), and a location that cannot be written."""
    out = Path(out)
    kind = output_kind(out)
    clash = same_file_input(out, inputs)
    if clash is not None:
        relation = "is" if os.path.samefile(out, clash) else "contains"
        raise MediaError(f"output {out} {relation} the input {clash}; writing there would destroy it. "
                         "Choose another output path")
    _check_replaceable(out, kind)
    check_writable(out, MediaError)
    return kind


class FrameWriter:
    """Context manager writing frames to OUT, chosen by OUT's form (`output_kind`, or the `mode` attribute).

    - .mp4/.mov/.mkv (and .m4v): H.264 yuv420p (crf 18 by default) at `fps`, or at the given per-frame
      `timestamps` (seconds; a variable-frame-rate input keeps its timing and its audio stays in sync).
      Audio is added from `audio_from` (any media file with an audio stream; skipped if it has none) or
      from `audio_array=(samples, sample_rate)` with samples float in [-1,1] shaped [n] (mono) or [n, 2];
      either is re-encoded to AAC and cut to the video's duration. Odd widths/heights are padded by one
      replicated edge pixel (yuv420p needs even sizes).
    - .npy: float32 [N,H,W,3] in [0,1], unquantised.
    - anything else (no extension, or an existing directory): PNG frames 000000.png, 000001.png ... plus
      a `.toontalker` mark; with `alpha` ([H,W] in [0,1]) the frames are RGBA (`keeps_alpha` says whether
      this output keeps it). Other image/video extensions (.png, .webm, .gif ...) are rejected rather than
      silently becoming a folder.

    Safe: the constructor runs `check_output` (nothing the user did not ask to replace is replaced, no
    output onto one of `inputs`, the location is writable), so callers can fail before any rendering.
    Atomic: data goes to a hidden temp name next to OUT (see `atomic`) and is renamed onto OUT only when
    the `with` block exits cleanly with at least one frame written; otherwise the temp is removed and an
    existing OUT is left untouched.
    """

    def __init__(self, out: PathLike, fps: float = DEFAULT_FPS, audio_from: PathLike | None = None,
                 *, audio_array: tuple[np.ndarray, int] | None = None, crf: int = 18, alpha=None,
                 timestamps=None, inputs=()) -> None:
        self.out = Path(out)
        self.fps = float(fps)
        if not (math.isfinite(self.fps) and self.fps > 0):
            raise MediaError(f"fps for {self.out} must be a positive number, got {fps}")
        self.audio_from = Path(audio_from) if audio_from is not None else None
        if self.audio_from is not None:
            require_exists(self.audio_from, "audio source")
        self.mode = check_output(self.out, (*inputs, self.audio_from))
        self.audio_array = audio_array
        self.crf = int(crf)
        self.alpha = _alpha_uint8(alpha) if alpha is not None and self.mode == "folder" else None
        self.timestamps = _check_timestamps(timestamps, self.out) if timestamps is not None else None
        self._target: AtomicTarget | None = None
        self._sink: PngSink | NpySink | VideoSink | None = None
        self._size: tuple[int, int] | None = None

    @property
    def count(self) -> int:
        return self._sink.count if self._sink is not None else 0

    @property
    def keeps_alpha(self) -> bool:
        """True when an alpha channel was given and this output stores it (PNG folders only)."""
        return self.alpha is not None

    def __enter__(self) -> FrameWriter:
        with self._os_errors():
            self._target = AtomicTarget(self.out, folder=self.mode == "folder")
            if self.mode == "folder":
                (self._target.tmp / OWNER_MARK).write_text(_OWNER_TEXT)
                self._sink = PngSink(self._target.tmp, self.alpha)
        return self

    def _open_sink(self, height: int, width: int) -> None:
        """Video/npy sinks need the frame size, so they open on the first write."""
        if self.mode == "npy":
            self._sink = NpySink(self._target.tmp, height, width)
            return
        fmt = _WRITE_VIDEO_FORMATS[self.out.suffix.lower()]
        audio = audio_plan(self.audio_from, self.audio_array)
        source = str(self.audio_from) if self.audio_from is not None else "audio_array"
        self._sink = VideoSink(self._target.tmp, fmt, self.fps, height, width, self.crf, audio, source,
                               self.timestamps)

    def write(self, frames) -> None:
        """Append frames: torch/numpy [n,H,W,3] or [n,3,H,W] (or one frame), float in [0,1] or uint8."""
        if self._target is None:
            raise RuntimeError("use FrameWriter as a context manager: `with FrameWriter(out) as w: ...`")
        batch = as_nhwc(frames, self.out)
        if batch.shape[0] == 0:
            return
        size = (batch.shape[1], batch.shape[2])
        if self._size is None:
            if self.alpha is not None and self.alpha.shape != size:
                raise MediaError(f"alpha for {self.out} is {self.alpha.shape[1]}x{self.alpha.shape[0]} px but the "
                                 f"frames are {size[1]}x{size[0]}; they must match")
            self._size = size
        elif size != self._size:
            raise MediaError(f"frames for {self.out} are {size[1]}x{size[0]} px but earlier frames were "
                             f"{self._size[1]}x{self._size[0]}; all frames must have one size")
        if self.timestamps is not None and self.count + len(batch) > len(self.timestamps):
            raise MediaError(f"{self.out}: more frames than the {len(self.timestamps)} timestamps given")
        with self._os_errors():
            if self._sink is None:
                self._open_sink(*size)
            self._sink.write(batch)

    @contextmanager
    def _os_errors(self):
        """Disk full, permission lost, device gone ... -> one-line MediaError naming the output."""
        try:
            yield
        except OSError as e:  # av.error.FFmpegError subclasses OSError too
            reason = e.strerror or str(e) or type(e).__name__
            raise MediaError(f"could not write {self.out}: {' '.join(str(reason).split())}") from None

    def __exit__(self, exc_type, exc, tb) -> bool:
        try:
            if exc_type is None:
                if self.count == 0:
                    raise MediaError(f"no frames were written to {self.out}; nothing to save")
                with self._os_errors():
                    self._sink.close()
                    self._target.commit()
        finally:
            if self._target is not None:  # failure (ours or the caller's): drop the temp
                if self._sink is not None and self._target.tmp is not None:
                    self._sink.abort()
                self._target.discard()
                self._target = None
        return False


def _alpha_uint8(alpha) -> np.ndarray:
    """[H,W] alpha (torch/numpy, float in [0,1] or uint8) -> uint8 numpy [H,W]."""
    if isinstance(alpha, torch.Tensor):
        alpha = alpha.detach().cpu()
        alpha = alpha.numpy() if alpha.dtype == torch.uint8 else alpha.float().numpy()
    a = np.asarray(alpha)
    if a.ndim != 2:
        raise MediaError(f"alpha must be one [H,W] plane, got shape {a.shape}")
    if a.dtype == np.uint8:
        return a
    return np.rint(np.clip(np.nan_to_num(a.astype(np.float32)), 0.0, 1.0) * 255.0).astype(np.uint8)


def _check_timestamps(timestamps, out: Path) -> tuple[float, ...]:
    ts = tuple(float(t) for t in timestamps)
    if not ts or not all(math.isfinite(t) for t in ts) or any(b <= a for a, b in zip(ts, ts[1:])):
        raise MediaError(f"timestamps for {out} must be finite and strictly increasing")
    return ts
