"""The stages of ToonTalker inference, each a separate function so that callers can cache them.

    source image  --encode_source-->  EncodedSource (appearance maps, warp features, their attention
                                      keys/values, canonical codes T0(s), T1(s))          once per source
    driving frames --encode_driving--> EncodedMotion (canonical codes T1(d))              per frame
    transfer(source, motion, strength, mode) -> canonical code z                          per frame
    decode(model, source, z) -> style latents in the source's domain                      per frame
    render(model, source, latents) -> image                                               per frame

Images are [B,3,H,W] in [-1,1] (`to_model_range` converts from [0,1]); canonical codes are batch-first
[B, motion_dim, D]. The functions are differentiable (training reuses them); a loaded model has
`requires_grad=False`, so inference builds no autograd graph. Callers wrap loops in `torch.inference_mode()`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace

import numpy as np
import torch

from .errors import InputError
from .model.toontalker import ToonTalker, check_domain
from .model.synthesis import KV

MODES = ("relative", "absolute")


@dataclass
class EncodedSource:
    domain: str
    appearance: list[torch.Tensor]      # 3 maps (4, 16, 64 px) read by the backward transformer
    warp_features: list[torch.Tensor]   # per synthesis level, 8 px .. full size
    memory: list[KV]                    # backward transformer keys/values of the appearance maps
    motion: torch.Tensor                # enc2 output [B, D]
    canon_T0: torch.Tensor              # source query transformer code [B, M, D]
    canon_T1: torch.Tensor              # driving query transformer applied to the source [B, M, D]

    @property
    def batch(self) -> int:
        return self.motion.shape[0]

    def to(self, device) -> "EncodedSource":
        return self.map(lambda t: t.to(device))

    def map(self, fn) -> "EncodedSource":
        """A copy with `fn` applied to every tensor (also inside the per-level lists and key/value pairs),
        e.g. `es.map(lambda t: t[:k])` keeps the first k sources of a batch."""
        return _map_tensors(self, fn)

    def for_frames(self, frames: slice) -> "EncodedSource":
        """The source(s) paired with driving frames `frames`: one source serves all frames, a batch of
        sources pairs one-to-one with the frames."""
        if self.batch == 1:
            return self
        return self.map(lambda t: t[frames])


@dataclass
class EncodedMotion:
    domain: str
    motion: torch.Tensor     # enc2 output [N, D]
    canon_T1: torch.Tensor   # [N, M, D]

    def __len__(self) -> int:
        return self.motion.shape[0]

    def to(self, device) -> "EncodedMotion":
        return _move(self, device)

    def __getitem__(self, idx) -> "EncodedMotion":
        if isinstance(idx, int):
            idx = slice(idx, idx + 1)
        return EncodedMotion(self.domain, self.motion[idx], self.canon_T1[idx])

    @staticmethod
    def cat(parts: list["EncodedMotion"]) -> "EncodedMotion":
        if not parts:
            raise InputError("no driving frames were encoded")
        return EncodedMotion(parts[0].domain, torch.cat([p.motion for p in parts]),
                             torch.cat([p.canon_T1 for p in parts]))


def _map_tensors(obj, fn):
    """A copy of dataclass `obj` with `fn` applied to every tensor (also inside lists/tuples)."""
    def mv(x):
        if isinstance(x, torch.Tensor):
            return fn(x)
        if isinstance(x, (list, tuple)):
            return type(x)(mv(v) for v in x)
        return x
    return replace(obj, **{f.name: mv(getattr(obj, f.name)) for f in fields(obj)})


def _move(obj, device):
    return _map_tensors(obj, lambda t: t.to(device))


def to_model_range(images01, model: ToonTalker) -> torch.Tensor:
    """[B,3,H,W] in [0,1] (torch or numpy, float) -> [-1,1] on the model's device and dtype, checked against the
    model size. The value range is checked with one min/max per call (cheap): uint8, 0..255 floats, [-1,1]
    data and NaN/Inf are refused with a message saying how to convert, instead of rendering garbage."""
    if isinstance(images01, np.ndarray):
        images01 = torch.from_numpy(np.ascontiguousarray(images01))
    if not isinstance(images01, torch.Tensor):
        raise InputError(f"expected images as a torch tensor or numpy array [B,3,H,W], got {type(images01).__name__}")
    if images01.ndim != 4 or images01.shape[1] != 3:
        raise InputError(f"expected images [B,3,H,W], got shape {tuple(images01.shape)}")
    if images01.shape[0] == 0:
        raise InputError("the image batch is empty")
    size = model.cfg.size
    if images01.shape[-2:] != (size, size):
        raise InputError(f"images are {images01.shape[-1]}x{images01.shape[-2]}; this model needs "
                         f"{size}x{size} (crop or resize first)")
    if not images01.is_floating_point():
        raise InputError(f"images are {str(images01.dtype).replace('torch.', '')}; expected float in [0,1] "
                         "(for uint8 images divide by 255)")
    check_unit_range(images01)
    x = images01.to(model.device, model.dtype).clamp(0, 1) * 2 - 1
    return x.contiguous(memory_format=torch.channels_last)  # the convolutions' fastest layout


# Resampling ringing (bicubic/lanczos upscalers overshoot by a few %) is clamped; anything further out is a
# different convention (0..255, [-1,1]), not noise.
_RANGE_SLACK = 0.1


def check_unit_range(images: torch.Tensor, what: str = "images") -> None:
    """Refuse values more than 0.1 outside [0,1] and NaN/Inf, naming the range found and the likely fix."""
    lo, hi = (float(v) for v in torch.aminmax(images.detach()))
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise InputError(f"{what} hold NaN or Inf values; replace them (e.g. torch.nan_to_num) first")
    if lo < -_RANGE_SLACK or hi > 1 + _RANGE_SLACK:
        hint = ("0..255 values: divide by 255" if hi > 1.5 else
                "[-1,1] values: map them with (x + 1) / 2" if lo < -0.5 else "clamp them to [0,1]")
        raise InputError(f"{what} span [{lo:.4g}, {hi:.4g}]; expected [0,1] ({hint})")


# -- encoding ---------------------------------------------------------------------------------------------
def encode_motion(model: ToonTalker, images: torch.Tensor, domain: str) -> torch.Tensor:
    """Domain motion encoder: images [B,3,H,W] in [-1,1] -> motion vectors [B, D]."""
    return model.generator(domain).enc2(images)


def project_to_canonical(model: ToonTalker, motion: torch.Tensor, domain: str, source: bool) -> torch.Tensor:
    """Query transformer T0 (source) or T1 (driving): the domain's motion bases attend to its motion vector.

    -> canonical code [B, M, D].
    """
    t0, t1 = model.query_transformers()
    queries = model.generator(domain).motion_bases
    queries = queries.unsqueeze(0).expand(motion.shape[0], -1, -1)
    return (t0 if source else t1)(queries, motion.unsqueeze(1))


def encode_source(model: ToonTalker, images: torch.Tensor, domain: str) -> EncodedSource:
    """Everything that depends on the source only. images: [B,3,H,W] in [-1,1]."""
    gen = model.generator(check_domain(domain))
    appearance, feats = gen.enc(images)
    motion = encode_motion(model, images, domain)
    return EncodedSource(
        domain=domain, appearance=appearance, warp_features=feats,
        memory=gen.dec.appearance_memory(appearance), motion=motion,
        canon_T0=project_to_canonical(model, motion, domain, source=True),
        canon_T1=project_to_canonical(model, motion, domain, source=False))


def encode_driving(model: ToonTalker, images: torch.Tensor, domain: str) -> EncodedMotion:
    """Driving frames [N,3,H,W] in [-1,1] -> their canonical codes T1(d)."""
    motion = encode_motion(model, images, check_domain(domain))
    return EncodedMotion(domain, motion, project_to_canonical(model, motion, domain, source=False))


# -- transfer in the canonical space ----------------------------------------------------------------------
def check_strength(strength: float) -> float:
    strength = float(strength)
    if not math.isfinite(strength):
        raise InputError(f"strength must be a finite number, got {strength}")
    return strength


def check_reference(index: int, n_frames: int) -> int:
    if not -n_frames <= index < n_frames:
        raise InputError(f"reference frame {index} is out of range: the driving clip has {n_frames} "
                         f"frame(s), use 0..{n_frames - 1}")
    return index % n_frames


def transfer(source: EncodedSource, driving_T1: torch.Tensor, strength: float = 1.0, mode: str = "relative",
             reference_T1: torch.Tensor | None = None) -> torch.Tensor:
    """Motion transfer by latent addition in the canonical space.

    relative: z = T0(s) + T1(s) + a (T1(d) - T1(d0))   (d0: the reference driving frame)
    absolute: z = T0(s) + T1(s) + a (T1(d) - T1(s))    (= T0(s) + T1(d) at a = 1)
    a = 0 keeps the source's own pose and expression for any mode.
    """
    strength = check_strength(strength)
    if mode == "relative":
        if reference_T1 is None:
            raise InputError("relative mode needs the reference frame's code")
        delta = driving_T1 - reference_T1
    elif mode == "absolute":
        delta = driving_T1 - source.canon_T1.to(driving_T1.dtype)
    else:
        raise InputError(f"unknown mode '{mode}': use one of {', '.join(MODES)}")
    n, b = driving_T1.shape[0], source.batch
    if b not in (1, n):
        raise InputError(f"{b} source images cannot pair with {n} driving frames: use one source, or "
                         "exactly one source per driving frame")
    base = source.canon_T0 + source.canon_T1
    return base + strength * delta


def motion_magnitude(driving_T1: torch.Tensor, reference: int) -> list[float]:
    """Per frame, how far its canonical driving code is from the reference frame's (L2 over the code):
    the size of the motion that relative transfer adds at strength 1."""
    ref = check_reference(reference, driving_T1.shape[0])
    return (driving_T1.float() - driving_T1[ref:ref + 1].float()).flatten(1).norm(dim=1).tolist()


# -- back to the source domain and rendering --------------------------------------------------------------
def decode(model: ToonTalker, source: EncodedSource, canonical: torch.Tensor) -> torch.Tensor:
    """Backward transformer: canonical code [N, M, D] -> style latents [N, n_latent, D] (source domain)."""
    return model.generator(source.domain).dec.backward_transform(canonical, source.memory)


def render(model: ToonTalker, source: EncodedSource, latents: torch.Tensor) -> torch.Tensor:
    """Warp-rendering synthesis: latents [N, n_latent, D] -> images [N,3,H,W], unclamped, about [-1,1]."""
    return model.generator(source.domain).dec.render(latents, source.warp_features)


def to_unit_range(images: torch.Tensor) -> torch.Tensor:
    """Model output -> [0,1] per frame: clamp to [-1,1] (no per-video min/max normalisation: it flickers)."""
    return (images.float().clamp(-1, 1) + 1) / 2
