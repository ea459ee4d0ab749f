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
    with Server(base, COMFY, os.environ.get("COMFYUI_PYTHON")) as srv:
        yield srv


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
    """The editor is up and has opened its start-up workflow (which would replace a graph loaded before it)."""
    page.wait_for_function(f"() => window.comfyAPI?.app?.app?.graph && "
                           f"{APP}.extensionManager?.workflow?.activeWorkflow?.isLoaded", timeout=90_000)
    drawn(page)
    page.keyboard.press("Escape")


def drawn(page) -> None:
    """Wait until the canvas has drawn what was just changed (two animation frames: the next paint is done)."""
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


def load_graph(page, graph: dict) -> list[str]:
    """Load a UI-format graph; loaded again while the editor's start-up workflow may still replace it."""
    want = sorted(n["type"] for n in graph["nodes"])
    check = f"(want) => JSON.stringify({APP}.graph._nodes.map(n => n.type).sort()) === JSON.stringify(want)"
    for _ in range(10):
        page.evaluate(f"async (g) => {{ await {APP}.loadGraphData(g); }}", graph)
        try:
            page.wait_for_function(check, arg=want, timeout=2_000)
            break
        except sync_api.TimeoutError:
            continue
    drawn(page)
    return sorted(page.evaluate(f"() => {APP}.graph._nodes.map(n => n.type)"))


def run_graph(page, server, timeout: float = 900):
    """Queue the graph in the editor and wait until the server's queue is empty again."""
    page.evaluate(f"async () => {{ await {APP}.queuePrompt(0, 1); }}")  # returns once the server has it
    end = time.time() + timeout
    while time.time() < end:
        q = server.get("/queue")
        if not q["queue_running"] and not q["queue_pending"]:
            return
        time.sleep(0.5)  # the poll interval
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
    for ext in ("ToonTalker.MotionPlot", "ToonTalker.CropEditor", "ToonTalker.DomainColors",
                "ToonTalker.AdvancedWidgets"):
        assert ext in names, f"{ext} was not registered"
    assert pack_errors(page) == []


@pytest.mark.parametrize("name", [p.stem for p in sorted((REPO / "example_workflows").glob("*.json"))
                                  if not "_chain_" in p.stem])  # need user models: test_chaining.py
def test_example_workflow_in_editor(page, server, artifacts, name):
    graph = json.loads((REPO / "example_workflows" / f"{name}.json").read_text())
    if any(n["type"].startswith("ToonTalkerMotion") for n in graph["nodes"]):
        pytest.skip("uses the bundled model's measured motion controls: test_motion_integration.py runs it")
    assert load_graph(page, graph) == sorted(n["type"] for n in graph["nodes"])
    run_graph(page, server)
    page.evaluate(f"() => {{ {APP}.canvas.ds.offset = [0, 0]; {APP}.canvas.ds.scale = 0.7; "
                  f"{APP}.graph.setDirtyCanvas(true, true); }}")
    drawn(page)
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
    drawn(page)
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
    # the moved box is kept inside the image (the detected one may extend past it)
    iw, ih = page.evaluate("() => window.__crop.toontalkerCrop.image_size")
    side = min(before["box"][2], iw, ih)
    assert after["box_size"] == pytest.approx(side, abs=1)
    assert after["box_x"] == pytest.approx(min(max(before["box"][0] + 30 / scale, 0), iw - side), abs=3 / scale + 1)
    assert after["box_y"] == pytest.approx(min(max(before["box"][1] + 20 / scale, 0), ih - side), abs=3 / scale + 1)
    assert color_pixels(shot2, (255, 179, 71), 30) > 100  # manual boxes are drawn orange
    assert pack_errors(page) == []


# ------------------------------------------------------------------------------------ issue 15: editor polish

def to_screen(page, node_expr: str, lx: float, ly: float) -> list[float]:
    """Node-local coordinates -> page coordinates."""
    return page.evaluate(f"""([lx, ly]) => {{
        const n = {node_expr}, app = {APP};
        const c = app.canvas.ds.convertOffsetToCanvas([n.pos[0] + lx, n.pos[1] + ly]);
        const r = app.canvas.canvas.getBoundingClientRect();
        return [r.left + c[0], r.top + c[1]];
    }}""", [lx, ly])


