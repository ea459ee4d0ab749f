"""Run each example workflow (API twin) in a real ComfyUI and write a thumbnail of its result beside the UI
workflow: example_workflows/<name>.jpg: two moments of the output video next to the driving frames, with the
workflow's title (the template browser shows `<name>.jpg` for a custom node pack's templates).

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


def video_frames(data: bytes | Path, picks: int) -> list[np.ndarray]:
    """`picks` frames spread over the clip (uint8 [H,W,3])."""
    import av

    with av.open(io.BytesIO(data) if isinstance(data, bytes) else str(data)) as container:
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


def _fit_height(frame: np.ndarray, height: int) -> Image.Image:
    img = Image.fromarray(frame)
    return img.resize((max(1, round(img.width * height / img.height)), height), Image.LANCZOS)


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: fixed-size bitmap font
        return ImageFont.load_default()


def thumbnail(data: bytes, driving: Path | None, caption: str, width: int = 288) -> Image.Image:
    """Two moments of the clip, each row `driving frame -> result`, and the workflow's title underneath, so
    templates with the same source still look different (what drives what, and how)."""
    from PIL import ImageDraw

    rows, row_h, gap = 2, 112, 6
    if data.startswith(b"\x89PNG"):  # a still (e.g. the Motion Editor workflow's saved image)
        results = [np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))] * rows
    else:
        results = video_frames(data, rows)
    drivers = video_frames(driving, rows) if driving and driving.exists() else [None] * rows
    sheet = Image.new("RGB", (width, rows * row_h + (rows - 1) * gap + 44), (24, 26, 30))
    draw = ImageDraw.Draw(sheet)
    for r, (res, drv) in enumerate(zip(results, drivers)):
        y = r * (row_h + gap)
        right = _fit_height(res, row_h)
        if drv is not None:
            left = _fit_height(drv, row_h // 2 + 24)
            sheet.paste(left, (0, y + (row_h - left.height) // 2))
            x0 = left.width + 18
            draw.polygon([(left.width + 4, y + row_h // 2 - 6), (left.width + 14, y + row_h // 2),
                          (left.width + 4, y + row_h // 2 + 6)], fill=(255, 179, 71))
        else:
            x0 = 0
        if right.width > width - x0:
            right = right.resize((width - x0, max(1, round(right.height * (width - x0) / right.width))),
                                 Image.LANCZOS)
        sheet.paste(right, (x0 + (width - x0 - right.width) // 2, y + (row_h - right.height) // 2))
    font = _font(13)
    words, lines = caption.split(), [""]
    for w in words:  # wrap to the width
        trial = f"{lines[-1]} {w}".strip()
        if draw.textlength(trial, font=font) > width - 12 and lines[-1]:
            lines.append(w)
        else:
            lines[-1] = trial
    for k, line in enumerate(lines[:2]):
        draw.text((6, rows * row_h + (rows - 1) * gap + 6 + 17 * k), line, fill=(235, 235, 235), font=font)
    return sheet


def _driving_and_caption(api_path: Path) -> tuple[Path | None, str]:
    """The driving sample a workflow reads (samples/<LoadVideo file>) and its title (the UI file's extra)."""
    api = json.loads(api_path.read_text())
    video = next((e["inputs"]["file"] for e in api.values() if e["class_type"] == "LoadVideo"), None)
    ui = json.loads((WORKFLOWS / api_path.name).read_text())
    caption = ui.get("extra", {}).get("toontalker", {}).get("title") or api_path.stem[2:].replace("_", " ")
    return (REPO / "samples" / video if video else None), caption


def save_small(img: Image.Image, path: Path) -> int:
    for quality in (85, 75, 65, 50, 40):
        img.save(path, "JPEG", quality=quality, optimize=True, progressive=True)
        if path.stat().st_size < MAX_BYTES:
            break
    return path.stat().st_size


# Templates that need a model the user brings (an upscaler, an SD checkpoint): their thumbnail shows the
# pack's part of the graph, up to the node named here (with the links patched as given), captioned.
USER_MODEL_STAGES = {
    "g_chain_upscale_the_face_crop_with_a_model": ("10", {"10": {"rendered": ["7", 0]}}, "pasted back; + your upscale model"),
    "h_chain_stylize_the_frames_with_stable_diffusion": ("6", {}, "into SD img2img with your checkpoint"),
}


def upstream(prompt: dict, node: str) -> dict:
    keep, todo = set(), [node]
    while todo:
        nid = todo.pop()
        if nid not in keep:
            keep.add(nid)
            todo += [v[0] for v in prompt[nid]["inputs"].values() if isinstance(v, list)]
    return {k: v for k, v in prompt.items() if k in keep}


def stage_prompt(prompt: dict, node: str, patch: dict) -> dict:
    prompt = json.loads(json.dumps(prompt))
    for nid, inputs in patch.items():
        prompt[nid]["inputs"].update(inputs)
    prompt = upstream(prompt, node)
    prompt["thumb"] = {"class_type": "PreviewImage", "inputs": {"images": [node, 0]}}
    return prompt


def stage_thumbnail(server: Server, entry: dict, caption: str) -> Image.Image:
    from PIL import ImageDraw

    items = entry["outputs"]["thumb"]["images"]
    frames = [np.asarray(Image.open(io.BytesIO(server.view(items[i]))).convert("RGB"))
              for i in np.linspace(0, len(items) - 1, 6)[1:-1].round().astype(int)]
    img = grid(frames, 2, 256)
    band = Image.new("RGB", (img.width, 22), (30, 30, 30))
    ImageDraw.Draw(band).text((6, 5), caption, fill=(235, 235, 235))
    out = Image.new("RGB", (img.width, img.height + band.height))
    out.paste(img, (0, 0))
    out.paste(band, (0, img.height))
    return out


def make(server: Server, names: list[str] | None = None) -> list[tuple[str, float, int]]:
    done = []
    for api in sorted((WORKFLOWS / "api").glob("*.json")):
        if names and api.stem not in names:
            continue
        t = time.perf_counter()
        prompt = json.loads(api.read_text())
        if api.stem in USER_MODEL_STAGES:
            node, patch, caption = USER_MODEL_STAGES[api.stem]
            entry = server.run(stage_prompt(prompt, node, patch))
            if entry["status"]["status_str"] != "success":
                raise SystemExit(f"{api.stem} failed: {history_messages(entry).get('execution_error')}")
            thumb = WORKFLOWS / f"{api.stem}.jpg"
            size = save_small(stage_thumbnail(server, entry, caption), thumb)
            print(f"{thumb.relative_to(REPO)}: {size} bytes (up to node {node}); run {time.perf_counter() - t:.1f} s")
            done.append((api.stem, time.perf_counter() - t, size))
            continue
        entry = server.run(prompt)
        wall = time.perf_counter() - t
        if entry["status"]["status_str"] != "success":
            err = history_messages(entry).get("execution_error", entry["status"])
            raise SystemExit(f"{api.stem} failed: {err}")
        videos = [v for out in entry["outputs"].values() for v in out.get("images", []) + out.get("videos", [])]
        if not videos:
            raise SystemExit(f"{api.stem}: no output file in {entry['outputs']}")
        thumb = WORKFLOWS / f"{api.stem}.jpg"
        size = save_small(thumbnail(server.view(videos[0]), *_driving_and_caption(api)), thumb)
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
