"""ComfyUI model management in the nodes, without ComfyUI: a fake `comfy.model_management` and ModelPatcher are
injected, and the tests check what the real ones rely on: the loader hands the model to the manager, every
node that computes loads it first (after an "Unload models"), memory estimates scale with the chunk, the batch
is capped by free memory, and an out-of-memory error retries the same frames with half the batch."""
from __future__ import annotations

import importlib

import pytest
import torch

from tiny import TINY, tiny_images, tiny_model


class FakePatcher:
    def __init__(self, model, load_device, offload_device):
        self.model, self.load_device, self.offload_device = model, load_device, offload_device


class FakeModelManagement:
    """Records load_models_gpu calls; `unload_all_models` marks the model unloaded, as POST /free does."""
    OOM_EXCEPTION = torch.cuda.OutOfMemoryError
    FORCE_FP32 = False

    def __init__(self):
        self.loaded, self.calls, self.free, self.freed = set(), [], 1 << 40, []

    def load_models_gpu(self, models, memory_required=0, force_full_load=False):
        self.calls.append((memory_required, force_full_load))
        for p in models:
            p.model.to(p.load_device)
            self.loaded.add(id(p))

    def unload_all_models(self):
        self.loaded.clear()

    def get_torch_device(self):
        return torch.device("cpu")

    unet_offload_device = intermediate_device = get_torch_device

    def get_free_memory(self, device=None):
        return self.free

    def free_memory(self, nbytes, device):
        self.freed.append(nbytes)

    def soft_empty_cache(self):
        pass

    def throw_exception_if_processing_interrupted(self):
        pass


@pytest.fixture
def mods(pack):
    name = pack.__name__ + ".nodes."
    mods = {m: importlib.import_module(name + m) for m in ("comfy", "memory", "render", "motion", "loaders", "face")}
    mods["core_memory"] = importlib.import_module(pack.__name__ + ".toontalker_core.memory")  # the one memory model
    return mods


@pytest.fixture
def fake(mods, monkeypatch):
    mm = FakeModelManagement()
    monkeypatch.setattr(mods["comfy"], "model_management", mm)
    monkeypatch.setattr(mods["comfy"], "ModelPatcher", FakePatcher)
    return mm


@pytest.fixture
def model(pack, fake, mods, tmp_path, monkeypatch):
    core = importlib.import_module(pack.__name__ + ".toontalker_core.model.checkpoint")
    m = tiny_model(True)
    core.save_safetensors({"gen": m.gen.state_dict(), "gen_real": m.gen_real.state_dict()},
                          tmp_path / "t.safetensors", TINY)
    monkeypatch.setenv("TOONTALKER_MODELS", str(tmp_path))
    model, info = mods["loaders"].LoadToonTalkerCheckpoint().load("t.safetensors", "auto", "fp32")
    return model


SOURCE = tiny_images(1, seed=1, size=80).permute(0, 2, 3, 1).contiguous()
FRAMES = tiny_images(7, seed=2, size=80).permute(0, 2, 3, 1).contiguous()


def test_loader_hands_the_model_to_the_manager(model, mods):
    patcher = model.comfy_patcher
    assert isinstance(patcher, FakePatcher) and patcher.load_device == torch.device("cpu")
    weights = patcher.model  # the same modules: moving them moves the model; no reference back to it
    assert weights.gen is model.gen and weights.gen_real is model.gen_real
    assert sum(p.numel() for p in weights.parameters()) == sum(p.numel() for p in model.parameters())
    assert weights.get_dtype() == torch.float32 and mods["comfy"].offload_device(model) == patcher.offload_device


def _stage_nodes(mods, model):
    """Every computing node, each run with the model unloaded first (as after POST /free)."""
    motion, render = mods["motion"], mods["render"]
    src = motion.EncodeSource().encode(model, SOURCE, "cartoon")[0]
    mot = motion.EncodeDrivingMotion().encode(model, FRAMES, "real", 3)["result"][0]
    can = motion.CanonicalMotionTransfer().transfer(src, mot, 1.0, "relative", 0)["result"][0]
    return {
        "encode source": lambda: motion.EncodeSource().encode(model, SOURCE, "cartoon"),
        "encode driving": lambda: motion.EncodeDrivingMotion().encode(model, FRAMES, "real", 3),
        "decode": lambda: render.DecodeToDomain().decode(model, src, can),
        "render": lambda: render.WarpRender().render(
            model, src, render.DecodeToDomain().decode(model, src, can)[0], 3),
        "reenact": lambda: render.ToonTalkerReenact().reenact(
            model, SOURCE, FRAMES, "real video -> cartoon portrait (r2c)", 1.0, "relative", 0, 3, "none"),
    }


