"""What travels between ToonTalker nodes (custom socket types), and IMAGE <-> model conversions.

Payloads keep their tensors on the model's device; only `IMAGE` outputs go to ComfyUI's intermediate device.
Each payload records which loaded model made it, so that mixing two models is a clear error, not garbage.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Iterator

import torch

from ..toontalker_core.errors import InputError
from ..toontalker_core.media import resize_to
from ..toontalker_core.model import ToonTalker
from ..toontalker_core.stages import EncodedMotion, EncodedSource
from .comfy import ProgressBar, check_interrupt

MODEL = "TOONTALKER_MODEL"
SOURCE = "TOONTALKER_SOURCE"
MOTION = "TOONTALKER_MOTION"
CANONICAL = "TOONTALKER_CANONICAL"
LATENT = "TOONTALKER_LATENT"
CROP = "TOONTALKER_CROP"
# The example workflow that shows the recovery from "no face found" (named in that error).
NO_FACE_TEMPLATE = "f_no_face_found_draw_the_box_by_hand"
CATEGORY = "ToonTalker"
IMAGE_TIP = "Any size: the whole image is resized to the model's resolution."


def model_uid(model: ToonTalker) -> str:
    uid = getattr(model, "_toontalker_uid", None)
    if uid is None:
        uid = uuid.uuid4().hex
        model._toontalker_uid = uid
    return uid


@dataclass
class SourcePayload:
    model_uid: str
    encoded: EncodedSource


@dataclass
class MotionPayload:
    model_uid: str
    encoded: EncodedMotion


@dataclass
class CanonicalPayload:
    model_uid: str
    source_domain: str
    codes: torch.Tensor  # [N, M, D]


@dataclass
class LatentPayload:
    model_uid: str
    source_domain: str
    latents: torch.Tensor  # [N, n_latent, D]


def require_same_model(model: ToonTalker, **payloads) -> None:
    uid = model_uid(model)
    for name, payload in payloads.items():
        if payload.model_uid != uid:
            raise InputError(f"'{name}' was made with a different ToonTalker model than the one connected: "
                             "connect the same Load ToonTalker Checkpoint node to every ToonTalker node")


def images_from_comfy(image: torch.Tensor, name: str) -> torch.Tensor:
    """ComfyUI IMAGE [B,H,W,C] in 0..1 -> [B,3,H,W] float RGB (gray expanded, alpha dropped)."""
    if not isinstance(image, torch.Tensor) or image.ndim != 4:
        raise InputError(f"'{name}' must be an IMAGE batch [B,H,W,C]; got "
                         f"{tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__}")
    if image.shape[0] == 0:
        raise InputError(f"'{name}' is an empty image batch: connect at least one image or video frame")
    c = image.shape[-1]
    if c == 1:
        image = image.expand(-1, -1, -1, 3)
    elif c == 4:
        image = image[..., :3]  # alpha is not part of the face model's input
    elif c != 3:
        raise InputError(f"'{name}' has {c} channels; ToonTalker needs RGB images")
    return image.permute(0, 3, 1, 2).float().clamp(0, 1)


def image_to_model(image: torch.Tensor, model: ToonTalker, name: str) -> torch.Tensor:
    """ComfyUI IMAGE -> [B,3,S,S] in 0..1 at the model size (the whole image resized)."""
    return resize_to(images_from_comfy(image, name), model.cfg.size)


def model_to_image(images01: torch.Tensor) -> torch.Tensor:
    """[N,3,H,W] in 0..1 -> IMAGE [N,H,W,3] float32 on ComfyUI's intermediate device."""
    from .comfy import intermediate_device

    return images01.permute(0, 2, 3, 1).float().contiguous().to(intermediate_device())


def chunks(total: int, batch_size: int) -> Iterator[slice]:
    """Slices of `batch_size`, with a ComfyUI progress bar and the interrupt checked before each chunk."""
    if batch_size < 1:
        raise InputError(f"batch_size must be >= 1, got {batch_size}")
    bar = ProgressBar(total)
    for start in range(0, total, batch_size):
        check_interrupt()
        stop = min(total, start + batch_size)
        yield slice(start, stop)
        bar.update(stop - start)
