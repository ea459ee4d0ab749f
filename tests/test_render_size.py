"""Warp Render's output size: frames at the size of the image Encode Source encoded (the source's aspect), or a
chosen longer side; and the resampler it uses (toontalker_core.media.resize_frames) against analytic references."""
from __future__ import annotations

import importlib
import math

import pytest
import torch
import torch.nn.functional as F

from tiny import TINY, tiny_images, tiny_model
from toontalker_core.media import fit_longest, resize_frames


def smooth_field(n: int) -> torch.Tensor:
    """[1,3,n,n]: smooth RGB functions of the unit square sampled at pixel centres (any n: the same picture)."""
    c = (torch.arange(n) + 0.5) / n
    y, x = torch.meshgrid(c, c, indexing="ij")
    return torch.stack([0.5 + 0.3 * torch.sin(2 * math.pi * x) * torch.cos(3 * math.pi * y),
                        0.5 + 0.3 * torch.cos(2 * math.pi * (x + y)),
                        0.5 + 0.2 * torch.sin(4 * math.pi * x * y)])[None]


def test_upscaling_a_smooth_image_is_close_to_the_reference():
    """64 px -> 512 px against the same picture sampled at 512 px (16 px border excluded: edge replication)."""
    ref = smooth_field(512)
    errors = {}
    for name, up in (("bicubic", resize_frames(smooth_field(64), (512, 512))),
                     ("bilinear", F.interpolate(smooth_field(64), size=(512, 512), mode="bilinear")),
                     ("nearest", F.interpolate(smooth_field(64), size=(512, 512), mode="nearest"))):
        errors[name] = (up - ref).abs()[..., 16:-16, 16:-16].max().item()
    print("max error inside, 64 -> 512:", {k: f"{v:.2e}" for k, v in errors.items()})
    assert errors["bicubic"] < 1e-4  # measured 3.4e-5
    assert errors["bilinear"] > 20 * errors["bicubic"] and errors["nearest"] > 100 * errors["bicubic"]
    assert (resize_frames(smooth_field(64), (512, 512)) - ref).abs().mean() < 2e-4  # border included


def test_shrinking_averages_instead_of_aliasing():
    """Stripes of 3 px period shrunk 4x are finer than the new pixels: antialiasing turns them into their mean."""
    x = torch.arange(256).float()
    stripes = (0.5 + 0.4 * torch.sin(2 * math.pi * x / 3)).expand(1, 3, 256, 256)
    ours = resize_frames(stripes, (256, 64))
    plain = F.interpolate(stripes, size=(256, 64), mode="bicubic", align_corners=False)
    print(f"stripes left after 4x shrinking: {ours.std():.4f} (antialiased) vs {plain.std():.4f} (plain bicubic)")
    assert ours.std() < 0.01 < 0.1 < plain.std() and (ours.mean() - 0.5).abs() < 0.01
    assert smooth_field(64).sub(resize_frames(smooth_field(512), (64, 64))).abs().max() < 3e-3


def test_fit_longest_keeps_the_aspect():
    assert fit_longest((48, 80), 160) == (96, 160)
    assert fit_longest((80, 48), 160) == (160, 96)
    assert fit_longest((90, 90), 64) == (64, 64)
    assert fit_longest((1, 1000), 10) == (1, 10)  # never 0 px


@pytest.fixture(scope="module")
def nodes(pack, tmp_path_factory):
    from toontalker_core.model.checkpoint import save_safetensors

    d = tmp_path_factory.mktemp("models")
    save_safetensors(tiny_model(True), d / "t.safetensors", TINY)
    mp = pytest.MonkeyPatch()
    mp.setenv("TOONTALKER_MODELS", str(d))
    mods = importlib.import_module(pack.__name__ + ".nodes")
    model = mods.LoadToonTalkerCheckpoint().load("t.safetensors", "cpu", "fp32")[0]
    yield mods, model
    mp.undo()


def _render(nodes, source_hw, output_size=None, n=3, batch=2):
    mods, model = nodes
    image = tiny_images(1, seed=21, size=max(source_hw))[..., :source_hw[0], :source_hw[1]].permute(0, 2, 3, 1)
    frames = tiny_images(n, seed=22, size=64).permute(0, 2, 3, 1)
    src = mods.EncodeSource().encode(model, image, "cartoon")[0]
    mot = mods.EncodeDrivingMotion().encode(model, frames, "real", 4)["result"][0]
    can = mods.CanonicalMotionTransfer().transfer(src, mot, 1.0, "relative", 0)["result"][0]
    lat = mods.DecodeToDomain().decode(model, src, can)[0]
    extra = () if output_size is None else (output_size,)
    return mods.WarpRender().render(model, src, lat, batch, *extra)[0], src


def test_frames_default_to_the_encoded_image_size(nodes):
    out, src = _render(nodes, (90, 90))
    assert src.image_size == (90, 90) and out.shape == (3, 90, 90, 3)
    wide, _ = _render(nodes, (48, 80))  # the source's aspect comes back (the model saw it squeezed to 64x64)
    assert wide.shape == (3, 48, 80, 3)
    big, _ = _render(nodes, (48, 80), output_size=160)
    assert big.shape == (3, 96, 160, 3)
    assert 0 <= big.min() and big.max() <= 1


def test_resized_frames_are_the_model_frames_resized(nodes):
    """output_size = the model size gives the model's frames untouched; the default is those, resampled."""
    native, _ = _render(nodes, (90, 90), output_size=64)
    default, _ = _render(nodes, (90, 90))
    assert native.shape == (3, 64, 64, 3)
    expected = resize_frames(native.permute(0, 3, 1, 2), (90, 90)).permute(0, 2, 3, 1)
    assert (default - expected).abs().max() < 1e-5


def test_bad_output_size_names_the_widget(nodes, pack):
    errors = importlib.import_module(pack.__name__ + ".toontalker_core.errors")
    with pytest.raises(errors.InputError, match=r"output_size must be >= 0 and <= 8192, got -1"):
        _render(nodes, (64, 64), output_size=-1)


def test_widget_order_stays_compatible(pack):
    """Saved workflows list widget values in order: the new widget comes after the old ones."""
    spec = pack.NODE_CLASS_MAPPINGS["ToonTalkerWarpRender"].INPUT_TYPES()
    assert list(spec["required"]) == ["model", "source", "latents", "batch_size"]
    assert list(spec["optional"]) == ["output_size"] and spec["optional"]["output_size"][1]["default"] == 0
