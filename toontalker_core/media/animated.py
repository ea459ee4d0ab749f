"""Animated WebP / GIF (/ APNG) as driving input, read with Pillow.

FFmpeg (PyAV) has no animated-WebP decoder, and ComfyUI's own "Save Animated WEBP" writes exactly that; its GIF
demuxer guesses a frame rate instead of reading the per-frame delays. Pillow decodes both, composites each frame
onto the canvas (disposal and blending are applied), and reports every frame's duration: the fps is the frame
count over the total duration. These files carry no audio.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image, ImageSequence

from ..errors import ToonTalkerError
from .common import DEFAULT_FPS  # also when the file gives no usable frame delays (delay 0 is common in GIFs)

ANIMATED_FORMATS = {"WEBP", "GIF", "PNG"}  # PNG: APNG


def is_animated(path: Path) -> bool:
    """True for an image file with more than one frame in a format handled here. Never raises."""
    try:
        with Image.open(path) as im:
            return im.format in ANIMATED_FORMATS and getattr(im, "n_frames", 1) > 1
    except Exception:  # not an image (PIL raises many types): the caller tries other readers
        return False


def _broken(path: Path, index: int, exc: Exception) -> ToonTalkerError:
    reason = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else type(exc).__name__
    return ToonTalkerError(f"{path} could not be decoded as an animation (failed at frame {index}): {reason}; "
                           "re-export it, or convert it to MP4")


def probe(path: Path) -> tuple[int, float, int, int]:
    """-> (frame count, fps from the frame durations, width, height)."""
    durations: list[float] = []
    try:
        with Image.open(path) as im:
            for frame in ImageSequence.Iterator(im):
                frame.load()  # WebP sets a frame's duration when it is decoded, GIF when it is seeked
                durations.append(float(frame.info.get("duration") or 0))
            width, height = im.size
    except Exception as exc:  # PIL raises many types on damaged files
        raise _broken(path, len(durations), exc) from None
    total_ms = sum(durations)
    if total_ms <= 0 or min(durations) <= 0:  # missing delays: a player's default, not a measurement
        fps = DEFAULT_FPS
    else:
        fps = 1000.0 * len(durations) / total_ms
    return len(durations), round(fps, 3), width, height


def frames(path: Path, start: int = 0, stop: int | None = None) -> Iterator[np.ndarray]:
    """Composited frames [start, stop) as uint8 HxWx3 (alpha dropped, as for still images)."""
    i = 0
    try:
        with Image.open(path) as im:
            for i, frame in enumerate(ImageSequence.Iterator(im)):
                if stop is not None and i >= stop:
                    break
                if i >= start:
                    rgb = frame.convert("RGBA").convert("RGB") if frame.mode in ("P", "PA") else frame.convert("RGB")
                    yield np.asarray(rgb, dtype=np.uint8).copy()
    except ToonTalkerError:
        raise
    except Exception as exc:
        raise _broken(path, i, exc) from None
