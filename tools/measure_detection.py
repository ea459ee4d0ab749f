"""Measure face detection on the shared test media: detection rate per file, per detector.

    python tools/measure_detection.py [--media ../shared/media] [--stride 1] [--review DIR] [--compare]

Stills (real/*.jpg, cartoon/*.jpg): found or not, score and box of the primary face (the ensemble gets the
tiled second look, as the CLI gives a source image). Videos (driving/*.mp4):
the fraction of frames (every `--stride`-th) with a face. `--compare` adds the single bundled detectors and,
when they are installed, other candidates (OpenCV 4.x Haar cascades, the `animeface` package) for reference;
none of those is a dependency of the project. `--review DIR` writes each still and the first frame of each
video with the detected box and the crop box drawn on it.

The media in ../shared/media are for tests only: never copy them into the repository.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from toontalker_core.face import crop_boxes, detect_faces  # noqa: E402
from toontalker_core.media import iter_driving, load_image  # noqa: E402


def _ours(models=None, tiles=False):
    kw = {} if models is None else {"models": models}
    return lambda img: [f.box + (f.score,) for f in detect_faces(img, tiles=tiles, **kw)[0]]


def _haar(name: str):
    try:
        import cv2
        cascade = cv2.CascadeClassifier(cv2.data.haarcascades + f"haarcascade_{name}.xml")
    except Exception:  # OpenCV missing, or a 5.x wheel without cv2.data
        return None

    def run(img: torch.Tensor):
        gray = (img.mean(0).numpy() * 255).astype(np.uint8)
        scale = min(1.0, 640 / max(gray.shape))
        small = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else gray
        found = cascade.detectMultiScale(cv2.equalizeHist(small), 1.1, 4, minSize=(24, 24))
        return [(x / scale, y / scale, (x + w) / scale, (y + h) / scale, 1.0) for x, y, w, h in found]
    return run


def _animeface():
    try:
        import animeface
    except Exception:
        return None

    def run(img: torch.Tensor):
        pil = Image.fromarray((img.permute(1, 2, 0).numpy() * 255).astype(np.uint8))
        found = animeface.detect(pil)
        return [(f.face.pos.x, f.face.pos.y, f.face.pos.x + f.face.pos.width, f.face.pos.y + f.face.pos.height,
                 f.likelihood) for f in found]
    return run


def detectors(compare: bool) -> dict:
    out = {"toontalker (short+full ensemble)": _ours()}
    if compare:
        out["blazeface short only"] = _ours(("short",))
        out["blazeface full only"] = _ours(("full",))
        for name, fn in (("opencv haar frontalface_default", _haar("frontalface_default")),
                         ("opencv haar frontalface_alt2", _haar("frontalface_alt2")),
                         ("animeface (nvxs)", _animeface())):
            if fn is not None:
                out[name] = fn
            else:
                print(f"skipped {name}: not installed", file=sys.stderr)
    return out


def _draw(img: torch.Tensor, box, out: Path) -> None:
    pil = Image.fromarray((img.permute(1, 2, 0).numpy() * 255).astype(np.uint8))
    if box is not None:
        d = ImageDraw.Draw(pil)
        d.rectangle(box[:4], outline=(0, 255, 0), width=3)
        sq = crop_boxes(torch.tensor([box[:4]]))[0].tolist()
        d.rectangle((sq[0], sq[1], sq[0] + sq[2], sq[1] + sq[2]), outline=(255, 0, 0), width=3)
    pil.save(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default_media = Path(os.environ.get("TOONTALKER_SHARED", ROOT.parent / "shared")) / "media"
    ap.add_argument("--media", type=Path, default=default_media)
    ap.add_argument("--stride", type=int, default=1, help="use every n-th video frame")
    ap.add_argument("--review", type=Path, help="write annotated stills / first frames here")
    ap.add_argument("--compare", action="store_true", help="also measure the single models and other candidates")
    args = ap.parse_args()
    torch.set_num_threads(1)
    if not args.media.is_dir():
        print(f"no media folder at {args.media}", file=sys.stderr)
        return 2
    if args.review:
        args.review.mkdir(parents=True, exist_ok=True)
    dets = detectors(args.compare)
    still_dets = {**dets, "toontalker (short+full ensemble)": _ours(tiles=True)}  # stills: as the CLI does
    names = list(dets)
    rows = []
    for still in sorted(args.media.glob("real/*.jpg")) + sorted(args.media.glob("cartoon/*.jpg")):
        img = load_image(still)
        cells = []
        for k, name in enumerate(names):
            t0 = time.perf_counter()
            found = still_dets[name](img)
            ms = 1000 * (time.perf_counter() - t0)
            best = max(found, key=lambda f: f[4] * (f[2] - f[0])) if found else None
            cells.append(f"{'yes' if best else 'no'} ({best[4]:.2f}, {ms:.0f} ms)" if best else f"no ({ms:.0f} ms)")
            if k == 0 and args.review:
                _draw(img, best, args.review / f"detect_{still.parent.name}_{still.stem}.png")
        rows.append((f"{still.parent.name}/{still.name}", f"{img.shape[2]}x{img.shape[1]}", "1", cells))
        print(rows[-1], file=sys.stderr, flush=True)
    for video in sorted(args.media.glob("driving/*.mp4")):
        hits = {n: 0 for n in names}
        secs = {n: 0.0 for n in names}
        count, size, first = 0, "", True
        for chunk in iter_driving(video, chunk_size=16):
            size = f"{chunk.shape[3]}x{chunk.shape[2]}"
            for frame in chunk:
                if count % args.stride == 0:
                    for name in names:
                        t0 = time.perf_counter()
                        found = dets[name](frame)
                        secs[name] += time.perf_counter() - t0
                        hits[name] += bool(found)
                        if first and args.review and name == names[0]:
                            best = max(found, key=lambda f: f[4] * (f[2] - f[0])) if found else None
                            _draw(frame, best, args.review / f"detect_driving_{video.stem}_frame0.png")
                    first = False
                count += 1
        used = -(-count // args.stride)
        cells = [f"{hits[n] / used:.1%} ({hits[n]}/{used}, {1000 * secs[n] / used:.0f} ms)" for n in names]
        rows.append((f"driving/{video.name}", size, str(used), cells))
        print(rows[-1], file=sys.stderr, flush=True)
    print("| file | size | frames | " + " | ".join(names) + " |")
    print("| --- | --- | --- | " + " | ".join("---" for _ in names) + " |")
    for f, size, n, cells in rows:
        print(f"| {f} | {size} | {n} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
