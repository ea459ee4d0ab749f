"""Scenes with faces at known boxes, for training and measuring face detectors (all made here, rights-clean).

    image, boxes, kinds = make_scene(g, (720, 1280), n_faces=(1, 4), face_px=(24, 600), styles=HELD_OUT_STYLES)
    # image [3,H,W] in [0,1]; boxes [k,4] (x0, y0, x1, y1) px; kinds: style names, or "real:<still>"

Backgrounds: two-colour gradients, smooth noise, stripes, and clutter (random ellipses, rectangles and lines,
some in skin tones). Cartoon faces come from `cartoon_styles` (alpha-composited, so no tile edge gives them
away); real faces are the project's public-domain stills (`realmotion.STILLS`: astronaut, grace_hopper; see
DATA.md) cut out with a soft round mask. A real face's box is what the bundled BlazeFace ensemble finds on the
still (its box convention, which the cartoon boxes follow too), scaled with the paste.
"""
from __future__ import annotations

import functools
import math

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .cartoon_styles import HELD_OUT_STYLES, TRAIN_STYLES, render_styles
from .realmotion import STILLS, package_data_dir

REAL_STILLS = ("astronaut", "grace_hopper")
BACKGROUNDS = ("gradient", "noise", "stripes", "clutter")


def _rand(g, lo=0.0, hi=1.0, *shape):
    return lo + (hi - lo) * torch.rand(*(shape or (1,)), generator=g)


