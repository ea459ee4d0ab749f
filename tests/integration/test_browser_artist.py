"""Issue 23.5-8 in the real editor (ComfyUI 0.3.64, frontend 1.27, headless Chromium): search aliases, progress
from the start with named phases (timed from the websocket messages and printed), the domain warning on the node
and as a toast, and Save Motion -> Load Motion without a refresh. Same requirements as test_browser.py."""
from __future__ import annotations

import json

import pytest

from conftest import REPO
from test_browser import (APP, add_by_search, artifacts, drawn, fresh_canvas, load_graph, pack_errors,  # noqa: F401
                          page, run_graph, server, sync_api)

pytestmark = pytest.mark.integration

OPTIONS = ".p-autocomplete-option"


def search_results(page, query: str, canvas_xy=(700, 500)) -> list[str]:
    """Open the node search on the canvas (at an empty spot), type `query` -> the titles it lists (the box stays
    open)."""
    for attempt in range(5):
        page.mouse.dblclick(*canvas_xy)
        try:
            page.wait_for_selector(".comfy-vue-node-search-container input", timeout=2_000)
            break
        except sync_api.TimeoutError:
            if attempt == 4:
                raise
    page.keyboard.type(query, delay=30)
    page.wait_for_selector(f"{OPTIONS}.p-focus", timeout=10_000)
    return page.evaluate(f"() => [...document.querySelectorAll('{OPTIONS}')].map(o => o.innerText.split('\\n')[0])")


def test_search_aliases_find_the_loader(page, artifacts):
    fresh_canvas(page)
    assert "ToonTalker.SearchAliases" in page.evaluate(f"() => {APP}.extensions.map(e => e.name)")
    titles = search_results(page, "toontalker model")
    shot = artifacts / "search_toontalker_model.png"
    page.screenshot(path=str(shot))
    print("screenshot:", shot, "results:", titles[:5])
    assert titles[0].startswith("ToonTalker Load Checkpoint"), titles
    page.keyboard.press("Escape")
    page.wait_for_selector(".comfy-vue-node-search-container", state="detached", timeout=10_000)
    assert add_by_search(page, "toontalker model") == "ToonTalkerLoadCheckpoint"
    assert page.evaluate(f"() => {APP}.graph._nodes[0].title") == "ToonTalker Load Checkpoint"
    titles = search_results(page, "toontalker reenact", (1200, 750))  # off the loader just added at (700, 500)
    assert titles[0].startswith("ToonTalker Reenact"), titles  # a title match stays ahead of alias matches
    page.keyboard.press("Escape")
    page.wait_for_selector(".comfy-vue-node-search-container", state="detached", timeout=10_000)
    titles = search_results(page, "animate face", (1200, 750))
    print("animate face:", titles[:5])
    assert any(t.startswith("ToonTalker Reenact") for t in titles), titles
    page.keyboard.press("Escape")
    assert pack_errors(page) == []


LISTEN = f"""() => {{  // (re)start the record; the listeners are added once per page
    window.ttStart = performance.now();
    window.ttEvents = [];
    if (window.ttListening) return;
    window.ttListening = true;
    const api = window.comfyAPI.api.api;
    const log = (type) => (e) => window.ttEvents.push({{type, t: (performance.now() - window.ttStart) / 1000,
        node: e.detail?.node ?? e.detail?.nodeId ?? e.detail?.display_node ?? (typeof e.detail === 'string' ? e.detail : null),
        value: e.detail?.value, max: e.detail?.max, text: e.detail?.text ?? e.detail?.message}});
    for (const type of ['execution_start', 'executing', 'progress', 'progress_text', 'toontalker.warning',
                        'execution_success'])
        api.addEventListener(type, log(type));
}}"""


def test_first_progress_within_a_second_with_phases(page, server, artifacts):
    """Template b (a real video drives a cartoon, crop auto, the all-in-one node on 100 frames): the seconds from
    'execution_start' and from the node starting to its first progress message are printed, not asserted."""
    graph = json.loads((REPO / "example_workflows" / "b_real_video_drives_a_cartoon_r2c.json").read_text())
    load_graph(page, graph)
    node = page.evaluate(f"() => String({APP}.graph._nodes.find(n => n.type === 'ToonTalkerReenact').id)")
    page.evaluate(LISTEN)
    run_graph(page, server)
    page.wait_for_function("() => window.ttEvents.some(e => e.type === 'execution_success')", timeout=30_000)
    events = page.evaluate("() => window.ttEvents")
    start = next(e["t"] for e in events if e["type"] == "execution_start")
    began = next(e["t"] for e in events if e["type"] == "executing" and e["node"] == node)
    mine = [e for e in events if e["node"] == node and e["type"] in ("progress", "progress_text")]
    first = mine[0]
    texts = [e["text"] for e in mine if e["type"] == "progress_text"]
    print(f"first progress of the all-in-one node: {first['t'] - start:.2f} s after execution_start, "
          f"{first['t'] - began:.2f} s after the node started ({first['type']}: {first.get('text') or first['value']})")
    renders = [e for e in mine if e["type"] == "progress_text" and "rendering" in (e["text"] or "")]
    print(f"first 'rendering' text: {renders[0]['t'] - began:.2f} s after the node started; "
          f"run {events[-1]['t'] - start:.2f} s")
    phases = list(dict.fromkeys(t.splitlines()[-1].rsplit(" ", 1)[0] if t[-1].isdigit() else t.splitlines()[-1]
                                for t in texts))
    assert phases == ["loading model", "detecting faces", "encoding source", "rendering"], phases
    assert texts[-1].endswith("rendering 100/100")
    assert first["t"] < renders[0]["t"]  # the first message comes before any frame is done
    page.evaluate(f"() => {{ {APP}.canvas.ds.offset = [-250, -30]; {APP}.canvas.ds.scale = 0.9; "
                  f"{APP}.graph.setDirtyCanvas(true, true); }}")
    drawn(page)
    shot = artifacts / "progress_text_after_run.png"
    page.screenshot(path=str(shot))
    print("screenshot:", shot)


