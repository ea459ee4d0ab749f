"""Load ToonTalker Checkpoint's "download: ..." entry in the real ComfyUI frontend (Playwright + Chromium).

A local HTTP server (127.0.0.1, Range support, throttled so the download takes a few seconds) serves a tiny
cross-domain checkpoint as `cross-domain.pth`; ComfyUI runs with $TOONTALKER_WEIGHTS_MIRROR pointing at it (the
downloader's mirror hook; the real source is Google Drive). The loader is added by hand, its list offers the
download, the entry is picked from the dropdown, and the graph runs: screenshots of the list, the progress and
the result go to $TOONTALKER_ARTIFACTS.
"""
from __future__ import annotations

import http.server
import os
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from comfy_server import Server, history_messages, prepare_base
from conftest import REPO
from test_browser import (APP, add_by_search, artifacts, drawn, fresh_canvas, pack_errors, page,  # noqa: F401
                          run_graph, to_screen, widget_row)
from tiny import TINY, tiny_model

pytestmark = pytest.mark.integration

OFFER = "download: cross-domain.pth (published, 256 px)"
BLOCK, PAUSE = 64 << 10, 0.2  # served 64 KiB at a time, 0.2 s apart: a ~3 MB file takes ~9 s


class Slow(http.server.BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}
    seen: list[tuple[str, str | None]] = []

    def do_HEAD(self):
        self._serve(False)

    def do_GET(self):
        self._serve(True)

    def _serve(self, body: bool):
        data, rng = self.files.get(self.path.lstrip("/")), self.headers.get("Range")
        self.seen.append((self.command, rng))
        if data is None:
            self.send_error(404)
            return
        start = int(rng.removeprefix("bytes=").split("-")[0]) if rng else 0
        self.send_response(206 if rng else 200)
        if rng:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.send_header("Content-Length", str(len(data) - start))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        try:
            for i in range(start, len(data) if body else start, BLOCK):
                self.wfile.write(data[i:i + BLOCK])
                time.sleep(PAUSE)
        except (BrokenPipeError, ConnectionResetError):  # the client cancelled: expected in the cancel test
            pass

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> bytes:
    """A tiny cross-domain model saved the way the authors' .pth files are (state dicts + config)."""
    path = tmp_path_factory.mktemp("published") / "cross-domain.pth"
    model = tiny_model(True)
    torch.save({"gen": model.gen.state_dict(), "gen_real": model.gen_real.state_dict(), "config": TINY.to_dict()},
               path)
    return path.read_bytes()


@pytest.fixture(scope="module")
def mirror(published):
    Slow.files, Slow.seen = {"cross-domain.pth": published}, []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def server(tmp_path_factory, mirror):
    """ComfyUI with only the bundled demo model installed and the mirror hook set (its environment)."""
    base = prepare_base(tmp_path_factory.mktemp("comfy_weights"), REPO)
    mp = pytest.MonkeyPatch()
    mp.setenv("TOONTALKER_WEIGHTS_MIRROR", mirror)
    mp.delenv("TOONTALKER_MODELS", raising=False)
    try:
        with Server(base, os.environ["COMFYUI_PATH"], os.environ.get("COMFYUI_PYTHON")) as srv:
            yield srv
    finally:
        mp.undo()


LOADER = f"{APP}.graph._nodes.find(n => n.type === 'ToonTalkerLoadCheckpoint')"
PART = Path("models") / "toontalker" / ".toontalker-download" / "cross-domain.pth.part"


def ckpt_values(page) -> list[str]:
    return page.evaluate(f"() => {LOADER}.widgets.find(w => w.name === 'ckpt_name').options.values")


def add_loader_and_pick_the_offer(page, artifacts, shot_name: str | None = None) -> str:
    """The loader added by hand, the download entry picked from its dropdown; -> the loader's node id."""
    fresh_canvas(page)
    assert add_by_search(page, "Load ToonTalker Checkpoint", (200, 200)) == "ToonTalkerLoadCheckpoint"
    values = ckpt_values(page)
    assert values[0] == "cross-domain-demo-64px.safetensors" and OFFER in values, values
    y, h, width = widget_row(page, LOADER, "ckpt_name")
    page.mouse.click(*to_screen(page, LOADER, width / 2, y + h / 2))  # opens the list, as a user does
    entry = page.locator(".litecontextmenu .litemenu-entry", has_text=OFFER)
    entry.wait_for(timeout=10_000)
    if shot_name:
        shot = artifacts / shot_name
        page.screenshot(path=str(shot))
        print("screenshot:", shot)
    entry.click()
    drawn(page)
    assert page.evaluate(f"() => {LOADER}.widgets.find(w => w.name === 'ckpt_name').value") == OFFER
    return str(page.evaluate(f"() => {LOADER}.id"))


