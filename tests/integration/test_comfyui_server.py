"""The pack inside a real ComfyUI server.

    COMFYUI_PATH=/path/to/ComfyUI [COMFYUI_PYTHON=/path/to/its/python] pytest -m integration tests/integration

Starts ComfyUI on a free 127.0.0.1 port with --cpu --disable-api-nodes on a temporary base directory holding the
pack (symlinked into custom_nodes), a tiny random checkpoint saved under the name the example workflows use
(models/toontalker/cross-domain-demo-64px.safetensors) and the sample media (input/). Then: our nodes and their
types in /object_info; the core nodes the examples use as tools/make_workflows.py describes them; every API
workflow runs to success and writes a playable video; the templates and thumbnails are served; a strength- or
mode-only change re-runs only Transfer -> Decode -> Render and what follows; POST /interrupt during Encode Driving
Motion stops it and the server goes on working; and, with Playwright and Chromium, the real editor loads each UI
workflow unchanged and turns it into its API twin. Per-workflow timings are printed at the end.
Skips (with the reason) when COMFYUI_PATH is unset or its python cannot be found or lacks ComfyUI's requirements.
"""
from __future__ import annotations

import copy
import io
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from comfy_server import (PROBE_ROUTE, Server, TimingSummary, execution_seconds, history_messages, install_probe,
                         prepare_base, tiny_checkpoint)
from conftest import REPO

pytestmark = pytest.mark.integration

COMFY = os.environ.get("COMFYUI_PATH")
PYTHON = os.environ.get("COMFYUI_PYTHON") or sys.executable
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
WF_DIR = REPO / "example_workflows"
WORKFLOWS = sorted((WF_DIR / "api").glob("*.json"))
CKPT = "cross-domain-demo-64px.safetensors"
PACK = "ComfyUI-ToonTalker"
DRIVING_FRAMES = {"driving.mp4": 100, "driving_cartoon.mp4": 75}  # 25 fps, 4 s and 3 s, both with audio

# The node pack's contract (issue 4): socket types of the inputs fed by links, and the outputs.
OUR_NODES = {
    "ToonTalkerLoadCheckpoint": ((), ("TOONTALKER_MODEL", "STRING")),
    "ToonTalkerEncodeSource": (("TOONTALKER_MODEL", "IMAGE"), ("TOONTALKER_SOURCE",)),
    "ToonTalkerEncodeDrivingMotion": (("TOONTALKER_MODEL", "IMAGE"), ("TOONTALKER_MOTION",)),
    "ToonTalkerCanonicalTransfer": (("TOONTALKER_SOURCE", "TOONTALKER_MOTION"), ("TOONTALKER_CANONICAL",)),
    "ToonTalkerDecodeToDomain": (("TOONTALKER_MODEL", "TOONTALKER_SOURCE", "TOONTALKER_CANONICAL"),
                                 ("TOONTALKER_LATENT",)),
    "ToonTalkerWarpRender": (("TOONTALKER_MODEL", "TOONTALKER_SOURCE", "TOONTALKER_LATENT"), ("IMAGE",)),
    "ToonTalkerReenact": (("TOONTALKER_MODEL", "IMAGE", "IMAGE"), ("IMAGE",)),
}


def _skip_reason() -> str | None:
    if not COMFY:
        return ("COMFYUI_PATH is not set: point it at a ComfyUI checkout (and COMFYUI_PYTHON at the python of "
                "its environment) to run the real-server tests")
    if not (Path(COMFY) / "main.py").is_file():
        return f"COMFYUI_PATH={COMFY} has no main.py: not a ComfyUI checkout"
    if not (shutil.which(PYTHON) or Path(PYTHON).is_file()):
        return f"ComfyUI's python {PYTHON!r} (COMFYUI_PYTHON) cannot be found"
    probe = subprocess.run([PYTHON, "-c", "import torch, aiohttp, yaml, av"], capture_output=True, text=True,
                           timeout=300)
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["?"])[-1]
        return f"{PYTHON} cannot import ComfyUI's requirements ({last}): set COMFYUI_PYTHON to ComfyUI's python"
    return None