def widget_row(page, node_expr: str, name: str) -> tuple[float, float, float]:
    """(y, height, node width) of a widget's row, node-local."""
    return tuple(page.evaluate(f"""(name) => {{
        const n = {node_expr}, w = n.widgets.find(w => w.name === name);
        return [w.y ?? w.last_y, w.computedHeight ?? LiteGraph.NODE_WIDGET_HEIGHT, n.size[0]];
    }}""", name))


def click_combo_arrow(page, node_expr: str, name: str, right: bool = True) -> None:
    """A real click on a combo widget's arrow (next / previous value), as a user switches a route."""
    y, h, width = widget_row(page, node_expr, name)
    x, sy = to_screen(page, node_expr, width - 22 if right else 22, y + h / 2)
    page.mouse.click(x, sy)
    drawn(page)


def add_by_search(page, query: str, canvas_xy=(700, 500)) -> str:
    """Add a node the way a user does: double-click the canvas, type in the search box, Enter. -> its type."""
    before = set(page.evaluate(f"() => {APP}.graph._nodes.map(n => n.id)"))
    box = "input[placeholder]:focus, .comfy-vue-node-search-container input"
    for attempt in range(5):  # right after start-up the canvas may not take pointer input yet: click again
        page.mouse.dblclick(*canvas_xy)
        try:
            page.wait_for_selector(box, timeout=2_000)
            break
        except sync_api.TimeoutError:
            if attempt == 4:
                raise
    page.keyboard.type(query, delay=30)
    page.wait_for_selector(".p-autocomplete-option.p-focus", timeout=10_000)  # the query's results, one focused
    page.keyboard.press("Enter")
    page.wait_for_function(f"(n) => {APP}.graph._nodes.length > n", arg=len(before), timeout=10_000)
    page.wait_for_selector(".p-dialog-mask, .comfy-vue-node-search-container", state="detached", timeout=10_000)
    drawn(page)
    added = page.evaluate(f"() => {APP}.graph._nodes.map(n => [n.id, n.type])")
    new = [t for i, t in added if i not in before]
    assert len(new) == 1, f"search '{query}' added {new}"
    return new[0]


def fresh_canvas(page) -> None:
    """A reloaded editor with an empty graph at 100 % zoom (nodes land where the test clicks)."""
    page.reload()
    wait_editor(page)
    page.evaluate(f"() => {{ {APP}.graph.clear(); {APP}.canvas.ds.offset = [0, 0]; {APP}.canvas.ds.scale = 1; }}")


COLORS = {"real": "#2e4d7a", "cartoon": "#8a5522", "mixed": "#603a80"}  # web/domain_colors.js bgcolor


def test_domain_colours_on_nodes_added_by_hand_and_loaded(page, server, artifacts):
    fresh_canvas(page)
    assert add_by_search(page, "Encode Source ToonTalker", (300, 300)) == "ToonTalkerEncodeSource"
    enc = f"{APP}.graph._nodes.find(n => n.type === 'ToonTalkerEncodeSource')"
    # defaults follow the first listed media (a cartoon image, a real video: issue 23.5)
    domain = lambda: page.evaluate(f"() => [{enc}.widgets.find(w => w.name === 'domain').value, {enc}.bgcolor]")
    assert domain() == ["cartoon", COLORS["cartoon"]]
    click_combo_arrow(page, enc, "domain", right=False)
    assert domain() == ["real", COLORS["real"]]
    click_combo_arrow(page, enc, "domain")
    assert domain() == ["cartoon", COLORS["cartoon"]]

    assert add_by_search(page, "ToonTalker Reenact", (300, 650)) == "ToonTalkerReenact"
    reenact = f"{APP}.graph._nodes.find(n => n.type === 'ToonTalkerReenact')"
    route = lambda: page.evaluate(f"() => [{reenact}.widgets.find(w => w.name === 'route').value, {reenact}.bgcolor]")
    assert route() == ["real video -> cartoon portrait (r2c)", COLORS["mixed"]], route()
    click_combo_arrow(page, reenact, "route", right=False)  # r2c  =>  real video -> real portrait
    assert route() == ["real video -> real portrait", COLORS["real"]], route()
    click_combo_arrow(page, reenact, "route")  # and back to r2c
    assert "cartoon" in route()[0] and route()[1] == COLORS["mixed"], route()
    page.evaluate(f"() => {APP}.graph.setDirtyCanvas(true, true)")
    drawn(page)
    shot = artifacts / "domain_colors_added_by_search.png"
    page.screenshot(path=str(shot))
    print("screenshot:", shot)
    assert color_pixels(shot, (0x8a, 0x55, 0x22), 12) > 500 and color_pixels(shot, (0x60, 0x3a, 0x80), 12) > 500

    # a loaded template: b (real video -> cartoon) is purple; switching its route to real -> real turns it blue
    graph = json.loads((REPO / "example_workflows" / "b_real_video_drives_a_cartoon_r2c.json").read_text())
    load_graph(page, graph)
    assert route()[1] == COLORS["mixed"], route()
    click_combo_arrow(page, reenact, "route", right=False)
    assert route() == ["real video -> real portrait", COLORS["real"]]
    page.evaluate(f"() => {{ {APP}.canvas.ds.offset = [-300, -300]; {APP}.canvas.ds.scale = 1; "
                  f"{APP}.graph.setDirtyCanvas(true, true); }}")
    drawn(page)
    shot = artifacts / "domain_colors_template_route_changed.png"
    page.screenshot(path=str(shot))
    print("screenshot:", shot)
    assert pack_errors(page) == []


