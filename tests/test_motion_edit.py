"""Motion editing, keyframes and motion files (toontalker_core.motion_edit / keyframes / motion_file)."""
from __future__ import annotations

import pytest
import torch

from tiny import tiny_model
from toontalker_core import stages as S
from toontalker_core.model.checkpoint import load_model, save_safetensors
from toontalker_core.errors import InputError
from toontalker_core.motion.keyframes import EASINGS, interpolate, keyframe_motion, parse_keyframes
from toontalker_core.model.identity import model_identity
from toontalker_core.motion.edit import edit_codes, edit_delta, motion_directions
from toontalker_core.motion.file import load_motion, read_motion, save_motion


@pytest.fixture(scope="module")
def model():
    return tiny_model(cross_domain=True, seed=3)


@pytest.mark.parametrize("domain", ["real", "cartoon"])
def test_zero_edit_is_the_identity(model, domain):
    dirs = motion_directions(model, domain)
    assert dirs.vectors.shape == (model.cfg.motion_dim, model.cfg.motion_dim, model.cfg.style_dim)
    assert dirs.vectors.abs().max() > 1e-3  # the directions move the code
    codes = torch.randn(5, model.cfg.motion_dim, model.cfg.style_dim)
    out = edit_codes(codes, dirs, torch.zeros(dirs.count))
    assert (out - codes).abs().max() <= 1e-6
    with torch.inference_mode():  # and so is the rendered still
        src = dirs.probe
        z = src.canon_T0 + src.canon_T1
        a = S.render(model, src, S.decode(model, src, z))
        b = S.render(model, src, S.decode(model, src, edit_codes(z, dirs, [0.0] * dirs.count)))
    assert (a - b).abs().max() <= 1e-6


def test_edits_are_linear_and_per_frame(model):
    dirs = motion_directions(model, "real")
    codes = torch.randn(3, model.cfg.motion_dim, model.cfg.style_dim)
    w1, w2 = torch.randn(dirs.count), torch.randn(dirs.count)
    both = edit_codes(codes, dirs, w1 + w2)
    chained = edit_codes(edit_codes(codes, dirs, w1), dirs, w2)
    torch.testing.assert_close(both, chained, atol=1e-5, rtol=0)
    per_frame = torch.stack([w1, w2, torch.zeros(dirs.count)])
    out = edit_codes(codes, dirs, per_frame)
    torch.testing.assert_close(out[0], edit_codes(codes[:1], dirs, w1)[0])
    torch.testing.assert_close(out[2], codes[2])
    with pytest.raises(InputError, match="motion directions"):
        edit_codes(codes, dirs, torch.zeros(dirs.count + 1))
    with pytest.raises(InputError, match="finite"):
        edit_codes(codes, dirs, torch.full((dirs.count,), float("nan")))


def test_model_identity_is_content_based(model, tmp_path):
    path = save_safetensors(model, tmp_path / "m.safetensors")
    fp32, bf16 = load_model(path), load_model(path, dtype=torch.bfloat16)
    assert model_identity(fp32) == model_identity(bf16) == model_identity(model)
    assert model_identity(tiny_model(seed=4)) != model_identity(model)


def test_keyframes_are_exact_at_the_keys():
    g = torch.Generator().manual_seed(0)
    codes = [torch.randn(4, 8, generator=g) for _ in range(4)]
    keys = [(0, codes[0], "linear"), (7, codes[1], "ease_in_out"), (8, codes[2], "ease_in"), (20, codes[3], "hold")]
    out = interpolate(keys, 30)
    for frame, code, _ in keys:
        assert torch.equal(out[frame], code)
    assert torch.equal(out[25], codes[3]) and torch.equal(out[29], codes[3])  # held after the last key
    assert torch.equal(out[19], codes[2])                                      # hold: previous key until the key
    # ease_in_out between frames 0 and 7 of a scalar: monotonic, symmetric about the midpoint
    s = interpolate([(0, torch.zeros(1), "linear"), (10, torch.ones(1), "ease_in_out")], 11)[:, 0]
    assert all(b > a for a, b in zip(s, s[1:]))
    assert abs(s[5].item() - 0.5) < 1e-6 and s[2] < 0.2
    assert set(EASINGS) >= {"linear", "ease_in", "ease_out", "ease_in_out", "hold"}


def test_keyframe_motion_from_text(model):
    dirs = motion_directions(model, "cartoon")
    spec = parse_keyframes('{"fps": 10, "seconds": 2, "keys": [{"time": 0.5, "set": {"d01": 2}},'
                           '{"frame": 15, "expression": "photo", "ease": "ease_out"}]}')
    neutral = dirs.probe.canon_T1[0]
    photo = torch.randn_like(neutral)

    def delta(settings):
        w = torch.zeros(dirs.count)
        for name, v in settings.items():
            w[int(name[1:])] = v
        return edit_delta(dirs, w)[0]

    motion = keyframe_motion(spec, spec.length(spec.fps), spec.fps, "cartoon", neutral, dirs.probe.motion[0], delta,
                             {"photo": photo})
    assert len(motion) == 20 and motion.domain == "cartoon"
    assert torch.equal(motion.canon_T1[0], neutral)                     # implicit neutral key at frame 0
    torch.testing.assert_close(motion.canon_T1[5], neutral + 2 * dirs.vectors[1])
    assert torch.equal(motion.canon_T1[15], photo) and torch.equal(motion.canon_T1[19], photo)
    with pytest.raises(InputError, match="expression 'smile'"):
        keyframe_motion(parse_keyframes([{"time": 1, "expression": "smile"}]), 20, 10, "real", neutral,
                        dirs.probe.motion[0], delta)