_REASON = _skip_reason()
if _REASON:
    pytest.skip(_REASON, allow_module_level=True)

TIMINGS: list[str] = []


@pytest.fixture(scope="module")
def server(tmp_path_factory, request):
    TimingSummary.register(request.config, "toontalker-comfyui-summary",
                           "ComfyUI integration run (CPU, tiny checkpoint)", TIMINGS)
    base = prepare_base(tmp_path_factory.mktemp("comfy"), REPO, tiny_checkpoint, CKPT)
    install_probe(base)  # test-only route listing comfy.model_management.current_loaded_models
    t = time.perf_counter()
    with Server(base, COMFY, PYTHON) as srv:
        TIMINGS.append(f"server start: {time.perf_counter() - t:.1f} s (port {srv.port}, base {base})")
        yield srv


@pytest.fixture(scope="module")
def object_info(server):
    return server.get("/object_info", timeout=60)


def run_ok(server, prompt, what: str) -> dict:
    entry = server.run(prompt, timeout=900)
    msgs = history_messages(entry)
    assert entry["status"]["status_str"] == "success", f"{what}: {msgs.get('execution_error', entry['status'])}"
    return entry


def cached_nodes(entry: dict) -> set[str]:
    return set(history_messages(entry).get("execution_cached", {}).get("nodes", []))


def load_api(name: str) -> dict:
    return json.loads((WF_DIR / "api" / f"{name}.json").read_text())


# ------------------------------------------------------------------------------------------------ registration

def test_our_nodes_in_object_info(object_info, pack):
    ours = {k: v for k, v in object_info.items() if v.get("python_module", "").endswith(PACK)}
    assert set(pack.NODE_CLASS_MAPPINGS) <= set(object_info), "nodes missing: see the server log (IMPORT FAILED?)"
    assert set(ours) == set(pack.NODE_CLASS_MAPPINGS), set(ours) ^ set(pack.NODE_CLASS_MAPPINGS)
    for name, (links, outputs) in OUR_NODES.items():
        node = object_info[name]
        assert node["category"] == "ToonTalker" and node["description"], name
        assert tuple(node["output"]) == outputs, f"{name}: outputs {node['output']}"
        required = node["input"]["required"]
        sockets = tuple(v[0] for v in required.values() if isinstance(v[0], str)
                        and v[0] not in ("INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"))
        assert sockets == links, f"{name}: linked inputs {sockets}"
    for name, cls in pack.NODE_CLASS_MAPPINGS.items():  # every input as INPUT_TYPES declares it, with a tooltip
        node, spec = object_info[name], cls.INPUT_TYPES()
        assert node["display_name"] == pack.NODE_DISPLAY_NAME_MAPPINGS[name]
        assert tuple(node["output"]) == tuple(cls.RETURN_TYPES) and tuple(node["output_name"]) == cls.RETURN_NAMES
        for section in ("required", "optional"):
            assert list(node["input"].get(section, {})) == list(spec.get(section, {})), f"{name} {section}"
            for key, (typ, *opts) in spec.get(section, {}).items():
                served = node["input"][section][key]
                assert served[1].get("tooltip"), f"{name}.{key} has no tooltip"
                if key == "ckpt_name":
                    assert CKPT in served[0]
                elif isinstance(typ, (list, tuple)):
                    assert list(served[0]) == list(typ), f"{name}.{key}"
                else:
                    assert served[0] == typ, f"{name}.{key}"


