"""Measure how steady the tracked driving crop is on synthetic moving faces with known trajectories.

    python tools/measure_tracking.py [--frames 150] [--fps 25] [--seeds 3] [--frame 320x240]

A procedural cartoon face (toontalker_train/cartoon.py, made here from code) moves over a smooth random
background along a known path; some frames drop the face (occlusion: the detector finds nothing), and a
second face (the distractor) flashes far from the track while the tracked face is hidden. The tracker
(`FaceCropper`, tracked mode, default settings) sees only the frames. Figures, in % of the face size:

    jitter     RMS over frames of |box motion - true motion| (frame-to-frame, box centre)
    max jump   the largest single frame's |box motion - true motion|
    on distractor  frames whose box centre is nearer the distractor than the true face

`--frame 1280x720` puts the same face (about 48 px) in a large frame, where it is 7 px in the detector's
whole-frame look: the tracker has to look near the track to keep it.

For before / after figures, run this script in a checkout of each revision (it uses only the public API).
"""
from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from toontalker_core.face import FaceCropper, detect_faces  # noqa: E402
from toontalker_train import cartoon as C  # noqa: E402

FACE_TILE = 96        # px: the rendered character tile (the face itself is about half of it)
HEIGHT, WIDTH = 240, 320


@dataclass
class Scene:
    frames: torch.Tensor             # [N,3,H,W]
    centres: torch.Tensor            # [N,2] the true face centre (tile centre) per frame
    distractor: torch.Tensor         # [N,2] the distractor's centre, NaN where it is absent
    visible: torch.Tensor            # [N] bool: the tracked face is drawn


