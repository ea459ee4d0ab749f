"""What a rendered face shows, measured with the bundled face detector's keypoints and simple image
statistics: the quantities that name the Motion Editor's controls.

BlazeFace gives 6 keypoints (right eye, left eye, nose tip, mouth centre, right ear, left ear; "right" is the
person's, i.e. the image's left). All lengths are in eye distances (scale-free), positions in image sides.
The eye and mouth statistics read boxes placed by the keypoints; when the detector finds no face in a
render they read the boxes of the reference render (the keypoints do not reach there, the statistics do).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..face import detect_faces, primary_face
from ..face.detect import BLAZEFACE

# name -> (what it measures, unit, smallest change over the slider range that counts as an effect)
QUANTITIES = {
    "head_yaw": ("nose tip left/right of the eye midpoint", "eye distances", 0.08),
    "head_pitch": ("nose tip below the eye line, relative to the eye-mouth distance", "fraction", 0.05),
    "head_roll": ("eye-line angle, clockwise on screen", "degrees", 3.0),
    "head_x": ("eye midpoint, left to right", "image widths", 0.03),
    "head_y": ("eye midpoint, top to bottom", "image heights", 0.03),
    "head_scale": ("eye distance relative to the unedited render", "ratio - 1", 0.06),
    "mouth_open": ("darkness of the mouth box (1 - luma), change from the unedited render", "luma", 0.03),
    "eyes_closed": ("loss of contrast in the eye boxes (1 - std / unedited std)", "fraction", 0.10),
}
DETECT_SIZE = 256  # renders are measured at this size (small models render 64 px)


def _luma(images: torch.Tensor) -> torch.Tensor:
    return (0.299 * images[:, 0] + 0.587 * images[:, 1] + 0.114 * images[:, 2])


def _box_stats(luma: torch.Tensor, cx: float, cy: float, w: float, h: float) -> tuple[float, float]:
    """(mean, std) of luma [H,W] in the box centred at (cx, cy) px; the box is clipped to the image."""
    H, W = luma.shape
    x0, x1 = max(0, int(round(cx - w / 2))), min(W, int(round(cx + w / 2)) + 1)
    y0, y1 = max(0, int(round(cy - h / 2))), min(H, int(round(cy + h / 2)) + 1)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return float("nan"), float("nan")
    patch = luma[y0:y1, x0:x1]
    return patch.mean().item(), patch.std().item()


def _regions(kp: list[tuple[float, float]]) -> dict:
    (rex, rey), (lex, ley), _, (mx, my) = kp[:4]
    ed = math.hypot(lex - rex, ley - rey)
    return {"eyes": [(rex, rey), (lex, ley)], "mouth": (mx, my), "ed": ed}


def measure(images01: torch.Tensor, reference: int = 0) -> list[dict[str, float]]:
    """Per image [N,3,H,W] in [0,1] the QUANTITIES (NaN where not measurable). Image `reference` is the
    unedited render: the relative quantities (scale, mouth, eyes) are changes from it."""
    x = images01.float().clamp(0, 1)
    if x.shape[-1] != DETECT_SIZE:
        x = F.interpolate(x, size=(DETECT_SIZE, DETECT_SIZE), mode="bicubic", align_corners=False).clamp(0, 1)
    faces = [primary_face(f) for f in detect_faces(x, models=BLAZEFACE)]  # its keypoints are measured
    luma = _luma(x)
    ref_face = faces[reference]
    ref_regions = _regions(ref_face.keypoints) if ref_face is not None else None
    rows = []
    for face, lum in zip(faces, luma):
        q = dict.fromkeys(QUANTITIES, float("nan"))
        regions = _regions(face.keypoints) if face is not None else ref_regions
        if face is not None:
            (rex, rey), (lex, ley), (nx, ny), (mx, my) = face.keypoints[:4]
            ed = max(math.hypot(lex - rex, ley - rey), 1e-6)
            ex, ey = (rex + lex) / 2, (rey + ley) / 2
            q["head_yaw"] = (nx - ex) / ed
            q["head_roll"] = math.degrees(math.atan2(ley - rey, lex - rex))
            q["head_pitch"] = (ny - ey) / max(my - ey, 1e-6)
            q["head_x"], q["head_y"] = ex / DETECT_SIZE, ey / DETECT_SIZE
            q["head_scale"] = ed
        if regions is not None:
            ed = regions["ed"]
            mean, _ = _box_stats(lum, *regions["mouth"], 0.7 * ed, 0.45 * ed)
            q["mouth_open"] = 1 - mean
            q["eyes_closed"] = sum(_box_stats(lum, ex, ey, 0.45 * ed, 0.3 * ed)[1]
                                   for ex, ey in regions["eyes"]) / 2
        rows.append(q)
    ref = dict(rows[reference])
    for q in rows:  # relative quantities: changes from the unedited render
        q["head_scale"] = q["head_scale"] / ref["head_scale"] - 1
        q["mouth_open"] = q["mouth_open"] - ref["mouth_open"]
        q["eyes_closed"] = 1 - q["eyes_closed"] / ref["eyes_closed"] if ref["eyes_closed"] > 0 else float("nan")
    return rows