def test_every_computing_node_loads_the_model_first(model, mods, fake):
    runs = _stage_nodes(mods, model)
    used_unloaded = []

    def check(module, args):
        if id(model.comfy_patcher) not in fake.loaded:
            used_unloaded.append(type(module).__name__)

    hooks = [m.register_forward_pre_hook(check) for m in model.modules()]
    try:
        for name, run in runs.items():
            fake.unload_all_models()
            fake.calls.clear()
            run()
            assert fake.calls, f"{name} computed without load_models_gpu"
            assert all(full for _, full in fake.calls), "plain torch layers need a full load"
            assert not used_unloaded, f"{name} ran {used_unloaded[:3]} before loading the model"
    finally:
        for h in hooks:
            h.remove()


def test_the_memory_asked_of_comfyui_grows_with_the_chunk_and_covers_the_payload(model, mods, fake):
    memory, render, motion = mods["memory"], mods["render"], mods["motion"]
    src = motion.EncodeSource().encode(model, SOURCE, "cartoon")[0]
    mot = motion.EncodeDrivingMotion().encode(model, FRAMES, "real", 3)["result"][0]
    lat = render.DecodeToDomain().decode(model, src, motion.CanonicalMotionTransfer().transfer(
        src, mot, 1.0, "relative", 0)["result"][0])[0]
    asked = {}
    for batch in (1, 2, 3):
        fake.calls.clear()
        render.WarpRender().render(model, src, lat, batch)
        asked[batch] = fake.calls[0][0]
    assert memory.tensor_bytes(src.encoded) < asked[1] < asked[2] < asked[3]  # the source moved, plus the frames
    assert asked[3] - asked[2] == asked[2] - asked[1]  # per frame, the same each


def test_batch_capped_by_free_memory(model, mods, fake):
    memory, core = mods["memory"], mods["core_memory"]
    per_frame = core.frame_bytes(model, "render")
    fake.free = 3 * per_frame + 10
    assert memory.prepare(model, 8, per_frame) == 3
    fake.free = 0
    assert memory.prepare(model, 8, per_frame) == 1
    assert core.full_res_batch(64 * 64) == 16 and core.full_res_batch(3840 * 2160) == 1


def _oom_above(limit, sizes):
    def fn(n):
        sizes.append(n)
        if n > limit:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
    return fn


def test_out_of_memory_retries_with_half_the_batch(model, mods, fake, pack, monkeypatch):
    render, motion = mods["render"], mods["motion"]
    S = importlib.import_module(pack.__name__ + ".toontalker_core.stages")
    src = motion.EncodeSource().encode(model, SOURCE, "cartoon")[0]
    mot = motion.EncodeDrivingMotion().encode(model, FRAMES, "real", 3)["result"][0]
    lat = render.DecodeToDomain().decode(model, src, motion.CanonicalMotionTransfer().transfer(
        src, mot, 1.0, "relative", 0)["result"][0])[0]
    expected = render.WarpRender().render(model, src, lat, 8)[0]

    sizes, real_render = [], S.render
    guard = _oom_above(2, sizes)

    def render_or_oom(m, source, latents):
        guard(latents.shape[0])
        return real_render(m, source, latents)

    monkeypatch.setattr(S, "render", render_or_oom)
    out = render.WarpRender().render(model, src, lat, 8)[0]
    assert sizes == [7, 4, 2, 2, 2, 1]  # 8 (7 frames) and 4 fail; then 2 at a time over the same frames
    assert (out - expected).abs().max() < 1e-5  # batch 2 vs 7: float rounding only

    sizes.clear()
    monkeypatch.setattr(S, "render", lambda *a: _oom_above(0, sizes)(a[2].shape[0]))
    with pytest.raises(torch.cuda.OutOfMemoryError):
        render.WarpRender().render(model, src, lat, 4)
    assert sizes == [4, 2, 1]


