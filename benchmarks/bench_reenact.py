"""Per-frame speed, accuracy and memory of ToonTalker inference, all measured in ONE run, on any device.

    python benchmarks/bench_reenact.py [--device cpu|cuda|mps] [--frames 8] [--threads 2] [--batch-size 8]
                                       [--precisions fp32,bf16,fp16] [--compile] [--reference-code DIR]

Variants, on the same inputs and the published checkpoint layout (weights from the parity manifest when
../shared is there, else seeded random weights of the same layout):
  (a) reference: the reference demo's per-frame work (source appearance, source/driving/reference motion,
      query transformers, decode, render for every frame, batch 1); checked against the fixture's
      `forward_relative` output when the fixture is present;
  (b) cached fp32: the product's path (source and reference encoded once; per frame only the driving
      motion, transfer, decode, render, batched); (c) the same in bf16, (h) in fp16 (guarded);
  (d) optional: (b) under torch.compile;
  (r) optional, `--reference-code DIR`: the original implementation itself (a local checkout of
      OpenTalker/ToonTalker, whose `networks/` is imported from DIR at run time, never shipped here; its
      hard-coded `.cuda()` calls are made no-ops for the run), with the same weights, frame by frame.
Then, in the default precision of the device: the stages one by one (motion encoder, transfer + backward
transformer, synthesis per sample vs all batched, face detection / crop / paste-back on 1920x1080 frames) and
end to end on 1920x1080 frames with crop none and crop auto (what the CLI and the all-in-one node run).
Printed as one table: s/frame, frames/s, time ratio to (a), max|d| and PSNR against fp32 (b), and peak memory
(RSS on the CPU; torch.cuda.max_memory_allocated per row on CUDA). Noisy machines: compare ratios, not seconds.
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
sys.path.insert(0, str(REPO / "tools"))  # manifest.py: test weights of the published layout

from toontalker_core import stages as S  # noqa: E402
from toontalker_core.model.checkpoint import convert, load_model  # noqa: E402
from manifest import read_manifest, write_reference_checkpoint  # noqa: E402
from toontalker_core.face import FaceCropper, crop, paste_back  # noqa: E402
from toontalker_core.face.crop import CropTransform  # noqa: E402
from toontalker_core.media import resize_to  # noqa: E402
from toontalker_core.pipeline import reenact_full_frames  # noqa: E402
from toontalker_core import runtime as R  # noqa: E402
from toontalker_core.model import synthesis  # noqa: E402
from toontalker_core.precision import resolve_dtype  # noqa: E402
from toontalker_core.runtime import reenact_batch, resolve_device  # noqa: E402

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
    from toontalker_core.model.config import ModelConfig
    from toontalker_core.model.generator import Generator

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
    with torch.inference_mode(), R.exact_fp32(model.device, model.dtype):
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
        src = R.encode_source(model, source01, "real")  # the library's door: guarded, true fp32
        ref = R.encode_reference(model, driving01[:1], "real")
        outs = [fn(model, src, driving01[i:i + batch_size], "real", 1.0, "relative", ref.canon_T1)
                for i in range(0, len(driving01), batch_size)]
    return torch.cat(outs) * 2 - 1  # back to the model's [-1,1] scale for comparisons


def load_original(code_dir: Path, state: dict, device: torch.device):
    """The reference implementation from a local checkout, on `device`, with `state` loaded."""
    sys.path.insert(0, str(code_dir))
    torch.Tensor.cuda = lambda self, *a, **k: self  # the original moves its sampling grid to CUDA
    from networks.generator import Generator_trans_w  # type: ignore

    net = Generator_trans_w(256, 512, 20, 1)
    net.load_state_dict(state)
    return net.eval().to(device)


def run_original(net, source01, driving01) -> torch.Tensor:
    """The reference demo's loop: forward_relative(source, frame, frame 0) for every frame, in true fp32
    (TF32 off on CUDA: with it the original's own output moved by up to 0.092 on an H200)."""
    with torch.no_grad(), R.exact_fp32(source01.device, torch.float32):
        s, d = source01 * 2 - 1, driving01 * 2 - 1
        return torch.cat([net.forward_relative(s, d[i:i + 1], d[:1]) for i in range(len(d))]).cpu()


DEVICE = torch.device("cpu")


def sync() -> None:
    if DEVICE.type == "cuda":
        torch.cuda.synchronize()
    elif DEVICE.type == "mps":
        torch.mps.synchronize()


def reset_peak() -> None:
    if DEVICE.type == "cuda":
        torch.cuda.reset_peak_memory_stats()


def peak_mb() -> float:
    """Peak VRAM since the last reset_peak() on CUDA; the process's peak RSS elsewhere."""
    if DEVICE.type == "cuda":
        return torch.cuda.max_memory_allocated() / 2 ** 20
    return rss_mb()


def timed(fn, *args, repeats: int = 1):
    best, out = math.inf, None
    for _ in range(repeats):
        sync()
        t = time.perf_counter()
        out = fn(*args)
        sync()
        best = min(best, time.perf_counter() - t)
    return out, best


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR on the [0,1] image scale (outputs clamped as the product writes them)."""
    a01, b01 = (a.clamp(-1, 1) + 1) / 2, (b.clamp(-1, 1) + 1) / 2
    mse = (a01 - b01).pow(2).mean().item()
    return float("inf") if mse == 0 else 10 * math.log10(1 / mse)


def full_frames(driving01: torch.Tensor, height: int = 1080, width: int = 1920) -> torch.Tensor:
    """The driving frames upscaled 2x onto a height x width gradient canvas (faces to detect, crop, paste)."""
    n = driving01.shape[0]
    y = torch.linspace(0, 1, height)[:, None].expand(height, width)
    x = torch.linspace(0, 1, width)[None, :].expand(height, width)
    canvas = torch.stack([0.3 + 0.4 * x, 0.35 + 0.3 * y, 0.5 - 0.2 * x * y])
    out = canvas[None].repeat(n, 1, 1, 1)
    face = torch.nn.functional.interpolate(driving01, scale_factor=2, mode="bicubic").clamp(0, 1)
    fy, fx = (height - face.shape[2]) // 2, (width - face.shape[3]) // 2
    out[:, :, fy:fy + face.shape[2], fx:fx + face.shape[3]] = face
    return out


def stage_rows(model, source01, driving01, batch_size: int) -> list[tuple]:
    """(name, seconds for all frames, peak MB) per stage and end to end, in the model's precision."""
    dev, rows = model.device, []
    frames = driving01.to(dev)
    big = full_frames(driving01).to(dev)

    def row(name, fn, *a):
        reset_peak()
        out, t = timed(fn, *a)
        rows.append((name, t, peak_mb()))
        return out

    def batches(x):
        return [x[i:i + batch_size] for i in range(0, len(x), batch_size)]

    with torch.inference_mode():
        src = R.encode_source(model, source01.to(dev), "real")
        ref = R.encode_reference(model, frames[:1], "real")
        motions = row("stage: motion encoder (driving)", lambda: [
            S.encode_driving(model, S.to_model_range(b, model), "real") for b in batches(frames)])
        latents = row("stage: transfer + backward transformer", lambda: [
            S.decode(model, src, S.transfer(src, m.canon_T1, 1.0, "relative", ref.canon_T1)) for m in motions])
        saved = dict(synthesis.PER_SAMPLE_FROM)
        try:
            synthesis.PER_SAMPLE_FROM[dev.type] = 64
            row("stage: synthesis, per sample from 64 px", lambda: [S.render(model, src, z) for z in latents])
            synthesis.PER_SAMPLE_FROM.pop(dev.type)
            row("stage: synthesis, all levels batched", lambda: [S.render(model, src, z) for z in latents])
        finally:
            synthesis.PER_SAMPLE_FROM.clear()
            synthesis.PER_SAMPLE_FROM.update(saved)
        cropper = FaceCropper(model.cfg.size, "tracked")
        cropper.start(big[0])
        transforms = row("stage: face detection + tracking, 1080p", lambda: [cropper.transforms(b) for b in batches(big)])
        crops = row("stage: face crop, 1080p", lambda: [crop(b, t) for b, t in zip(batches(big), transforms)])
        t_src = CropTransform.from_boxes([(520.0, 240.0, 600.0)], model.cfg.size, tuple(big.shape[-2:]))
        row("stage: paste-back, 1080p", lambda: [paste_back(big[:1], c, t_src.repeat(len(c))) for c in crops])
        size = model.cfg.size
        row("end to end: crop none, 1080p frames", lambda: list(R.reenact_chunks(
            model, R.encode_source(model, resize_to(big[:1], size), "real"),
            (resize_to(b, size) for b in batches(big)), "real", 1.0, "relative",
            R.encode_reference(model, resize_to(big[:1], size), "real").canon_T1)))

        def auto():
            cr = FaceCropper(size, "tracked")
            box = cr.start(big[0])
            return list(reenact_full_frames(model, big[:1], box, cr, big[0], batches(big), "real", "real",
                                            batch_size=batch_size))
        row("end to end: crop auto, 1080p frames", auto)
    return rows


def main() -> None:
    global DEVICE
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cpu", help="cpu, cuda, mps or auto")
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--precisions", help="comma-separated from fp32,bf16,fp16 (default: fp32,bf16, and fp16 on "
                                         "GPUs; fp32 always runs, it is the reference)")
    ap.add_argument("--compile", action="store_true", help="also measure (b) under torch.compile")
    ap.add_argument("--skip-bf16", action="store_true", help="same as --precisions fp32")
    ap.add_argument("--skip-stages", action="store_true", help="only the variants table")
    ap.add_argument("--reference-code", type=Path, help="local checkout of OpenTalker/ToonTalker (see above)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    DEVICE = dev = resolve_device(args.device)
    if args.precisions:
        precisions = [p for p in args.precisions.split(",") if p and p != "fp32"]
    else:
        precisions = [] if args.skip_bf16 else (["bf16"] if dev.type == "cpu" else ["bf16", "fp16"])
    if dev.type == "cuda" and not torch.cuda.is_bf16_supported() and "bf16" in precisions and not args.precisions:
        precisions.remove("bf16")
    dtypes = {"bf16": torch.bfloat16, "fp16": torch.float16}

    source01, driving01, fixture_inputs = load_inputs(args.frames)
    with tempfile.TemporaryDirectory() as tmp:
        pth, st, origin = make_checkpoints(Path(tmp))
        model, t_pth = timed_load(pth, device=dev)
        model, t_st = timed_load(st, device=dev)
        reduced = {p: load_model(st, device=dev, dtype=dtypes[p]) for p in precisions}
        auto_dtype = resolve_dtype("auto", dev)
        auto_model = model if auto_dtype == torch.float32 else (
            next((m for m in reduced.values() if m.dtype == auto_dtype), None) or load_model(st, device=dev, dtype=auto_dtype))
        original = load_original(args.reference_code, model.gen.state_dict(), dev) if args.reference_code else None
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else dev.type
    print(f"device: {name}; weights: {origin}; inputs: {'fixture images' if fixture_inputs else 'random'}; "
          f"{args.frames} frames, {args.threads} threads, batch {args.batch_size}; torch {torch.__version__}")
    print(f"model load: .safetensors {t_st:.2f}s vs .pth {t_pth:.2f}s (x{t_pth / t_st:.1f})")
    src_d, drv_d = source01.to(dev), driving01.to(dev)

    rows = []
    if original is not None:
        orig_out, t_orig = timed(run_original, original, src_d, drv_d)
    reset_peak()
    ref_out, t_ref = timed(run_reference, model, src_d, drv_d)
    ref_out = ref_out.cpu()
    rows.append(("(a) reference per-frame, fp32", t_ref, ref_out, peak_mb()))
    if fixture_inputs and args.frames >= 4:
        expected = np.load(PARITY / "expected.npz")["indomain_relative"]
        d = np.abs(ref_out[:4].numpy() - expected)
        print(f"(a) vs fixture forward_relative: max |d| {d.max():.2e}, mean |d| {d.mean():.2e}")
    reset_peak()
    fast, t_fast = timed(run_cached, model, src_d, drv_d, args.batch_size)
    fast = fast.cpu()
    rows.append(("(b) cached, fp32", t_fast, fast, peak_mb()))
    for p, m in reduced.items():
        run_cached(m, src_d, drv_d[:2], 2)  # warm-up (oneDNN / cuDNN kernels for this dtype)
        reset_peak()
        out, t = timed(run_cached, m, src_d, drv_d, args.batch_size)
        rows.append((f"({'c' if p == 'bf16' else 'h'}) cached, {p}", t, out.float().cpu(), peak_mb()))
    if args.compile:
        compiled = torch.compile(reenact_batch, dynamic=False)
        run_cached(model, src_d, drv_d, args.batch_size, compiled)  # compile
        outc, tc = timed(run_cached, model, src_d, drv_d, args.batch_size, compiled)
        rows.append(("(d) cached, fp32, torch.compile", tc, outc.cpu(), peak_mb()))
    if original is not None:
        rows.insert(0, ("(r) original implementation, fp32", t_orig, orig_out, rss_mb()))

    n = args.frames
    mem = "peak VRAM MB" if dev.type == "cuda" else "peak RSS MB"
    orig_cols = f" {'max|d| orig':>11s} {'mean|d| orig':>12s}" if original is not None else ""
    print(f"\n{'row':54s} {'s/frame':>8s} {'frames/s':>9s} {'x time (a)':>10s} {'max|d| fp32':>11s} "
          f"{'mean|d| fp32':>12s} {'PSNR fp32':>9s}{orig_cols} {mem:>12s}")
    for name, t, out, mb in rows:
        # the product writes clamp(x, -1, 1): compare what users get, against the fp32 cached path (b) and,
        # when it ran, the original implementation (r)
        d = (out.clamp(-1, 1) - fast.clamp(-1, 1)).abs()
        p = psnr(out, fast) if out is not fast else float("inf")
        extra = ""
        if original is not None:
            e = (out.clamp(-1, 1) - orig_out.clamp(-1, 1)).abs()
            extra = f" {e.max().item():11.2e} {e.mean().item():12.2e}"
        print(f"{name:54s} {t / n:8.3f} {n / t:9.2f} {t / t_ref:10.3f} {d.max().item():11.2e} "
              f"{d.mean().item():12.2e} {p:9.1f}{extra} {mb:12.0f}")
    if not args.skip_stages:
        label = str(auto_model.dtype).replace("torch.", "")
        for name, t, mb in stage_rows(auto_model, source01, driving01, args.batch_size):
            print(f"{name + ' (' + label + ')':54s} {t / n:8.3f} {n / t:9.2f} {t / t_ref:10.3f} {'':11s} "
                  f"{'':12s} {'':9s} {mb:12.0f}")
    print("(|d| on clamped images, the [-1,1] scale the product writes; PSNR on [0,1]; stage rows in the "
          "device's auto precision)")
    parts = []
    for name, t, out, _ in rows:
        if name.startswith(("(b)", "(c)", "(h)")):
            err = (out.clamp(-1, 1) - (orig_out if original is not None else fast).clamp(-1, 1)).abs().mean().item()
            parts.append(f"{name.split(', ')[-1]} {n / t:.1f} frames/s, mean|d| {err:.1e}")
    print(f"summary: against {'the original' if original is not None else 'fp32 (b)'}: " + "; ".join(parts))
    if original is not None:
        print("\nx time of (r), the original implementation: " + ", ".join(
            f"{name.split()[0]} {t / t_orig:.3f}" for name, t, *_ in rows[1:]))


if __name__ == "__main__":
    main()
