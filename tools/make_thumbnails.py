"""Run each example workflow in a real ComfyUI (with the bundled demo model) and save a thumbnail of its
result beside the workflow: a strip of three frames from the output video, small .webp.

    python tools/make_thumbnails.py --comfyui /path/to/ComfyUI [--python /path/to/its/python]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests" / "integration")]

from comfy_server import Server, prepare_base  # noqa: E402
from toontalker_core.media import iter_driving, probe_driving  # noqa: E402


def strip(video: Path, height: int = 128) -> Image.Image:
    n = probe_driving(video).num_frames
    frames = [next(iter_driving(video, chunk_size=1, start=i, stop=i + 1))[0] for i in (0, n // 3, 2 * n // 3)]
    arr = np.concatenate([f.permute(1, 2, 0).numpy() for f in frames], axis=1)
    img = Image.fromarray((arr * 255).round().astype(np.uint8))
    return img.resize((round(img.width * height / img.height), height), Image.LANCZOS)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--comfyui", required=True)
    ap.add_argument("--python")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = prepare_base(Path(tmp), REPO)  # no checkpoint: the bundled demo model is used
        server = Server(base, args.comfyui, args.python)
        try:
            server.wait_ready()
            for api in sorted((REPO / "example_workflows" / "api").glob("*.json")):
                hist = server.run(json.loads(api.read_text()))
                if hist["status"]["status_str"] != "success":
                    raise SystemExit(f"{api.stem} failed: {hist['status']}")
                out = [v for o in hist["outputs"].values() for v in o.get("images", [])][0]
                thumb = REPO / "example_workflows" / f"{api.stem}.webp"
                strip(base / "output" / out.get("subfolder", "") / out["filename"]).save(thumb, quality=80)
                print(f"{thumb.name}: {thumb.stat().st_size} bytes")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
