"""Motion editing in a real ComfyUI with the bundled demo model (its measured controls ship with the pack):
the four motion nodes in /object_info, the Motion Editor and keyframe workflows run, a slider change re-runs only
the editor, Save Motion / Load Motion round trip, and (with Playwright + Chromium) moving a Motion Editor slider in
the editor changes the node's preview.

    COMFYUI_PATH=/path/to/ComfyUI [COMFYUI_PYTHON=...] pytest tests/integration/test_motion_integration.py
"""
from __future__ import annotations

import copy
import io
import json
import os
import sys
import time
from pathlib import Path

import pytest

from comfy_server import Server, history_messages, prepare_base
from conftest import REPO

pytestmark = pytest.mark.integration

COMFY = os.environ.get("COMFYUI_PATH")
PYTHON = os.environ.get("COMFYUI_PYTHON") or sys.executable
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
if not COMFY or not (Path(COMFY) / "main.py").exists():
    pytest.skip("set COMFYUI_PATH to a ComfyUI checkout to run the real-server tests", allow_module_level=True)

WF = REPO / "example_workflows"
NEW = ("ToonTalkerMotionEditor", "ToonTalkerMotionKeyframes", "ToonTalkerSaveMotion", "ToonTalkerLoadMotion")
APP = "window.comfyAPI.app.app"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    base = prepare_base(tmp_path_factory.mktemp("comfy_motion"), REPO)  # the bundled demo model
    with Server(base, COMFY, PYTHON) as srv:
        yield srv


def run_ok(server, prompt, what: str) -> dict:
    entry = server.run(prompt, timeout=900)
    assert entry["status"]["status_str"] == "success", \
        f"{what}: {history_messages(entry).get('execution_error', entry['status'])}"
    return entry


def executed(entry) -> set[str]:
    cached = set(history_messages(entry).get("execution_cached", {}).get("nodes", []))
    return set(entry["prompt"][2]) - cached


def api(name: str) -> dict:
    return json.loads((WF / "api" / f"{name}.json").read_text())


def test_motion_nodes_in_object_info(server):
    info = server.get("/object_info", timeout=60)
    for name in NEW:
        assert info[name]["category"] == "ToonTalker", name
    editor = info["ToonTalkerMotionEditor"]["input"]
    # plain words, the range, and for which faces of the bundled model (its measurements ship) each one works
    tip = editor["required"]["head_x"][1]["tooltip"]
    assert tip.startswith("Moves the head sideways: - to the left, + to the right (-3..+3).") and "64px" in tip, tip
    assert editor["optional"]["d00"][1].get("advanced") is True
    assert "d19" in editor["optional"] and info["ToonTalkerMotionEditor"]["output"][:2] == \
        ["TOONTALKER_CANONICAL", "TOONTALKER_MOTION"]


def test_motion_editor_workflow_and_slider_change(server):
    prompt = api("i_edit_a_portrait_expression_with_the_motion_editor")
    first = run_ok(server, prompt, "i_edit_a_portrait_expression_with_the_motion_editor")
    saved = first["outputs"]["5"]["images"][0]
    before = server.view(saved)
    changed = copy.deepcopy(prompt)
    changed["4"]["inputs"]["head_x"] = -2.5
    second = run_ok(server, changed, "slider change")
    assert executed(second) == {"4", "5"}, executed(second)  # loader, image and Encode Source come from the cache
    after = server.view(second["outputs"]["5"]["images"][0])
    assert after != before
    assert second["outputs"]["4"]["images"], "the editor shows its preview"


def test_keyframe_workflow_writes_the_video(server):
    import av

    entry = run_ok(server, api("j_keyframe_animation_without_a_driving_video"), "j_keyframe_animation_without_a_driving_video")
    item = entry["outputs"]["9"]["images"][0] if "images" in entry["outputs"]["9"] else entry["outputs"]["9"]["videos"][0]
    with av.open(io.BytesIO(server.view(item))) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
        fps = float(c.streams.video[0].average_rate)
    assert len(frames) == 100 and abs(fps - 25) < 0.01
    import numpy as np

    assert np.abs(frames[0].astype(int) - frames[30].astype(int)).mean() > 1  # the head moved


