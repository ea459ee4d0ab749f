"""A video as the source: tracked, each frame reenacted and pasted back; the output has the source's length and
the driving motion loops (toontalker_core.video_source, the all-in-one node and the CLI)."""
from __future__ import annotations

import importlib

import numpy as np
import pytest
import torch

from tiny import TINY, tiny_model
from toontalker_core import stages as S
from toontalker_core.face import FaceCropper
from toontalker_core.media import read_frame
from toontalker_core.paths import PACK_ROOT
from toontalker_core.video_source import driving_index, encode_tracked_driving, is_video, reenact_video_source

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
    from toontalker_core.checkpoint import save_safetensors
    from toontalker_core.cli import main
    from toontalker_core.media import FrameWriter

    src = tmp_path / "source.mp4"
    with FrameWriter(src, fps=10) as w:
        w.write(clip)
    assert is_video(src) and not is_video(PACK_ROOT / "samples" / "source_real.png")
    ckpt = save_safetensors(tiny_model(seed=2), tmp_path / "cross-domain-tiny.safetensors", TINY)
    out = tmp_path / "out.npy"
    rc = main(["crossdomain", "--type", "c2r", "--source_path", str(src), "--driving_path",
               str(PACK_ROOT / "samples" / "driving_cartoon.mp4"), "--checkpoint", str(ckpt), "--output_dir",
               str(out), "--device", "cpu", "--precision", "fp32", "--quiet"])
    assert rc == 0
    assert np.load(out).shape == (5, 256, 256, 3)  # the source's length (the driving clip is longer: cut)
