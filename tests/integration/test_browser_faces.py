"""Several faces in the real ComfyUI editor: the two-face template (a real face and a cartoon in one picture,
one driving video) loaded, queued and run with the bundled demo model; both faces move, the rest stays.

Needs what test_browser.py needs (COMFYUI_PATH, playwright, Chromium); screenshots and the output's middle
frame go to $TOONTALKER_ARTIFACTS.
"""
from __future__ import annotations

import io
import json
import os

import numpy as np
import pytest

from comfy_server import Server, prepare_base
from conftest import REPO
from test_browser import APP, artifacts, drawn, load_graph, pack_errors, page, run_graph  # noqa: F401 (fixtures)

pytestmark = pytest.mark.integration

TEMPLATE = "k_one_video_drives_two_faces_a_real_one_and_a_cartoon"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The bundled demo model (what the template names), not the tiny test checkpoint."""
    base = prepare_base(tmp_path_factory.mktemp("comfy_faces"), REPO)
    with Server(base, os.environ["COMFYUI_PATH"], os.environ.get("COMFYUI_PYTHON")) as srv:
        yield srv


def middle_frame(data: bytes) -> np.ndarray:
    import av

    with av.open(io.BytesIO(data)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    return frames[len(frames) // 2]


def test_two_face_template_animates_both_faces_and_keeps_the_rest(page, server, artifacts):  # noqa: F811
    from PIL import Image

    graph = json.loads((REPO / "example_workflows" / f"{TEMPLATE}.json").read_text())
    assert load_graph(page, graph) == sorted(n["type"] for n in graph["nodes"])
    widgets = page.evaluate(f"""() => Object.fromEntries({APP}.graph._nodes.find(n => n.type === 'ToonTalkerReenact')
                               .widgets.map(w => [w.name, w.value]))""")
    assert (widgets["faces"], widgets["driving_face"], widgets["face_domains"]) == ("all", "largest", "real,cartoon")
    run_graph(page, server)
    page.evaluate(f"() => {{ {APP}.canvas.ds.offset = [0, 0]; {APP}.canvas.ds.scale = 0.7; "
                  f"{APP}.graph.setDirtyCanvas(true, true); }}")
    drawn(page)
    shot = artifacts / f"faces_{TEMPLATE}.png"
    page.screenshot(path=str(shot))
    print("screenshot:", shot)

    history = server.get("/history")
    entry = max(history.values(), key=lambda e: e["status"].get("messages", [[None, {"timestamp": 0}]])[-1][1]
                .get("timestamp", 0))
    assert entry["status"]["status_str"] == "success", entry["status"]
    videos = [v for out in entry["outputs"].values() for v in out.get("images", []) + out.get("videos", [])]
    assert len(videos) == 1, entry["outputs"]
    frame = middle_frame(server.view(videos[0]))
    Image.fromarray(frame).save(artifacts / f"faces_{TEMPLATE}_middle_frame.png")
    print("middle frame:", artifacts / f"faces_{TEMPLATE}_middle_frame.png")
    source = np.asarray(Image.open(REPO / "samples" / "source_two_faces.png").convert("RGB"))
    assert frame.shape == source.shape
    diff = np.abs(frame.astype(float) - source.astype(float)).mean(axis=-1) / 255
    # the faces (the centre of each 256 px portrait: 24..280 x 16..272 and 336..592) moved ...
    left, right = diff[90:220, 80:210].mean(), diff[90:220, 400:530].mean()
    # ... the 64 px strip between the portraits, outside both paste masks, did not (video coding noise only)
    gap = diff[:, 256:300].mean()
    print(f"mean |output - source|: left face {left:.4f}, right face {right:.4f}, between them {gap:.4f}")
    assert left > 0.02 and right > 0.02, (left, right)
    assert gap < 0.01, gap
    assert pack_errors(page) == []
