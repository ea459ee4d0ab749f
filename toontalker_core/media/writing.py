"""FrameWriter: results out as a video, a .npy array or a folder of PNG frames, atomically."""
from __future__ import annotations

import math
import os
import re
import shutil
import uuid
from pathlib import Path

import numpy as np

from ..errors import MediaError
from .audio import audio_plan
from .common import DEFAULT_FPS, IMAGE_EXTS, VIDEO_EXTS, PathLike, require_exists
from .sinks import NpySink, PngSink, VideoSink, as_nhwc

_WRITE_VIDEO_FORMATS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}
_FRAME_NAME = re.compile(r"^\d{6}\.png$")


def _writer_mode(out: Path) -> str:
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


def _check_replaceable_folder(out: Path) -> None:
    """Refuse to replace a folder that holds anything but frames we wrote (protects user files)."""
    if not out.is_dir():
        return
    foreign = [c.name for c in out.iterdir() if not _FRAME_NAME.match(c.name)]
    if foreign:
        raise MediaError(f"output folder {out} already contains other files (e.g. {foreign[0]}); "
                         "choose a new or empty folder")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink(missing_ok=True)


def _move_into_place(tmp: Path, out: Path) -> None:
    """Rename tmp -> out, replacing out. Files swap atomically; folders via a short-lived backup."""
    if not (out.exists() and (out.is_dir() or tmp.is_dir())):
        os.replace(tmp, out)
        return
    backup = out.with_name(f".{out.name}.{uuid.uuid4().hex[:8]}.old")
    os.replace(out, backup)
    try:
        os.replace(tmp, out)
    except BaseException:
        os.replace(backup, out)
        raise
    _remove(backup)


class FrameWriter:
    """Context manager writing frames to OUT, chosen by OUT's form.

    - .mp4/.mov/.mkv (and .m4v): H.264 yuv420p (crf 18 by default) at `fps`. Audio is added from
      `audio_from` (any media file with an audio stream; silently skipped if it has none) or from
      `audio_array=(samples, sample_rate)` with samples float in [-1,1] shaped [n] (mono) or [n, 2];
      either is re-encoded to AAC and cut to the video's duration. Odd widths/heights are padded by
      one replicated edge pixel (yuv420p needs even sizes).
    - .npy: float32 [N,H,W,3] in [0,1], unquantised.
    - anything else (no extension, or an existing directory): PNG frames 000000.png, 000001.png ...
      Other image/video extensions (.png, .webm, .gif ...) are rejected rather than silently
      becoming a folder.

    Atomic: data goes to a hidden temp name next to OUT and is renamed onto OUT only when the
    `with` block exits cleanly with at least one frame written; otherwise the temp is removed and an
    existing OUT is left untouched. An existing folder is only replaced if it holds nothing but
    NNNNNN.png frames.
    """

    def __init__(self, out: PathLike, fps: float = DEFAULT_FPS, audio_from: PathLike | None = None,
                 *, audio_array: tuple[np.ndarray, int] | None = None, crf: int = 18) -> None:
        self.out = Path(out)
        self.fps = float(fps)
        if not (math.isfinite(self.fps) and self.fps > 0):
            raise MediaError(f"fps for {self.out} must be a positive number, got {fps}")
        self.mode = _writer_mode(self.out)
        if self.mode == "folder":
            _check_replaceable_folder(self.out)
        self.audio_from = Path(audio_from) if audio_from is not None else None
        if self.audio_from is not None:
            require_exists(self.audio_from, "audio source")
        self.audio_array = audio_array
        self.crf = int(crf)
        self._tmp: Path | None = None
        self._sink: PngSink | NpySink | VideoSink | None = None
        self._size: tuple[int, int] | None = None

    @property
    def count(self) -> int:
        return self._sink.count if self._sink is not None else 0

    def __enter__(self) -> FrameWriter:
        parent = self.out.parent
        parent.mkdir(parents=True, exist_ok=True)
        self._tmp = parent / f".{self.out.name}.{uuid.uuid4().hex[:8]}.tmp"
        if self.mode == "folder":
            self._tmp.mkdir()
            self._sink = PngSink(self._tmp)
        return self

    def _open_sink(self, height: int, width: int) -> None:
        """Video/npy sinks need the frame size, so they open on the first write."""
        if self.mode == "npy":
            self._sink = NpySink(self._tmp, height, width)
            return
        fmt = _WRITE_VIDEO_FORMATS[self.out.suffix.lower()]
        audio = audio_plan(self.audio_from, self.audio_array)
        source = str(self.audio_from) if self.audio_from is not None else "audio_array"
        self._sink = VideoSink(self._tmp, fmt, self.fps, height, width, self.crf, audio, source)

    def write(self, frames) -> None:
        """Append frames: torch/numpy [n,H,W,3] or [n,3,H,W] (or one frame), float in [0,1] or uint8."""
        if self._tmp is None:
            raise RuntimeError("use FrameWriter as a context manager: `with FrameWriter(out) as w: ...`")
        batch = as_nhwc(frames, self.out)
        if batch.shape[0] == 0:
            return
        size = (batch.shape[1], batch.shape[2])
        if self._size is None:
            self._size = size
        elif size != self._size:
            raise MediaError(f"frames for {self.out} are {size[1]}x{size[0]} px but earlier frames were "
                             f"{self._size[1]}x{self._size[0]}; all frames must have one size")
        if self._sink is None:
            self._open_sink(*size)
        self._sink.write(batch)

    def _abort(self) -> None:
        if self._sink is not None:
            self._sink.abort()
        if self._tmp is not None:
            _remove(self._tmp)

    def __exit__(self, exc_type, exc, tb) -> bool:
        try:
            if exc_type is None:
                if self.count == 0:
                    raise MediaError(f"no frames were written to {self.out}; nothing to save")
                self._sink.close()
                _move_into_place(self._tmp, self.out)
                self._tmp = None
        finally:
            if self._tmp is not None:  # failure (ours or the caller's): drop the temp
                self._abort()
                self._tmp = None
        return False
