"""Named Motion Editor controls of the bundled model: shipped (measured once), each offered one moves its own
quantity monotonically and nothing else past the isolation tolerance (re-measured here at other slider
values), and a control the model does not offer is ignored with a warning, never an error."""
from __future__ import annotations

import pytest
import torch

from toontalker_core.motion import controls as C
from toontalker_core.model.checkpoint import load_model
from toontalker_core.model.identity import model_identity
from toontalker_core.motion.edit import motion_directions
from toontalker_core.motion.measure import QUANTITIES
from toontalker_core.resources import BUNDLED_DIR

BUNDLED = BUNDLED_DIR / "cross-domain-demo-64px.safetensors"
STEPS = [-3.0, -2.0, -1.25, -0.5, 0.0, 1.0, 1.75, 2.5, 3.0]  # not the discovery's steps


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
    assert set(found["named"]) | set(found["rejected"]) == set(C.NAMES)   # every control: offered or why not
    assert not set(found["named"]) & set(found["rejected"])
    for name, why in found["rejected"].items():
        assert why and "_" not in why, (name, why)                        # a reason in plain words
    for name, rec in found["named"].items():
        assert 0 < torch.tensor(rec["weights"]).norm().item() <= C.MAX_NORM + 1e-4, name
        assert max(rec["side"].values()) < C.ISOLATION, (name, rec["side"])


@pytest.mark.parametrize("domain", ["real", "cartoon"])
def test_each_offered_control_is_isolated_and_monotonic(model, shipped, domain):
    """Re-measured at other slider values: the own quantity rises by its threshold, monotonically (up to the
    measurement noise), and every other quantity stays within the isolation tolerance (+ that noise)."""
    dirs = motion_directions(model, domain)
    for name, rec in shipped[domain]["named"].items():
        rows = C.sweep(model, dirs, torch.tensor(rec["weights"]), STEPS)
        values = [r[name] for r in rows]
        assert C.is_monotonic(name, values), (name, values)
        assert values[-1] > values[STEPS.index(0.0)] > values[0], (name, values)
        assert values[-1] - values[0] >= QUANTITIES[name][2] * (1 - C.NOISE), (name, values)
        side = {q: s for q, s in C.effects(STEPS, rows)["side"].items() if q != name}
        assert max(side.values()) < C.ISOLATION + C.NOISE, (name, side)
        own = (values[-1] - values[0]) / QUANTITIES[name][2]
        assert own >= C.DOMINANCE * max(side.values()) - C.NOISE, (name, own, side)
        # and the slider maps to exactly these raw weights
        assert torch.allclose(C.control_weights(shipped[domain], {name: 2.0}), 2 * torch.tensor(rec["weights"]))


def test_a_rejected_control_is_ignored_not_an_error():
    controls = {"directions": 3, "named": {"head_yaw": {"weights": [0.5, 0.0, -0.5]}},
                "rejected": {"eyes_closed": "it cannot be separated: it would also tilt the head"}}
    w = C.control_weights(controls, {"eyes_closed": 2.5, "d01": 1.0})
    assert torch.equal(w, torch.tensor([0.0, 1.0, 0.0]))                   # only the raw slider moved
    assert torch.equal(C.control_weights(controls, {"eyes_closed": -3.0}), torch.zeros(3))
    ignored = C.ignored_controls(controls, {"eyes_closed": 2.5, "head_yaw": 1.0, "head_pitch": 0.0})
    assert ignored == {"eyes_closed": "it cannot be separated: it would also tilt the head"}
    line = C.ignored_message(ignored)
    assert "\n" not in line and "eyes_closed" in line and "tilt the head" in line
    assert C.ignored_message({}) == ""
    with pytest.raises(Exception, match="finite"):
        C.control_weights(controls, {"eyes_closed": float("nan")})             # a bad number is still an error


def test_isolation_judge_counts_side_effects():
    """The offer rule looks at every quantity on the check renders, not only the own one."""
    steps = C.check_steps()
    thr = {q: QUANTITIES[q][2] for q in C.NAMES}

    def rows(side_q=None, side_change=0.0):  # head_x rises 1.5 thresholds; side_q changes by side_change
        return [{q: (t / 6 * 1.5 * thr[q] if q == "head_x" else
                     t / 6 * side_change * thr[q] if q == side_q else 0.0) for q in C.NAMES} for t in steps]

    assert C.judge("head_x", steps, rows())[0]                                # moves only itself: offered
    ok, worst, why = C.judge("head_x", steps, rows("head_roll", 1.2))         # also rolls 1.2 thresholds
    assert not ok and worst == pytest.approx(1.2) and "tilt the head" in why
    assert not C.judge("head_x", steps, rows("head_roll", 0.8))[0]            # under 1 but not 2x less
    assert C.judge("head_x", steps, rows("head_roll", 0.6))[0]                # 0.6: under both
    bump = [{**r, "eyes_closed": (t / 3) ** 2 * 1.1 * thr["eyes_closed"]} for t, r in zip(steps, rows())]
    assert not C.judge("head_x", steps, bump)[0]                              # out and back counts too
    falling = [{**r, "head_x": -r["head_x"]} for r in rows()]
    assert "visibly and steadily" in C.judge("head_x", steps, falling)[2]


def test_tooltips_say_what_the_slider_does():
    for name in C.NAMES:
        tip = C.tooltip(name)
        assert tip.endswith("(-3..+3).") and " - " in tip and ", + " in tip, tip
