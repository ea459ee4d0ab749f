"""Reading source/driving media and writing results for ToonTalker.

Everything the model sees goes through here as float32 RGB in [0, 1]:
source images come back as [3,H,W]; driving input (a video file, a folder of
frames, a single image, or a .npy array) is streamed as [n,3,H,W] chunks so a
long video never has to fit in memory. Results go out through `FrameWriter`,
which writes atomically (temp name + rename) so a crash or Ctrl-C never leaves
a half-written file where the user expects a finished one.

Errors the user can fix (missing file, corrupt video, wrong sizes ...) are
raised as `MediaError` with a one-line message that names the input.
"""
from __future__ import annotations

import math
import os
import re
import shutil
import uuid
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator, Union

import av
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps

from .errors import ToonTalkerError

PathLike = Union[str, "os.PathLike[str]"]

IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"}
VIDEO_EXTS = {".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".gif"}

DEFAULT_FPS = 25.0
_SIXTEEN_BIT_MODES = {"I;16", "I;16B", "I;16L", "I;16N", "I"}
_EXIF_ORIENTATION = 0x0112
_WRITE_VIDEO_FORMATS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}
_FRAME_NAME = re.compile(r"^\d{6}\.png$")
# Sample rates the AAC encoder accepts; anything else is resampled to 48 kHz.
_AAC_RATES = {96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350}


class MediaError(ToonTalkerError):  # ToonTalkerError is a ValueError
    """One-line, user-facing error that names the file/input and what to do."""


# ----------------------------------------------------------------------------------------------
# small helpers
# ----------------------------------------------------------------------------------------------

def _short_reason(exc: BaseException, limit: int = 120) -> str:
    """FFmpeg/PIL messages often repeat the path and an errno; keep only the human part."""
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    text = " ".join(str(text).split())
    if isinstance(exc, EOFError) or text == "End of file":
        text = "the file is empty or truncated"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _require_exists(path: Path, what: str) -> None:
    if not path.exists():
        raise MediaError(f"{what} not found: {path} (check the path)")


def _natural_key(name: str) -> tuple:
    """Sort key so that frame2 < frame10 (digit runs compare as numbers)."""
    parts = re.split(r"(\d+)", name.lower())
    return tuple(int(p) if p.isdigit() else p for p in parts), name


def _to_float_frame(arr: np.ndarray) -> np.ndarray:
    """uint8 or float HxWx3 -> float32 in [0,1]."""
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / 255.0
    return np.clip(np.nan_to_num(arr.astype(np.float32, copy=False)), 0.0, 1.0)


# ----------------------------------------------------------------------------------------------
# still images
# ----------------------------------------------------------------------------------------------

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


def _read_image_array(path: Path) -> np.ndarray:
    try:
        with Image.open(path) as im:
            return _pil_to_float(ImageOps.exif_transpose(im))
    except MediaError:
        raise
    except Exception as exc:  # PIL raises many types (OSError, SyntaxError, DecompressionBomb...)
        raise MediaError(f"could not read image {path}: {_short_reason(exc)}; "
                         "re-save it as PNG or JPEG") from None


def _image_size(path: Path) -> tuple[int, int]:
    """(width, height) after EXIF rotation, from the header only (fast for big folders)."""
    try:
        with Image.open(path) as im:
            w, h = im.size
            if im.getexif().get(_EXIF_ORIENTATION, 1) in (5, 6, 7, 8):
                w, h = h, w
            return w, h
    except Exception as exc:
        raise MediaError(f"could not read image {path}: {_short_reason(exc)}; "
                         "re-save it as PNG or JPEG") from None


def load_image(path: PathLike, min_size: int = 32) -> torch.Tensor:
    """Read one image as float32 [3,H,W] in [0,1] (RGB), EXIF orientation applied.

    Grayscale/palette images become RGB, alpha is dropped, 16-bit images are
    scaled by 1/65535 (not clipped at 255).
    """
    p = Path(path)
    _require_exists(p, "image")
    if p.is_dir():
        raise MediaError(f"{p} is a folder; expected an image file")
    arr = _read_image_array(p)
    h, w = arr.shape[:2]
    if min(h, w) < min_size:
        raise MediaError(f"{p} is {w}x{h} px; ToonTalker needs at least {min_size} px on each side")
    return torch.from_numpy(np.ascontiguousarray(arr)).permute(2, 0, 1).contiguous()


