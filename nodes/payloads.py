"""What travels between ToonTalker nodes (custom socket types), and IMAGE <-> model conversions.

Payloads keep their tensors on the model's offload device (`comfy.offload_device`: the CPU under ComfyUI's
default memory management), so a cached payload never pins VRAM; nodes move what a chunk needs to the model's
device at use. `IMAGE` outputs go to ComfyUI's intermediate device one chunk at a time. Each payload records
which loaded model made it, so that mixing two models is a clear error, not garbage.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass

import torch

from ..toontalker_core.errors import InputError
from ..toontalker_core.media import resize_to
from ..toontalker_core.model.toontalker import ToonTalker
from ..toontalker_core.model.cache import derived
from ..toontalker_core.stages import EncodedMotion, EncodedSource

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
    return derived(model, "uid", lambda: uuid.uuid4().hex)


@dataclass
class SourcePayload:
    model_uid: str
    encoded: EncodedSource
    image_size: tuple[int, int] | None = None  # (height, width) of the image Encode Source was given


@dataclass
class MotionPayload:
    model_uid: str
    encoded: EncodedMotion
    fps: float | None = None  # its frame rate where known (keyframes, a loaded file, a video's fps wired in)


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


def sources_on(encoded: EncodedSource, device: torch.device):
    """frames -> the source(s) paired with those frames, on `device`: a single source moves once, a batch of
    sources (one per frame) chunk by chunk."""
    if encoded.batch == 1:
        moved = encoded.to(device)
        return lambda frames: moved
    return lambda frames: encoded.for_frames(frames).to(device)


def require_same_model(model: ToonTalker, **payloads) -> None:
    uid = model_uid(model)
    for name, payload in payloads.items():
        if payload.model_uid != uid:
            raise InputError(f"'{name}' was made with a different ToonTalker model than the one connected: "
                             "connect the same ToonTalker Load Checkpoint node to every ToonTalker node")


def images_from_comfy(image: torch.Tensor, name: str) -> torch.Tensor:
    """ComfyUI IMAGE [B,H,W,C] in 0..1 -> a [B,3,H,W] RGB view (gray expanded, alpha dropped), no copy:
    convert chunks of it with `to_device`."""
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
    return image.permute(0, 3, 1, 2)


def to_device(images: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A chunk of an `images_from_comfy` view -> float32 [n,3,H,W] in 0..1 on `device` (copies the chunk only)."""
    return images.to(device=device, dtype=torch.float32).clamp(0, 1)


def image_to_model(image: torch.Tensor, model: ToonTalker, name: str) -> torch.Tensor:
    """A chunk of a ComfyUI IMAGE -> [B,3,S,S] in 0..1 at the model size on its device (the whole image
    resized)."""
    return resize_to(to_device(images_from_comfy(image, name), model.device), model.cfg.size)
