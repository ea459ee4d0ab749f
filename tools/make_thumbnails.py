"""Run each example workflow (API twin) in a real ComfyUI and write a thumbnail of its result beside the UI
workflow: example_workflows/<name>.jpg, a grid of frames from the output video (the template browser shows
`<name>.jpg` for a custom node pack's templates).

    # start a private server (temporary base directory, the pack linked in, the sample media copied):
    python tools/make_thumbnails.py --comfyui /path/to/ComfyUI [--python /path/to/its/python]
    # or use a running one (the samples must be in its input folder):
    python tools/make_thumbnails.py --url http://127.0.0.1:8188

The checkpoint is whatever the server lists as cross-domain-demo-64px.safetensors: the bundled demo model unless
--checkpoint FILE is given (copied into the private server's models/toontalker under that name).
"""
from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "integration"))

from comfy_server import Server, execution_seconds, history_messages, prepare_base  # noqa: E402

WORKFLOWS = REPO / "example_workflows"
CKPT = "cross-domain-demo-64px.safetensors"
MAX_BYTES = 60_000


def video_frames(data: bytes, picks: int) -> list[np.ndarray]:
    """`picks` frames spread over the clip (uint8 [H,W,3])."""
    import av

    with av.open(io.BytesIO(data)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    if not frames:
        raise ValueError("the output video has no frames")
    idx = np.linspace(0, len(frames) - 1, picks + 2)[1:-1].round().astype(int)
    return [frames[i] for i in idx]


def grid(frames: list[np.ndarray], cols: int, width: int) -> Image.Image:
    rows = -(-len(frames) // cols)
    h, w = frames[0].shape[:2]
    sheet = np.zeros((rows * h, cols * w, 3), np.uint8)
    for k, f in enumerate(frames):
        r, c = divmod(k, cols)
        sheet[r * h:(r + 1) * h, c * w:(c + 1) * w] = f
    img = Image.fromarray(sheet)
    return img.resize((width, round(img.height * width / img.width)), Image.LANCZOS)


def thumbnail(data: bytes) -> Image.Image:
    if data.startswith(b"\x89PNG"):  # a still (e.g. the Motion Editor workflow's saved image)
        img = Image.open(io.BytesIO(data)).convert("RGB")
        return img.resize((256, round(img.height * 256 / img.width)), Image.LANCZOS)
    first = video_frames(data, 1)[0]
    if first.shape[1] >= 2 * first.shape[0]:  # a side-by-side comparison: two moments, one under the other
        return grid(video_frames(data, 2), 1, 288)
    return grid(video_frames(data, 4), 2, 256)  # a 2x2 grid of moments


def save_small(img: Image.Image, path: Path) -> int:
    for quality in (85, 75, 65, 50, 40):
        img.save(path, "JPEG", quality=quality, optimize=True, progressive=True)
        if path.stat().st_size < MAX_BYTES:
            break
    return path.stat().st_size


def make(server: Server, names: list[str] | None = None) -> list[tuple[str, float, int]]:
    done = []
    for api in sorted((WORKFLOWS / "api").glob("*.json")):
        if names and api.stem not in names:
            continue
        t = time.perf_counter()
        entry = server.run(json.loads(api.read_text()))
        wall = time.perf_counter() - t
        if entry["status"]["status_str"] != "success":
            err = history_messages(entry).get("execution_error", entry["status"])
            raise SystemExit(f"{api.stem} failed: {err}")
        videos = [v for out in entry["outputs"].values() for v in out.get("images", []) + out.get("videos", [])]
        if not videos:
            raise SystemExit(f"{api.stem}: no output file in {entry['outputs']}")
        thumb = WORKFLOWS / f"{api.stem}.jpg"
        size = save_small(thumbnail(server.view(videos[0])), thumb)
        server_s = execution_seconds(entry)
        print(f"{thumb.relative_to(REPO)}: {size} bytes; run {wall:.1f} s"
              + (f" (server {server_s:.1f} s)" if server_s is not None else ""))
        done.append((api.stem, wall, size))
    return done


class Remote(Server):
    def __init__(self, url: str):  # an already running server: no process of ours
        self.url = url.rstrip("/")
        self.proc = None

    def alive(self) -> bool:
        return True

    def stop(self):
        pass


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    where = ap.add_mutually_exclusive_group(required=True)
    where.add_argument("--comfyui", help="ComfyUI checkout: start a private server on a free 127.0.0.1 port")
    where.add_argument("--url", help="a running ComfyUI server")
    ap.add_argument("--python", help="ComfyUI's python (default: this one)")
    ap.add_argument("--checkpoint", type=Path, help=f"use this file as {CKPT} (private server only)")
    ap.add_argument("names", nargs="*", help="only these workflows (default: all)")
    args = ap.parse_args(argv)
    if args.url:
        make(Remote(args.url), args.names)
        return
    with tempfile.TemporaryDirectory(prefix="toontalker_thumbs_") as tmp:
        base = prepare_base(Path(tmp), REPO, args.checkpoint, CKPT)
        server = Server(base, args.comfyui, args.python)
        try:
            server.wait_ready()
            make(server, args.names)
        finally:
            server.stop()


if __name__ == "__main__":
    main()
