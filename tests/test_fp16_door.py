"""One rendering door (issue 22): every path that turns codes into frames goes through `runtime.synthesize`
(or its halves `runtime.decode` / `runtime.render`) and every encoding through `runtime.encode_source` /
`encode_reference`, so the fp16 guard covers them all. Each path runs here with an emulated fp16 overflow in
the last RGB layer (NaN and inf in fp16 only) and must give finite frames close to the fp32 model's."""
from __future__ import annotations

import copy
import math

import pytest
import torch

from tiny import poison_fp16, tiny_images, tiny_model
from toontalker_core import runtime as R
from toontalker_core import stages as S
from toontalker_core.face import FaceCropper
from toontalker_core.motion.controls import render_codes
from toontalker_core.video_source import encode_tracked_driving, reenact_video_source, source_faces


def _psnr(a, b):
    mse = (a.float() - b.float()).pow(2).mean().item()
    return math.inf if mse == 0 else 10 * math.log10(1 / mse)


@pytest.fixture(scope="module")
def models():
    base = tiny_model(cross_domain=False)
    return poison_fp16(copy.deepcopy(base).half()), base


def _codes(model, n=3):
    src = R.encode_source(model, tiny_images(1, seed=1), "real")
    drv = R.encode_reference(model, tiny_images(n, seed=2), "real")
    return src, S.transfer(src, drv.canon_T1, 1.0, "absolute")


def test_unguarded_stages_really_overflow(models):
    model16, _ = models
    src, z = _codes(model16)
    with torch.inference_mode():
        assert not torch.isfinite(S.render(model16, src, S.decode(model16, src, z))).all()


@pytest.mark.parametrize("path", ["synthesize", "decode_then_render", "control_discovery"])
def test_codes_to_frames_paths_are_guarded(models, path):
    model16, model32 = models
    warned: list[str] = []
    src16, z16 = _codes(model16)
    src32, z32 = _codes(model32)
    if path == "synthesize":  # animate, the video source, the Motion Editor preview
        out = R.synthesize(model16, src16, z16, warn=warned.append)
    elif path == "decode_then_render":  # the staged nodes Decode to Domain -> Warp Render
        latents = R.decode(model16, src16, z16, warn=warned.append)
        out = R.render(model16, src16, latents, warn=warned.append)
    else:
        out = render_codes(model16, src16, z16, batch=2)
    expected = R.synthesize(model32, src32, z32)
    assert out.dtype == torch.float32 and torch.isfinite(out).all()
    assert _psnr(out.cpu(), expected) > 35
    assert len(warned) <= 1


def test_video_source_path_is_guarded(models):
    model16, model32 = models
    frames = tiny_images(4, seed=5, size=80)
    outs = {}
    for name, model in (("fp16", model16), ("fp32", model32)):
        cropper = FaceCropper(64, "fixed", box=(8.0, 8.0, 64.0))
        cropper.start(frames[0])
        driving_cropper = FaceCropper(64, "fixed", box=(8.0, 8.0, 64.0))
        driving_cropper.start(frames[0])
        codes, refs = encode_tracked_driving(model, [frames[:2], frames[2:]], [driving_cropper], frames[0], "real")
        outs[name] = torch.cat(list(reenact_video_source(model, [frames[:2], frames[2:]],
                                                         source_faces([cropper], ["real"], codes, refs))))
    assert torch.isfinite(outs["fp16"]).all()
    assert _psnr(outs["fp16"], outs["fp32"]) > 30


def test_encodings_fall_back_to_fp32(models):
    """Encode Source, Encode Driving Motion, the probe of motion discovery and animate's expression photos use
    the guarded encoders: a non-finite fp16 encoding is redone in fp32."""
    model16 = tiny_model(cross_domain=False).half()
    model16.gen.enc2.register_forward_hook(
        lambda _m, _i, out: out.masked_fill(torch.ones_like(out, dtype=torch.bool), float("inf"))
        if out.dtype == torch.float16 else out)
    src = R.encode_source(model16, tiny_images(1, seed=1), "real", warn=lambda m: None)
    drv = R.encode_reference(model16, tiny_images(2, seed=2), "real")
    assert src.motion.dtype == torch.float32 and torch.isfinite(src.canon_T1).all()
    assert torch.isfinite(drv.canon_T1).all()


def test_the_nodes_under_fp16_overflow_give_finite_frames(pack):
    """Encode Source, Encode Driving Motion, Decode to Domain -> Warp Render, the Motion Editor's preview and
    the all-in-one node, on an fp16 model whose synthesis overflows: every image comes out finite."""
    import importlib

    core = importlib.import_module(pack.__name__ + ".toontalker_core")
    motion = importlib.import_module(pack.__name__ + ".nodes.motion")
    render = importlib.import_module(pack.__name__ + ".nodes.render")
    editor = importlib.import_module(pack.__name__ + ".nodes.motion_edit").MotionEditor()
    base = tiny_model(cross_domain=True, seed=5)
    model = core.ToonTalker(base.cfg, cross_domain=True).requires_grad_(False)  # the pack's own class
    model.load_state_dict(base.state_dict())
    model = poison_fp16(model.half())  # the cartoon generator's synthesis overflows
    image, frames = (tiny_images(n, seed=s).permute(0, 2, 3, 1) for n, s in ((1, 2), (3, 3)))
    with pytest.warns(RuntimeWarning, match="fp16 overflowed"):  # once per model, then quietly
        src = motion.EncodeSource().encode(model, image, "cartoon")[0]
        mot = motion.EncodeDrivingMotion().encode(model, frames, "real", 2)["result"][0]
        can = motion.CanonicalMotionTransfer().transfer(src, mot, 1.0, "relative", 0)["result"][0]
        staged = render.WarpRender().render(model, src, render.DecodeToDomain().decode(model, src, can)[0], 2)[0]
        preview = editor.edit(model, src)["result"][2]
        whole = render.ToonTalkerReenact().reenact(model, image, frames, "real video -> cartoon portrait (r2c)",
                                                   1.0, "relative", 0, 2, "none")[0]
    for images in (staged, preview, whole):
        assert torch.isfinite(images).all() and images.std() > 0.01


def test_animate_under_fp16_overflow_writes_finite_frames(tmp_path, monkeypatch):
    import numpy as np

    from toontalker_core.app import animate, cli

    model = poison_fp16(tiny_model(cross_domain=True, seed=1).half())
    monkeypatch.setattr(animate, "load_model", lambda *a, **k: model)
    from PIL import Image

    Image.fromarray((tiny_images(1, seed=3)[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)).save(tmp_path / "p.png")
    (tmp_path / "k.json").write_text('[{"frame": 2, "set": {"d00": 1}}]')
    out = tmp_path / "a.npy"
    assert cli.main(["animate", "--source_path", str(tmp_path / "p.png"), "--keyframes", str(tmp_path / "k.json"),
                     "--checkpoint", "unused.safetensors", "--crop", "none", "--domain", "cartoon", "--quiet",
                     "-o", str(out), "--frames", "4"]) == 0
    frames = np.load(out)
    assert frames.shape[0] == 4 and np.isfinite(frames).all() and frames.std() > 0.01
