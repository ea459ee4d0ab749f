"""Cartoon face styles for detection data: the procedural generator (`cartoon.py`) widened into many looks,
each face returned with its alpha and its ground-truth face box.

    faces, alpha, boxes = render_styles(["anime", "bear"], g, size=96)   # [n,3,S,S], [n,1,S,S], [n,4] px

A style is a set of identity ranges (eye size and height, nose, outline, face proportions, ...), a pose range
and optional extras drawn in the same head frame as the face: animal ears on top and a snout, a hat, hair
over the eyes. Extras behind the head (ears) are composited under it, the others over it. The face is drawn
twice by `cartoon.render` (on black and on white): its compositing is linear in the background, so the two
give the face's colour and alpha exactly, and a scene can paste it on any background.

Ground-truth box (what BlazeFace's box means on a real face: cheek to cheek, brow to chin, square): a square
of side 2 x the face ellipse's half-width, centred horizontally on the face and vertically half-way between
the brow line and the chin; moved and scaled with the head (roll ignored). Ears, hair, hats are outside it.

TRAIN_STYLES and HELD_OUT_STYLES split the styles, not only the samples: each held-out style is a relative of
a training style that the detector never sees (chibi vs anime, bear vs cat ears, three-quarter vs profile,
hair over the eyes vs a hat, thin ink lines vs thick outlines).
"""
from __future__ import annotations

import torch

from .cartoon import _ellipse_sdf, _soft, random_identity, random_motion, render

# overrides of cartoon.IDENTITY_RANGES / MOTION_RANGES per style, plus extras
STYLES: dict[str, dict] = {
    "classic": {},
    "flat": {"ident": {"outline": (0.0, 0.0), "nose_r": (0.0, 0.0), "brow_w": (0.01, 0.02)}},
    "anime": {"ident": {"eye_rx": (0.11, 0.15), "eye_ry": (0.13, 0.19), "eye_y": (0.0, 0.08), "iris_r": (0.7, 0.85),
                        "mouth_w": (0.03, 0.06), "mouth_y": (0.32, 0.4), "nose_r": (0.0, 0.012), "chin": (0.3, 0.5),
                        "brow_w": (0.006, 0.012), "eye_sep": (0.2, 0.26)}},
    "thick": {"ident": {"outline": (0.03, 0.06)}},
    "cat": {"ident": {"ear_r": (0.0, 0.0), "nose_r": (0.025, 0.04), "hair_h": (0.0, 0.0)}, "ears": "pointy",
            "snout": True, "skin": "animal"},
    "profile": {"motion": {"yaw": (0.85, 1.1)}},
    "hat": {"hat": True},
    # held out
    "chibi": {"ident": {"face_rx": (0.6, 0.7), "face_ry": (0.55, 0.6), "eye_rx": (0.12, 0.16), "eye_ry": (0.12, 0.17),
                        "eye_y": (0.06, 0.14), "eye_sep": (0.24, 0.3), "mouth_w": (0.03, 0.07), "nose_r": (0.0, 0.0),
                        "mouth_y": (0.3, 0.38), "chin": (0.0, 0.15)}},
    "bear": {"ident": {"ear_r": (0.0, 0.0), "nose_r": (0.03, 0.05), "hair_h": (0.0, 0.0)}, "ears": "round",
             "snout": True, "skin": "animal"},
    "three_quarter": {"motion": {"yaw": (0.45, 0.75)}},
    "bangs": {"bangs": True, "ident": {"hair_style": (0.3, 2.0)}},
    "ink": {"ident": {"outline": (0.006, 0.012), "nose_r": (0.0, 0.0), "brow_w": (0.006, 0.01)}, "ink": True},
}
TRAIN_STYLES = ("classic", "flat", "anime", "thick", "cat", "profile", "hat")
HELD_OUT_STYLES = ("chibi", "bear", "three_quarter", "bangs", "ink")

_ANIMAL = torch.tensor([[0.55, 0.40, 0.28], [0.85, 0.75, 0.60], [0.95, 0.95, 0.92], [0.45, 0.45, 0.48],
                        [0.95, 0.60, 0.25], [0.30, 0.22, 0.18], [0.98, 0.85, 0.55]])


def _uniform(n, lo, hi, g):
    return lo + (hi - lo) * torch.rand(n, generator=g)


