"""Decode to Domain, Warp Render, and the all-in-one ToonTalker Reenact."""
from __future__ import annotations

import torch

from ..toontalker_core import runtime as R
from ..toontalker_core import stages as S
from ..toontalker_core.errors import InputError
from ..toontalker_core import validate as V
from ..toontalker_core.domain_check import route_warnings
from ..toontalker_core.face import HOLD_SECONDS, check_hold
from ..toontalker_core.media import fit_longest, resize_frames
from ..toontalker_core.memory import frame_bytes, full_res_batch
from ..toontalker_core.multiface import paste_faces, plan_faces
from ..toontalker_core.pipeline import reference_code
from ..toontalker_core.runtime import encode_reference, encode_source, reenact_batch
from ..toontalker_core.video_source import reenact_source_chunk, source_faces, tracked_codes
from .comfy import offload_device
from .feedback import Feedback
from .memory import ImageBatch, prepare, run_chunks, tensor_bytes, tracking
from .motion import DRIVING_DOMAIN, MODEL_TIP, SOURCE_DOMAIN, _batch
from .faces import FACE_INPUTS, TRACK_HOLD_INPUT, locate_node_faces, locate_video_faces, report_tracking
from .payloads import (CANONICAL, CATEGORY, LATENT, MODEL, SOURCE, LatentPayload,
                       image_to_model, images_from_comfy, model_uid, require_same_model, sources_on, to_device)

# All-in-one routes: label -> (source domain, driving domain)
ROUTES = {
    "real video -> real portrait": ("real", "real"),
    "real video -> cartoon portrait (r2c)": ("cartoon", "real"),
    "cartoon video -> real portrait (c2r)": ("real", "cartoon"),
    "cartoon video -> cartoon portrait": ("cartoon", "cartoon"),
}
BATCH_TIP = "Frames processed at once; lower it if memory runs short."
CROP_CHOICES = ("auto", "none")
DECODE_BATCH = 64  # frames per Decode to Domain chunk: the backward transformer is light
MAX_OUTPUT_SIZE = 8192


def route_label(source_domain: str, driving_domain: str) -> str:
    return next(label for label, pair in ROUTES.items() if pair == (source_domain, driving_domain))


DEFAULT_ROUTE = route_label(SOURCE_DOMAIN, DRIVING_DOMAIN)  # r2c: see SOURCE_DOMAIN


def _check_pairing(source: S.EncodedSource, n: int) -> None:
    if source.batch not in (1, n):
        raise InputError(f"{source.batch} source images cannot pair with {n} driving frames: use one source "
                         "image, or exactly one per driving frame")


def _output_hw(source, model_size: int, output_size) -> tuple[int, int]:
    """Warp Render's frame size: the encoded image's (the model's when the payload does not know it), or its
    aspect with the longer side `output_size`."""
    output_size = V.number(output_size, "output_size", 0, MAX_OUTPUT_SIZE, whole=True)
    hw = source.image_size or (model_size, model_size)
    return tuple(hw) if output_size == 0 else fit_longest(hw, output_size)


class DecodeToDomain:
    DESCRIPTION = ("Backward transformer: maps the edited canonical codes back to the source's domain as the "
                   "style latents that drive the renderer. Runs in chunks with progress; can be interrupted.")
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
        n = canonical.codes.shape[0]
        _check_pairing(source.encoded, n)
        batch = prepare(model, DECODE_BATCH, frame_bytes(model, "decode"), tensor_bytes(source.encoded))
        src, home = sources_on(source.encoded, model.device), offload_device(model)

        def decode_chunk(sl):
            return R.decode(model, src(sl), canonical.codes[sl].to(model.device, model.dtype)).to(home)

        with torch.inference_mode():
            latents = torch.cat([part for _, part in run_chunks(n, batch, decode_chunk, phase="decoding")])
        return (LatentPayload(model_uid(model), source.encoded.domain, latents),)


