"""The chaining templates queued in a real ComfyUI without the models they name (no upscaler, no SD checkpoint):
the run must stop on the missing model before any ToonTalker node does work.

    COMFYUI_PATH=/path/to/ComfyUI COMFYUI_PYTHON=/path/to/its/python pytest tests/integration/test_missing_models.py

- h (Load Checkpoint, a V1 node): POST /prompt answers 400 with a `value_not_in_list` error on the loader;
  nothing is queued.
- g (Load Upscale Model, a V3 node): ComfyUI 0.3.64 does not check a V3 combo's value when it validates a
  prompt (execution.validate_inputs checks list-type combos only; later releases check io.Combo's options too),
  so the prompt is queued. Its graph makes the loader the first node ComfyUI runs (it feeds the Preview Image
  of the upscaled crops through one node, and ComfyUI runs such a node first): the run stops there with the
  missing file's name, and no ToonTalker node starts. On a ComfyUI that validates V3 combos it is a 400 like h.
Skips without COMFYUI_PATH.
"""
from __future__ import annotations

import json
import urllib.error
import uuid

import pytest

from comfy_server import Server, comfy_or_skip, prepare_base
from conftest import REPO

pytestmark = pytest.mark.integration

COMFY, PYTHON = comfy_or_skip("queue the chaining templates in a real server")

API = REPO / "example_workflows" / "api"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    base = prepare_base(tmp_path_factory.mktemp("comfy_missing"), REPO)  # no upscale_models, no checkpoints
    with Server(base, COMFY, PYTHON) as srv:
        yield srv


def queue_and_watch(server: Server, prompt: dict, timeout: float = 300) -> tuple[dict | None, list[str], dict]:
    """POST /prompt; -> (the 400 answer or None, node ids in the order they started, the execution_error)."""
    client = uuid.uuid4().hex
    ws = server.websocket(client)
    try:
        try:
            pid = server.post("/prompt", {"prompt": prompt, "client_id": client})["prompt_id"]
        except urllib.error.HTTPError as e:
            assert e.code == 400, e.code
            return json.loads(e.read()), [], {}
        started, error = [], {}
        for kind, data in ws.prompt_messages(pid, timeout):
            if kind == "executing":
                if data.get("node") is None:
                    break
                started.append(data["node"])
            elif kind == "execution_error":
                error = data
                break
            elif kind == "execution_success":
                break
        return None, started, error
    finally:
        ws.close()


def model_name(prompt: dict, class_type: str, widget: str) -> tuple[str, str]:
    nid = next(k for k, e in prompt.items() if e["class_type"] == class_type)
    return nid, prompt[nid]["inputs"][widget]


def test_missing_sd_checkpoint_is_a_validation_error(server):
    prompt = json.loads((API / "h_chain_stylize_the_frames_with_stable_diffusion.json").read_text())
    loader, ckpt = model_name(prompt, "CheckpointLoaderSimple", "ckpt_name")
    refused, started, _ = queue_and_watch(server, prompt)
    assert refused is not None, f"queued and ran {started}"
    errors = refused["node_errors"][loader]["errors"]
    assert errors[0]["type"] == "value_not_in_list" and ckpt in errors[0]["details"], errors
    assert set(refused["node_errors"]) == {loader}, "only the missing model is an error"
    assert not server.get("/queue")["queue_running"] and not server.get("/queue")["queue_pending"]


def test_missing_upscaler_stops_before_any_toontalker_node(server):
    prompt = json.loads((API / "g_chain_upscale_the_face_crop_with_a_model.json").read_text())
    loader, file = model_name(prompt, "UpscaleModelLoader", "model_name")
    refused, started, error = queue_and_watch(server, prompt)
    if refused is not None:  # a ComfyUI that validates V3 combos
        assert set(refused["node_errors"]) == {loader}, refused
        return
    assert error, f"the run did not fail: {started}"
    assert error["node_id"] == loader and file in error["exception_message"], error
    ran = [prompt[n]["class_type"] for n in started]
    assert not [t for t in ran if t.startswith("ToonTalker")], f"ToonTalker nodes started before the error: {ran}"
    assert ran[0] == "UpscaleModelLoader", ran
    print(f"g without its upscaler: nodes started {ran}; error: {error['exception_message'].strip()}")
