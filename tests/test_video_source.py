"""A video as the source: tracked, each frame reenacted and pasted back; the output has the source's length and
the driving motion loops (toontalker_core.video_source, the all-in-one node and the CLI)."""
from __future__ import annotations

import importlib

import numpy as np
import pytest
import torch

from tiny import TINY, tiny_model
from toontalker_core.face import FaceCropper
from toontalker_core.media import read_frame
from toontalker_core.resources import PACK_ROOT
from toontalker_core.video_source import driving_index, encode_tracked_driving, reenact_video_source, source_video_info

VIDEO = PACK_ROOT / "samples" / "driving.mp4"


@pytest.fixture(scope="module")
def clip():
    return torch.stack([read_frame(VIDEO, i) for i in (0, 10, 20, 30, 40)])  # [5,3,256,256], a moving face


def test_loops_the_driving_motion_and_keeps_the_source_length(clip):
    model = tiny_model(seed=2)
    assert [driving_index(i, 3) for i in range(7)] == [0, 1, 2, 0, 1, 2, 0]
    driving = FaceCropper(model.cfg.size, "fixed")  # the reference frame's box: frame 4's code is the reference
    driving.start(clip[4])
    codes, ref = encode_tracked_driving(model, [clip[3:5]], driving, clip[4], "real")
    assert codes.shape[0] == 2 and torch.allclose(codes[1], ref[0], atol=1e-5)

    def run(codes, strength=1.0):
        cropper = FaceCropper(model.cfg.size)
        cropper.start(clip[0])
        return torch.cat(list(reenact_video_source(model, [clip[:3], clip[3:]], cropper, codes, "cartoon",
                                                   strength, "relative", ref)))

    out = run(codes)
    assert out.shape == clip.shape and out.min() >= 0 and out.max() <= 1
    still = run(codes, strength=0.0)
    # driving frame 1 is the reference: its delta is zero, so the source frames it drives (1 and 3) are as at
    # strength 0, and the ones driven by frame 0 differ
    assert torch.allclose(out[1], still[1], atol=1e-5) and torch.allclose(out[3], still[3], atol=1e-5)
    assert (out[0] - still[0]).abs().max() > 1e-3
    # the source's own frames show through: the output follows the source video, not its first frame
    assert (out[4] - out[0]).abs().mean() > 0.01


def test_the_all_in_one_node_takes_a_video_source(pack, clip):
    render = importlib.import_module(pack.__name__ + ".nodes.render")
    model = tiny_model(seed=2)
    frames = clip.permute(0, 2, 3, 1).contiguous()
    out = render.ToonTalkerReenact().reenact(model, frames[:4], frames[2:4], "real video -> real portrait", 1.0,
                                             "relative", 0, 2, crop="auto")[0]
    assert out.shape == (4, 256, 256, 3)


def test_cli_accepts_a_video_source(tmp_path, clip):
    from toontalker_core.model.checkpoint import save_safetensors
    from toontalker_core.app.cli import main
    from toontalker_core.media import FrameWriter

    src = tmp_path / "source.mp4"
    with FrameWriter(src, fps=10) as w:
        w.write(clip)
    assert source_video_info(src).num_frames > 1 and source_video_info(PACK_ROOT / "samples" / "source_real.png") is None
    ckpt = save_safetensors(tiny_model(seed=2), tmp_path / "cross-domain-tiny.safetensors", TINY)
    out = tmp_path / "out.npy"
    rc = main(["crossdomain", "--type", "c2r", "--source_path", str(src), "--driving_path",
               str(PACK_ROOT / "samples" / "driving_cartoon.mp4"), "--checkpoint", str(ckpt), "--output_dir",
               str(out), "--device", "cpu", "--precision", "fp32", "--quiet"])
    assert rc == 0
    assert np.load(out).shape == (5, 256, 256, 3)  # the source's length (the driving clip is longer: cut)


