"""A model's identity: a content hash of its weights and architecture, the same for a checkpoint loaded as .pth
or .safetensors, in fp32 or bf16 (tensors are hashed as bf16). Saved motion and measured controls name the
model they were made with by it."""
from __future__ import annotations

import hashlib
import json

import torch

from .cache import derived
from .toontalker import ToonTalker


def model_identity(model: ToonTalker) -> str:
    """A content hash of the weights and the architecture (sha256, hex), the same for a checkpoint loaded
    as .pth or .safetensors, in fp32 or bf16: tensors are hashed as bf16. Cached on the model."""
    return derived(model, "content_hash", lambda: _content_hash(model))


def _content_hash(model: ToonTalker) -> str:
    h = hashlib.sha256(json.dumps({"config": model.cfg.to_dict(), "kind": model.kind}, sort_keys=True).encode())
    for name, t in sorted(model.state_dict().items()):
        h.update(name.encode())
        t = t.detach()
        if t.is_floating_point():
            t = t.to("cpu", torch.bfloat16).view(torch.int16)
        h.update(t.contiguous().cpu().numpy().tobytes())
    return h.hexdigest()
