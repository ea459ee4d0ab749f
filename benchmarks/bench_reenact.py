"""Per-frame speed, accuracy and memory of ToonTalker inference, all measured in ONE run.

    python benchmarks/bench_reenact.py [--frames 8] [--threads 2] [--batch-size 8] [--compile]

Variants, on the same inputs and the published checkpoint layout (weights from the parity manifest when
../shared is there, else seeded random weights of the same layout):
  (a) reference: the reference demo's per-frame work (source appearance, source/driving/reference motion,
      query transformers, decode, render for every frame, batch 1); checked against the fixture's
      `forward_relative` output when the fixture is present;
  (b) cached fp32: the product's path (source and reference encoded once; per frame only the driving
      motion, transfer, decode, render, batched);
  (c) cached bf16 (on CPUs with native bf16, or GPUs);
  (d) optional: (b) under torch.compile;
  (r) optional, `--reference-code DIR`: the original implementation itself (a local checkout of
      OpenTalker/ToonTalker, whose `networks/` is imported from DIR at run time, never shipped here; its
      hard-coded `.cuda()` calls are made no-ops for the run), with the same weights, frame by frame.
Printed: s/frame, frames/s, time ratio to (a), max/mean |d| of (b) vs (a), PSNR of (c) and (d) vs (b), RSS,
and the model load time from .safetensors vs .pth. Machines here are noisy: compare ratios, not seconds.
"""
from __future__ import annotations

import argparse
import math
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from toontalker_core import stages as S  # noqa: E402
from toontalker_core.checkpoint import convert, load_model  # noqa: E402
from toontalker_core.manifest import read_manifest, write_reference_checkpoint  # noqa: E402
from toontalker_core.runtime import reenact_batch  # noqa: E402

SHARED = Path(os.environ.get("TOONTALKER_SHARED", REPO.parent / "shared"))
PARITY = SHARED / "fixtures" / "parity"


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load_inputs(n: int) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """Source [1,3,256,256] and n driving frames in [0,1]; the fixture's images when present."""
    if (PARITY / "source_real.png").exists():
        from PIL import Image

        def img(p):
            return torch.from_numpy(np.array(Image.open(p).convert("RGB"), dtype=np.float32)).permute(2, 0, 1) / 255

        frames = [img(p) for p in sorted((PARITY / "driving").glob("*.png"))]
        driving = torch.stack([frames[i % len(frames)] for i in range(n)])
        return img(PARITY / "source_real.png")[None], driving, True
    g = torch.Generator().manual_seed(0)
    low = torch.rand(n + 1, 3, 16, 16, generator=g)
    imgs = torch.nn.functional.interpolate(low, size=(256, 256), mode="bicubic").clamp(0, 1)
    return imgs[:1], imgs[1:], False


def make_checkpoints(d: Path) -> tuple[Path, Path, str]:
    if (PARITY / "manifest.json").exists():
        manifest, origin = read_manifest(PARITY / "manifest.json"), "parity manifest"
    else:  # the same layout with seeded random weights
        manifest, origin = _random_manifest(), "random weights (no fixture)"
    pth = write_reference_checkpoint(manifest, d / "in-domain.pth", cross_domain=False)
    return pth, convert(pth, d / "in-domain.safetensors"), origin


def _random_manifest() -> dict:
    from toontalker_core.config import ModelConfig
    from toontalker_core.generator import Generator

    torch.manual_seed(0)
    sd = Generator(ModelConfig()).state_dict()
    keys = {}
    for k, v in sd.items():
        if k.endswith("kernel"):
            keys[k] = {"shape": list(v.shape), "value": v.flatten().tolist()}
        else:
            std = 0.005 if "to_flows" in k else (0.02 if v.ndim <= 2 and "modulation" not in k else 1.0)
            keys[k] = {"shape": list(v.shape), "mean": 1.0 if k.endswith("modulation.bias") else 0.0, "std": std}
    return {"prefix": "bench-", "keys": keys}


def timed_load(path: Path, **kw):
    t = time.perf_counter()
    model = load_model(path, **kw)
    return model, time.perf_counter() - t


def run_reference(model, source01, driving01) -> torch.Tensor:
    """(a) what the reference demo does for every frame, from the core's stages, batch 1."""
    out = []
    with torch.inference_mode():
        src_x = S.to_model_range(source01, model)
        ref_x = S.to_model_range(driving01[:1], model)
        for i in range(len(driving01)):
            src = S.encode_source(model, src_x, "real")          # appearance + source motion, every frame
            drv = S.encode_driving(model, S.to_model_range(driving01[i:i + 1], model), "real")
            ref = S.encode_driving(model, ref_x, "real")         # the reference frame, every frame
            z = S.transfer(src, drv.canon_T1, 1.0, "relative", ref.canon_T1)
            out.append(S.render(model, src, S.decode(model, src, z)).float())
    return torch.cat(out)


def run_cached(model, source01, driving01, batch_size: int, fn=reenact_batch) -> torch.Tensor:
    """(b)/(c)/(d) the product's path; the source and reference encodes are included in the time."""
    with torch.inference_mode():
        src = S.encode_source(model, S.to_model_range(source01, model), "real")
        ref = S.encode_driving(model, S.to_model_range(driving01[:1], model), "real")
        outs = [fn(model, src, driving01[i:i + batch_size], "real", 1.0, "relative", ref.canon_T1)
                for i in range(0, len(driving01), batch_size)]
    return torch.cat(outs) * 2 - 1  # back to the model's [-1,1] scale for comparisons


