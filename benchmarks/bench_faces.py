"""Time and memory of reenacting 1, 2, 4 faces in one picture (multiface.reenact_faces), bundled 64 px model.

    python benchmarks/bench_faces.py [--faces 1,2,4] [--frames 32] [--repeats 3] [--threads 1] [--device cpu]

The source is a 512x512 canvas with K copies of the sample portrait (256 px each, a 2x2 grid: the canvas does
not change with K, only the number of faces); the driving clip is the first frames of samples/driving.mp4.
Each K runs in its own process (a clean peak memory), after a 2-frame warm-up: the time of the reenactment
(the K source encodings, then per frame the tracking, crops, the driving encoding (once: one driving face
drives all K), K transfers, decodes and renders and K pastes; the model load and the source's face detection
are not counted; the fastest of `--repeats` runs) and the peak memory above the process's state after the
warm-up (RSS on the CPU, torch.cuda.max_memory_allocated on CUDA). Printed: s/frame and memory per K, and their
ratios to one face (below K: the driving tracking and encoding are shared by all faces). Noisy machines:
compare ratios.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

CKPT = REPO / "toontalker_core" / "weights" / "cross-domain-demo-64px.safetensors"


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def canvas(k: int) -> torch.Tensor:
    """[1,3,512,512]: k sample portraits in a 2x2 grid (row by row), the rest plain grey."""
    from toontalker_core.media import load_image

    face = load_image(REPO / "samples" / "source_real.png")
    img = torch.full((1, 3, 512, 512), 0.85)
    for i in range(k):
        y, x = 256 * (i // 2), 256 * (i % 2)
        img[0, :, y:y + 256, x:x + 256] = face
    return img


def one(k: int, frames: int, device: str, repeats: int = 3) -> dict:
    from toontalker_core.face import FaceCropper, locate_faces, parse_driving_face, parse_faces
    from toontalker_core.media import iter_driving
    from toontalker_core.model.checkpoint import load_model
    from toontalker_core.multiface import driving_croppers, reenact_faces

    model = load_model(CKPT, device=torch.device(device))
    source = canvas(k)
    boxes, _ = locate_faces(source[0], parse_faces("all"))
    assert len(boxes) == k, f"found {len(boxes)} faces for {k}"
    driving = next(iter(iter_driving(REPO / "samples" / "driving.mp4", chunk_size=frames, stop=frames)))

    def run(frames01: torch.Tensor) -> int:
        croppers = driving_croppers(driving[0], k, parse_driving_face("largest"),
                                    lambda choose: FaceCropper(model.cfg.size, choose=choose, warn=lambda m: None))
        with torch.inference_mode():
            return sum(len(f) for f in reenact_faces(model, source, boxes, ["real"] * k, croppers, driving[0],
                                                     [frames01[i:i + 8] for i in range(0, len(frames01), 8)],
                                                     "real", batch_size=8))

    run(driving[:2])  # warm-up: first-use allocations and lazy set-up are not the faces' cost
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        base = rss_mb()
    times = []
    for _ in range(repeats):  # the fastest of a few: the least disturbed by other work on a shared machine
        t0 = time.perf_counter()
        n = run(driving)
        times.append(time.perf_counter() - t0)
    if device == "cuda":
        torch.cuda.synchronize()
        peak = (torch.cuda.max_memory_allocated() - base) / 2 ** 20
    else:
        peak = rss_mb() - base
    return {"faces": k, "frames": n, "s_per_frame": min(times) / n, "memory_mb": peak}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--faces", default="1,2,4")
    p.add_argument("--frames", type=int, default=32)
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads (1: on a busy shared CPU two threads ran 3-5x slower, not faster)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--repeats", type=int, default=3, help="runs per face count; the fastest is shown")
    p.add_argument("--one", type=int, help=argparse.SUPPRESS)  # the child process: one face count
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    if args.one is not None:
        print(json.dumps(one(args.one, args.frames, args.device, args.repeats)))
        return
    rows = []
    for k in (int(v) for v in args.faces.split(",")):
        out = subprocess.run([sys.executable, __file__, "--one", str(k), "--frames", str(args.frames),
                              "--threads", str(args.threads), "--device", args.device, "--repeats",
                              str(args.repeats)],
                             capture_output=True, text=True, check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    first = rows[0]
    print(f"{'faces':>5} {'s/frame':>9} {'time ratio':>11} {'memory MB':>10} {'memory ratio':>13}")
    for r in rows:
        print(f"{r['faces']:>5} {r['s_per_frame']:>9.4f} {r['s_per_frame'] / first['s_per_frame']:>11.2f} "
              f"{r['memory_mb']:>10.1f} {r['memory_mb'] / max(first['memory_mb'], 1e-9):>13.2f}")


if __name__ == "__main__":
    main()
