"""The chaining templates in a real ComfyUI, on tiny models this test makes (tests/integration/chain_models.py,
run with ComfyUI's python) under the file names the templates load: a ~20 KB random Real-ESRGAN Compact upscaler
and the smallest random SD 1.x checkpoint ComfyUI's detection takes for SD15. The ToonTalker model is the bundled
demo model.

    COMFYUI_PATH=/path/to/ComfyUI COMFYUI_PYTHON=/path/to/its/python pytest tests/integration/test_chaining.py

Both run on the first FRAMES frames of samples/driving.mp4 (with its audio; a CPU-sized clip the test writes
into ComfyUI/input) instead of the 100-frame sample; everything else as shipped, except:
- g_chain_upscale_the_face_crop_with_a_model: a 256x256 video with the clip's frames and audio, the portrait untouched outside the
  pasted face, the face moving; the preview shows every upscaled crop (64 px x4).
- h_chain_stylize_the_frames_with_stable_diffusion, with the sampling made small for this CPU (0.01 MP frames, 4 steps): the frames and
  audio come out (two KSampler chunks of Rebatch Latents); with seed_behavior fixed (the template) consecutive
  frames differ less than with a new noise per frame; on that second run the ToonTalker part comes from the
  cache.
- memory: what comfy.model_management.current_loaded_models holds while KSampler samples (through the test
  probe of comfy_server.install_probe): after 'unload models', the SD part re-runs with the ToonTalker model
  unloaded and its frames from the cache.
Per-node timings (from the server's `executing` messages) are printed at the end. Skips without COMFYUI_PATH.
"""
from __future__ import annotations

import copy
import io
import json
import os
import subprocess
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

from comfy_server import (PROBE_ROUTE, Server, TimingSummary, comfy_or_skip, history_messages, install_probe,
                         prepare_base, wait_for)
from conftest import REPO

pytestmark = pytest.mark.integration

COMFY, PYTHON = comfy_or_skip("run the chaining templates in a real server")

WF_DIR = REPO / "example_workflows" / "api"
FRAMES = 20  # > Rebatch Latents' 16: two sampling chunks
CLIP = "driving_short.mp4"
ARTIFACTS = os.environ.get("TOONTALKER_ARTIFACTS")
TIMINGS: list[str] = []


def load_api(name: str) -> dict:
    return json.loads((WF_DIR / f"{name}.json").read_text())


def node_of(prompt: dict, class_type: str) -> str:
    return next(nid for nid, e in prompt.items() if e["class_type"] == class_type)


def short_clip(prompt: dict) -> dict:
    prompt[node_of(prompt, "LoadVideo")]["inputs"]["file"] = CLIP
    return prompt


def trim_clip(src: Path, dst: Path, frames: int) -> None:
    """The first `frames` frames of src (re-encoded) with the audio packets of the same span (copied)."""
    import av

    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        vin = inp.streams.video[0]
        fps = vin.average_rate
        vout = out.add_stream("libx264", rate=fps)
        vout.width, vout.height, vout.pix_fmt = vin.codec_context.width, vin.codec_context.height, "yuv420p"
        ain = inp.streams.audio[0]
        aout = out.add_stream_from_template(ain)
        for k, frame in enumerate(inp.decode(vin)):
            if k == frames:
                break
            out.mux(vout.encode(av.VideoFrame.from_ndarray(frame.to_ndarray(format="rgb24"), format="rgb24")))
        out.mux(vout.encode(None))
        inp.seek(0)
        for packet in inp.demux(ain):
            if packet.pts is not None and packet.pts * packet.time_base < frames / fps:
                packet.stream = aout
                out.mux(packet)


@pytest.fixture(scope="module")
def server(tmp_path_factory, request):
    TimingSummary.register(request.config, "toontalker-chaining-summary",
                           "chaining templates in ComfyUI (CPU, tiny upscaler and SD models)", TIMINGS)
    base = prepare_base(tmp_path_factory.mktemp("comfy_chain"), REPO)  # the bundled demo model
    upscaling, stylizing = load_api("g_chain_upscale_the_face_crop_with_a_model"), load_api("h_chain_stylize_the_frames_with_stable_diffusion")
    upscale = upscaling[node_of(upscaling, "UpscaleModelLoader")]["inputs"]["model_name"]
    ckpt = stylizing[node_of(stylizing, "CheckpointLoaderSimple")]["inputs"]["ckpt_name"]
    trim_clip(REPO / "samples" / "driving.mp4", base / "input" / CLIP, FRAMES)
    (base / "models" / "upscale_models").mkdir(parents=True, exist_ok=True)
    (base / "models" / "checkpoints").mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    made = subprocess.run(
        [PYTHON, str(Path(__file__).with_name("chain_models.py")), "--comfyui", COMFY,
         "--upscaler", str(base / "models" / "upscale_models" / upscale),
         "--checkpoint", str(base / "models" / "checkpoints" / ckpt)],
        cwd=COMFY, capture_output=True, text=True, timeout=600)
    assert made.returncode == 0, made.stderr[-3000:]
    TIMINGS.append(f"tiny models made in {time.perf_counter() - t:.1f} s: " + " | ".join(made.stdout.split("\n")[:2]))
    install_probe(base)  # test-only route listing comfy.model_management.current_loaded_models
    with Server(base, COMFY, PYTHON) as srv:
        yield srv


