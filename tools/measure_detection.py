"""Measure face detection: on the shared test media (detection rate per file, per detector), or on generated
scenes with known boxes (recall, precision and box error per style and per face size, detectors side by side).

    python tools/measure_detection.py [--media ../shared/media] [--stride 1] [--review DIR] [--compare]
    python tools/measure_detection.py --scenes [--n 120] [--seed 0] [--styles held-out|train] [--only old]

Scenes mode (`toontalker_train.scenes`, everything generated here): 1-4 faces per frame, 24-600 px, frames from
256 px to 4K, cartoon styles (by default the held-out ones the shipped ToonNet never saw) and 20 % real faces
(the project's public-domain stills). A detection is a hit when its IoU with an unmatched true box is >= 0.5
(greedy, best score first); precision counts every other detection as a false alarm. Box error: mean IoU
and centre error (in % of the true side) of the hits. Size bins are given twice: in frame pixels and as the
face's side in the detector's 192 px letterbox (what the network sees). "video frame" is the look each
driving frame gets, "still" the closer look of `still=True` that source images and reference frames get.

Stills (real/*.jpg, cartoon/*.jpg): found or not, score and box of the primary face (the default and the BlazeFace
ensemble get the closer look of `still=True`, as the CLI gives a source image). "domain real" is the default as the
pipeline runs it on pictures said to be real (driving video in r2r and r2c, real sources). Videos (driving/*.mp4):
the fraction of frames (every `--stride`-th) with a face, and how many frames had more than one (each clip shows
one person, so those are false alarms). `--compare` adds ToonNet alone, the single BlazeFace detectors and, when
they are installed, other candidates (OpenCV 4.x Haar cascades, the `animeface` package) for reference; none of
those is a dependency of the project. `--review DIR` writes each still and the first frame of each video with the
detected box and the crop box drawn on it.

The media in ../shared/media are for tests only: never copy them into the repository.
"""
from __future__ import annotations

import argparse
import math
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


def _ours(models=None, still=False, domain=None):
    kw = {} if models is None else {"models": models}
    return lambda img: [f.box + (f.score,) for f in detect_faces(img, still=still, domain=domain, **kw)[0]]


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


SCENE_DETECTORS = {
    # name: (column title, models (None: the default), still: the closer look source images get)
    "old": ("BlazeFace ensemble (before)", ("short", "full"), False),
    "toonnet": ("ToonNet alone", ("toon",), False),
    "new": ("new default, video frame", None, False),
    "still": ("new default, still", None, True),
}
PX_BINS = (24, 48, 96, 192, 384, 601)
LB_BINS = (0, 8, 16, 32, 64, 193)


def _bin(v: float, edges) -> str:
    for lo, hi in zip(edges, edges[1:]):
        if lo <= v < hi:
            return f"{lo}-{hi - 1}"
    return f">={edges[-1]}"


def _iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / max(union, 1e-9)


def match(found, truth, iou: float = 0.5):
    """Greedy matching, best score first -> (per true box: the IoU of its hit or None, false alarms)."""
    hit = [None] * len(truth)
    false = 0
    for f in sorted(found, key=lambda f: -f[4]):
        best, k = 0.0, -1
        for j, t in enumerate(truth):
            if hit[j] is None:
                v = _iou(f, t)
                if v > best:
                    best, k = v, j
        if best >= iou:
            hit[k] = (best, f)
        else:
            false += 1
    return hit, false


def _total(table: dict, i: int) -> int:
    return sum(v[i] for v in table.values())


def _count(table: dict, key: str, ok: bool) -> None:
    v = table.setdefault(key, [0, 0])
    v[0] += ok
    v[1] += 1


