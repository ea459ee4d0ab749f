"""Invariants of the staged API (tiny random model; parity lives in test_parity.py)."""
from __future__ import annotations

import pytest
import torch

from toontalker_core import InputError
from toontalker_core import stages as S

from tiny import tiny_images, tiny_model


@pytest.fixture(scope="module")
def setup():
    model = tiny_model(cross_domain=True)
    src = S.encode_source(model, S.to_model_range(tiny_images(1, seed=1), model), "cartoon")
    drv = S.encode_driving(model, S.to_model_range(tiny_images(5, seed=2), model), "real")
    return model, src, drv


def _images(model, src, z):
    return S.render(model, src, S.decode(model, src, z))


def test_strength_zero_keeps_the_source_pose(setup):
    model, src, drv = setup
    for mode in S.MODES:
        z = S.transfer(src, drv.canon_T1, 0.0, mode, drv.canon_T1[:1])
        assert torch.allclose(z, (src.canon_T0 + src.canon_T1).expand_as(z))
        out = _images(model, src, z)
        assert (out - out[:1]).abs().max() < 1e-4  # identical up to batched-kernel rounding
    moved = _images(model, src, S.transfer(src, drv.canon_T1, 1.0, "relative", drv.canon_T1[:1]))
    assert (moved - moved[:1]).abs().max() > 1e-2


def test_absolute_at_full_strength_is_the_reference_forward(setup):
    model, src, drv = setup
    z = S.transfer(src, drv.canon_T1, 1.0, "absolute")
    assert torch.allclose(z, src.canon_T0 + drv.canon_T1, atol=1e-5)


def test_relative_reference_frame_maps_to_source_pose(setup):
    model, src, drv = setup
    z = S.transfer(src, drv.canon_T1, 1.3, "relative", drv.canon_T1[2:3])
    assert torch.allclose(z[2], (src.canon_T0 + src.canon_T1)[0])
    assert not torch.allclose(z[0], z[2])


def test_strength_is_linear_in_the_canonical_space(setup):
    _, src, drv = setup
    z1 = S.transfer(src, drv.canon_T1, 1.0, "relative", drv.canon_T1[:1])
    z2 = S.transfer(src, drv.canon_T1, 2.0, "relative", drv.canon_T1[:1])
    base = src.canon_T0 + src.canon_T1
    assert torch.allclose(z2 - base, 2 * (z1 - base), atol=1e-5)


def test_batched_equals_frame_by_frame(setup):
    model, src, drv = setup
    z = S.transfer(src, drv.canon_T1, 1.0, "relative", drv.canon_T1[:1])
    batched = _images(model, src, z)
    single = torch.cat([_images(model, src, z[i:i + 1]) for i in range(len(z))])
    assert batched.shape == (5, 3, 64, 64)
    assert (batched - single).abs().max() < 1e-4


def test_bf16_model_stays_close(setup):
    model, src, drv = setup
    z = S.transfer(src, drv.canon_T1[:2], 1.0, "relative", drv.canon_T1[:1])
    ref = _images(model, src, z)
    m16 = tiny_model(cross_domain=True).to(torch.bfloat16)
    s16 = S.encode_source(m16, S.to_model_range(tiny_images(1, seed=1), m16), "cartoon")
    d16 = S.encode_driving(m16, S.to_model_range(tiny_images(5, seed=2), m16), "real")
    out = _images(m16, s16, S.transfer(s16, d16.canon_T1[:2], 1.0, "relative", d16.canon_T1[:1]))
    assert out.dtype == torch.bfloat16
    assert (out.float() - ref).abs().mean() < 0.05


def test_several_sources_pair_with_frames(setup):
    model, _, drv = setup
    srcs = S.encode_source(model, S.to_model_range(tiny_images(5, seed=3), model), "cartoon")
    z = S.transfer(srcs, drv.canon_T1, 1.0, "relative", drv.canon_T1[:1])
    assert _images(model, srcs, z).shape[0] == 5
    two = S.encode_source(model, S.to_model_range(tiny_images(2, seed=3), model), "cartoon")
    with pytest.raises(InputError, match="2 source images cannot pair with 5 driving frames"):
        S.transfer(two, drv.canon_T1, 1.0, "relative", drv.canon_T1[:1])


def test_bad_arguments(setup):
    model, src, drv = setup
    with pytest.raises(InputError, match="strength must be a finite number"):
        S.transfer(src, drv.canon_T1, float("nan"), "relative", drv.canon_T1[:1])
    with pytest.raises(InputError, match="unknown mode 'sideways'"):
        S.transfer(src, drv.canon_T1, 1.0, "sideways")
    with pytest.raises(InputError, match="reference frame 5 is out of range.*0..4"):
        S.check_reference(5, 5)
    with pytest.raises(InputError, match="needs 64x64"):
        S.to_model_range(torch.rand(1, 3, 32, 32), model)
    with pytest.raises(InputError, match="empty"):
        S.to_model_range(torch.rand(0, 3, 64, 64), model)


def test_in_domain_model_refuses_cartoon():
    model = tiny_model(cross_domain=False)
    with pytest.raises(InputError, match="source domain 'cartoon'.*needs a cross-domain checkpoint"):
        model.check_route("cartoon", "real")
    with pytest.raises(InputError, match="unknown domain 'anime'"):
        model.check_route("real", "anime")
    model.check_route("real", "real")
