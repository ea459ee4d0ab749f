"""The web extension in the real ComfyUI frontend, driven by headless Chromium (Playwright).

Needs COMFYUI_PATH (COMFYUI_PYTHON optional), the `playwright` package and a Chromium (/usr/bin/chromium, or
$CHROMIUM); skips otherwise. Screenshots go to $TOONTALKER_ARTIFACTS (default: the pytest tmp dir).
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from comfy_server import Server, prepare_base, tiny_checkpoint
from conftest import REPO

pytestmark = pytest.mark.integration

COMFY = os.environ.get("COMFYUI_PATH")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
if not COMFY or not (Path(COMFY) / "main.py").exists():
    pytest.skip("set COMFYUI_PATH to a ComfyUI checkout to run the browser tests", allow_module_level=True)
if not Path(CHROMIUM).exists():
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium, or set $CHROMIUM)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright for the browser tests")

APP = "window.comfyAPI.app.app"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", "--disable-quic"]


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory) -> Path:
    d = Path(os.environ.get("TOONTALKER_ARTIFACTS") or tmp_path_factory.mktemp("screens"))
    d.mkdir(parents=True, exist_ok=True)
    return d


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    base = prepare_base(tmp_path_factory.mktemp("comfy_ui"), REPO, tiny_checkpoint)
    srv = Server(base, COMFY, os.environ.get("COMFYUI_PYTHON"))
    try:
        srv.wait_ready()
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def page(server, tmp_path_factory):
    errors: list[str] = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        pg = browser.new_page(viewport={"width": 1600, "height": 1000})
        pg.on("console", lambda m: errors.append(f"{m.type}: {m.text} @ {m.location.get('url', '')}")
              if m.type == "error" else None)
        pg.on("pageerror", lambda e: errors.append(f"pageerror: {e} {getattr(e, 'stack', '')}"))
        server.post("/settings/Comfy.TutorialCompleted", True)  # no first-run template dialog over the canvas
        pg.goto(server.url)
        wait_editor(pg)
        pg.toontalker_errors = errors
        yield pg
        browser.close()


def wait_editor(page) -> None:
    page.wait_for_function(f"() => window.comfyAPI?.app?.app?.graph && {APP}.extensionManager", timeout=90_000)
    time.sleep(3)  # the editor opens its start-up workflow shortly after; see load_graph
    page.keyboard.press("Escape")


def load_graph(page, graph: dict) -> list[str]:
    """Load a UI-format graph; retried while the editor's start-up workflow may still replace it."""
    want = sorted(n["type"] for n in graph["nodes"])
    types: list[str] = []
    for _ in range(10):
        page.evaluate(f"async (g) => {{ await {APP}.loadGraphData(g); }}", graph)
        time.sleep(0.5)
        types = sorted(page.evaluate(f"() => {APP}.graph._nodes.map(n => n.type)"))
        if types == want:
            break
        time.sleep(1)
    return types


def run_graph(page, server, timeout: float = 300):
    """Queue the graph in the editor and wait until the server's queue is empty again."""
    page.evaluate(f"async () => {{ await {APP}.queuePrompt(0, 1); }}")
    end = time.time() + timeout
    time.sleep(1)
    while time.time() < end:
        q = server.get("/queue")
        if not q["queue_running"] and not q["queue_pending"]:
            return
        time.sleep(0.5)
    raise TimeoutError("the graph did not finish")


def color_pixels(png: Path, rgb: tuple[int, int, int], tol: int = 40) -> int:
    import numpy as np
    from PIL import Image

    arr = np.asarray(Image.open(png).convert("RGB")).astype(int)
    return int((np.abs(arr - np.array(rgb)).max(axis=-1) <= tol).sum())


def pack_errors(page) -> list[str]:
    return [e for e in page.toontalker_errors if "ComfyUI-ToonTalker" in e or "toontalker" in e.lower()]


def test_extension_scripts_load(page):
    page.wait_for_function(f"() => ({APP}.extensions ?? []).some(e => e.name === 'ToonTalker.CropEditor')",
                           timeout=30_000)
    names = page.evaluate(f"() => {APP}.extensions.map(e => e.name)")
    for ext in ("ToonTalker.MotionPlot", "ToonTalker.CropEditor", "ToonTalker.DomainColors"):
        assert ext in names, f"{ext} was not registered"
    assert pack_errors(page) == []


