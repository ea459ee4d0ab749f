"""ToonTalker (ICCV 2023) one-shot face reenactment as a plain PyTorch library.

Staged API (see `stages`): `encode_source`, `encode_driving`, `transfer`, `decode`, `render`;
checkpoints: `load_model`, `save_safetensors`, `convert`. No ComfyUI import anywhere in this package.
"""
from .model.checkpoint import convert, load_model, save_safetensors
from .model.config import ModelConfig
from .errors import CheckpointError, InputError, ToonTalkerError
from .model.toontalker import DOMAINS, ToonTalker
from .stages import (MODES, EncodedMotion, EncodedSource, decode, encode_driving, encode_motion, encode_source,
                     project_to_canonical, render, to_model_range, to_unit_range, transfer)

__all__ = [
    "CheckpointError", "DOMAINS", "EncodedMotion", "EncodedSource", "InputError", "MODES", "ModelConfig",
    "ToonTalker", "ToonTalkerError", "convert", "decode", "encode_driving", "encode_motion", "encode_source",
    "load_model", "project_to_canonical", "render", "save_safetensors", "to_model_range", "to_unit_range",
    "transfer",
]