# -- the CLI plan (issue 22): the video source shares reading, the batch clamp, writing and the output checks ----
@pytest.fixture(scope="module")
def cli_files(tmp_path_factory, clip):
    from toontalker_core.model.checkpoint import save_safetensors
    from toontalker_core.media import FrameWriter

    d = tmp_path_factory.mktemp("vsrc")
    ckpt = save_safetensors(tiny_model(seed=2), d / "cross-domain-tiny.safetensors", TINY)
    times = (0.0, 0.04, 0.24, 0.28, 0.5)  # a variable frame rate, with audio over the whole clip
    rate = 16000
    tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(int(0.6 * rate)) / rate)).astype(np.float32)
    vfr = d / "vfr.mp4"
    with FrameWriter(vfr, fps=25, audio_array=(tone, rate), timestamps=times) as w:
        w.write(clip)
    long = d / "long.mp4"
    with FrameWriter(long, fps=10, audio_array=(np.tile(tone, 5), rate)) as w:
        w.write(torch.cat([clip] * 6))  # 30 frames
    cut = d / "cut.mp4"
    cut.write_bytes(long.read_bytes()[: int(long.stat().st_size * 0.5)])
    return {"dir": d, "ckpt": ckpt, "vfr": vfr, "times": times, "cut": cut}


def _cli(files, source, out, *extra):
    from toontalker_core.app.cli import main

    return main(["crossdomain", "--type", "r2c", "--source_path", str(source), "--driving_path", str(VIDEO),
                 "--checkpoint", str(files["ckpt"]), "--output_dir", str(out), "--device", "cpu", "--precision",
                 "fp32", *extra])


def test_video_source_cli_keeps_timing_and_audio_clamps_the_batch_and_passes_the_blend_flags(
        cli_files, tmp_path, monkeypatch, capsys):
    import av

    from toontalker_core import memory, video_source

    monkeypatch.setattr(memory, "MODEL_BATCH_BYTES", 2 * memory.frame_bytes(tiny_model(seed=2), "reenact"))
    batches, pastes = [], []
    real_encode, real_paste = video_source.R.encode_source, video_source.paste_back
    monkeypatch.setattr(video_source.R, "encode_source",
                        lambda m, x, *a, **k: batches.append(len(x)) or real_encode(m, x, *a, **k))
    monkeypatch.setattr(video_source, "paste_back",
                        lambda *a: pastes.append(a[4:]) or real_paste(*a))
    out = tmp_path / "out.mp4"
    assert _cli(cli_files, cli_files["vfr"], out, "--batch-size", "100000", "--color-match", "0.7",
                "--pad-mode", "edge") == 0
    err = capsys.readouterr().err
    assert "batch size 100000 needs more memory" in err and "using 2" in err
    assert batches and max(batches) <= 2 and sum(batches) == 5
    assert pastes and all(p == (0.7, "edge") for p in pastes)
    with av.open(str(out)) as c:
        pts = [float(f.time) for f in c.decode(c.streams.video[0])]
        assert len(c.streams.audio) == 1
    np.testing.assert_allclose(np.array(pts) - pts[0], cli_files["times"], atol=2e-3)  # the source's timing


def test_video_source_cli_reads_truncation_like_the_driving_video(cli_files, tmp_path, capsys):
    out = tmp_path / "out.npy"
    assert _cli(cli_files, cli_files["cut"], out, "--quiet") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is truncated" in err[0] and "--allow-truncated" in err[0] and not out.exists()
    assert _cli(cli_files, cli_files["cut"], out, "--quiet", "--allow-truncated") == 0
    assert 0 < np.load(out).shape[0] < 30


def test_video_source_cli_checks_the_output_before_loading_the_model(cli_files, tmp_path, monkeypatch, capsys):
    from toontalker_core.app import cli

    monkeypatch.setattr(cli, "load_model", lambda *a, **k: pytest.fail("the model was loaded first"))
    thesis = tmp_path / "thesis.mp4"
    thesis.write_text("chapter 1")
    assert _cli(cli_files, cli_files["vfr"], thesis, "--quiet") == 2
    assert "does not hold a video" in capsys.readouterr().err and thesis.read_text() == "chapter 1"
    assert _cli(cli_files, cli_files["vfr"], tmp_path / "o.mp4", "--quiet", "--crop", "none") == 2
    assert "a video source needs --crop auto" in capsys.readouterr().err