def test_core_nodes_as_the_generator_describes_them(object_info):
    """tools/workflow_format.py writes the UI format from its own table of core nodes: check it here."""
    sys.path.insert(0, str(REPO / "tools"))
    import workflow_format as mw
    from pack_loader import load_pack

    used = {n["class_type"] for p in WORKFLOWS for n in json.loads(p.read_text()).values()}
    for t in sorted(used - set(load_pack().NODE_CLASS_MAPPINGS)):
        assert t in object_info, f"{t} is not a node of this ComfyUI"
        assert t in mw.CORE, f"{t} is used but tools/workflow_format.py has no schema for it"
    for t, schema in mw.CORE.items():
        if t in mw.UI_ONLY_TYPES:
            continue
        info = object_info[t]
        want = [(i.name, i.optional) for i in schema.inputs if i.ui_value is None]
        got = [(k, section == "optional") for section in ("required", "optional")
               for k in info["input_order"].get(section, [])]
        assert want == got, f"{t}: inputs {got}, the generator says {want}"
        for i in schema.inputs:
            if i.ui_value is not None:
                continue
            section = "optional" if i.optional else "required"
            typ = info["input"][section][i.name][0]
            typ = "COMBO" if isinstance(typ, list) else typ
            assert typ == i.type, f"{t}.{i.name}: {typ} vs {i.type}"
            assert i.widget == (typ in mw.WIDGET_TYPES), f"{t}.{i.name}"
        assert [(n, ty) for n, ty in schema.outputs] == list(zip(info["output_name"], info["output"])), t
        if info.get("display_name"):
            assert info["display_name"] == schema.title, f"{t}: {info['display_name']!r}"
    # the UI-only upload widgets the generator writes into widgets_values
    assert object_info["LoadImage"]["input"]["required"]["image"][1].get("image_upload")
    assert object_info["LoadVideo"]["input"]["required"]["file"][1].get("video_upload")


def test_templates_and_thumbnails_are_served(server):
    listed = server.get("/workflow_templates").get(PACK)
    assert sorted(listed or []) == sorted(p.stem for p in WORKFLOWS)
    for name in listed:
        data, ctype = server.get_bytes(f"/api/workflow_templates/{PACK}/{name}.jpg")
        assert ctype.startswith("image/jpeg") and len(data) > 1000, name
        ui, _ = server.get_bytes(f"/api/workflow_templates/{PACK}/{name}.json")
        assert json.loads(ui)["nodes"], name


# --------------------------------------------------------------------------------------------------- workflows

def probe_video(data: bytes) -> dict:
    import av

    with av.open(io.BytesIO(data)) as c:
        v = c.streams.video[0]
        frames = sum(1 for _ in c.decode(video=0))
        return {"frames": frames, "size": (v.codec_context.width, v.codec_context.height),
                "fps": float(v.average_rate or 0), "audio": len(c.streams.audio)}


@pytest.mark.parametrize("workflow", [p for p in WORKFLOWS if not "_chain_" in p.stem], ids=lambda p: p.stem)
def test_example_workflow_runs(server, workflow):  # *_chain_*: test_chaining.py, with the models they need
    prompt = json.loads(workflow.read_text())
    if any(e["class_type"].startswith("ToonTalkerMotion") for e in prompt.values()):
        pytest.skip("uses the bundled model's measured motion controls: test_motion_integration.py runs it")
    server.post("/free", {"unload_models": True, "free_memory": True})  # a cold run: no cache from earlier tests
    time.sleep(0.5)  # the idle worker applies the flags at once
    t = time.perf_counter()
    entry = run_ok(server, prompt, workflow.stem)
    wall = time.perf_counter() - t
    assert not cached_nodes(entry), "expected a cold run after POST /free"
    items = [v for out in entry["outputs"].values() for v in out.get("images", []) + out.get("videos", [])]
    assert len(items) == 1, entry["outputs"]
    item = items[0]
    path = server.base / "output" / item.get("subfolder", "") / item["filename"]
    assert path.is_file() and path.stat().st_size > 1000, path
    data = server.view(item)
    assert data == path.read_bytes()
    video = probe_video(data)
    driving = next(e["inputs"]["file"] for e in prompt.values() if e["class_type"] == "LoadVideo")
    assert video["frames"] == DRIVING_FRAMES[driving], video
    assert video["audio"] == 1, "the driving clip's audio was not kept"
    assert abs(video["fps"] - 25) < 0.01, video
    TIMINGS.append(f"{workflow.stem} (cold): {wall:.1f} s wall, {execution_seconds(entry) or float('nan'):.1f} s "
                   f"executing -> {item.get('subfolder', '')}/{item['filename']} {video['size'][0]}x"
                   f"{video['size'][1]}, {video['frames']} frames + audio")


