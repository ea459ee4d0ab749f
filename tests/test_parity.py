"""Checkpoint parity: the staged model reproduces the reference network's outputs on the fixture weights."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from toontalker_core import stages as S
from toontalker_core.model.checkpoint import load_model

CODE_TOL = 1e-4               # motion vectors, canonical codes, latents: max |d|
IMAGE_MAX, IMAGE_MEAN = 1e-3, 1e-5  # rendered images on the [-1,1] scale

FORMATS = ["pth", "safetensors"]


def assert_close(name, actual: torch.Tensor, expected: dict, image: bool):
    ref = expected[name]
    diff = np.abs(actual.detach().float().cpu().numpy() - ref)
    assert actual.shape == ref.shape, f"{name}: shape {tuple(actual.shape)} != {ref.shape}"
    if image:
        assert diff.max() <= IMAGE_MAX and diff.mean() <= IMAGE_MEAN, \
            f"{name}: max {diff.max():.3e} mean {diff.mean():.3e}"
    else:
        assert diff.max() <= CODE_TOL, f"{name}: max {diff.max():.3e}"
    print(f"{name}: max |d| {diff.max():.3e}, mean |d| {diff.mean():.3e}")


@pytest.fixture(scope="module", params=FORMATS)
def indomain(request, checkpoint_files, parity_inputs):
    model = load_model(checkpoint_files[("in-domain", request.param)])
    src = S.encode_source(model, parity_inputs["real"], "real")
    drv = S.encode_driving(model, parity_inputs["driving"], "real")
    return model, src, drv


def test_indomain_motion_and_codes(indomain, expected):
    model, src, drv = indomain
    assert not model.cross_domain and model.cfg.size == 256 and model.cfg.n_latent == 14
    assert_close("indomain_motion_source", src.motion, expected, False)
    assert_close("indomain_motion_driving", drv.motion, expected, False)
    assert_close("indomain_canon_source_T0", src.canon_T0, expected, False)
    assert_close("indomain_canon_source_T1", src.canon_T1, expected, False)
    assert_close("indomain_canon_driving_T1", drv.canon_T1, expected, False)


def test_indomain_relative(indomain, expected):
    model, src, drv = indomain
    z = S.transfer(src, drv.canon_T1, 1.0, "relative", drv.canon_T1[:1])
    latents = S.decode(model, src, z)
    assert_close("indomain_latent_frame1", latents[1:2], expected, False)
    assert_close("indomain_relative", S.render(model, src, latents), expected, True)


def test_indomain_absolute(indomain, expected):
    model, src, drv = indomain
    z = S.transfer(src, drv.canon_T1, 1.0, "absolute")
    assert_close("indomain_absolute", S.render(model, src, S.decode(model, src, z)), expected, True)


def test_indomain_strength(indomain, expected):
    model, src, drv = indomain
    z = S.transfer(src, drv.canon_T1[1:2], 0.5, "relative", drv.canon_T1[:1])
    assert_close("indomain_strength0.5_frame1", S.render(model, src, S.decode(model, src, z)), expected, True)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("route", ["r2c", "c2r"])
def test_cross_domain(route, fmt, checkpoint_files, parity_inputs, expected):
    model = load_model(checkpoint_files[("cross-domain", fmt)])
    assert model.cross_domain
    source_domain, driving_domain = ("cartoon", "real") if route == "r2c" else ("real", "cartoon")
    src = S.encode_source(model, parity_inputs[source_domain], source_domain)
    drv = S.encode_driving(model, parity_inputs["driving"], driving_domain)
    z = S.transfer(src, drv.canon_T1, 1.0, "relative", drv.canon_T1[:1])
    assert_close(f"cross_{route}", S.render(model, src, S.decode(model, src, z)), expected, True)


def test_formats_load_identical_weights(checkpoint_files):
    a = load_model(checkpoint_files[("cross-domain", "pth")]).state_dict()
    b = load_model(checkpoint_files[("cross-domain", "safetensors")]).state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