def add_the_rest(page) -> None:
    """The all-in-one node on the sample cartoon (it drives itself) into a preview; progress events recorded."""
    page.evaluate(f"""() => {{
        const app = {APP}, loader = {LOADER};
        const load = LiteGraph.createNode('LoadImage'); load.pos = [200, 420]; app.graph.add(load);
        const iw = load.widgets.find(w => w.name === 'image');
        iw.value = 'source_cartoon.png'; iw.callback?.(iw.value);
        const run = LiteGraph.createNode('ToonTalkerReenact'); run.pos = [620, 200]; app.graph.add(run);
        run.widgets.find(w => w.name === 'route').value = 'real video -> cartoon portrait (r2c)';
        const prev = LiteGraph.createNode('PreviewImage'); prev.pos = [1040, 200]; app.graph.add(prev);
        loader.connect(0, run, 0); load.connect(0, run, 1); load.connect(0, run, 2); run.connect(0, prev, 0);
        window.__preview = prev;
        window.__progress = [];
        if (!window.__listening) {{
            window.__listening = true;
            window.comfyAPI.api.api.addEventListener('progress', (e) => window.__progress.push(e.detail));
        }}
        app.graph.setDirtyCanvas(true, true);
    }}""")


def loader_progress(page, loader_id: str) -> list[dict]:
    return page.evaluate("(id) => window.__progress.filter(p => String(p.node) === id)", loader_id)


def queue_until_downloading(page, loader_id: str) -> None:
    """Queue the graph; return once the loader reported downloaded bytes."""
    page.evaluate(f"async () => {{ await {APP}.queuePrompt(0, 1); }}")
    page.wait_for_function("(id) => window.__progress.some(p => String(p.node) === id && p.value > 0)",
                           arg=loader_id, timeout=120_000)
    drawn(page)


