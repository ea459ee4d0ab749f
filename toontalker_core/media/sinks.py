"""One sink per output form (PNG folder, .npy, H.264 video); each writes only to the temp path it is given."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Iterator

import av
import numpy as np
import torch
from PIL import Image

from ..errors import MediaError
from .audio import AudioFeed


# ----------------------------------------------------------------------------------------------
# writing: frame normalisation
# ----------------------------------------------------------------------------------------------

def as_nhwc(frames, out: Path) -> np.ndarray:
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

class PngSink:
    """NNNNNN.png frames; RGBA when given an alpha plane (uint8 [H,W])."""

    def __init__(self, folder: Path, alpha: np.ndarray | None = None) -> None:
        self.folder = folder
        self.alpha = alpha
        self.count = 0

    def write(self, batch: np.ndarray) -> None:
        batch = _to_uint8(batch)
        if self.alpha is not None:
            alpha = np.broadcast_to(self.alpha[None, :, :, None], (*batch.shape[:3], 1))
            batch = np.concatenate([batch, alpha], axis=-1)
        for frame in batch:
            Image.fromarray(frame).save(self.folder / f"{self.count:06d}.png", compress_level=4)
            self.count += 1

    def close(self) -> None:
        pass

    abort = close


class NpySink:
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


class VideoSink:
    """H.264/yuv420p (BT.709, tagged) via PyAV, optional AAC audio; odd sizes are edge-padded to even.

    Frames are timed at a constant `fps`, or by `timestamps` (seconds from the first frame) for a
    variable-frame-rate input; the audio follows the video's clock either way."""

    VFR_TIME_BASE = Fraction(1, 90000)  # the MPEG clock: exact enough for any input's timestamps

    def __init__(self, path: Path, fmt: str, fps: float, height: int, width: int, crf: int,
                 audio: tuple[Iterator[np.ndarray], int, str] | None, audio_source: str,
                 timestamps: tuple[float, ...] | None = None) -> None:
        self.fps = fps
        self.count = 0
        self.pad = (height % 2, width % 2)
        options = {"movflags": "+faststart"} if fmt in ("mp4", "mov") else {}
        self.container = av.open(str(path), "w", format=fmt, options=options)
        self.rate = Fraction(fps).limit_denominator(1001)
        self.stream = self._add_video_stream(height + self.pad[0], width + self.pad[1], crf)
        self.timestamps = timestamps
        if timestamps is not None:
            self.time_base = self.VFR_TIME_BASE
            self.stream.codec_context.time_base = self.time_base
            tail = (timestamps[-1] - timestamps[-2]) if len(timestamps) > 1 else 1 / fps
            self.end_time = timestamps[-1] + tail  # the last frame lasts as long as the one before it
        else:
            self.time_base = 1 / self.rate
        self.audio = AudioFeed(self.container, *audio, audio_source) if audio else None

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
            frame.pts = self._pts(self.count)
            frame.time_base = self.time_base
            self.container.mux(self.stream.encode(frame))
            self.count += 1
        if self.audio:
            self.audio.feed_until(self._time(self.count))

    def _pts(self, index: int) -> int:
        if self.timestamps is None:
            return index
        return round(self.timestamps[index] / self.time_base)

    def _time(self, index: int) -> float:
        """Start time of frame `index` (= end of the frames before it), in seconds."""
        if self.timestamps is None:
            return index / float(self.rate)
        return self.timestamps[index] if index < len(self.timestamps) else self.end_time

    def close(self) -> None:
        self.container.mux(self.stream.encode(None))
        if self.audio:
            self.audio.feed_until(self._time(self.count))
            self.audio.flush()
        self.container.close()

    def abort(self) -> None:
        try:
            self.container.close()
        except Exception:
            pass  # the temp file is deleted anyway

