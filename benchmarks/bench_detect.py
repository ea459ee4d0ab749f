"""Time per frame of face detection: BlazeFace's ensemble (the detector before ToonNet), ToonNet alone and the
default (both) as each driving frame gets it, and the default's closer look at a still (`still=True`: source
images and reference frames, once per run), on frames of common sizes, interleaved in one run.

    python benchmarks/bench_detect.py [--repeat 20] [--device cpu|cuda]

Frames are generated scenes with faces (toontalker_train.scenes), so the merge code runs as it does on real
input. Prints the median time per frame and the ratio to BlazeFace measured in the same run (timings on a
shared machine are noisy; the rounds alternate the detectors so that load changes hit all of them alike).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from toontalker_core.face import detect_faces  # noqa: E402
from toontalker_core.face.detect import BLAZEFACE, DEFAULT_MODELS  # noqa: E402
from toontalker_train.scenes import make_scene  # noqa: E402

DETECTORS = {"BlazeFace ensemble": (BLAZEFACE, False), "ToonNet alone": (("toon",), False),
             "default (both)": (DEFAULT_MODELS, False), "default, still": (DEFAULT_MODELS, True)}
SIZES = ((480, 640), (720, 1280), (1080, 1920), (2160, 3840))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    g = torch.Generator().manual_seed(0)
    print(f"device {args.device}, torch {torch.__version__}, median of {args.repeat} rounds per frame size\n")
    print("| frame | " + " | ".join(DETECTORS) + " | default / BlazeFace | still / BlazeFace |")
    print("| --- | " + " | ".join("---" for _ in DETECTORS) + " | --- | --- |")
    for size in SIZES:
        img = make_scene(g, size, (1, 3), (40, 300))[0].to(args.device)
        times = {k: [] for k in DETECTORS}
        for name, (models, still) in DETECTORS.items():  # warm-up: weights loaded, kernels chosen
            detect_faces(img, models=models, still=still)
        for _ in range(args.repeat):
            for name, (models, still) in DETECTORS.items():
                if args.device != "cpu":
                    torch.cuda.synchronize()
                t0 = time.perf_counter()
                detect_faces(img, models=models, still=still)
                if args.device != "cpu":
                    torch.cuda.synchronize()
                times[name].append(time.perf_counter() - t0)
        med = {k: statistics.median(v) * 1000 for k, v in times.items()}
        base = med["BlazeFace ensemble"]
        print(f"| {size[1]}x{size[0]} | " + " | ".join(f"{v:.1f} ms" for v in med.values())
              + f" | {med['default (both)'] / base:.2f}x | {med['default, still'] / base:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