def test_advanced_face_crop_widgets_fold_under_show_advanced(page, server, artifacts):
    fresh_canvas(page)
    assert add_by_search(page, "Face Crop ToonTalker", (400, 300)) == "ToonTalkerFaceCrop"
    node = f"{APP}.graph._nodes.find(n => n.type === 'ToonTalkerFaceCrop')"
    flagged = sorted(name for name, spec in {**server.get("/object_info/ToonTalkerFaceCrop")["ToonTalkerFaceCrop"]
                                             ["input"].get("optional", {})}.items()
                     if isinstance(spec[-1], dict) and spec[-1].get("advanced"))
    assert flagged == ["crop_size", "face", "offset", "reference_frame", "scale", "smoothing",
                       "track_hold"], flagged

    def visible():
        return page.evaluate(f"() => {{ const n = {node}; return Object.fromEntries(n.widgets.map("
                             "w => [w.name, n.isWidgetVisible(w)])); }")

    folded, height = visible(), page.evaluate(f"() => {node}.size[1]")
    assert [w for w in flagged if folded.get(w)] == [] and all(v for w, v in folded.items() if w not in flagged)
    page.evaluate(f"() => {node}.toggleAdvanced()")  # the node menu's "Show Advanced"
    shown = visible()
    assert all(shown[w] for w in flagged), shown
    page.evaluate(f"() => {{ const n = {node}; n.setSize(n.computeSize()); {APP}.graph.setDirtyCanvas(true, true); }}")
    assert page.evaluate(f"() => {node}.size[1]") > height  # the folded node was smaller
    drawn(page)
    shot = artifacts / "face_crop_advanced_shown.png"
    page.screenshot(path=str(shot))
    print("screenshot:", shot)
    assert pack_errors(page) == []


def crop_node_state(page) -> dict:
    return page.evaluate("() => Object.fromEntries(window.__crop.widgets.filter(w => "
                         "['box_mode', 'box_x', 'box_y', 'box_size'].includes(w.name)).map(w => [w.name, w.value]))")


def crop_view(page) -> dict:
    """The crop editor's image rectangle on the node (node-local) and its scale, as web/crop_editor.js lays it out."""
    return page.evaluate("""() => {
        const n = window.__crop, img = n.toontalkerInput?.img ?? n.toontalkerImage;
        const iw = img.naturalWidth, ih = img.naturalHeight;
        const top = n.size[1] - 220 - 4, availW = n.size[0] - 16;
        const s = Math.min(availW / iw, 220 / ih);
        return {x: 8 + (availW - iw * s) / 2, y: top + (220 - ih * s) / 2, s, iw, ih, w: n.size[0], h: n.size[1]};
    }""")


