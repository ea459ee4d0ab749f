"""Everything derived from one loaded model, in one place: its fp32 twin (for the fp16 guard), its content
hash, its motion directions with the encoded probe portrait, its id between nodes, and its one-time warnings.

The cache hangs on the model (one attribute, not a submodule: not in the state dict) and follows the model's
weights between devices: when they move (`model.to(...)`, or ComfyUI offloading the patcher's weights), every
tensor, module and encoding in the cache moves to the same device, keeping its own dtype (the fp32 twin stays
fp32 when the model becomes half). So nothing derived pins VRAM after ComfyUI unloads the model, and it all
goes when the model is freed: nothing else refers to it.
"""
from __future__ import annotations

from typing import Any, Callable

import torch

ATTR = "_toontalker_cache"


class ModelCache:
    def __init__(self) -> None:
        self.entries: dict[str, Any] = {}

    def get(self, key: str, make: Callable[[], Any]) -> Any:
        if key not in self.entries:
            self.entries[key] = make()
        return self.entries[key]

    def follow(self, fn: Callable[[torch.Tensor], torch.Tensor], device: torch.device) -> None:
        """After the weights moved from `device` by `fn` (an `nn.Module._apply` function): move every entry
        to where `fn` sends a tensor on `device`. Dtype changes (`.half()`) are not followed."""
        target = fn(torch.empty(0, device=device)).device
        if target != device:
            self.entries = {k: _moved(v, target) for k, v in self.entries.items()}


def _moved(value, device: torch.device):
    if isinstance(value, torch.Tensor):
        return value.to(device)
    if isinstance(value, dict):
        return {k: _moved(v, device) for k, v in value.items()}
    if isinstance(value, torch.nn.Module) or hasattr(value, "to"):
        return value.to(device)  # modules, EncodedSource / MotionDirections (their own .to)
    return value  # strings, flags


def cache_of(model) -> ModelCache:
    cache = model.__dict__.get(ATTR)
    if cache is None:
        cache = model.__dict__[ATTR] = ModelCache()
    return cache


def derived(model, key: str, make: Callable[[], Any]) -> Any:
    """The cached `key` of `model`, made by `make()` on first use."""
    return cache_of(model).get(key, make)