def resize_to(frames: torch.Tensor, size: int) -> torch.Tensor:
    """[N,3,H,W] or [3,H,W] float in [0,1] -> size x size (anti-aliased bicubic, clamped).

    Does not preserve aspect ratio: callers crop first. Returns the input itself
    when it is already size x size.
    """
    if frames.dim() not in (3, 4):
        raise ValueError(f"resize_to expects [3,H,W] or [N,3,H,W], got shape {tuple(frames.shape)}")
    if tuple(frames.shape[-2:]) == (size, size):
        return frames
    x = frames[None] if frames.dim() == 3 else frames
    out_dtype = frames.dtype if frames.is_floating_point() else torch.float32
    y = F.interpolate(x.float(), size=(size, size), mode="bicubic", align_corners=False, antialias=True)
    y = y.clamp_(0.0, 1.0).to(out_dtype)
    return y[0] if frames.dim() == 3 else y


# ----------------------------------------------------------------------------------------------
# driving input: classification
# ----------------------------------------------------------------------------------------------

@dataclass
class DrivingInfo:
    path: Path
    kind: str            # "video" | "folder" | "image" | "array" (.npy)
    fps: float           # video fps; 25.0 for folders/images/arrays
    num_frames: int      # exact
    width: int
    height: int
    has_audio: bool


def _list_images(folder: Path) -> list[Path]:
    """Image files directly inside `folder`, in natural order; hidden files (e.g. macOS ._x.png) skipped."""
    files = [f for f in folder.iterdir()
             if f.is_file() and f.suffix.lower() in IMAGE_EXTS and not f.name.startswith(".")]
    return sorted(files, key=lambda f: _natural_key(f.name))


def _looks_like_image(path: Path) -> bool:
    try:
        with Image.open(path) as im:
            im.verify()
        return True
    except Exception:
        return False


def _classify(path: PathLike) -> tuple[Path, str, list[Path]]:
    """-> (path, kind, folder files). Raises MediaError for missing/empty inputs."""
    p = Path(path)
    _require_exists(p, "driving input")
    if p.is_dir():
        files = _list_images(p)
        if not files:
            exts = ", ".join(sorted(IMAGE_EXTS))
            raise MediaError(f"folder {p} contains no images ({exts}); put the driving frames there "
                             "or pass a video file")
        return p, "folder", files
    ext = p.suffix.lower()
    if ext == ".npy":
        return p, "array", []
    if ext in IMAGE_EXTS:
        return p, "image", []
    if ext in VIDEO_EXTS:
        return p, "video", []
    return p, ("image" if _looks_like_image(p) else "video"), []


# ----------------------------------------------------------------------------------------------
# driving input: video via PyAV
# ----------------------------------------------------------------------------------------------

def _open_video(p: Path) -> tuple[av.container.InputContainer, av.video.stream.VideoStream]:
    try:
        container = av.open(str(p), metadata_errors="ignore")
    except Exception as exc:
        raise MediaError(f"{p} could not be decoded as video: {_short_reason(exc)}") from None
    if not container.streams.video:
        container.close()
        raise MediaError(f"{p} could not be decoded as video: it has no video stream")
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    return container, stream


def _decoded(container, stream, p: Path) -> Iterator[av.VideoFrame]:
    """Decode `stream`, turning FFmpeg errors into MediaError."""
    index = 0
    try:
        for frame in container.decode(stream):
            yield frame
            index += 1
    except av.error.FFmpegError as exc:
        raise MediaError(f"{p} could not be decoded as video (failed at frame {index}): "
                         f"{_short_reason(exc)}") from None


def _frame_rgb(frame: av.VideoFrame) -> np.ndarray:
    """Decoded frame -> uint8 HxWx3, with the container's display rotation applied (phone videos)."""
    arr = frame.to_ndarray(format="rgb24")
    quarter_turns = round(frame.rotation / 90) % 4
    if quarter_turns:
        arr = np.rot90(arr, k=quarter_turns)  # rotation is counter-clockwise, like np.rot90
    return np.ascontiguousarray(arr)


def _video_fps(stream) -> float:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    fps = float(rate) if rate else 0.0
    return fps if math.isfinite(fps) and fps > 0 else DEFAULT_FPS