def background(kind: str, h: int, w: int, g: torch.Generator) -> torch.Tensor:
    """[3,h,w] in [0,1]."""
    c1, c2 = torch.rand(3, 1, 1, generator=g), torch.rand(3, 1, 1, generator=g)
    yy = torch.linspace(0, 1, h)[:, None].expand(h, w)
    xx = torch.linspace(0, 1, w)[None, :].expand(h, w)
    ang = float(_rand(g, 0, math.pi))
    t = (math.cos(ang) * xx + math.sin(ang) * yy)
    t = (t - t.min()) / (t.max() - t.min() + 1e-6)
    img = c1 * (1 - t) + c2 * t
    if kind == "noise":
        k = int(torch.randint(3, 24, (1,), generator=g))
        low = torch.rand(1, 3, k, max(2, k * w // h), generator=g)
        img = 0.4 * img + 0.6 * F.interpolate(low, size=(h, w), mode="bicubic", align_corners=False)[0]
        img = img + 0.04 * torch.randn(3, h, w, generator=g)
    elif kind == "stripes":
        period = float(_rand(g, 0.02, 0.25)) * max(h, w)
        a2 = float(_rand(g, 0, math.pi))
        phase = (math.cos(a2) * xx * w + math.sin(a2) * yy * h) / period
        other = c2.expand(3, h, w) * 0.5 + 0.5 * torch.rand(3, 1, 1, generator=g)
        img = torch.where((phase % 1 < 0.5)[None], img, other)
    elif kind == "clutter":
        for _ in range(int(torch.randint(5, 30, (1,), generator=g))):
            col = torch.rand(3, 1, 1, generator=g)
            if float(_rand(g)) < 0.3:  # skin-like tones, so that a skin blob alone is not a face
                col = torch.tensor([0.95, 0.75, 0.6])[:, None, None] * float(_rand(g, 0.5, 1.05))
            cx, cy = float(_rand(g)), float(_rand(g))
            rx, ry = float(_rand(g, 0.02, 0.25)), float(_rand(g, 0.02, 0.25))
            shape = int(torch.randint(3, (1,), generator=g))
            if shape == 0:
                m = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 < 1
            elif shape == 1:
                m = ((xx - cx).abs() < rx) & ((yy - cy).abs() < ry)
            else:
                m = ((math.cos(cx * 6) * (xx - cx) + math.sin(cx * 6) * (yy - cy)).abs() < rx * 0.1) & \
                    (((xx - cx) ** 2 + (yy - cy) ** 2) < ry * 4)
            img = torch.where(m[None], col.expand(3, h, w), img)
    return img.clamp(0, 1)


# Photographs without faces for backgrounds (training only; the measuring set keeps BACKGROUNDS): files of the
# scikit-image wheel with their licence as its `skimage/data/_fetchers.py` states it (see DATA.md), and the
# portrait stills away from their faces.
PHOTOS = {"coffee.png": "CC0", "rocket.jpg": "public domain (SpaceX)", "hubble_deep_field.jpg": "public domain (NASA)",
          "brick.png": "CC0", "grass.png": "CC0", "gravel.png": "CC0", "motorcycle_left.png": "CC0",
          "clock_motion.png": "public domain"}
PORTRAITS = ("astronaut", "grace_hopper", "camera")


@functools.lru_cache(maxsize=None)
def _photo(name: str) -> torch.Tensor:
    if name in STILLS:
        st = STILLS[name]
        path = package_data_dir(st.package) / st.file
    else:
        path = package_data_dir("skimage") / name
    img = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255
    return torch.from_numpy(img).permute(2, 0, 1).contiguous()


def photo_background(h: int, w: int, g: torch.Generator) -> torch.Tensor:
    """[3,h,w]: a random crop of a face-free photograph (for a portrait still: a crop that keeps clear of its
    face box by half a box), resized."""
    names = list(PHOTOS) + list(PORTRAITS)
    name = names[int(torch.randint(len(names), (1,), generator=g))]
    img = _photo(name)
    H, W = img.shape[-2:]
    for _ in range(30):
        side = _rand(g, 0.25, 1.0).item() * min(H, W)
        ch, cw = (side, side * w / h) if w <= h else (side * h / w, side)
        ch, cw = int(min(ch, H)), int(min(cw, W))
        y0, x0 = int(_rand(g, 0, H - ch).item()), int(_rand(g, 0, W - cw).item())
        if name in STILLS:
            (cx, cy), half = STILLS[name].center, 1.5 * STILLS[name].half
            if x0 < cx + half and cx - half < x0 + cw and y0 < cy + half and cy - half < y0 + ch:
                continue
        break
    else:
        return background("noise", h, w, g)
    crop = img[:, y0:y0 + ch, x0:x0 + cw]
    if float(_rand(g)) < 0.5:
        crop = crop.flip(-1)
    return F.interpolate(crop[None], size=(h, w), mode="bilinear", align_corners=False, antialias=True)[0].clamp(0, 1)


@functools.lru_cache(maxsize=None)
def real_cutout(name: str) -> tuple[torch.Tensor, torch.Tensor, tuple[float, float, float, float]]:
    """A real still's face region: (colour [3,S,S], alpha [1,S,S], face box in it), S = 3.2 x the box side."""
    from toontalker_core.face import detect_faces, primary_face
    st = STILLS[name]
    img = np.asarray(Image.open(package_data_dir(st.package) / st.file).convert("RGB"), dtype=np.float32) / 255
    t = torch.from_numpy(img).permute(2, 0, 1).contiguous()
    face = primary_face(detect_faces(t, models=("short", "full"))[0])
    if face is None:
        raise RuntimeError(f"the bundled detector finds no face in the still {name}")
    x0, y0, x1, y1 = face.box
    side = max(x1 - x0, y1 - y0)
    cx, cy, half = (x0 + x1) / 2, (y0 + y1) / 2, 1.6 * side
    H, W = t.shape[-2:]
    L, T = int(max(0, cx - half)), int(max(0, cy - half))
    R, B = int(min(W, cx + half)), int(min(H, cy + half))
    crop = t[:, T:B, L:R]
    yy, xx = torch.meshgrid(torch.arange(B - T) + T + 0.5, torch.arange(R - L) + L + 0.5, indexing="ij")
    d = torch.sqrt(((xx - cx) / (1.15 * side)) ** 2 + ((yy - cy) / (1.35 * side)) ** 2)
    alpha = ((1 - d) / 0.15).clamp(0, 1)[None]  # soft round cut, well outside the box
    return crop * alpha, alpha, (x0 - L, y0 - T, x1 - L, y1 - T)


def _faces(kinds: list[str], sides: list[float], g: torch.Generator):
    """Per face: (colour, alpha, box) scaled so that the box side is the requested side (px)."""
    out = [None] * len(kinds)
    toon = [i for i, k in enumerate(kinds) if not k.startswith("real:")]
    for tile in (96, 192):  # big faces are drawn bigger, so that an upscaled face stays crisp
        idx = [i for i in toon if (sides[i] > 100) == (tile == 192)]
        if not idx:
            continue
        colour, alpha, boxes = render_styles([kinds[i] for i in idx], g, tile, supersample=1)
        for j, i in enumerate(idx):
            out[i] = (colour[j], alpha[j], tuple(boxes[j].tolist()))
    for i, k in enumerate(kinds):
        if k.startswith("real:"):
            c, a, b = real_cutout(k[5:])
            if float(_rand(g)) < 0.5:  # mirror
                w = c.shape[-1]
                c, a, b = c.flip(-1), a.flip(-1), (w - b[2], b[1], w - b[0], b[3])
            tone = 1 + 0.15 * (torch.rand(3, 1, 1, generator=g) - 0.5)
            out[i] = ((c * tone).clamp(0, 1), a, b)
    return [scale_face(c, a, b, side) for (c, a, b), side in zip(out, sides)]


def scale_face(c: torch.Tensor, a: torch.Tensor, b, side: float):
    """Resize a face tile (colour, alpha, box) so that its box side becomes `side` px."""
    f = side / (b[2] - b[0])
    h, w = max(2, round(c.shape[-2] * f)), max(2, round(c.shape[-1] * f))
    fy, fx = h / c.shape[-2], w / c.shape[-1]
    both = F.interpolate(torch.cat([c, a])[None], size=(h, w), mode="bilinear", align_corners=False,
                         antialias=f < 1)[0].clamp(0, 1)
    return both[:3], both[3:], (b[0] * fx, b[1] * fy, b[2] * fx, b[3] * fy)


def make_scene(g: torch.Generator, size: tuple[int, int], n_faces: tuple[int, int] = (1, 4),
               face_px: tuple[float, float] = (24, 600), styles=TRAIN_STYLES, real: float = 0.2,
               bg: str | None = None):
    """One scene -> (image [3,H,W], boxes [k,4] px, kinds). Faces do not overlap (boxes 1.2x apart); a face that
    finds no room after a few tries is left out, so k can be below n_faces[0] in crowded small frames."""
    h, w = size
    img = background(bg or BACKGROUNDS[int(torch.randint(len(BACKGROUNDS), (1,), generator=g))], h, w, g)
    n = int(torch.randint(n_faces[0], n_faces[1] + 1, (1,), generator=g))
    hi = min(face_px[1], 0.7 * min(h, w))
    lo = min(face_px[0], hi)
    # log-uniform sizes: as many small faces as big ones
    sides = [math.exp(float(_rand(g, math.log(lo), math.log(hi)))) for _ in range(n)]
    kinds = []
    for _ in range(n):
        if float(_rand(g)) < real:
            kinds.append("real:" + REAL_STILLS[int(torch.randint(len(REAL_STILLS), (1,), generator=g))])
        else:
            kinds.append(styles[int(torch.randint(len(styles), (1,), generator=g))])
    boxes, keep = place_faces(img, _faces(kinds, sides, g), g)
    return img.clamp(0, 1), boxes, [kinds[i] for i in keep]


def place_faces(img: torch.Tensor, faces, g: torch.Generator) -> tuple[torch.Tensor, list[int]]:
    """Paste faces [(colour, alpha, box in the tile)] into img [3,H,W] (in place) at random spots where their
    boxes stay apart -> (boxes [k,4] px, indices of the faces placed)."""
    h, w = img.shape[-2:]
    placed, kept = [], []
    for j, (c, a, b) in enumerate(faces):
        bw, bh = b[2] - b[0], b[3] - b[1]
        for _ in range(20):
            x = float(_rand(g, -b[0], w - b[2])) if w - b[2] > -b[0] else -b[0]
            y = float(_rand(g, -b[1], h - b[3])) if h - b[3] > -b[1] else -b[1]
            box = (b[0] + x, b[1] + y, b[2] + x, b[3] + y)
            if all(box[2] + 0.2 * bw < p[0] or p[2] + 0.2 * bw < box[0] or box[3] + 0.2 * bh < p[1]
                   or p[3] + 0.2 * bh < box[1] for p in placed):
                break
        else:
            continue
        xi, yi = round(x), round(y)
        box = (b[0] + xi, b[1] + yi, b[2] + xi, b[3] + yi)
        # paste the part of the tile that falls inside the frame
        th, tw = c.shape[-2:]
        sx0, sy0 = max(0, -xi), max(0, -yi)
        sx1, sy1 = min(tw, w - xi), min(th, h - yi)
        if sx1 <= sx0 or sy1 <= sy0:
            continue
        region = img[:, yi + sy0:yi + sy1, xi + sx0:xi + sx1]
        al = a[:, sy0:sy1, sx0:sx1]
        img[:, yi + sy0:yi + sy1, xi + sx0:xi + sx1] = region * (1 - al) + c[:, sy0:sy1, sx0:sx1]
        placed.append(box)
        kept.append(j)
    return torch.tensor(placed, dtype=torch.float32).reshape(-1, 4), kept


EVAL_SIZES = ((256, 256), (480, 640), (720, 1280), (1080, 1920), (2160, 3840), (1024, 768))


def eval_set(n: int, seed: int = 0, styles=HELD_OUT_STYLES, real: float = 0.2, sizes=EVAL_SIZES,
             face_px=(24, 600), n_faces=(1, 4)):
    """A fixed measuring set: n scenes (frame sizes cycled through `sizes`), yielded one at a time."""
    g = torch.Generator().manual_seed(seed)
    for i in range(n):
        yield make_scene(g, sizes[i % len(sizes)], n_faces, face_px, styles, real)
