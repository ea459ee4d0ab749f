"""Named Motion Editor controls of the bundled model: shipped (measured once), and each one moves its
measured quantity monotonically (up to the measurement noise) over its slider range (re-measured here at other
slider values)."""
from __future__ import annotations

import pytest
import torch

from toontalker_core.motion import controls as C
from toontalker_core.model.checkpoint import load_model
from toontalker_core.model.identity import model_identity
from toontalker_core.motion.edit import motion_directions
from toontalker_core.motion.measure import QUANTITIES, measure
from toontalker_core.resources import BUNDLED_DIR

BUNDLED = BUNDLED_DIR / "cross-domain-demo-64px.safetensors"


@pytest.fixture(scope="module")
def model():
    return load_model(BUNDLED)


@pytest.fixture(scope="module")
def shipped(model, tmp_path_factory):
    def refuse(*a, **k):
        raise AssertionError("the bundled model's controls should ship with the pack, not be re-measured")

    mp = pytest.MonkeyPatch()
    mp.setattr(C, "discover", refuse)
    empty = tmp_path_factory.mktemp("cache")
    yield {d: C.load_controls(model, d, empty) for d in model.domains}
    mp.undo()


@pytest.mark.parametrize("domain", ["real", "cartoon"])
def test_shipped_controls_match_the_bundled_weights(model, shipped, domain):
    assert C.cache_path(model, C.SHIPPED_DIR).name.startswith(model_identity(model)[:32])
    found = shipped[domain]
    assert found["directions"] == model.cfg.motion_dim
    assert {"head_yaw", "head_roll"} <= set(found["named"])  # measured on this model (see the report)
    for name, rec in found["named"].items():
        assert abs(torch.tensor(rec["weights"]).norm().item() - 1) < 1e-4, name


@pytest.mark.parametrize("domain", ["real", "cartoon"])
def test_each_named_control_is_monotonic_over_its_range(model, shipped, domain):
    dirs = motion_directions(model, domain)
    base = dirs.probe.canon_T0 + dirs.probe.canon_T1
    steps = [-3.0, -2.0, -0.5, 0.0, 1.0, 2.5, 3.0]  # not the discovery's steps
    for name, rec in shipped[domain]["named"].items():
        w = torch.tensor(steps)[:, None] * torch.tensor(rec["weights"])[None]
        z = base + torch.einsum("nk,kmd->nmd", w, dirs.vectors)
        rows = measure(C.render_codes(model, dirs.probe, z), reference=steps.index(0.0))
        values = [r[name] for r in rows]
        assert C.is_monotonic(name, values), (name, values)  # up to the measurement noise (C.NOISE)
        assert values[-1] > values[steps.index(0.0)] > values[0], (name, values)
        assert values[-1] - values[0] >= QUANTITIES[name][2] * 0.8, (name, values)
        # and the slider maps to exactly these raw weights
        assert torch.allclose(C.control_weights(shipped[domain], {name: 2.0}), 2 * torch.tensor(rec["weights"]))
