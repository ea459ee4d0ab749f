"""The node pack without ComfyUI: registration, every node's contract, staged == all-in-one, errors."""
from __future__ import annotations

import importlib

import pytest
import torch

from tiny import TINY, tiny_images


@pytest.fixture(scope="module")
def nodes(pack):
    return importlib.import_module(pack.__name__ + ".nodes")


@pytest.fixture(scope="module")
def models(pack, tmp_path_factory, monkeypatch_module):
    """Tiny checkpoints in a model folder, loaded through the loader node."""
    from tiny import tiny_model

    core = importlib.import_module(pack.__name__ + ".toontalker_core.model.checkpoint")
    d = tmp_path_factory.mktemp("models")
    core.save_safetensors(_states(tiny_model(True)), d / "cross-domain-tiny.safetensors", TINY)
    core.save_safetensors(_states(tiny_model(False)), d / "in-domain-tiny.safetensors", TINY)
    monkeypatch_module.setenv("TOONTALKER_MODELS", str(d))
    loader = importlib.import_module(pack.__name__ + ".nodes.loaders").LoadToonTalkerCheckpoint()
    return {"cross": loader.load("cross-domain-tiny.safetensors", "cpu", "fp32")[0],
            "in": loader.load("in-domain-tiny.safetensors", "cpu", "fp32")[0]}


def _states(model):
    return {"gen": model.gen.state_dict(), **({"gen_real": model.gen_real.state_dict()} if model.gen_real else {})}


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def first(ret):
    """The first output of a node, whether it returned a tuple or {"ui", "result"}."""
    return (ret["result"] if isinstance(ret, dict) else ret)[0]


def as_image(x01: torch.Tensor) -> torch.Tensor:  # [N,3,H,W] -> IMAGE [N,H,W,3]
    return x01.permute(0, 2, 3, 1).contiguous()


SOURCE = as_image(tiny_images(1, seed=11, size=90))      # not the model size: resized by the nodes
FRAMES = as_image(tiny_images(7, seed=12, size=90))


def test_registration(pack):
    assert pack.WEB_DIRECTORY == "./web"
    assert set(pack.NODE_CLASS_MAPPINGS) == set(pack.NODE_DISPLAY_NAME_MAPPINGS)
    for name, cls in pack.NODE_CLASS_MAPPINGS.items():
        assert cls.CATEGORY == "ToonTalker" and cls.DESCRIPTION, name
        spec = cls.INPUT_TYPES()
        for inp, (typ, opts) in spec["required"].items():
            assert opts.get("tooltip"), f"{name}.{inp} has no tooltip"
        assert len(cls.RETURN_TYPES) == len(cls.OUTPUT_TOOLTIPS) == len(cls.RETURN_NAMES)
        assert callable(getattr(cls, cls.FUNCTION))
    strength = pack.NODE_CLASS_MAPPINGS["ToonTalkerCanonicalTransfer"].INPUT_TYPES()["required"]["strength"][1]
    assert strength["min"] <= 0 and strength["max"] >= 2 and strength["step"] == 0.05 and strength["default"] == 1.0


def test_loader_lists_and_describes(pack, models, nodes):
    loader = nodes.LoadToonTalkerCheckpoint
    names = loader.INPUT_TYPES()["required"]["ckpt_name"][0]
    assert {"cross-domain-tiny.safetensors", "in-domain-tiny.safetensors"} <= set(names)
    model, info = loader().load("cross-domain-tiny.safetensors", "cpu", "fp32")
    assert "cross-domain" in info and "64px" in info
    with pytest.raises(FileNotFoundError, match="'nope.pth' not found"):
        loader().load("nope.pth", "cpu", "fp32")


def _staged(nodes, model, route=("cartoon", "real"), strength=1.0, mode="relative", ref=0, batch=3):
    src = nodes.EncodeSource().encode(model, SOURCE, route[0])[0]
    mot = first(nodes.EncodeDrivingMotion().encode(model, FRAMES, route[1], batch))
    can = first(nodes.CanonicalMotionTransfer().transfer(src, mot, strength, mode, ref))
    lat = nodes.DecodeToDomain().decode(model, src, can)[0]
    return nodes.WarpRender().render(model, src, lat, batch, 64)[0], (src, mot, can, lat)  # the model size


