"""Motion Editor / Motion Keyframes / Save Motion / Load Motion nodes without ComfyUI (tiny models)."""
from __future__ import annotations

import importlib
import json
import os
import re
import types

import pytest
import torch

from tiny import tiny_images, tiny_model

NEW = ("ToonTalkerMotionEditor", "ToonTalkerMotionKeyframes", "ToonTalkerSaveMotion", "ToonTalkerLoadMotion")


@pytest.fixture(scope="module")
def mp():
    m = pytest.MonkeyPatch()
    yield m
    m.undo()


@pytest.fixture(scope="module")
def env(pack, mp, tmp_path_factory):
    mp.setenv("TOONTALKER_CACHE", str(tmp_path_factory.mktemp("cache")))
    mod = importlib.import_module(pack.__name__ + ".nodes.motion_edit")
    out = tmp_path_factory.mktemp("output")
    mp.setattr(mod, "motion_dir", lambda: out / "toontalker_motion")
    core = importlib.import_module(pack.__name__ + ".toontalker_core")
    payloads = importlib.import_module(pack.__name__ + ".nodes.payloads")
    motion = importlib.import_module(pack.__name__ + ".nodes.motion")
    model = tiny_model(cross_domain=True, seed=5)
    model = core.ToonTalker(model.cfg, cross_domain=True).requires_grad_(False)  # the pack's own class
    model.load_state_dict(tiny_model(cross_domain=True, seed=5).state_dict())
    image = tiny_images(1, seed=2).permute(0, 2, 3, 1)
    source = motion.EncodeSource().encode(model, image, "cartoon")[0]
    return {"mod": mod, "model": model, "source": source, "payloads": payloads, "motion": motion,
            "edit": importlib.import_module(pack.__name__ + ".toontalker_core.motion.edit")}


def save_path_like_comfyui(prefix: str, output_dir: str):
    """A stand-in for ComfyUI's folder_paths.get_save_image_path (its documented contract): the sub-folder from
    the prefix, the next counter after the files named <name>_<counter>_..., a refusal outside output_dir."""
    sub, name = os.path.split(os.path.normpath(prefix))
    full = os.path.join(output_dir, sub)
    if os.path.commonpath((output_dir, os.path.abspath(full))) != output_dir:
        raise Exception("Saving image outside the output folder is not allowed.")
    taken = [int(m.group(1)) for f in (os.listdir(full) if os.path.isdir(full) else [])
             if (m := re.match(rf"{re.escape(name)}_(\d+)_", f))]
    return full, name, max(taken, default=0) + 1, sub, prefix


def result(ret):
    return ret["result"] if isinstance(ret, dict) else ret


def test_new_nodes_are_registered(pack):
    for name in NEW:
        cls = pack.NODE_CLASS_MAPPINGS[name]
        assert cls.CATEGORY == "ToonTalker" and cls.DESCRIPTION
        spec = cls.INPUT_TYPES()
        for section in spec.values():
            for entry in section.values():
                assert len(entry) < 2 or entry[1].get("tooltip"), name


def test_editor_zero_is_identity_and_sliders_move_along_the_directions(env):
    editor, model, source = env["mod"].MotionEditor(), env["model"], env["source"]
    enc = source.encoded
    base = enc.canon_T0 + enc.canon_T1
    z, motion, preview, table = result(editor.edit(model, source))
    assert (z.codes - base).abs().max() <= 1e-6
    assert torch.equal(motion.encoded.canon_T1, enc.canon_T1)
    assert preview.shape == (1, 64, 64, 3) and "| control |" in table
    dirs = env["edit"].motion_directions(model, "cartoon")
    z2 = result(editor.edit(model, source, d01=1.5))[0]
    torch.testing.assert_close(z2.codes, base + 1.5 * dirs.vectors[1], atol=1e-5, rtol=0)
    assert (result(editor.edit(model, source, d01=1.5))[2] - preview).abs().max() > 0  # the preview changes
    with pytest.raises(Exception, match="does not exist"):
        editor.edit(model, source, d19=1.0)  # the tiny model has 4 directions