def style_params(style: str, n: int, g: torch.Generator) -> tuple[dict, dict]:
    """n random characters and poses of one style: (identity, motion) dicts of [n] tensors."""
    spec = STYLES[style]
    ident = random_identity(n, g)
    motion = random_motion(n, g, amount=0.6)
    for k, (lo, hi) in spec.get("ident", {}).items():
        ident[k] = _uniform(n, lo, hi, g)
    for k, (lo, hi) in spec.get("motion", {}).items():
        sign = torch.where(torch.rand(n, generator=g) < 0.5, -1.0, 1.0) if k == "yaw" else 1.0
        motion[k] = sign * _uniform(n, lo, hi, g)
    if spec.get("skin") == "animal":
        idx = torch.randint(len(_ANIMAL), (n,), generator=g)
        ident["skin"] = (_ANIMAL[idx] + 0.06 * (torch.rand(n, 3, generator=g) - 0.5)).clamp(0, 1)
        ident["hair"] = ident["skin"] * 0.6
    if spec.get("ink"):
        ident["skin"] = (0.9 + 0.1 * torch.rand(n, 1, generator=g)).expand(n, 3).clone()  # paper-white, ink lines
    motion["scale"] = _uniform(n, 0.95, 1.05, g)  # the box is placed by the scene, not by the pose
    motion["tx"], motion["ty"] = motion["tx"] * 0.3, motion["ty"] * 0.3
    return ident, motion


def _head_frame(P: dict, s: int):
    """Pixel grid -> head frame (u, v), as cartoon.render builds it (translation, scale, roll)."""
    n = P["scale"].shape[0]
    lin = (torch.arange(s, dtype=torch.float32) + 0.5) / s * 2 - 1
    Y, X = torch.meshgrid(lin, lin, indexing="ij")
    X, Y = X[None].expand(n, -1, -1), Y[None].expand(n, -1, -1)
    sc = {k: P[k][:, None, None] for k in ("scale", "tx", "ty", "roll")}
    hx, hy = (X - sc["tx"]) / sc["scale"], (Y - sc["ty"]) / sc["scale"]
    cr, sr = torch.cos(sc["roll"]), torch.sin(sc["roll"])
    return cr * hx + sr * hy, -sr * hx + cr * hy


def _geometry(P: dict):
    """The face outline's centre and radii and the feature offset, as cartoon.render computes them ([n])."""
    yaw, pitch = P["yaw"], P["pitch"]
    dx, dy = 0.22 * torch.sin(yaw), 0.18 * torch.sin(pitch)
    rx = P["face_rx"] * (1 - 0.12 * yaw.abs())
    ry = P["face_ry"] * (1 - 0.06 * pitch.abs())
    return 0.35 * dx, 0.35 * dy, rx, ry, dx, dy


def face_boxes(P: dict, size: int) -> torch.Tensor:
    """Ground-truth boxes [n,4] (x0, y0, x1, y1) in pixels of a `size` render (see the module docstring)."""
    ox, oy, rx, ry, dx, dy = _geometry(P)
    brow = oy + dy + P["eye_y"] - P["eye_ry"] - P["brow_gap"]
    cu, cv, half = ox, (brow + oy + ry) / 2, rx
    # head frame -> image: undo roll, then scale and translate
    r = P["roll"]
    hx, hy = torch.cos(r) * cu - torch.sin(r) * cv, torch.sin(r) * cu + torch.cos(r) * cv
    cx, cy = P["tx"] + P["scale"] * hx, P["ty"] + P["scale"] * hy
    h = half * P["scale"]
    to_px = lambda t: (t + 1) / 2 * size  # noqa: E731
    return torch.stack([to_px(cx - h), to_px(cy - h), to_px(cx + h), to_px(cy + h)], dim=1)


def _triangle_sdf(u, v, pts):
    """Signed distance (inside < 0, exact near the edges) to a triangle given as three (x, y) points, any order."""
    (x0, y0), (x1, y1), (x2, y2) = pts
    area = (x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0)
    sign = torch.sign(area)
    d = None
    for (ax, ay), (bx, by) in (((x0, y0), (x1, y1)), ((x1, y1), (x2, y2)), ((x2, y2), (x0, y0))):
        ex, ey = bx - ax, by - ay
        dist = -sign * (ex * (v - ay) - ey * (u - ax)) / torch.sqrt(ex * ex + ey * ey + 1e-12)
        d = dist if d is None else torch.maximum(d, dist)
    return d