def test_staged_graph_equals_all_in_one_and_core(models, nodes, pack):
    model = models["cross"]
    images, (src, mot, can, lat) = _staged(nodes, model)
    assert images.shape == (7, 64, 64, 3) and images.dtype == torch.float32 and images.device.type == "cpu"
    assert 0 <= images.min() and images.max() <= 1
    assert mot.encoded.canon_T1.shape == (7, TINY.motion_dim, TINY.style_dim)
    assert lat.latents.shape == (7, TINY.n_latent, TINY.style_dim)
    allin = nodes.ToonTalkerReenact().reenact(model, SOURCE, FRAMES, "real video -> cartoon portrait (r2c)",
                                              1.0, "relative", 0, 4, "none")[0]
    assert (allin - images).abs().max() < 1e-5
    # and the core directly
    S = importlib.import_module(pack.__name__ + ".toontalker_core.stages")
    media = importlib.import_module(pack.__name__ + ".toontalker_core.media")
    s = S.encode_source(model, S.to_model_range(media.resize_to(SOURCE.permute(0, 3, 1, 2), 64), model), "cartoon")
    d = S.encode_driving(model, S.to_model_range(media.resize_to(FRAMES.permute(0, 3, 1, 2), 64), model), "real")
    ref = S.to_unit_range(S.render(model, s, S.decode(model, s, S.transfer(s, d.canon_T1, 1.0, "relative",
                                                                           d.canon_T1[:1]))))
    assert (ref.permute(0, 2, 3, 1) - images).abs().max() < 1e-5


def test_strength_zero_is_the_source_pose(models, nodes):
    images, _ = _staged(nodes, models["cross"], route=("real", "cartoon"), strength=0.0)
    assert (images - images[:1]).abs().max() < 1e-4
    moved, _ = _staged(nodes, models["cross"], route=("real", "cartoon"), strength=1.0)
    assert (moved - moved[:1]).abs().max() > 1e-3


def test_several_sources_and_rgba_gray_inputs(models, nodes):
    model = models["cross"]
    srcs = as_image(tiny_images(7, seed=13, size=64))
    rgba = torch.cat([FRAMES, torch.ones_like(FRAMES[..., :1])], -1)
    src = nodes.EncodeSource().encode(model, srcs, "real")[0]
    mot = first(nodes.EncodeDrivingMotion().encode(model, rgba, "real", 16))
    can = first(nodes.CanonicalMotionTransfer().transfer(src, mot, 1.0, "absolute", 0))
    out = nodes.WarpRender().render(model, src, nodes.DecodeToDomain().decode(model, src, can)[0], 2)[0]
    assert out.shape == (7, 64, 64, 3)
    gray = FRAMES[..., :1]
    assert first(nodes.EncodeDrivingMotion().encode(model, gray, "real", 4)).encoded.motion.shape[0] == 7


