"""How much memory a chunk of frames needs, and the chunk loop every computing node runs.

The loop asks ComfyUI to load the model with room for one chunk (`load_models_gpu(memory_required=...)`),
caps the chunk by the memory that is free, and on an out-of-memory error retries the same frames with half
the batch, as ComfyUI's upscale node halves its tile.
"""
from __future__ import annotations

import dataclasses
import logging
from typing import Callable, Iterator, TypeVar

import torch

from ..toontalker_core.errors import InputError
from .comfy import (ProgressBar, check_interrupt, free_memory_bytes, intermediate_device, load_for_compute,
                    oom_errors, soft_empty_cache)

T = TypeVar("T")

# Peak activation memory per frame of each stage, in units of the synthesis feature maps (sum over levels of
# channels x pixels: 8.0 M elements at 256 px) times the element size. Measured on the CPU as ru_maxrss growth
# per extra frame (batches 5 -> 9, random 256 px model of the published size, fp32, every synthesis level
# batched as on a GPU): render 84 MB and motion encoder 81 MB per frame, i.e. ~2.7 units each; rounded up to
# 4 for allocator slack and cuDNN workspaces. The stages of `reenact` run one after another: their sum bounds it.
STAGE_FACTORS = {"source": 5.0, "encode": 4.0, "decode": 0.25, "render": 4.0, "reenact": 8.0}
FULL_RES_BYTES_PER_PIXEL = 48  # float input chunk, crop/paste intermediates, mask and output at full size
FULL_RES_CHUNK_BYTES = 512 * 2 ** 20  # per chunk of full-resolution image work (Face Crop, Paste Back)
MAX_FULL_RES_BATCH = 16


def feature_elements(cfg) -> int:
    """Elements of the synthesis feature maps for one frame (8 px up to the model size)."""
    return sum(cfg.dec_channels(r) * r * r for r in (2 ** k for k in range(3, cfg.log_size + 1)))


def frame_bytes(model, stage: str, full_res_pixels: int = 0) -> int:
    """Estimated peak bytes one frame of `stage` adds on the model's device (plus full-resolution image
    buffers when frames are cropped / pasted there)."""
    elem = torch.empty((), dtype=model.dtype).element_size()
    return int(STAGE_FACTORS[stage] * feature_elements(model.cfg) * elem) + FULL_RES_BYTES_PER_PIXEL * full_res_pixels


def tensor_bytes(obj) -> int:
    """Bytes held by the tensors of a payload (dataclass, list, tuple or tensor)."""
    if isinstance(obj, torch.Tensor):
        return obj.numel() * obj.element_size()
    if isinstance(obj, (list, tuple)):
        return sum(tensor_bytes(v) for v in obj)
    if dataclasses.is_dataclass(obj):
        return sum(tensor_bytes(getattr(obj, f.name)) for f in dataclasses.fields(obj))
    return 0


def full_res_batch(pixels: int) -> int:
    """Frames per chunk of full-resolution image work: 16 small frames, one 4K frame."""
    return int(max(1, min(MAX_FULL_RES_BATCH, FULL_RES_CHUNK_BYTES // (FULL_RES_BYTES_PER_PIXEL * max(1, pixels)))))


def prepare(model, batch_size: int, per_frame: int, fixed: int = 0) -> int:
    """Load the model with room for `fixed` bytes (e.g. the encoded source moved to its device) plus a chunk
    of `batch_size` frames; returns the batch size that fits in the memory ComfyUI then reports free (at
    least 1). Call right before computing."""
    if batch_size < 1:
        raise InputError(f"batch_size must be >= 1, got {batch_size}")
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


def run_chunks(total: int, batch_size: int, compute: Callable[[slice], T]) -> Iterator[tuple[slice, T]]:
    """(frames, compute(frames)) for consecutive slices of `batch_size`, with a ComfyUI progress bar and the
    interrupt checked before each chunk. Out of memory: retry the same frames with half the batch (down to
    one frame, then the error goes to the user)."""
    if batch_size < 1:
        raise InputError(f"batch_size must be >= 1, got {batch_size}")
    bar = ProgressBar(total)
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
        bar.update(frames.stop - start)
        start = frames.stop


def tracking(cropper, compute: Callable[[slice], T]) -> Callable[[slice], T]:
    """`compute` for `run_chunks` when it advances a face tracker: a chunk that fails (out of memory) puts the
    tracker back as it was, so the retry tracks those frames once."""
    def chunk(frames: slice) -> T:
        saved = cropper.state()
        try:
            return compute(frames)
        except BaseException:
            cropper.restore(saved)
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
