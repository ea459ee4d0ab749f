"""CLI `animate`: keyframes from a JSON / YAML file onto a portrait, no driving video (tiny checkpoint)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tiny import TINY, tiny_images, tiny_model
from toontalker_core import stages as S
from toontalker_core.model.checkpoint import load_model, save_safetensors
from toontalker_core.app.cli import main
from toontalker_core.motion.edit import motion_directions


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("animate")
    ckpt = save_safetensors(tiny_model(cross_domain=True, seed=1), d / "cross-domain-tiny.safetensors", TINY)
    from PIL import Image

    img = (tiny_images(1, seed=3)[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    Image.fromarray(img).save(d / "portrait.png")
    return d, ckpt


def run(d, ckpt, keys, *extra):
    path = d / "keys.json"
    path.write_text(keys if isinstance(keys, str) else json.dumps(keys))
    return main(["animate", "--source_path", str(d / "portrait.png"), "--keyframes", str(path), "--checkpoint",
                 str(ckpt), "--crop", "none", "--device", "cpu", "--precision", "fp32", "--quiet", *extra])


def test_animate_renders_the_keyframes(setup, monkeypatch):
    d, ckpt = setup
    monkeypatch.setenv("TOONTALKER_CACHE", str(d / "cache"))
    keys = {"fps": 10, "keys": [{"time": 0.5, "set": {"d01": 3}, "ease": "ease_in_out"}, {"frame": 9}]}
    assert run(d, ckpt, keys, "-o", str(d / "out.npy")) == 0
    out = np.load(d / "out.npy")
    assert out.shape == (10, 64, 64, 3)                       # up to the last key
    model = load_model(ckpt)
    from toontalker_core.media import load_image

    with torch.inference_mode():
        src = S.encode_source(model, S.to_model_range(load_image(d / "portrait.png")[None], model), "real")
        dirs = motion_directions(model, "real")
        z = src.canon_T0 + src.canon_T1 + torch.stack([torch.zeros_like(dirs.vectors[1]), 3 * dirs.vectors[1]])
        expect = S.to_unit_range(S.render(model, src, S.decode(model, src, z))).permute(0, 2, 3, 1).numpy()
    np.testing.assert_allclose(out[0], expect[0], atol=1e-5)   # frame 0: the portrait itself
    np.testing.assert_allclose(out[5], expect[1], atol=1e-4)   # the key at 0.5 s, exactly
    assert np.abs(out[9] - out[0]).max() < 1e-5                # back to neutral at the last key
    assert np.abs(out[5] - out[0]).max() > 1e-3


def test_animate_yaml_and_errors(setup, monkeypatch, capsys):
    yaml = pytest.importorskip("yaml")
    d, ckpt = setup
    monkeypatch.setenv("TOONTALKER_CACHE", str(d / "cache"))
    assert run(d, ckpt, yaml.safe_dump({"keys": [{"frame": 2, "set": {"d00": 1}}]}), "-o", str(d / "y.npy"),
               "--frames", "4") == 0
    assert np.load(d / "y.npy").shape[0] == 4
    assert run(d, ckpt, '[{"time": 1, "ease": "bounce"}]', "-o", str(d / "bad.npy")) == 2
    assert "unknown ease" in capsys.readouterr().err and not (d / "bad.npy").exists()
    # a named control the checkpoint does not offer is ignored with one warning line, not an error; the output
    # is the unedited portrait. (Its controls as measured, written where discovery caches them: no discovery.)
    from toontalker_core.motion import controls as C

    model = load_model(ckpt)
    why = "no mix of this model's motions can change the mouth visibly and steadily"
    found = {"directions": model.cfg.motion_dim, "named": {}, "rejected": dict.fromkeys(C.NAMES, why)}
    path = C.cache_path(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"version": C.CACHE_VERSION, "domains": dict.fromkeys(model.domains, found)}))
    (d / "keys.json").write_text('[{"frame": 1, "set": {"mouth_open": 1}}, {"frame": 2, "set": {"mouth_open": -2}}]')
    assert main(["animate", "--source_path", str(d / "portrait.png"), "--keyframes", str(d / "keys.json"),
                 "--checkpoint", str(ckpt), "--crop", "none", "--device", "cpu", "--precision", "fp32",
                 "-o", str(d / "ignored.npy"), "--frames", "3"]) == 0
    err = capsys.readouterr().err
    assert err.count("warning: ignored for this model: mouth_open") == 1, err
    out = np.load(d / "ignored.npy")
    assert np.abs(out[1:] - out[0]).max() < 1e-5


def test_animate_without_yaml_installed(setup, monkeypatch, capsys):
    import sys

    d, ckpt = setup
    monkeypatch.setitem(sys.modules, "yaml", None)
    assert run(d, ckpt, "keys:\n  - frame: 1\n", "-o", str(d / "n.npy")) == 2
    assert "PyYAML" in capsys.readouterr().err


@pytest.mark.parametrize("keys, extra, message", [
    ('[{"frame": 2, "set": {"d00": 1}}]', ["--fps", "0"], "--fps must be > 0 and <= 1000, got 0.0"),
    ('[{"frame": 2, "set": {"d00": 1}}]', ["--fps", "nan"], "--fps must be a finite number"),
    ('[{"frame": 2, "set": {"d00": 1}}]', ["--frames", "0"], "--frames must be >= 1 and <= 100000, got 0"),
    ('[{"frame": 2, "set": {"d00": 1}}]', ["--seconds", "1e308"], "--seconds must be > 0 and <= 86400"),
    ('[{"time": 1e308, "set": {"d00": 1}}]', [], "keyframe 1's time must be >= 0 and <= 86400"),
    ('[{"frame": 2, "set": {"d00": 1e30}}]', [], "keyframe 1's d00 must be >= -3 and <= 3, got 1e+30"),
    ('{"fps": 0, "keys": []}', [], "fps must be > 0 and <= 1000, got 0"),
    ("[" * 50_000 + "]" * 50_000, [], "nested too deeply"),
])
def test_animate_numbers_are_checked_at_the_boundary(setup, capsys, keys, extra, message):
    """Issue 22: each of these gave a traceback, black frames or a silent default; now one line, exit 2, no
    output file."""
    d, ckpt = setup
    out = d / "checked.npy"
    assert run(d, ckpt, keys, "-o", str(out), *extra) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and message in err[0], err
    assert not out.exists()


def test_animate_refuses_an_image_as_keyframes(setup, capsys):
    d, ckpt = setup
    assert main(["animate", "--source_path", str(d / "portrait.png"), "--keyframes", str(d / "portrait.png"),
                 "--checkpoint", str(ckpt), "--crop", "none", "--quiet", "-o", str(d / "x.npy")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: {d / 'portrait.png'} is not a text file; --keyframes takes a .json or .yaml keyframe file"]