def drag(page, start, end, steps: int = 8) -> None:
    page.mouse.move(*start)
    page.mouse.down()
    for i in range(1, steps + 1):
        page.mouse.move(start[0] + (end[0] - start[0]) * i / steps, start[1] + (end[1] - start[1]) * i / steps)
    page.mouse.up()
    drawn(page)


def test_crop_editor_before_any_run_clamps_and_resets(page, server, artifacts):
    """After 'no face found' nothing has run: the editor shows the input image and a starting box to drag; boxes
    stay inside the image (the handle stays grabbable); reset clears the box fields."""
    page.reload()
    wait_editor(page)
    page.evaluate(f"""() => {{
        const app = {APP};
        app.graph.clear();
        const load = LiteGraph.createNode('LoadImage'); load.id = 951; load.pos = [20, 40]; app.graph.add(load);
        const iw = load.widgets.find(w => w.name === 'image');
        iw.value = 'source_cartoon.png'; iw.callback?.(iw.value);
        const crop = LiteGraph.createNode('ToonTalkerFaceCrop'); crop.id = 952; crop.pos = [380, 40];
        app.graph.add(crop);
        load.connect(0, crop, 0);
        app.canvas.ds.offset = [0, 0]; app.canvas.ds.scale = 1;
        window.__crop = crop;
    }}""")
    page.wait_for_function("() => (window.__crop.toontalkerInput?.img?.naturalWidth ?? 0) > 0", timeout=20_000)
    page.evaluate(f"() => {APP}.graph.setDirtyCanvas(true, true)")
    drawn(page)
    shot = artifacts / "crop_editor_before_run.png"
    page.screenshot(path=str(shot))
    print("screenshot:", shot)
    assert crop_node_state(page)["box_mode"] == "auto"
    assert color_pixels(shot, (200, 200, 200), 12) > 100  # the dashed starting box
    # a run that fails on this node (no face found) turns the hint from "or run to detect" into saying so
    page.evaluate("() => window.comfyAPI.api.api.dispatchEvent(new CustomEvent('execution_error', "
                  "{detail: {node_id: String(window.__crop.id), exception_message: 'no face found'}}))")
    assert page.evaluate("() => window.__crop.toontalkerNoFace") is True
    v = crop_view(page)
    assert (v["iw"], v["ih"]) == (256, 256)
    size0 = round(0.6 * 256)
    x0 = (256 - size0) // 2
    # drag the box far below and right of the node: it stops at the image's corner
    centre = to_screen(page, "window.__crop", v["x"] + (x0 + size0 / 2) * v["s"], v["y"] + (x0 + size0 / 2) * v["s"])
    drag(page, centre, (centre[0] + 600, centre[1] + 900))
    st = crop_node_state(page)
    assert st["box_mode"] == "manual" and st["box_size"] == size0
    assert (st["box_x"], st["box_y"]) == (256 - size0, 256 - size0)
    # the handle is on the node; grow it past the image: the side stops at the image
    handle = to_screen(page, "window.__crop", v["x"] + 256 * v["s"], v["y"] + 256 * v["s"])
    node_box = page.evaluate(f"""() => {{ const n = window.__crop, app = {APP};
        const a = app.canvas.ds.convertOffsetToCanvas([n.pos[0], n.pos[1]]);
        const b = app.canvas.ds.convertOffsetToCanvas([n.pos[0] + n.size[0], n.pos[1] + n.size[1]]);
        const r = app.canvas.canvas.getBoundingClientRect();
        return [r.left + a[0], r.top + a[1], r.left + b[0], r.top + b[1]]; }}""")
    assert node_box[0] < handle[0] < node_box[2] and node_box[1] < handle[1] < node_box[3]
    drag(page, handle, (handle[0] - 60 * v["s"], handle[1] - 60 * v["s"]))  # shrink by 60 px from the handle
    st = crop_node_state(page)
    assert st["box_size"] == pytest.approx(size0 - 60, abs=2) and st["box_x"] == 256 - size0, st
    handle = to_screen(page, "window.__crop", v["x"] + (st["box_x"] + st["box_size"]) * v["s"],
                       v["y"] + (st["box_y"] + st["box_size"]) * v["s"])
    drag(page, handle, (handle[0] + 500, handle[1] + 500))  # far outside the node: stops at the image edge
    st = crop_node_state(page)
    assert st["box_size"] == 256 - st["box_x"] and st["box_y"] + st["box_size"] <= 256, st
    drawn(page)
    shot = artifacts / "crop_editor_clamped.png"
    page.screenshot(path=str(shot))
    print("screenshot:", shot, st)
    assert color_pixels(shot, (255, 179, 71), 30) > 100  # the manual box, orange
    # the reset button (a real click) returns to detection and clears the fields
    y, h, width = widget_row(page, "window.__crop", "reset box (detect)")
    page.mouse.click(*to_screen(page, "window.__crop", width / 2, y + h / 2))
    drawn(page)
    defaults = page.evaluate("""async () => {
        const spec = (await (await fetch('/object_info/ToonTalkerFaceCrop')).json()).ToonTalkerFaceCrop.input;
        const all = {...spec.required, ...spec.optional};
        return Object.fromEntries(['box_x', 'box_y', 'box_size'].map(k => [k, all[k][1].default]));
    }""")
    assert crop_node_state(page) == {"box_mode": "auto", **defaults}
    # the button sits above the image, not on it (issue 23: it covered the eyes)
    v = crop_view(page)
    y, h, _ = widget_row(page, "window.__crop", "reset box (detect)")
    assert y + h <= v["y"], (y, h, v)
    # pressing on the image off the box draws a new box from there (it used to move the whole node)
    pos = page.evaluate("() => [...window.__crop.pos]")
    start = to_screen(page, "window.__crop", v["x"] + 10 * v["s"], v["y"] + 12 * v["s"])
    drag(page, start, (start[0] + 80 * v["s"], start[1] + 80 * v["s"]))
    st = crop_node_state(page)
    assert page.evaluate("() => [...window.__crop.pos]") == pos  # the node stayed
    assert st["box_mode"] == "manual" and (st["box_x"], st["box_y"]) == (10, 12), st
    assert st["box_size"] == pytest.approx(80, abs=2), st
    shot = artifacts / "crop_editor_reset.png"
    page.screenshot(path=str(shot))
    print("screenshot:", shot)
    assert pack_errors(page) == []


