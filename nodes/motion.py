"""Encode Source, Encode Driving Motion, Canonical Motion Transfer."""
from __future__ import annotations

import torch

from ..toontalker_core import runtime as R
from ..toontalker_core import stages as S
from ..toontalker_core import validate as V
from ..toontalker_core.domain_check import domain_warning
from ..toontalker_core.errors import InputError
from ..toontalker_core.model.toontalker import DOMAINS
from .comfy import offload_device
from .feedback import Feedback
from ..toontalker_core.memory import frame_bytes
from .memory import prepare, run_chunks
from .payloads import (CANONICAL, CATEGORY, IMAGE_TIP, MODEL, MOTION, SOURCE, CanonicalPayload, MotionPayload,
                       SourcePayload, image_to_model, images_from_comfy, model_uid)

MODEL_TIP = "A model from ToonTalker Load Checkpoint."
# Defaults that agree with what a hand-built graph starts with: ComfyUI's Load Image lists a cartoon first (its
# own example.png, then the pack's source_cartoon.png) and Load Video the pack's real driving.mp4.
SOURCE_DOMAIN, DRIVING_DOMAIN = "cartoon", "real"


class EncodeSource:
    DESCRIPTION = ("Encodes the portrait to animate, once: its appearance maps, the features the renderer "
                   "warps, and its canonical motion codes. Downstream nodes reuse this from ComfyUI's cache.")
    CATEGORY = CATEGORY
    FUNCTION = "encode"
    RETURN_TYPES = (SOURCE,)
    RETURN_NAMES = ("source",)
    OUTPUT_TOOLTIPS = ("The encoded source (kept with the model's weights: on the CPU while it is offloaded).",)

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "model": (MODEL, {"tooltip": MODEL_TIP}),
            "image": ("IMAGE", {"tooltip": "The portrait. A batch is several sources, one per driving frame."
                                           " " + IMAGE_TIP}),
            "domain": (list(DOMAINS), {"default": SOURCE_DOMAIN,
                                       "tooltip": "real: a photo of a person; cartoon: a drawn/animated face "
                                                  "(needs a cross-domain checkpoint)."}),
        }}

    def encode(self, model, image, domain):
        model.require_domain(domain, "source")
        n = images_from_comfy(image, "image").shape[0]
        feedback = Feedback(n)
        feedback.phase("encoding source")
        feedback.warn(check_domain(image, domain, "source"))
        prepare(model, n, frame_bytes(model, "source"))
        with torch.inference_mode():
            # resized a few at a time: a batch of full-size sources is never copied whole
            small = torch.cat([image_to_model(image[i:i + 8], model, "image") for i in range(0, n, 8)])
            encoded = R.encode_source(model, small, domain).to(offload_device(model))
        return (SourcePayload(model_uid(model), encoded, (image.shape[1], image.shape[2])),)


class EncodeDrivingMotion:
    DESCRIPTION = ("Encodes each driving frame (a video's frames) into the canonical motion space, in chunks "
                   "of batch_size with progress. Changing strength or mode downstream does not re-run this.")
    CATEGORY = CATEGORY
    FUNCTION = "encode"
    RETURN_TYPES = (MOTION,)
    RETURN_NAMES = ("motion",)
    OUTPUT_TOOLTIPS = ("Canonical driving codes, one per frame.",)

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "model": (MODEL, {"tooltip": MODEL_TIP}),
            "frames": ("IMAGE", {"tooltip": "Driving frames, e.g. from Load Video -> Get Video Components. "
                                            + IMAGE_TIP}),
            "domain": (list(DOMAINS), {"default": DRIVING_DOMAIN,
                                       "tooltip": "Domain of the driving video: real person or cartoon."}),
            "batch_size": ("INT", {"default": 16, "min": 1, "max": 256,
                                   "tooltip": "Frames encoded at once; lower it if memory runs short."}),
        }, "optional": {
            "fps": ("FLOAT", {"forceInput": True,
                              "tooltip": "Optional: the video's frame rate (Get Video Components' fps); the "
                                         "motion keeps it, so Save Motion stores it."}),
        }}

    def encode(self, model, frames, domain, batch_size, fps=None):
        model.require_domain(domain, "driving")
        n = _batch(frames, "frames")
        feedback = Feedback(n)
        feedback.phase("loading model")
        feedback.warn(check_domain(frames, domain, "driving video"))
        batch_size = prepare(model, batch_size, frame_bytes(model, "encode"))
        home = offload_device(model)

        def encode_chunk(sl):
            return R.encode_reference(model, image_to_model(frames[sl], model, "frames"), domain).to(home)

        with torch.inference_mode():
            encoded = S.EncodedMotion.cat([part for _, part in run_chunks(n, batch_size, encode_chunk, feedback,
                                                                            "encoding driving frames")])
        # Shown by the web extension as a plot on this node (relative to frame 0 until a transfer runs).
        ui = {"toontalker_motion": [{"magnitude": S.motion_magnitude(encoded.canon_T1, 0), "reference": 0}]}
        fps = None if fps is None else V.fps(fps)
        return {"ui": ui, "result": (MotionPayload(model_uid(model), encoded, fps),)}


