"""Face Crop and Paste Back nodes (no ComfyUI): full-resolution in, crops out, and back."""
from __future__ import annotations

import importlib

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import REPO


@pytest.fixture(scope="module")
def face_nodes(pack):
    return importlib.import_module(pack.__name__ + ".nodes.face")


def placed_portrait() -> torch.Tensor:
    """The sample astronaut portrait placed off-centre on a 400x300 canvas: IMAGE [1,300,400,3]."""
    face = np.asarray(Image.open(REPO / "samples" / "source_real.png").convert("RGB"), dtype=np.float32) / 255
    canvas = np.full((300, 400, 3), 0.3, np.float32)
    canvas[30:286, 120:376] = face
    return torch.from_numpy(canvas)[None]


@pytest.fixture(scope="module")
def portrait():
    return placed_portrait()


def crop_args(**kw):
    args = dict(box_mode="auto", box_x=0, box_y=0, box_size=256, scale=1.9, offset=-0.05, crop_mode="tracked",
                smoothing=1.0, reference_frame=0, crop_size=64, fps=25.0)
    args.update(kw)
    return args


def test_crop_then_paste_back_round_trip(face_nodes, portrait):
    ret = face_nodes.FaceCrop().crop(portrait, **crop_args())
    crops, transform, mask = ret["result"]
    assert crops.shape == (1, 64, 64, 3) and mask.shape == (1, 300, 400)
    x, y, size = ret["ui"]["toontalker_crop"][0]["box"]
    assert 120 <= x + size / 2 <= 376 and 30 <= y + size / 2 <= 286  # centred on the placed face
    assert ret["ui"]["toontalker_crop"][0]["image_size"] == [400, 300]
    out = face_nodes.PasteBack().paste(portrait, crops, transform, 0.1, 0.0)[0]
    assert out.shape == portrait.shape
    outside = mask[0] == 0
    assert (out[0][outside] - portrait[0][outside]).abs().max() == 0   # untouched outside the mask
    inside = mask[0] > 0.99
    assert (out[0][inside] - portrait[0][inside]).abs().mean() < 0.05  # pasting the crop itself ~ identity


def test_manual_box_and_one_still_for_many_frames(face_nodes, portrait):
    ret = face_nodes.FaceCrop().crop(portrait, **crop_args(box_mode="manual", box_x=-20, box_y=100, box_size=250))
    crops, transform, _ = ret["result"]
    assert ret["ui"]["toontalker_crop"][0]["box"] == [-20, 100, 250]  # partly outside: padded, no error
    rendered = crops.expand(5, -1, -1, -1) * 0.5
    out = face_nodes.PasteBack().paste(portrait, torch.nn.functional.interpolate(
        rendered.permute(0, 3, 1, 2), size=(128, 128)).permute(0, 2, 3, 1), transform, 0.05, 0.0)[0]
    assert out.shape == (5, 300, 400, 3)


def test_an_upscaled_crop_is_pasted_at_its_own_resolution(face_nodes, portrait):
    """A model upscaler between Face Crop (64 px) and Paste Back: the 4x crop's detail reaches the image. Fine
    detail drawn into the 256 px crop survives the paste (at the source's ~1:1 scale) instead of being averaged
    away by a round trip through 64 px."""
    crops, transform, mask = face_nodes.FaceCrop().crop(portrait, **crop_args())["result"]
    up = torch.nn.functional.interpolate(crops.permute(0, 3, 1, 2), scale_factor=4, mode="bicubic")
    checker = ((torch.arange(256)[:, None] // 2 + torch.arange(256)[None, :] // 2) % 2).float()
    up = (up * 0.5 + 0.5 * checker).clamp(0, 1).permute(0, 2, 3, 1)  # a 2-px checkerboard: gone at 64 px
    out = face_nodes.PasteBack().paste(portrait, up, transform, 0.1, 0.0)[0]
    assert out.shape == portrait.shape
    inside = mask[0] > 0.99
    detail = (out[0] - torch.nn.functional.avg_pool2d(out[0].permute(2, 0, 1)[None], 3, 1, 1)[0].permute(1, 2, 0))
    plain = face_nodes.PasteBack().paste(portrait, crops, transform, 0.1, 0.0)[0]
    detail_plain = (plain[0] - torch.nn.functional.avg_pool2d(plain[0].permute(2, 0, 1)[None], 3, 1, 1)[0]
                    .permute(1, 2, 0))
    assert detail[inside].abs().mean() > 3 * detail_plain[inside].abs().mean()
    assert (out[0][mask[0] == 0] - portrait[0][mask[0] == 0]).abs().max() == 0  # untouched outside the mask


def test_errors(face_nodes, portrait, pack):
    errors = importlib.import_module(pack.__name__ + ".toontalker_core.errors")
    blank = torch.full((1, 120, 160, 3), 0.5)
    with pytest.raises(errors.InputError, match="no face found in 'image'.*box_mode to manual"):
        face_nodes.FaceCrop().crop(blank, **crop_args())
    crops, transform, _ = face_nodes.FaceCrop().crop(portrait, **crop_args())["result"]
    with pytest.raises(errors.InputError, match="'crop' holds 1 transforms for 2 rendered|'original' has"):
        face_nodes.PasteBack().paste(portrait.expand(3, -1, -1, -1), crops.expand(2, -1, -1, -1), transform, 0.1, 0)
    with pytest.raises(errors.InputError, match="needs square crops"):
        face_nodes.PasteBack().paste(portrait, crops[:, :, :32], transform, 0.1, 0.0)


def test_all_in_one_with_crop_pastes_into_the_full_frame(pack, portrait, monkeypatch, tmp_path):
    from tiny import TINY, tiny_model

    render = importlib.import_module(pack.__name__ + ".nodes.render")
    core = importlib.import_module(pack.__name__ + ".toontalker_core.model.checkpoint")
    m = tiny_model(True)
    path = core.save_safetensors({"gen": m.gen.state_dict(), "gen_real": m.gen_real.state_dict()},
                                 tmp_path / "cross-domain-t.safetensors", TINY)
    model = core.load_model(path)
    # driving: the portrait shifted a little per frame
    frames = torch.cat([torch.roll(portrait, shifts=(2 * i, 3 * i), dims=(1, 2)) for i in range(3)])
    out = render.ToonTalkerReenact().reenact(model, portrait, frames, "real video -> cartoon portrait (r2c)",
                                             1.0, "relative", 0, 2, "auto")[0]
    assert out.shape == (3, 300, 400, 3)
    assert (out[:, :20, :100] - portrait[:, :20, :100]).abs().max() == 0  # far from the face: untouched
    assert (out - portrait).abs().amax(dim=(1, 2, 3)).min() > 1e-3          # the face region changed
