"""Named Motion Editor controls, discovered per checkpoint by measurement and cached by content hash.

Discovery (per domain the checkpoint serves): render the domain's probe portrait moved along each raw
motion direction (see `motion.edit`), measure every quantity of `motion.measure.QUANTITIES` on the renders,
and fit each quantity's slope per direction. A named control is the unit combination of raw directions
that moves its quantity and holds the others (least squares over the fitted slopes), or, if that fails,
along its gradient; it is kept only if re-rendering
along it over the whole slider range moves its quantity strictly monotonically by at least the quantity's
threshold. The measured values (and the side effects on the other quantities) go into the tooltips.

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

CACHE_VERSION = 2                         # 2: the denser monotonic check (CHECK_STEPS 9)
SLIDER_RANGE = 3.0                        # sliders run over [-3, 3]; discovery measures that whole range
FIT_STEPS = (-3.0, 3.0)                   # raw directions: renders for the slope fit (plus the unedited one)
CHECK_STEPS = 9                           # named controls: renders over the range for the monotonic check
                                          # (5 let a control through that reverses between its steps)
NOISE = 0.1  # x a quantity's threshold: re-rendering an edited face shifts the measurements by about this much
             # (e.g. the mouth darkness of a 64 px face by ~0.002 luma for any small edit), so "monotonic" means
             # never falling back by more than this
NAMES = tuple(QUANTITIES)
SHIPPED_DIR = BUNDLED_DIR / "motion_controls"  # the bundled model's controls, measured before release
Progress = Callable[[int, int], None]


def default_cache_dir() -> Path:
    root = os.environ.get("TOONTALKER_CACHE") or Path.home() / ".cache" / "toontalker"
    return Path(root) / "motion_controls"


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


def _sweep(model, dirs: MotionDirections, weights: torch.Tensor, steps: list[float]) -> list[dict]:
    """Measurements of the probe rendered at each step along `weights` ([K]), in the order of `steps`, which
    include 0 (the unedited render that relative quantities are measured from)."""
    base = dirs.probe.canon_T0.float() + dirs.probe.canon_T1.float()
    w = torch.tensor(steps)[:, None] * weights[None]
    return measure(render_codes(model, dirs.probe, base + edit_delta(dirs, w).to(base.device)),
                   reference=steps.index(0.0))


def is_monotonic(name: str, values: list[float]) -> bool:
    """Increasing over the slider, up to the measurement noise (`NOISE`)."""
    tol = NOISE * QUANTITIES[name][2]
    return all(b > a - tol for a, b in zip(values, values[1:]))


def _check(model, dirs: MotionDirections, name: str, weights: torch.Tensor) -> dict | None:
    """Re-measure `name` over the slider range along `weights`; the control's record if it is monotonic
    (increasing, up to the measurement noise) and moves at least the quantity's threshold, else None."""
    steps = torch.linspace(-SLIDER_RANGE, SLIDER_RANGE, CHECK_STEPS).tolist()
    steps[CHECK_STEPS // 2] = 0.0  # CHECK_STEPS is odd: the middle step is the unedited render
    rows = _sweep(model, dirs, weights, steps)
    values = [r[name] for r in rows]
    if not all(math.isfinite(v) for v in values):
        return None
    if not is_monotonic(name, values):
        return None
    if values[-1] - values[0] < QUANTITIES[name][2]:
        return None
    side = {q: rows[-1][q] - rows[0][q] for q in NAMES if q != name and math.isfinite(rows[-1][q] - rows[0][q])}
    return {"weights": [round(float(x), 6) for x in weights], "steps": steps, "values": values,
            "change": values[-1] - values[0], "side_effects": side}


def discover(model: ToonTalker, domain: str, progress: Progress | None = None) -> dict:
    """Named controls of `model` for `domain` (not cached; see `load_controls`)."""
    dirs = motion_directions(model, domain)
    k = dirs.count
    total = k + len(NAMES)
    slopes = torch.zeros(len(NAMES), k)
    raw = {}
    for i in range(k):
        xs = [0.0, *FIT_STEPS]
        rows = _sweep(model, dirs, torch.eye(k)[i], xs)
        per = {q: _slope(xs, [r[q] for r in rows]) for q in NAMES}
        for j, q in enumerate(NAMES):
            slopes[j, i] = per[q]
        raw[raw_name(i)] = {"slopes": per}
        if progress:
            progress(i + 1, total)
    named, rejected = {}, {}
    scaled = slopes / torch.tensor([QUANTITIES[q][2] for q in NAMES])[:, None]  # in effect thresholds
    pure = torch.linalg.pinv(scaled)                                             # [K, Q]
    for j, name in enumerate(NAMES):
        found = None
        for w in (pure[:, j], slopes[j]):  # moves `name` alone; else along its gradient
            if w.norm() > 0 and math.isfinite(w.norm()):
                found = _check(model, dirs, name, w / w.norm())
                if found:
                    break
        if found:
            named[name] = found
        else:
            rejected[name] = "no direction moves it monotonically by at least " \
                             f"{QUANTITIES[name][2]} {QUANTITIES[name][1]} over the slider range"
        if progress:
            progress(k + j + 1, total)
    return {"directions": k, "named": named, "rejected": rejected, "raw": raw}


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
    return {"directions": directions, "named": {}, "rejected": dict.fromkeys(NAMES, "not measured yet: set a named "
                                                                                  "control to measure them (once)")}


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


def control_weights(controls: dict, values: dict[str, float]) -> torch.Tensor:
    """Slider values {named control or raw direction d00..: value} -> raw edit weights [K]."""
    k = controls["directions"]
    w = torch.zeros(k)
    for name, value in values.items():
        value = float(value)
        if not math.isfinite(value):
            raise InputError(f"control '{name}' must be a finite number, got {value}")
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
        elif name in QUANTITIES:
            raise InputError(f"'{name}' was not found in this checkpoint's motion directions by measurement "
                             f"({controls['rejected'].get(name, 'not measured')}); set it to 0 and use the raw "
                             "direction sliders")
        else:
            raise InputError(f"unknown motion control '{name}': use one of {', '.join(NAMES)} or d00..."
                             f"{raw_name(k - 1)}")
    return w


def describe_control(name: str, record: dict, brief: bool = False) -> str:
    """One line for a tooltip: the measured change over the slider range and the main side effects."""
    what, unit, _ = QUANTITIES[name]
    lo, hi = record["values"][0], record["values"][-1]
    side = sorted(record["side_effects"].items(), key=lambda kv: -abs(kv[1]) / QUANTITIES[kv[0]][2])[:2]
    also = "; ".join(f"{q} {v:+.3g}" for q, v in side if abs(v) >= QUANTITIES[q][2] / 2)
    head = "" if brief else f"{name}: {what} "
    tail = "" if brief else f" over -{SLIDER_RANGE:g}..+{SLIDER_RANGE:g}"
    return f"{head}{lo:+.3g} -> {hi:+.3g} {unit}{tail}" + (f" (also {also})" if also else "")


def controls_table(controls: dict) -> str:
    """Markdown table of the discovered named controls."""
    lines = ["| control | measured quantity | at -3 | at 0 | at +3 | unit | side effects over the range |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for name, rec in controls["named"].items():
        v = rec["values"]
        side = ", ".join(f"{q} {d:+.3g}" for q, d in rec["side_effects"].items() if abs(d) >= QUANTITIES[q][2] / 2)
        lines.append(f"| {name} | {QUANTITIES[name][0]} | {v[0]:+.3g} | {v[len(v) // 2]:+.3g} | {v[-1]:+.3g} | "
                     f"{QUANTITIES[name][1]} | {side or '-'} |")
    for name, why in controls["rejected"].items():
        lines.append(f"| ({name}) | not found: {why} | | | | | |")
    return "\n".join(lines)