def test_motion_plot_axes_and_hover_readout(page, server, artifacts):
    graph = json.loads((REPO / "example_workflows" / "d_staged_nodes_into_an_upscaler.json").read_text())
    load_graph(page, graph)
    run_graph(page, server)
    enc = f"{APP}.graph._nodes.find(n => n.type === 'ToonTalkerEncodeDrivingMotion')"
    n = page.evaluate(f"() => {enc}.properties.toontalker_motion.magnitude.length")
    assert n > 10
    page.evaluate(f"""() => {{ const n = {enc}, app = {APP};
        app.canvas.ds.scale = 1; app.canvas.ds.offset = [-n.pos[0] + 40, -n.pos[1] + 40];
        app.graph.setDirtyCanvas(true, true); }}""")
    drawn(page)
    # hover over the middle of the plot's data area (web/motion_plot.js: 40 px left axis, 8 px right margin)
    size = page.evaluate(f"() => {enc}.size")
    plot_top = size[1] - 150 - 4
    x0, w = 8 + 40, size[0] - 16 - 40 - 8
    frame = n // 2
    target = to_screen(page, enc, x0 + w * frame / (n - 1), plot_top + 60)
    page.screenshot(path=str(artifacts / "motion_plot_before_hover.png"))
    page.mouse.move(target[0] - 30, target[1])
    page.mouse.move(*target)
    page.wait_for_function(f"(f) => {enc}.toontalkerHover === f", arg=frame, timeout=5_000)
    drawn(page)
    shot = artifacts / "motion_plot_hover.png"
    page.screenshot(path=str(shot))
    print("screenshot:", shot)
    assert color_pixels(shot, (95, 208, 255), 30) > 80  # the series
    assert color_pixels(shot, (255, 255, 255), 10) > 40  # the readout text, marker and cursor line
    page.mouse.move(5, 5)  # leaving the node clears the readout
    page.wait_for_function(f"() => {enc}.toontalkerHover == null", timeout=5_000)
    assert pack_errors(page) == []
