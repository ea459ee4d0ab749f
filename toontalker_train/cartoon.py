"""Procedural cartoon faces: unlimited cartoon "video" with known motion, made from nothing but code.

A face is drawn from signed-distance shapes (no third-party artwork) and composited with anti-aliased
edges, batched in torch. Parameters come in two groups:

- identity (constant over a clip): face shape and proportions, chin, ears, skin/hair/iris/background colours,
  hair style, eye size/spacing/height, eyebrow thickness, nose size, mouth position and width, outline;
- motion (per frame): head yaw, pitch, roll, translation, scale; per-eye openness (blinks), gaze,
  eyebrow raise, mouth opening and smile.

    ident = random_identity(8, generator=g)          # dict of [8] tensors
    motion = random_motion(8, generator=g)
    frames = render(ident, motion, size=64)           # [8,3,64,64] in [0,1]
    clip = render_clip(ident1, trajectory(100, g))    # smooth motion over time

Yaw and pitch are drawn 2.5-D: features sit on a sphere-like surface and shift with parallax (nose most,
ears opposite), the head outline narrows, and the far eye shrinks a little.
"""
from __future__ import annotations

import math

import torch

IDENTITY_RANGES = {
    "face_rx": (0.44, 0.60), "face_ry": (0.54, 0.70), "chin": (0.0, 0.35), "ear_r": (0.06, 0.12),
    "eye_sep": (0.15, 0.24), "eye_y": (-0.08, 0.04), "eye_rx": (0.065, 0.11), "eye_ry": (0.07, 0.12),
    "iris_r": (0.45, 0.75), "brow_w": (0.012, 0.03), "brow_gap": (0.05, 0.09), "nose_r": (0.02, 0.05),
    "mouth_y": (0.25, 0.38), "mouth_w": (0.09, 0.18), "hair_h": (0.0, 1.0), "hair_style": (0.0, 3.0),
    "outline": (0.0, 0.02), "bg_mix": (0.0, 1.0),
}
MOTION_RANGES = {
    "yaw": (-0.7, 0.7), "pitch": (-0.45, 0.45), "roll": (-0.35, 0.35), "tx": (-0.12, 0.12),
    "ty": (-0.10, 0.10), "scale": (0.88, 1.12), "eye_l": (0.0, 1.0), "eye_r": (0.0, 1.0),
    "gaze_x": (-1.0, 1.0), "gaze_y": (-0.8, 0.8), "brow": (-1.0, 1.0), "mouth_open": (0.0, 1.0),
    "smile": (-1.0, 1.0),
}
NEUTRAL_MOTION = {"yaw": 0.0, "pitch": 0.0, "roll": 0.0, "tx": 0.0, "ty": 0.0, "scale": 1.0, "eye_l": 1.0,
                  "eye_r": 1.0, "gaze_x": 0.0, "gaze_y": 0.0, "brow": 0.0, "mouth_open": 0.0, "smile": 0.3}

_SKIN = torch.tensor([[1.00, 0.86, 0.74], [0.96, 0.76, 0.62], [0.80, 0.58, 0.42], [0.55, 0.38, 0.26],
                      [0.98, 0.93, 0.85], [0.70, 0.88, 0.70], [0.75, 0.80, 1.00], [1.00, 0.80, 0.85]])
_HAIR = torch.tensor([[0.15, 0.10, 0.06], [0.45, 0.28, 0.12], [0.95, 0.80, 0.35], [0.70, 0.20, 0.10],
                      [0.10, 0.10, 0.12], [0.30, 0.45, 0.90], [0.85, 0.35, 0.65], [0.55, 0.55, 0.58]])


def _uniform(n, lo, hi, g):
    return lo + (hi - lo) * torch.rand(n, generator=g)


def _palette(pal, n, g, jitter=0.08):
    idx = torch.randint(len(pal), (n,), generator=g)
    return (pal[idx] + jitter * (torch.rand(n, 3, generator=g) - 0.5)).clamp(0, 1)