@pytest.mark.parametrize("name", [p.stem for p in sorted((REPO / "example_workflows").glob("*.json"))])
def test_example_workflow_in_editor(page, server, artifacts, name):
    graph = json.loads((REPO / "example_workflows" / f"{name}.json").read_text())
    if any(n["type"].startswith("ToonTalkerMotion") for n in graph["nodes"]):
        pytest.skip("uses the bundled model's measured motion controls: test_motion_integration.py runs it")
    assert load_graph(page, graph) == sorted(n["type"] for n in graph["nodes"])
    run_graph(page, server)
    page.evaluate(f"() => {{ {APP}.canvas.ds.offset = [0, 0]; {APP}.canvas.ds.scale = 0.7; "
                  f"{APP}.graph.setDirtyCanvas(true, true); }}")
    time.sleep(0.5)
    shot = artifacts / f"workflow_{name}.png"
    page.screenshot(path=str(shot))
    print("screenshot:", shot)
    plots = page.evaluate(f"""() => {APP}.graph._nodes.filter(n => n.type === 'ToonTalkerEncodeDrivingMotion')
                               .map(n => n.properties?.toontalker_motion?.magnitude?.length ?? 0)""")
    if plots:  # staged workflows: the motion plot has data and is drawn (its line colour is on screen)
        assert all(p > 10 for p in plots), plots
        assert color_pixels(shot, (95, 208, 255), 30) > 50
    colored = page.evaluate(f"() => {APP}.graph._nodes.filter(n => n.type.startsWith('ToonTalker') && "
                            "n.bgcolor).length")
    assert colored >= 1
    assert pack_errors(page) == []


def test_crop_box_renders_and_drags(page, server, artifacts):
    page.reload()  # a clean editor: no outputs of the earlier workflows under reused node ids
    wait_editor(page)
    page.evaluate(f"""() => {{
        const app = {APP};
        app.graph.clear();
        // fresh node ids: the editor keeps earlier runs' outputs (image previews) by node id
        const load = LiteGraph.createNode('LoadImage'); load.id = 901; load.pos = [20, 40]; app.graph.add(load);
        load.widgets.find(w => w.name === 'image').value = 'source_real.png';
        const crop = LiteGraph.createNode('ToonTalkerFaceCrop'); crop.id = 902; crop.pos = [360, 40];
        app.graph.add(crop);
        crop.widgets.find(w => w.name === 'crop_size').value = 64;
        const prev = LiteGraph.createNode('PreviewImage'); prev.id = 903; prev.pos = [760, 40]; app.graph.add(prev);
        load.connect(0, crop, 0); crop.connect(0, prev, 0);
        app.canvas.ds.offset = [0, 0]; app.canvas.ds.scale = 1;
        window.__crop = crop;
    }}""")
    run_graph(page, server)
    page.wait_for_function("() => window.__crop.toontalkerCrop && window.__crop.toontalkerImage?.complete",
                           timeout=30_000)
    page.evaluate(f"() => {APP}.graph.setDirtyCanvas(true, true)")
    time.sleep(0.5)
    shot = artifacts / "crop_box_detected.png"
    page.screenshot(path=str(shot))
    print("screenshot:", shot)
    assert color_pixels(shot, (76, 255, 136), 30) > 100  # the detected box outline
    before = page.evaluate("() => ({mode: window.__crop.widgets.find(w => w.name === 'box_mode').value,"
                           " box: window.__crop.toontalkerCrop.box})")
    assert before["mode"] == "auto"
    # a real mouse drag from the box centre, 30 screen px right and 20 down
    start = page.evaluate(f"""() => {{
        const n = window.__crop, app = {APP};
        const [bx, by, bs] = n.toontalkerCrop.box, [iw, ih] = n.toontalkerCrop.image_size;
        const top = n.size[1] - 220 - 4, availW = n.size[0] - 16;
        const s = Math.min(availW / iw, 220 / ih);
        const lx = 8 + (availW - iw * s) / 2 + (bx + bs / 2) * s, ly = top + (220 - ih * s) / 2 + (by + bs / 2) * s;
        const c = app.canvas.ds.convertOffsetToCanvas([n.pos[0] + lx, n.pos[1] + ly]);
        const r = app.canvas.canvas.getBoundingClientRect();
        return [r.left + c[0], r.top + c[1], s];
    }}""")
    page.mouse.move(start[0], start[1])
    page.mouse.down()
    for i in range(1, 7):
        page.mouse.move(start[0] + 5 * i, start[1] + 20 * i / 6)
    page.mouse.up()
    after = page.evaluate("() => Object.fromEntries(window.__crop.widgets.filter(w => "
                          "['box_mode', 'box_x', 'box_y', 'box_size'].includes(w.name)).map(w => [w.name, w.value]))")
    shot2 = artifacts / "crop_box_dragged.png"
    page.screenshot(path=str(shot2))
    print("screenshot:", shot2, after)
    assert after["box_mode"] == "manual"
    scale = start[2]
    assert after["box_x"] == pytest.approx(before["box"][0] + 30 / scale, abs=3 / scale + 1)
    assert after["box_y"] == pytest.approx(before["box"][1] + 20 / scale, abs=3 / scale + 1)
    assert after["box_size"] == pytest.approx(before["box"][2], abs=1)
    assert color_pixels(shot2, (255, 179, 71), 30) > 100  # manual boxes are drawn orange
    assert pack_errors(page) == []
