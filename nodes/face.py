"""Face Crop and Paste Back: full-resolution images in, model-sized face crops out, and back again."""
from __future__ import annotations

import torch

from ..toontalker_core import stages as S
from ..toontalker_core.errors import InputError
from ..toontalker_core.face import (CROP_MODES, DEFAULT_OFFSET, DEFAULT_SCALE, CropTransform, FaceCropper,
                                    paste_back, paste_mask)
from ..toontalker_core.media import resize_to
from .comfy import save_preview
from .payloads import CATEGORY, CROP, NO_FACE_TEMPLATE, chunks, images_from_comfy, model_to_image

BOX_MODES = ("auto", "manual")
FEATHER_TIP = "Soft edge of the pasted face, as a fraction of the crop side (0 = hard edge)."


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
        return {"required": {
            "image": ("IMAGE", {"tooltip": "A portrait, or a video's frames (any resolution)."}),
            "box_mode": (list(BOX_MODES), {"default": "auto",
                                           "tooltip": "auto: detect the face; manual: use box_x/y/size."}),
            "box_x": ("INT", {"default": 0, "min": -16384, "max": 16384,
                              "tooltip": "Manual box: left edge in image pixels."}),
            "box_y": ("INT", {"default": 0, "min": -16384, "max": 16384,
                              "tooltip": "Manual box: top edge in image pixels."}),
            "box_size": ("INT", {"default": 256, "min": 8, "max": 16384,
                                 "tooltip": "Manual box: side in image pixels (square)."}),
            "scale": ("FLOAT", {"default": DEFAULT_SCALE, "min": 1.0, "max": 4.0, "step": 0.05,
                                "tooltip": "Crop side / detected face side (larger shows more hair and neck)."}),
            "offset": ("FLOAT", {"default": DEFAULT_OFFSET, "min": -1.0, "max": 1.0, "step": 0.01,
                                 "tooltip": "Vertical shift of the crop in face sizes (negative: up)."}),
            "crop_mode": (list(CROP_MODES), {"default": "tracked",
                                             "tooltip": "tracked: follow the face in every frame (smoothed); "
                                                        "fixed: one box from the reference frame."}),
            "smoothing": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 10.0, "step": 0.1,
                                    "tooltip": "Temporal smoothing of tracked boxes (0 = off; higher = steadier)."}),
            "reference_frame": ("INT", {"default": 0, "min": 0, "max": 100000,
                                        "tooltip": "Frame whose face defines the subject (and the fixed box)."}),
            "crop_size": ("INT", {"default": 256, "min": 64, "max": 1024, "step": 64,
                                  "tooltip": "Output crop size: the model's resolution (256 for the published "
                                             "checkpoints, 64 for the bundled demo model)."}),
            "fps": ("FLOAT", {"default": 25.0, "min": 1.0, "max": 240.0, "step": 0.01,
                              "tooltip": "Frame rate of the video (the smoothing filter is time-based)."}),
        }}

    def crop(self, image, box_mode, box_x, box_y, box_size, scale, offset, crop_mode, smoothing,
             reference_frame, crop_size, fps):
        frames = images_from_comfy(image, "image")
        n = frames.shape[0]
        ref = S.check_reference(reference_frame, n)
        box = (box_x, box_y, box_size) if box_mode == "manual" else None
        notes = []
        cropper = FaceCropper(crop_size, crop_mode, scale=scale, offset=offset, smoothing=smoothing, fps=fps,
                              box=box, warn=notes.append)
        cropper.start(frames[ref], what=f"frame {ref} of 'image'" if n > 1 else "'image'",
                      hint="set box_mode to manual and drag the box on the node (or type box_x, box_y, "
                           f"box_size); the pack's template {NO_FACE_TEMPLATE} shows the whole graph")
        crops, transforms = [], []
        for sl in chunks(n, 16):
            c, t = cropper(frames[sl])
            crops.append(model_to_image(c))
            transforms.append(t)
        transform = CropTransform.cat(transforms)
        mask = paste_mask(transform, 0.1)
        # For the web extension's box editor: the reference frame (a temp preview file) and its crop box.
        ui = {"toontalker_crop": [{"image_size": [frames.shape[-1], frames.shape[-2]],
                                   "box": [round(v, 2) for v in transform.boxes[ref].tolist()],
                                   "preview": save_preview(frames[ref]), "missed": cropper.missed,
                                   "notes": notes}]}
        return {"ui": ui, "result": (torch.cat(crops), transform, mask.to(crops[0].device))}


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
                                              "frame) or one per rendered crop."}),
            "rendered": ("IMAGE", {"tooltip": "The crops to paste (e.g. Warp Render's output); resized to the crop "
                                              "size if a node in between changed it."}),
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
        crops = resize_to(crops, crop.crop_size)
        transform = crop.repeat(n) if len(crop) == 1 and n > 1 else crop
        if len(transform) != n:
            raise InputError(f"'crop' holds {len(crop)} transforms for {n} rendered images: connect the Face Crop "
                             "of the same images (one still, or one per frame)")
        if originals.shape[0] not in (1, n):
            raise InputError(f"'original' has {originals.shape[0]} images for {n} rendered crops: use one image, "
                             "or one per crop")
        out = []
        for sl in chunks(n, 16):
            orig = originals if originals.shape[0] == 1 else originals[sl]
            out.append(model_to_image(paste_back(orig, crops[sl], transform[sl], feather, color_match)))
        return (torch.cat(out),)