def test_out_of_memory_in_the_cropped_all_in_one_resumes_the_stream(model, mods, fake, monkeypatch):
    """crop auto: the node's one chunk loop (run_chunks) retries the failed chunk with the face tracker as it
    was, so the frames equal a run without the error."""
    from test_face_nodes import placed_portrait

    render = mods["render"]
    portrait = placed_portrait()
    frames = torch.cat([torch.roll(portrait, shifts=(2 * i, 3 * i), dims=(1, 2)) for i in range(5)])
    args = (model, portrait, frames, "real video -> cartoon portrait (r2c)", 1.0, "relative", 0, 4, "auto")
    expected = render.ToonTalkerReenact().reenact(*args)[0]
    faces = importlib.import_module(render.__name__.rsplit(".", 2)[0] + ".toontalker_core.multiface")
    sizes, real = [], faces.reenact_driven  # the crop-auto path renders each face through toontalker_core.multiface
    guard = _oom_above(2, sizes)

    def reenact_or_oom(m, source, driving, *rest, **kw):
        guard(len(driving))
        return real(m, source, driving, *rest, **kw)

    monkeypatch.setattr(faces, "reenact_driven", reenact_or_oom)
    out = render.ToonTalkerReenact().reenact(*args)[0]
    assert sizes == [4, 2, 2, 1]  # 4 fails; 2 + 2 + the last frame
    assert (out - expected).abs().max() < 1e-5


def test_auto_precision_follows_comfyui_on_gpus(mods, fake, monkeypatch):
    comfy = mods["comfy"]
    gpu = torch.device("cuda")
    monkeypatch.setattr(fake, "should_use_bf16", lambda d, prioritize_performance: True, raising=False)
    monkeypatch.setattr(fake, "should_use_fp16", lambda d, prioritize_performance: True, raising=False)
    assert comfy.auto_dtype(gpu) == torch.float16  # measured: fp16 is as fast as bf16 and 6.5x more accurate
    monkeypatch.setattr(fake, "should_use_fp16", lambda d, prioritize_performance: False)
    assert comfy.auto_dtype(gpu) == torch.bfloat16  # e.g. --force-fp32 off but fp16 slow on this GPU
    monkeypatch.setattr(fake, "should_use_bf16", lambda d, prioritize_performance: False)
    assert comfy.auto_dtype(gpu) == torch.float32
    monkeypatch.setattr(fake, "FORCE_FP32", True)
    assert comfy.auto_dtype(torch.device("cpu")) == torch.float32  # --force-fp32 wins on the CPU too


def test_face_crop_and_paste_back_stream_in_chunks(mods, fake, model, monkeypatch):
    """Chunks of 2 give the same crops, transforms and mask as one chunk; the crop size comes from the model."""
    from test_face_nodes import crop_args, placed_portrait

    face, memory = mods["face"], mods["core_memory"]
    portrait = placed_portrait()
    frames = torch.cat([torch.roll(portrait, shifts=(2 * i, 3 * i), dims=(1, 2)) for i in range(5)])
    whole = face.FaceCrop().crop(frames, **crop_args(crop_size=128), model=model)["result"]
    assert whole[0].shape == (5, 64, 64, 3)  # the model's size, not crop_size
    pasted = face.PasteBack().paste(frames, whole[0], whole[1], 0.1, 0.0)[0]
    monkeypatch.setattr(memory, "MAX_FULL_RES_BATCH", 2)
    chunked = face.FaceCrop().crop(frames, **crop_args(crop_size=128), model=model)["result"]
    assert torch.equal(chunked[0], whole[0]) and torch.equal(chunked[2], whole[2])
    assert torch.equal(chunked[1].matrix, whole[1].matrix)
    assert torch.equal(face.PasteBack().paste(frames, whole[0], whole[1], 0.1, 0.0)[0], pasted)
    assert fake.freed == []  # CPU work: nothing to offload for it