# ------------------------------------------------------------------------------------------------------ caching

def test_strength_change_reruns_only_downstream(server):
    prompt = load_api("e_three_strengths_side_by_side")
    run_ok(server, prompt, "e_three_strengths_side_by_side")
    again = run_ok(server, prompt, "the same prompt again")
    assert cached_nodes(again) == set(prompt), "an identical prompt should execute nothing"

    changed = copy.deepcopy(prompt)
    changed["7"]["inputs"]["strength"] = 0.25
    t = time.perf_counter()
    entry = run_ok(server, changed, "strength 0.5 -> 0.25")
    t_changed = time.perf_counter() - t
    cached = cached_nodes(entry)
    rerun = set(prompt) - cached
    # the loader, the loaded media and both encoders come from the cache; so do the untouched branches
    assert {"1", "2", "3", "4", "5", "6"} <= cached
    assert rerun == {"7", "8", "9", "16", "17", "18", "19"}, sorted(rerun, key=int)
    TIMINGS.append(f"e_three_strengths_side_by_side strength 0.5 -> 0.25: {t_changed:.1f} s; "
                   f"execution_cached {sorted(cached, key=int)}; re-ran {sorted(rerun, key=int)}")

    mode = copy.deepcopy(changed)
    mode["10"]["inputs"]["mode"] = "absolute"
    entry = run_ok(server, mode, "mode relative -> absolute")
    rerun = set(prompt) - cached_nodes(entry)
    assert rerun == {"10", "11", "12", "16", "17", "18", "19"}, sorted(rerun, key=int)
    TIMINGS.append(f"e_three_strengths_side_by_side mode -> absolute on one branch: execution_cached "
                   f"{sorted(cached_nodes(entry), key=int)}")


def test_strength_change_in_the_staged_upscale_graph(server):
    prompt = load_api("d_staged_nodes_into_an_upscaler")
    run_ok(server, prompt, "d_staged_nodes_into_an_upscaler")
    changed = copy.deepcopy(prompt)
    changed["7"]["inputs"]["strength"] = 1.5
    entry = run_ok(server, changed, "d_staged_nodes_into_an_upscaler strength 1.5")
    cached = cached_nodes(entry)
    assert cached == {"1", "2", "3", "4", "5", "6"}, sorted(cached, key=int)
    TIMINGS.append(f"d_staged_nodes_into_an_upscaler strength 1.0 -> 1.5: execution_cached {sorted(cached, key=int)}")


# ------------------------------------------------------------------------------------------- model management

def toontalker_loaded(server) -> list[dict]:
    """The ToonTalker entries of comfy.model_management.current_loaded_models, read through the test probe."""
    return [m for m in server.get(PROBE_ROUTE)["models"] if m["class"] == "ToonTalkerWeights"]


def free(server, what: str, **flags) -> None:
    """POST /free and wait until the ToonTalker model is gone. The prompt worker applies the flags when its
    queue wakes it; a wake-up that comes while it is busy (e.g. collecting garbage after a prompt) is lost and
    it then sleeps until the next prompt, so the request is repeated until it takes effect."""
    end, posts = time.time() + 60, 0
    while time.time() < end:
        server.post("/free", flags)
        posts += 1
        for _ in range(10):
            if not toontalker_loaded(server):
                if posts > 1:
                    TIMINGS.append(f"/free ({what}) took effect after {posts} requests (lost wake-up)")
                return
            time.sleep(0.2)
    raise AssertionError(f"{what}: the model is still loaded; flags not applied: {server.get(PROBE_ROUTE)}")


