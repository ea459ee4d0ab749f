"""Real-domain training clips from public-domain / CC0 stills, animated with known synthetic motion.

Each still has a hand-annotated face box and landmarks (eyes, mouth). A frame is one inverse warp of the still:

    output pixel --(inverse head affine: translation, scale, roll, yaw/pitch foreshortening)-->
    head frame   --(inverse yaw/pitch "bulge": the face centre moves more than its outline)-->
    face frame   --(local expression warps: eyelids close, iris shifts with gaze, brows rise, the jaw drops
                    and the lips part, mouth corners lift)--> still pixel

sampled with bilinear interpolation at 2x the output size and area-downsampled. The motion parameters are the
same as the cartoon renderer's (`cartoon.MOTION_RANGES`), so `cartoon.random_motion`/`trajectory` drive both.

The stills ship inside scikit-image's wheel (`skimage/data/*.png`) and matplotlib's
(`matplotlib/mpl-data/sample_data/grace_hopper.jpg`), read with Pillow from the installed packages (neither
is imported). Licences: astronaut (NASA, public domain), camera (CC0, Lav Varshney), chelsea (CC0, Stefan
van der Walt), coffee (CC0, Rachel Michetti), as stated in scikit-image's docstrings; grace_hopper (official
U.S. Navy photograph of Grace Hopper: a U.S. federal government work, public domain). See DATA.md.
"""
from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image


@dataclass(frozen=True)
class Still:
    file: str
    center: tuple[float, float]          # face-box centre (px, x/y) in the original image
    half: float                          # half side of the face box (px)
    eyes: tuple[tuple[float, float], ...]
    mouth: tuple[float, float] | None
    weight: float
    licence: str
    package: str = "skimage"             # the installed package whose data folder holds the file


# Landmarks annotated by hand on the images as shipped in scikit-image 0.26 (pixel coordinates).
STILLS = {
    "astronaut": Still("astronaut.png", (225, 116), 86, ((203, 100), (247, 103)), (225, 145), 0.5,
                       "public domain (NASA photograph of Eileen Collins)"),
    "camera": Still("camera.png", (220, 142), 74, ((235, 145),), (237, 176), 0.2,
                    "CC0 (photographer Lav Varshney)"),
    "chelsea": Still("chelsea.png", (245, 165), 135, ((170, 115), (318, 130)), (262, 252), 0.2,
                     "CC0 (photographer Stefan van der Walt)"),
    "coffee": Still("coffee.png", (300, 200), 170, (), None, 0.1, "CC0 (photographer Rachel Michetti)"),
    # landmarks from the project's face detector (toontalker_core.face), checked by eye
    "grace_hopper": Still("grace_hopper.jpg", (266, 222), 135, ((224, 191), (309, 189)), (268, 278), 0.3,
                          "public domain (official U.S. Navy photograph of Grace Hopper)", "matplotlib"),
}
# The held-out sets keep the stills and weights of the first demo model, so that tables stay comparable.
EVAL_STILLS = ("astronaut", "camera", "chelsea", "coffee")
DATA_DIRS = {"skimage": ("data",), "matplotlib": ("mpl-data", "sample_data")}


