"""Deterministic synthetic weights for the published checkpoint layout, from a parity manifest.

A parity manifest (see the project's fixtures) lists every state-dict key and shape of one generator with a
mean/std (parameters) or an exact value (buffers), and a seeded rule that makes each tensor. Tests, the
benchmark and the integration tests use it to write real-layout checkpoint files without the real weights.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
from pathlib import Path

import torch


def tensor_seed(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "little") & (2 ** 63 - 1)


def materialize(manifest: dict, role: str) -> dict[str, torch.Tensor]:
    """The state dict of generator `role` ("gen" or "gen_real") described by `manifest`."""
    state = {}
    for key, spec in manifest["keys"].items():
        shape = spec["shape"]
        if "value" in spec:
            state[key] = torch.tensor(spec["value"], dtype=torch.float32).reshape(shape)
            continue
        g = torch.Generator().manual_seed(tensor_seed(f"{manifest['prefix']}{role}.{key}"))
        state[key] = torch.randn(shape, generator=g, dtype=torch.float32) * spec["std"] + spec["mean"]
    return state


def read_manifest(path: str | os.PathLike) -> dict:
    return json.loads(Path(path).read_text())


def write_reference_checkpoint(manifest: dict, out: str | os.PathLike, cross_domain: bool) -> Path:
    """A `.pth` shaped like the released files: state dicts plus training leftovers (args, optimizer, step)."""
    roles = ("gen", "gen_real") if cross_domain else ("gen",)
    ckpt = {role: materialize(manifest, role) for role in roles}
    ckpt["args"] = argparse.Namespace(size=manifest.get("size", 256), latent_dim_style=manifest.get("style_dim", 512),
                                      latent_dim_motion=manifest.get("motion_dim", 20), channel_multiplier=1)
    ckpt["g_optim"] = {"state": {0: {"step": torch.tensor(3.0), "exp_avg": torch.zeros(4)}},
                       "param_groups": [{"lr": 0.002, "betas": (0.0, 0.99), "params": [0]}]}
    ckpt["step"] = 440000
    out = Path(out)
    torch.save(ckpt, out)
    return out