def test_errors_name_the_input_and_the_fix(models, nodes, pack):
    errors = importlib.import_module(pack.__name__ + ".toontalker_core.errors")
    model, indomain = models["cross"], models["in"]
    with pytest.raises(errors.InputError, match="'image' is an empty image batch"):
        nodes.EncodeSource().encode(model, SOURCE[:0], "real")
    with pytest.raises(errors.InputError, match="source domain 'cartoon'.*cross-domain checkpoint"):
        nodes.EncodeSource().encode(indomain, SOURCE, "cartoon")
    with pytest.raises(errors.InputError, match="driving domain 'cartoon'"):
        nodes.EncodeDrivingMotion().encode(indomain, FRAMES, "cartoon", 4)
    with pytest.raises(errors.InputError, match="cartoon.*cross-domain"):
        nodes.ToonTalkerReenact().reenact(indomain, SOURCE, FRAMES, "cartoon video -> real portrait (c2r)",
                                          1.0, "relative", 0, 4, "none")
    src = nodes.EncodeSource().encode(model, SOURCE, "real")[0]
    mot = first(nodes.EncodeDrivingMotion().encode(model, FRAMES, "real", 4))
    with pytest.raises(errors.InputError, match="reference frame 7 is out of range.*0..6"):
        nodes.CanonicalMotionTransfer().transfer(src, mot, 1.0, "relative", 7)
    with pytest.raises(errors.InputError, match="strength must be a finite number"):
        nodes.CanonicalMotionTransfer().transfer(src, mot, float("inf"), "relative", 0)
    other_src = nodes.EncodeSource().encode(indomain, SOURCE, "real")[0]
    with pytest.raises(errors.InputError, match="different ToonTalker models"):
        nodes.CanonicalMotionTransfer().transfer(other_src, mot, 1.0, "relative", 0)
    three = nodes.EncodeSource().encode(model, as_image(tiny_images(3, seed=1, size=64)), "real")[0]
    can = nodes.CanonicalMotionTransfer  # 3 sources vs 7 frames cannot broadcast
    with pytest.raises(errors.InputError, match="3 source images cannot pair with 7 driving frames"):
        can().transfer(three, mot, 1.0, "relative", 0)
    with pytest.raises(errors.InputError, match="'source_image' has 2 images for 7 driving frames"):
        nodes.ToonTalkerReenact().reenact(model, as_image(tiny_images(2, size=64)), FRAMES,
                                          "real video -> real portrait", 1.0, "relative", 0, 4, "none")


def test_interrupt_stops_driving_encoding(models, nodes, pack, monkeypatch):
    memory = importlib.import_module(pack.__name__ + ".nodes.memory")
    calls = []

    class Interrupted(Exception):
        pass

    def check():
        calls.append(1)
        if len(calls) == 2:
            raise Interrupted()

    monkeypatch.setattr(memory, "check_interrupt", check)
    with pytest.raises(Interrupted):
        nodes.EncodeDrivingMotion().encode(models["cross"], FRAMES, "real", 3)
    assert len(calls) == 2


def test_motion_plot_series(models, nodes):
    model = models["cross"]
    ret = nodes.EncodeDrivingMotion().encode(model, FRAMES, "real", 4)
    series = ret["ui"]["toontalker_motion"][0]
    assert series["reference"] == 0 and len(series["magnitude"]) == 7 and series["magnitude"][0] == 0
    codes = ret["result"][0].encoded.canon_T1
    assert series["magnitude"][3] == pytest.approx((codes[3] - codes[0]).norm().item(), rel=1e-5)
    src = first(nodes.EncodeSource().encode(model, SOURCE, "real"))
    moved = nodes.CanonicalMotionTransfer().transfer(src, ret["result"][0], 1.0, "relative", 5)["ui"]
    assert moved["toontalker_motion"][0]["reference"] == 5 and moved["toontalker_motion"][0]["magnitude"][5] == 0


def test_reenact_without_crop_guards_an_fp16_source_encoding(models, nodes, pack):
    """crop none encodes source and reference with the fp16 guard: an overflowing fp16 encoding is redone in
    fp32 (one warning) instead of rendering non-finite frames."""
    loader = importlib.import_module(pack.__name__ + ".nodes.loaders").LoadToonTalkerCheckpoint()
    model16 = loader.load("in-domain-tiny.safetensors", "cpu", "fp16")[0]
    assert model16.dtype == torch.float16

    def overflow(_m, _i, out):
        return torch.full_like(out, float("inf")) if out.dtype == torch.float16 else out

    def reenact():
        return nodes.ToonTalkerReenact().reenact(model16, SOURCE, FRAMES[:2], "real video -> real portrait",
                                                 1.0, "relative", 0, 2, "none")[0]

    handle = model16.gen.enc2.register_forward_hook(overflow)  # the motion encoder overflows in fp16
    try:
        with pytest.warns(RuntimeWarning, match="fp16"):
            out = reenact()
    finally:
        handle.remove()
    assert out.shape == (2, 64, 64, 3) and torch.isfinite(out).all()
    expected = nodes.ToonTalkerReenact().reenact(models["in"], SOURCE, FRAMES[:2], "real video -> real portrait",
                                                 1.0, "relative", 0, 2, "none")[0]
    assert (out - expected).abs().mean() < 0.02  # fp32 recomputation from fp16-rounded weights