def test_save_and_load_motion(server):
    prompt = api("j_keyframe_animation_without_a_driving_video")
    keep = {k: v for k, v in prompt.items() if k in ("1", "2", "3", "4")}
    keep["20"] = {"class_type": "ToonTalkerSaveMotion", "inputs": {"model": ["1", 0], "motion": ["4", 0],
                                                                    "filename_prefix": "it/keys", "fps": 25.0}}
    entry = run_ok(server, keep, "save motion")
    rel = entry["outputs"]["20"]["text"][0]
    assert (server.base / "output" / "toontalker_motion" / rel).is_file()
    listed = server.get("/object_info/ToonTalkerLoadMotion")["ToonTalkerLoadMotion"]["input"]["required"]
    assert rel in listed["motion_file"][0]
    load = {"1": prompt["1"], "30": {"class_type": "ToonTalkerLoadMotion",
                                     "inputs": {"model": ["1", 0], "motion_file": rel}},
            "2": prompt["2"], "3": prompt["3"],
            "31": {"class_type": "ToonTalkerMotionEditor", "inputs": {**prompt_editor_zero(), "model": ["1", 0],
                                                                      "source": ["3", 0], "motion": ["30", 0]}},
            "32": {"class_type": "SaveImage", "inputs": {"images": ["31", 2], "filename_prefix": "it/loaded"}}}
    run_ok(server, load, "load motion")


def prompt_editor_zero() -> dict:
    inputs = api("i_edit_a_portrait_expression_with_the_motion_editor")["4"]["inputs"]
    return {k: (0.0 if isinstance(v, float) else v) for k, v in inputs.items()}


# ------------------------------------------------------------------------------------------------ the browser

def test_moving_a_slider_changes_the_preview(server, tmp_path):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}")
    sync_api = pytest.importorskip("playwright.sync_api")
    graph = json.loads((WF / "i_edit_a_portrait_expression_with_the_motion_editor.json").read_text())
    flags = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=flags)
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        server.post("/settings/Comfy.TutorialCompleted", True)
        page.goto(server.url)
        page.wait_for_function(f"() => window.comfyAPI?.app?.app?.graph && {APP}.extensionManager", timeout=90_000)
        time.sleep(3)
        page.keyboard.press("Escape")

        def preview() -> str:
            for _ in range(240):
                src = page.evaluate(f"() => ({APP}.nodeOutputs?.['4']?.images ?? []).map(i => i.filename).join()")
                if src:
                    return src
                time.sleep(0.5)
            raise TimeoutError("no preview on the Motion Editor")

        def run() -> None:
            page.evaluate(f"async () => {{ {APP}.nodeOutputs = {{}}; await {APP}.queuePrompt(0, 1); }}")

        for _ in range(10):
            page.evaluate(f"async (g) => {{ await {APP}.loadGraphData(g); }}", graph)
            time.sleep(0.5)
            if page.evaluate(f"() => {APP}.graph._nodes.length") == len(graph["nodes"]):
                break
        run()
        first = preview()
        page.screenshot(path=str(tmp_path / "editor_before.png"))
        # move the head_x slider like a user: the widget's value through its callback
        moved = page.evaluate(f"""() => {{
            const node = {APP}.graph.getNodeById(4);
            const w = node.widgets.find(w => w.name === 'head_x');
            w.value = -2.5; w.callback?.(w.value);
            node.setDirtyCanvas(true, true);
            return w.value; }}""")
        assert moved == -2.5
        run()
        second = preview()
        page.screenshot(path=str(tmp_path / "editor_after.png"))
        browser.close()
    assert second != first, "the preview did not change"
    a = server.view({"filename": first, "subfolder": "", "type": "temp"})
    b = server.view({"filename": second, "subfolder": "", "type": "temp"})
    assert a != b