def _trusted_frame_count(container, stream) -> int:
    """The container's frame count where it comes from an exact index (MP4/MOV sample tables), else 0."""
    name = container.format.name or ""
    if ("mov" in name or "mp4" in name) and stream.frames > 0:
        return int(stream.frames)
    return 0


def _probe_video(p: Path) -> DrivingInfo:
    container, stream = _open_video(p)
    try:
        frames = _decoded(container, stream, p)
        first = next(frames, None)
        if first is None:
            raise MediaError(f"{p} has no video frames; pass a video with at least one frame")
        height, width = _frame_rgb(first).shape[:2]
        count = _trusted_frame_count(container, stream) or 1 + sum(1 for _ in frames)
        return DrivingInfo(path=p, kind="video", fps=_video_fps(stream), num_frames=count,
                           width=width, height=height, has_audio=bool(container.streams.audio))
    finally:
        container.close()


def _video_frames(p: Path, start: int, stop: int | None) -> Iterator[np.ndarray]:
    container, stream = _open_video(p)
    try:
        for i, frame in enumerate(_decoded(container, stream, p)):
            if stop is not None and i >= stop:
                break
            if i >= start:
                yield _frame_rgb(frame)
    finally:
        container.close()


# ----------------------------------------------------------------------------------------------
# driving input: folders, single images, .npy arrays
# ----------------------------------------------------------------------------------------------

def _probe_folder(p: Path, files: list[Path]) -> DrivingInfo:
    width, height = _image_size(files[0])
    for f in files[1:]:
        size = _image_size(f)
        if size != (width, height):
            raise MediaError(f"{f} is {size[0]}x{size[1]} px but {files[0].name} is {width}x{height}; "
                             f"all frames in {p} must have one size")
    return DrivingInfo(path=p, kind="folder", fps=DEFAULT_FPS, num_frames=len(files),
                       width=width, height=height, has_audio=False)


def _load_array(p: Path) -> np.ndarray:
    """Memory-mapped [N,H,W,3] array (uint8 or float in [0,1])."""
    try:
        arr = np.load(p, mmap_mode="r", allow_pickle=False)
    except Exception as exc:
        raise MediaError(f"could not read {p} as a .npy array: {_short_reason(exc)}") from None
    if arr.ndim != 4 or arr.shape[-1] != 3 or not (arr.dtype == np.uint8 or arr.dtype.kind == "f"):
        raise MediaError(f"{p} holds a {arr.dtype} array of shape {arr.shape}; expected [N,H,W,3] "
                         "float in [0,1] or uint8")
    if arr.shape[0] == 0:
        raise MediaError(f"{p} holds zero frames; pass an array with at least one frame")
    return arr


def _frame_source(p: Path, kind: str, files: list[Path], start: int,
                  stop: int | None) -> Iterator[np.ndarray]:
    """Frames in [start, stop) as HxWx3 arrays (uint8 or float32)."""
    if kind == "video":
        return _video_frames(p, start, stop)
    if kind == "folder":
        return (_read_image_array(f) for f in files[start:stop])
    if kind == "image":
        return (_read_image_array(p) for _ in range(1)[start:stop])
    arr = _load_array(p)
    return (np.asarray(arr[i]) for i in range(arr.shape[0])[start:stop])


# ----------------------------------------------------------------------------------------------
# driving input: public API
# ----------------------------------------------------------------------------------------------

def probe_driving(path: PathLike) -> DrivingInfo:
    """Describe a driving input (video file, folder of frames, single image or .npy) without loading it."""
    p, kind, files = _classify(path)
    if kind == "video":
        return _probe_video(p)
    if kind == "folder":
        return _probe_folder(p, files)
    if kind == "image":
        width, height = _image_size(p)
        return DrivingInfo(path=p, kind="image", fps=DEFAULT_FPS, num_frames=1,
                           width=width, height=height, has_audio=False)
    n, h, w, _ = _load_array(p).shape
    return DrivingInfo(path=p, kind="array", fps=DEFAULT_FPS, num_frames=n,
                       width=w, height=h, has_audio=False)


def _stack_chunk(frames: list[np.ndarray]) -> torch.Tensor:
    batch = np.stack([_to_float_frame(f) for f in frames])
    return torch.from_numpy(batch).permute(0, 3, 1, 2).contiguous()


