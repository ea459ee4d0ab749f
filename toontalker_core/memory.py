"""One memory model: the bytes one frame of each stage needs on the model's device, and how many
full-resolution frames one chunk of image work holds. The CLI clamps its batch and sizes its read chunks with
it; the nodes hand the same estimates to ComfyUI (`load_models_gpu(memory_required=...)`) and size their chunks
with it, so both estimate the same activations in the same units.
"""
from __future__ import annotations

import torch

# Peak activation memory per frame of each stage, in units of the synthesis feature maps (sum over levels of
# channels x pixels: 8.0 M elements at 256 px) times the element size. Measured on the CPU as ru_maxrss growth
# per extra frame (batches 5 -> 9, random 256 px model of the published size, fp32, every synthesis level
# batched as on a GPU): render 84 MB and motion encoder 81 MB per frame, i.e. ~2.7 units each; rounded up to
# 4 for allocator slack and cuDNN workspaces. The stages of `reenact` run one after another: their sum bounds it.
STAGE_FACTORS = {"source": 5.0, "encode": 4.0, "decode": 0.25, "render": 4.0, "reenact": 8.0}
# Full-resolution image work (read, detect, crop, paste back, write): float input chunk, crop/paste
# intermediates, mask and output, per pixel of a frame; one chunk of it stays within FULL_RES_CHUNK_BYTES
# (one 4K frame, 16 small ones).
FULL_RES_BYTES_PER_PIXEL = 48
FULL_RES_CHUNK_BYTES = 512 * 2 ** 20
MAX_FULL_RES_BATCH = 16
# Without ComfyUI to ask what is free (the CLI), one model batch's activations stay within this.
MODEL_BATCH_BYTES = 2 * 2 ** 30


def feature_elements(cfg) -> int:
    """Elements of the synthesis feature maps for one frame (8 px up to the model size)."""
    return sum(cfg.dec_channels(r) * r * r for r in (2 ** k for k in range(3, cfg.log_size + 1)))


def frame_bytes(model, stage: str, full_res_pixels: int = 0) -> int:
    """Estimated peak bytes one frame of `stage` adds on the model's device (plus full-resolution image
    buffers when frames are cropped / pasted there)."""
    elem = torch.empty((), dtype=model.dtype).element_size()
    return int(STAGE_FACTORS[stage] * feature_elements(model.cfg) * elem) + FULL_RES_BYTES_PER_PIXEL * full_res_pixels


def full_res_batch(pixels: int, limit: int | None = None) -> int:
    """Frames per chunk of full-resolution image work for frames of `pixels` pixels (at least 1, at most
    MAX_FULL_RES_BATCH and `limit`)."""
    n = FULL_RES_CHUNK_BYTES // (FULL_RES_BYTES_PER_PIXEL * max(1, int(pixels)))
    return int(max(1, min(MAX_FULL_RES_BATCH, n, limit or MAX_FULL_RES_BATCH)))


def max_model_batch(model) -> int:
    """The largest driving batch whose `reenact` activations fit MODEL_BATCH_BYTES."""
    return max(1, MODEL_BATCH_BYTES // frame_bytes(model, "reenact"))
