"""Command line of the training package.

    python -m toontalker_train train --stage indomain    --out RUN1 --preset demo64 --real synthetic
    python -m toontalker_train train --stage crossdomain --out RUN2 --preset demo64 --real synthetic \
        --cartoon synthetic --init RUN1/ckpt_latest.pt --export model.safetensors
    python -m toontalker_train train ... --resume auto          # continue RUN2 from its last checkpoint
    python -m toontalker_train eval MODEL.safetensors --out DIR  # held-out metrics vs baselines
    python -m toontalker_train export RUN2/ckpt_latest.pt OUT.safetensors
    python -m toontalker_train make-data cartoon|real OUT_DIR --clips 10 --frames 100
    python -m toontalker_train detector --out RUN --minutes 30 --export toontalker_core/face/models/toonnet.safetensors

Data (`--real`, `--cartoon`): `synthetic` (the built-in generators) or a folder of videos / frame folders
(one clip each), cropped with `--crop face|center|none`.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields
from pathlib import Path

import torch

from toontalker_core.model.config import ModelConfig

from .presets import PRESETS

ARCH_FLAGS = ("size", "style_dim", "motion_dim", "channel_multiplier", "channel_max", "channel_base", "n_heads")


def model_config(args) -> ModelConfig:
    base = PRESETS[args.preset].to_dict()
    for k in ARCH_FLAGS:
        v = getattr(args, k, None)
        if v is not None:
            base[k] = v
    return ModelConfig.from_dict(base)


def _train_parser(sub):
    from .trainer import STAGES, TrainConfig

    p = sub.add_parser("train", help="train a model (in-domain or cross-domain stage)")
    p.add_argument("--stage", choices=STAGES, default="crossdomain")
    p.add_argument("--out", required=True, help="run folder: checkpoints, log.jsonl, samples/")
    p.add_argument("--preset", choices=sorted(PRESETS), default="demo64", help="model size (default demo64)")
    for k in ARCH_FLAGS:
        p.add_argument("--" + k.replace("_", "-"), dest=k, type=int, help=f"override the preset's {k}")
    p.add_argument("--real", default="synthetic", help="real clips: 'synthetic' or a folder of videos/frames")
    p.add_argument("--cartoon", default="synthetic", help="cartoon clips: 'synthetic' or a folder")
    p.add_argument("--crop", choices=("face", "center", "none"), default="face",
                   help="crop of folder clips (one box per clip): face (the project's face cropper, "
                        "toontalker_core.face), center (largest centred square) or none (whole frame)")
    p.add_argument("--max-frames", type=int, default=300, help="frames kept per folder clip")
    p.add_argument("--no-augment", action="store_true")
    p.add_argument("--identity-aug", type=float, default=0.0,
                   help="strength of the synthetic real domain's identity augmentation: reshaped faces, wider "
                        "box jitter, camera-like tone/softness/noise (0 = off, 1 = the demo model's)")
    p.add_argument("--resume", help="checkpoint to continue from, or 'auto' (OUT/ckpt_latest.pt if present)")
    defaults = TrainConfig()
    skip = {"stage", "out", "model", "adv", "export_half"}
    for f in fields(TrainConfig):
        if f.name in skip:
            continue
        flags = ["--" + f.name.replace("_", "-")] + (["--init"] if f.name == "init_from" else [])
        p.add_argument(*flags, dest=f.name, type=type(getattr(defaults, f.name)), default=getattr(defaults, f.name))
    p.add_argument("--adv", action="store_true", help="add the adversarial loss (StyleGAN2 discriminator)")
    p.add_argument("--export-half", action="store_true", help="store the --export model as float16")
    return p


def cmd_train(args) -> int:
    from .data import make_source
    from .trainer import TrainConfig, Trainer

    mcfg = model_config(args)
    tc = TrainConfig(**{f.name: getattr(args, f.name) for f in fields(TrainConfig)
                        if f.name not in ("model",) and hasattr(args, f.name)})
    tc.model = mcfg.to_dict()
    torch.set_num_threads(max(1, tc.threads))
    aug = not args.no_augment
    real = make_source(args.real, mcfg.size, args.crop, "real", aug, args.max_frames, args.identity_aug)
    cartoon = (make_source(args.cartoon, mcfg.size, args.crop, "cartoon", aug, args.max_frames)
               if args.stage == "crossdomain" else None)
    tr = Trainer(tc, mcfg, real=real, cartoon=cartoon)
    resume = args.resume
    if resume == "auto":
        resume = Path(args.out) / "ckpt_latest.pt"
        resume = resume if resume.is_file() else None
    if resume:
        tr.resume(resume)
    (Path(args.out) / "train_config.json").write_text(json.dumps({**vars(args), "model": mcfg.to_dict()},
                                                                 indent=2, default=str))
    last = tr.fit()
    print(f"last checkpoint: {last}", file=sys.stderr)
    return 0


def cmd_eval(args) -> int:
    from .evaluate import evaluate_file, markdown_table

    res = evaluate_file(args.checkpoint, args.out, n=args.n, seed=args.seed, real_dir=args.real_dir,
                        cartoon_dir=args.cartoon_dir, crop=args.crop)
    print(markdown_table(res))
    return 0


def cmd_export(args) -> int:
    from .trainer import export

    out = export(args.checkpoint, args.out, use_ema=not args.raw, half=args.half)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB)", file=sys.stderr)
    return 0


def cmd_make_data(args) -> int:
    """Write synthetic clips as frame folders (or .mp4 with --video) for the folder loader."""
    from toontalker_core.media import FrameWriter

    from . import cartoon as C

    g = torch.Generator().manual_seed(args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    bank = None
    if args.domain == "real":
        from .realmotion import StillBank

        bank = StillBank(args.size)
    for i in range(args.clips):
        traj = C.trajectory(args.frames, g, amount=0.8)
        if bank is None:
            frames = C.render_clip(C.random_identity(1, g), traj, args.size)
        else:
            idx = int(bank.pick(1, g))
            frames = torch.cat([bank.render(idx, {k: v[j:j + 16] for k, v in traj.items()})
                                for j in range(0, args.frames, 16)])
        target = out / (f"clip{i:04d}.mp4" if args.video else f"clip{i:04d}")
        with FrameWriter(target, fps=25.0) as w:
            w.write(frames)
        print(f"wrote {target}", file=sys.stderr)
    return 0


def cmd_detector(args) -> int:
    from .detector import train

    last = train(Path(args.out), args.minutes, Path(args.export) if args.export else None, batch=args.batch,
                 lr=args.lr, bank_size=args.bank, seed=args.seed, threads=args.threads, resume=args.resume,
                 photo=args.photo)
    print(f"last checkpoint: {last}", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m toontalker_train", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    _train_parser(sub)
    e = sub.add_parser("eval", help="held-out self-reenactment metrics vs the source-frame and random baselines")
    e.add_argument("checkpoint")
    e.add_argument("--out", help="folder for metrics.json/metrics.md and sample grids")
    e.add_argument("--n", type=int, default=128, help="held-out pairs per set")
    e.add_argument("--seed", type=int, default=987_654_321)
    e.add_argument("--real-dir", help="also evaluate on this folder of real clips (local validation)")
    e.add_argument("--cartoon-dir", help="also evaluate on this folder of cartoon clips")
    e.add_argument("--crop", choices=("face", "center", "none"), default="center")
    x = sub.add_parser("export", help="training checkpoint -> inference .safetensors (EMA weights)")
    x.add_argument("checkpoint")
    x.add_argument("out")
    x.add_argument("--raw", action="store_true", help="export the raw weights instead of the EMA")
    x.add_argument("--half", action="store_true", help="store float16 weights (half the size)")
    m = sub.add_parser("make-data", help="write synthetic clips (frame folders or .mp4)")
    m.add_argument("domain", choices=("cartoon", "real"))
    m.add_argument("out")
    m.add_argument("--clips", type=int, default=8)
    m.add_argument("--frames", type=int, default=100)
    m.add_argument("--size", type=int, default=64)
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--video", action="store_true", help="write .mp4 files instead of PNG folders")
    d = sub.add_parser("detector", help="train ToonNet, the pack's small face detector (cartoon + real)")
    d.add_argument("--out", required=True, help="run folder: face bank, checkpoint, log.jsonl")
    d.add_argument("--minutes", type=float, default=30.0, help="wall-clock budget (the lr schedule follows it)")
    d.add_argument("--export", help="write the folded .safetensors weights here at every checkpoint")
    d.add_argument("--batch", type=int, default=32)
    d.add_argument("--lr", type=float, default=3e-3)
    d.add_argument("--bank", type=int, default=2000, help="cartoon faces rendered once for the run")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--threads", type=int, default=1,
                   help="torch threads (1: on a loaded 2-core machine a second thread made every step slower)")
    d.add_argument("--resume", action="store_true", help="continue OUT/ckpt_latest.pt (the schedule goes on)")
    d.add_argument("--photo", type=float, default=0.0, help="share of face-free photographs as backgrounds")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    torch.set_num_threads(max(1, getattr(args, "threads", 1)))
    return {"train": cmd_train, "eval": cmd_eval, "export": cmd_export, "make-data": cmd_make_data,
            "detector": cmd_detector}[args.command](args)