def load_original(code_dir: Path, state: dict):
    """The reference implementation from a local checkout, on the CPU, with `state` loaded."""
    sys.path.insert(0, str(code_dir))
    torch.Tensor.cuda = lambda self, *a, **k: self  # the original moves its sampling grid to CUDA
    from networks.generator import Generator_trans_w  # type: ignore

    net = Generator_trans_w(256, 512, 20, 1)
    net.load_state_dict(state)
    return net.eval()


def run_original(net, source01, driving01) -> torch.Tensor:
    """The reference demo's loop: forward_relative(source, frame, frame 0) for every frame."""
    with torch.no_grad():
        s, d = source01 * 2 - 1, driving01 * 2 - 1
        return torch.cat([net.forward_relative(s, d[i:i + 1], d[:1]) for i in range(len(d))])


def timed(fn, *args, repeats: int = 1):
    best, out = math.inf, None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn(*args)
        best = min(best, time.perf_counter() - t)
    return out, best


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR on the [0,1] image scale (outputs clamped as the product writes them)."""
    a01, b01 = (a.clamp(-1, 1) + 1) / 2, (b.clamp(-1, 1) + 1) / 2
    mse = (a01 - b01).pow(2).mean().item()
    return float("inf") if mse == 0 else 10 * math.log10(1 / mse)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--compile", action="store_true", help="also measure (b) under torch.compile")
    ap.add_argument("--skip-bf16", action="store_true")
    ap.add_argument("--reference-code", type=Path, help="local checkout of OpenTalker/ToonTalker (see above)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    source01, driving01, fixture_inputs = load_inputs(args.frames)
    with tempfile.TemporaryDirectory() as tmp:
        pth, st, origin = make_checkpoints(Path(tmp))
        model, t_pth = timed_load(pth)
        model, t_st = timed_load(st)
        model_bf16 = None if args.skip_bf16 else load_model(st, dtype=torch.bfloat16)
        original = load_original(args.reference_code, model.gen.state_dict()) if args.reference_code else None
    print(f"weights: {origin}; inputs: {'fixture images' if fixture_inputs else 'random'}; "
          f"{args.frames} frames, {args.threads} threads, batch {args.batch_size}; torch {torch.__version__}")
    print(f"model load: .safetensors {t_st:.2f}s vs .pth {t_pth:.2f}s (x{t_pth / t_st:.1f})")

    rows = []
    if original is not None:
        orig_out, t_orig = timed(run_original, original, source01, driving01)
    ref_out, t_ref = timed(run_reference, model, source01, driving01)
    rows.append(("(a) reference per-frame, fp32", t_ref, ref_out, rss_mb()))
    if fixture_inputs and args.frames >= 4:
        expected = np.load(PARITY / "expected.npz")["indomain_relative"]
        d = np.abs(ref_out[:4].numpy() - expected)
        print(f"(a) vs fixture forward_relative: max |d| {d.max():.2e}, mean |d| {d.mean():.2e}")
    fast, t_fast = timed(run_cached, model, source01, driving01, args.batch_size)
    rows.append(("(b) cached, fp32", t_fast, fast, rss_mb()))
    if model_bf16 is not None:
        run_cached(model_bf16, source01, driving01[:2], 2)  # warm-up (oneDNN bf16 kernels)
        out16, t16 = timed(run_cached, model_bf16, source01, driving01, args.batch_size)
        rows.append(("(c) cached, bf16", t16, out16.float(), rss_mb()))
    if args.compile:
        compiled = torch.compile(reenact_batch, dynamic=False)
        run_cached(model, source01, driving01, args.batch_size, compiled)  # compile
        outc, tc = timed(run_cached, model, source01, driving01, args.batch_size, compiled)
        rows.append(("(d) cached, fp32, torch.compile", tc, outc, rss_mb()))

    n = args.frames
    if original is not None:
        rows.insert(0, ("(r) original implementation, fp32", t_orig, orig_out, rss_mb()))
    print(f"\n{'variant':34s} {'s/frame':>8s} {'frames/s':>9s} {'x time of (a)':>13s} "
          f"{'max|d| vs a':>12s} {'mean|d| vs a':>13s} {'PSNR vs b':>10s} {'peak RSS MB':>12s}")
    print("(|d| on clamped images, the [-1,1] scale the product writes; PSNR on [0,1])")
    for name, t, out, rss in rows:
        # the product writes clamp(x, -1, 1): compare what users get
        d = (out.clamp(-1, 1) - ref_out.clamp(-1, 1)).abs()
        p = psnr(out, fast) if out is not fast else float("inf")
        print(f"{name:34s} {t / n:8.3f} {n / t:9.2f} {t / t_ref:13.3f} {d.max().item():12.2e} "
              f"{d.mean().item():13.2e} {p:10.1f} {rss:12.0f}")
    if original is not None:
        print("\nx time of (r), the original implementation: " + ", ".join(
            f"{name.split()[0]} {t / t_orig:.3f}" for name, t, *_ in rows[1:]))


if __name__ == "__main__":
    main()
