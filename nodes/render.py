"""Decode to Domain, Warp Render, and the all-in-one ToonTalker Reenact."""
from __future__ import annotations

import torch

from ..toontalker_core import stages as S
from ..toontalker_core.errors import InputError
from ..toontalker_core.face import FaceCropper, locate_face
from ..toontalker_core.pipeline import reenact_full_frames
from ..toontalker_core.runtime import reenact_batch
from .motion import MODEL_TIP, _batch
from .payloads import (CANONICAL, CATEGORY, IMAGE_TIP, LATENT, MODEL, SOURCE, LatentPayload, chunks,
                       image_to_model, images_from_comfy, model_to_image, model_uid, require_same_model)

# All-in-one routes: label -> (source domain, driving domain)
ROUTES = {
    "real video -> real portrait": ("real", "real"),
    "real video -> cartoon portrait (r2c)": ("cartoon", "real"),
    "cartoon video -> real portrait (c2r)": ("real", "cartoon"),
    "cartoon video -> cartoon portrait": ("cartoon", "cartoon"),
}
BATCH_TIP = "Frames processed at once; lower it if memory runs short."
CROP_CHOICES = ("auto", "none")


def _check_pairing(source: S.EncodedSource, n: int) -> None:
    if source.batch not in (1, n):
        raise InputError(f"{source.batch} source images cannot pair with {n} driving frames: use one source "
                         "image, or exactly one per driving frame")


class DecodeToDomain:
    DESCRIPTION = ("Backward transformer: maps the edited canonical codes back to the source's domain as the "
                   "style latents that drive the renderer.")
    CATEGORY = CATEGORY
    FUNCTION = "decode"
    RETURN_TYPES = (LATENT,)
    RETURN_NAMES = ("latents",)
    OUTPUT_TOOLTIPS = ("Style latents in the source's domain, one set per frame.",)

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "model": (MODEL, {"tooltip": MODEL_TIP}),
            "source": (SOURCE, {"tooltip": "From Encode Source (its appearance maps steer the decoding)."}),
            "canonical": (CANONICAL, {"tooltip": "From Canonical Motion Transfer."}),
        }}

    def decode(self, model, source, canonical):
        require_same_model(model, source=source, canonical=canonical)
        _check_pairing(source.encoded, canonical.codes.shape[0])
        with torch.inference_mode():
            latents = S.decode(model, source.encoded, canonical.codes)
        return (LatentPayload(model_uid(model), source.encoded.domain, latents),)


class WarpRender:
    DESCRIPTION = ("Renders each frame: a StyleGAN2-style synthesis that warps the source's features with "
                   "predicted flows and masks. Runs in chunks with progress; can be interrupted.")
    CATEGORY = CATEGORY
    FUNCTION = "render"
    RETURN_TYPES = ("IMAGE",)
    RETURN_NAMES = ("images",)
    OUTPUT_TOOLTIPS = ("Reenacted frames at the model's resolution.",)

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "model": (MODEL, {"tooltip": MODEL_TIP}),
            "source": (SOURCE, {"tooltip": "From Encode Source (the features that get warped)."}),
            "latents": (LATENT, {"tooltip": "From Decode to Domain."}),
            "batch_size": ("INT", {"default": 8, "min": 1, "max": 256, "tooltip": BATCH_TIP}),
        }}

    def render(self, model, source, latents, batch_size):
        require_same_model(model, source=source, latents=latents)
        n = latents.latents.shape[0]
        _check_pairing(source.encoded, n)
        out = []
        with torch.inference_mode():
            for sl in chunks(n, batch_size):
                images = S.render(model, source.encoded.for_frames(sl), latents.latents[sl])
                out.append(model_to_image(S.to_unit_range(images)))
        return (torch.cat(out),)


