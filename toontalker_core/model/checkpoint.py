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
import re
import zipfile
from pathlib import Path

import torch

from .config import ModelConfig, infer_config
from ..atomic import atomic_write, check_replaceable, check_writable, holds_checkpoint, same_file_input
from ..errors import CheckpointError, InputError
from .toontalker import ToonTalker

ROLES = ("gen", "gen_real")
TORCH_EXTS = {".pt", ".pth", ".ckpt", ".bin"}
SAFETENSORS_EXTS = {".safetensors"}
CHECKPOINT_EXTS = TORCH_EXTS | SAFETENSORS_EXTS
FORMAT_TAG = "toontalker"


def _read_torch(path: Path) -> dict:
    if not hasattr(torch.serialization, "safe_globals"):  # added in torch 2.5
        raise CheckpointError(f"{path}: reading .pth checkpoints safely needs torch 2.5 or newer (this is torch "
                              f"{torch.__version__}); upgrade torch, or use a .safetensors file")
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise CheckpointError(
            f"{path}: refused to load: the file contains Python objects that could run code "
            f"({_pickled_class(e)}). Only tensors, plain containers and argparse.Namespace are accepted; "
            "re-save the state dicts from a trusted environment.") from None
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


def _pickled_class(e: pickle.UnpicklingError) -> str:
    """The refused class named in torch's (multi-line) weights_only message, e.g. 'torch.nn.modules.linear.Linear'."""
    found = re.search(r"GLOBAL ([\w.]+)", str(e))
    if found:
        return f"a pickled {found.group(1)}"
    first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return first if len(first) <= 120 else first[:117] + "..."


def check_finite(states: dict, origin: str = "checkpoint") -> None:
    """Refuse weights holding NaN or Inf (a diverged training run, a broken conversion): such a model renders
    black or garbage frames without any error. Names the first bad tensor."""
    for role, sd in states.items():
        for key, t in sd.items():
            if t.is_floating_point() and not bool(torch.isfinite(t).all()):
                bad = int((~torch.isfinite(t)).sum())
                raise CheckpointError(f"{origin}: tensor '{role}.{key}' holds {bad} NaN/Inf value(s) of "
                                      f"{t.numel()}; the checkpoint is broken (diverged training or a bad "
                                      "conversion), use another one")


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
    try:
        config = json.loads(meta["config"]) if "config" in meta else None
    except ValueError as e:
        raise CheckpointError(f"{path}: its 'config' metadata is not valid JSON ({e}); re-save it, or convert "
                              "its weights with `python -m toontalker_core convert`") from None
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


def _claimed_config(config, shapes: ModelConfig, origin: str) -> ModelConfig:
    """The file's stored config, trusted only where it agrees with its tensors' shapes (it adds n_heads, which
    shapes cannot tell)."""
    try:
        claimed = ModelConfig.from_dict(config)
    except (TypeError, ValueError, OverflowError) as e:
        raise CheckpointError(f"{origin}: its stored config is unreadable ({e}); re-save it, or convert its "
                              "weights with `python -m toontalker_core convert`") from None
    wrong = [f"{k} {getattr(claimed, k)} (the tensors say {getattr(shapes, k)})"
             for k in shapes.to_dict() if k != "n_heads" and getattr(claimed, k) != getattr(shapes, k)]
    if wrong:
        raise CheckpointError(f"{origin}: its stored config does not match its tensors: {'; '.join(wrong)}; "
                              "re-save it, or convert its weights with `python -m toontalker_core convert`")
    return claimed


def build_model(states: dict, config: dict | None = None, origin: str = "checkpoint") -> ToonTalker:
    """A ToonTalker with these state dicts loaded strictly (names and shapes must match exactly)."""
    if "gen" not in states:
        raise CheckpointError(f"{origin}: the 'gen' generator is missing")
    try:
        cfg = infer_config(states["gen"])  # from the tensor shapes: nothing is allocated on a file's word
    except CheckpointError as e:
        raise CheckpointError(f"{origin}: unknown layout: {e}") from None
    if config:
        cfg = _claimed_config(config, cfg, origin)
    check_finite(states, origin)
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
    device = _check_device(device)
    data = read_states(path)
    model = build_model(data["states"], data["config"], origin=str(path))
    return model.to(device=device, dtype=dtype)


def _check_device(device) -> torch.device:
    """A device that exists on this machine, else one clear InputError (torch would assert deep inside .to())."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise InputError(f"unknown device {device!r}: {e}; use 'cpu', 'cuda', 'cuda:N' or 'mps'") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise InputError(f"device '{device}' requested but CUDA is not available on this machine; use 'cpu'")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise InputError(f"device '{device}' requested but only {torch.cuda.device_count()} CUDA device(s) exist")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise InputError(f"device '{device}' requested but MPS is not available on this machine; use 'cpu'")
    return dev


def save_safetensors(model_or_states, out: str | os.PathLike, config: ModelConfig | None = None) -> Path:
    """Write a model (or {role: state_dict}) as .safetensors with layout metadata; atomic. Tensors keep their
    dtype (a half-precision checkpoint stays half)."""
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
    check_replaceable(Path(out), "a checkpoint", holds_checkpoint, CheckpointError)
    with atomic_write(out) as tmp:
        save_file(flat, str(tmp), metadata=meta)
    return Path(out)


def convert(src: str | os.PathLike, dst: str | os.PathLike, overwrite: bool = False) -> Path:
    """Checkpoint (.pth/.pt/.safetensors) -> .safetensors (or back to a .pth with only the state dicts).

    The weights are validated (layout, finite values) before anything is written and keep their stored
    dtype. An existing `dst` is replaced only with `overwrite=True`, and never when it is `src` itself."""
    src, dst = Path(src), Path(dst)
    ext = dst.suffix.lower()
    if ext not in SAFETENSORS_EXTS | TORCH_EXTS:
        raise CheckpointError(f"{dst}: unknown output format; use .safetensors or .pth")
    if same_file_input(dst, [src]) is not None:
        raise CheckpointError(f"{dst} is the input checkpoint itself; write the converted file elsewhere")
    check_replaceable(dst, "a checkpoint", holds_checkpoint, CheckpointError)
    if (dst.exists() or dst.is_symlink()) and not overwrite:
        raise CheckpointError(f"{dst} already exists; pass --overwrite to replace it")
    check_writable(dst, CheckpointError)
    data = read_states(src)
    config = build_model(data["states"], data["config"], origin=str(src)).cfg  # validates before writing
    states = {r: data["states"][r] for r in ROLES if r in data["states"]}
    if ext in SAFETENSORS_EXTS:
        return save_safetensors(states, dst, config)
    with atomic_write(dst) as tmp:
        torch.save({**states, "config": config.to_dict()}, tmp)
    return dst
