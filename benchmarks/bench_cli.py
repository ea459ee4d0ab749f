"""The CLI end to end on a big clip, as a user runs it: frames/s and peak memory per model, in ONE run.

    python benchmarks/bench_cli.py [--device cuda] [--frames 500] [--width 1920 --height 1080]

Makes the clip on the fly (the sample driving video's face, 2x (at most 80% of the frame), on a 1920x1080 canvas, looped to --frames
frames, with its audio), then runs `python -m toontalker_core crossdomain --type r2c --crop auto` in this
process for (1) the bundled 64 px demo model and (2) a 256 px model of the published layout (the parity
fixture's weights when ../shared is there, else seeded random weights: speed and memory, not quality).
Prints one row per model: seconds, frames/s, peak memory (torch.cuda.max_memory_allocated on CUDA, the
process's peak RSS elsewhere) and the exit code. Exits non-zero when a run fails.
"""
from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import av
import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tools"))  # manifest.py: test weights of the published layout
sys.path.insert(0, str(REPO / "benchmarks"))

from toontalker_core.app.cli import main as cli_main  # noqa: E402
from toontalker_core.media import FrameWriter, iter_driving  # noqa: E402
from toontalker_core.resources import BUNDLED_DIR  # noqa: E402

BUNDLED_CHECKPOINT = BUNDLED_DIR / "cross-domain-demo-64px.safetensors"


def make_clip(path: Path, frames: int, width: int, height: int) -> Path:
    """The sample driving video's frames, 2x, centred on a gradient canvas, looped to `frames` frames."""
    sample = REPO / "samples" / "driving.mp4"
    source = torch.cat(list(iter_driving(sample, chunk_size=32)))
    side = min(2 * source.shape[-1], int(0.8 * min(width, height)))  # 2x, smaller on a small canvas
    face = torch.nn.functional.interpolate(source, size=(side, side), mode="bilinear").clamp(0, 1)
    y = torch.linspace(0, 1, height)[:, None].expand(height, width)
    x = torch.linspace(0, 1, width)[None, :].expand(height, width)
    canvas = torch.stack([0.3 + 0.4 * x, 0.35 + 0.3 * y, 0.5 - 0.2 * x * y])
    fy, fx = (height - face.shape[2]) // 2, (width - face.shape[3]) // 2
    with FrameWriter(path, fps=25.0, audio_from=sample) as writer:
        for start in range(0, frames, 16):
            n = min(16, frames - start)
            chunk = canvas[None].repeat(n, 1, 1, 1)
            idx = [(start + i) % len(face) for i in range(n)]
            chunk[:, :, fy:fy + face.shape[2], fx:fx + face.shape[3]] = face[idx]
            writer.write(chunk)
    with av.open(str(path)) as c:
        assert c.streams.video[0].frames == frames, "the clip has the wrong length"
    return path


def model_256(d: Path) -> tuple[Path, str]:
    from bench_reenact import PARITY, _random_manifest
    from toontalker_core.model.checkpoint import convert
    from manifest import read_manifest, write_reference_checkpoint

    if (PARITY / "manifest.json").exists():
        manifest, origin = read_manifest(PARITY / "manifest.json"), "parity fixture weights"
    else:
        manifest, origin = _random_manifest(), "seeded random weights"
    pth = write_reference_checkpoint(manifest, d / "cross-domain-256.pth", cross_domain=True)
    return convert(pth, d / "cross-domain-256.safetensors"), origin


def peak_memory_mb(device: str) -> float:
    if device == "cuda":
        return torch.cuda.max_memory_allocated() / 2 ** 20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--frames", type=int, default=500)
    ap.add_argument("--width", type=int, default=1920)
    ap.add_argument("--height", type=int, default=1080)
    ap.add_argument("--batch-size", type=int, default=16)
    args = ap.parse_args()
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        t = time.perf_counter()
        clip = make_clip(d / "clip.mp4", args.frames, args.width, args.height)
        print(f"clip: {args.width}x{args.height}, {args.frames} frames, made in {time.perf_counter() - t:.1f} s; "
              f"device {args.device}, torch {torch.__version__}, PyAV {av.__version__}")
        big, origin = model_256(d)
        rows = []
        for label, ckpt in (("bundled 64 px demo model", BUNDLED_CHECKPOINT), (f"256 px model ({origin})", big)):
            if args.device == "cuda":
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats()
            out = d / f"out-{len(rows)}.mp4"
            t = time.perf_counter()
            code = cli_main(["crossdomain", "--type", "r2c", "--source_path", str(REPO / "samples" / "source_cartoon.png"),
                             "--driving_path", str(clip), "--output_dir", str(out), "--checkpoint", str(ckpt),
                             "--crop", "auto", "--device", args.device, "--batch-size", str(args.batch_size), "--quiet"])
            seconds = time.perf_counter() - t
            written = 0
            if code == 0:
                with av.open(str(out)) as c:
                    written = c.streams.video[0].frames
            failed += code != 0 or written != args.frames
            rows.append((label, seconds, args.frames / seconds, peak_memory_mb(args.device), code, written))
    mem = "peak VRAM MB" if args.device == "cuda" else "peak RSS MB"
    print(f"\n{'CLI, --crop auto, r2c':44s} {'seconds':>8s} {'frames/s':>9s} {mem:>13s} {'exit':>5s} {'frames out':>10s}")
    for label, seconds, fps, mb, code, written in rows:
        print(f"{label:44s} {seconds:8.1f} {fps:9.2f} {mb:13.0f} {code:5d} {written:10d}")
    print("summary: " + "; ".join(f"{label.split(' (')[0]} {fps:.1f} frames/s, peak {mb:.0f} MB"
                                  for label, _, fps, mb, *_ in rows))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
