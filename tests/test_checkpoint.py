"""Safe, strict checkpoint loading and conversion."""
from __future__ import annotations

import re

import pytest
import torch

from toontalker_core import CheckpointError, load_model
from toontalker_core.model.checkpoint import convert, save_safetensors
from toontalker_core.app.cli import main
from toontalker_core.model.config import infer_config

from tiny import TINY, tiny_model


def _states(model):
    return {"gen": model.gen.state_dict(), **({"gen_real": model.gen_real.state_dict()} if model.gen_real else {})}


def test_config_is_inferred_from_shapes():
    model = tiny_model(cross_domain=False)
    cfg = infer_config(model.gen.state_dict())
    assert (cfg.size, cfg.style_dim, cfg.motion_dim, cfg.channel_max, cfg.channel_base) == (64, 32, 4, 32, 1024)


def test_released_style_pth_with_training_leftovers(tmp_path):
    import argparse

    model = tiny_model(cross_domain=True)
    path = tmp_path / "cross.pth"
    torch.save({**_states(model), "args": argparse.Namespace(size=64), "g_optim": {"state": {}}, "step": 7,
                "config": TINY.to_dict()}, path)
    loaded = load_model(path)
    assert loaded.cross_domain and loaded.cfg == TINY
    for k, v in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v), k


def test_safetensors_round_trip_keeps_config(tmp_path):
    model = tiny_model(cross_domain=False)
    out = save_safetensors(model, tmp_path / "m.safetensors")
    loaded = load_model(out)
    assert loaded.cfg == TINY and not loaded.cross_domain  # n_heads=4 is not inferable from shapes
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in model.state_dict().items())


def test_written_weights_get_the_usual_file_mode(tmp_path):
    import os
    import stat

    old = os.umask(0o022)
    try:  # safetensors creates its file 0o600; the atomic commit gives what the umask allows
        out = save_safetensors(tiny_model(cross_domain=False), tmp_path / "m.safetensors")
    finally:
        os.umask(old)
    assert stat.S_IMODE(out.stat().st_mode) == 0o644


def test_convert_cli_both_ways(tmp_path):
    model = tiny_model(cross_domain=True)
    pth = tmp_path / "a.pth"
    torch.save({**_states(model), "config": TINY.to_dict()}, pth)
    st = tmp_path / "a.safetensors"
    assert main(["convert", str(pth), str(st)]) == 0
    back = convert(st, tmp_path / "b.pth")
    a, b = load_model(st).state_dict(), load_model(back).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


class _RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_pickle_that_would_run_code_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    torch.save({"gen": tiny_model(False).gen.state_dict(), "payload": _RunsCode(str(marker))}, path)
    with pytest.raises(CheckpointError, match=r"evil\.pth: refused to load"):
        load_model(path)
    assert not marker.exists()


@pytest.mark.parametrize("content, message", [
    (b"", "is empty"),
    (b"PK\x03\x04 not really a zip", "not a readable PyTorch checkpoint"),
])
def test_corrupt_files(tmp_path, content, message):
    path = tmp_path / "bad.pth"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=message):
        load_model(path)


def test_truncated_files(tmp_path):
    model = tiny_model(False)
    full = tmp_path / "full.pth"
    torch.save({"gen": model.gen.state_dict()}, full)
    st = save_safetensors(model, tmp_path / "full.safetensors")
    for src in (full, st):
        cut = tmp_path / f"cut{src.suffix}"
        cut.write_bytes(src.read_bytes()[: src.stat().st_size // 2])
        with pytest.raises(CheckpointError, match=r"cut\.(pth|safetensors): not a readable .*truncated"):
            load_model(cut)


def test_missing_file_and_wrong_layouts(tmp_path):
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        load_model(tmp_path / "nope.pth")
    other = tmp_path / "other.pth"
    torch.save({"model": {"w": torch.zeros(1)}}, other)
    with pytest.raises(CheckpointError, match="no ToonTalker generator found.*'gen'"):
        load_model(other)
    sd = tiny_model(False).gen.state_dict()
    sd["dec.mlp.weight"] = sd["dec.mlp.weight"][:, :-1]
    del sd["dec.latlayer1.bias"]
    broken = tmp_path / "broken.pth"
    torch.save({"gen": sd, "config": TINY.to_dict()}, broken)
    with pytest.raises(CheckpointError, match=r"broken\.pth: 'gen' does not match.*1 missing.*dec\.latlayer1\.bias"
                                              r".*wrong shape.*dec\.mlp\.weight"):
        load_model(broken)


@pytest.mark.parametrize("config, message", [
    ("{not json", "its 'config' metadata is not valid JSON"),
    ('"a string"', "its stored config is unreadable (a config is a JSON object"),
    ('{"channel_multiplier": "many"}', "its stored config is unreadable"),
    ('{"size": 1e400}', "its stored config is unreadable"),
    ('{"channel_multiplier": 1000}', "channel_multiplier 1000 (the tensors say 1)"),
    ('{"size": 128, "style_dim": 32}', "size 128 (the tensors say 64)"),
])
def test_a_stored_config_is_checked_against_the_tensors_before_building(tmp_path, capsys, config, message):
    """Issue 22: bad `config` metadata gave a traceback, and `channel_multiplier 1000` was trusted before the
    shape check (a 37 GB allocation for the published layout). Now one line, and nothing is built."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    from toontalker_core.app import cli

    good = save_safetensors(tiny_model(False), tmp_path / "good.safetensors")
    with safe_open(str(good), framework="pt") as f:
        meta, tensors = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
    bad = tmp_path / "bad.safetensors"
    save_file(tensors, str(bad), metadata={**meta, "config": config})
    with pytest.raises(CheckpointError, match=re.escape(message)):
        load_model(bad)
    assert cli.main(["convert", str(bad), str(tmp_path / "out.safetensors")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0] and "Traceback" not in err[0]