class CanonicalMotionTransfer:
    DESCRIPTION = ("Transfers the driving motion onto the source by latent addition in the canonical space: "
                   "z = T0(s) + T1(s) + strength * (T1(d) - T1(reference)) in relative mode, or "
                   "(T1(d) - T1(s)) in absolute mode. Cheap: tweak strength/mode freely.")
    CATEGORY = CATEGORY
    FUNCTION = "transfer"
    RETURN_TYPES = (CANONICAL,)
    RETURN_NAMES = ("canonical",)
    OUTPUT_TOOLTIPS = ("Edited canonical codes, one per driving frame.",)

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "source": (SOURCE, {"tooltip": "From Encode Source."}),
            "motion": (MOTION, {"tooltip": "From Encode Driving Motion."}),
            "strength": ("FLOAT", {"default": 1.0, "min": -1.0, "max": 3.0, "step": 0.05,
                                   "tooltip": "Motion strength: 0 keeps the source pose, 1 follows the driving "
                                              "video, above 1 exaggerates."}),
            "mode": (list(S.MODES), {"default": "relative",
                                     "tooltip": "relative: motion relative to the reference frame (the source "
                                                "keeps its own pose there); absolute: the driving pose itself."}),
            "reference_frame": ("INT", {"default": 0, "min": 0, "max": 100000,
                                        "tooltip": "Driving frame taken as neutral in relative mode."}),
        }}

    def transfer(self, source, motion, strength, mode, reference_frame):
        if source.model_uid != motion.model_uid:
            raise InputError("'source' and 'motion' were encoded with different ToonTalker models: connect the "
                             "same ToonTalker Load Checkpoint node to both encoders")
        enc = motion.encoded
        # absolute mode does not use the reference: an out-of-range value only moves the plot's marker to 0
        idx = S.check_reference(reference_frame, len(enc)) if mode == "relative" else \
            (reference_frame if reference_frame < len(enc) else 0)
        ref = enc.canon_T1[idx:idx + 1] if mode == "relative" else None
        with torch.inference_mode():
            z = S.transfer(source.encoded, enc.canon_T1, strength, mode, ref)
        # The web extension redraws the upstream Encode Driving Motion plot with this reference marked.
        ui = {"toontalker_motion": [{"magnitude": S.motion_magnitude(enc.canon_T1, idx), "reference": idx}]}
        return {"ui": ui, "result": (CanonicalPayload(source.model_uid, source.encoded.domain, z),)}


def check_domain(image, domain: str, role: str) -> str | None:
    """The domain check's warning for an IMAGE input encoded as `domain` (None when it looks right or unsure)."""
    return domain_warning(images_from_comfy(image, role), domain, role, lambda seen: f"set domain to {seen}")


def _batch(images, name: str) -> int:
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[0] == 0:
        raise InputError(f"'{name}' is empty or not an IMAGE batch: connect a video's frames or images")
    return images.shape[0]