def staged_prompt(frames: int = 8) -> dict:
    """Workflow e's first branch on the first `frames` driving frames, previewed: loader (1), media (2-4, 20),
    encoders (5, 6), transfer (7), decode (8), render (9)."""
    e = load_api("e_three_strengths_side_by_side")
    prompt = {k: copy.deepcopy(e[k]) for k in ("1", "2", "3", "4", "5", "6", "7", "8", "9")}
    prompt["20"] = {"class_type": "ImageFromBatch", "inputs": {"image": ["4", 0], "batch_index": 0, "length": frames}}
    prompt["6"]["inputs"]["frames"] = ["20", 0]
    prompt["21"] = {"class_type": "PreviewImage", "inputs": {"images": ["9", 0]}}
    return prompt


def test_comfyui_manages_the_model(server):
    prompt = staged_prompt()
    free(server, "a first /free", unload_models=True, free_memory=True)

    run_ok(server, prompt, "staged graph")
    [entry] = toontalker_loaded(server)
    assert entry["size_bytes"] > 0 and entry["loaded_bytes"] == entry["size_bytes"] and entry["device"] == "cpu"

    free(server, "'unload models' + 'free memory'", unload_models=True, free_memory=True)

    # Unload only (node cache kept), then a strength-only change: the loader and the encoders come from the
    # cache, so Transfer -> Decode -> Render must bring the model back by themselves.
    run_ok(server, prompt, "staged graph after /free")
    assert toontalker_loaded(server)
    free(server, "'unload models'", unload_models=True)
    changed = copy.deepcopy(prompt)
    changed["7"]["inputs"]["strength"] = 0.35
    entry = run_ok(server, changed, "strength-only change after 'unload models'")
    rerun = set(prompt) - cached_nodes(entry)
    assert rerun == {"7", "8", "9", "21"}, sorted(rerun, key=int)
    assert len(toontalker_loaded(server)) == 1, "Decode/Render did not load the model through ComfyUI"
    TIMINGS.append("model management: listed after a run, gone after /free, listed again after 'unload models' "
                   f"and a strength-only re-run (re-ran {sorted(rerun, key=int)})")


# ---------------------------------------------------------------------------------------------------- interrupt

def interrupt_prompt(frames: int, batch_size: int) -> dict:
    """Encode Driving Motion over `frames` copies of a 64x64 image, in chunks of `batch_size`."""
    return {
        "1": {"class_type": "ToonTalkerLoadCheckpoint",
              "inputs": {"ckpt_name": CKPT, "device": "cpu", "precision": "fp32"}},
        "2": {"class_type": "LoadImage", "inputs": {"image": "source_real.png"}},
        "3": {"class_type": "ImageScale", "inputs": {"image": ["2", 0], "upscale_method": "bilinear",
                                                     "width": 64, "height": 64, "crop": "disabled"}},
        "4": {"class_type": "RepeatImageBatch", "inputs": {"image": ["3", 0], "amount": frames}},
        "5": {"class_type": "ToonTalkerEncodeSource", "inputs": {"model": ["1", 0], "image": ["2", 0],
                                                                 "domain": "real"}},
        "6": {"class_type": "ToonTalkerEncodeDrivingMotion",
              "inputs": {"model": ["1", 0], "frames": ["4", 0], "domain": "real", "batch_size": batch_size}},
        "7": {"class_type": "ToonTalkerCanonicalTransfer",
              "inputs": {"source": ["5", 0], "motion": ["6", 0], "strength": 1.0, "mode": "relative",
                         "reference_frame": 0}},
        "8": {"class_type": "ToonTalkerDecodeToDomain", "inputs": {"model": ["1", 0], "source": ["5", 0],
                                                                   "canonical": ["7", 0]}},
        "9": {"class_type": "ToonTalkerWarpRender", "inputs": {"model": ["1", 0], "source": ["5", 0],
                                                               "latents": ["8", 0], "batch_size": 16}},
        "10": {"class_type": "PreviewImage", "inputs": {"images": ["9", 0]}},
    }