class WarpRender:
    DESCRIPTION = ("Renders each frame: a StyleGAN2-style synthesis that warps the source's features with "
                   "predicted flows and masks. Runs in chunks with progress; can be interrupted.")
    CATEGORY = CATEGORY
    FUNCTION = "render"
    RETURN_TYPES = ("IMAGE",)
    RETURN_NAMES = ("images",)
    OUTPUT_TOOLTIPS = ("Reenacted frames, by default at the size of the image Encode Source encoded (see "
                       "output_size).",)

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "model": (MODEL, {"tooltip": MODEL_TIP}),
            "source": (SOURCE, {"tooltip": "From Encode Source (the features that get warped)."}),
            "latents": (LATENT, {"tooltip": "From Decode to Domain."}),
            "batch_size": ("INT", {"default": 8, "min": 1, "max": 256, "tooltip": BATCH_TIP}),
        }, "optional": {
            "output_size": ("INT", {"default": 0, "min": 0, "max": MAX_OUTPUT_SIZE,
                                    "tooltip": "Longer side of the frames in pixels, the source image's aspect "
                                               "kept. 0: the size of the image Encode Source encoded, so the 64 px "
                                               "demo model does not hand back 64 px frames. The model renders at "
                                               "its resolution; frames are resized with antialiased bicubic."}),
        }}

    def render(self, model, source, latents, batch_size, output_size=0):
        require_same_model(model, source=source, latents=latents)
        n = latents.latents.shape[0]
        _check_pairing(source.encoded, n)
        hw = _output_hw(source, model.cfg.size, output_size)
        batch_size = prepare(model, batch_size, frame_bytes(model, "render", hw[0] * hw[1]),
                             tensor_bytes(source.encoded))
        if hw != (model.cfg.size,) * 2:  # full-size frames: chunks also sized from the frame size
            batch_size = min(batch_size, full_res_batch(hw[0] * hw[1]))
        src, out = sources_on(source.encoded, model.device), ImageBatch(n)

        def render_chunk(sl):
            return resize_frames(R.render(model, src(sl), latents.latents[sl].to(model.device)), hw)

        with torch.inference_mode():
            for sl, images in run_chunks(n, batch_size, render_chunk, phase="rendering"):
                out.put(sl, images)
        return (out.result(),)


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
            "route": (list(ROUTES), {"default": DEFAULT_ROUTE,
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
            # several faces (crop auto, a source image or video); new inputs last: saved workflows keep their order
            **FACE_INPUTS,
            **TRACK_HOLD_INPUT,
        }}

    def reenact(self, model, source_image, driving_frames, route, strength, mode, reference_frame, batch_size,
                crop="auto", faces="largest", driving_face="largest", face_domains="", track_hold=HOLD_SECONDS):
        if route not in ROUTES:
            raise InputError(f"unknown route '{route}': use one of {', '.join(ROUTES)}")
        check_hold(track_hold, "track_hold")
        source_domain, driving_domain = ROUTES[route]
        model.check_route(source_domain, driving_domain)
        S.check_strength(strength)
        n = _batch(driving_frames, "driving_frames")
        _batch(source_image, "source_image")
        feedback = Feedback(n)
        feedback.phase("loading model")  # at once: the first update must not wait for the first chunk
        # face_domains names each face's domain: the whole picture's look (a real face and a cartoon) says nothing
        per_face = crop == "auto" and bool(str(face_domains).strip())
        for warning in route_warnings(None if per_face else images_from_comfy(source_image, "source_image"),
                                      images_from_comfy(driving_frames, "driving_frames"), source_domain,
                                      driving_domain, lambda s, d: f"set route to '{route_label(s, d)}'"):
            feedback.warn(warning)
        if crop == "auto" and source_image.shape[0] > 1:  # a video source: see video_source.py
            return (_reenact_video_source(model, source_image, driving_frames, source_domain, driving_domain,
                                          strength, mode, S.check_reference(reference_frame, n), batch_size,
                                          feedback, faces, driving_face, face_domains, track_hold),)
        if _batch(source_image, "source_image") not in (1, n):
            raise InputError(f"'source_image' has {source_image.shape[0]} images for {n} driving frames: use "
                             "one source image, or exactly one per driving frame")
        ref = S.check_reference(reference_frame, n)
        if crop not in CROP_CHOICES:
            raise InputError(f"unknown crop '{crop}': use one of {', '.join(CROP_CHOICES)}")
        if crop == "auto":
            return (self._reenact_full_frames(model, source_image, driving_frames, source_domain, driving_domain,
                                              strength, mode, ref, batch_size, feedback, faces, driving_face,
                                              face_domains, track_hold),)
        batch_size = prepare(model, batch_size, frame_bytes(model, "reenact") + frame_bytes(model, "source"))
        out = ImageBatch(n)
        feedback.phase("encoding source")
        with torch.inference_mode():
            # with the fp16 guard: a source whose fp16 encoding overflows is encoded (and rendered) in fp32
            source = encode_source(model, image_to_model(source_image, model, "source_image"), source_domain)
            reference = encode_reference(model, image_to_model(driving_frames[ref:ref + 1], model, "driving_frames"),
                                         driving_domain)

            def reenact_chunk(sl):
                frames = image_to_model(driving_frames[sl], model, "driving_frames")
                return reenact_batch(model, source.for_frames(sl), frames, driving_domain, strength, mode,
                                     reference.canon_T1)

            for sl, images in run_chunks(n, batch_size, reenact_chunk, feedback, "rendering"):
                out.put(sl, images)
        return (out.result(),)

    @staticmethod
    def _reenact_full_frames(model, source_image, driving_frames, source_domain, driving_domain, strength, mode,
                             ref, batch_size, feedback, faces="largest", driving_face="largest", face_domains="",
                             track_hold=HOLD_SECONDS):
        frames = images_from_comfy(driving_frames, "driving_frames")
        n = frames.shape[0]
        full_res = source_image.shape[1] * source_image.shape[2] + frames.shape[-2] * frames.shape[-1]
        dev = model.device
        source = to_device(images_from_comfy(source_image, "source_image"), dev)
        reference = to_device(frames[ref], dev)
        feedback.phase("detecting faces")
        # every chosen source face and the driving face(s) that drive them (one for all, or paired)
        boxes, domains, croppers = locate_node_faces(model, source, reference, ref, source_domain, driving_domain,
                                                     faces, driving_face, face_domains, track_hold)
        feedback.phase("encoding source")
        per_frame = len(boxes) * (frame_bytes(model, "reenact", full_res) + frame_bytes(model, "source"))
        # full-size frames dominate: chunks sized from the frame size, whatever batch_size asks
        batch_size = min(full_res_batch(full_res), prepare(model, batch_size, per_frame))
        face_plan = plan_faces(model, source, boxes, domains, croppers, reference, driving_domain)

        def reenact_chunk(sl):  # the pipeline's steps, one chunk at a time: crop, reenact, paste back
            crops = face_plan.crop(model, to_device(frames[sl], dev))
            rendered = face_plan.render(model, crops, driving_domain, strength, mode)
            return torch.cat(list(paste_faces(face_plan.plans, rendered, per_chunk=len(crops))))

        out = ImageBatch(n)
        for sl, images in run_chunks(n, batch_size, tracking(face_plan.croppers, reenact_chunk), feedback,
                                     "rendering"):
            out.put(sl, images)
        report_tracking(face_plan.croppers)
        return out.result()


