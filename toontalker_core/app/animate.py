"""`python -m toontalker_core animate`: keyframes (a small JSON or YAML file) rendered onto a portrait, no
driving video.

    python -m toontalker_core animate --source_path portrait.png --keyframes keys.json -o out.mp4
        [--domain real|cartoon] [--expression NAME=IMAGE ...] [--fps F] [--frames N | --seconds S]
        [--crop auto|none] [--checkpoint FILE] [--list-controls]

The keyframe format is described in `keyframes`; the controls are the checkpoint's discovered named
controls (`--list-controls` prints them with their measured effects) and the raw directions d00...
The portrait's own pose is the neutral code, so a key without settings shows the portrait unchanged.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from .. import runtime as R
from .. import stages as S
from ..model.checkpoint import load_model
from ..errors import InputError, ToonTalkerError
from ..face import CropTransform, crop, locate_face, paste_back
from .. import validate as V
from ..motion.keyframes import MAX_FRAMES, keyframe_motion, parse_keyframes
from ..domain_check import domain_warning
from ..media import DEFAULT_FPS, FrameWriter, load_image, resize_to
from ..media.writing import check_output
from ..model.toontalker import DOMAINS
from ..motion.controls import (NAMES, cached_controls, control_weights, controls_table, ignored_controls,
                               ignored_message, load_controls, raw_only)
from ..motion.edit import edit_delta, motion_directions
from .paths import find_checkpoint
from ..precision import PRECISIONS, resolve_dtype
from ..runtime import DEVICES, resolve_device



def add_parser(sub) -> None:
    p = sub.add_parser("animate", help="render keyframes (JSON/YAML file) onto a portrait, no driving video")
    p.add_argument("--source_path", "--source", required=True, help="the portrait image")
    p.add_argument("--keyframes", required=True, help="keyframe file (.json or .yaml), see the README")
    p.add_argument("--output_dir", "--output", "-o", dest="output", default="animation.mp4",
                   help="output: .mp4/.mov/.mkv video, .npy array, or a folder of PNGs (default: animation.mp4)")
    p.add_argument("--domain", choices=DOMAINS, default="real", help="the portrait's domain (default real)")
    p.add_argument("--expression", action="append", default=[], metavar="NAME=IMAGE",
                   help="a photo whose expression keys can use as \"expression\": NAME (repeatable)")
    p.add_argument("--expression-domain", choices=DOMAINS, help="domain of the expression photos (default: --domain)")
    p.add_argument("--fps", type=float, help=f"frame rate (default: the file's, else {DEFAULT_FPS:g})")
    length = p.add_mutually_exclusive_group()
    length.add_argument("--frames", type=int, help="length in frames (default: the file's, else up to the last key)")
    length.add_argument("--seconds", type=float, help="length in seconds")
    p.add_argument("--crop", choices=("auto", "none"), default="auto",
                   help="auto: animate the detected face and paste it back at the portrait's resolution; none: "
                        "the whole image at the model size")
    p.add_argument("--checkpoint", help="checkpoint file; default: the model folder")
    p.add_argument("--device", choices=DEVICES, default="auto")
    p.add_argument("--precision", choices=PRECISIONS, default="auto")
    p.add_argument("--batch-size", "--batch_size", dest="batch_size", type=int, default=8)
    p.add_argument("--list-controls", action="store_true",
                   help="print the checkpoint's named controls and their measured effects, then exit")
    p.add_argument("--quiet", action="store_true")


def _read_keyframes(path: str):
    p = Path(path)
    if not p.is_file():
        raise InputError(f"keyframe file not found: {p}")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{p} is not a text file; --keyframes takes a .json or .yaml keyframe file") from None
    try:
        return parse_keyframes(text)
    except InputError as e:
        raise InputError(f"{p}: {e}") from None


def _check_numbers(args) -> None:
    """The length and rate flags, checked before anything loads (0 is an error, not "use the default")."""
    if args.fps is not None:
        V.fps(args.fps, "--fps")
    if args.frames is not None:
        V.number(args.frames, "--frames", 1, MAX_FRAMES, whole=True)
    if args.seconds is not None:
        V.number(args.seconds, "--seconds", 0, V.MAX_SECONDS, above=True)


def _expressions(specs: list[str]) -> dict[str, Path]:
    out = {}
    for s in specs:
        name, sep, path = s.partition("=")
        if not sep or not name or not path:
            raise InputError(f"--expression '{s}': use NAME=IMAGE, e.g. smile=photo.png")
        out[name] = Path(path)
    return out


def _checkpoint(args) -> Path:
    if args.checkpoint:
        return Path(args.checkpoint)
    if args.domain == "real" and (args.expression_domain or "real") == "real":
        try:
            return find_checkpoint("in-domain")
        except ToonTalkerError:
            pass
    return find_checkpoint("cross-domain")


class _Face:
    """A still's face crop at the model size (crop auto) or the whole still resized (crop none)."""

    def __init__(self, image01: torch.Tensor, auto: bool, size: int, what: str):
        self.image = image01[None]
        self.transform = None
        if auto:
            box, _ = locate_face(image01, what=what, hint="use --crop none with a face-centred crop")
            self.transform = CropTransform.from_boxes(box.reshape(1, 3), size, tuple(image01.shape[-2:]))
            self.crop = crop(self.image, self.transform)
        else:
            self.crop = resize_to(self.image, size)

    def paste(self, rendered01: torch.Tensor) -> torch.Tensor:
        if self.transform is None:
            return rendered01
        return paste_back(self.image, rendered01.to(self.image.device), self.transform.repeat(len(rendered01)))


