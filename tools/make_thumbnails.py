"""Run each example workflow (API twin) in a real ComfyUI and write a thumbnail of its result beside the UI
workflow: example_workflows/<name>.jpg: two moments of the output video next to the driving frames, with the
workflow's title (the template browser shows `<name>.jpg` for a custom node pack's templates). The chaining
templates, whose models the user downloads, get a diagram of their chain instead (CHAINS below).

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


# Templates that need a model the user brings (an upscaler, an SD checkpoint), which cannot be run here: their
# thumbnail is a diagram of the chain. The ToonTalker panels are real frames of the pack's part of the graph (run
# up to the nodes named, with the links patched as given); the model's step is an empty dashed box with its
# name, so that nothing passes for the model's output.
CHAINS = {
    "g_chain_upscale_the_face_crop_with_a_model": {
        "patch": {"10": {"rendered": ["7", 0]}},  # Paste Back of the crop as ToonTalker made it
        "panels": [("ToonTalker", "7", "face crop"), ("Upscaler x4", None, "RealESRGAN\nx4plus\n(your model)"),
                   ("Paste back", "10", "into the source")],
        "caption": "Upscale the face crop x4, paste it back",
    },
    "h_chain_stylize_the_frames_with_stable_diffusion": {
        "patch": {},
        "panels": [("Driving", "driving", "video frame"), ("ToonTalker", "5", "reenacted"),
                   ("SD 1.5", None, "img2img:\nwatercolor,\ndenoise 0.35\n(your model)")],
        "caption": "Restyle the frames with Stable Diffusion",
    },
}
FOOTNOTE = "dashed: the model's step, not run for this picture"


def upstream(prompt: dict, node: str) -> dict:
    keep, todo = set(), [node]
    while todo:
        nid = todo.pop()
        if nid not in keep:
            keep.add(nid)
            todo += [v[0] for v in prompt[nid]["inputs"].values() if isinstance(v, list)]
    return {k: v for k, v in prompt.items() if k in keep}


def stage_prompt(prompt: dict, nodes: list[str], patch: dict) -> dict:
    """The part of `prompt` that `nodes` need (after `patch`), with a Preview Image of each (id thumb_<node>)."""
    prompt = json.loads(json.dumps(prompt))
    for nid, inputs in patch.items():
        prompt[nid]["inputs"].update(inputs)
    staged = {}
    for node in nodes:
        staged.update(upstream(prompt, node))
        staged[f"thumb_{node}"] = {"class_type": "PreviewImage", "inputs": {"images": [node, 0]}}
    return staged


def _dashed_box(draw, box, color, dash: int = 6) -> None:
    x0, y0, x1, y1 = box
    for x in range(x0, x1, 2 * dash):
        draw.line([(x, y0), (min(x + dash, x1), y0)], fill=color, width=2)
        draw.line([(x, y1), (min(x + dash, x1), y1)], fill=color, width=2)
    for y in range(y0, y1, 2 * dash):
        draw.line([(x0, y), (x0, min(y + dash, y1))], fill=color, width=2)
        draw.line([(x1, y), (x1, min(y + dash, y1))], fill=color, width=2)


def chain_thumbnail(panels: list[tuple[str, np.ndarray | None, str]], caption: str, width: int = 288
                    ) -> Image.Image:
    """Panels left to right with arrows: a label above each, a frame (or, for None, a dashed box with the text
    inside), a note under it; the caption and FOOTNOTE below. 4:3, the template browser's card shape."""
    from PIL import ImageDraw

    height, gap, side = round(width * 3 / 4), 16, (width - 2 * 16) // 3
    sheet = Image.new("RGB", (width, height), (24, 26, 30))
    draw = ImageDraw.Draw(sheet)
    label_font, note_font = _font(12), _font(11)
    top = 18 + (height - side - 92) // 2  # the whole block centred: labels, panels, notes, caption, footnote
    for k, (label, frame, note) in enumerate(panels):
        x = k * (side + gap)
        draw.text((x + side / 2, top - 18), label, fill=(235, 235, 235), font=label_font, anchor="ma")
        if frame is not None:
            img = _fit_height(frame, side)
            sheet.paste(img.crop(((img.width - side) // 2, 0, (img.width - side) // 2 + side, side)), (x, top))
            draw.text((x + side / 2, top + side + 5), note, fill=(170, 170, 170), font=note_font, anchor="ma")
        else:
            _dashed_box(draw, (x + 1, top + 1, x + side - 2, top + side - 2), (255, 179, 71))
            draw.multiline_text((x + side / 2, top + side / 2), note, fill=(255, 179, 71), font=note_font,
                                anchor="mm", align="center", spacing=3)
        if k:
            ay = top + side // 2
            draw.polygon([(x - gap + 4, ay - 6), (x - 4, ay), (x - gap + 4, ay + 6)], fill=(255, 179, 71))
    y = top + side + 26
    draw.text((6, y), caption, fill=(235, 235, 235), font=_font(13))
    draw.text((6, y + 20), FOOTNOTE, fill=(150, 150, 150), font=note_font)
    return sheet


def make_chain(server: Server, name: str, prompt: dict) -> Image.Image:
    spec = CHAINS[name]
    nodes = [node for _, node, _ in spec["panels"] if node not in (None, "driving")]
    entry = server.run(stage_prompt(prompt, nodes, spec["patch"]))
    if entry["status"]["status_str"] != "success":
        raise SystemExit(f"{name} failed: {history_messages(entry).get('execution_error')}")
    driving, _ = _driving_and_caption(WORKFLOWS / "api" / f"{name}.json")
    panels = []
    for label, node, note in spec["panels"]:
        if node is None:
            frame = None
        elif node == "driving":
            frame = video_frames(driving, 1)[0]
        else:  # the middle frame of what the node made
            items = entry["outputs"][f"thumb_{node}"]["images"]
            frame = np.asarray(Image.open(io.BytesIO(server.view(items[len(items) // 2]))).convert("RGB"))
        panels.append((label, frame, note))
    return chain_thumbnail(panels, spec["caption"])


def make(server: Server, names: list[str] | None = None) -> list[tuple[str, float, int]]:
    done = []
    for api in sorted((WORKFLOWS / "api").glob("*.json")):
        if names and api.stem not in names:
            continue
        t = time.perf_counter()
        prompt = json.loads(api.read_text())
        if api.stem in CHAINS:
            thumb = WORKFLOWS / f"{api.stem}.jpg"
            size = save_small(make_chain(server, api.stem, prompt), thumb)
            print(f"{thumb.relative_to(REPO)}: {size} bytes (a diagram of the chain); run "
                  f"{time.perf_counter() - t:.1f} s")
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
