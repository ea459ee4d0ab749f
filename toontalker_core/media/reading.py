"""Driving input (a video file, a folder of frames, a single image or a .npy array), streamed as
float32 [n,3,H,W] chunks in [0,1] so a long video never has to fit in memory."""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import av
import numpy as np
import torch
from PIL import Image

from ..errors import MediaError
from . import animated
from .av_compat import frame_to_rgb, open_input
from .common import DEFAULT_FPS, IMAGE_EXTS, VIDEO_EXTS, PathLike, natural_key, require_exists, short_reason
from .images import image_size, read_image_array


_RANGE_SLACK = 0.1  # float frames slightly outside [0,1] (resampling ringing) are clipped; further out is refused


def _to_float_frame(arr: np.ndarray) -> np.ndarray:
    """uint8 or float HxWx3 -> float32 in [0,1]."""
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / 255.0
    return np.clip(np.nan_to_num(arr.astype(np.float32, copy=False)), 0.0, 1.0)



# ----------------------------------------------------------------------------------------------
# driving input: classification
# ----------------------------------------------------------------------------------------------

@dataclass
class DrivingInfo:
    path: Path
    kind: str            # "video" | "animated" (WebP/GIF/APNG) | "folder" | "image" | "array" (.npy)
    fps: float           # video fps; DEFAULT_FPS for folders/images/arrays
    num_frames: int      # exact
    width: int
    height: int
    has_audio: bool
    timestamps: tuple[float, ...] | None = None  # per-frame times (s) of a variable-frame-rate video, else None


def _list_images(folder: Path) -> list[Path]:
    """Image files directly inside `folder`, in natural order; hidden files (e.g. macOS ._x.png) skipped."""
    files = [f for f in folder.iterdir()
             if f.is_file() and f.suffix.lower() in IMAGE_EXTS and not f.name.startswith(".")]
    return sorted(files, key=lambda f: natural_key(f.name))


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
    require_exists(p, "driving input")
    if p.is_dir():
        files = _list_images(p)
        if not files:
            exts = ", ".join(sorted(IMAGE_EXTS))
            raise MediaError(f"folder {p} contains no images ({exts}); put the driving frames there "
                             "or pass a video file")
        return p, "folder", files
    ext = p.suffix.lower()
    if ext in (".webp", ".gif", ".png") and animated.is_animated(p):  # Pillow, not PyAV (see animated.py)
        return p, "animated", []
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
        container = open_input(p)
    except Exception as exc:
        raise MediaError(f"{p} could not be decoded as video: {short_reason(exc)}") from None
    if not container.streams.video:
        container.close()
        raise MediaError(f"{p} could not be decoded as video: it has no video stream")
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    return container, stream


def _decoded(container, stream, p: Path, declared: int = 0, allow_truncated: bool = False) -> Iterator[av.VideoFrame]:
    """Decode `stream`, turning FFmpeg errors into MediaError; a stream that ends before its `declared`
    frame count is an error too (a truncated download or copy), unless `allow_truncated`."""
    index = 0
    try:
        for frame in container.decode(stream):
            yield frame
            index += 1
    except av.error.FFmpegError as exc:
        if allow_truncated and index:
            return
        if declared:
            raise MediaError(_truncated_message(p, index, declared, short_reason(exc))) from None
        raise MediaError(f"{p} could not be decoded as video (failed at frame {index}): "
                         f"{short_reason(exc)}") from None
    if declared and index < declared and not allow_truncated:
        raise MediaError(_truncated_message(p, index, declared))


def _truncated_message(p: Path, decoded: int, declared: int, reason: str = "",
                       cut: tuple[int, int] | None = None) -> str:
    why = f" ({reason})" if reason else ""
    what = (f"{decoded} of its {declared} declared frames could be decoded{why}" if cut is None else
            f"it holds {cut[0]} of the {cut[1]} bytes its header declares ({decoded} frames could be decoded)")
    return (f"{p} is truncated: {what}; re-download or re-encode it, or pass --allow-truncated to use the frames "
            "that decode")


