"""The pack inside a real ComfyUI server (COMFYUI_PATH=/path/to/ComfyUI; COMFYUI_PYTHON optional).

Starts ComfyUI on a free 127.0.0.1 port with --cpu --disable-api-nodes and a temporary base directory
holding the pack (symlinked into custom_nodes), a tiny checkpoint under the name the example workflows use,
and the sample media; then checks registration, runs every API workflow, the cache on a strength-only
change, and an interrupt. Skips when COMFYUI_PATH is unset.
"""
from __future__ import annotations

import copy
import json
import os
import time
from pathlib import Path

import pytest

from comfy_server import Server, prepare_base, tiny_checkpoint
from conftest import REPO

pytestmark = pytest.mark.integration

COMFY = os.environ.get("COMFYUI_PATH")
WORKFLOWS = sorted((REPO / "example_workflows" / "api").glob("*.json"))
OUR_NODES = {
    "ToonTalkerLoadCheckpoint": ((), ("TOONTALKER_MODEL", "STRING")),
    "ToonTalkerEncodeSource": (("TOONTALKER_MODEL", "IMAGE"), ("TOONTALKER_SOURCE",)),
    "ToonTalkerEncodeDrivingMotion": (("TOONTALKER_MODEL", "IMAGE"), ("TOONTALKER_MOTION",)),
    "ToonTalkerCanonicalTransfer": (("TOONTALKER_SOURCE", "TOONTALKER_MOTION"), ("TOONTALKER_CANONICAL",)),
    "ToonTalkerDecodeToDomain": (("TOONTALKER_MODEL", "TOONTALKER_SOURCE", "TOONTALKER_CANONICAL"),
                                 ("TOONTALKER_LATENT",)),
    "ToonTalkerWarpRender": (("TOONTALKER_MODEL", "TOONTALKER_SOURCE", "TOONTALKER_LATENT"), ("IMAGE",)),
    "ToonTalkerReenact": (("TOONTALKER_MODEL", "IMAGE", "IMAGE"), ("IMAGE",)),
    "ToonTalkerFaceCrop": (("IMAGE",), ("IMAGE", "TOONTALKER_CROP", "MASK")),
    "ToonTalkerPasteBack": (("IMAGE", "IMAGE", "TOONTALKER_CROP"), ("IMAGE",)),
}

if not COMFY or not (Path(COMFY) / "main.py").exists():
    pytest.skip("set COMFYUI_PATH to a ComfyUI checkout (and COMFYUI_PYTHON to its python) to run the "
                "real-server tests", allow_module_level=True)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    base = prepare_base(tmp_path_factory.mktemp("comfy"), REPO, tiny_checkpoint)
    srv = Server(base, COMFY, os.environ.get("COMFYUI_PYTHON"))
    try:
        srv.wait_ready()
        yield srv
    finally:
        srv.stop()


def statuses(history: dict) -> dict:
    return {m[0]: m[1] for m in history["status"]["messages"]}


def test_nodes_registered_with_types(server):
    info = server.get("/object_info")
    for name, (inputs, outputs) in OUR_NODES.items():
        assert name in info, f"{name} missing from /object_info"
        node = info[name]
        assert node["category"] == "ToonTalker" and tuple(node["output"]) == outputs
        link_types = [v[0] for v in node["input"]["required"].values() if isinstance(v[0], str)
                      and v[0] not in ("INT", "FLOAT", "STRING", "BOOLEAN")]
        assert tuple(link_types) == inputs, name


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.stem)
def test_example_workflow_runs(server, workflow):
    prompt = json.loads(workflow.read_text())
    t = time.perf_counter()
    hist = server.run(prompt)
    elapsed = time.perf_counter() - t
    assert hist["status"]["status_str"] == "success", statuses(hist).get("execution_error")
    videos = [v for out in hist["outputs"].values() for v in out.get("images", []) + out.get("videos", [])]
    files = [server.base / "output" / v.get("subfolder", "") / v["filename"] for v in videos]
    assert files and all(f.exists() and f.stat().st_size > 1000 for f in files), hist["outputs"]
    print(f"{workflow.stem}: {elapsed:.1f}s -> {[str(f) for f in files]}")


def test_strength_change_reruns_only_downstream(server):
    prompt = json.loads((REPO / "example_workflows" / "api" / "e_strength_comparison.json").read_text())
    assert server.run(prompt)["status"]["status_str"] == "success"
    changed = copy.deepcopy(prompt)
    changed["7"]["inputs"]["strength"] = 0.25
    hist = server.run(changed)
    assert hist["status"]["status_str"] == "success"
    cached = set(statuses(hist)["execution_cached"]["nodes"])
    print("execution_cached:", sorted(cached, key=int))
    # loader, image/video loading and both encoders come from the cache; the 0.25 branch re-runs
    assert {"1", "2", "3", "4", "5", "6"} <= cached
    assert not {"7", "8", "9"} & cached
    assert {"10", "11", "12", "13", "14", "15"} <= cached  # the untouched strength branches


def test_interrupt_during_driving_encoding(server):
    prompt = {
        "1": {"class_type": "ToonTalkerLoadCheckpoint",
              "inputs": {"ckpt_name": "cross-domain-demo-64px.safetensors", "device": "cpu", "precision": "fp32"}},
        "2": {"class_type": "LoadImage", "inputs": {"image": "source_real.png"}},
        "3": {"class_type": "RepeatImageBatch", "inputs": {"image": ["2", 0], "amount": 4096}},
        "4": {"class_type": "ToonTalkerEncodeDrivingMotion",
              "inputs": {"model": ["1", 0], "frames": ["3", 0], "domain": "real", "batch_size": 1}},
        "5": {"class_type": "ToonTalkerEncodeSource", "inputs": {"model": ["1", 0], "image": ["2", 0],
                                                                 "domain": "real"}},
        "6": {"class_type": "ToonTalkerCanonicalTransfer",
              "inputs": {"source": ["5", 0], "motion": ["4", 0], "strength": 1.0, "mode": "relative",
                         "reference_frame": 0}},
        "7": {"class_type": "ToonTalkerDecodeToDomain", "inputs": {"model": ["1", 0], "source": ["5", 0],
                                                                   "canonical": ["6", 0]}},
        "8": {"class_type": "ToonTalkerWarpRender", "inputs": {"model": ["1", 0], "source": ["5", 0],
                                                               "latents": ["7", 0], "batch_size": 8}},
        "9": {"class_type": "PreviewImage", "inputs": {"images": ["8", 0]}},
    }
    pid = server.post("/prompt", {"prompt": prompt, "client_id": "interrupt-test"})["prompt_id"]
    end = time.time() + 120
    while time.time() < end:  # wait until the driving encoder is running
        queue = server.get("/queue")
        if queue["queue_running"]:
            break
        time.sleep(0.2)
    time.sleep(3)
    server.post("/interrupt")
    end = time.time() + 120
    hist = {}
    while time.time() < end:
        hist = server.get(f"/history/{pid}")
        if pid in hist and hist[pid]["status"].get("completed") is not None:
            break
        time.sleep(0.5)
    msgs = statuses(hist[pid])
    assert "execution_interrupted" in msgs, msgs.keys()
    assert msgs["execution_interrupted"]["node_id"] == "4"
    assert server.get("/object_info/ToonTalkerReenact")  # the server is still up
