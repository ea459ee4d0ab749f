"""Device and precision choice, memory limits, and the chunked per-frame loop shared by the CLI and the
node pack (with the fp16 guard: a chunk whose output is not finite is recomputed in fp32)."""
from __future__ import annotations

import warnings
from typing import Callable, Iterable, Iterator

import torch

from . import memory
from . import validate as V
from . import stages as S
from .errors import InputError
from .model.toontalker import ToonTalker
from .model.cache import cache_of, derived
from .precision import exact_fp32

Warn = Callable[[str], None]

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


# -- memory limits (checked before allocating; the estimates are memory.py's) --------------------------------
def check_batch_size(batch_size: int, model: ToonTalker, warn: Warn | None = None) -> int:
    """A validated model batch size: < 1 is an error; above `max_model_batch` it is clamped with a note."""
    batch_size = V.number(batch_size, "batch size", 1, whole=True)
    limit = memory.max_model_batch(model)
    if batch_size > limit:
        _warn(warn, f"batch size {batch_size} needs more memory than is sensible for a {model.cfg.size} px "
                    f"model in {str(model.dtype).replace('torch.', '')}; using {limit}")
        return limit
    return int(batch_size)


# -- the per-frame loop, with the fp16 guard ----------------------------------------------------------------
def _warn(warn: Warn | None, msg: str) -> None:
    if warn is not None:
        warn(msg)
    else:
        warnings.warn(msg, RuntimeWarning, stacklevel=3)


def _exact(stage: Callable, model: ToonTalker, *args):
    """stage(model, *args) in the model's precision, fp32 being true fp32 (no TF32) on CUDA."""
    with exact_fp32(model.device, model.dtype):
        return stage(model, *args)


def _source_stages(model, source, driving: "DrivingBatch", strength, mode, reference_T1) -> torch.Tensor:
    z = S.transfer(source, driving.codes(model), strength, mode, reference_T1)
    return S.render(model, source, S.decode(model, source, z))


def fp32_twin(model: ToonTalker) -> ToonTalker:
    """A float32 copy of a reduced-precision model on the same device, made once and kept on the model (for
    the chunks fp16 cannot represent)."""
    def make() -> ToonTalker:
        # built from the weights alone: a deepcopy would also copy what hangs on the model (ComfyUI's patcher,
        # its cache)
        twin = ToonTalker(model.cfg, cross_domain=model.cross_domain)
        twin.load_state_dict({k: v.float() for k, v in model.state_dict().items()})
        return twin.to(model.device).eval().requires_grad_(False)

    return derived(model, "fp32_twin", make)  # follows the model between devices (model/cache.py)


def _fp16_overflowed(model: ToonTalker, out: torch.Tensor, warn: Warn | None) -> bool:
    """True when an fp16 model's `out` is not finite (fp16 overflows at 65504; NaN would pass the clamp and come
    out black); warns once per model. One device sync."""
    if model.dtype != torch.float16 or bool(torch.isfinite(out).all()):
        return False
    if not cache_of(model).entries.get("fp16_warned"):
        cache_of(model).entries["fp16_warned"] = True
        _warn(warn, "fp16 overflowed (non-finite values) in a chunk; recomputing such chunks in fp32 "
                    "(use --precision bf16 or fp32 to avoid the recomputation)")
    return True


def _fp32_inputs(model: ToonTalker, source: S.EncodedSource, *tensors):
    """A source (or codes) that already needed fp32 runs everything of its chunk in fp32 (see `encode_source`)."""
    if model.dtype == torch.float16 and torch.float32 in (source.motion.dtype, *(t.dtype for t in tensors if t is not None)):
        return fp32_twin(model), _as_fp32(source), [None if t is None else t.float() for t in tensors]
    return model, source, list(tensors)


def _guarded(stage: Callable, model: ToonTalker, source: S.EncodedSource, x: torch.Tensor,
             warn: Warn | None) -> torch.Tensor:
    """stage(model, source, x) with the fp16 guard: a result that is not finite is recomputed in fp32."""
    model, source, (x,) = _fp32_inputs(model, source, x)
    out = _exact(stage, model, source, x)
    if _fp16_overflowed(model, out, warn):
        out = _exact(stage, fp32_twin(model), _as_fp32(source), x.float())
    return out