class ToonTalkerReenact:
    DESCRIPTION = ("All in one: animates the source portrait with the driving frames (encode, transfer, "
                   "decode, render). Use the separate nodes to cache the encoders while tuning strength/mode.")
    CATEGORY = CATEGORY
    FUNCTION = "reenact"
    RETURN_TYPES = ("IMAGE",)
    RETURN_NAMES = ("images",)
    OUTPUT_TOOLTIPS = ("Reenacted frames, one per driving frame: at the source image's resolution with crop "
                       "auto, at the model's resolution with crop none.",)

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "model": (MODEL, {"tooltip": MODEL_TIP}),
            "source_image": ("IMAGE", {"tooltip": "The portrait to animate, any size (crop none: one per driving "
                                                  "frame also works; crop auto: several frames are a video source, "
                                                  "tracked, with the output at its length and the driving motion "
                                                  "looped)."}),
            "driving_frames": ("IMAGE", {"tooltip": "The driving video's frames, any size."}),
            "route": (list(ROUTES), {"default": next(iter(ROUTES)),
                                     "tooltip": "Which domain drives which; cartoon routes need a cross-domain "
                                                "checkpoint."}),
            "strength": ("FLOAT", {"default": 1.0, "min": -1.0, "max": 3.0, "step": 0.05,
                                   "tooltip": "0 keeps the source pose, 1 follows the video, >1 exaggerates."}),
            "mode": (list(S.MODES), {"default": "relative",
                                     "tooltip": "relative to the reference frame, or the absolute driving pose."}),
            "reference_frame": ("INT", {"default": 0, "min": 0, "max": 100000,
                                        "tooltip": "Driving frame taken as neutral in relative mode."}),
            "batch_size": ("INT", {"default": 8, "min": 1, "max": 256, "tooltip": BATCH_TIP}),
        }, "optional": {
            "crop": (list(CROP_CHOICES), {"default": "auto",
                                          "tooltip": "auto: find the faces, reenact the face crops and paste them "
                                                     "back into the source at its resolution; none: resize the "
                                                     "whole images to the model size."}),
        }}

    def reenact(self, model, source_image, driving_frames, route, strength, mode, reference_frame, batch_size,
                crop="auto"):
        if route not in ROUTES:
            raise InputError(f"unknown route '{route}': use one of {', '.join(ROUTES)}")
        source_domain, driving_domain = ROUTES[route]
        model.check_route(source_domain, driving_domain)
        S.check_strength(strength)
        n = _batch(driving_frames, "driving_frames")
        if crop == "auto" and _batch(source_image, "source_image") > 1:  # a video source: see video_source.py
            return (_reenact_video_source(model, source_image, driving_frames, source_domain, driving_domain,
                                          strength, mode, S.check_reference(reference_frame, n), batch_size),)
        if _batch(source_image, "source_image") not in (1, n):
            raise InputError(f"'source_image' has {source_image.shape[0]} images for {n} driving frames: use "
                             "one source image, or exactly one per driving frame")
        ref = S.check_reference(reference_frame, n)
        if crop not in CROP_CHOICES:
            raise InputError(f"unknown crop '{crop}': use one of {', '.join(CROP_CHOICES)}")
        if crop == "auto":
            return (self._reenact_full_frames(model, source_image, driving_frames, source_domain, driving_domain,
                                              strength, mode, ref, batch_size),)
        out = []
        with torch.inference_mode():
            source = S.encode_source(model, S.to_model_range(image_to_model(source_image, model, "source_image"),
                                                             model), source_domain)
            reference = S.encode_driving(model, S.to_model_range(
                image_to_model(driving_frames[ref:ref + 1], model, "driving_frames"), model), driving_domain)
            for sl in chunks(n, batch_size):
                frames = image_to_model(driving_frames[sl], model, "driving_frames")
                out.append(model_to_image(reenact_batch(model, source.for_frames(sl), frames, driving_domain,
                                                        strength, mode, reference.canon_T1)))
        return (torch.cat(out),)

    @staticmethod
    def _reenact_full_frames(model, source_image, driving_frames, source_domain, driving_domain, strength, mode,
                             ref, batch_size):
        if source_image.shape[0] != 1:
            raise InputError("crop 'auto' animates one source image: connect a single image, or use Face Crop "
                             "with the staged nodes for several sources")
        source = images_from_comfy(source_image, "source_image")
        frames = images_from_comfy(driving_frames, "driving_frames")
        box, _ = locate_face(source[0], what="'source_image'",
                             hint="use Face Crop with box_mode manual and the staged nodes")
        cropper = FaceCropper(model.cfg.size, "tracked")
        cropper.start(frames[ref], what=f"driving frame {ref}",
                      hint="pick another reference_frame, or use Face Crop with a manual box")
        driving = (frames[sl] for sl in chunks(frames.shape[0], batch_size))  # lazy: progress per chunk
        results = reenact_full_frames(model, source, box, cropper, frames[ref], driving,
                                      source_domain, driving_domain, strength, mode)
        return torch.cat([model_to_image(r) for r in results])


def _reenact_video_source(model, source_image, driving_frames, source_domain, driving_domain, strength, mode, ref,
                          batch_size):
    """crop auto with several source frames: the source is a video (its length; the driving motion loops)."""
    from ..toontalker_core.video_source import encode_tracked_driving, reenact_video_source

    source = images_from_comfy(source_image, "source_image")
    frames = images_from_comfy(driving_frames, "driving_frames")
    driving = FaceCropper(model.cfg.size, "tracked")
    driving.start(frames[ref], what=f"driving frame {ref}", hint="pick another reference_frame")
    codes, ref_T1 = encode_tracked_driving(model, (frames[sl] for sl in chunks(len(frames), batch_size)), driving,
                                           frames[ref], driving_domain)
    cropper = FaceCropper(model.cfg.size, "tracked")
    cropper.start(source[0], what="the first source frame", hint="use Face Crop and the staged nodes")
    results = reenact_video_source(model, (source[sl] for sl in chunks(len(source), batch_size)), cropper, codes,
                                   source_domain, strength, mode, ref_T1)
    return torch.cat([model_to_image(r) for r in results])

