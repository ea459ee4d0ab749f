"""Precision policy: which dtype `auto` means on each device, and fp32 that is really fp32 on CUDA.

Measured on an H200 (parity-fixture weights, 64 frames of 256 px, against the original implementation in
fp32 with TF32 off; issue 21): fp16 ran at the speed of bf16 (3.29 vs 3.27 ms/frame, 0.91x fp32's time)
with 6.5x less error (mean 9.1e-4 vs 5.9e-3, max 0.23 vs 0.69), so `auto` is fp16 on CUDA, with the guard in
`runtime` that recomputes a chunk in fp32 when fp16 overflows. fp32 itself is true fp32 inside the pack's
calls: TF32 (cuDNN's default for float32 convolutions) moved the original's own output by up to 0.092."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch

from .errors import InputError

PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def cpu_has_fast_bf16() -> bool:
    """Native bf16 dot products (AVX512-BF16 or AMX): bf16 convolutions run about 2x fp32 there."""
    cpu = getattr(torch, "cpu", None)
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(cpu, p, lambda: False)() for p in probes)


def resolve_dtype(precision: str, device: torch.device) -> torch.dtype:
    """auto: fp16 on GPUs (guarded; the most accurate of the fast dtypes, see above), bf16 on CPUs with native
    bf16 (about 2x faster, PSNR > 40 dB against fp32), else fp32 (exact). fp16 is allowed on the CPU too
    (torch runs it, slowly; useful to test the guard)."""
    if precision not in PRECISIONS:
        raise InputError(f"unknown precision '{precision}': use one of {', '.join(PRECISIONS)}")
    if precision == "fp32":
        return torch.float32
    if precision == "bf16":
        return torch.bfloat16
    if precision == "fp16":
        return torch.float16
    if device.type in ("cuda", "mps"):
        return torch.float16
    return torch.bfloat16 if cpu_has_fast_bf16() else torch.float32


# -- true fp32 on CUDA ----------------------------------------------------------------------------------
# torch keeps TF32 in two sets of switches: the legacy booleans (`allow_tf32`, what ComfyUI's own tf32_mode
# uses) and, from torch 2.9, the `fp32_precision` strings. It refuses to run a matmul whose two settings
# disagree, so ours are set through the legacy booleans (which update both) and the caller's state is put back
# exactly: booleans first, then the strings.
_LEGACY = (torch.backends.cudnn, torch.backends.cuda.matmul)


def _precision_switches() -> list:
    found = [torch.backends, torch.backends.cuda.matmul, torch.backends.cudnn,
             getattr(torch.backends.cudnn, "conv", None)]
    return [m for m in found if m is not None and hasattr(m, "fp32_precision")]


def _read_legacy(module) -> bool | None:
    try:
        return bool(module.allow_tf32)
    except RuntimeError:  # the caller left the two settings disagreeing: restore the strings alone
        return None


@contextmanager
def exact_fp32(device: torch.device, dtype: torch.dtype) -> Iterator[None]:
    """Within the block, float32 work on a CUDA device runs without TF32; the caller's settings (ComfyUI's,
    a user's) are restored afterwards, also after an error. Anything else runs unchanged."""
    if torch.device(device).type != "cuda" or dtype != torch.float32:
        yield
        return
    legacy = [_read_legacy(m) for m in _LEGACY]
    strings = [(m, m.fp32_precision) for m in _precision_switches()]
    try:
        for m in _LEGACY:
            m.allow_tf32 = False
        yield
    finally:
        for m, value in zip(_LEGACY, legacy):
            if value is not None:
                m.allow_tf32 = value
        for m, value in strings:
            m.fp32_precision = value