def background(generator: torch.Generator, h: int = HEIGHT, w: int = WIDTH) -> torch.Tensor:
    """A smooth random colour field [1,3,h,w] (low-frequency noise: no face-like structure)."""
    coarse = torch.rand(1, 3, h // 40 + 2, w // 40 + 2, generator=generator) * 0.5 + 0.25
    return F.interpolate(coarse, size=(h, w), mode="bicubic", align_corners=False).clamp(0, 1)


def characters(n: int, seed: int, pool: int = 12) -> torch.Tensor:
    """n neutral-pose cartoon tiles [n,3,FACE_TILE,FACE_TILE]: the first of `pool` random identities that the
    detector finds confidently on a plain tile (the measure is about tracking, not about detection)."""
    g = torch.Generator().manual_seed(seed)
    tiles = C.render(C.random_identity(pool, generator=g), C.neutral_motion(pool), size=FACE_TILE)
    found = detect_faces(F.pad(tiles, (32, 32, 32, 32), value=0.5))
    good = [i for i, faces in enumerate(found) if faces and faces[0].score >= 0.6]
    if len(good) < n:
        raise RuntimeError(f"only {len(good)} of {pool} cartoon identities are detected (seed {seed})")
    return tiles[good[:n]]


def paste(frame: torch.Tensor, tile: torch.Tensor, cx: float, cy: float) -> None:
    """Put `tile` centred at (cx, cy), rounded to whole pixels (the truth is the rounded position)."""
    s = tile.shape[-1]
    x, y = round(cx - s / 2), round(cy - s / 2)
    frame[:, y:y + s, x:x + s] = tile


def moving_scene(n: int = 150, fps: float = 25.0, seed: int = 0, drops=((40, 46), (90, 91), (110, 118)),
                 distractor=(110, 114), size: tuple[int, int] = (HEIGHT, WIDTH)) -> Scene:
    """The tracked face on a smooth path (amplitudes ~1 face size, periods 2-3 s) over a static background;
    frames in the `drops` ranges [a, b) hide the face; in the `distractor` range a second face shows up on the
    far side of the frame."""
    g = torch.Generator().manual_seed(seed)
    tiles = characters(2, seed)
    HEIGHT, WIDTH = size  # noqa: N806 (the frame size of this scene)
    t = torch.arange(n, dtype=torch.float64) / fps
    cx = WIDTH / 2 + 70 * torch.sin(2 * math.pi * t / 3.0 + seed)
    cy = HEIGHT / 2 + 30 * torch.sin(2 * math.pi * t / 2.2 + 1.0 + seed)
    cx, cy = cx.round(), cy.round()
    frames = background(g, HEIGHT, WIDTH).repeat(n, 1, 1, 1)
    visible = torch.ones(n, dtype=torch.bool)
    for a, b in drops:
        visible[a:b] = False
    far = torch.full((n, 2), math.nan, dtype=torch.float64)
    for i in range(n):
        if visible[i]:
            paste(frames[i], tiles[0], float(cx[i]), float(cy[i]))
        if distractor[0] <= i < distractor[1]:
            # the far side of the frame from the (hidden) face
            dx = FACE_TILE / 2 + 4 if cx[i] > WIDTH / 2 else WIDTH - FACE_TILE / 2 - 4
            dy = FACE_TILE / 2 + 4 if cy[i] > HEIGHT / 2 else HEIGHT - FACE_TILE / 2 - 4
            paste(frames[i], tiles[1], dx, dy)
            corner = torch.tensor([round(dx - FACE_TILE / 2), round(dy - FACE_TILE / 2)], dtype=torch.float64)
            far[i] = corner + FACE_TILE / 2  # the pasted tile's centre
    return Scene(frames, torch.stack([cx, cy], dim=1), far, visible)


def track(scene: Scene, fps: float, chunk: int = 16) -> tuple[torch.Tensor, FaceCropper]:
    """Crop boxes [N,3] of the tracked crop, streamed in chunks as the CLI does; the cropper (for its counts)."""
    cropper = FaceCropper(64, "tracked", fps=fps, warn=lambda msg: None)
    cropper.start(scene.frames[0])
    boxes = [cropper.transforms(scene.frames[i:i + chunk]).boxes for i in range(0, len(scene.frames), chunk)]
    return torch.cat(boxes), cropper


def figures(scene: Scene, boxes: torch.Tensor) -> dict[str, float]:
    """jitter, max jump (in % of the face size) and frames on the distractor."""
    centre = boxes[:, :2] + boxes[:, 2:3] / 2
    face = float(boxes[0, 2]) / 1.9  # the crop box is DEFAULT_SCALE face sizes
    excess = ((centre[1:] - centre[:-1]) - (scene.centres[1:] - scene.centres[:-1])).norm(dim=1) / face * 100
    near_true = (centre - scene.centres).norm(dim=1)
    near_far = (centre - scene.distractor).norm(dim=1)
    on_far = int((near_far < near_true).sum())  # NaN (no distractor) compares False
    return {"jitter": float(excess.pow(2).mean().sqrt()), "max_jump": float(excess.max()),
            "on_distractor": on_far, "error": float(near_true.mean() / face * 100)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", type=int, default=150)
    p.add_argument("--fps", type=float, default=25.0)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--frame", default=f"{WIDTH}x{HEIGHT}", help="frame size WxH")
    args = p.parse_args()
    w, h = (int(v) for v in args.frame.lower().split("x"))
    print(f"{'seed':>4} {'jitter %':>9} {'max jump %':>11} {'on distractor':>14} {'mean error %':>13} "
          f"{'hidden':>7} {'missed':>7}")
    rows = []
    for seed in range(args.seeds):
        scene = moving_scene(args.frames, args.fps, seed, size=(h, w))
        boxes, cropper = track(scene, args.fps)
        f = figures(scene, boxes)
        rows.append(f)
        print(f"{seed:>4} {f['jitter']:>9.2f} {f['max_jump']:>11.1f} {f['on_distractor']:>14d} "
              f"{f['error']:>13.1f} {int((~scene.visible).sum()):>7d} {cropper.missed:>7d}")
    mean = {k: sum(r[k] for r in rows) / len(rows) for k in rows[0]}
    print(f"mean {mean['jitter']:>9.2f} {mean['max_jump']:>11.1f} {mean['on_distractor']:>14.1f} "
          f"{mean['error']:>13.1f}")


if __name__ == "__main__":
    main()