def package_data_dir(package: str = "skimage") -> Path:
    """The data folder of an installed package (found without importing it)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"the synthetic real domain needs the stills bundled with {package}: "
                           "pip install -r requirements-train.txt")
    return Path(list(spec.submodule_search_locations)[0]).joinpath(*DATA_DIRS[package])


class StillBank:
    """The stills, pre-scaled so that a face box is about `2 * size` pixels (the supersampled output)."""

    def __init__(self, size: int = 64, names: list[str] | None = None, supersample: int = 2):
        self.size, self.ss = size, supersample
        self.names = list(names or STILLS)
        self.images, self.meta = [], []
        for name in self.names:
            st = STILLS[name]
            im = Image.open(package_data_dir(st.package) / st.file).convert("RGB")
            k = (size * supersample * 1.3) / (2 * st.half)  # leave room for zoom-out augmentation
            k = min(k, 1.0)
            im = im.resize((max(1, round(im.width * k)), max(1, round(im.height * k))), Image.LANCZOS)
            t = torch.from_numpy(np.asarray(im).copy()).permute(2, 0, 1).float() / 255
            self.images.append(t)
            self.meta.append((st, k))
        w = torch.tensor([STILLS[n].weight for n in self.names])
        self.weights = w / w.sum()

    def render(self, idx: int, motion: dict[str, torch.Tensor], box_jitter: torch.Tensor | None = None,
               identity: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        """Still `idx` in the poses `motion` (dict of [N]) -> [N,3,size,size] in [0,1].

        box_jitter [3]: (dx, dy, log-scale) of the face box, in box units (identity augmentation, shared by
        every frame of a clip). identity: one draw of `random_identity_warp` (a new face shape, shared by every
        frame of a clip)."""
        img = self.images[idx]
        st, k = self.meta[idx]
        n = next(iter(motion.values())).shape[0]
        s = self.size * self.ss
        cx, cy, half = st.center[0] * k, st.center[1] * k, st.half * k
        if box_jitter is not None:
            cx += float(box_jitter[0]) * half
            cy += float(box_jitter[1]) * half
            half *= math.exp(float(box_jitter[2]))
        lin = (torch.arange(s, dtype=torch.float32) + 0.5) / s * 2 - 1
        gy, gx = torch.meshgrid(lin, lin, indexing="ij")
        x, y = gx[None].expand(n, -1, -1), gy[None].expand(n, -1, -1)

        def p(name):
            return motion[name].float()[:, None, None]

        # 1. inverse head affine (roll about the face centre, translation, scale, foreshortening)
        x, y = (x - p("tx")) / p("scale"), (y - p("ty")) / p("scale")
        r = p("roll")
        x, y = torch.cos(r) * x + torch.sin(r) * y, -torch.sin(r) * x + torch.cos(r) * y
        yaw, pitch = p("yaw"), p("pitch")
        x = x / (1 - 0.10 * yaw.abs())
        y = y / (1 - 0.06 * pitch.abs())
        # 2. bulge: the face centre moves with the turn more than the edges
        bulge = torch.exp(-(x ** 2 + y ** 2) / (2 * 0.42 ** 2))
        x = x - 0.16 * torch.sin(yaw) * bulge
        y = y - 0.12 * torch.sin(pitch) * bulge

        # 3. local expression warps (in face-box units)
        def box(pt):
            return (pt[0] * k - cx) / half, (pt[1] * k - cy) / half

        eyes = [box(e) for e in st.eyes]
        dist = (math.hypot(eyes[1][0] - eyes[0][0], eyes[1][1] - eyes[0][1]) if len(eyes) == 2 else 0.45)
        sx, sy = 0.28 * dist, 0.16 * dist
        for i, (ex, ey) in enumerate(eyes):
            key = "eye_l" if (len(eyes) == 1 or ex == min(e[0] for e in eyes)) else "eye_r"
            open_ = p(key).clamp(0.15, 1.0)
            w = torch.exp(-((x - ex) ** 2 / (2 * sx ** 2) + (y - ey) ** 2 / (2 * sy ** 2)))
            y = y + w * ((y - ey) / open_ - (y - ey)).clamp(-2 * sy, 2 * sy)
            wt = torch.exp(-((x - ex) ** 2 + (y - ey) ** 2) / (2 * (0.12 * dist) ** 2))
            x = x - wt * p("gaze_x") * 0.05 * dist
            y = y - wt * p("gaze_y") * 0.03 * dist
            wb = torch.exp(-((x - ex) ** 2 / (2 * (0.35 * dist) ** 2) + (y - (ey - 0.3 * dist)) ** 2
                             / (2 * (0.15 * dist) ** 2)))
            y = y + wb * p("brow") * 0.06 * dist
        if st.mouth is not None:
            mx, my = box(st.mouth)
            mw = 0.5 * dist
            # jaw drop: everything below the lip line moves down, fading out sideways and below the chin
            below = torch.sigmoid((y - my) / (0.03 * dist))
            side = torch.exp(-(x - mx) ** 2 / (2 * (0.9 * mw) ** 2))
            fade = torch.exp(-((y - my).clamp(min=0)) ** 2 / (2 * (1.0 * dist) ** 2))
            y = y - p("mouth_open") * 0.22 * dist * below * side * fade
            # lips part: vertical stretch around the lip line
            wl = torch.exp(-((x - mx) ** 2 / (2 * mw ** 2) + (y - my) ** 2 / (2 * (0.12 * dist) ** 2)))
            y = y - wl * p("mouth_open") * 0.4 * (y - my)
            # smile: the corners move up and out
            for sgn in (-1.0, 1.0):
                wc = torch.exp(-((x - (mx + sgn * mw * 0.8)) ** 2 + (y - my) ** 2) / (2 * (0.25 * dist) ** 2))
                x = x - wc * p("smile") * sgn * 0.06 * dist
                y = y + wc * p("smile") * 0.08 * dist

        if identity is not None:  # a reshaped face: applied last, so the motion moves the new shape
            x, y = reshape_face(x, y, identity)

        # 4. face box -> image coordinates (grid_sample, align_corners=False)
        H, W = img.shape[1:]
        gxn = ((cx + x * half) / W) * 2 - 1
        gyn = ((cy + y * half) / H) * 2 - 1
        grid = torch.stack((gxn, gyn), -1)
        out = F.grid_sample(img[None].expand(n, -1, -1, -1), grid, mode="bilinear", padding_mode="border",
                            align_corners=False)
        if self.ss > 1:
            out = F.avg_pool2d(out, self.ss)
        return out.clamp(0, 1)

    def pick(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.multinomial(self.weights, n, replacement=True, generator=generator)


def random_identity_warp(g: torch.Generator, strength: float = 1.0, bumps: int = 3) -> dict[str, torch.Tensor]:
    """A random face reshaping, in face-box units: aspect [2] (log-scales of width and height) and `bumps`
    smooth displacements [K,4] (centre x, y; shift x, y). Small enough that the hand-set landmarks stay on
    their features (largest shift 0.05 box units); large enough that the eye spacing, face width, jaw and
    cheeks differ from the still's: new identities for the motion encoder to ignore."""
    u = lambda *shape: 2 * torch.rand(*shape, generator=g) - 1  # noqa: E731
    centres = 0.6 * u(bumps, 2)
    shifts = 0.05 * strength * u(bumps, 2)
    return {"aspect": torch.tensor([0.12, 0.08]) * strength * u(2), "bumps": torch.cat([centres, shifts], 1)}


def reshape_face(x: torch.Tensor, y: torch.Tensor, identity: dict[str, torch.Tensor], sigma: float = 0.35):
    """Inverse map of `random_identity_warp`: face-box coordinates of the new face -> those of the still."""
    ax, ay = torch.exp(identity["aspect"]).tolist()
    x, y = x * ax, y * ay
    dx, dy = torch.zeros_like(x), torch.zeros_like(y)
    for cx, cy, sx, sy in identity["bumps"].tolist():
        w = torch.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * sigma ** 2))
        dx, dy = dx + sx * w, dy + sy * w
    return x + dx, y + dy
