"""Streaming check: peak RSS of the CLI on a 60 s 1080p driving clip vs a 10 s one, measured in one run.

    python benchmarks/bench_memory.py [--fps 10] [--checkpoint FILE]

Makes two synthetic 1920x1080 clips (moving gradients, project-made), runs
`python -m toontalker_core indomain ... --crop none` on each in a fresh process and prints each run's peak
RSS and their ratio. The CLI reads, processes and writes in chunks, so the ratio should stay near 1.
Default checkpoint: the bundled demo model (memory, not quality, is measured).
"""
from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from toontalker_core.media import FrameWriter  # noqa: E402
from toontalker_core.paths import find_checkpoint  # noqa: E402


def make_clip(path: Path, seconds: float, fps: float, width: int = 1920, height: int = 1080) -> None:
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    with FrameWriter(path, fps=fps, crf=28) as w:
        for i in range(int(seconds * fps)):
            t = i / fps
            frame = np.stack([0.5 + 0.5 * np.sin(xx / 97 + t), 0.5 + 0.5 * np.sin(yy / 61 - 2 * t),
                              0.5 + 0.5 * np.sin((xx + yy) / 143 + 3 * t)], -1)
            w.write(frame[None])


def peak_rss_of(cmd: list[str]) -> tuple[float, float]:
    """(peak RSS in MB, seconds) of a child process, from wait4's rusage."""
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, env={**os.environ, "PYTHONPATH": str(REPO)})
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}")
    return usage.ru_maxrss / 1024, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fps", type=float, default=10.0)
    ap.add_argument("--checkpoint", type=Path)
    args = ap.parse_args()
    ckpt = args.checkpoint or find_checkpoint("cross-domain")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        rows = []
        for seconds in (10, 60):
            clip = tmp / f"clip{seconds}.mp4"
            make_clip(clip, seconds, args.fps)
            cmd = [sys.executable, "-m", "toontalker_core", "indomain", "--source_path",
                   str(REPO / "samples" / "source_real.png"), "--driving_path", str(clip), "--output_dir",
                   str(tmp / f"out{seconds}.mp4"), "--checkpoint", str(ckpt), "--crop", "none", "--quiet"]
            rss, secs = peak_rss_of(cmd)
            rows.append((seconds, rss, secs))
            print(f"{seconds:3d} s 1080p clip ({int(seconds * args.fps)} frames): peak RSS {rss:7.0f} MB, {secs:6.1f} s")
    print(f"peak RSS 60 s / 10 s: {rows[1][1] / rows[0][1]:.3f}")


if __name__ == "__main__":
    main()
