"""Time per Motion Editor slider change on a still: only the edit, decode and render of one frame re-run
(the encoded source comes from the cache), against redoing everything from the image.

    python benchmarks/bench_motion_preview.py [--checkpoint FILE ...] [--precision auto|fp32|bf16] [--repeat N]

Without --checkpoint: the bundled demo model and a 256 px model in the published layout (synthetic weights
from the parity fixture's manifest, ../shared/fixtures/parity/manifest.json). Prints ratios measured in
one run (timings on a shared machine are noisy).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))  # manifest.py: test weights of the published layout
from toontalker_core import stages as S  # noqa: E402
from toontalker_core.model.checkpoint import load_model, save_safetensors  # noqa: E402
from toontalker_core.motion.edit import edit_codes, motion_directions, probe_image  # noqa: E402
from toontalker_core.resources import BUNDLED_DIR, PACK_ROOT  # noqa: E402
from toontalker_core.precision import resolve_dtype  # noqa: E402

MANIFEST = PACK_ROOT.parent / "shared" / "fixtures" / "parity" / "manifest.json"


def fixture_checkpoint(folder: Path) -> Path:
    from toontalker_core.model.checkpoint import build_model
    from manifest import materialize, read_manifest

    manifest = read_manifest(MANIFEST)
    model = build_model({r: materialize(manifest, r) for r in ("gen", "gen_real")})
    return save_safetensors(model, folder / "fixture-layout-256.safetensors")


def timed(fn, repeat: int) -> float:
    fn()  # warm-up (first-call kernel selection)
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


@torch.inference_mode()
def bench(path: Path, precision: str, repeat: int) -> None:
    model = load_model(path, dtype=resolve_dtype(precision, torch.device("cpu")))
    image = probe_image("real", model.cfg.size)
    source = S.encode_source(model, S.to_model_range(image, model), "real")
    dirs = motion_directions(model, "real")
    g = torch.Generator().manual_seed(0)

    def slider_change():  # what the Motion Editor re-runs
        w = torch.randn(dirs.count, generator=g)
        z = edit_codes(source.canon_T0 + source.canon_T1, dirs, w)
        return S.to_unit_range(S.render(model, source, S.decode(model, source, z)))

    def from_scratch():  # the same still, everything recomputed from the image
        src = S.encode_source(model, S.to_model_range(image, model), "real")
        z = edit_codes(src.canon_T0 + src.canon_T1, dirs, torch.randn(dirs.count, generator=g))
        return S.to_unit_range(S.render(model, src, S.decode(model, src, z)))

    t_edit, t_full = timed(slider_change, repeat), timed(from_scratch, repeat)
    print(f"{path.name:42s} {model.cfg.size:4d}px {str(model.dtype).replace('torch.', ''):9s} "
          f"slider change {t_edit * 1000:8.1f} ms   from the image {t_full * 1000:8.1f} ms   "
          f"x {t_edit / t_full:.2f}", flush=True)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--checkpoint", action="append", type=Path)
    p.add_argument("--precision", default="auto")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        paths = args.checkpoint or [BUNDLED_DIR / "cross-domain-demo-64px.safetensors", fixture_checkpoint(Path(tmp))]
        for path in paths:
            bench(path, args.precision, args.repeat)


if __name__ == "__main__":
    main()