def iter_driving(path: PathLike, chunk_size: int = 16, start: int = 0,
                 stop: int | None = None) -> Iterator[torch.Tensor]:
    """Yield float32 [n,3,H,W] in [0,1] chunks in frame order (streaming: never holds the whole video).

    start/stop select the frame range [start, stop) like a slice; a stop past the end just ends early.
    """
    if chunk_size < 1:
        raise MediaError(f"chunk_size must be >= 1, got {chunk_size}")
    if start < 0 or (stop is not None and stop < start):
        raise MediaError(f"invalid frame range start={start}, stop={stop}; need 0 <= start <= stop")
    p, kind, files = _classify(path)
    first_shape: tuple[int, ...] | None = None
    chunk: list[np.ndarray] = []
    for i, frame in enumerate(_frame_source(p, kind, files, start, stop), start=start):
        if first_shape is None:
            first_shape = frame.shape
        elif frame.shape != first_shape:
            raise MediaError(f"{p}: frame {i} is {frame.shape[1]}x{frame.shape[0]} px but earlier frames are "
                             f"{first_shape[1]}x{first_shape[0]}; all driving frames must have one size")
        chunk.append(frame)
        if len(chunk) == chunk_size:
            yield _stack_chunk(chunk)
            chunk = []
    if chunk:
        yield _stack_chunk(chunk)


def read_frame(path: PathLike, index: int) -> torch.Tensor:
    """One frame [3,H,W] (e.g. the reference frame). Negative indices count from the end."""
    wanted = index
    if index < 0:
        index += probe_driving(path).num_frames
    if index >= 0:
        for chunk in iter_driving(path, chunk_size=1, start=index, stop=index + 1):
            return chunk[0]
    n = probe_driving(path).num_frames
    raise MediaError(f"frame index {wanted} is out of range for {Path(path)}: it has {n} frame(s), "
                     f"valid indices are 0..{n - 1}")


# ----------------------------------------------------------------------------------------------
# writing: frame normalisation
# ----------------------------------------------------------------------------------------------

def _as_nhwc(frames, out: Path) -> np.ndarray:
    """torch/numpy frames in NHWC, NCHW, HWC or CHW -> numpy NHWC (uint8 kept, everything else float32)."""
    if isinstance(frames, torch.Tensor):
        t = frames.detach().cpu()
        frames = t.numpy() if t.dtype == torch.uint8 else t.float().numpy()
    arr = np.asarray(frames)
    if arr.ndim == 3:
        arr = arr[None]
    if arr.ndim != 4:
        raise MediaError(f"frames for {out} must be [n,H,W,3] or [n,3,H,W], got shape {arr.shape}")
    if arr.shape[-1] != 3 and arr.shape[1] == 3:
        arr = arr.transpose(0, 2, 3, 1)
    if arr.shape[-1] != 3:
        raise MediaError(f"frames for {out} must be RGB ([n,H,W,3] or [n,3,H,W]), got shape {arr.shape}")
    if arr.dtype == np.uint8:
        return np.ascontiguousarray(arr)
    return np.clip(np.nan_to_num(arr.astype(np.float32, copy=False)), 0.0, 1.0)


def _to_uint8(arr: np.ndarray) -> np.ndarray:
    if arr.dtype == np.uint8:
        return arr
    return np.rint(arr * 255.0).astype(np.uint8)


def _to_float32(arr: np.ndarray) -> np.ndarray:
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / 255.0
    return np.ascontiguousarray(arr, dtype=np.float32)


# ----------------------------------------------------------------------------------------------
# writing: sinks (one per output form); each writes only to its temp path
# ----------------------------------------------------------------------------------------------

class _PngSink:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.count = 0

    def write(self, batch: np.ndarray) -> None:
        for frame in _to_uint8(batch):
            Image.fromarray(frame).save(self.folder / f"{self.count:06d}.png", compress_level=4)
            self.count += 1

    def close(self) -> None:
        pass

    abort = close


