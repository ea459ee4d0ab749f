"""Motion Editor sliders in the real ComfyUI frontend with the bundled 64 px model (issue 23.1): the node is
compact (raw directions under Show Advanced), the controls the model does not offer are greyed out with the
reason in their tooltip after a run, and setting one is ignored with a warning, not an error dialog.

Needs what tests/integration/test_browser.py needs (COMFYUI_PATH, playwright, Chromium); skips otherwise.
"""
from __future__ import annotations

import json
import os
import time

import pytest

from comfy_server import Server, prepare_base
from conftest import REPO
from test_browser import APP, add_by_search, artifacts, drawn, page, pack_errors, wait_editor  # noqa: F401

pytestmark = pytest.mark.integration

EDITOR = f"{APP}.graph._nodes.find(n => n.type === 'ToonTalkerMotionEditor')"
SHIPPED = next((REPO / "toontalker_core" / "weights" / "motion_controls").glob("*.json"))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    # no checkpoint in models/toontalker: the loader lists the pack's bundled demo model, whose controls ship
    base = prepare_base(tmp_path_factory.mktemp("comfy_ui"), REPO)
    with Server(base, os.environ["COMFYUI_PATH"], os.environ.get("COMFYUI_PYTHON")) as srv:
        yield srv


def shipped(domain: str) -> dict:
    return json.loads(SHIPPED.read_text())["domains"][domain]


def test_motion_editor_by_hand_with_the_bundled_model(page, server, artifacts):
    controls = shipped("cartoon")
    assert controls["rejected"], "the bundled model offers every control: pick a model that rejects one"
    rejected = sorted(controls["rejected"])[0]
    offered = sorted(controls["named"])[0] if controls["named"] else None
    page.reload()
    wait_editor(page)
    page.evaluate(f"""() => {{
        const app = {APP};
        app.graph.clear(); app.canvas.ds.offset = [0, 0]; app.canvas.ds.scale = 1;
        const add = (type, id, pos) => {{ const n = LiteGraph.createNode(type); n.id = id; n.pos = pos;
                                          app.graph.add(n); return n; }};
        const ckpt = add('ToonTalkerLoadCheckpoint', 801, [20, 40]);
        ckpt.widgets.find(w => w.name === 'ckpt_name').value = 'cross-domain-demo-64px.safetensors';
        const img = add('LoadImage', 802, [20, 240]);
        img.widgets.find(w => w.name === 'image').value = 'source_cartoon.png';
        const enc = add('ToonTalkerEncodeSource', 803, [20, 620]);
        enc.widgets.find(w => w.name === 'domain').value = 'cartoon';
        window.__nodes = {{ ckpt, img, enc }};
    }}""")
    # the Motion Editor the way an artist adds it: double-click, search, Enter
    assert add_by_search(page, "ToonTalker Motion Editor", (900, 300)) == "ToonTalkerMotionEditor"
    size = page.evaluate(f"""() => {{
        const {{ ckpt, img, enc }} = window.__nodes, ed = {EDITOR};
        ed.pos = [420, 40];
        ckpt.connect(0, enc, 0); img.connect(0, enc, 1); ckpt.connect(0, ed, 0); enc.connect(0, ed, 1);
        // a graph needs an output node to be queued: the rendered preview also goes to a Preview Image
        const prev = LiteGraph.createNode('PreviewImage'); prev.id = 804; prev.pos = [720, 40]; {APP}.graph.add(prev);
        ed.connect(2, prev, 0);
        return ed.size;
    }}""")
    widgets = page.evaluate(f"() => {EDITOR}.widgets.map(w => [w.name, !!w.advanced])")
    raw = [n for n, adv in widgets if n.startswith("d") and n[1:].isdigit()]
    assert len(raw) == 20 and all(adv for n, adv in widgets if n in raw)  # folded under Show Advanced
    assert not any(adv for n, adv in widgets if n not in raw)
    assert size[1] < 450, size  # 8 named sliders, sockets and title: no 20 raw rows (it was ~980)

    # set an offered control and a rejected one, run
    page.evaluate(f"""([rej, off]) => {{
        const ed = {EDITOR};
        ed.widgets.find(w => w.name === rej).value = 2;
        if (off) ed.widgets.find(w => w.name === off).value = 2;
    }}""", [rejected, offered])
    # queue the editor's graph as the Queue button does, keeping the server's answer (a validation error's text)
    status, text = page.evaluate(f"""async () => {{
        const p = await {APP}.graphToPrompt(), api = window.comfyAPI.api.api;
        const r = await api.fetchApi('/prompt', {{ method: 'POST', headers: {{ 'Content-Type': 'application/json' }},
            body: JSON.stringify({{ prompt: p.output, client_id: api.clientId }}) }});
        return [r.status, await r.text()];
    }}""")
    assert status == 200, text
    prompt_id = json.loads(text)["prompt_id"]
    end = time.time() + 300
    while time.time() < end and prompt_id not in server.get(f"/history/{prompt_id}"):
        time.sleep(0.5)
    entry = server.get(f"/history/{prompt_id}")[prompt_id]
    assert entry["status"]["status_str"] == "success", entry["status"]  # no error dialog: ignored, not raised
    page.wait_for_function(f"() => {EDITOR}.widgets.find(w => w.name === '{rejected}').disabled === true",
                           timeout=30_000)
    state = page.evaluate(f"""() => {{
        const ed = {EDITOR};
        return {{ widgets: Object.fromEntries(ed.widgets.filter(w => !w.advanced)
                      .map(w => [w.name, [!!w.disabled, w.label ?? null, w.tooltip ?? null]])),
                  images: (ed.imgs ?? []).length, size: ed.size }};
    }}""")
    for name in controls["rejected"]:
        disabled, label, tip = state["widgets"][name]
        assert disabled and "(n/a)" in label and controls["rejected"][name] in tip, (name, state["widgets"][name])
    for name in controls["named"]:
        assert not state["widgets"][name][0], name
    toast = page.locator(".p-toast-message").filter(has_text=rejected)
    toast.first.wait_for(timeout=10_000)  # the warning is shown
    page.wait_for_function(f"() => ({EDITOR}.imgs ?? []).length > 0 && {EDITOR}.imgs[0].complete",
                           timeout=30_000)
    page.evaluate(f"() => {APP}.graph.setDirtyCanvas(true, true)")
    drawn(page)
    shot = artifacts / "motion_editor_controls.png"
    page.screenshot(path=str(shot))
    print("screenshot:", shot, state["size"])

    # the reason on hover: the tooltip of a greyed slider
    xy = page.evaluate(f"""(name) => {{
        const ed = {EDITOR}, w = ed.widgets.find(w => w.name === name), app = {APP};
        const c = app.canvas.ds.convertOffsetToCanvas([ed.pos[0] + ed.size[0] / 2, ed.pos[1] + (w.y ?? w.last_y) + 10]);
        const r = app.canvas.canvas.getBoundingClientRect();
        return [r.left + c[0], r.top + c[1]];
    }}""", rejected)
    page.mouse.move(xy[0] - 5, xy[1])
    page.mouse.move(*xy)
    tip = page.locator(".graph-tooltip, .node-tooltip").filter(has_text="Not available")
    tip.first.wait_for(timeout=10_000)
    shot2 = artifacts / "motion_editor_rejected_tooltip.png"
    page.screenshot(path=str(shot2))
    print("screenshot:", shot2)
    assert pack_errors(page) == []