def run_animate(args: argparse.Namespace) -> Path | None:
    log = (lambda *a: None) if args.quiet else (lambda *a: print(*a, file=sys.stderr))
    spec = _read_keyframes(args.keyframes)
    _check_numbers(args)
    photos = _expressions(args.expression)
    source01 = load_image(args.source_path)
    if not args.quiet:  # before the model load: a mismatch is said at once
        line = domain_warning(source01, args.domain, "source", lambda seen: f"pass --domain {seen}")
        if line:
            log(f"warning: {line}")
    V.number(args.batch_size, "--batch-size", 1, whole=True)
    inputs = (args.source_path, args.keyframes, *photos.values())
    if not args.list_controls:  # the output is checked before the model load and any measurement
        check_output(args.output, inputs)
    device = resolve_device(args.device)
    t0 = time.perf_counter()
    model = load_model(_checkpoint(args), device=device, dtype=resolve_dtype(args.precision, device))
    model.require_domain(args.domain, "source")
    log(f"loaded in {time.perf_counter() - t0:.1f}s: {model.describe()}")
    t0 = time.perf_counter()
    if args.list_controls or any(n in k.settings for k in spec.keys for n in NAMES):
        controls = load_controls(model, args.domain)
        log(f"motion controls ready in {time.perf_counter() - t0:.1f}s (measured once per checkpoint, then cached)")
    else:  # raw directions only: no measurement needed
        controls = cached_controls(model, args.domain) or raw_only(motion_directions(model, args.domain).count)
    if args.list_controls:
        print(controls_table(controls))
        return None
    ignored = {name: why for k in spec.keys for name, why in ignored_controls(controls, k.settings).items()}
    if ignored:  # a control this checkpoint does not offer adds nothing: one line, not an error
        log(f"warning: {ignored_message(ignored)}")

    size, auto = model.cfg.size, args.crop == "auto"
    face = _Face(source01, auto, size, f"the source image {args.source_path}")
    warn = (lambda msg: log(f"warning: {msg}"))
    source = R.encode_source(model, face.crop, args.domain, warn=warn)
    expr_domain = args.expression_domain or args.domain
    model.require_domain(expr_domain, "expression")
    expressions = {}
    for name, path in photos.items():
        photo = _Face(load_image(path), auto, size, f"expression '{name}' ({path})")
        expressions[name] = R.encode_reference(model, photo.crop, expr_domain).canon_T1[0]

    fps = next(f for f in (args.fps, spec.fps, DEFAULT_FPS) if f is not None)
    n = args.frames if args.frames is not None else round(args.seconds * fps) if args.seconds is not None \
        else spec.length(fps) or max((k.frame(fps) for k in spec.keys), default=0) + 1
    dirs = motion_directions(model, args.domain)
    motion = keyframe_motion(spec, n, fps, args.domain, source.canon_T1[0], source.motion[0],
                             lambda settings: edit_delta(dirs, control_weights(controls, settings))[0], expressions)
    # absolute transfer at strength 1: z = T0(s) + code, so the neutral code (the portrait's own) is the still
    z = S.transfer(source, motion.canon_T1, 1.0, "absolute")
    from tqdm import tqdm

    bar = tqdm(total=n, unit="frame", disable=args.quiet, file=sys.stderr, desc="animate")
    with FrameWriter(args.output, fps=fps, inputs=inputs) as writer:
        for i in range(0, n, args.batch_size):
            writer.write(face.paste(R.synthesize(model, source, z[i:i + args.batch_size], warn=warn)))
            bar.update(min(args.batch_size, n - i))
    bar.close()
    log(f"wrote {writer.count} frames ({n / fps:.2f} s at {fps:g} fps) to {args.output}")
    return Path(args.output)