class _NpySink:
    """Streams float32 frames straight into a .npy file and fixes up the header at close.

    The header is given a fixed 128-byte slot so the final shape (unknown until
    close) can be written in place without rewriting the data.
    """
    HEADER_BYTES = 128

    def __init__(self, path: Path, height: int, width: int) -> None:
        self.path, self.height, self.width = path, height, width
        self.count = 0
        self.file = open(path, "wb")
        self.file.write(self._header())

    def _header(self) -> bytes:
        shape = (self.count, self.height, self.width, 3)
        text = "{'descr': '<f4', 'fortran_order': False, 'shape': %r, }" % (shape,)
        prefix = b"\x93NUMPY\x01\x00"
        body_len = self.HEADER_BYTES - len(prefix) - 2
        body = text.ljust(body_len - 1).encode("latin1") + b"\n"
        return prefix + body_len.to_bytes(2, "little") + body

    def write(self, batch: np.ndarray) -> None:
        self.file.write(_to_float32(batch).astype("<f4", copy=False).tobytes())
        self.count += len(batch)

    def close(self) -> None:
        self.file.seek(0)
        self.file.write(self._header())
        self.file.close()

    def abort(self) -> None:
        self.file.close()


def _file_audio_chunks(path: Path, layout: str, rate: int) -> Iterator[np.ndarray]:
    """Decode the first audio stream of `path` as float32 [channels, n] blocks at `rate`."""
    container = av.open(str(path), metadata_errors="ignore")
    try:
        resampler = av.AudioResampler(format="fltp", layout=layout, rate=rate)
        for frame in container.decode(container.streams.audio[0]):
            for out in resampler.resample(frame):
                yield out.to_ndarray()
        for out in resampler.resample(None):
            yield out.to_ndarray()
    finally:
        container.close()


def _array_audio_chunks(samples: np.ndarray, block: int = 4096) -> Iterator[np.ndarray]:
    """[n] or [n, channels] float samples -> float32 [channels, block] pieces."""
    data = samples[:, None] if samples.ndim == 1 else samples
    data = np.clip(np.asarray(data, dtype=np.float32), -1.0, 1.0).T
    for i in range(0, data.shape[1], block):
        yield np.ascontiguousarray(data[:, i:i + block])


def _audio_plan(audio_from: Path | None, audio_array) -> tuple[Iterator[np.ndarray], int, str] | None:
    """Work out where the audio comes from -> (chunk iterator, sample rate, layout), or None for no audio."""
    if audio_array is not None:
        samples, rate = audio_array
        samples = np.asarray(samples)
        channels = 1 if samples.ndim == 1 else samples.shape[1]
        layout = "mono" if channels == 1 else "stereo"
        if channels > 2:
            raise MediaError(f"audio_array has {channels} channels; pass mono [n] or stereo [n, 2]")
        return _array_audio_chunks(samples), int(rate), layout
    if audio_from is None or audio_from.is_dir():
        return None
    try:
        with av.open(str(audio_from), metadata_errors="ignore") as probe:
            if not probe.streams.audio:
                return None
            ctx = probe.streams.audio[0].codec_context
            rate, channels = int(ctx.sample_rate or 48000), ctx.channels
    except Exception:
        return None  # not a media file (e.g. an image): nothing to copy
    rate = rate if rate in _AAC_RATES else 48000
    layout = "mono" if channels == 1 else "stereo"
    return _file_audio_chunks(audio_from, layout, rate), rate, layout


class _AudioFeed:
    """Encodes audio into an output stream up to a given time.

    Fed as video frames are written, so audio and video packets interleave and
    the audio is cut exactly at the video's duration.
    """

    def __init__(self, container, chunks: Iterator[np.ndarray], rate: int, layout: str,
                 source: str) -> None:
        self.container, self.chunks, self.rate, self.layout = container, chunks, rate, layout
        self.source = source
        self.stream = container.add_stream("aac", rate=rate, layout=layout)
        self.stream.bit_rate = 64000 if layout == "mono" else 128000
        self.sent = 0
        self.pending: np.ndarray | None = None

    def _next_block(self) -> np.ndarray | None:
        if self.pending is not None and self.pending.shape[1]:
            return self.pending
        try:
            return next(self.chunks, None)
        except Exception as exc:
            raise MediaError(f"could not read audio from {self.source}: {_short_reason(exc)}") from None

    def feed_until(self, seconds: float) -> None:
        target = int(round(seconds * self.rate))
        while self.sent < target:
            block = self._next_block()
            if block is None:
                return  # audio shorter than video: leave the rest silent
            take = min(block.shape[1], target - self.sent)
            self.pending = block[:, take:]
            self._encode(np.ascontiguousarray(block[:, :take]))

    def _encode(self, samples: np.ndarray) -> None:
        frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout=self.layout)
        frame.sample_rate = self.rate
        frame.pts = self.sent
        frame.time_base = Fraction(1, self.rate)
        self.sent += samples.shape[1]
        self.container.mux(self.stream.encode(frame))

    def flush(self) -> None:
        self.container.mux(self.stream.encode(None))


