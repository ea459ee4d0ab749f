"""Peak RSS of the CLI with default settings (`--crop auto`) on large inputs, each case in a fresh process.

    python benchmarks/bench_memory.py [--cases photo,4k,stream] [--repo DIR] [--precision auto]

Cases (all inputs made here from the project's own samples, nothing downloaded):
  photo   a 6000x4000 photo with a face (samples/source_real.png upscaled 6x into a padded canvas),
          driven by 24 frames of samples/driving.mp4, written to .mp4 at 6000x4000;
  4k      a 24-frame 3840x2160 driving video (samples/driving.mp4 upscaled 4x on a gradient canvas)
          driving a 256 px portrait with a 256 px model of the published layout;
  stream  streaming: a 60 s vs a 10 s 1080p clip (`--crop none`), the ratio should stay near 1.
The 256 px model comes from the parity manifest (../shared/fixtures/parity) when present, else seeded random
weights of the same layout; memory, not quality, is measured. `--repo DIR` runs another checkout's CLI on
the same inputs (e.g. main, for a before/after comparison in one run).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tools"))  # manifest.py: test weights of the published layout

from toontalker_core.media import FrameWriter, iter_driving, load_image  # noqa: E402
from toontalker_core.app.paths import find_checkpoint  # noqa: E402

CASES = ("photo", "4k", "stream")
SAMPLES = REPO / "samples"


def make_clip(path: Path, seconds: float, fps: float, width: int = 1920, height: int = 1080) -> None:
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    with FrameWriter(path, fps=fps, crf=28) as w:
        for i in range(int(seconds * fps)):
            t = i / fps
            frame = np.stack([0.5 + 0.5 * np.sin(xx / 97 + t), 0.5 + 0.5 * np.sin(yy / 61 - 2 * t),
                              0.5 + 0.5 * np.sin((xx + yy) / 143 + 3 * t)], -1)
            w.write(frame[None])


def _canvas(height: int, width: int) -> np.ndarray:
    """A smooth project-made background [H,W,3] uint8 (a gradient, so the detector sees no faces in it)."""
    y = np.linspace(0, 1, height, dtype=np.float32)[:, None]
    x = np.linspace(0, 1, width, dtype=np.float32)[None, :]
    rgb = np.stack([0.3 + 0.4 * x + 0 * y, 0.35 + 0.3 * y + 0 * x, 0.5 - 0.2 * x * y], -1)
    return (rgb * 255).astype(np.uint8)


def _place(canvas: np.ndarray, face: np.ndarray, x: int, y: int) -> np.ndarray:
    out = canvas.copy()
    out[y:y + face.shape[0], x:x + face.shape[1]] = face
    return out


def _upscale(img01_chw, factor: int) -> np.ndarray:
    from PIL import Image

    hwc = (img01_chw.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    im = Image.fromarray(hwc)
    return np.asarray(im.resize((im.width * factor, im.height * factor), Image.BICUBIC))


def make_photo(path: Path) -> None:
    """6000x4000 photo: the 256 px sample portrait upscaled 6x (1536 px face region) on a gradient canvas."""
    from PIL import Image

    face = _upscale(load_image(SAMPLES / "source_real.png"), 6)
    Image.fromarray(_place(_canvas(4000, 6000), face, 2200, 1000)).save(path)


def make_driving(path: Path, frames: int, factor: int = 0, width: int = 0, height: int = 0) -> None:
    """The first `frames` frames of samples/driving.mp4, upscaled by `factor` onto a width x height canvas."""
    canvas = _canvas(height, width) if factor else None
    with FrameWriter(path, fps=25, crf=23) as w:
        for chunk in iter_driving(SAMPLES / "driving.mp4", chunk_size=4, stop=frames):
            for f in chunk:
                if factor:
                    face = _upscale(f, factor)
                    w.write(_place(canvas, face, (width - face.shape[1]) // 2, (height - face.shape[0]) // 2)[None])
                else:
                    w.write(f[None])


def make_256_checkpoint(path: Path) -> Path:
    from toontalker_core.model.checkpoint import convert
    from manifest import read_manifest, write_reference_checkpoint

    parity = Path(os.environ.get("TOONTALKER_SHARED", REPO.parent / "shared")) / "fixtures" / "parity"
    if (parity / "manifest.json").exists():
        manifest = read_manifest(parity / "manifest.json")
    else:
        from bench_reenact import _random_manifest  # the same layout with seeded random weights

        manifest = _random_manifest()
    pth = write_reference_checkpoint(manifest, path.with_suffix(".pth"), cross_domain=False)
    return convert(pth, path)


def peak_rss_of(cmd: list[str], repo: Path) -> tuple[float, float, str]:
    """(peak RSS in MB, seconds, outcome) of a child process, from wait4's rusage."""
    t = time.perf_counter()
    path = os.pathsep.join(filter(None, (str(repo), os.environ.get("PYTHONPATH"))))  # extended, not replaced
    proc = subprocess.Popen(cmd, env={**os.environ, "PYTHONPATH": path, "PYTHONDONTWRITEBYTECODE": "1"},
                            stderr=subprocess.PIPE, text=True)
    # stderr is small (--quiet): read it after the child exits to keep wait4's rusage for this child
    _, status, usage = os.wait4(proc.pid, 0)
    err = proc.stderr.read().strip().splitlines()
    code = os.waitstatus_to_exitcode(status)
    outcome = "ok" if code == 0 else f"exit {code}: {err[-1] if err else ''}"
    return usage.ru_maxrss / 1024, time.perf_counter() - t, outcome


