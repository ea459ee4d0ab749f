"""The pack's templates in the real ComfyUI frontend (1.27), headless Chromium: the template browser's cards
(titles and descriptions from web/template_index.json, whole, in order), the missing-models dialog of the
chaining templates (the server has neither the upscaler nor the SD checkpoint), and every template's layout as
the editor draws it (no two nodes overlap; the stored sizes are what the editor draws).

Needs what tests/integration/test_browser.py needs (COMFYUI_PATH, playwright, Chromium); skips otherwise.
Screenshots go to $TOONTALKER_ARTIFACTS (default: the pytest tmp dir).
"""
from __future__ import annotations

import json

import pytest
from PIL import Image

import test_browser
from conftest import REPO
from test_browser import APP, drawn, load_graph, pack_errors, wait_editor

# test_browser.py's fixtures (a server with the pack, the editor page, the screenshot folder), for this module
server, page, artifacts = test_browser.server, test_browser.page, test_browser.artifacts

pytestmark = pytest.mark.integration

WF_DIR = REPO / "example_workflows"
NAMES = sorted(p.stem for p in WF_DIR.glob("*.json"))
INDEX = json.loads((REPO / "web" / "template_index.json").read_text())["templates"]
CARDS = "[data-testid^='template-workflow-']"


def open_template_browser(page) -> None:
    """Templates (side bar) -> the pack's category; waits for its cards and their thumbnails."""
    page.get_by_text("Templates", exact=True).first.click()
    page.locator(".p-dialog").get_by_text("ToonTalker", exact=True).first.click()
    page.wait_for_selector(f"{CARDS}[data-testid$='{NAMES[0]}']", timeout=20_000)
    page.wait_for_function(f"() => [...document.querySelectorAll(\"{CARDS} img\")].every(i => i.complete)",
                           timeout=20_000)


def test_template_browser_shows_titles_and_descriptions(page, server, artifacts):
    page.reload()
    wait_editor(page)
    custom = page.evaluate("async () => await window.comfyAPI.api.api.getWorkflowTemplates()")
    assert "ComfyUI-ToonTalker" not in custom, "listed once: in the core index, with titles"
    open_template_browser(page)
    cards = page.evaluate(f"""() => [...document.querySelectorAll("{CARDS}")].map(c => {{
        const h = c.querySelector('h3'), p = c.querySelector('p');
        const whole = e => e.scrollHeight <= e.clientHeight + 1 && e.scrollWidth <= e.clientWidth + 1;
        return {{name: c.dataset.testid.replace('template-workflow-', ''), title: h.textContent.trim(),
                 description: p.textContent.trim(), titleWhole: whole(h), descriptionWhole: whole(p)}};
    }})""")
    for card in cards:  # thumbnails load when their card scrolls into view
        element = page.locator(f"{CARDS}[data-testid$='{card['name']}']").element_handle()
        element.evaluate("(c) => c.scrollIntoView({block: 'center'})")
        page.wait_for_function("(c) => [...c.querySelectorAll('img')].some(i => i.complete && i.naturalWidth > 0)",
                               arg=element, timeout=10_000)
        card["thumb"] = element.evaluate("(c) => { const i = [...c.querySelectorAll('img')].find(i => "
                                         "i.naturalWidth > 0); return [i.naturalWidth, i.naturalHeight]; }")
    chains = page.locator(f"{CARDS}[data-testid*='_chain_']").first  # the chaining templates' diagrams
    chains.evaluate("(c) => c.scrollIntoView({block: 'center'})")
    shot = artifacts / "template_browser_chains.png"
    page.screenshot(path=str(shot))
    print("screenshot:", shot)
    page.locator(f"{CARDS}[data-testid$='{NAMES[0]}']").evaluate("(c) => c.scrollIntoView({block: 'end'})")
    shot = artifacts / "template_browser.png"
    page.screenshot(path=str(shot))
    print("screenshot:", shot)
    assert [c["name"] for c in cards] == NAMES, "in name order: 'a' (start here) first"
    for card, entry in zip(cards, INDEX):
        assert (card["title"], card["description"]) == (entry["title"], entry["description"]), card
        assert card["titleWhole"] and card["descriptionWhole"], f"cut off: {card}"
        with Image.open(WF_DIR / f"{card['name']}.jpg") as thumb:  # the card shows the pack's <name>.jpg
            assert tuple(card["thumb"]) == thumb.size, card

    # a card loads its workflow (fetched from the pack's example_workflows/)
    page.locator(f"{CARDS}[data-testid$='{NAMES[0]}']").click()
    page.wait_for_function(f"() => {APP}.graph._nodes.some(n => n.type === 'ToonTalkerReenact')", timeout=20_000)
    graph = json.loads((WF_DIR / f"{NAMES[0]}.json").read_text())
    assert sorted(page.evaluate(f"() => {APP}.graph._nodes.map(n => n.type)")) == sorted(
        n["type"] for n in graph["nodes"])
    assert pack_errors(page) == []