class _VideoSink:
    """H.264/yuv420p (BT.709, tagged) via PyAV, optional AAC audio; odd sizes are edge-padded to even."""

    def __init__(self, path: Path, fmt: str, fps: float, height: int, width: int, crf: int,
                 audio: tuple[Iterator[np.ndarray], int, str] | None, audio_source: str) -> None:
        self.fps = fps
        self.count = 0
        self.pad = (height % 2, width % 2)
        options = {"movflags": "+faststart"} if fmt in ("mp4", "mov") else {}
        self.container = av.open(str(path), "w", format=fmt, options=options)
        self.rate = Fraction(fps).limit_denominator(1001)
        self.stream = self._add_video_stream(height + self.pad[0], width + self.pad[1], crf)
        self.audio = _AudioFeed(self.container, *audio, audio_source) if audio else None

    def _add_video_stream(self, height: int, width: int, crf: int):
        stream = self.container.add_stream("libx264", rate=self.rate)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        # x264 holds rc-lookahead frames before its first packet (40 by default, ~70 MB each at 6000x4000:
        # 2.8 GB): look ahead over at most ~64 Mpx, so 1080p keeps ~32 frames and 6000x4000 two
        lookahead = max(2, min(40, (64 << 20) // (width * height)))
        stream.options = {"crf": str(crf), "preset": "medium", "rc-lookahead": str(lookahead)}
        ctx = stream.codec_context
        ctx.colorspace = ctx.color_primaries = ctx.color_trc = 1  # BT.709
        ctx.color_range = 1  # limited ("MPEG") range
        return stream

    def write(self, batch: np.ndarray) -> None:
        batch = _to_uint8(batch)
        if any(self.pad):
            batch = np.pad(batch, ((0, 0), (0, self.pad[0]), (0, self.pad[1]), (0, 0)), mode="edge")
        for rgb in batch:
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame = frame.reformat(format="yuv420p", dst_colorspace="ITU709", dst_color_range="MPEG")
            frame.pts = self.count
            frame.time_base = 1 / self.rate
            self.container.mux(self.stream.encode(frame))
            self.count += 1
        if self.audio:
            self.audio.feed_until(self.count / float(self.rate))

    def close(self) -> None:
        self.container.mux(self.stream.encode(None))
        if self.audio:
            self.audio.feed_until(self.count / float(self.rate))
            self.audio.flush()
        self.container.close()

    def abort(self) -> None:
        try:
            self.container.close()
        except Exception:
            pass  # the temp file is deleted anyway


# ----------------------------------------------------------------------------------------------
# writing: FrameWriter
# ----------------------------------------------------------------------------------------------

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
            _require_exists(self.audio_from, "audio source")
        self.audio_array = audio_array
        self.crf = int(crf)
        self._tmp: Path | None = None
        self._sink: _PngSink | _NpySink | _VideoSink | None = None
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
            self._sink = _PngSink(self._tmp)
        return self

    def _open_sink(self, height: int, width: int) -> None:
        """Video/npy sinks need the frame size, so they open on the first write."""
        if self.mode == "npy":
            self._sink = _NpySink(self._tmp, height, width)
            return
        fmt = _WRITE_VIDEO_FORMATS[self.out.suffix.lower()]
        audio = _audio_plan(self.audio_from, self.audio_array)
        source = str(self.audio_from) if self.audio_from is not None else "audio_array"
        self._sink = _VideoSink(self._tmp, fmt, self.fps, height, width, self.crf, audio, source)

    def write(self, frames) -> None:
        """Append frames: torch/numpy [n,H,W,3] or [n,3,H,W] (or one frame), float in [0,1] or uint8."""
        if self._tmp is None:
            raise RuntimeError("use FrameWriter as a context manager: `with FrameWriter(out) as w: ...`")
        batch = _as_nhwc(frames, self.out)
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