def test_raw_sliders_need_no_measurement(pack, env, tmp_path, monkeypatch):
    mod = importlib.import_module(pack.__name__ + ".toontalker_core.motion.controls")
    monkeypatch.setenv("TOONTALKER_CACHE", str(tmp_path))  # nothing measured for this model here

    def refuse(*a, **k):
        raise AssertionError("discovery ran although only raw sliders were used")

    monkeypatch.setattr(mod, "discover", refuse)
    out = env["mod"].MotionEditor().edit(env["model"], env["source"], d00=1.0)
    assert "not measured yet" in out["result"][3]
    info = out["ui"]["toontalker_controls"][0]
    assert not info["measured"] and info["rejected"] == {} and not info["warning"]  # sliders stay live
    with pytest.raises(AssertionError, match="discovery ran"):
        env["mod"].MotionEditor().edit(env["model"], env["source"], head_yaw=1.0)


def test_editor_on_motion_and_canonical(env):
    editor, model, source, mod = env["mod"].MotionEditor(), env["model"], env["source"], env["motion"]
    frames = tiny_images(3, seed=4).permute(0, 2, 3, 1)
    motion = mod.EncodeDrivingMotion().encode(model, frames, "real", 8)["result"][0]
    dirs = env["edit"].motion_directions(model, "real")
    z, edited, _, _ = result(editor.edit(model, source, motion=motion, d02=-2.0))
    t1 = motion.encoded.canon_T1
    torch.testing.assert_close(edited.encoded.canon_T1, t1 - 2 * dirs.vectors[2], atol=1e-5, rtol=0)
    enc = source.encoded
    torch.testing.assert_close(z.codes, enc.canon_T0 + enc.canon_T1 + t1 - t1[:1] - 2 * dirs.vectors[2],
                               atol=1e-5, rtol=0)
    canon = mod.CanonicalMotionTransfer().transfer(source, motion, 1.0, "relative", 0)["result"][0]
    z2 = result(editor.edit(model, source, canonical=canon))[0]
    assert torch.equal(z2.codes, canon.codes)
    with pytest.raises(Exception, match="not both"):
        editor.edit(model, source, motion=motion, canonical=canon)


def test_keyframes_feed_the_transfer(env):
    model, source, mod = env["model"], env["source"], env["motion"]
    node = env["mod"].MotionKeyframes()
    keys = '[{"frame": 4, "set": {"d00": 2}, "ease": "ease_in_out"}, {"time": 1.0, "set": {}}]'
    motion, fps, n = node.build(model, "cartoon", keys, 12, 10.0, source=source)
    assert n == 12 and fps == 10.0
    dirs = env["edit"].motion_directions(model, "cartoon")
    t1 = source.encoded.canon_T1[0]
    codes = motion.encoded.canon_T1
    assert torch.equal(codes[0], t1)
    torch.testing.assert_close(codes[4], t1 + 2 * dirs.vectors[0], atol=1e-5, rtol=0)
    assert torch.equal(codes[11], t1)
    z = mod.CanonicalMotionTransfer().transfer(source, motion, 1.0, "relative", 0)["result"][0]
    enc = source.encoded
    assert torch.equal(z.codes[0], (enc.canon_T0 + enc.canon_T1)[0])
    photo = mod.EncodeSource().encode(model, tiny_images(1, seed=8).permute(0, 2, 3, 1), "real")[0]
    m2 = node.build(model, "cartoon", '[{"frame": 2, "expression": "a"}]', 3, 25.0, expression_a=photo)[0]
    assert torch.equal(m2.encoded.canon_T1[2], photo.encoded.canon_T1[0])
    with pytest.raises(Exception, match="expression 'b'"):
        node.build(model, "cartoon", '[{"frame": 2, "expression": "b"}]', 3, 25.0, expression_a=photo)