def _ebml_vint(data: bytes, pos: int, size: bool) -> tuple[int, int]:
    """A Matroska (EBML) variable-length integer at `pos` -> (value, next pos); sizes lose their length
    marker, and an all-ones size ("unknown", a live stream) comes back as -1."""
    first, length, mask = data[pos], 1, 0x80
    while length <= 8 and not first & mask:
        mask >>= 1
        length += 1
    if length > 8 or pos + length > len(data):
        raise ValueError("not an EBML integer")
    value = first & (mask - 1) if size else first
    for b in data[pos + 1:pos + length]:
        value = (value << 8) | b
    return (-1 if size and value == (1 << (7 * length)) - 1 else value), pos + length


def _matroska_cut(p: Path) -> tuple[int, int] | None:
    """(bytes present, bytes declared) when a Matroska/WebM file is shorter than its Segment says (a cut
    download or copy; MKV has no frame count to compare, but its header declares its size), else None."""
    try:
        with open(p, "rb") as f:
            head = f.read(4096)
        size = p.stat().st_size
        ident, pos = _ebml_vint(head, 0, size=False)
        if ident != 0x1A45DFA3:  # the EBML header
            return None
        length, pos = _ebml_vint(head, pos, size=True)
        ident, pos = _ebml_vint(head, pos + length, size=False)
        if ident != 0x18538067:  # the Segment
            return None
        length, pos = _ebml_vint(head, pos, size=True)
    except (OSError, ValueError, IndexError):
        return None
    return (size, pos + length) if length >= 0 and pos + length > size else None


def _decodable(p: Path) -> int:
    """Frames that really decode from a cut file (the count for messages; only run once a cut is found)."""
    container, stream = _open_video(p)
    try:
        return sum(1 for _ in _decoded(container, stream, p, allow_truncated=True))
    finally:
        container.close()


def _frame_rgb(frame: av.VideoFrame) -> np.ndarray:
    """Decoded frame -> uint8 HxWx3, with the container's display rotation applied (phone videos)."""
    arr = frame_to_rgb(frame)
    quarter_turns = round(frame.rotation / 90) % 4
    if quarter_turns:
        arr = np.rot90(arr, k=quarter_turns)  # rotation is counter-clockwise, like np.rot90
    return np.ascontiguousarray(arr)


def _video_fps(stream) -> float:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    fps = float(rate) if rate else 0.0
    return fps if math.isfinite(fps) and fps > 0 else DEFAULT_FPS


def _declared_frame_count(container, stream) -> int:
    """The container's frame count where it comes from an exact index (MP4/MOV sample tables), else 0."""
    name = container.format.name or ""
    if ("mov" in name or "mp4" in name) and stream.frames > 0:
        return int(stream.frames)
    return 0


def _packet_times(container, stream) -> list[float]:
    """Presentation times (s) of the video packets actually present in the file, without decoding."""
    times = []
    try:
        for packet in container.demux(stream):
            if packet.size and packet.pts is not None:
                times.append(float(packet.pts * stream.time_base))
    except av.error.FFmpegError:
        pass  # a cut-off file: the packets before the cut are what there is
    return sorted(times)


def _timing(times: list[float], declared_fps: float) -> tuple[float, tuple[float, ...] | None]:
    """-> (fps, per-frame timestamps or None). Timestamps are kept only for a variable frame rate (some frame
    more than half an interval off the evenly spaced grid): the writer then follows them, so the audio stays
    in sync. An evenly spaced clip whose declared rate is wrong gets its measured rate."""
    if len(times) < 2 or times[-1] <= times[0]:
        return declared_fps, None
    rel = [t - times[0] for t in times]
    step = rel[-1] / (len(rel) - 1)
    if max(abs(t - i * step) for i, t in enumerate(rel)) > 0.5 * step:
        return 1.0 / step, tuple(rel)
    return (declared_fps if abs(declared_fps * step - 1) < 0.01 else 1.0 / step), None


