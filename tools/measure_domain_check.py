"""Measure the domain check (toontalker_core/domain_check.py) on the project's real and cartoon sets.

    python tools/measure_domain_check.py [--media ../shared/media] [--count 100] [--stats]

Sets (truth in brackets):
- generated-fit / generated-held: procedural cartoons (toontalker_train/cartoon.py render) [cartoon] and the
  public-domain stills animated by toontalker_train/realmotion.py, with new face shapes and box jitter
  [real], at 64, 128 and 256 px; "fit" (seed 0) is what the thresholds were chosen on, "held" (seed 1) is
  not,
- samples: the pack's samples/ (two portraits; the two driving clips, each as a whole and as single frames),
- shared-*: ../shared/media (SOURCES.txt: real/ and the driving clips are people, cartoon/ are cartoons;
  their statistics were in view when the thresholds were chosen, so only generated-held is a clean hold-out);
  skipped when absent.

For each item the verdict is the domain it looks like, or unsure. A verdict equal to the truth is a true
positive (a run that encodes it as the other domain gets the warning); the opposite verdict is a false
positive (a correct run would be warned); unsure gives no warning either way. The media in ../shared/media
are for tests only: never copy them into the repository.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from toontalker_core.domain_check import image_stats, spread  # noqa: E402
from toontalker_core.media import load_image, probe_driving, read_frame  # noqa: E402

SIZES = (64, 128, 256)


@dataclass
class Item:
    name: str
    truth: str
    images: torch.Tensor  # [3,H,W] or [N,3,H,W] in 0..1


def generated(count: int, seed: int) -> list[Item]:
    """`count` procedural cartoons and `count` animated real stills, sizes cycling through SIZES."""
    from toontalker_train import cartoon
    from toontalker_train.realmotion import StillBank, random_identity_warp

    g = torch.Generator().manual_seed(seed)
    items = []
    for k, size in enumerate(SIZES):
        n = count // len(SIZES) + (k < count % len(SIZES))
        faces = cartoon.render(cartoon.random_identity(n, g), cartoon.random_motion(n, g), size=size)
        items += [Item(f"cartoon {size}px #{i}", "cartoon", faces[i]) for i in range(n)]
        bank = StillBank(size=size)
        for i, idx in enumerate(bank.pick(n, g).tolist()):
            jitter = (torch.rand(3, generator=g) - 0.5) * torch.tensor([0.3, 0.3, 0.4])
            im = bank.render(idx, cartoon.random_motion(1, g), box_jitter=jitter,
                             identity=random_identity_warp(g))
            items.append(Item(f"{bank.names[idx]} {size}px #{i}", "real", im[0]))
    return items


def _clip(path: Path, truth: str, frames: int = 5) -> list[Item]:
    """A driving clip as a whole (the frames a node or the CLI would look at) and some single frames."""
    n = probe_driving(path).num_frames
    # the check looks at MAX_FRAMES frames spread over a clip: read just those
    whole = torch.stack([read_frame(path, i) for i in spread(n)])
    singles = [Item(f"{path.name}[{i}]", truth, read_frame(path, i))
               for i in torch.linspace(0, n - 1, frames).round().long().tolist()]
    return [Item(f"{path.name} (clip)", truth, whole)] + singles


def samples() -> list[Item]:
    s = ROOT / "samples"
    return ([Item("source_real.png", "real", load_image(s / "source_real.png")),
             Item("source_cartoon.png", "cartoon", load_image(s / "source_cartoon.png"))]
            + _clip(s / "driving.mp4", "real") + _clip(s / "driving_cartoon.mp4", "cartoon"))


def shared(media: Path) -> dict[str, list[Item]]:
    if not media.is_dir():
        return {}
    return {
        "shared-real": [Item(p.name, "real", load_image(p)) for p in sorted((media / "real").glob("*.jpg"))],
        "shared-cartoon": [Item(p.name, "cartoon", load_image(p)) for p in sorted((media / "cartoon").glob("*.jpg"))],
        "shared-driving": [i for p in sorted((media / "driving").glob("*.mp4")) for i in _clip(p, "real", 3)],
    }


def score(items: list[Item]) -> dict[str, int]:
    """Counts: n, tp (looks like its truth), fp (looks like the other domain), unsure."""
    out = {"n": len(items), "tp": 0, "fp": 0, "unsure": 0}
    for it in items:
        verdict = image_stats(it.images).verdict
        out["unsure" if verdict is None else "tp" if verdict == it.truth else "fp"] += 1
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--media", type=Path, default=ROOT.parent / "shared" / "media")
    ap.add_argument("--count", type=int, default=90, help="generated items per domain and seed")
    ap.add_argument("--stats", action="store_true", help="print each item's statistics and verdict")
    args = ap.parse_args(argv)
    gen_fit, gen_held = generated(args.count, 0), generated(args.count, 1)
    sets = {"generated-fit": gen_fit, "generated-held": gen_held, "samples": samples(), **shared(args.media)}
    print(f"{'set':16s} {'truth':8s} {'n':>4s} {'TP':>4s} {'FP':>4s} {'unsure':>6s}  TP rate  FP rate")
    for name, items in sets.items():
        for truth in ("real", "cartoon"):
            part = [i for i in items if i.truth == truth]
            if not part:
                continue
            c = score(part)
            print(f"{name:16s} {truth:8s} {c['n']:4d} {c['tp']:4d} {c['fp']:4d} {c['unsure']:6d}  "
                  f"{c['tp'] / c['n']:7.1%}  {c['fp'] / c['n']:7.1%}")
            if args.stats:
                for it in part:
                    st = image_stats(it.images)
                    print(f"    {it.name:32s} flat={st.flat:.3f} texture={st.texture:.3f} -> {st.verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