def test_save_and_load_motion_nodes(env, monkeypatch):
    monkeypatch.setattr(env["mod"], "folder_paths", types.SimpleNamespace(get_save_image_path=save_path_like_comfyui))
    model, mod = env["model"], env["motion"]
    motion = mod.EncodeDrivingMotion().encode(model, tiny_images(5, seed=6).permute(0, 2, 3, 1), "real", 8)["result"][0]
    saved = env["mod"].SaveMotion().save(model, motion, "perf/take", 30.0)
    name = saved["result"][0]
    assert name == "perf/take_00001_.safetensors"  # ComfyUI's naming, through its get_save_image_path
    assert env["mod"].SaveMotion().save(model, motion, "perf/take", 30.0)["result"][0] == "perf/take_00002_.safetensors"
    assert name in env["mod"].motion_files()
    loaded, fps, n = env["mod"].LoadMotion().load(model, name)
    assert torch.equal(loaded.encoded.canon_T1, motion.encoded.canon_T1) and fps == 30.0 and n == 5
    other = tiny_model(cross_domain=True, seed=77)
    with pytest.raises(Exception, match="another model"):
        env["mod"].LoadMotion().load(other, name)
    for bad in ("../escape", "a/../../b", ""):
        with pytest.raises(Exception, match="plain name"):
            env["mod"].SaveMotion().save(model, motion, bad, 25.0)
    with pytest.raises(Exception, match="outside"):
        env["mod"].LoadMotion().load(model, "../../x.safetensors")


JARGON = ("canonical", "eye distance", "luma", "threshold", "fraction", "measured quantity", "->", "motion base",
          "nose tip", "midpoint", "ratio", "std", "vector", "head_", "_open", "_closed")


def test_sliders_are_plain_and_raw_ones_advanced(env):
    spec = env["mod"].MotionEditor.INPUT_TYPES()
    named = {k: v for k, v in spec["required"].items() if v[0] == "FLOAT"}
    raw = {k: v for k, v in spec["optional"].items() if v[0] == "FLOAT"}
    assert set(named) == set(env["mod"].NAMES) and len(raw) == env["mod"].RAW_SLIDERS
    for name, (_, opts) in {**named, **raw}.items():
        tip = opts["tooltip"]
        assert "(-3..+3" in tip, (name, tip)
        assert not [w for w in JARGON if w in tip.lower()], (name, tip)
        assert opts.get("advanced", False) is (name in raw), name     # raw directions fold under Show Advanced
    assert named["head_yaw"][1]["tooltip"].startswith("Turns the head: - to the left, + to the right (-3..+3).")


def _measured(env, named: dict, rejected: dict) -> None:
    """Controls for the tiny model as if measured: written where discovery caches them."""
    controls = importlib.import_module(env["mod"].__name__.rsplit(".", 2)[0] + ".toontalker_core.motion.controls")
    model = env["model"]
    path = controls.cache_path(model, controls.default_cache_dir())
    data = {"version": controls.CACHE_VERSION, "model_id": "tiny", "model": "tiny test model", "domains": {d: {
        "directions": 4, "named": named, "rejected": rejected} for d in ("real", "cartoon")}}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