def _probe_video(p: Path, allow_truncated: bool = False) -> DrivingInfo:
    container, stream = _open_video(p)
    try:
        declared = _declared_frame_count(container, stream)
        frames = _decoded(container, stream, p, allow_truncated=allow_truncated)
        first = next(frames, None)
        if first is None:
            raise MediaError(f"{p} has no video frames; pass a video with at least one frame")
        height, width = _frame_rgb(first).shape[:2]
        if declared:  # MP4/MOV: count the packets present (cheap, no decoding) against the index
            container.seek(0)
            times = _packet_times(container, stream)
            count = max(1, min(declared, len(times)))
            if len(times) < declared:  # cut: what decodes is the count (for the message and the frames used)
                count = _decodable(p)
                if not allow_truncated:
                    raise MediaError(_truncated_message(p, count, declared))
                times = times[:count]
        else:  # no exact index: decode everything to count
            times = [first.time] + [f.time for f in frames]
            count = len(times)
            cut = _matroska_cut(p) if "matroska" in (container.format.name or "") else None
            if cut is not None and not allow_truncated:
                raise MediaError(_truncated_message(p, count, 0, cut=cut))
        usable = len(times) == count and None not in times
        fps, timestamps = _timing(times if usable else [], _video_fps(stream))
        return DrivingInfo(path=p, kind="video", fps=fps, num_frames=count, width=width, height=height,
                           has_audio=bool(container.streams.audio), timestamps=timestamps)
    finally:
        container.close()


def _video_frames(p: Path, start: int, stop: int | None, allow_truncated: bool = False) -> Iterator[np.ndarray]:
    container, stream = _open_video(p)
    try:
        cut = _matroska_cut(p) if "matroska" in (container.format.name or "") and not allow_truncated else None
        if cut is not None:
            raise MediaError(_truncated_message(p, _decodable(p), 0, cut=cut))
        declared = _declared_frame_count(container, stream)
        for i, frame in enumerate(_decoded(container, stream, p, declared, allow_truncated)):
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
    width, height = image_size(files[0])
    for f in files[1:]:
        size = image_size(f)
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
        raise MediaError(f"could not read {p} as a .npy array: {short_reason(exc)}") from None
    if arr.ndim != 4 or arr.shape[-1] != 3 or not (arr.dtype == np.uint8 or arr.dtype.kind == "f"):
        raise MediaError(f"{p} holds a {arr.dtype} array of shape {arr.shape}; expected [N,H,W,3] "
                         "float in [0,1] or uint8")
    if arr.shape[0] == 0:
        raise MediaError(f"{p} holds zero frames; pass an array with at least one frame")
    return arr


def _check_array_frames(arr: np.ndarray, p: Path, start: int = 0, block: int = 32) -> None:
    """Float arrays must be finite and in [0,1]: checked with one min/max per block of frames (cheap), so
    0..255 or [-1,1] data, NaN and Inf are reported instead of being clipped or replaced silently."""
    if arr.dtype == np.uint8:
        return
    for i in range(0, arr.shape[0], block):
        part = np.asarray(arr[i:i + block])
        lo, hi = float(part.min()), float(part.max())
        if not (math.isfinite(lo) and math.isfinite(hi)):
            bad = ~np.isfinite(part)
            frame = start + i + int(np.argmax(bad.reshape(len(part), -1).any(axis=1)))
            raise MediaError(f"{p}: frame {frame} holds NaN or Inf values ({int(bad.sum())} in frames "
                             f"{start + i}..{start + i + len(part) - 1}); replace them (e.g. np.nan_to_num) first")
        if lo < -_RANGE_SLACK or hi > 1 + _RANGE_SLACK:
            hint = ("0..255 data: divide by 255 or save as uint8" if hi > 1.5 else
                    "[-1,1] data: map it with (x + 1) / 2" if lo < -0.5 else "clip it to [0,1]")
            raise MediaError(f"{p} holds float values in [{lo:.4g}, {hi:.4g}] (frames {start + i}.."
                             f"{start + i + len(part) - 1}); float frames must be in [0,1] ({hint})")