def _extras(P: dict, spec: dict, size: int, supersample: int = 2):
    """(behind, over): lists of (colour [n,3], alpha [n,1,S,S]) drawn under / over the face."""
    s = size * supersample
    u, v = _head_frame(P, s)
    px = 2.0 / s / P["scale"][:, None, None]
    ox, oy, rx, ry, dx, dy = (t[:, None, None] for t in _geometry(P))
    behind, over = [], []
    n = u.shape[0]
    if spec.get("ears"):
        ear = torch.zeros_like(u)
        inner = torch.zeros_like(u)
        for side in (-1.0, 1.0):
            ex, ey = ox + side * rx * 0.62 - 0.3 * dx, oy - ry * 0.88
            if spec["ears"] == "round":
                sdf = _ellipse_sdf(u, v, ex, ey, rx * 0.3, rx * 0.3)
                isdf = _ellipse_sdf(u, v, ex, ey, rx * 0.17, rx * 0.17)
            else:  # a triangle pointing up and a little outwards
                w = rx * 0.34
                tri = ((ex - w, ey + w * 0.6), (ex + w, ey + w * 0.6), (ex + side * w * 0.45, ey - w * 1.7))
                sdf = _triangle_sdf(u, v, tri)
                isdf = sdf + w * 0.3
            ear = torch.maximum(ear, _soft(sdf, px))
            inner = torch.maximum(inner, _soft(isdf, px))
        behind.append((P["skin"] * 0.9, ear[:, None]))
        behind.append((torch.tensor([0.95, 0.65, 0.7]).expand(n, 3), (ear * inner)[:, None]))
    if spec.get("snout"):
        sx, sy = ox + 1.1 * dx, oy + 0.2 + dy
        snout = _soft(_ellipse_sdf(u, v, sx, sy, rx * 0.38, ry * 0.22), px)
        over.append(((P["skin"] * 0.5 + 0.5), snout[:, None] * 0.9))
        nose = _soft(_ellipse_sdf(u, v, sx, sy - ry * 0.12, rx * 0.1, rx * 0.07), px)
        over.append((torch.full((n, 3), 0.12), nose[:, None]))
    if spec.get("hat"):
        top = oy - ry * 0.82
        brim = _soft(_ellipse_sdf(u, v, ox, top, rx * 1.25, ry * 0.12), px)
        crown = _soft(torch.maximum((u - ox).abs() - rx * 0.72, torch.maximum(v - top, -(v - top) - ry * 0.7)), px)
        colour = torch.rand(n, 3, generator=torch.Generator().manual_seed(int(P["face_rx"].sum() * 1e4)))
        over.append((colour, torch.maximum(brim, crown)[:, None]))
    if spec.get("bangs"):
        # a fringe from the hairline down over the eyes (to about the pupils), wavy at its lower edge
        eye_y = oy + dy + P["eye_y"][:, None, None]
        edge = eye_y + 0.03 * torch.sin(14 * (u - ox)) - 0.02
        head = _ellipse_sdf(u, v, ox, oy - 0.04, rx * 1.06, ry * 1.04)
        fringe = _soft(torch.maximum(head, v - edge), px)
        over.append((P["hair"], fringe[:, None] * 0.95))
    if supersample > 1:
        pool = lambda a: torch.nn.functional.avg_pool2d(a, supersample)  # noqa: E731
        behind = [(c, pool(a)) for c, a in behind]
        over = [(c, pool(a)) for c, a in over]
    return behind, over


def render_style(style: str, n: int, g: torch.Generator, size: int = 96,
                 supersample: int = 2) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """n faces of one style -> (colour [n,3,S,S] premultiplied by alpha, alpha [n,1,S,S], boxes [n,4] px).
    `supersample` 1 is 4x faster with harder edges (fine for faces that are scaled down afterwards)."""
    spec = STYLES[style]
    ident, motion = style_params(style, n, g)
    black = {**ident, "bg1": torch.zeros(n, 3), "bg2": torch.zeros(n, 3), "bg_mix": torch.ones(n)}
    white = {**black, "bg1": torch.ones(n, 3), "bg2": torch.ones(n, 3)}
    on_black, on_white = render(black, motion, size, supersample), render(white, motion, size, supersample)
    alpha = (1 - (on_white - on_black).mean(1, keepdim=True)).clamp(0, 1)
    colour = on_black
    if spec.get("ink"):  # ink drawing: the face in greys only
        colour = colour.mean(1, keepdim=True).expand(-1, 3, -1, -1)
    P = {**ident, **motion}
    behind, over = _extras(P, spec, size, supersample)
    for c, a in behind:  # under the face: only where the face leaves room
        colour = colour + (1 - alpha) * c[:, :, None, None] * a
        alpha = alpha + (1 - alpha) * a
    for c, a in over:
        colour = colour * (1 - a) + c[:, :, None, None] * a
        alpha = alpha + (1 - alpha) * a
    return colour.clamp(0, 1), alpha.clamp(0, 1), face_boxes(P, size)


def render_styles(styles, g: torch.Generator, size: int = 96, supersample: int = 2):
    """One face per entry of `styles` (names) -> (colour, alpha, boxes) as in `render_style`, in that order."""
    styles = list(styles)
    colour = torch.zeros(len(styles), 3, size, size)
    alpha = torch.zeros(len(styles), 1, size, size)
    boxes = torch.zeros(len(styles), 4)
    for name in dict.fromkeys(styles):
        idx = [i for i, s in enumerate(styles) if s == name]
        c, a, b = render_style(name, len(idx), g, size, supersample)
        colour[idx], alpha[idx], boxes[idx] = c, a, b
    return colour, alpha, boxes