def run_timed(server: Server, prompt: dict, timeout: float = 900, on_node: dict | None = None
              ) -> tuple[dict, dict[str, float]]:
    """Run a prompt; -> (history entry, seconds per executed node id) from the `executing` messages.
    on_node: {node id: f()}, f called when that node starts executing (while it runs)."""
    client = uuid.uuid4().hex
    ws = server.websocket(client)
    per_node: dict[str, float] = {}
    try:
        pid = server.queue(prompt, client)
        current, since = None, time.perf_counter()
        for kind, data in ws.prompt_messages(pid, timeout):
            now = time.perf_counter()
            if kind == "executing":
                if current is not None:
                    per_node[current] = per_node.get(current, 0.0) + now - since
                current, since = data.get("node"), now
                if current is None:
                    break
                if on_node and current in on_node:
                    on_node[current]()
            elif kind in ("execution_error", "execution_interrupted"):
                break
    finally:
        ws.close()
    entry = server.wait(pid, timeout=60)
    msgs = history_messages(entry)
    assert entry["status"]["status_str"] == "success", msgs.get("execution_error", entry["status"])
    return entry, per_node


def stage_line(name: str, prompt: dict, per_node: dict[str, float]) -> str:
    parts = [f"{prompt[n]['_meta']['title']} {s:.2f}" for n, s in sorted(per_node.items(), key=lambda kv: -kv[1])]
    return f"{name}: {sum(per_node.values()):.1f} s: " + ", ".join(parts)


def output_video(server: Server, entry: dict) -> tuple[np.ndarray, dict]:
    """The one video a run saved (previews are temp files): frames float [N,H,W,3] in 0..1, and its fps / audio
    streams."""
    import av

    items = [v for out in entry["outputs"].values() for v in out.get("images", []) + out.get("videos", [])
             if v.get("type") == "output"]
    assert len(items) == 1, entry["outputs"]
    data = server.view(items[0])
    if ARTIFACTS:
        Path(ARTIFACTS).mkdir(parents=True, exist_ok=True)
        (Path(ARTIFACTS) / items[0]["filename"]).write_bytes(data)
    with av.open(io.BytesIO(data)) as c:
        fps, audio = float(c.streams.video[0].average_rate or 0), len(c.streams.audio)
        frames = np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)]).astype(np.float32) / 255
    return frames, {"fps": fps, "audio": audio}


def source_image() -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(REPO / "samples" / "source_real.png").convert("RGB"), np.float32) / 255


def flicker(frames: np.ndarray) -> float:
    """Mean absolute change between consecutive frames."""
    return float(np.abs(np.diff(frames, axis=0)).mean())


def test_model_upscale_template_runs(server):
    prompt = short_clip(load_api("g_chain_upscale_the_face_crop_with_a_model"))
    entry, per_node = run_timed(server, prompt)
    frames, info = output_video(server, entry)
    src = source_image()
    assert frames.shape == (FRAMES,) + src.shape, frames.shape  # the driving clip's frames, the source's size
    assert info["audio"] == 1 and abs(info["fps"] - 25) < 0.01, info
    corners = [np.s_[:, :24, :24], np.s_[:, :24, -24:]]  # background above the head: outside the paste
    for c in corners:
        assert np.abs(frames[c] - src[None][c]).mean() < 0.03
    face = np.s_[:, 96:176, 80:176]
    assert flicker(frames[face]) > 2 * flicker(frames[corners[0]]), "the pasted face should move"
    previews = entry["outputs"][node_of(prompt, "PreviewImage")]["images"]
    assert len(previews) == FRAMES, "one upscaled face crop per frame on view"
    from PIL import Image

    crop = Image.open(io.BytesIO(server.view(previews[0])))
    assert crop.size == (256, 256), crop.size  # the demo model's 64 px crop, x4
    TIMINGS.append(stage_line(f"g_chain_upscale_the_face_crop_with_a_model (cold, {FRAMES} frames)", prompt, per_node))


