"""Face detection, cropping, temporal smoothing and paste-back (real and cartoon faces). No ComfyUI import.

Images are float [B,3,H,W] in [0,1] (as everywhere in toontalker_core); boxes are in source pixels.

Detection (`detect.py`, weights bundled, nothing downloaded; see models/NOTICE.md)
    detect_faces(images, threshold=0.4, still=False, models=("short", "full", "toon")) -> list (per image) of list[Face]
        Face: box (x0, y0, x1, y1), score, keypoints (6 x (x, y)); best score first.
        BlazeFace (short, full) plus the pack's ToonNet (`toonnet.py`, cartoons); models=BLAZEFACE: BlazeFace only,
        whose keypoints are measured; a face only ToonNet finds has template keypoints placed in its box.
    primary_face(faces) -> Face | None          the one to animate (largest, weighted by score)

Crop boxes and transforms (`crop.py`)
    crop_boxes(faces | [N,4] xyxy, scale=1.9, offset=-0.05) -> [N,3] (x, y, size) squares
        scale: crop side / face side; offset: vertical shift in face sizes (negative = up, more hair).
    CropTransform.from_boxes(boxes [N,3], crop_size, (H, W))
        .matrix [N,3,3] float64 source -> crop (pixel-index coords), .inverse(), .boxes, .scale,
        [i], cat([...]), repeat(n), to(device), cpu(), to_dict() / from_dict()
    crop(images [B|1,3,H,W], transform, pad_mode="reflect"|"edge") -> [N,3,S,S]   (anti-aliased, bicubic)

Paste-back (`paste.py`)
    paste_back(originals [B|1,3,H,W], rendered [N,3,S,S], transform, feather=0.1, color_match=0.0)
        -> [N,3,H,W] at the original resolution; feather = soft edge as a fraction of the crop side,
        color_match 0..1 = per-channel mean/std matching inside the mask.
    crop_mask(transform, feather) -> [N,S,S]; paste_mask(transform, feather) -> [N,H,W]
    check_blend(feather, color_match) -> validated pair (InputError otherwise)
    match_color(rendered, target, weight, amount)

Smoothing (`smoothing.py`)
    OneEuroFilter(fps, strength), BoxSmoother(fps, strength), smooth_boxes(boxes [N,3], fps, strength, smoother)
        strength: 0 = off, 1 = default; the filter state streams across calls.

Several faces (`select.py`): positions count from 0 at the left
    parse_faces("all"|"largest"|"0,2") / parse_driving_face("largest"|"1"|"paired") -> FaceChoice
    parse_one_face("largest"|"1", flag, several) -> FaceChoice (one face; `several`: the hint for more)
        .pick(faces) -> chosen faces left to right; .one(faces) -> Face | None
    parse_domains("cartoon,real", n, default) -> one domain per chosen face

Streaming (`cropper.py`, `track.py`)
    locate_face(image [3,H,W], box=None, scale, offset, choose=primary_face) -> (crop box [3], Face | None)
    locate_faces(image [3,H,W], choice) -> (crop boxes [K,3], faces)        both raise NoFaceError
    FaceCropper(crop_size, mode="tracked"|"fixed", scale, offset, smoothing, fps, box=None, choose=...,
                hold_seconds=0.25)
        .start(reference_frame) -> box; cropper(chunk [n,3,H,W]) -> (crops [n,3,S,S], CropTransform);
        .reference_crop(frame); .frames, .missed (frames without the face: the predicted box was held);
        .report() -> one line about those frames, or None
    BoxTrack: gating on the predicted box, a bounded hold with decaying motion, re-acquiring after it
    check_hold(seconds, what) -> the hold length checked (0 = never hold .. 10 s); hold_frames(fps, seconds)

Typical use (what the CLI does):

    box, _ = locate_face(source01)                                   # or box=(x, y, size) by hand
    t_src = CropTransform.from_boxes(box[None], 256, source01.shape[-2:])
    src_crop = crop(source01, t_src)                                 # -> encode_source
    cropper = FaceCropper(256, "tracked", fps=fps); cropper.start(driving_reference_frame)
    for chunk in iter_driving(path):
        crops, _ = cropper(chunk)                                    # -> reenact -> rendered [n,3,256,256]
        frames = paste_back(source01, rendered, t_src.repeat(len(rendered)), feather=0.1)
"""
from .crop import DEFAULT_OFFSET, DEFAULT_SCALE, PAD_MODES, CropTransform, crop, crop_boxes, padded_region
from .cropper import CROP_MODES, TINY_FACE, FaceCropper, NoFaceError, locate_face, locate_faces, manual_box
from .detect import THRESHOLD, Face, detect_faces, primary_face
from .paste import check_blend, crop_mask, match_color, paste_back, paste_mask
from .select import (FaceChoice, finding_domain, left_to_right, parse_domains, parse_driving_face, parse_faces,
                     parse_one_face)
from .smoothing import BoxSmoother, OneEuroFilter, smooth_boxes
from .track import HOLD_SECONDS, BoxTrack, Gap, check_hold, hold_frames

__all__ = [
    "CROP_MODES", "DEFAULT_OFFSET", "DEFAULT_SCALE", "HOLD_SECONDS", "PAD_MODES", "THRESHOLD", "TINY_FACE",
    "BoxSmoother", "BoxTrack", "CropTransform", "Face", "FaceChoice", "FaceCropper", "Gap", "NoFaceError",
    "OneEuroFilter", "check_blend", "check_hold", "finding_domain", "crop", "crop_boxes", "crop_mask", "detect_faces", "hold_frames",
    "left_to_right", "locate_face", "locate_faces", "manual_box", "match_color", "padded_region", "parse_domains",
    "parse_driving_face", "parse_faces", "parse_one_face", "paste_back", "paste_mask", "primary_face",
    "smooth_boxes",
]