def _reenact_video_source(model, source_image, driving_frames, source_domain, driving_domain, strength, mode, ref,
                          batch_size, feedback, faces="largest", driving_face="largest", face_domains="",
                          track_hold=HOLD_SECONDS):
    """crop auto with several source frames: the source is a video (its length; the driving motion loops), each
    chosen face tracked through it."""
    n = source_image.shape[0]
    full_res = source_image.shape[1] * source_image.shape[2] + driving_frames.shape[1] * driving_frames.shape[2]
    dev = model.device
    source = images_from_comfy(source_image, "source_image")
    frames = images_from_comfy(driving_frames, "driving_frames")
    reference = to_device(frames[ref], dev)
    feedback.phase("detecting faces")
    croppers, domains, drivers = locate_video_faces(model, to_device(source[0], dev), reference, ref, source_domain,
                                                    driving_domain, faces, driving_face, face_domains, track_hold)
    per_frame = len(croppers) * (frame_bytes(model, "reenact", full_res) + frame_bytes(model, "source"))
    batch_size = min(full_res_batch(full_res), prepare(model, batch_size, per_frame))
    refs = [reference_code(model, d, reference, driving_domain) for d in drivers]
    # the output has the source's length: driving frames past it would be encoded for nothing (the tracker's
    # smoothing is causal, so the frames kept are unchanged)
    m = min(n, frames.shape[0])
    codes = torch.cat([c for _, c in run_chunks(m, batch_size, tracking(
        drivers, lambda sl: tracked_codes(model, to_device(frames[sl], dev), drivers, driving_domain)), feedback,
        "encoding driving frames")])
    tracked = source_faces(croppers, domains, codes, refs)
    out = ImageBatch(n)
    for sl, images in run_chunks(n, batch_size, tracking(croppers, lambda sl: reenact_source_chunk(
            model, to_device(source[sl], dev), sl.start, tracked, strength, mode)), feedback, "rendering"):
        out.put(sl, images)
    report_tracking(drivers + croppers)
    return out.result()