def test_face_crop_retry_after_out_of_memory_tracks_each_frame_once(mods, fake, model, monkeypatch):
    """An out-of-memory error in a chunk (here in the full-size mask) is retried with half the batch; the tracker
    is put back first, so boxes and the missed count equal those of a run without the error."""
    from test_face_nodes import crop_args, placed_portrait

    face, memory = mods["face"], mods["core_memory"]
    portrait = placed_portrait()
    frames = torch.cat([torch.roll(portrait, shifts=(2 * i, 3 * i), dims=(1, 2)) for i in range(6)])
    args = crop_args(crop_size=128, crop_mode="tracked")
    monkeypatch.setattr(memory, "MAX_FULL_RES_BATCH", 6)  # one chunk of all frames, halved on the error
    clean = face.FaceCrop().crop(frames, **args, model=model)
    real_mask, calls = face.paste_mask, []

    def mask_or_oom(t, feather):
        calls.append(t.boxes.shape[0])
        if len(calls) == 1:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        return real_mask(t, feather)

    monkeypatch.setattr(face, "paste_mask", mask_or_oom)
    retried = face.FaceCrop().crop(frames, **args, model=model)
    assert calls[0] == 6 and calls[1:] == [3, 3]
    assert torch.equal(retried["result"][1].boxes, clean["result"][1].boxes)
    assert retried["ui"]["toontalker_crop"][0]["missed"] == clean["ui"]["toontalker_crop"][0]["missed"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (benchmarks/gpu_check.sh step e)")
def test_out_of_memory_halving_on_a_real_gpu(mods, fake):
    """A real CUDA out-of-memory error in a chunk (torch's per-process cap set to 1 GiB) is caught by the
    chunk loop, which retries the same frames with half the batch until they fit; memory is given back."""
    per_frame = 300 * 2 ** 20
    total = torch.cuda.get_device_properties(0).total_memory
    sizes = []

    def compute(frames: slice):
        sizes.append(frames.stop - frames.start)
        block = torch.ones((frames.stop - frames.start) * per_frame // 4, device="cuda")  # float32
        return float(block[::per_frame // 4].sum())

    torch.cuda.empty_cache()
    torch.cuda.set_per_process_memory_fraction(2 ** 30 / total)
    try:
        done = list(mods["memory"].run_chunks(8, 8, compute))
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0)
        torch.cuda.empty_cache()
    assert sizes[:2] == [8, 4] and max(sizes[2:]) <= 2  # 2.4 and 1.2 GiB fail under the cap; 0.6 fits
    assert [s.stop - s.start for s, _ in done] == sizes[len(sizes) - len(done):]
    assert sum(v for _, v in done) == 8  # every frame computed exactly once


def test_what_is_derived_from_the_model_follows_its_offload_and_goes_with_it(mods, fake):
    """One cache keyed by model (issue 22): the fp32 twin, the content hash, the motion directions with their
    probe encoding and the node id follow the weights when ComfyUI offloads them (a fake manager whose offload
    device, "meta", differs from the load device), keep their own dtype, and are freed with the model."""
    import gc
    import weakref

    from toontalker_core import runtime as R
    from toontalker_core.model.identity import model_identity
    from toontalker_core.motion.edit import motion_directions

    comfy = mods["comfy"]
    model = tiny_model(False).half()
    twin, dirs, ident = R.fp32_twin(model), motion_directions(model, "real"), model_identity(model)
    uid = importlib.import_module(comfy.__name__.rsplit(".", 1)[0] + ".payloads").model_uid(model)
    patcher = FakePatcher(comfy.ToonTalkerWeights(model), torch.device("cpu"), torch.device("meta"))
    patcher.model.to(patcher.offload_device)  # what ComfyUI does to an unloaded model
    assert model.device.type == "meta"
    moved = R.fp32_twin(model)
    assert moved.device.type == "meta" and moved.dtype == torch.float32  # followed, still fp32
    d = motion_directions(model, "real")
    assert d.vectors.device.type == "meta" and d.probe.canon_T1.device.type == "meta"
    assert model_identity(model) == ident
    assert importlib.import_module(comfy.__name__.rsplit(".", 1)[0] + ".payloads").model_uid(model) == uid
    refs = [weakref.ref(x) for x in (twin, moved)]
    del model, twin, moved, dirs, d, patcher
    gc.collect()
    assert all(r() is None for r in refs)  # nothing else keeps the derived data alive


def test_out_of_memory_in_the_video_source_node_is_retried(model, mods, fake, monkeypatch):
    """Issue 22: the video-source path of the all-in-one node had no retry; it now runs on run_chunks with the
    tracker rolled back, so an out-of-memory chunk gives the same frames as a run without the error."""
    from test_face_nodes import placed_portrait

    render = mods["render"]
    portrait = placed_portrait()
    source = torch.cat([torch.roll(portrait, shifts=(i, 2 * i), dims=(1, 2)) for i in range(5)])
    driving = torch.cat([torch.roll(portrait, shifts=(2 * i, 3 * i), dims=(1, 2)) for i in range(3)])
    args = (model, source, driving, "real video -> cartoon portrait (r2c)", 1.0, "relative", 0, 4, "auto")
    expected = render.ToonTalkerReenact().reenact(*args)[0]
    sizes, real = [], render.reenact_source_chunk
    guard = _oom_above(2, sizes)

    def chunk_or_oom(m, chunk, *rest, **kw):
        guard(chunk.shape[0])
        return real(m, chunk, *rest, **kw)

    monkeypatch.setattr(render, "reenact_source_chunk", chunk_or_oom)
    out = render.ToonTalkerReenact().reenact(*args)[0]
    assert sizes == [4, 2, 2, 1] and out.shape[0] == 5
    assert (out - expected).abs().max() < 1e-5
