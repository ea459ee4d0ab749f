"""Named Motion Editor controls, discovered per checkpoint by measurement and cached by content hash.

Discovery (per domain the checkpoint serves) measures before it offers anything:

1. Fit: render the domain's probe portrait moved along each raw motion direction (see `motion.edit`) and fit
   every quantity of `motion.measure.QUANTITIES` per direction: the slopes S [quantities x directions], in
   units of each quantity's threshold (the smallest change over the slider range that counts as an effect).
2. Isolate: a named control starts as the combination of raw directions that, in that linear fit, moves its
   own quantity and holds every other one (the pseudo-inverse of S: the smallest such combination).
   A second seed is the gradient (the strongest mover of the quantity, whatever else it moves).
3. Check and re-fit: render along the candidate over the whole slider range (CHECK_STEPS renders; a candidate
   that passes is confirmed on as many renders between those) and measure every quantity on those renders. The renders are not linear in the weights, so the candidate still moves
   other quantities; their measured slopes are fed back (a quasi-Newton step: the fitted slopes are the
   Jacobian, corrected along each measured candidate by Broyden's rule; remove the measured cross-talk, keep
   the own effect, size it for TARGET thresholds), up to REFITS times per seed.
4. Offer a control only if its check renders show: its own quantity increasing over the range (up to the
   measurement noise, NOISE) by at least its threshold, and every other quantity moving less than ISOLATION x
   its threshold over the range, and less than 1/DOMINANCE of the own change. A side effect is the larger of
   the quantity's change from the first check render to the last and the largest excursion from the unedited
   value of a quadratic fitted through all check renders (so an effect that goes out and comes back counts
   too). Otherwise the control is
   rejected with the reason in plain words; a rejected control set to a nonzero value is ignored with one
   warning line (`ignored_controls`), never an error.

The tolerance, ISOLATION = 1 and DOMINANCE = 2: a quantity's threshold is by definition the smallest change
over the slider range that counts as an effect, so a side effect under it is no effect in the measurement's
own terms, and the own quantity moving at least twice as much as anything else is what makes the slider do
one thing. Tighter does not separate anything on the measured models: the fitted side effects of a control
that moves nothing else still read ~0.2-0.5 x threshold (for the eye and mouth boxes, whose statistics shift
whenever the face moves under them), and on the bundled 64 px model the best candidates sit at 0.5-0.9.

The result is a small JSON file per checkpoint, `<cache_dir>/<content hash>.json`, so discovery runs once.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Callable

import torch

from ..atomic import atomic_write
from .. import runtime as R
from .. import stages as S
from ..errors import InputError
from ..model.toontalker import ToonTalker
from ..model.identity import model_identity
from .edit import MotionDirections, edit_delta, motion_directions, raw_name
from .measure import QUANTITIES, measure
from ..resources import BUNDLED_DIR

CACHE_VERSION = 3                         # 3: decoupled controls (re-fit on the measured cross-talk, ISOLATION)
SLIDER_RANGE = 3.0                        # sliders run over [-3, 3]; discovery measures that whole range
FIT_STEPS = (-3.0, 3.0)                   # raw directions: renders for the slope fit (plus the unedited one)
CHECK_STEPS = 9                           # named controls: renders over the range for the check
                                          # (5 let a control through that reverses between its steps)
NOISE = 0.1  # x a quantity's threshold: re-rendering an edited face shifts the measurements by about this much
             # (e.g. the mouth darkness of a 64 px face by ~0.002 luma for any small edit), so "monotonic" means
             # never falling back by more than this
ISOLATION = 1.0  # x a quantity's threshold: the most any other quantity may move over the range ...
DOMINANCE = 2.0  # ... and its own quantity must move at least this many times the largest side effect
REFITS = 3       # re-fits on the measured cross-talk after each seed
PINV_RTOL = 0.05 # singular values of the slope fit under this fraction of the largest are noise, not motion
TARGET = 2.0     # x the own threshold: the change over the range a control is sized for ...
MAX_NORM = 1.5   # ... with raw weights of at most this norm (a raw slider at 3 has norm 3: past that the
                 # renders leave what the model learned)
NAMES = tuple(QUANTITIES)
SHIPPED_DIR = BUNDLED_DIR / "motion_controls"  # the bundled model's controls, measured before release
Progress = Callable[[int, int], None]

# What each slider does, in plain words: (what it does, what - does, what + does); and a short verb phrase for
# a side effect ("it would also tilt the head").
PLAIN = {
    "head_yaw": ("Turns the head", "to the left", "to the right"),
    "head_pitch": ("Nods the head", "up", "down"),
    "head_roll": ("Tilts the head", "counter-clockwise", "clockwise"),
    "head_x": ("Moves the head sideways", "to the left", "to the right"),
    "head_y": ("Moves the head up or down", "up", "down"),
    "head_scale": ("Makes the head bigger or smaller", "smaller", "bigger"),
    "mouth_open": ("Opens or closes the mouth", "closes", "opens"),
    "eyes_closed": ("Closes or opens the eyes", "opens wider", "closes"),
}
ALSO = {"head_yaw": "turn the head", "head_pitch": "nod the head", "head_roll": "tilt the head",
        "head_x": "move the head sideways", "head_y": "move the head up or down", "head_scale": "resize the head",
        "mouth_open": "change the mouth", "eyes_closed": "change the eyes"}


def default_cache_dir() -> Path:
    root = os.environ.get("TOONTALKER_CACHE") or Path.home() / ".cache" / "toontalker"
    return Path(root) / "motion_controls"


def thresholds() -> torch.Tensor:
    return torch.tensor([QUANTITIES[q][2] for q in NAMES], dtype=torch.float64)


@torch.inference_mode()
def render_codes(model: ToonTalker, source: S.EncodedSource, codes: torch.Tensor, batch: int = 8) -> torch.Tensor:
    """Canonical codes [N, M, D] decoded and rendered on `source` -> [N,3,H,W] in [0,1] (CPU float32)."""
    out = []
    for i in range(0, codes.shape[0], batch):
        z = codes[i:i + batch].to(model.device, model.dtype)
        out.append(R.synthesize(model, source, z).cpu())
    return torch.cat(out)


def _slope(xs: list[float], ys: list[float]) -> float:
    pts = [(x, y) for x, y in zip(xs, ys) if math.isfinite(y)]
    if len(pts) < 3:
        return 0.0
    mx = sum(x for x, _ in pts) / len(pts)
    my = sum(y for _, y in pts) / len(pts)
    sxx = sum((x - mx) ** 2 for x, _ in pts)
    return sum((x - mx) * (y - my) for x, y in pts) / sxx


def sweep(model, dirs: MotionDirections, weights: torch.Tensor, steps: list[float]) -> list[dict]:
    """Measurements of the probe rendered at each step along `weights` ([K]), in the order of `steps`, which
    include 0 (the unedited render that relative quantities are measured from)."""
    base = dirs.probe.canon_T0.float() + dirs.probe.canon_T1.float()
    w = torch.tensor(steps)[:, None] * weights.float()[None]
    return measure(render_codes(model, dirs.probe, base + edit_delta(dirs, w).to(base.device)),
                   reference=steps.index(0.0))


def check_steps() -> list[float]:
    steps = torch.linspace(-SLIDER_RANGE, SLIDER_RANGE, CHECK_STEPS).tolist()
    steps[CHECK_STEPS // 2] = 0.0  # CHECK_STEPS is odd: the middle step is the unedited render
    return steps


def between_steps() -> list[float]:
    """The midpoints between the check steps, and the unedited render (the reference of the relative quantities)."""
    steps = check_steps()
    mid = [(a + b) / 2 for a, b in zip(steps, steps[1:])]
    return mid[:len(mid) // 2] + [0.0] + mid[len(mid) // 2:]


def is_monotonic(name: str, values: list[float]) -> bool:
    """Increasing over the slider, up to the measurement noise (`NOISE`)."""
    tol = NOISE * QUANTITIES[name][2]
    return all(b > a - tol for a, b in zip(values, values[1:]))


def fit_slopes(model, dirs: MotionDirections, progress: Callable[[int], None] | None = None) -> torch.Tensor:
    """Slope of every quantity per raw direction, in thresholds per unit weight: [quantities, K] (float64)."""
    xs = [0.0, *FIT_STEPS]
    slopes = torch.zeros(len(NAMES), dirs.count, dtype=torch.float64)
    for i in range(dirs.count):
        rows = sweep(model, dirs, torch.eye(dirs.count)[i], xs)
        for j, q in enumerate(NAMES):
            slopes[j, i] = _slope(xs, [r[q] for r in rows])
        if progress:
            progress(i + 1)
    return slopes / thresholds()[:, None]


def _quadratic(steps: list[float], values: list[float]) -> tuple[float, float]:
    """Least-squares (b, c) of values ~ a + b t + c t^2 over the steps."""
    t = torch.tensor(steps, dtype=torch.float64)
    A = torch.stack([torch.ones_like(t), t, t * t], 1)
    coef = torch.linalg.lstsq(A, torch.tensor(values, dtype=torch.float64)[:, None]).solution[:, 0]
    return coef[1].item(), coef[2].item()


def effects(steps: list[float], rows: list[dict]) -> dict:
    """What a check sweep measured, per quantity in thresholds (NaN where the face was not measurable):
    "change": last render - first (over -3..+3); "slope": of a quadratic fitted through all renders, per unit
    slider (the renders' jitter averages out); "side": the larger of |change| and that quadratic's largest
    excursion from the unedited value over the range (an effect that goes out and comes back counts too)."""
    thr = dict(zip(NAMES, thresholds().tolist()))
    out = {"change": {}, "slope": {}, "side": {}}
    for q in NAMES:
        v = [r[q] / thr[q] for r in rows]
        if not all(math.isfinite(x) for x in v):
            out["change"][q] = out["slope"][q] = out["side"][q] = float("nan")
            continue
        b, c = _quadratic(steps, v)
        out["change"][q] = v[-1] - v[0]
        out["slope"][q] = b
        out["side"][q] = max(abs(v[-1] - v[0]), *(abs(b * t + c * t * t) for t in steps))
    return out


def judge(name: str, steps: list[float], rows: list[dict]) -> tuple[bool, float, str]:
    """(offered, worst side effect in thresholds, why not in plain words) for a check sweep along a control."""
    values = [r[name] for r in rows]
    if not all(math.isfinite(v) for v in values):
        return False, math.inf, "the face is lost in the picture before the slider's end"
    if not is_monotonic(name, values) or values[-1] - values[0] < QUANTITIES[name][2]:
        return False, math.inf, f"no mix of this model's motions can {ALSO[name]} visibly and steadily"
    side = {q: s for q, s in effects(steps, rows)["side"].items() if q != name}
    if not all(math.isfinite(s) for s in side.values()):
        return False, math.inf, "the face is lost in the picture before the slider's end"
    worst = max(side, key=side.get)
    own = (values[-1] - values[0]) / QUANTITIES[name][2]
    if side[worst] >= ISOLATION or own < DOMINANCE * side[worst]:
        return False, side[worst], f"it cannot be separated: it would also {ALSO[worst]}"
    return True, side[worst], ""


def isolate(model, dirs: MotionDirections, name: str, slopes: torch.Tensor, start: torch.Tensor | None = None,
            refits: int = REFITS) -> tuple[dict | None, str, list[dict]]:
    """The control for quantity `name`: (its record or None, why not, the candidates tried with what they did).
    `slopes`: from `fit_slopes`. Two seeds are refined: the pseudo-inverse's combination (isolated in the
    linear fit) and the gradient (the strongest mover of `name`, which the fit's cross-talk is then removed
    from); the first candidate that passes `judge` wins, else the one with the smallest worst side effect.
    `start`: measure this one candidate only (kept as given; e.g. an older control, for comparison)."""
    j = NAMES.index(name)
    pinv = torch.linalg.pinv(slopes, rtol=PINV_RTOL)                  # [K, Q]: quantities -> weights
    steps = check_steps()
    seeds = [start.double()] if start is not None else [pinv[:, j].clone(), slopes[j].clone()]
    tried, best = [], None
    for w in seeds:
        jac = slopes.clone()              # the fitted slopes, corrected along every candidate measured (Broyden)
        if start is None:                 # sized for TARGET thresholds over the range by the linear fit
            pred = (slopes[j] @ w).item()
            w = w * (TARGET / (2 * SLIDER_RANGE * pred) if pred > 0 else 1.0)
            w = w * min(1.0, MAX_NORM / max(w.norm().item(), 1e-12))
        for _ in range(refits + 1 if start is None else 1):
            if not (w.norm() > 0 and math.isfinite(w.norm())):
                break
            at, rows = steps, sweep(model, dirs, w, steps)
            ok, worst, why = judge(name, at, rows)
            if ok and start is None:  # confirm between the check steps: a control must not wiggle there either
                merged = sorted(zip(steps + between_steps(), rows + sweep(model, dirs, w, between_steps())),
                                key=lambda sr: sr[0])
                at, rows = [s for s, _ in merged], [r for _, r in merged]
                ok, worst, why = judge(name, at, rows)
            eff = effects(at, rows)
            tried.append({"weights": w.tolist(), "offered": ok, "worst": worst, "why": why,
                          "values": [r[name] for r in rows], **eff})
            if best is None or (ok, -worst) > (best[1], -best[2]):
                best = (w, ok, worst, why, at, rows, eff)
            if ok:
                break
            slope = torch.tensor([eff["slope"][q] for q in NAMES], dtype=torch.float64)
            if not torch.isfinite(slope).all():
                break
            jac += torch.outer(slope - jac @ w, w) / (w @ w)
            own = slope[j].item()
            slope[j] = 0                      # remove the measured cross-talk, keep the own effect ...
            w = w - torch.linalg.pinv(jac, rtol=PINV_RTOL) @ slope
            if own > 0:                       # ... then size it for TARGET thresholds over the range
                w = w * TARGET / (2 * SLIDER_RANGE * own)
            w = w * min(1.0, MAX_NORM / w.norm().item())
        if best is not None and best[1]:
            break
    if best is None:  # nothing measurable: every fit slope is 0 when the renders show no face to measure
        why = ("no face is found in this model's renders to measure it on" if not slopes[j].any() else
               f"no mix of this model's motions can {ALSO[name]}")
        return None, why, tried
    w, ok, worst, why, at, rows, eff = best
    if not ok:
        return None, why, tried
    values = [r[name] for r in rows]
    record = {"weights": [round(float(x), 6) for x in w], "steps": at, "values": values,
              "change": values[-1] - values[0],
              "side_effects": {q: rows[-1][q] - rows[0][q] for q in NAMES if q != name},
              "side": {q: round(s, 4) for q, s in eff["side"].items() if q != name}, "fits": len(tried)}
    return record, "", tried


def discover(model: ToonTalker, domain: str, progress: Progress | None = None, trials: dict | None = None,
             slopes: torch.Tensor | None = None, refits: int = REFITS) -> dict:
    """Named controls of `model` for `domain` (not cached; see `load_controls`). `trials`: filled with every
    candidate measured per control (for reports); `slopes`: a `fit_slopes` result to reuse."""
    dirs = motion_directions(model, domain)
    k = dirs.count
    total = k + len(NAMES)
    if slopes is None:
        slopes = fit_slopes(model, dirs, (lambda i: progress(i, total)) if progress else None)
    named, rejected = {}, {}
    for j, name in enumerate(NAMES):
        record, why, tried = isolate(model, dirs, name, slopes, refits=refits)
        if trials is not None:
            trials[name] = tried
        if record:
            named[name] = record
        else:
            rejected[name] = why
        if progress:
            progress(k + j + 1, total)
    return {"directions": k, "named": named, "rejected": rejected,
            "raw": {raw_name(i): {"slopes": dict(zip(NAMES, (slopes[:, i] * thresholds()).tolist()))}
                    for i in range(k)}}


def _write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as tmp:
        tmp.write_text(json.dumps(data, indent=1))


def cache_path(model: ToonTalker, cache_dir: str | os.PathLike | None = None) -> Path:
    return Path(cache_dir or default_cache_dir()) / f"{model_identity(model)[:32]}.json"


def read_cache(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) and data.get("version") == CACHE_VERSION else {}


def cached_controls(model: ToonTalker, domain: str, cache_dir: str | os.PathLike | None = None) -> dict | None:
    """The controls measured earlier (shipped with the pack or cached), or None."""
    model.require_domain(domain, "edited")
    for path in (cache_path(model, SHIPPED_DIR), cache_path(model, cache_dir)):
        data = read_cache(path)
        if domain in data.get("domains", {}):
            return data["domains"][domain]
    return None


def raw_only(directions: int) -> dict:
    """Controls before measurement: the raw directions only (named ones are measured on first use)."""
    return {"directions": directions, "named": {}, "unmeasured": True,
            "rejected": dict.fromkeys(NAMES, "not measured yet: set a named control to measure them (once)")}


def load_controls(model: ToonTalker, domain: str, cache_dir: str | os.PathLike | None = None,
                  progress: Progress | None = None) -> dict:
    """The named controls of `model` for `domain`: from the cache, or discovered now and cached."""
    found = cached_controls(model, domain, cache_dir)
    if found is not None:
        return found
    found = discover(model, domain, progress)
    path = cache_path(model, cache_dir)
    data = read_cache(path) or {"version": CACHE_VERSION, "model_id": model_identity(model)}
    data["model"] = model.describe().split(",")[0] + f", {model.cfg.size}px"
    data.setdefault("domains", {})[domain] = found
    _write_json(path, data)
    return found


def ignored_controls(controls: dict, values: dict[str, float]) -> dict[str, str]:
    """The named controls set to a nonzero value that this checkpoint does not offer -> why (plain words)."""
    return {name: controls["rejected"].get(name, "not measured") for name, value in values.items()
            if name in QUANTITIES and name not in controls["named"] and _number(name, value) != 0}


def ignored_message(ignored: dict[str, str]) -> str:
    """One warning line for the controls `ignored_controls` found ('' when none)."""
    if not ignored:
        return ""
    what = "; ".join(f"{name} ({why})" for name, why in ignored.items())
    return f"ignored for this model: {what}. Set them to 0, or use the raw sliders under Show Advanced."


def _number(name: str, value) -> float:
    value = float(value)
    if not math.isfinite(value):
        raise InputError(f"control '{name}' must be a finite number, got {value}")
    return value


def control_weights(controls: dict, values: dict[str, float]) -> torch.Tensor:
    """Slider values {named control or raw direction d00..: value} -> raw edit weights [K]. A named control
    the checkpoint does not offer adds nothing (the caller warns once: `ignored_controls`, `ignored_message`)."""
    k = controls["directions"]
    w = torch.zeros(k)
    for name, value in values.items():
        value = _number(name, value)
        if value == 0:
            continue
        if name in controls["named"]:
            w += value * torch.tensor(controls["named"][name]["weights"])
        elif name.startswith("d") and name[1:].isdigit():
            i = int(name[1:])
            if i >= k:
                raise InputError(f"raw direction '{name}' does not exist: this checkpoint has {k} motion "
                                 f"directions (d00..{raw_name(k - 1)}); set it to 0")
            w[i] += value
        elif name not in QUANTITIES:
            raise InputError(f"unknown motion control '{name}': use one of {', '.join(NAMES)} or d00..."
                             f"{raw_name(k - 1)}")
    return w


def tooltip(name: str) -> str:
    """What the slider does, in plain words, and its range."""
    what, minus, plus = PLAIN[name]
    return f"{what}: - {minus}, + {plus} (-{SLIDER_RANGE:g}..+{SLIDER_RANGE:g})."


def availability(found: dict) -> dict[str, str]:
    """Per control of one checkpoint and domain, in plain words (for tooltips): 'works' or 'not available: why'."""
    return {name: "works" if name in found.get("named", {}) else
            f"not available: {found.get('rejected', {}).get(name, 'not measured yet')}" for name in NAMES}


def controls_table(controls: dict) -> str:
    """Markdown table of the discovered named controls (side effects: peak to peak over the range, in units of
    each quantity's threshold; a control is offered when all are under ISOLATION)."""
    lines = ["| control | what it does | measured quantity | at -3 | at 0 | at +3 | unit | largest side effect |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, rec in controls["named"].items():
        v = rec["values"]
        spread = rec.get("side", {})
        worst = max(spread, key=spread.get) if spread else None
        side = f"{worst} {spread[worst]:.2f}x threshold" if worst else "-"
        lines.append(f"| {name} | {tooltip(name)} | {QUANTITIES[name][0]} | {v[0]:+.3g} | {v[len(v) // 2]:+.3g} | "
                     f"{v[-1]:+.3g} | {QUANTITIES[name][1]} | {side} |")
    for name, why in controls["rejected"].items():
        lines.append(f"| ({name}) | not available: {why} | | | | | | |")
    return "\n".join(lines)