def test_a_rejected_control_is_ignored_with_one_warning(env, caplog):
    weights = [0.6, 0.0, 0.8, 0.0]
    _measured(env, {"head_x": {"weights": weights, "steps": [-3, 0, 3], "values": [0.4, 0.5, 0.6], "side": {}}},
              {n: "it cannot be separated: it would also tilt the head" for n in env["mod"].NAMES if n != "head_x"})
    editor, model, source = env["mod"].MotionEditor(), env["model"], env["source"]
    enc = source.encoded
    base = enc.canon_T0 + enc.canon_T1
    with caplog.at_level("WARNING", logger="toontalker"):
        out = editor.edit(model, source, eyes_closed=2.0, mouth_open=-1.0)
    assert torch.equal(out["result"][0].codes, base)                       # nothing changed, nothing raised
    info = out["ui"]["toontalker_controls"][0]
    assert info["measured"] and info["offered"] == ["head_x"]
    assert "tilt the head" in info["rejected"]["eyes_closed"]
    assert "eyes_closed" in info["warning"] and "mouth_open" in info["warning"] and "\n" not in info["warning"]
    assert len([r for r in caplog.records if "ignored" in r.getMessage()]) == 1
    dirs = env["edit"].motion_directions(model, "cartoon")
    z = result(editor.edit(model, source, head_x=1.5, eyes_closed=3.0))[0]
    delta = 1.5 * torch.einsum("k,kmd->md", torch.tensor(weights), dirs.vectors)
    torch.testing.assert_close(z.codes, base + delta, atol=1e-5, rtol=0)  # the offered one works beside it
    motion = env["mod"].MotionKeyframes().build(model, "cartoon", '[{"frame": 1, "set": {"eyes_closed": 2}}]', 3,
                                                25.0, source=source)[0]
    assert torch.equal(motion.encoded.canon_T1[1], enc.canon_T1[0])       # keyframes ignore it too


def test_motion_carries_its_fps_to_save_motion(env, monkeypatch, tmp_path):
    """Issue 23.8: Save Motion stores the motion's own fps (Motion Keyframes, Load Motion, Encode Driving Motion
    with the video's fps wired in); its optional fps input overrides it; the node shows what it wrote."""
    monkeypatch.setattr(env["mod"], "folder_paths", types.SimpleNamespace(
        get_save_image_path=save_path_like_comfyui, get_user_directory=lambda: str(tmp_path)))
    model, mod, save = env["model"], env["motion"], env["mod"].SaveMotion()
    read = importlib.import_module(env["mod"].__name__.rsplit(".", 2)[0] + ".toontalker_core.motion.file").read_motion

    def stored_fps(ret):
        return read(env["mod"].motion_dir() / ret["result"][0])[1]

    keyed, fps, _ = env["mod"].MotionKeyframes().build(model, "cartoon", '[{"time": 0.2}]', 6, 12.5)
    assert keyed.fps == fps == 12.5
    ret = save.save(model, keyed, "fps/keys")
    assert stored_fps(ret) == 12.5
    assert ret["ui"]["toontalker_note"] == [f"saved toontalker_motion/{ret['result'][0]} (6 frames at 12.5 fps)"]
    assert ret["ui"]["text"] == [ret["result"][0]]
    assert stored_fps(save.save(model, keyed, "fps/keys", 30.0)) == 30.0  # the override (and old API prompts)
    frames = tiny_images(4, seed=6).permute(0, 2, 3, 1)
    video = mod.EncodeDrivingMotion().encode(model, frames, "real", 8, fps=24.0)["result"][0]
    assert video.fps == 24.0 and stored_fps(save.save(model, video, "fps/video")) == 24.0
    unknown = mod.EncodeDrivingMotion().encode(model, frames, "real", 8)["result"][0]
    assert unknown.fps is None and stored_fps(save.save(model, unknown, "fps/video")) == 25.0  # DEFAULT_FPS
    loaded = env["mod"].LoadMotion().load(model, ret["result"][0])[0]
    assert loaded.fps == 12.5
    edited = env["mod"].MotionEditor().edit(model, env["source"], motion=loaded)["result"][1]
    assert edited.fps == 12.5
    with pytest.raises(Exception, match="fps"):
        mod.EncodeDrivingMotion().encode(model, frames, "real", 8, fps=0.0)


def test_save_motion_keeps_the_widget_order_of_saved_workflows(env):
    """fps left the widgets for an optional socket: filename_prefix stays the first (and only) widget, so a saved
    workflow's widgets_values [prefix, fps] still puts its prefix in place."""
    spec = env["mod"].SaveMotion.INPUT_TYPES()
    widgets = [n for n, (kind, opts) in spec["required"].items() if kind in ("STRING", "FLOAT", "INT")]
    assert widgets == ["filename_prefix"]
    assert spec["optional"]["fps"][1]["forceInput"] is True
