"""Command line: the reference's two demos (same flag names) plus checkpoint conversion.

    python -m toontalker_core indomain    --source_path S --driving_path D --output_dir OUT
    python -m toontalker_core crossdomain --type r2c|c2r --source_path S --driving_path D --output_dir OUT
    python -m toontalker_core convert IN.pth OUT.safetensors

D: a video, a folder of frames (name order) or one image. OUT by its form: a video (.mp4/.mov/.mkv, H.264,
the driving fps and audio), `.npy` (float32 [N,H,W,3] in [0,1]) or a folder of PNGs.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from . import stages as S
from .checkpoint import convert, load_model
from .errors import ToonTalkerError
from .media import FrameWriter, MediaError, iter_driving, load_image, probe_driving, read_frame, resize_to
from .paths import find_checkpoint
from .runtime import DEVICES, PRECISIONS, reenact_chunks, resolve_device, resolve_dtype

# crossdomain --type: (source domain, driving domain). r2c: real video drives a cartoon portrait.
ROUTES = {"r2c": ("cartoon", "real"), "c2r": ("real", "cartoon")}


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--source_path", "--source", required=True, help="source portrait image")
    p.add_argument("--driving_path", "--driving", required=True,
                   help="driving video, folder of frames (name order) or one image")
    p.add_argument("--output_dir", "--save_path", "--output", "-o", dest="output", default="output.mp4",
                   help="output: .mp4/.mov/.mkv video, .npy array, or a folder of PNGs (default: output.mp4)")
    p.add_argument("--checkpoint", help="checkpoint file (.pth/.pt/.safetensors); default: the model folder")
    p.add_argument("--mode", choices=S.MODES, default="relative",
                   help="relative: motion relative to the reference frame; absolute: the driving pose itself")
    p.add_argument("--strength", type=float, default=1.0, help="motion strength (0 keeps the source pose)")
    p.add_argument("--reference-frame", "--reference_frame", dest="reference_frame", type=int, default=0,
                   help="index of the driving frame whose pose counts as neutral (relative mode)")
    p.add_argument("--crop", choices=("none",), default="none",
                   help="none: resize the whole image to the model size")
    p.add_argument("--device", choices=DEVICES, default="auto")
    p.add_argument("--precision", choices=PRECISIONS, default="auto")
    p.add_argument("--batch-size", "--batch_size", dest="batch_size", type=int, default=8,
                   help="driving frames processed at once")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    # The reference demo's architecture flags; the architecture is read from the checkpoint instead.
    for flag in ("--size", "--channel_multiplier", "--latent_dim_style", "--latent_dim_motion"):
        p.add_argument(flag, type=int, help=argparse.SUPPRESS)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m toontalker_core",
                                     description="ToonTalker one-shot face reenactment (real <-> cartoon).")
    sub = parser.add_subparsers(dest="command", required=True)
    _common(sub.add_parser("indomain", help="real portrait driven by a real video"))
    cross = sub.add_parser("crossdomain", help="r2c: real video drives a cartoon; c2r: cartoon video drives a real face")
    cross.add_argument("--type", choices=sorted(ROUTES), required=True)
    _common(cross)
    conv = sub.add_parser("convert", help="convert a checkpoint (.pth <-> .safetensors)")
    conv.add_argument("src")
    conv.add_argument("dst")
    return parser


def run_reenact(args: argparse.Namespace) -> Path:
    source_domain, driving_domain = ROUTES[args.type] if args.command == "crossdomain" else ("real", "real")
    strength = S.check_strength(args.strength)
    if args.batch_size < 1:
        raise ToonTalkerError(f"--batch-size must be >= 1, got {args.batch_size}")
    # Validate every input before the (slow) model load.
    source01 = load_image(args.source_path)
    info = probe_driving(args.driving_path)
    ref_index = S.check_reference(args.reference_frame, info.num_frames)
    layout = "cross-domain" if args.command == "crossdomain" else "in-domain"
    ckpt = Path(args.checkpoint) if args.checkpoint else _default_checkpoint(layout)

    device = resolve_device(args.device)
    dtype = resolve_dtype(args.precision, device)
    t0 = time.perf_counter()
    model = load_model(ckpt, device=device, dtype=dtype)
    model.check_route(source_domain, driving_domain)
    log = (lambda *a: None) if args.quiet else (lambda *a: print(*a, file=sys.stderr))
    log(f"loaded {ckpt} in {time.perf_counter() - t0:.1f}s: {model.describe()}")

    size = model.cfg.size
    source = S.encode_source(model, S.to_model_range(resize_to(source01, size)[None], model), source_domain)
    reference = S.encode_driving(model, S.to_model_range(resize_to(read_frame(args.driving_path, ref_index), size)[None], model),
                                 driving_domain)
    chunks = (resize_to(c, size) for c in iter_driving(args.driving_path, chunk_size=args.batch_size))

    progress = _progress(info.num_frames, args.quiet)
    audio = info.path if info.kind == "video" and info.has_audio else None
    with FrameWriter(args.output, fps=info.fps, audio_from=audio) as writer:
        for frames in reenact_chunks(model, source, chunks, driving_domain, strength, args.mode,
                                     reference.canon_T1, on_chunk=progress.update):
            writer.write(frames)
    progress.close()
    log(f"wrote {writer.count} frames to {args.output}")
    return Path(args.output)


def _default_checkpoint(layout: str) -> Path:
    if layout == "in-domain":
        try:
            return find_checkpoint("in-domain")
        except ToonTalkerError:
            try:  # a cross-domain checkpoint serves real -> real too
                return find_checkpoint("cross-domain")
            except ToonTalkerError:
                pass
    return find_checkpoint(layout)


def _progress(total: int, quiet: bool):
    from tqdm import tqdm

    return tqdm(total=total, unit="frame", disable=quiet, file=sys.stderr, desc="reenact")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "convert":
            out = convert(args.src, args.dst)
            print(f"wrote {out}", file=sys.stderr)
        else:
            with torch.inference_mode():
                run_reenact(args)
    except (ToonTalkerError, MediaError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: no output written", file=sys.stderr)
        return 130
    return 0
