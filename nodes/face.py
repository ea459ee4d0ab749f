"""Face Crop and Paste Back: full-resolution images in, model-sized face crops out, and back again.

Both stream: chunks sized from the frame size go to ComfyUI's device, and the results (crops, mask, pasted
frames) come back to its intermediate device chunk by chunk.
"""
from __future__ import annotations

import logging

import torch

from ..toontalker_core import stages as S
from ..toontalker_core.errors import InputError
from ..toontalker_core.face import (CROP_MODES, DEFAULT_OFFSET, DEFAULT_SCALE, HOLD_SECONDS, CropTransform,
                                    FaceCropper, check_hold, parse_one_face, paste_back, paste_mask)
from ..toontalker_core.media.common import DEFAULT_FPS
from .comfy import intermediate_device, reserve_memory, save_preview, work_device
from ..toontalker_core.memory import FULL_RES_BYTES_PER_PIXEL, full_res_batch
from .faces import TRACK_HOLD_INPUT
from .memory import ImageBatch, run_chunks, tracking
from .payloads import CATEGORY, CROP, MODEL, NO_FACE_TEMPLATE, images_from_comfy, to_device

BOX_MODES = ("auto", "manual")
FEATHER_TIP = "Soft edge of the pasted face, as a fraction of the crop side (0 = hard edge)."
MASK_FEATHER = 0.1
# several faces with the staged nodes: one chain per face, each Paste Back pasting into the previous one's images
SEVERAL_FACES = ("Face Crop crops one face; for several, give each face its own Face Crop (face 0, 1, ...) and "
                 "chain, and connect each Paste Back's images to the next Paste Back's original")


class FaceCrop:
    DESCRIPTION = ("Finds the face (real or cartoon) in each image or video frame and crops it the way the model "
                   "was trained (face centred, shoulders cut), smoothing the box over time. Keeps the crop "
                   "transforms for Paste Back. Set box_mode to manual (or drag the box on the node) for faces "
                   "the detector misses.")
    CATEGORY = CATEGORY
    FUNCTION = "crop"
    RETURN_TYPES = ("IMAGE", CROP, "MASK")
    RETURN_NAMES = ("crops", "crop", "mask")
    OUTPUT_TOOLTIPS = ("Face crops at crop_size, one per input image.",
                       "The crop transforms, for Paste Back.",
                       "Where each crop sits in its image (feathered), at the input resolution.")

    @classmethod
    def INPUT_TYPES(cls):
        advanced = {"advanced": True}  # folded under "Show Advanced" by frontends that support it
        return {"required": {
            "image": ("IMAGE", {"tooltip": "A portrait, or a video's frames (any resolution)."}),
            "box_mode": (list(BOX_MODES), {"default": "auto",
                                           "tooltip": "auto: detect the face; manual: use box_x/y/size (drag the "
                                                      "box on the node)."}),
            "box_x": ("INT", {"default": 0, "min": -16384, "max": 16384,
                              "tooltip": "Manual box: left edge in image pixels."}),
            "box_y": ("INT", {"default": 0, "min": -16384, "max": 16384,
                              "tooltip": "Manual box: top edge in image pixels."}),
            "box_size": ("INT", {"default": 256, "min": 8, "max": 16384,
                                 "tooltip": "Manual box: side in image pixels (square)."}),
            "crop_mode": (list(CROP_MODES), {"default": "tracked",
                                             "tooltip": "tracked: follow the face in every frame (smoothed); "
                                                        "fixed: one box from the reference frame."}),
        }, "optional": {
            "model": (MODEL, {"tooltip": "Optional: the ToonTalker model the crops are for; they are then made at "
                                         "its resolution (crop_size is ignored)."}),
            "fps": ("FLOAT", {"forceInput": True, "default": DEFAULT_FPS, "min": 1.0, "max": 240.0,
                              "tooltip": "Frame rate of the video, e.g. Get Video Components' fps (the smoothing "
                                         f"filter is time-based); {DEFAULT_FPS:g} when not connected."}),
            "scale": ("FLOAT", {"default": DEFAULT_SCALE, "min": 1.0, "max": 4.0, "step": 0.05, **advanced,
                                "tooltip": "Crop side / detected face side (larger shows more hair and neck)."}),
            "offset": ("FLOAT", {"default": DEFAULT_OFFSET, "min": -1.0, "max": 1.0, "step": 0.01, **advanced,
                                 "tooltip": "Vertical shift of the crop in face sizes (negative: up)."}),
            "smoothing": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 10.0, "step": 0.1, **advanced,
                                    "tooltip": "Temporal smoothing of tracked boxes (0 = off; higher = steadier)."}),
            "reference_frame": ("INT", {"default": 0, "min": 0, "max": 100000, **advanced,
                                        "tooltip": "Frame whose face defines the subject (and the fixed box)."}),
            "crop_size": ("INT", {"default": 256, "min": 64, "max": 1024, "step": 64, **advanced,
                                  "tooltip": "Output crop size when no model is connected: the model's resolution "
                                             "(256 for the published checkpoints, 64 for the bundled demo "
                                             "model)."}),
            # new inputs go last: saved workflows keep their widget order
            "face": ("STRING", {"default": "largest", **advanced,
                                "tooltip": "Which face to crop when the image has several: largest, or a "
                                           "position counted from 0 at the left (0 = the leftmost face)."}),
            **TRACK_HOLD_INPUT,
        }}

    def crop(self, image, box_mode, box_x, box_y, box_size, crop_mode, model=None, fps=DEFAULT_FPS,
             scale=DEFAULT_SCALE, offset=DEFAULT_OFFSET, smoothing=1.0, reference_frame=0, crop_size=256,
             face="largest", track_hold=HOLD_SECONDS):
        frames = images_from_comfy(image, "image")
        n, (h, w) = frames.shape[0], frames.shape[-2:]
        ref = S.check_reference(reference_frame, n)
        if box_mode not in BOX_MODES:
            raise InputError(f"unknown box_mode '{box_mode}': use one of {', '.join(BOX_MODES)}")
        if model is not None:
            crop_size = model.cfg.size
        box = (box_x, box_y, box_size) if box_mode == "manual" else None
        notes = []
        choice = parse_one_face(face, "face", SEVERAL_FACES)
        cropper = FaceCropper(crop_size, crop_mode, scale=scale, offset=offset, smoothing=smoothing, fps=fps,
                              box=box, warn=notes.append, choose=choice,
                              hold_seconds=check_hold(track_hold, "track_hold"))
        batch = full_res_batch(h * w)
        dev = work_device()
        reserve_memory(dev, batch * h * w * FULL_RES_BYTES_PER_PIXEL)
        cropper.start(to_device(frames[ref], dev), what=f"frame {ref} of 'image'" if n > 1 else "'image'",
                      hint="set box_mode to manual and drag the box on the node (or type box_x, box_y, "
                           f"box_size); the pack's template {NO_FACE_TEMPLATE} shows the whole graph")
        crops, transforms = ImageBatch(n), []
        mask = torch.empty((n, h, w), dtype=torch.float32, device=intermediate_device())

        def crop_chunk(sl):
            c, t = cropper(to_device(frames[sl], dev))
            return c, t, paste_mask(t, MASK_FEATHER)  # the full-size mask one chunk at a time

        for sl, (c, t, m) in run_chunks(n, batch, tracking(cropper, crop_chunk), phase="cropping faces"):
            crops.put(sl, c)
            transforms.append(t)
            mask[sl] = m
        transform = CropTransform.cat(transforms)
        if crop_mode == "tracked" and box is None and (line := cropper.report()):
            notes.append(line)
        for line in notes:
            logging.warning("ToonTalker Face Crop: %s", line)
        # For the web extension's box editor: the reference frame (a temp preview file) and its crop box.
        ui = {"toontalker_crop": [{"image_size": [w, h],
                                   "box": [round(v, 2) for v in transform.boxes[ref].tolist()],
                                   "preview": save_preview(frames[ref]), "missed": cropper.missed,
                                   "notes": notes}]}
        return {"ui": ui, "result": (crops.result(), transform, mask)}