def random_identity(n: int, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
    """n random characters: dict of [n] tensors (colours [n,3])."""
    g = generator
    ident = {k: _uniform(n, lo, hi, g) for k, (lo, hi) in IDENTITY_RANGES.items()}
    ident["skin"] = _palette(_SKIN, n, g)
    ident["hair"] = _palette(_HAIR, n, g)
    ident["iris"] = torch.rand(n, 3, generator=g) * 0.7
    ident["bg1"] = torch.rand(n, 3, generator=g)
    ident["bg2"] = torch.rand(n, 3, generator=g)
    ident["lip"] = (torch.tensor([0.75, 0.25, 0.25]) + 0.2 * (torch.rand(n, 3, generator=g) - 0.5)).clamp(0, 1)
    return ident


def random_motion(n: int, generator: torch.Generator | None = None, amount: float = 1.0) -> dict[str, torch.Tensor]:
    """n random poses/expressions; `amount` scales the range around the neutral pose. Eyes are mostly
    open (a blink is a rarer event) and the mouth is closed about a third of the time."""
    g = generator
    m = {}
    for k, (lo, hi) in MOTION_RANGES.items():
        c = NEUTRAL_MOTION[k]
        m[k] = c + amount * (_uniform(n, lo, hi, g) - c) if k not in ("eye_l", "eye_r", "mouth_open") else None
    both = torch.where(torch.rand(n, generator=g) < 0.25, torch.rand(n, generator=g) * 0.6,
                       0.6 + 0.4 * torch.rand(n, generator=g))
    m["eye_l"] = (both + 0.15 * (torch.rand(n, generator=g) - 0.5)).clamp(0, 1)
    m["eye_r"] = (both + 0.15 * (torch.rand(n, generator=g) - 0.5)).clamp(0, 1)
    mo = torch.rand(n, generator=g)
    m["mouth_open"] = torch.where(torch.rand(n, generator=g) < 0.35, torch.zeros(n), mo) * amount
    return m


def neutral_motion(n: int) -> dict[str, torch.Tensor]:
    return {k: torch.full((n,), float(v)) for k, v in NEUTRAL_MOTION.items()}


def trajectory(n_frames: int, generator: torch.Generator | None = None, fps: float = 25.0,
               amount: float = 1.0) -> dict[str, torch.Tensor]:
    """Smooth motion for one clip: each parameter is a sum of a few random sinusoids around neutral, blinks
    are short dips of both eyes, and the mouth opens and closes like speech. Frame 0 is near neutral."""
    g = generator
    t = torch.arange(n_frames, dtype=torch.float32) / fps
    ramp = (t / 0.6).clamp(max=1.0)
    out = {}
    for k, (lo, hi) in MOTION_RANGES.items():
        if k in ("eye_l", "eye_r", "mouth_open"):
            continue
        c, half = NEUTRAL_MOTION[k], (hi - lo) / 2
        sig = torch.zeros(n_frames)
        for _ in range(3):
            f = 0.1 + 0.6 * torch.rand((), generator=g).item()
            ph = 2 * math.pi * torch.rand((), generator=g).item()
            sig += torch.sin(2 * math.pi * f * t + ph) - math.sin(ph)
        out[k] = c + amount * half * (sig / 3).clamp(-1, 1) * ramp
    eyes = torch.ones(n_frames)
    for _ in range(max(1, n_frames // 60)):
        c = torch.randint(n_frames, (), generator=g).item()
        w = 2 + torch.randint(3, (), generator=g).item()
        eyes = torch.minimum(eyes, ((t * fps - c).abs() / w).clamp(0, 1))
    out["eye_l"] = out["eye_r"] = eyes
    speech = 0.5 + 0.5 * torch.sin(2 * math.pi * 3.0 * t + 2 * math.pi * torch.rand((), generator=g).item())
    env = 0.5 + 0.5 * torch.sin(2 * math.pi * 0.35 * t)
    out["mouth_open"] = (amount * speech * env * ramp).clamp(0, 1)
    return out


def _soft(sdf: torch.Tensor, px: float) -> torch.Tensor:
    """Coverage of the inside (sdf < 0) with an anti-aliased edge about one pixel wide."""
    return torch.sigmoid(-sdf / (0.45 * px))


def _ellipse_sdf(x, y, cx, cy, rx, ry):
    """Approximate signed distance to an axis-aligned ellipse: the implicit function divided by its gradient
    length (first order; accurate near the edge, also for very thin ellipses such as a closing eye).
    Radii count by magnitude, at least 1e-6: the squeezed chin's radius crosses 0 below the face, and an
    exact 0 there made a pixel 0/0 (NaN) about once in a few thousand characters."""
    rx, ry = torch.as_tensor(rx).abs().clamp(min=1e-6), torch.as_tensor(ry).abs().clamp(min=1e-6)
    ax, ay = (x - cx) / rx, (y - cy) / ry
    q = torch.sqrt(ax * ax + ay * ay + 1e-12)
    grad = torch.sqrt((ax / rx) ** 2 + (ay / ry) ** 2 + 1e-12) / q
    return (q - 1) / grad


def _over(img, colour, alpha):
    return img * (1 - alpha) + colour * alpha


def render(ident: dict[str, torch.Tensor], motion: dict[str, torch.Tensor], size: int = 64,
           supersample: int = 2) -> torch.Tensor:
    """Draw the characters `ident` in poses `motion` (batched; the batch is broadcast from 1) -> [B,3,S,S]
    in [0,1]. Drawn at `supersample` x the size and area-downsampled."""
    n = max(v.shape[0] for v in list(ident.values()) + list(motion.values()))
    P = {k: (v.expand(n, *v.shape[1:]) if v.shape[0] == 1 else v).float() for k, v in {**ident, **motion}.items()}
    s = size * supersample
    px = 2.0 / s
    lin = (torch.arange(s, dtype=torch.float32) + 0.5) / s * 2 - 1
    Y, X = torch.meshgrid(lin, lin, indexing="ij")
    X, Y = X[None].expand(n, -1, -1), Y[None].expand(n, -1, -1)

    def col(v):
        return v[:, :, None, None]

    def sc(name):
        return P[name][:, None, None]

    # background: vertical gradient between two colours
    t = ((Y + 1) / 2)[:, None]
    img = col(P["bg1"]) * (1 - t) + col(P["bg2"]) * t
    img = img * (0.75 + 0.25 * sc("bg_mix")[:, None])

    # head frame: undo translation, scale and roll
    scale = sc("scale")
    hx, hy = (X - sc("tx")) / scale, (Y - sc("ty")) / scale
    r = sc("roll")
    cr, sr = torch.cos(r), torch.sin(r)
    u, v = cr * hx + sr * hy, -sr * hx + cr * hy
    yaw, pitch = sc("yaw"), sc("pitch")
    # parallax: a feature at depth d (0 = head outline plane, 1 = nose tip) moves by d * (sin yaw, sin pitch)
    dx, dy = 0.22 * torch.sin(yaw), 0.18 * torch.sin(pitch)
    pxs = px / scale

    rx = sc("face_rx") * (1 - 0.12 * yaw.abs())
    ry = sc("face_ry") * (1 - 0.06 * pitch.abs())
    ox, oy = 0.35 * dx, 0.35 * dy  # the outline moves a little with the turn
    # hair behind the head (long hair styles 2..3)
    long_hair = (sc("hair_style") > 2).float()[:, None]
    back = _soft(_ellipse_sdf(u, v, ox * 0.5, oy - 0.05, rx * 1.25, ry * 1.15), pxs)[:, None] * long_hair
    img = _over(img, col(P["hair"]) * 0.85, back)
    # ears: on the sides, moving opposite to the turn (and hidden behind the head as it turns)
    ear_y = oy + 0.02 - 0.5 * dy
    for side in (-1.0, 1.0):
        ex = ox + side * rx * 0.98 - 0.8 * dx
        ear = _soft(_ellipse_sdf(u, v, ex, ear_y, sc("ear_r") * 0.8, sc("ear_r") * 1.2), pxs)[:, None]
        img = _over(img, col(P["skin"]) * 0.85, ear)
    # face: ellipse with a narrower chin (the lower half is squeezed horizontally)
    below = ((v - oy) / ry).clamp(min=0)
    rx_chin = rx * (1 - sc("chin") * below ** 2)
    face_sdf = _ellipse_sdf(u, v, ox, oy, rx_chin, ry)
    outline = sc("outline")
    face_out = _soft(face_sdf - outline, pxs)[:, None]
    img = _over(img, torch.zeros_like(col(P["skin"])) + 0.15, face_out)
    face = _soft(face_sdf, pxs)[:, None]
    # soft shading towards the side the head turns away from
    shade = 1 - 0.12 * ((u - ox) / rx * torch.sign(yaw + 1e-6)).clamp(min=0)[:, None] * yaw.abs()[:, None]
    img = _over(img, col(P["skin"]) * shade, face)
    # cheeks
    for side in (-1.0, 1.0):
        ck = _soft(_ellipse_sdf(u, v, ox + dx * 0.7 + side * rx * 0.55, oy + 0.16 + dy * 0.7,
                                0.07 + 0 * rx, 0.045 + 0 * rx), pxs)[:, None] * face * 0.25
        img = _over(img, col(P["lip"]), ck)

    # hair on top: everything of the head above a wavy line, or a cap shape for style 1
    hair_line = oy - ry * (0.35 + 0.3 * sc("hair_h")) + 0.04 * torch.sin(9 * (u - ox)) * (sc("hair_style") % 1)
    head_cap = _ellipse_sdf(u, v, ox + 0.3 * dx, oy - 0.04, rx * 1.06, ry * 1.04)
    cap = torch.maximum(head_cap, v - hair_line - 0.35 * dy)
    bangs = (sc("hair_style") < 1).float()  # style 0: side fringe reaching lower on one side
    cap = torch.minimum(cap, torch.maximum(head_cap, v - hair_line - 0.12 * bangs * (u - ox + 0.2)))
    hair = _soft(cap, pxs)[:, None] * (sc("hair_style") >= 0.3).float()[:, None]
    img = _over(img, col(P["hair"]), hair)

    # eyes: whites (openness scales the height), iris + pupil follow the gaze, lids as dark lines
    fx, fy = ox + dx, oy + dy  # feature plane at depth ~1
    eye_y = fy + sc("eye_y")
    for side, key in ((-1.0, "eye_l"), (1.0, "eye_r")):
        far = (1 - 0.25 * (side * yaw).clamp(min=0))  # the eye on the far side looks smaller
        ex = fx + side * sc("eye_sep") * (1 - 0.15 * yaw.abs())
        erx, ery = sc("eye_rx") * far, sc("eye_ry") * far
        open_ = sc(key).clamp(0.04, 1.0)
        white_sdf = _ellipse_sdf(u, v, ex, eye_y, erx, ery * open_)
        rim = _soft(white_sdf - 0.012, pxs)[:, None]
        img = _over(img, torch.zeros_like(col(P["skin"])) + 0.08, rim)
        white = _soft(white_sdf, pxs)[:, None]
        img = _over(img, torch.ones_like(col(P["skin"])) * 0.97, white)
        ir = sc("iris_r") * torch.minimum(erx, ery)
        ix = ex + sc("gaze_x") * (erx - ir) * 0.8
        iy = eye_y + sc("gaze_y") * (ery - ir).clamp(min=0) * 0.8
        iris = _soft(_ellipse_sdf(u, v, ix, iy, ir, ir), pxs)[:, None] * white
        img = _over(img, col(P["iris"]), iris)
        pupil = _soft(_ellipse_sdf(u, v, ix, iy, ir * 0.5, ir * 0.5), pxs)[:, None] * white
        img = _over(img, torch.zeros_like(col(P["skin"])) + 0.02, pupil)
        glint = _soft(_ellipse_sdf(u, v, ix - ir * 0.35, iy - ir * 0.35, ir * 0.22, ir * 0.22), pxs)[:, None] * white
        img = _over(img, torch.ones_like(col(P["skin"])), glint)
        # brow: a thick slightly arched bar above the eye, raised by `brow`
        by = eye_y - ery - sc("brow_gap") - 0.035 * sc("brow") + 0.6 * ((u - ex) / (erx * 1.4)) ** 2 * 0.04
        brow_sdf = torch.maximum((v - by).abs() - sc("brow_w"), (u - ex).abs() - erx * 1.2)
        brow = _soft(brow_sdf, pxs)[:, None]
        img = _over(img, col(P["hair"]) * 0.7, brow)

    # nose: a small shaded blob at the most forward point
    nx, ny = ox + 1.3 * dx, oy + 0.10 + 1.3 * dy
    nose = _soft(_ellipse_sdf(u, v, nx, ny, sc("nose_r") * 1.1, sc("nose_r")), pxs)[:, None]
    img = _over(img, col(P["skin"]) * 0.78, nose)

    # mouth: an open mouth is a dark ellipse with a tongue; a closed one a curved line; smile bends both
    mx, my = fx * 0.9 + ox * 0.1, fy + sc("mouth_y")
    mw = sc("mouth_w") * (1 - 0.2 * yaw.abs()) * (1 + 0.15 * sc("smile"))
    xm = (u - mx) / mw
    curve = -0.05 * sc("smile") * (1 - xm.clamp(-1, 1) ** 2)  # smile lifts the corners (y grows downward)
    mo = sc("mouth_open")
    half_h = 0.008 + 0.09 * mo
    in_x = xm.abs() - 1
    mouth_sdf = torch.maximum(in_x * mw, (v - my - curve + 0.5 * half_h * 0).abs() - half_h * (1 - xm.clamp(-1, 1) ** 2).sqrt())
    lips = _soft(mouth_sdf - 0.01, pxs)[:, None]
    img = _over(img, col(P["lip"]) * 0.8, lips)
    inner = _soft(mouth_sdf, pxs)[:, None] * (mo > 0.05).float()[:, None]
    img = _over(img, torch.tensor([0.25, 0.05, 0.08])[None, :, None, None].expand_as(img), inner)
    tongue = _soft(_ellipse_sdf(u, v, mx, my + curve + half_h * 0.55, mw * 0.5, half_h * 0.45), pxs)[:, None] * inner
    img = _over(img, torch.tensor([0.85, 0.35, 0.40])[None, :, None, None].expand_as(img), tongue)

    img = img.clamp(0, 1)
    if supersample > 1:
        img = torch.nn.functional.avg_pool2d(img, supersample)
    return img


def render_clip(ident: dict[str, torch.Tensor], motion: dict[str, torch.Tensor], size: int = 64,
                chunk: int = 32) -> torch.Tensor:
    """One character (batch of 1) along a trajectory (dict of [T]) -> [T,3,S,S] in [0,1]."""
    n = next(iter(motion.values())).shape[0]
    out = []
    for i in range(0, n, chunk):
        out.append(render(ident, {k: v[i:i + chunk] for k, v in motion.items()}, size))
    return torch.cat(out)


def select(params: dict[str, torch.Tensor], idx) -> dict[str, torch.Tensor]:
    return {k: v[idx] for k, v in params.items()}