def measure_scenes(n: int, seed: int, styles: str, only: list[str]) -> None:
    from toontalker_train.cartoon_styles import HELD_OUT_STYLES, TRAIN_STYLES
    from toontalker_train.scenes import eval_set

    names = only or list(SCENE_DETECTORS)
    style_set = HELD_OUT_STYLES if styles == "held-out" else TRAIN_STYLES
    stats = {d: {"kind": {}, "px": {}, "lb": {}, "iou": [], "centre": [], "false": 0, "found": 0,
                 "secs": 0.0} for d in names}
    frames = 0
    for img, boxes, kinds in eval_set(n, seed, style_set):
        frames += 1
        h, w = img.shape[-2:]
        truth = boxes.tolist()
        for d in names:
            _, models, still = SCENE_DETECTORS[d]
            kw = {"still": still} if models is None else {"models": models, "still": still}
            t0 = time.perf_counter()
            found = [f.box + (f.score,) for f in detect_faces(img, **kw)[0]]
            st = stats[d]
            st["secs"] += time.perf_counter() - t0
            hit, false = match(found, truth)
            st["false"] += false
            st["found"] += len(found)
            for t, kind, hv in zip(truth, kinds, hit):
                side = t[2] - t[0]
                ok = hv is not None
                _count(st["kind"], kind.split(":")[0] if kind.startswith("real") else kind, ok)
                _count(st["px"], _bin(side, PX_BINS), ok)
                _count(st["lb"], _bin(side * 192 / max(h, w), LB_BINS), ok)
                if ok:
                    st["iou"].append(hv[0])
                    f = hv[1]
                    st["centre"].append(math.hypot((f[0] + f[2] - t[0] - t[2]) / 2, (f[1] + f[3] - t[1] - t[3]) / 2)
                                        / side)
    print(f"scenes: {frames} frames, styles {', '.join(style_set)} (+ real), seed {seed}\n")
    heads = [SCENE_DETECTORS[d][0] for d in names]
    cell = lambda t, k: f"{t[k][0] / t[k][1]:.1%} ({t[k][0]}/{t[k][1]})" if k in t else "-"  # noqa: E731
    for title, key in (("recall by style", "kind"), ("recall by face size (frame px)", "px"),
                       ("recall by face size in the 192 px letterbox", "lb")):
        print(f"| {title} | " + " | ".join(heads) + " |")
        print("| --- | " + " | ".join("---" for _ in heads) + " |")
        keys = sorted({k for d in names for k in stats[d][key]},
                      key=lambda k: (k[0].isdigit(), float(k.split("-")[0]) if k[0].isdigit() else 0, k))
        for k in keys:
            print(f"| {k} | " + " | ".join(cell(stats[d][key], k) for d in names) + " |")
        print()
    print("| overall | " + " | ".join(heads) + " |")
    print("| --- | " + " | ".join("---" for _ in heads) + " |")
    rows = {
        "recall (IoU 0.5)": lambda s: f"{_total(s['kind'], 0) / max(1, _total(s['kind'], 1)):.1%}",
        "precision (IoU 0.5)": lambda s: (f"{1 - s['false'] / max(1, s['found']):.1%} "
                                          f"({s['found'] - s['false']}/{s['found']})"),
        "false alarms per frame": lambda s: f"{s['false'] / max(1, frames):.2f}",
        "mean IoU of hits": lambda s: f"{sum(s['iou']) / max(1, len(s['iou'])):.3f}",
        "mean centre error of hits": lambda s: f"{100 * sum(s['centre']) / max(1, len(s['centre'])):.1f} % of side",
        "time per frame": lambda s: f"{1000 * s['secs'] / max(1, frames):.0f} ms",
    }
    for name, fn in rows.items():
        print(f"| {name} | " + " | ".join(fn(stats[d]) for d in names) + " |")


DEFAULT_NAME = "default (BlazeFace + ToonNet)"
REAL_NAME = "default, domain real"


def detectors(compare: bool) -> dict:
    out = {DEFAULT_NAME: _ours(), REAL_NAME: _ours(domain="real"),
           "BlazeFace ensemble (before)": _ours(("short", "full"))}
    if compare:
        out["ToonNet alone"] = _ours(("toon",))
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
    ap.add_argument("--scenes", action="store_true", help="measure on generated scenes with known boxes instead")
    ap.add_argument("--n", type=int, default=120, help="scenes: number of frames")
    ap.add_argument("--seed", type=int, default=0, help="scenes: seed of the set")
    ap.add_argument("--styles", choices=("held-out", "train"), default="held-out", help="scenes: cartoon styles")
    ap.add_argument("--only", action="append", choices=sorted(SCENE_DETECTORS),
                    help="scenes: measure only these detectors (repeatable)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.scenes:
        measure_scenes(args.n, args.seed, args.styles, args.only or [])
        return 0
    if not args.media.is_dir():
        print(f"no media folder at {args.media}", file=sys.stderr)
        return 2
    if args.review:
        args.review.mkdir(parents=True, exist_ok=True)
    dets = detectors(args.compare)
    # stills: with the tiled second look, as the CLI does
    still_dets = {**dets, DEFAULT_NAME: _ours(still=True), REAL_NAME: _ours(still=True, domain="real"),
                  "BlazeFace ensemble (before)": _ours(("short", "full"), True)}
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
        multi = {n: 0 for n in names}  # frames with more than one face: one person per clip, so false alarms
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
                        multi[name] += len(found) > 1
                        if first and args.review and name == names[0]:
                            best = max(found, key=lambda f: f[4] * (f[2] - f[0])) if found else None
                            _draw(frame, best, args.review / f"detect_driving_{video.stem}_frame0.png")
                    first = False
                count += 1
        used = -(-count // args.stride)
        cells = [f"{hits[n] / used:.1%} ({hits[n]}/{used}, {multi[n]} with >1, {1000 * secs[n] / used:.0f} ms)"
                 for n in names]
        rows.append((f"driving/{video.name}", size, str(used), cells))
        print(rows[-1], file=sys.stderr, flush=True)
    print("| file | size | frames | " + " | ".join(names) + " |")
    print("| --- | --- | --- | " + " | ".join("---" for _ in names) + " |")
    for f, size, n, cells in rows:
        print(f"| {f} | {size} | {n} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
