"""How much memory a chunk of frames needs (the core's one memory model, toontalker_core/memory.py, in
ComfyUI's terms), and the chunk loop every computing node runs.

The loop asks ComfyUI to load the model with room for one chunk (`load_models_gpu(memory_required=...)`),
caps the chunk by the memory that is free, and on an out-of-memory error retries the same frames with half
the batch, as ComfyUI's upscale node halves its tile.
"""
from __future__ import annotations

import dataclasses
import logging
from typing import Callable, Iterator, TypeVar

import torch

from ..toontalker_core import validate as V
from .comfy import (check_interrupt, free_memory_bytes, intermediate_device, load_for_compute, oom_errors,
                    soft_empty_cache)
from .feedback import Feedback

T = TypeVar("T")


def tensor_bytes(obj) -> int:
    """Bytes held by the tensors of a payload (dataclass, list, tuple or tensor)."""
    if isinstance(obj, torch.Tensor):
        return obj.numel() * obj.element_size()
    if isinstance(obj, (list, tuple)):
        return sum(tensor_bytes(v) for v in obj)
    if dataclasses.is_dataclass(obj):
        return sum(tensor_bytes(getattr(obj, f.name)) for f in dataclasses.fields(obj))
    return 0


def prepare(model, batch_size: int, per_frame: int, fixed: int = 0) -> int:
    """Load the model with room for `fixed` bytes (e.g. the encoded source moved to its device) plus a chunk
    of `batch_size` frames; returns the batch size that fits in the memory ComfyUI then reports free (at
    least 1). Call right before computing."""
    batch_size = V.number(batch_size, "batch_size", 1, whole=True)
    load_for_compute(model, fixed + per_frame * batch_size)
    free = free_memory_bytes(model.device)
    if free is not None:
        free -= fixed
    if free is not None and per_frame > 0:
        fits = max(1, free // per_frame)
        if fits < batch_size:
            logging.info("ToonTalker: batch %d -> %d frames to fit %.0f MB free on %s", batch_size, fits,
                         free / 2 ** 20, model.device)
            batch_size = int(fits)
    return batch_size


def run_chunks(total: int, batch_size: int, compute: Callable[[slice], T], feedback: Feedback | None = None,
               phase: str = "frames") -> Iterator[tuple[slice, T]]:
    """(frames, compute(frames)) for consecutive slices of `batch_size`, with progress (`phase` 0/total
    before the first chunk, then after each) and the interrupt checked before each chunk. Out of memory: retry
    the same frames with half the batch (down to one frame, then the error goes to the user)."""
    batch_size = V.number(batch_size, "batch_size", 1, whole=True)
    feedback = feedback or Feedback(total)
    feedback.step(phase, 0, total)
    errors = oom_errors()
    start = 0
    while start < total:
        check_interrupt()
        frames = slice(start, min(total, start + batch_size))
        try:
            result = compute(frames)
        except errors:
            if batch_size == 1:
                raise
            batch_size //= 2
            soft_empty_cache()
            logging.warning("ToonTalker: out of memory, retrying with batch_size %d", batch_size)
            continue
        yield frames, result
        feedback.step(phase, frames.stop, total)
        start = frames.stop


def tracking(croppers, compute: Callable[[slice], T]) -> Callable[[slice], T]:
    """`compute` for `run_chunks` when it advances face trackers (a FaceCropper or a list of them): a chunk that
    fails (out of memory) puts the trackers back as they were, so the retry tracks those frames once."""
    croppers = croppers if isinstance(croppers, list) else [croppers]

    def chunk(frames: slice) -> T:
        saved = [c.state() for c in croppers]
        try:
            return compute(frames)
        except BaseException:
            for c, state in zip(croppers, saved):
                c.restore(state)
            raise
    return chunk


class ImageBatch:
    """An IMAGE output filled chunk by chunk on ComfyUI's intermediate device (no concatenation copy)."""

    def __init__(self, total: int):
        self.total, self.images = total, None

    def put(self, frames: slice, images01: torch.Tensor) -> None:
        """images01 [n,3,H,W] in 0..1 for `frames`."""
        chunk = images01.permute(0, 2, 3, 1)
        if self.images is None:
            self.images = torch.empty((self.total, *chunk.shape[1:]), dtype=torch.float32,
                                      device=intermediate_device())
        self.images[frames] = chunk

    def result(self) -> torch.Tensor:
        return self.images
