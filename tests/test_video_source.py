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
from toontalker_core.video_source import (driving_index, encode_tracked_driving, reenact_video_source, source_faces,
                                          source_video_info)

VIDEO = PACK_ROOT / "samples" / "driving.mp4"


@pytest.fixture(scope="module")
def clip():
    return torch.stack([read_frame(VIDEO, i) for i in (0, 10, 20, 30, 40)])  # [5,3,256,256], a moving face


def test_loops_the_driving_motion_and_keeps_the_source_length(clip):
    model = tiny_model(seed=2)
    assert [driving_index(i, 3) for i in range(7)] == [0, 1, 2, 0, 1, 2, 0]
    driving = FaceCropper(model.cfg.size, "fixed")  # the reference frame's box: frame 4's code is the reference
    driving.start(clip[4])
    codes, (ref,) = encode_tracked_driving(model, [clip[3:5]], [driving], clip[4], "real")
    assert codes.shape[:2] == (2, 1) and torch.allclose(codes[1, 0], ref[0], atol=1e-5)

    def run(codes, strength=1.0):
        cropper = FaceCropper(model.cfg.size)
        cropper.start(clip[0])
        return torch.cat(list(reenact_video_source(model, [clip[:3], clip[3:]],
                                                   source_faces([cropper], ["cartoon"], codes, [ref]), strength)))

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


# -- several faces in a video source ---------------------------------------------------------------------------
SPLIT = 176  # the column between the two faces of `two_face_video`: no crop box reaches it


@pytest.fixture(scope="module")
def cartoon_clip():
    return torch.stack([read_frame(PACK_ROOT / "samples" / "driving_cartoon.mp4", i) for i in (0, 20)])


