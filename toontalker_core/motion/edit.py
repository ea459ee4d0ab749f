"""Editing canonical codes along the model's motion directions.

A ToonTalker motion vector m (the motion encoder's output) enters the canonical space through the driving
query transformer T1, whose queries are the domain's learned motion bases b_1..b_M (`dec.direction`, the
same width as m). Raw motion direction i is the canonical effect of moving m along base i:

    E_i = (T1(m_p + u b_i/|b_i|) - T1(m_p - u b_i/|b_i|)) / 2        (u = std of m_p's entries)

taken at the motion m_p of the domain's probe portrait (`samples/source_<domain>.png`), so that the
directions are a property of the checkpoint, not of the face being edited. An edit is a linear
combination added to any canonical code: z' = z + sum_i w_i E_i. A zero edit returns the codes unchanged,
edits compose and interpolate linearly, and the same edit works on a still (T0(s) + T1(s)), on every
frame of a MOTION (T1(d)) or on transferred CANONICAL codes.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .. import runtime as R
from .. import stages as S
from ..errors import InputError
from ..model.toontalker import ToonTalker, check_domain
from ..model.cache import derived
from ..resources import PACK_ROOT

PROBE_DIR = PACK_ROOT / "samples"
RAW_PREFIX = "d"


def raw_name(i: int) -> str:
    return f"{RAW_PREFIX}{i:02d}"


def probe_image(domain: str, size: int) -> torch.Tensor:
    """The domain's probe portrait [1,3,size,size] in [0,1] (shipped in samples/, made by the project)."""
    from ..media import load_image, resize_to

    path = PROBE_DIR / f"source_{check_domain(domain)}.png"
    if not path.is_file():
        raise InputError(f"the probe portrait {path} is missing: reinstall the pack (samples/ ships with it)")
    return resize_to(load_image(path)[None], size)


@dataclass
class MotionDirections:
    """The raw motion directions of one checkpoint and domain, and the probe they were taken at."""
    domain: str
    vectors: torch.Tensor    # [K, M, D] canonical-space direction per raw slider
    probe: S.EncodedSource   # the probe portrait, encoded (the discovery renders on it)

    @property
    def count(self) -> int:
        return self.vectors.shape[0]

    def to(self, device) -> "MotionDirections":
        return MotionDirections(self.domain, self.vectors.to(device), self.probe.to(device))

    @property
    def names(self) -> list[str]:
        return [raw_name(i) for i in range(self.count)]


@torch.inference_mode()
def motion_directions(model: ToonTalker, domain: str) -> MotionDirections:
    """Raw motion directions E_i (see the module doc) of `model` for `domain`; cached on the model."""
    model.require_domain(domain, "edited")
    return derived(model, f"directions/{domain}", lambda: _measure_directions(model, domain))


def _measure_directions(model: ToonTalker, domain: str) -> MotionDirections:
    probe = R.encode_source(model, probe_image(domain, model.cfg.size), domain)
    bases = model.generator(domain).motion_bases.float()
    unit = bases / bases.norm(dim=1, keepdim=True)
    m = probe.motion.float()
    step = m.std() * unit                                          # [K, D]
    plus = S.project_to_canonical(model, (m + step).to(model.dtype), domain, source=False).float()
    minus = S.project_to_canonical(model, (m - step).to(model.dtype), domain, source=False).float()
    return MotionDirections(domain, (plus - minus) / 2, probe)


def check_weights(weights, count: int) -> torch.Tensor:
    """Edit weights -> float tensor [N, K] (one row per frame, or one row for all frames)."""
    w = torch.as_tensor(weights, dtype=torch.float32)
    if w.ndim == 1:
        w = w[None]
    if w.ndim != 2 or w.shape[1] != count:
        raise InputError(f"expected edit weights for {count} motion directions, got shape {tuple(w.shape)}")
    if not torch.isfinite(w).all():
        raise InputError("edit weights must be finite numbers")
    return w


def edit_delta(directions: MotionDirections, weights) -> torch.Tensor:
    """sum_i w_i E_i: [N or 1, M, D] in float32."""
    w = check_weights(weights, directions.count).to(directions.vectors.device)
    return torch.einsum("nk,kmd->nmd", w, directions.vectors)


def edit_codes(codes: torch.Tensor, directions: MotionDirections, weights) -> torch.Tensor:
    """Canonical codes [N, M, D] moved along the motion directions by `weights` ([K] for every frame, or
    [N, K] per frame). All-zero weights return the codes unchanged (the identity, bit for bit)."""
    if codes.ndim != 3 or codes.shape[1:] != directions.vectors.shape[1:]:
        raise InputError(f"canonical codes of shape {tuple(codes.shape)} do not fit this model's motion "
                         f"directions ({tuple(directions.vectors.shape[1:])} per frame)")
    w = check_weights(weights, directions.count)
    if w.shape[0] not in (1, codes.shape[0]):
        raise InputError(f"{w.shape[0]} rows of edit weights for {codes.shape[0]} frames: give one row, or "
                         "one per frame")
    if not w.any():
        return codes
    delta = edit_delta(directions, w).to(codes.device)
    return (codes.float() + delta).to(codes.dtype)


def edit_still_or_motion(source: S.EncodedSource, directions: MotionDirections, weights,
                         motion: S.EncodedMotion | None = None,
                         canonical: torch.Tensor | None = None) -> tuple[torch.Tensor, S.EncodedMotion]:
    """The Motion Editor's three uses -> (canonical codes z to decode, the edited driving motion):

    - alone: the still itself, z = T0(s) + T1(s) + edit, and its expression T1(s) + edit as a one-frame motion;
    - `motion`: every frame edited, z = T0(s) + T1(s) + (T1(d) + edit - T1(d0)) (relative to frame 0 at
      strength 1), and the edited frames as the motion;
    - `canonical`: transferred codes + edit, and their motion part (z - T0(s)).
    """
    if motion is not None and canonical is not None:
        raise InputError("edit either a motion or canonical codes, not both")
    base = source.canon_T0 + source.canon_T1
    if motion is not None:
        edited = edit_codes(motion.canon_T1, directions, weights)
        z = base + (edited - motion.canon_T1[:1])
        out = S.EncodedMotion(motion.domain, motion.motion, edited)
    elif canonical is not None:
        z = edit_codes(canonical, directions, weights)
        out = S.EncodedMotion(source.domain, source.motion.expand(len(z), -1), z - source.canon_T0)
    else:
        z = edit_codes(base, directions, weights)
        out = S.EncodedMotion(source.domain, source.motion, edit_codes(source.canon_T1, directions, weights))
    if source.batch not in (1, len(z)):
        raise InputError(f"{source.batch} source images cannot pair with {len(z)} frames: use one source, or one "
                         "per frame")
    return z, out
