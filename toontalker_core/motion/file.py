"""Saved motion: a MOTION's canonical codes as .safetensors, with its domain, fps and model identity.

Tensors: `canon_T1` [N, M, D] and `motion` [N, D] in the dtype they were made in (a round trip is exact).
Metadata: format=toontalker_motion, version, domain, fps, frames, model_id (content hash of the
checkpoint, see `model.identity.model_identity`), model (a readable description). Codes only mean something to
the model that made them, so loading into another model is refused.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch

from .. import validate as V
from ..atomic import atomic_write, check_replaceable, holds_safetensors
from ..errors import InputError
from ..media.common import DEFAULT_FPS
from ..model.toontalker import DOMAINS, ToonTalker
from ..model.identity import model_identity
from ..stages import EncodedMotion

FORMAT = "toontalker_motion"
VERSION = "1"
EXT = ".safetensors"


def save_motion(path: str | os.PathLike, motion: EncodedMotion, fps: float, model: ToonTalker) -> Path:
    """Write `motion` to `path` (.safetensors; atomic: no half-written file on failure)."""
    from safetensors.torch import save_file

    fps = V.fps(fps)
    if len(motion) == 0:
        raise InputError("the motion has no frames")
    path = Path(path)
    if path.suffix.lower() != EXT:
        raise InputError(f"{path}: motion files are {EXT}")
    meta = {"format": FORMAT, "version": VERSION, "domain": motion.domain, "fps": repr(fps),
            "frames": str(len(motion)), "model_id": model_identity(model),
            "model": model.describe().split(",")[0] + f", {model.cfg.size}px, {model.cfg.motion_dim} motion bases"}
    tensors = {"canon_T1": motion.canon_T1.detach().contiguous().cpu(),
               "motion": motion.motion.detach().contiguous().cpu()}
    check_replaceable(path, "a ToonTalker motion file", is_motion_file, InputError)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)
    return path


def is_motion_file(path: Path) -> bool:
    """A .safetensors whose metadata says it is a motion file (what Save Motion may replace)."""
    from safetensors import safe_open

    if not holds_safetensors(path):
        return False
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            return (f.metadata() or {}).get("format") == FORMAT
    except Exception:  # any unreadable header: not ours
        return False


def read_motion(path: str | os.PathLike) -> tuple[EncodedMotion, float, dict]:
    """-> (motion on the CPU in its saved dtype, fps, metadata), checked for format and shapes."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.is_file():
        raise InputError(f"motion file not found: {path}")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as e:
        raise InputError(f"{path}: not a readable motion file (truncated or corrupt?): {str(e)[:120]}") from None
    if meta.get("format") != FORMAT:
        raise InputError(f"{path}: not a ToonTalker motion file (save one with Save Motion)")
    codes, vectors = tensors.get("canon_T1"), tensors.get("motion")
    if codes is None or vectors is None or codes.ndim != 3 or vectors.ndim != 2 or len(codes) != len(vectors) \
            or len(codes) == 0 or meta.get("domain") not in DOMAINS:
        raise InputError(f"{path}: damaged motion file (missing or misshapen tensors / domain)")
    if not (torch.isfinite(codes.float()).all() and torch.isfinite(vectors.float()).all()):
        raise InputError(f"{path}: damaged motion file (it holds NaN or infinite values); save the motion again")
    try:
        fps = V.fps(meta.get("fps", DEFAULT_FPS))
    except InputError:
        raise InputError(f"{path}: damaged motion file (fps {meta.get('fps')!r})") from None
    return EncodedMotion(meta["domain"], vectors, codes), fps, meta


def load_motion(path: str | os.PathLike, model: ToonTalker) -> tuple[EncodedMotion, float]:
    """A saved motion for `model` (on its device and dtype), refused if another model made it."""
    motion, fps, meta = read_motion(path)
    if meta.get("model_id") != model_identity(model):
        raise InputError(f"{Path(path).name} was saved with another model ({meta.get('model', 'unknown')}, id "
                         f"{meta.get('model_id', '?')[:12]}); the connected one is {model.describe().split(',')[0]} "
                         f"(id {model_identity(model)[:12]}): load the checkpoint the motion was made with")
    return EncodedMotion(motion.domain, motion.motion.to(model.device, model.dtype),
                         motion.canon_T1.to(model.device, model.dtype)), fps