def test_domain_mismatch_warns_on_the_node_and_as_a_toast(page, server, artifacts):
    graph = json.loads((REPO / "example_workflows" / "b_real_video_drives_a_cartoon_r2c.json").read_text())
    for n in graph["nodes"]:
        if n["type"] == "ToonTalkerReenact":
            n["widgets_values"][0] = "real video -> real portrait"  # the cartoon source on the real route
    load_graph(page, graph)
    page.evaluate(f"() => {{ {APP}.canvas.ds.offset = [-250, -30]; {APP}.canvas.ds.scale = 0.9; }}")
    page.evaluate(LISTEN)
    page.evaluate(f"async () => {{ await {APP}.queuePrompt(0, 1); }}")
    page.wait_for_selector(".p-toast-message", timeout=60_000)  # while the node runs (the toast fades later)
    page.wait_for_function("() => window.ttEvents.filter(e => e.type === 'progress_text').length > 2",
                           timeout=60_000)
    drawn(page)
    shot = artifacts / "domain_warning_toast_and_node.png"
    page.screenshot(path=str(shot))
    print("screenshot:", shot)
    toast = page.inner_text(".p-toast-message")
    run_graph(page, server)  # waits for the queue to empty
    events = page.evaluate("() => window.ttEvents")
    warnings = [e["text"] for e in events if e["type"] == "toontalker.warning"]
    print("warning:", warnings)
    assert warnings == ["the source looks like a cartoon but is encoded as real: set route to "
                        "'real video -> cartoon portrait (r2c)'"]
    assert "looks like a cartoon" in toast
    texts = [e["text"] for e in events if e["type"] == "progress_text"]
    assert all(t.startswith("warning: the source looks like a cartoon") for t in texts[1:]), texts[:3]


BUILD_MOTION_GRAPH = f"""() => {{
    const app = {APP}, g = app.graph;
    g.clear();
    const add = (type, x, y) => {{ const n = LiteGraph.createNode(type); n.pos = [x, y]; g.add(n); return n; }};
    const load = add('ToonTalkerLoadCheckpoint', 20, 40);
    const keys = add('ToonTalkerMotionKeyframes', 380, 40);
    keys.widgets.find(w => w.name === 'keyframes').value = '[{{"frame": 4, "set": {{"d00": 1}}}}]';
    keys.widgets.find(w => w.name === 'length').value = 8;
    keys.widgets.find(w => w.name === 'fps').value = 12.5;
    const save = add('ToonTalkerSaveMotion', 820, 40);
    save.widgets.find(w => w.name === 'filename_prefix').value = 'browser/take';
    const lm = add('ToonTalkerLoadMotion', 820, 300);
    load.connect(0, keys, 0); load.connect(0, save, 0); keys.connect(0, save, 1); load.connect(0, lm, 0);
    return lm.widgets.find(w => w.name === 'motion_file').options.values;
}}"""


def test_save_motion_shows_its_file_and_load_motion_lists_it(page, server, artifacts):
    fresh_canvas(page)
    before = page.evaluate(BUILD_MOTION_GRAPH)
    drawn(page)
    run_graph(page, server)
    lm = f"{APP}.graph._nodes.find(n => n.type === 'ToonTalkerLoadMotion')"
    save = f"{APP}.graph._nodes.find(n => n.type === 'ToonTalkerSaveMotion')"
    page.wait_for_function(f"() => {save}.toontalkerSaved", timeout=30_000)
    note = page.evaluate(f"() => {save}.toontalkerSaved")
    values, value = page.evaluate(f"() => {{ const w = {lm}.widgets.find(w => w.name === 'motion_file'); "
                                  f"return [w.options.values, w.value]; }}")
    print("Save Motion shows:", note, "| Load Motion lists:", values, "value:", value)
    assert note == "saved toontalker_motion/browser/take_00001_.safetensors (8 frames at 12.5 fps)"
    assert "browser/take_00001_.safetensors" in values and "browser/take_00001_.safetensors" not in before
    assert value == "browser/take_00001_.safetensors"  # it had no file to show before
    page.evaluate(f"() => {{ {APP}.canvas.ds.offset = [0, 0]; {APP}.canvas.ds.scale = 1; "
                  f"{APP}.graph.setDirtyCanvas(true, true); }}")
    drawn(page)
    shot = artifacts / "save_motion_and_load_motion_list.png"
    page.screenshot(path=str(shot))
    print("screenshot:", shot)
    assert pack_errors(page) == []


def test_old_save_motion_widgets_load(page):
    """A workflow saved before fps left the widgets ([prefix, fps] widget values) keeps its prefix."""
    graph = {"last_node_id": 2, "last_link_id": 0, "nodes": [
        {"id": 1, "type": "ToonTalkerSaveMotion", "pos": [40, 40], "size": [300, 120], "flags": {}, "order": 0,
         "mode": 0, "inputs": [{"name": "model", "type": "TOONTALKER_MODEL", "link": None},
                               {"name": "motion", "type": "TOONTALKER_MOTION", "link": None}],
         "outputs": [{"name": "path", "type": "STRING", "links": None}], "properties": {},
         "widgets_values": ["perf/old_take", 30]}], "links": [], "groups": [], "config": {}, "extra": {},
        "version": 0.4}
    load_graph(page, graph)
    widgets = page.evaluate(f"() => {APP}.graph._nodes[0].widgets.map(w => [w.name, w.value])")
    assert widgets == [["filename_prefix", "perf/old_take"]], widgets
