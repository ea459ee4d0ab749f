"""Audio for written videos: from a media file's first audio stream or from an array, re-encoded to AAC
and fed in step with the video frames so the two interleave and the audio ends with the video."""
from __future__ import annotations

import warnings
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import av
import numpy as np

from ..errors import MediaError
from .av_compat import open_input
from .common import short_reason

# Sample rates the AAC encoder accepts; anything else is resampled to 48 kHz.
_AAC_RATES = {96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350}


def _file_audio_chunks(path: Path, layout: str, rate: int) -> Iterator[np.ndarray]:
    """Decode the first audio stream of `path` as float32 [channels, n] blocks at `rate`."""
    container = open_input(path)
    sent = 0
    try:
        resampler = av.AudioResampler(format="fltp", layout=layout, rate=rate)
        try:
            for frame in container.decode(container.streams.audio[0]):
                for out in resampler.resample(frame):
                    sent += out.samples
                    yield out.to_ndarray()
        except av.error.FFmpegError as e:  # a cut file (--allow-truncated): the audio ends where the data does
            warnings.warn(f"the audio of {path} ends at {sent / rate:.2f} s ({short_reason(e)}); the rest of the "
                          "video is silent", RuntimeWarning, stacklevel=2)
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


def audio_plan(audio_from: Path | None, audio_array) -> tuple[Iterator[np.ndarray], int, str] | None:
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
        with open_input(audio_from) as probe:
            if not probe.streams.audio:
                return None
            ctx = probe.streams.audio[0].codec_context
            rate, channels = int(ctx.sample_rate or 48000), ctx.channels
    except Exception:
        return None  # not a media file (e.g. an image): nothing to copy
    rate = rate if rate in _AAC_RATES else 48000
    layout = "mono" if channels == 1 else "stereo"
    return _file_audio_chunks(audio_from, layout, rate), rate, layout


class AudioFeed:
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
            raise MediaError(f"could not read audio from {self.source}: {short_reason(exc)}") from None

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