def cli(repo: Path, source: Path, driving: Path, out: Path, ckpt: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "toontalker_core", "indomain", "--source_path", str(source), "--driving_path",
            str(driving), "--output_dir", str(out), "--checkpoint", str(ckpt), "--quiet", *extra]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", default="photo,4k", help=f"comma-separated, from {', '.join(CASES)}")
    ap.add_argument("--repo", type=Path, default=REPO, help="checkout whose CLI runs (default: this one)")
    ap.add_argument("--precision", default="auto")
    ap.add_argument("--frames", type=int, default=24, help="driving frames in the photo and 4k cases")
    ap.add_argument("--fps", type=float, default=10.0, help="stream case: clip frame rate")
    ap.add_argument("--checkpoint", type=Path, help="photo/stream cases (default: the bundled demo model)")
    args = ap.parse_args()
    cases = [c for c in args.cases.split(",") if c]
    if unknown := set(cases) - set(CASES):
        ap.error(f"unknown case(s) {sorted(unknown)}: use {', '.join(CASES)}")
    ckpt = args.checkpoint or find_checkpoint("cross-domain")
    prec = ["--precision", args.precision]
    print(f"CLI of {args.repo}; --crop auto unless noted; precision {args.precision}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if "photo" in cases:
            photo, clip = tmp / "photo6000x4000.png", tmp / "short.mp4"
            make_photo(photo)
            make_driving(clip, args.frames)
            rss, secs, outcome = peak_rss_of(cli(args.repo, photo, clip, tmp / "photo_out.mp4", ckpt, *prec),
                                             args.repo)
            print(f"photo: 6000x4000 source, {args.frames}-frame 256 px clip -> .mp4, demo model: "
                  f"peak RSS {rss:7.0f} MB, {secs:6.1f} s, {outcome}")
        if "4k" in cases:
            clip, ckpt256 = tmp / "drive4k.mp4", make_256_checkpoint(tmp / "in-domain-256.safetensors")
            make_driving(clip, args.frames, factor=4, width=3840, height=2160)
            rss, secs, outcome = peak_rss_of(
                cli(args.repo, SAMPLES / "source_real.png", clip, tmp / "k4_out.mp4", ckpt256, *prec), args.repo)
            print(f"4k: {args.frames}-frame 3840x2160 driving video, 256 px portrait, 256 px model: "
                  f"peak RSS {rss:7.0f} MB, {secs:6.1f} s, {outcome}")
        if "stream" in cases:
            rows = []
            for seconds in (10, 60):
                clip = tmp / f"clip{seconds}.mp4"
                make_clip(clip, seconds, args.fps)
                rss, secs, outcome = peak_rss_of(cli(args.repo, SAMPLES / "source_real.png", clip,
                                                     tmp / f"out{seconds}.mp4", ckpt, "--crop", "none", *prec),
                                                 args.repo)
                rows.append(rss)
                print(f"stream: {seconds:3d} s 1080p clip ({int(seconds * args.fps)} frames, --crop none): "
                      f"peak RSS {rss:7.0f} MB, {secs:6.1f} s, {outcome}")
            print(f"stream: peak RSS 60 s / 10 s: {rows[1] / rows[0]:.3f}")


if __name__ == "__main__":
    main()