def test_without_gdown_and_mirror_one_line_names_comfyuis_python(tmp_path):
    """The real source (Google Drive) in a ComfyUI without gdown: the run stops with one line naming the fix.
    A workflow saved with the file name instead stops at validation, naming the download entry."""
    base = prepare_base(tmp_path / "comfy_no_gdown", REPO)
    mp = pytest.MonkeyPatch()
    mp.delenv("TOONTALKER_WEIGHTS_MIRROR", raising=False)
    mp.delenv("TOONTALKER_MODELS", raising=False)
    python = os.environ.get("COMFYUI_PYTHON")
    try:
        with Server(base, os.environ["COMFYUI_PATH"], python) as srv:
            prompt = {"1": {"class_type": "ToonTalkerLoadCheckpoint",
                            "inputs": {"ckpt_name": OFFER, "device": "cpu", "precision": "fp32"}},
                      "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 1]}}}
            error = history_messages(srv.run(prompt, timeout=120))["execution_error"]
            msg = error["exception_message"]
            print("error:", msg)
            assert "\n" not in msg.strip()
            assert f"`{python or sys.executable} -m pip install gdown`" in msg  # the Python ComfyUI runs on
            prompt["1"]["inputs"]["ckpt_name"] = "cross-domain.pth"
            with pytest.raises(RuntimeError) as refused:
                srv.queue(prompt)
            print("refused:", str(refused.value)[:400])
            assert f"choose '{OFFER}' in the list to download it" in str(refused.value)
    finally:
        mp.undo()
    assert not any((base / "models" / "toontalker").iterdir())


def test_cancel_keeps_the_part_file(page, server, artifacts, published):
    loader_id = add_loader_and_pick_the_offer(page, artifacts, "weights_list_offers_download.png")
    add_the_rest(page)
    queue_until_downloading(page, loader_id)
    page.evaluate("() => window.comfyAPI.api.api.interrupt()")  # what the editor's cancel button sends
    end = time.time() + 60
    while time.time() < end and any(server.get("/queue")[k] for k in ("queue_running", "queue_pending")):
        time.sleep(0.3)
    part = server.base / PART
    assert 0 < part.stat().st_size < len(published), part
    assert not (server.base / "models" / "toontalker" / "cross-domain.pth").exists()
    assert published.startswith(part.read_bytes())
    assert OFFER in ckpt_values(page)


def test_download_resumes_shows_progress_and_lists_the_file(page, server, artifacts, published):
    have = (server.base / PART).stat().st_size  # left by the cancelled run above
    loader_id = add_loader_and_pick_the_offer(page, artifacts)
    add_the_rest(page)
    queue_until_downloading(page, loader_id)
    shot = artifacts / "weights_download_progress.png"
    page.screenshot(path=str(shot))
    print("screenshot:", shot)
    mid = loader_progress(page, loader_id)[-1]
    assert have <= mid["value"] < mid["max"] == len(published), mid  # caught while it downloads
    run_graph(page, server, timeout=300)
    assert ("GET", f"bytes={have}-") in Slow.seen  # resumed, not started over

    installed = server.base / "models" / "toontalker" / "cross-domain.pth"
    assert installed.read_bytes() == published
    assert not (installed.parent / ".toontalker-download").exists()
    steps = loader_progress(page, loader_id)
    values = [p["value"] for p in steps]
    assert values[0] == have and values == sorted(values) and values[-1] == len(published), steps
    assert all(p["max"] == len(published) for p in steps), steps
    # the extension refreshed the lists: the file is listed, the offer is gone; the node keeps its entry
    page.wait_for_function(f"() => {LOADER}.widgets.find(w => w.name === 'ckpt_name').options.values"
                           ".includes('cross-domain.pth')", timeout=30_000)
    assert OFFER not in ckpt_values(page)
    page.wait_for_function("() => window.__preview.imgs?.[0]?.naturalWidth > 0", timeout=30_000)
    page.evaluate(f"() => {APP}.graph.setDirtyCanvas(true, true)")
    drawn(page)
    shot = artifacts / "weights_download_result.png"
    page.screenshot(path=str(shot))
    print("screenshot:", shot)
    y, h, width = widget_row(page, LOADER, "ckpt_name")
    page.mouse.click(*to_screen(page, LOADER, width / 2, y + h / 2))
    page.locator(".litecontextmenu .litemenu-entry", has_text="cross-domain.pth").first.wait_for(timeout=10_000)
    shot = artifacts / "weights_list_after_download.png"
    page.screenshot(path=str(shot))
    print("screenshot:", shot)
    page.keyboard.press("Escape")
    assert pack_errors(page) == []


def staged_prompt(render_inputs: dict) -> dict:
    """The staged nodes on the bundled 64 px demo model: the 256 px sample cartoon drives itself."""
    demo = "cross-domain-demo-64px.safetensors"
    return {
        "1": {"class_type": "ToonTalkerLoadCheckpoint", "inputs": {"ckpt_name": demo, "device": "cpu",
                                                                   "precision": "fp32"}},
        "2": {"class_type": "LoadImage", "inputs": {"image": "source_cartoon.png"}},
        "3": {"class_type": "ToonTalkerEncodeSource", "inputs": {"model": ["1", 0], "image": ["2", 0],
                                                                 "domain": "cartoon"}},
        "4": {"class_type": "ToonTalkerEncodeDrivingMotion", "inputs": {"model": ["1", 0], "frames": ["2", 0],
                                                                        "domain": "cartoon", "batch_size": 4}},
        "5": {"class_type": "ToonTalkerCanonicalTransfer", "inputs": {"source": ["3", 0], "motion": ["4", 0],
                                                                      "strength": 1.0, "mode": "relative",
                                                                      "reference_frame": 0}},
        "6": {"class_type": "ToonTalkerDecodeToDomain", "inputs": {"model": ["1", 0], "source": ["3", 0],
                                                                   "canonical": ["5", 0]}},
        "7": {"class_type": "ToonTalkerWarpRender", "inputs": {"model": ["1", 0], "source": ["3", 0],
                                                               "latents": ["6", 0], **render_inputs}},
        "8": {"class_type": "PreviewImage", "inputs": {"images": ["7", 0]}},
    }


@pytest.mark.parametrize("render_inputs, size", [({"batch_size": 8}, (256, 256)),  # saved before output_size
                                                 ({"batch_size": 8, "output_size": 0}, (256, 256)),
                                                 ({"batch_size": 8, "output_size": 400}, (400, 400))])
def test_warp_render_hands_back_the_source_size(server, render_inputs, size):
    """In a real ComfyUI, a workflow saved before output_size existed gets frames at the source's 256 px from
    the 64 px demo model, and output_size sets the longer side."""
    import io

    from PIL import Image

    entry = server.run(staged_prompt(render_inputs), timeout=300)
    assert entry["status"]["status_str"] == "success", history_messages(entry)
    (image,) = entry["outputs"]["8"]["images"]
    assert Image.open(io.BytesIO(server.view(image))).size == size