def test_interrupt_during_driving_encoding(server):
    client = uuid.uuid4().hex
    ws = server.websocket(client)
    try:
        pid = server.queue(interrupt_prompt(4096, 2), client)
        progress = None
        # wait until Encode Driving Motion (node 6) has done a few chunks
        for kind, data in ws.prompt_messages(pid, 300, untagged=True):
            if kind in ("execution_error", "execution_success"):
                pytest.fail(f"the prompt ended before the interrupt: {kind} {data}")
            if kind == "progress" and data.get("node") == "6" and data["value"] >= 8:
                progress = data
                break
        assert progress, "Encode Driving Motion never reported progress"
        t = time.perf_counter()
        server.post("/interrupt")
        stopped = None
        while time.perf_counter() - t < 120:
            msg = ws.recv(timeout=1)
            if msg and msg["type"] == "execution_interrupted" and msg["data"].get("prompt_id") == pid:
                stopped = time.perf_counter() - t
                break
        assert stopped is not None, "no execution_interrupted message within 120 s"
    finally:
        ws.close()
    entry = server.wait(pid, timeout=60)
    msgs = history_messages(entry)
    assert "execution_interrupted" in msgs and "execution_error" not in msgs, list(msgs)
    assert msgs["execution_interrupted"]["node_id"] == "6", msgs["execution_interrupted"]
    assert progress["value"] < progress["max"] == 4096
    assert stopped < 30, f"took {stopped:.1f} s to stop"
    # the server is still up and the same nodes work again
    assert server.alive() and server.get("/system_stats")["system"]
    assert server.get("/queue") == {"queue_running": [], "queue_pending": []}
    small = run_ok(server, interrupt_prompt(12, 4), "after the interrupt")
    assert "6" not in cached_nodes(small)
    TIMINGS.append(f"interrupt: sent after {progress['value']}/{progress['max']} driving frames of Encode "
                   f"Driving Motion (batch_size 2); stopped {stopped:.2f} s later in node "
                   f"{msgs['execution_interrupted']['node_id']}; server up, next prompt ran")


# ------------------------------------------------------------------------------------------ the real editor

def test_editor_loads_the_ui_workflows_unchanged(server):
    """Load each UI workflow in the real frontend: saving it again gives the same graph (our pack's web extension
    may colour our nodes by domain), and the editor's own UI -> API conversion gives the API twin."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium, or set CHROMIUM)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright for the editor check")
    app = "window.comfyAPI.app.app"
    flags = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--no-first-run"]
    results = {}
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=flags)
        try:
            page = browser.new_page()
            page.goto(server.url)
            page.wait_for_function("() => window.comfyAPI?.app?.app?.graph && window.comfyAPI.app.app.extensionManager", timeout=120_000)
            time.sleep(3)  # let the editor finish opening its start-up workflow
            for path in sorted(WF_DIR.glob("*.json")):
                results[path.stem] = page.evaluate(f"""async (g) => {{
                    const app = {app};
                    await app.loadGraphData(g, true, true, null);
                    const ui = JSON.parse(JSON.stringify(app.graph.serialize()));
                    const api = JSON.parse(JSON.stringify((await app.graphToPrompt()).output));
                    return {{ui, api}};
                }}""", json.loads(path.read_text()))
        finally:
            browser.close()
    for name, got in results.items():
        ours = json.loads((WF_DIR / f"{name}.json").read_text())
        assert got["api"] == load_api(name), f"{name}: the editor's API conversion differs from the twin"
        editor_nodes = {n["id"]: n for n in got["ui"]["nodes"]}
        for node in ours["nodes"]:
            saved = dict(editor_nodes[node["id"]])
            if node["type"].startswith("ToonTalker"):  # painted by web/domain_colors.js
                saved.pop("color", None)
                saved.pop("bgcolor", None)
            assert saved == node, f"{name} node {node['id']} ({node['type']}) changes when the editor saves it"
        for key in ("links", "groups", "last_node_id", "last_link_id", "version"):
            assert got["ui"][key] == ours[key], f"{name}: {key}"
    TIMINGS.append(f"editor round trip: {len(results)} UI workflows load and save unchanged; graphToPrompt == "
                   "API twins")
