"""Loading and saving ToonTalker checkpoints without ever unpickling arbitrary objects.

Accepted files:
- `.pt` / `.pth` / `.ckpt` as released: `{"gen": state_dict, ["gen_real": state_dict], "args":
  argparse.Namespace, optimizer states, step counters ...}`, or a bare generator state dict. Read with
  `torch.load(weights_only=True)`; the only non-tensor class allowed is `argparse.Namespace`.
- `.safetensors` written by `save_safetensors` / `python -m toontalker_core convert`: keys `gen.<key>` and
  `gen_real.<key>`, metadata `format=toontalker`, `layout=in-domain|cross-domain`, `config=<json>`.
  Memory-mapped by safetensors.
"""
from __future__ import annotations

import argparse
import json
import os
import pickle
import zipfile
from pathlib import Path

import torch

from .config import ModelConfig, infer_config
from .errors import CheckpointError
from .model import ToonTalker

ROLES = ("gen", "gen_real")
TORCH_EXTS = {".pt", ".pth", ".ckpt", ".bin"}
SAFETENSORS_EXTS = {".safetensors"}
CHECKPOINT_EXTS = TORCH_EXTS | SAFETENSORS_EXTS
FORMAT_TAG = "toontalker"


def _read_torch(path: Path) -> dict:
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        reason = str(e).strip().splitlines()
        hint = next((line for line in reason if "GLOBAL" in line or "Unsupported" in line), reason[0] if reason else "")
        raise CheckpointError(
            f"{path}: refused to load: the file contains Python objects that could run code ({hint.strip()[:160]}). "
            "Only tensors, plain containers and argparse.Namespace are accepted; re-save the state dicts "
            "from a trusted environment.") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as e:
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint (truncated or corrupt?): "
                              f"{str(e).strip().splitlines()[0][:160]}") from None
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path}: expected a dict of state dicts, found {type(obj).__name__}")
    if "gen" in obj:
        states = {r: obj[r] for r in ROLES if r in obj}
    elif "state_dict" in obj and isinstance(obj["state_dict"], dict):
        states = {"gen": obj["state_dict"]}
    elif any(isinstance(k, str) and k.startswith("enc.") for k in obj):
        states = {"gen": obj}
    else:
        keys = ", ".join(sorted(map(str, obj))[:8])
        raise CheckpointError(f"{path}: no ToonTalker generator found (top-level keys: {keys}); expected "
                              "'gen' (and 'gen_real' for cross-domain)")
    for role, sd in states.items():
        if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
            raise CheckpointError(f"{path}: '{role}' is not a state dict of tensors")
    # Files written by this project's training carry their architecture; released files do not.
    config = obj.get("config") if isinstance(obj.get("config"), dict) else None
    return {"states": states, "config": config}


def _read_safetensors(path: Path) -> dict:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            meta = f.metadata() or {}
            flat = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{path}: not a readable safetensors file (truncated or corrupt?): "
                              f"{str(e)[:160]}") from None
    states: dict[str, dict] = {}
    for key, t in flat.items():
        role, _, sub = key.partition(".")
        if role not in ROLES or not sub:
            raise CheckpointError(f"{path}: unexpected tensor '{key}': keys must start with 'gen.' or 'gen_real.' "
                                  "(convert .pth files with `python -m toontalker_core convert`)")
        states.setdefault(role, {})[sub] = t
    config = json.loads(meta["config"]) if "config" in meta else None
    return {"states": states, "config": config}


def read_states(path: str | os.PathLike) -> dict:
    """-> {"states": {role: state_dict}, "config": dict | None} from any accepted file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path}: the file is empty")
    if path.suffix.lower() in SAFETENSORS_EXTS:
        return _read_safetensors(path)
    return _read_torch(path)


def build_model(states: dict, config: dict | None = None, origin: str = "checkpoint") -> ToonTalker:
    """A ToonTalker with these state dicts loaded strictly (names and shapes must match exactly)."""
    if "gen" not in states:
        raise CheckpointError(f"{origin}: the 'gen' generator is missing")
    try:
        cfg = ModelConfig.from_dict(config) if config else infer_config(states["gen"])
    except CheckpointError as e:
        raise CheckpointError(f"{origin}: unknown layout: {e}") from None
    model = ToonTalker(cfg, cross_domain="gen_real" in states)
    for role, sd in states.items():
        target = getattr(model, role)
        expected = target.state_dict()
        missing = [k for k in expected if k not in sd]
        unexpected = [k for k in sd if k not in expected]
        wrong = [f"{k} {tuple(sd[k].shape)} != {tuple(v.shape)}" for k, v in expected.items()
                 if k in sd and sd[k].shape != v.shape]
        if missing or unexpected or wrong:
            parts = []
            if missing:
                parts.append(f"{len(missing)} missing (e.g. {', '.join(missing[:3])})")
            if unexpected:
                parts.append(f"{len(unexpected)} unexpected (e.g. {', '.join(unexpected[:3])})")
            if wrong:
                parts.append(f"{len(wrong)} of the wrong shape (e.g. {'; '.join(wrong[:2])})")
            raise CheckpointError(f"{origin}: '{role}' does not match the ToonTalker layout: " + ", ".join(parts))
        target.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in sd.items()}, strict=True)
    return model


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu",
               dtype: torch.dtype = torch.float32) -> ToonTalker:
    """Load a checkpoint file into an eval-mode model on `device` in `dtype`."""
    data = read_states(path)
    model = build_model(data["states"], data["config"], origin=str(path))
    return model.to(device=device, dtype=dtype)


def save_safetensors(model_or_states, out: str | os.PathLike, config: ModelConfig | None = None) -> Path:
    """Write a model (or {role: state_dict}) as .safetensors with layout metadata; atomic."""
    from safetensors.torch import save_file

    if isinstance(model_or_states, ToonTalker):
        config = model_or_states.cfg
        states = {r: getattr(model_or_states, r).state_dict() for r in ROLES if getattr(model_or_states, r) is not None}
    else:
        states = model_or_states
        config = config or infer_config(states["gen"])
    flat = {f"{role}.{k}": v.detach().contiguous().cpu() for role, sd in states.items() for k, v in sd.items()}
    meta = {"format": FORMAT_TAG, "layout": "cross-domain" if "gen_real" in states else "in-domain",
            "config": json.dumps(config.to_dict())}
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.partial")
    try:
        save_file(flat, str(tmp), metadata=meta)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def convert(src: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """Checkpoint (.pth/.pt/.safetensors) -> .safetensors (or back to a .pth with only the state dicts)."""
    data = read_states(src)
    model = build_model(data["states"], data["config"], origin=str(src))  # validates before writing
    dst = Path(dst)
    if dst.suffix.lower() in SAFETENSORS_EXTS:
        return save_safetensors(model, dst)
    if dst.suffix.lower() in TORCH_EXTS:
        tmp = dst.with_name(f".{dst.name}.partial")
        try:
            torch.save({r: getattr(model, r).state_dict() for r in ROLES if getattr(model, r) is not None}, tmp)
            os.replace(tmp, dst)
        finally:
            tmp.unlink(missing_ok=True)
        return dst
    raise CheckpointError(f"{dst}: unknown output format; use .safetensors or .pth")