@pytest.mark.parametrize("text, match", [
    ("[{\"time\": 1, \"frame\": 2}]", "exactly one of"),
    ("[{\"time\": -1}]", "time must be >= 0"),
    ("[{\"time\": 1, \"ease\": \"bounce\"}]", "unknown ease"),
    ("[{\"time\": 1, \"set\": {\"head_yaw\": \"left\"}}]", "must be a number"),
    ("{\"keys\": [], \"speed\": 2}", "unknown field"),
    ("{not json: [", "JSON|YAML"),
])
def test_bad_keyframes_are_clear_errors(text, match):
    with pytest.raises(InputError, match=match):
        parse_keyframes(text)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_save_load_round_trip_is_exact(model, tmp_path, dtype):
    g = torch.Generator().manual_seed(1)
    m, d = model.cfg.motion_dim, model.cfg.style_dim
    motion = S.EncodedMotion("cartoon", torch.randn(6, d, generator=g).to(dtype),
                             torch.randn(6, m, d, generator=g).to(dtype))
    path = save_motion(tmp_path / "perf.safetensors", motion, 29.97, model)
    back, fps, meta = read_motion(path)
    assert torch.equal(back.canon_T1, motion.canon_T1) and torch.equal(back.motion, motion.motion)
    assert back.domain == "cartoon" and fps == 29.97 and meta["model_id"] == model_identity(model)
    loaded, fps = load_motion(path, model)
    assert loaded.canon_T1.dtype == model.dtype and fps == 29.97
    if dtype == torch.float32:
        assert torch.equal(loaded.canon_T1, motion.canon_T1)


def test_motion_files_refuse_another_model_and_bad_files(model, tmp_path):
    m, d = model.cfg.motion_dim, model.cfg.style_dim
    path = save_motion(tmp_path / "a.safetensors", S.EncodedMotion("real", torch.zeros(2, d), torch.zeros(2, m, d)),
                       25, model)
    with pytest.raises(InputError, match="another model"):
        load_motion(path, tiny_model(seed=9))
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(path.read_bytes()[:40])
    with pytest.raises(InputError, match="not a readable motion file"):
        read_motion(bad)
    with pytest.raises(InputError, match="not found"):
        read_motion(tmp_path / "missing.safetensors")
    with pytest.raises(InputError, match="fps"):
        save_motion(tmp_path / "b.safetensors", S.EncodedMotion("real", torch.zeros(2, d), torch.zeros(2, m, d)),
                    0, model)
    assert not (tmp_path / "b.safetensors").exists()


def test_save_motion_replaces_only_motion_files(model, tmp_path):
    """Issue 22: save_motion pointed at a checkpoint turned 7.5 MB of weights into a 26 KB motion file."""
    m, d = model.cfg.motion_dim, model.cfg.style_dim
    motion = S.EncodedMotion("real", torch.zeros(2, d), torch.zeros(2, m, d))
    ckpt = save_safetensors(model, tmp_path / "weights.safetensors")
    before = ckpt.read_bytes()
    with pytest.raises(InputError, match="does not hold a ToonTalker motion file; refusing to replace it"):
        save_motion(ckpt, motion, 25, model)
    notes = tmp_path / "notes.safetensors"
    notes.write_text("not even binary")
    with pytest.raises(InputError, match="refusing to replace it"):
        save_motion(notes, motion, 25, model)
    assert ckpt.read_bytes() == before and notes.read_text() == "not even binary"
    path = save_motion(tmp_path / "take.safetensors", motion, 25, model)
    longer = S.EncodedMotion("real", torch.ones(3, d), torch.ones(3, m, d))
    assert save_motion(path, longer, 30, model) == path  # an earlier motion file is ours to replace
    assert read_motion(path)[1] == 30 and len(read_motion(path)[0]) == 3


def test_a_motion_file_holding_nan_is_refused(model, tmp_path):
    """Issue 22: a motion file holding NaN loaded and rendered NaN frames."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    m, d = model.cfg.motion_dim, model.cfg.style_dim
    path = save_motion(tmp_path / "ok.safetensors", S.EncodedMotion("real", torch.zeros(2, d), torch.zeros(2, m, d)),
                       25, model)
    with safe_open(str(path), framework="pt") as f:
        meta, tensors = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
    tensors["canon_T1"][1, 0, 0] = float("nan")
    bad = tmp_path / "nan.safetensors"
    save_file(tensors, str(bad), metadata=meta)
    with pytest.raises(InputError, match="holds NaN or infinite values"):
        load_motion(bad, model)
