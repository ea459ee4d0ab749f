"""Cross-talk of the Motion Editor's named controls, before and after decoupling, as matrices.

    python tools/measure_controls.py [--model bundled fixture | FILE ...] [--domain real cartoon]
                                     [--json OUT.json] [--png DIR] [--ship]

For each model and domain: rows = controls, columns = the measured quantities, each cell the quantity's change
over the slider range -3..+3 (last check render - first) in units of that quantity's threshold, measured on
the probe portrait rendered along the control. "before": the controls as discovery made them up to
CACHE_VERSION 2 (the pseudo-inverse of the slope fit, else the gradient; kept when the own quantity rose
monotonically by its threshold, whatever else moved). "after": `motion.controls.discover` now. Both start
from the same slope fit. The last column, "worst", is the largest side effect as the offer rule measures it
(the fitted excursion over the range, see `motion.controls.effects`); a control is offered when it is under
ISOLATION and the own change is DOMINANCE times it.

Models: "bundled" (the 64 px demo model), "fixture" (the published 256 px layout with the parity fixture's
synthetic weights, from ../shared/fixtures/parity), or checkpoint files. `--ship` writes the bundled model's
"after" controls into toontalker_core/weights/motion_controls/ (run it after any change to discovery, with
CACHE_VERSION bumped). At 256 px on 2 CPU cores this takes many minutes: run one domain at a time, and
`--refits 0` (the seeds only) to bound it.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

from toontalker_core.atomic import atomic_write  # noqa: E402
from toontalker_core.model.checkpoint import load_model  # noqa: E402
from toontalker_core.model.identity import model_identity  # noqa: E402
from toontalker_core.motion import controls as C  # noqa: E402
from toontalker_core.motion.edit import motion_directions  # noqa: E402
from toontalker_core.motion.measure import QUANTITIES  # noqa: E402
from toontalker_core.resources import BUNDLED_DIR  # noqa: E402

BUNDLED = BUNDLED_DIR / "cross-domain-demo-64px.safetensors"
SHARED = Path(os.environ.get("TOONTALKER_SHARED", ROOT.parent / "shared"))
SHORT = {"head_yaw": "yaw", "head_pitch": "pitch", "head_roll": "roll", "head_x": "x", "head_y": "y",
         "head_scale": "scale", "mouth_open": "mouth", "eyes_closed": "eyes"}


def fixture_model(tmp: Path):
    from manifest import read_manifest, write_reference_checkpoint

    manifest = SHARED / "fixtures" / "parity" / "manifest.json"
    if not manifest.is_file():
        sys.exit(f"error: the parity fixture {manifest} is missing (set TOONTALKER_SHARED)")
    return load_model(write_reference_checkpoint(read_manifest(manifest), tmp / "fixture.pth", cross_domain=True))


def legacy(model, dirs, name: str, slopes: torch.Tensor) -> dict:
    """The control discovery offered up to CACHE_VERSION 2: the pseudo-inverse's combination, else the
    gradient, at unit norm; offered when the own quantity rises monotonically by its threshold."""
    j = C.NAMES.index(name)
    last = None
    for w in (torch.linalg.pinv(slopes)[:, j], slopes[j]):
        if not (w.norm() > 0 and math.isfinite(w.norm())):
            continue
        _, _, tried = C.isolate(model, dirs, name, slopes, start=w / w.norm())
        last = tried[0]
        v = last["values"]
        if all(math.isfinite(x) for x in v) and C.is_monotonic(name, v) and v[-1] - v[0] >= QUANTITIES[name][2]:
            return {**last, "offered": True, "why": ""}  # the old rule: side effects were not looked at
        last["why"] = "not monotonic by its threshold"
    return {**(last or {}), "offered": False}


def matrix_rows(candidates: dict[str, dict]) -> list[dict]:
    rows = []
    for name in C.NAMES:
        c = candidates.get(name) or {}
        rows.append({"control": name, "offered": bool(c.get("offered")), "why": c.get("why", ""),
                     "change": {q: c.get("change", {}).get(q, float("nan")) for q in C.NAMES},
                     "worst": c.get("worst_side", float("nan"))})
    return rows


def worst_side(name: str, cand: dict) -> float:
    side = [v for q, v in cand.get("side", {}).items() if q != name]
    return max(side) if side and all(math.isfinite(v) for v in side) else float("nan")


def print_matrix(title: str, rows: list[dict]) -> None:
    print(f"\n{title}  (change over -3..+3 in thresholds; '*' = own quantity; worst = largest side effect)")
    print(f"{'control':12} {'offered':8}" + "".join(f"{SHORT[q]:>7}" for q in C.NAMES) + f"{'worst':>7}")
    for r in rows:
        cells = "".join(f"{r['change'][q]:+7.2f}".replace(" +", "*+" if q == r["control"] else " +")
                        .replace(" -", "*-" if q == r["control"] else " -") for q in C.NAMES)
        why = "" if r["offered"] else f"  ({r['why']})" if r["why"] else ""
        print(f"{r['control']:12} {'yes' if r['offered'] else 'no':8}{cells}{r['worst']:7.2f}{why}")


def measure_model(model, label: str, domains: list[str], ship: bool, refits: int = C.REFITS) -> dict:
    out = {}
    shipped = {"version": C.CACHE_VERSION, "model_id": model_identity(model),
               "model": model.describe().split(",")[0] + f", {model.cfg.size}px", "domains": {}}
    for domain in domains:
        t0 = time.perf_counter()
        dirs = motion_directions(model, domain)
        slopes = C.fit_slopes(model, dirs)
        before = {}
        for name in C.NAMES:
            cand = legacy(model, dirs, name, slopes)
            before[name] = {**cand, "worst_side": worst_side(name, cand)}
        trials: dict[str, list] = {}
        found = C.discover(model, domain, trials=trials, slopes=slopes, refits=refits)
        after = {}
        for name in C.NAMES:
            tried = trials[name]
            pick = next((t for t in tried if t["offered"]), None) or min(tried, key=lambda t: t["worst"],
                                                                         default={})  # {}: nothing measurable
            after[name] = {**pick, "offered": name in found["named"], "worst_side": worst_side(name, pick),
                           "why": found["rejected"].get(name, "")}
        out[domain] = {"before": matrix_rows(before), "after": matrix_rows(after),
                       "seconds": time.perf_counter() - t0}
        shipped["domains"][domain] = found
        print_matrix(f"{label} / {domain} / BEFORE", out[domain]["before"])
        print_matrix(f"{label} / {domain} / AFTER", out[domain]["after"])
        print(f"({out[domain]['seconds']:.0f} s)", flush=True)
    if ship:
        C.SHIPPED_DIR.mkdir(parents=True, exist_ok=True)
        with atomic_write(C.cache_path(model, C.SHIPPED_DIR)) as tmp:
            tmp.write_text(json.dumps(shipped, indent=1))
        print(f"shipped: {C.cache_path(model, C.SHIPPED_DIR)}")
    return out


def draw(results: dict, folder: Path) -> None:
    """One png per model and domain: the before and after matrices side by side, cells coloured by size."""
    from PIL import Image, ImageDraw

    cell, left, top = 54, 110, 46
    for label, per in results.items():
        for domain, mats in per.items():
            w = 2 * (left + cell * (len(C.NAMES) + 1)) + 20
            img = Image.new("RGB", (w, top + 24 * len(C.NAMES) + 10), "white")
            d = ImageDraw.Draw(img)
            for k, which in enumerate(("before", "after")):
                x0 = 10 + k * (left + cell * (len(C.NAMES) + 1))
                d.text((x0, 6), f"{label} / {domain}: {which}  (change over -3..+3 in thresholds)", fill="black")
                for i, q in enumerate([*C.NAMES, "worst"]):
                    d.text((x0 + left + i * cell + 4, 26), SHORT.get(q, q), fill="black")
                for r_i, row in enumerate(mats[which]):
                    y = top + r_i * 24
                    d.text((x0, y + 5), row["control"] + ("" if row["offered"] else " (no)"),
                           fill="black" if row["offered"] else "gray")
                    for i, q in enumerate([*C.NAMES, "worst"]):
                        v = row["worst"] if q == "worst" else row["change"][q]
                        own = q == row["control"]
                        if not math.isfinite(v):
                            color = (220, 220, 220)
                        elif own:
                            color = (120, 190, 255)
                        else:  # white = none, red = past one threshold
                            t = min(abs(v), 2.0) / 2.0
                            color = (255, int(255 * (1 - t)), int(255 * (1 - t)))
                        d.rectangle([x0 + left + i * cell, y, x0 + left + (i + 1) * cell - 2, y + 22], fill=color)
                        d.text((x0 + left + i * cell + 4, y + 5), "nan" if not math.isfinite(v) else f"{v:+.2f}",
                               fill="black")
            out = folder / f"crosstalk_{label}_{domain}.png"
            with atomic_write(out) as tmp:
                img.save(tmp, format="PNG")
            print(f"figure: {out}")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", nargs="+", default=["bundled", "fixture"])
    p.add_argument("--domain", nargs="+", default=["real", "cartoon"])
    p.add_argument("--json", type=Path, help="also write the matrices here")
    p.add_argument("--png", type=Path, help="draw the matrices into this folder")
    p.add_argument("--ship", action="store_true", help="write the bundled model's controls into the pack")
    p.add_argument("--refits", type=int, default=C.REFITS, help="re-fits per seed (fewer: faster at 256 px)")
    args = p.parse_args(argv)
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for spec in args.model:
            if spec == "bundled":
                model, label = load_model(BUNDLED), "bundled-64px"
            elif spec == "fixture":
                model, label = fixture_model(Path(tmp)), "fixture-256px"
            else:
                model, label = load_model(spec), Path(spec).stem
            domains = [d for d in args.domain if d in model.domains]
            results[label] = measure_model(model, label, domains, args.ship and spec == "bundled", args.refits)
    if args.json:
        with atomic_write(args.json) as tmp:
            tmp.write_text(json.dumps(results, indent=1, default=float))
    if args.png:
        args.png.mkdir(parents=True, exist_ok=True)
        draw(results, args.png)


if __name__ == "__main__":
    main()