class PasteBack:
    DESCRIPTION = ("Pastes reenacted (or otherwise processed) face crops back into the original images with the "
                   "inverse crop transform and a feathered mask, at the original resolution.")
    CATEGORY = CATEGORY
    FUNCTION = "paste"
    RETURN_TYPES = ("IMAGE",)
    RETURN_NAMES = ("images",)
    OUTPUT_TOOLTIPS = ("The originals with the faces replaced, one per rendered crop.",)

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "original": ("IMAGE", {"tooltip": "The images that were cropped: one (a still portrait used for every "
                                              "frame) or one per rendered crop. Several faces: connect the "
                                              "previous face's Paste Back here, one chain per face."}),
            "rendered": ("IMAGE", {"tooltip": "The crops to paste (e.g. Warp Render's output), square, at any "
                                              "size: an upscaled crop is pasted at its own resolution."}),
            "crop": (CROP, {"tooltip": "From Face Crop (of the same original images)."}),
            "feather": ("FLOAT", {"default": 0.1, "min": 0.0, "max": 0.5, "step": 0.01, "tooltip": FEATHER_TIP}),
            "color_match": ("FLOAT", {"default": 0.0, "min": 0.0, "max": 1.0, "step": 0.05,
                                      "tooltip": "Match the crop's colours to the original inside the mask "
                                                 "(0 = off, 1 = full)."}),
        }}

    def paste(self, original, rendered, crop, feather, color_match):
        originals = images_from_comfy(original, "original")
        crops = images_from_comfy(rendered, "rendered")
        n = crops.shape[0]
        if crops.shape[-1] != crops.shape[-2]:
            raise InputError(f"'rendered' images are {crops.shape[-1]}x{crops.shape[-2]}; Paste Back needs "
                             "square crops")
        if crops.shape[-1] != crop.crop_size:  # e.g. a model upscaler in between: paste at the crops' own size
            crop = CropTransform.from_boxes(crop.boxes, crops.shape[-1], crop.source_size)
        transform = crop.repeat(n) if len(crop) == 1 and n > 1 else crop
        if len(transform) != n:
            raise InputError(f"'crop' holds {len(crop)} transforms for {n} rendered images: connect the Face Crop "
                             "of the same images (one still, or one per frame)")
        if originals.shape[0] not in (1, n):
            raise InputError(f"'original' has {originals.shape[0]} images for {n} rendered crops: use one image, "
                             "or one per crop")
        h, w = originals.shape[-2:]
        if (h, w) != crop.source_size:
            raise InputError(f"'original' is {w}x{h} but 'crop' was made for {crop.source_size[1]}x"
                             f"{crop.source_size[0]} images: connect the images that Face Crop cropped (or a "
                             "Paste Back's output made from them)")
        batch, dev = full_res_batch(h * w), work_device()
        reserve_memory(dev, batch * h * w * FULL_RES_BYTES_PER_PIXEL)
        still = to_device(originals, dev) if originals.shape[0] == 1 else None  # one still: moved once
        out = ImageBatch(n)

        def paste_chunk(sl):
            orig = still if still is not None else to_device(originals[sl], dev)
            return paste_back(orig, to_device(crops[sl], dev), transform[sl], feather, color_match)

        for sl, images in run_chunks(n, batch, paste_chunk, phase="pasting back"):
            out.put(sl, images)
        return (out.result(),)