def _frame_source(p: Path, kind: str, files: list[Path], start: int, stop: int | None,
                  allow_truncated: bool = False) -> Iterator[np.ndarray]:
    """Frames in [start, stop) as HxWx3 arrays (uint8 or float32)."""
    if kind == "video":
        return _video_frames(p, start, stop, allow_truncated)
    if kind == "animated":
        return animated.frames(p, start, stop)
    if kind == "folder":
        return (read_image_array(f) for f in files[start:stop])
    if kind == "image":
        return (read_image_array(p) for _ in range(1)[start:stop])
    return _array_frames(_load_array(p), p, start, stop)


def _array_frames(arr: np.ndarray, p: Path, start: int, stop: int | None) -> Iterator[np.ndarray]:
    for i in range(arr.shape[0])[start:stop]:
        frame = np.asarray(arr[i])
        _check_array_frames(frame[None], p, start=i)
        yield frame


# ----------------------------------------------------------------------------------------------
# driving input: public API
# ----------------------------------------------------------------------------------------------

def probe_driving(path: PathLike, allow_truncated: bool = False) -> DrivingInfo:
    """Describe a driving input (video file, folder of frames, single image or .npy) without loading it.

    A video that holds fewer frames than its index declares is an error (naming both counts) unless
    `allow_truncated`, which accepts the frames that are there. A .npy array's values are checked here."""
    p, kind, files = _classify(path)
    if kind == "video":
        return _probe_video(p, allow_truncated)
    if kind == "animated":
        n, fps, width, height = animated.probe(p)
        return DrivingInfo(path=p, kind="animated", fps=fps, num_frames=n, width=width, height=height,
                           has_audio=False)
    if kind == "folder":
        return _probe_folder(p, files)
    if kind == "image":
        width, height = image_size(p)
        return DrivingInfo(path=p, kind="image", fps=DEFAULT_FPS, num_frames=1,
                           width=width, height=height, has_audio=False)
    arr = _load_array(p)
    _check_array_frames(arr, p)
    n, h, w, _ = arr.shape
    return DrivingInfo(path=p, kind="array", fps=DEFAULT_FPS, num_frames=n,
                       width=w, height=h, has_audio=False)


def _stack_chunk(frames: list[np.ndarray]) -> torch.Tensor:
    batch = np.stack([_to_float_frame(f) for f in frames])
    return torch.from_numpy(batch).permute(0, 3, 1, 2).contiguous()


def iter_driving(path: PathLike, chunk_size: int = 16, start: int = 0, stop: int | None = None,
                 allow_truncated: bool = False) -> Iterator[torch.Tensor]:
    """Yield float32 [n,3,H,W] in [0,1] chunks in frame order (streaming: never holds the whole video).

    start/stop select the frame range [start, stop) like a slice; a stop past the end just ends early.
    A video that ends before its declared frame count raises MediaError unless `allow_truncated`.
    """
    if chunk_size < 1:
        raise MediaError(f"chunk_size must be >= 1, got {chunk_size}")
    if start < 0 or (stop is not None and stop < start):
        raise MediaError(f"invalid frame range start={start}, stop={stop}; need 0 <= start <= stop")
    p, kind, files = _classify(path)
    first_shape: tuple[int, ...] | None = None
    chunk: list[np.ndarray] = []
    for i, frame in enumerate(_frame_source(p, kind, files, start, stop, allow_truncated), start=start):
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


def read_frame(path: PathLike, index: int, allow_truncated: bool = False) -> torch.Tensor:
    """One frame [3,H,W] (e.g. the reference frame). Negative indices count from the end."""
    wanted = index
    if index < 0:
        index += probe_driving(path, allow_truncated).num_frames
    if index >= 0:
        for chunk in iter_driving(path, chunk_size=1, start=index, stop=index + 1, allow_truncated=allow_truncated):
            return chunk[0]
    n = probe_driving(path, allow_truncated).num_frames
    raise MediaError(f"frame index {wanted} is out of range for {Path(path)}: it has {n} frame(s), "
                     f"valid indices are 0..{n - 1}")

