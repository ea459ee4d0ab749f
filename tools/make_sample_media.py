"""Generate the project's own sample driving video from a public-domain portrait, and the two-face picture.

    python tools/make_sample_media.py [--source samples/source_real.png] [--out samples/driving.mp4]
    python tools/make_sample_media.py --two-faces samples/source_two_faces.png

The portrait is animated with smooth synthetic head motion (roll, nods, turns, a slow lean
in/out) by an affine warp, and a soft synthesized melody is muxed in as AAC so that audio copying
can be exercised. Everything is computed, so the output is as free to redistribute as the source
and is deterministic (same input -> same frames and samples).

`--two-faces OUT` puts the two sample portraits side by side (the real one on the left, the cartoon on the
right) on a plain background: a picture with two faces of different domains, made only from the samples.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from toontalker_core.media import FrameWriter, load_image, resize_to  # noqa: E402

MAX_ROLL_DEG, MAX_SHIFT_PX, MAX_SCALE = 8.0, 6.0, 0.04
AUDIO_RATE = 16000
PENTATONIC_HZ = (523.25, 587.33, 659.25, 783.99, 880.00)  # C5 D5 E5 G5 A5
MELODY = (0, 2, 4, 3, 2, 1, 0, 2)                          # indices into PENTATONIC_HZ


def bump(t: np.ndarray, center: float, half_width: float) -> np.ndarray:
    """Raised-cosine window: 1 at `center`, 0 beyond +-half_width (smooth start and end of a gesture)."""
    x = np.clip((t - center) / half_width, -1.0, 1.0)
    return 0.5 * (1.0 + np.cos(np.pi * x))


def head_motion(t: np.ndarray) -> dict[str, np.ndarray]:
    """Per-frame roll (deg), shift (px), scale; neutral at t=0 so frame 0 can serve as the reference."""
    ease_in = np.clip(t / 0.4, 0.0, 1.0) ** 2
    nods = (np.sin(2 * np.pi * 2.0 * (t - 0.5)) * bump(t, 0.9, 0.5)
            + np.sin(2 * np.pi * 2.0 * (t - 2.7)) * bump(t, 3.1, 0.5))
    turns = np.sin(2 * np.pi * (t - 1.3) / 1.6) * bump(t, 2.1, 0.8)
    roll = np.sin(2 * np.pi * 0.3 * t) * ease_in
    lean = np.sin(2 * np.pi * 0.25 * t) * ease_in
    return {
        "roll": MAX_ROLL_DEG * np.clip(0.7 * roll + 0.3 * turns, -1, 1),
        "dx": MAX_SHIFT_PX * np.clip(turns, -1, 1),
        "dy": MAX_SHIFT_PX * np.clip(nods, -1, 1),
        "scale": 1.0 + MAX_SCALE * np.clip(lean, -1, 1),
        "squash_x": 1.0 - 0.03 * np.abs(turns),  # a turned head looks narrower
    }


def affine_thetas(motion: dict[str, np.ndarray], size: int) -> torch.Tensor:
    """Forward motion u_out = S R u_in + t (normalized coords) -> grid_sample's inverse map [N,2,3]."""
    a = np.deg2rad(motion["roll"])
    cos, sin = np.cos(a), np.sin(a)
    sx = motion["scale"] * motion["squash_x"]
    sy = motion["scale"]
    # inverse of S R is R^T S^-1
    inv = np.stack([np.stack([cos / sx, sin / sy], -1), np.stack([-sin / sx, cos / sy], -1)], -2)
    shift = np.stack([motion["dx"], motion["dy"]], -1) * 2.0 / size
    offset = -np.einsum("nij,nj->ni", inv, shift)
    return torch.from_numpy(np.concatenate([inv, offset[..., None]], -1)).float()


def warp_frames(source: torch.Tensor, thetas: torch.Tensor) -> torch.Tensor:
    """[3,H,W] source + [n,2,3] thetas -> [n,3,H,W] warped frames (border padding: no black edges)."""
    n = thetas.shape[0]
    grid = F.affine_grid(thetas, [n, *source.shape], align_corners=False)
    out = F.grid_sample(source.expand(n, -1, -1, -1), grid, mode="bilinear",
                        padding_mode="border", align_corners=False)
    return out.clamp_(0.0, 1.0)


def melody(seconds: float, rate: int = AUDIO_RATE) -> np.ndarray:
    """Soft mono melody: pentatonic notes with a few harmonics, plucked envelopes, fade in/out."""
    t = np.arange(int(round(seconds * rate))) / rate
    note_len = seconds / len(MELODY)
    out = np.zeros_like(t)
    for i, note in enumerate(MELODY):
        local = t - i * note_len
        inside = (local >= 0) & (local < note_len)
        hz = PENTATONIC_HZ[note]
        wave = np.sin(2 * np.pi * hz * local) + 0.3 * np.sin(4 * np.pi * hz * local)
        envelope = np.minimum(local / 0.02, 1.0) * np.exp(-3.0 * local) * np.minimum((note_len - local) / 0.05, 1.0)
        out += np.where(inside, wave * envelope, 0.0)
    fade = np.minimum(1.0, np.minimum(t, seconds - t) / 0.1)
    return (0.25 * out * fade).astype(np.float32)


TWO_FACES_SIZE = (304, 608)  # (H, W): two 256 px portraits, 32 px apart, 16-24 px margins


def two_faces(left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
    """[3,H,W] in [0,1]: two 256 px portraits [3,256,256] side by side on a light grey background."""
    img = torch.full((3, *TWO_FACES_SIZE), 0.9)
    img[:, 24:280, 16:272] = left
    img[:, 24:280, 336:592] = right
    return img


def write_two_faces(out: Path) -> None:
    from PIL import Image

    from toontalker_core.atomic import atomic_write

    img = two_faces(resize_to(load_image(REPO / "samples" / "source_real.png"), 256),
                    resize_to(load_image(REPO / "samples" / "source_cartoon.png"), 256))
    pixels = (img.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    with atomic_write(out) as tmp:
        Image.fromarray(pixels).save(tmp, format="PNG")
    print(f"wrote {out} ({TWO_FACES_SIZE[1]}x{TWO_FACES_SIZE[0]})")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--source", type=Path, default=REPO / "samples" / "source_real.png")
    p.add_argument("--out", type=Path, default=REPO / "samples" / "driving.mp4")
    p.add_argument("--seconds", type=float, default=4.0)
    p.add_argument("--fps", type=float, default=25.0)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--crf", type=int, default=18, help="x264 quality (lower = larger file)")
    p.add_argument("--two-faces", type=Path, metavar="OUT",
                   help="write the two sample portraits side by side to OUT (a PNG) instead of a video")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.two_faces is not None:
        write_two_faces(args.two_faces)
        return
    source = resize_to(load_image(args.source), args.size)
    n = int(round(args.seconds * args.fps))
    motion = head_motion(np.arange(n) / args.fps)
    thetas = affine_thetas(motion, args.size)
    audio = (melody(n / args.fps), AUDIO_RATE)
    with FrameWriter(args.out, fps=args.fps, audio_array=audio, crf=args.crf) as writer:
        for start in range(0, n, 25):  # a second at a time keeps memory flat for longer clips
            writer.write(warp_frames(source, thetas[start:start + 25]))
    size_kb = args.out.stat().st_size / 1024
    print(f"wrote {args.out} ({writer.count} frames, {n / args.fps:.2f} s, {size_kb:.0f} KiB)")


if __name__ == "__main__":
    main()