def two_face_video(left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
    """[n,3,144,352]: the frames `left` and `right` ([n,3,256,256]) at half size side by side, far apart."""
    out = torch.full((len(left), 3, 144, 352), 0.92)
    half = [torch.nn.functional.interpolate(x, size=(128, 128), mode="area") for x in (left, right)]
    out[:, :, 8:136, 8:136], out[:, :, 8:136, 216:344] = half
    return out


def run_faces(model, source, driving, faces, domains, driving_face):
    from toontalker_core.face import parse_driving_face, parse_faces
    from toontalker_core.multiface import driving_croppers, source_croppers

    def make(choose):
        return FaceCropper(model.cfg.size, choose=choose, warn=lambda m: None)

    croppers = source_croppers(source[0], parse_faces(faces), make)
    drivers = driving_croppers(driving[0], len(croppers), parse_driving_face(driving_face), make)
    codes, refs = encode_tracked_driving(model, [driving[:1], driving[1:]], drivers, driving[0], "real")
    assert codes.shape[1] == len(drivers)
    return torch.cat(list(reenact_video_source(model, [source[:1], source[1:]],
                                               source_faces(croppers, domains, codes, refs), mode="absolute")))


def test_a_video_source_reenacts_every_chosen_face_each_tracked_on_its_own(clip, cartoon_clip):
    model = tiny_model(seed=2)
    source = two_face_video(clip[:2], cartoon_clip)                           # 2 frames, each face moving
    driving = clip[3:5]
    both = run_faces(model, source, driving, "all", ["real", "cartoon"], "largest")
    left = run_faces(model, source, driving, "0", ["real"], "largest")
    right = run_faces(model, source, driving, "1", ["cartoon"], "largest")
    assert both.shape == source.shape
    # each half is that face's own one-face run; a face not chosen stays the source, bit for bit
    assert torch.allclose(both[..., :SPLIT], left[..., :SPLIT], atol=1e-6)
    assert torch.allclose(both[..., SPLIT:], right[..., SPLIT:], atol=1e-6)
    assert torch.equal(left[..., SPLIT:], source[..., SPLIT:]) and torch.equal(right[..., :SPLIT], source[..., :SPLIT])
    for half in (np.s_[..., :SPLIT], np.s_[..., SPLIT:]):
        assert (both[half] - source[half]).abs().amax() > 0.05                  # both faces really animated
    # paired: the i-th driving face from the left drives the i-th source face
    two_driving = two_face_video(clip[3:5], clip[[0, 2]])
    paired = run_faces(model, source, two_driving, "all", ["real", "cartoon"], "paired")
    for i, half in enumerate((np.s_[..., :SPLIT], np.s_[..., SPLIT:])):
        own = run_faces(model, source, two_driving, str(i), [("real", "cartoon")[i]], str(i))
        assert torch.allclose(paired[half], own[half], atol=1e-6)
    assert (paired[..., SPLIT:] - both[..., SPLIT:]).abs().amax() > 1e-3          # not the left driving face


def test_cli_and_node_take_a_video_source_with_several_faces(pack, tmp_path, clip, cartoon_clip, capsys):
    from toontalker_core.app.cli import main
    from toontalker_core.media import FrameWriter, iter_driving
    from toontalker_core.model.checkpoint import save_safetensors

    src = tmp_path / "two.mp4"
    with FrameWriter(src, fps=10) as w:
        w.write(two_face_video(clip[:2], cartoon_clip))
    frames = next(iter(iter_driving(src, chunk_size=2)))                        # as decoded: [2,3,144,352]
    ckpt = save_safetensors(tiny_model(seed=2), tmp_path / "cross-domain-tiny.safetensors", TINY)
    out = tmp_path / "out.npy"

    def cli(*extra):
        return main(["crossdomain", "--type", "r2r", "--source_path", str(src), "--driving_path", str(VIDEO),
                     "--checkpoint", str(ckpt), "--output_dir", str(out), "--device", "cpu", *extra])

    assert cli("--faces", "all", "--face-domains", "auto") == 0
    crops = [line for line in capsys.readouterr().err.splitlines() if "source face crop" in line]
    assert len(crops) == 2 and all(line.startswith("source face crop (first frame): ") for line in crops)
    assert crops[0].endswith("(real; --face-domains auto, it looks like a real photo)")
    assert crops[1].endswith("(cartoon; --face-domains auto, it looks like a cartoon)")
    result = torch.from_numpy(np.load(out)).permute(0, 3, 1, 2)
    assert result.shape == frames.shape
    assert torch.equal(result[..., SPLIT - 4:SPLIT + 4], frames[..., SPLIT - 4:SPLIT + 4])  # between the faces
    for half in (np.s_[..., :SPLIT], np.s_[..., SPLIT:]):
        assert (result[half] - frames[half]).abs().amax() > 0.05
    assert cli("--faces", "all", "--driving-face", "paired", "--quiet") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--driving-face paired: driving frame 0 of" in err[0] and "has 1 face for 2 source " \
        "faces" in err[0]

    render = importlib.import_module(pack.__name__ + ".nodes.render").ToonTalkerReenact()
    images = frames.permute(0, 2, 3, 1).contiguous()
    node = render.reenact(tiny_model(seed=2), images, clip[3:5].permute(0, 2, 3, 1).contiguous(),
                          "real video -> real portrait", 1.0, "relative", 0, 2, "auto", faces="all",
                          face_domains="real,cartoon")[0]
    between = np.s_[:, :, SPLIT - 4:SPLIT + 4]
    assert node.shape == images.shape and torch.equal(node[between], images[between])
    assert all((node[:, :, h] - images[:, :, h]).abs().amax() > 0.05 for h in (slice(0, SPLIT), slice(SPLIT, None)))
    with pytest.raises(Exception, match="driving_face paired: driving frame 0 has 1 face for 2 source faces"):
        render.reenact(tiny_model(seed=2), images, clip[3:5].permute(0, 2, 3, 1).contiguous(),
                       "real video -> real portrait", 1.0, "relative", 0, 2, "auto", faces="all",
                       driving_face="paired")