def _decode_render(model, source, canonical) -> torch.Tensor:
    return S.render(model, source, S.decode(model, source, canonical))


@torch.inference_mode()
def decode(model: ToonTalker, source: S.EncodedSource, canonical: torch.Tensor, *,
           warn: Warn | None = None) -> torch.Tensor:
    """`stages.decode` (the backward transformer to the source domain) with the fp16 guard: latents that are
    not finite are recomputed in fp32 (and come back as float32)."""
    return _guarded(S.decode, model, source, canonical, warn)


@torch.inference_mode()
def render(model: ToonTalker, source: S.EncodedSource, latents: torch.Tensor, *,
           warn: Warn | None = None) -> torch.Tensor:
    """`stages.render` (warp-rendering synthesis) -> frames [n,3,S,S] in [0,1] (float32), with the fp16 guard."""
    return S.to_unit_range(_guarded(S.render, model, source, latents, warn))


@torch.inference_mode()
def synthesize(model: ToonTalker, source: S.EncodedSource, canonical: torch.Tensor, *,
               warn: Warn | None = None) -> torch.Tensor:
    """Canonical-space codes [n,...] -> frames [n,3,S,S] in [0,1] (float32): `decode` then `render`, with the
    fp16 guard over both (a non-finite chunk is recomputed from the codes in fp32). What every path that holds
    codes uses: the CLI and nodes (through `reenact_batch`), the video source, animate, the motion preview and
    control discovery."""
    return S.to_unit_range(_guarded(_decode_render, model, source, canonical, warn))


class DrivingBatch:
    """The driving side of one batch: frames [n,3,S,S] in [0,1], their domain and the reference code. Their
    canonical codes T1(d) (motion encoder, driving query transformer) depend on nothing else, so they are
    encoded once however many source faces the batch drives, per precision asked for: the model's, and fp32
    only when a source or the reference code is fp32, or the fp16 guard recomputes (kept for the next face)."""

    def __init__(self, frames01: torch.Tensor, domain: str, reference_T1: torch.Tensor | None = None) -> None:
        self.frames01, self.domain, self.reference_T1 = frames01, domain, reference_T1
        self._T1: dict[torch.dtype, torch.Tensor] = {}

    def __len__(self) -> int:
        return len(self.frames01)

    def codes(self, model: ToonTalker) -> torch.Tensor:
        """T1(d) [n, M, D] computed by `model` (the model or its fp32 twin), inside the caller's `_exact`."""
        if model.dtype not in self._T1:
            x = S.to_model_range(self.frames01, model)
            self._T1[model.dtype] = S.encode_driving(model, x, self.domain).canon_T1
        return self._T1[model.dtype]


@torch.inference_mode()
def reenact_driven(model: ToonTalker, source: S.EncodedSource, driving: DrivingBatch, strength: float = 1.0,
                   mode: str = "relative", *, warn: Warn | None = None) -> torch.Tensor:
    """The per-source part of `reenact_batch` (transfer by latent addition, backward transformer, warp-render
    synthesis) for driving codes encoded once in `driving` -> frames [n,3,S,S] in [0,1] (float32), with the
    same fp16 guard: the result equals `reenact_batch` on the same frames, bit for bit."""
    model, source, (reference_T1,) = _fp32_inputs(model, source, driving.reference_T1)
    out = _exact(_source_stages, model, source, driving, strength, mode, reference_T1)
    if _fp16_overflowed(model, out, warn):
        ref32 = None if reference_T1 is None else reference_T1.float()
        out = _exact(_source_stages, fp32_twin(model), _as_fp32(source), driving, strength, mode, ref32)
    return S.to_unit_range(out)


def reenact_batch(model: ToonTalker, source: S.EncodedSource, frames01: torch.Tensor, driving_domain: str,
                  strength: float = 1.0, mode: str = "relative",
                  reference_T1: torch.Tensor | None = None, *, warn: Warn | None = None) -> torch.Tensor:
    """Driving frames [n,3,H,W] in [0,1] -> reenacted frames [n,3,H,W] in [0,1] (float32), on the model's
    device.

    Only the per-frame stages run here (motion encoder, transfer, decode, render); everything about the
    source comes from `source`. fp16 guard: when an fp16 model's output for this chunk is not finite, the chunk
    is recomputed in float32 and one warning is printed per model (`warn`, default `warnings.warn`). Several
    sources driven by the same frames: one `DrivingBatch` and `reenact_driven` per source.
    """
    return reenact_driven(model, source, DrivingBatch(frames01, driving_domain, reference_T1), strength, mode,
                          warn=warn)