def test_diffusion_template_runs_with_one_noise_per_frame(server):
    prompt = short_clip(load_api("h_chain_stylize_the_frames_with_stable_diffusion"))
    scale, sampler, seeds = (node_of(prompt, t) for t in ("ImageScaleToTotalPixels", "KSampler",
                                                          "LatentBatchSeedBehavior"))
    prompt[scale]["inputs"]["megapixels"] = 0.01  # 100x100 frames, 12x12 latents: a CPU-sized run
    prompt[sampler]["inputs"]["steps"] = 4
    entry, per_node = run_timed(server, prompt)
    fixed, info = output_video(server, entry)
    assert fixed.shape[0] == FRAMES and info["audio"] == 1 and abs(info["fps"] - 25) < 0.01, (fixed.shape, info)
    assert np.isfinite(fixed).all() and fixed.std() > 0.02, "blank frames"
    TIMINGS.append(stage_line(f"h_chain_stylize_the_frames_with_stable_diffusion (cold, {FRAMES} frames sampled at "
                              f"{fixed.shape[2]}x{fixed.shape[1]}, 4 steps)", prompt, per_node))

    random_noise = copy.deepcopy(prompt)
    random_noise[seeds]["inputs"]["seed_behavior"] = "random"
    entry, per_node = run_timed(server, random_noise)
    cached = set(history_messages(entry).get("execution_cached", {}).get("nodes", []))
    assert {"1", "2", "3", "4", "5", "6", "7", "8", "9", "10"} <= cached, sorted(cached, key=int)
    noisy, _ = output_video(server, entry)
    f_fixed, f_random = flicker(fixed), flicker(noisy)
    assert 0 < f_fixed < 0.5 * f_random, (f_fixed, f_random)  # still following the reenacted motion
    TIMINGS.append(f"flicker (mean |frame t - frame t-1|): same noise every frame {f_fixed:.4f}, a new noise per "
                   f"frame {f_random:.4f} (x{f_fixed / f_random:.2f}); re-run after the seed_behavior change: "
                   f"{sum(per_node.values()):.1f} s, ToonTalker and SD loaders cached")


def loaded_models(server: Server) -> list[str]:
    """Classes of comfy.model_management.current_loaded_models in the server (through the test probe)."""
    return sorted(m["class"] for m in server.get(PROBE_ROUTE)["models"])


def while_sampling(server: Server, seen: list) -> callable:
    """A KSampler on_node hook: waits until the sampler has loaded the SD UNet (BaseModel), then records what
    ComfyUI holds loaded at that moment."""
    def probe():
        end = time.time() + 120
        while time.time() < end:
            now = loaded_models(server)
            if "BaseModel" in now:
                seen.append(now)
                return
            time.sleep(0.05)
        seen.append(loaded_models(server))
    return probe


def test_diffusion_samples_with_the_toontalker_model_offloaded(server):
    """The ToonTalker model is a ComfyUI-managed model (a ModelPatcher in current_loaded_models), so ComfyUI can
    take it off the device for the diffusion model. On a GPU, load_models_gpu frees memory for the UNet by
    unloading other models (model_unload); on the CPU it never does (ComfyUI's load_models_gpu calls
    free_memory only for non-CPU devices), so here the unload is asked for with POST /free {unload_models},
    the same model_unload, and then the SD part re-runs: the sampler runs with the SD UNet loaded and the
    ToonTalker model not, and the reenacted frames come from ComfyUI's cache."""
    prompt = short_clip(load_api("h_chain_stylize_the_frames_with_stable_diffusion"))
    scale, sampler = node_of(prompt, "ImageScaleToTotalPixels"), node_of(prompt, "KSampler")
    prompt[scale]["inputs"]["megapixels"] = 0.01
    prompt[sampler]["inputs"]["steps"] = 2
    first: list = []
    run_timed(server, prompt, on_node={sampler: while_sampling(server, first)})
    assert first and {"BaseModel", "ToonTalkerWeights"} <= set(first[0]), first  # CPU: nothing evicts

    # POST /free again while it has not taken effect: the prompt worker can miss the wake-up while it is busy
    wait_for(lambda: server.post("/free", {"unload_models": True}) is not None and not loaded_models(server),
             "'unload models' emptied current_loaded_models", timeout=60)
    changed = copy.deepcopy(prompt)
    changed[sampler]["inputs"]["denoise"] = 0.3
    second: list = []
    entry, per_node = run_timed(server, changed, on_node={sampler: while_sampling(server, second)})
    assert second and "BaseModel" in second[0] and "ToonTalkerWeights" not in second[0], second
    cached = set(history_messages(entry).get("execution_cached", {}).get("nodes", []))
    reenact = node_of(prompt, "ToonTalkerReenact")
    assert reenact in cached and sampler not in cached, sorted(cached, key=int)
    TIMINGS.append(f"memory: while KSampler samples, current_loaded_models = {first[0]} after a full run (CPU: "
                   f"ComfyUI frees nothing), {second[0]} after 'unload models' + a denoise change "
                   f"(ToonTalker Reenact cached; re-run {sum(per_node.values()):.1f} s)")
