"""Device and precision choice, and the chunked per-frame loop shared by the CLI and the node pack."""
from __future__ import annotations

from typing import Callable, Iterable, Iterator

import torch

from . import stages as S
from .errors import InputError
from .model import ToonTalker

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
DEVICES = ("auto", "cpu", "cuda", "mps")


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device '{name}' requested but CUDA is not available; use --device cpu or auto")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise InputError(f"device '{name}' requested but MPS is not available; use --device cpu or auto")
    return dev


def cpu_has_fast_bf16() -> bool:
    """Native bf16 dot products (AVX512-BF16 or AMX): bf16 convolutions run about 2x fp32 there."""
    cpu = getattr(torch, "cpu", None)
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(cpu, p, lambda: False)() for p in probes)


def resolve_dtype(precision: str, device: torch.device) -> torch.dtype:
    """auto: bf16 on CPUs with native bf16 (about 2x faster, PSNR > 40 dB against fp32), else fp32 (exact);
    on GPUs bf16 where supported, else fp16."""
    if precision not in PRECISIONS:
        raise InputError(f"unknown precision '{precision}': use one of {', '.join(PRECISIONS)}")
    if precision == "fp32":
        return torch.float32
    if precision == "bf16":
        return torch.bfloat16
    if precision == "fp16":
        if device.type == "cpu":
            raise InputError("fp16 is not supported on the CPU; use fp32 or bf16")
        return torch.float16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "mps":
        return torch.float16
    return torch.bfloat16 if cpu_has_fast_bf16() else torch.float32


@torch.inference_mode()
def reenact_batch(model: ToonTalker, source: S.EncodedSource, frames01: torch.Tensor, driving_domain: str,
                  strength: float = 1.0, mode: str = "relative",
                  reference_T1: torch.Tensor | None = None) -> torch.Tensor:
    """Driving frames [n,3,H,W] in [0,1] -> reenacted frames [n,3,H,W] in [0,1] (float32).

    Only the per-frame stages run here (motion encoder, transfer, decode, render); everything about the
    source comes from `source`.
    """
    motion = S.encode_driving(model, S.to_model_range(frames01, model), driving_domain)
    z = S.transfer(source, motion.canon_T1, strength, mode, reference_T1)
    return S.to_unit_range(S.render(model, source, S.decode(model, source, z)))


def reenact_chunks(model: ToonTalker, source: S.EncodedSource, driving_chunks: Iterable[torch.Tensor],
                   driving_domain: str, strength: float = 1.0, mode: str = "relative",
                   reference_T1: torch.Tensor | None = None,
                   on_chunk: Callable[[int], None] | None = None) -> Iterator[torch.Tensor]:
    """`reenact_batch` over a stream of driving chunks (constant memory for any video length)."""
    S.check_strength(strength)
    for chunk in driving_chunks:
        out = reenact_batch(model, source, chunk, driving_domain, strength, mode, reference_T1)
        if on_chunk is not None:
            on_chunk(len(chunk))
        yield out
