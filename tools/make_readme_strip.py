"""The README picture: source, driving frames and the main job's result frames in one strip.

    bash scripts/demo.sh && python tools/make_readme_strip.py   # -> docs/strip.webp
    python tools/make_readme_strip.py --source samples/source_real.png   # after a demo.sh run of another route
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from toontalker_core.media import load_image, probe_driving, read_frame, resize_to  # noqa: E402

TILE = 160


def tile(x: torch.Tensor) -> np.ndarray:
    return (resize_to(x, TILE).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", default="samples/source_cartoon.png", help="the main job's source portrait")
    source = REPO / ap.parse_args().source
    driving, result = REPO / "samples" / "driving.mp4", REPO / "output" / "demo.mp4"
    n = probe_driving(result).num_frames
    picks = [0, n // 3, 2 * n // 3, n - 1]
    rows = [[tile(load_image(source))] + [tile(read_frame(driving, i)) for i in picks],
            [np.full((TILE, TILE, 3), 255, np.uint8)] + [tile(read_frame(result, i)) for i in picks]]
    img = Image.fromarray(np.concatenate([np.concatenate(r, 1) for r in rows], 0))
    d = ImageDraw.Draw(img)
    for x, y, text in ((4, 4, "source"), (TILE + 4, 4, "driving"), (TILE + 4, TILE + 4, "result")):
        d.text((x, y), text, fill=(255, 255, 0))
    (REPO / "docs").mkdir(exist_ok=True)
    img.save(REPO / "docs" / "strip.webp", quality=85)
    print("wrote docs/strip.webp", img.size)


if __name__ == "__main__":
    main()