def _as_fp32(source: S.EncodedSource) -> S.EncodedSource:
    """The source in float32, converted once and kept on it: after one overflow the following chunks usually
    overflow too, and converting every warp-feature level per chunk is wasted work."""
    if source.motion.dtype == torch.float32:
        return source
    fp32 = source.__dict__.get("_fp32")
    if fp32 is None:
        fp32 = source.__dict__["_fp32"] = source.to(torch.float32)  # every tensor of an encoding is floating point
    return fp32


def _finite(*tensors: torch.Tensor) -> bool:
    return all(bool(torch.isfinite(t).all()) for t in tensors)


@torch.inference_mode()
def encode_source(model: ToonTalker, images01: torch.Tensor, domain: str, *,
                  warn: Warn | None = None) -> S.EncodedSource:
    """`stages.encode_source` from images [B,3,S,S] in [0,1], with the fp16 guard: an fp16 encoding that is
    not finite is redone in float32 (and `reenact_batch` then runs that source in float32)."""
    x = S.to_model_range(images01, model)
    source = _exact(S.encode_source, model, x, domain)
    if model.dtype == torch.float16 and not _finite(source.canon_T0, source.canon_T1, *source.warp_features):
        _warn(warn, "fp16 overflowed while encoding the source; it is encoded and rendered in fp32 instead")
        cache_of(model).entries["fp16_warned"] = True
        source = _exact(S.encode_source, fp32_twin(model), x.float(), domain)
    return source


@torch.inference_mode()
def encode_reference(model: ToonTalker, frames01: torch.Tensor, domain: str, *,
                     warn: Warn | None = None) -> S.EncodedMotion:
    """`stages.encode_driving` from frames [N,3,S,S] in [0,1], with the same fp16 guard as `encode_source`."""
    x = S.to_model_range(frames01, model)
    motion = _exact(S.encode_driving, model, x, domain)
    if model.dtype == torch.float16 and not _finite(motion.canon_T1):
        motion = _exact(S.encode_driving, fp32_twin(model), x.float(), domain)
    return motion


def rebatch(chunks: Iterable[torch.Tensor], size: int | None) -> Iterator[torch.Tensor]:
    """Regroup a stream of [n,...] chunks into chunks of exactly `size` (the last may be shorter); None keeps
    the chunks as they come. Small read chunks of large frames become full model batches of their crops."""
    if size is None:
        yield from chunks
        return
    pending: list[torch.Tensor] = []
    count = 0
    for chunk in chunks:
        pending.append(chunk)
        count += len(chunk)
        while count >= size:
            joined = torch.cat(pending) if len(pending) > 1 else pending[0]
            yield joined[:size]
            rest = joined[size:]
            pending, count = ([rest] if len(rest) else []), len(rest)
    if pending:
        yield torch.cat(pending) if len(pending) > 1 else pending[0]


def to_uint8(frames01: torch.Tensor, inplace: bool = False) -> torch.Tensor:
    """Frames in [0,1] -> uint8 on their device (a quarter of the bytes to copy to the host and write).
    inplace: reuse `frames01`'s memory for the intermediate steps (the caller is done with it)."""
    x = frames01.clamp_(0, 1) if inplace else frames01.clamp(0, 1)
    return x.mul_(255).round_().to(torch.uint8)


def reenact_chunks(model: ToonTalker, source: S.EncodedSource, driving_chunks: Iterable[torch.Tensor],
                   driving_domain: str, strength: float = 1.0, mode: str = "relative",
                   reference_T1: torch.Tensor | None = None,
                   on_chunk: Callable[[int], None] | None = None, *, warn: Warn | None = None) -> Iterator[torch.Tensor]:
    """`reenact_batch` over a stream of driving chunks (constant memory for any video length)."""
    S.check_strength(strength)
    for chunk in driving_chunks:
        out = reenact_batch(model, source, chunk, driving_domain, strength, mode, reference_T1, warn=warn)
        if on_chunk is not None:
            on_chunk(len(chunk))
        yield out