MODELS = {
    "g_chain_upscale_the_face_crop_with_a_model": ("upscale_models", "RealESRGAN_x4plus.safetensors"),
    "h_chain_stylize_the_frames_with_stable_diffusion": ("checkpoints", "v1-5-pruned-emaonly-fp16.safetensors"),
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_missing_models_dialog_offers_the_download(page, server, artifacts, name):
    """Opened from the template browser on a server without the model: the frontend's missing-models dialog
    lists it (folder / file) with the url the workflow gives, and its Download button is enabled (the url passes
    the frontend's rules)."""
    server.post("/settings/Comfy.Workflow.ShowMissingModelsWarning", True)
    page.reload()
    wait_editor(page)
    open_template_browser(page)
    page.locator(f"{CARDS}[data-testid$='{name}']").click()
    folder, file = MODELS[name]
    label = f"{folder} / {file}"
    page.get_by_text(label, exact=True).wait_for(timeout=20_000)
    url = next(m["url"] for m in json.loads((WF_DIR / f"{name}.json").read_text())["models"] if m["name"] == file)
    row = page.evaluate("""([label, url]) => {
        const span = [...document.querySelectorAll('span')].find(s => s.textContent.trim() === label);
        const row = span.closest('.flex-row') ?? span.parentElement.parentElement.parentElement;
        const button = [...row.querySelectorAll('button')].find(b => b.title === url);
        return {hint: span.title, button: button ? !button.disabled : null,
                error: row.querySelector('.p-message')?.textContent ?? null};
    }""", [label, url])
    shot = artifacts / f"missing_models_{name[0]}.png"
    page.screenshot(path=str(shot))
    print("screenshot:", shot, row)
    assert row["hint"] == url, row
    assert row["button"] is True and row["error"] is None, row
    page.keyboard.press("Escape")


@pytest.mark.parametrize("name", NAMES)
def test_layout_as_the_editor_draws_it(page, server, artifacts, name):
    """After loading, each node's rectangle (title bar included) as the editor has it: no two overlap, and the
    editor did not have to grow any node beyond its stored size (so tests/test_workflows.py's overlap check on
    the stored sizes holds for what users see)."""
    graph = json.loads((WF_DIR / f"{name}.json").read_text())
    load_graph(page, graph)
    page.wait_for_timeout(500)  # image and video previews settle their sizes
    drawn(page)
    nodes = page.evaluate(f"""() => {APP}.graph._nodes.map(n => ({{id: n.id, type: n.type, rect: [...n.boundingRect],
                                                                  size: [...n.size]}}))""")
    stored = {n["id"]: n["size"] for n in graph["nodes"]}
    grown = [(n["id"], n["type"], stored[n["id"]], n["size"]) for n in nodes
             if n["size"][0] > stored[n["id"]][0] + 1 or n["size"][1] > stored[n["id"]][1] + 1]
    hits = []
    for k, a in enumerate(nodes):
        ax, ay, aw, ah = a["rect"]
        for b in nodes[k + 1:]:
            bx, by, bw, bh = b["rect"]
            if ax < bx + bw and bx < ax + aw and ay < by + bh and by < ay + ah:
                hits.append((a["id"], a["type"], b["id"], b["type"]))
    if name.startswith("f_"):
        page.evaluate(f"() => {{ {APP}.canvas.ds.offset = [0, 0]; {APP}.canvas.ds.scale = 0.6; "
                      f"{APP}.graph.setDirtyCanvas(true, true); }}")
        drawn(page)
        shot = artifacts / f"layout_{name}.png"
        page.screenshot(path=str(shot))
        print("screenshot:", shot)
    assert not hits, f"overlapping nodes as drawn: {hits}"
    assert not grown, f"the editor grew these nodes past their stored size (id, type, stored, drawn): {grown}"
