"""Command line: the reference's two demos (same flag names) plus checkpoint conversion and download.

    python -m toontalker_core indomain    --source_path S --driving_path D --output_dir OUT
    python -m toontalker_core crossdomain --type r2c|c2r|c2c|r2r --source_path S --driving_path D --output_dir OUT
    python -m toontalker_core convert IN.pth OUT.safetensors [--overwrite]
    python -m toontalker_core download [--to DIR] [--url URL]     (see toontalker_core/app/download.py)
    python -m toontalker_core animate --source_path S --keyframes KEYS.json --output_dir OUT   (see animate.py)

D: a video, an animated WebP/GIF, a folder of frames (name order), one image or a .npy array. OUT by its form: a
video (.mp4/.mov/.mkv, H.264, the driving fps or timestamps and audio), `.npy` (float32 [N,H,W,3] in [0,1]) or a
folder of PNGs. Nothing the user did not ask to replace is replaced, every user error is one `error: ...` line
with exit 2, and SIGINT/SIGTERM/SIGHUP leave no partial output (exit 128 + signal number).
"""
from __future__ import annotations

import argparse
import signal
import sys
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from . import download
from .. import stages as S
from ..domain_check import pick_face_domains, route_warnings
from ..model.checkpoint import convert, load_model
from ..errors import InputError, ToonTalkerError
from ..face import (CROP_MODES, DEFAULT_OFFSET, DEFAULT_SCALE, HOLD_SECONDS, PAD_MODES, FaceCropper, check_blend,
                    check_hold, finding_domain, locate_faces, parse_domains, parse_driving_face, parse_faces,
                    primary_face)
from ..face.track import MAX_HOLD_SECONDS
from ..media import FrameWriter, MediaError, iter_driving, load_image, probe_driving, read_frame, resize_to
from .paths import find_checkpoint
from ..multiface import driving_croppers, reenact_faces, source_croppers
from ..video_source import encode_tracked_driving, reenact_video_source, source_faces, source_video_info
from ..memory import full_res_batch
from .. import validate as V
from ..precision import PRECISIONS, resolve_dtype
from ..runtime import (DEVICES, check_batch_size, encode_reference, encode_source, rebatch, reenact_chunks,
                       resolve_device, to_uint8)

# crossdomain --type: (source domain, driving domain). r2c: real video drives a cartoon portrait; c2c / r2r stay
# in one domain of a cross-domain checkpoint.
ROUTES = {"r2c": ("cartoon", "real"), "c2r": ("real", "cartoon"), "c2c": ("cartoon", "cartoon"),
          "r2r": ("real", "real")}


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--source_path", "--source", required=True, help="source portrait image")
    p.add_argument("--driving_path", "--driving", required=True,
                   help="driving video, folder of frames (name order), one image, or a .npy array [N,H,W,3] "
                        "(uint8, or float in [0,1])")
    p.add_argument("--allow-truncated", "--allow_truncated", dest="allow_truncated", action="store_true",
                   help="accept a driving video that ends before its declared frame count (a cut-off download) "
                        "and use the frames that decode; without it such a video is an error")
    p.add_argument("--output_dir", "--save_path", "--output", "-o", dest="output", default="output.mp4",
                   help="output: .mp4/.mov/.mkv video, .npy array, or a folder of PNGs (default: output.mp4). "
                        "Only a file of the same kind or a PNG folder this tool wrote is replaced")
    p.add_argument("--checkpoint", help="checkpoint file (.pth/.pt/.safetensors); default: the model folder")
    p.add_argument("--mode", choices=S.MODES, default="relative",
                   help="relative: motion relative to the reference frame; absolute: the driving pose itself")
    p.add_argument("--strength", type=float, default=1.0, help="motion strength (0 keeps the source pose)")
    p.add_argument("--reference-frame", "--reference_frame", dest="reference_frame", type=int, default=0,
                   help="index of the driving frame whose pose counts as neutral (relative mode)")
    p.add_argument("--crop", choices=("auto", "none"), default="auto",
                   help="auto (default): detect the face in source and driving, crop, reenact and paste the face back "
                        "into the source at its resolution; none: resize the whole image to the model size")
    _crop_flags(p)
    p.add_argument("--device", choices=DEVICES, default="auto")
    p.add_argument("--precision", choices=PRECISIONS, default="auto")
    p.add_argument("--batch-size", "--batch_size", dest="batch_size", type=int, default=8,
                   help="driving frames processed at once")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    # The reference demo's architecture flags; the architecture is read from the checkpoint instead.
    for flag in ("--size", "--channel_multiplier", "--latent_dim_style", "--latent_dim_motion"):
        p.add_argument(flag, type=int, help=argparse.SUPPRESS)


def _crop_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("face crop (--crop auto)")
    g.add_argument("--crop-scale", type=float, default=DEFAULT_SCALE,
                   help=f"crop side / detected face side (default {DEFAULT_SCALE}: whole head, shoulders cut)")
    g.add_argument("--crop-offset", type=float, default=DEFAULT_OFFSET,
                   help=f"vertical crop shift in face sizes; negative = up, more hair (default {DEFAULT_OFFSET})")
    g.add_argument("--crop-mode", choices=CROP_MODES, default="tracked",
                   help="driving video: tracked = follow the face in every frame (smoothed); fixed = the reference "
                        "frame's box for all frames")
    g.add_argument("--smoothing", type=float, default=1.0,
                   help="tracked mode: box smoothing strength (0 = off, 1 = default, higher = steadier)")
    g.add_argument("--track-hold", type=float, default=HOLD_SECONDS, metavar="SECONDS",
                   help=f"tracked mode: how long a face that went missing is waited for before another face in "
                        f"view takes over the crop (default {HOLD_SECONDS:g}; 0 = never hold, switch at once; at "
                        f"most {MAX_HOLD_SECONDS:g})")
    g.add_argument("--feather", type=float, default=0.1,
                   help="paste-back soft edge as a fraction of the crop side (0 = hard edge; default 0.1)")
    g.add_argument("--color-match", type=float, nargs="?", const=1.0, default=0.0, metavar="AMOUNT",
                   help="match the rendered face's colour mean/std to the source (0..1; the flag alone = 1)")
    g.add_argument("--pad-mode", choices=PAD_MODES, default="reflect",
                   help="how crops that leave the image are filled (never black)")
    g.add_argument("--source-box", type=float, nargs=3, metavar=("X", "Y", "SIZE"),
                   help="crop box in source pixels (top-left corner and side); skips face detection on the source")
    g.add_argument("--driving-box", type=float, nargs=3, metavar=("X", "Y", "SIZE"),
                   help="one crop box for every driving frame, in driving pixels; skips detection on the driving input")
    g.add_argument("--faces", default="largest", metavar="all|largest|0,2",
                   help="source faces to reenact: all, the largest (default), or positions counted from 0 at the "
                        "left, e.g. 0,2; each is cropped, encoded once and pasted back")
    g.add_argument("--driving-face", default="largest", metavar="largest|N|paired",
                   help="the driving face that drives every source face: the largest (default) or position N from "
                        "the left; paired: the i-th driving face from the left drives the i-th source face")
    g.add_argument("--face-domains", default="", metavar="DOMAINS",
                   help="domain of each chosen source face, left to right, e.g. cartoon,real (a real face and a "
                        "cartoon in one picture); auto: told from the face's own pixels (the route's source "
                        "domain when unsure), also per face, e.g. auto,cartoon; one value applies to all; "
                        "default: the route's source domain")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m toontalker_core",
                                     description="ToonTalker one-shot face reenactment (real <-> cartoon).")
    sub = parser.add_subparsers(dest="command", required=True)
    _common(sub.add_parser("indomain", help="real portrait driven by a real video"))
    cross = sub.add_parser("crossdomain", help="r2c: real video drives a cartoon; c2r: cartoon video drives a real "
                                               "face; c2c / r2r: cartoon -> cartoon, real -> real")
    cross.add_argument("--type", choices=sorted(ROUTES), required=True)
    _common(cross)
    from .animate import add_parser as add_animate  # keyframe animation, no driving video

    add_animate(sub)
    conv = sub.add_parser("convert", help="convert a checkpoint (.pth <-> .safetensors)")
    conv.add_argument("src")
    conv.add_argument("dst")
    conv.add_argument("--overwrite", action="store_true", help="replace DST if it exists")
    download.add_parser(sub)
    return parser


def run_reenact(args: argparse.Namespace) -> Path:
    source_domain, driving_domain = ROUTES[args.type] if args.command == "crossdomain" else ("real", "real")
    strength = S.check_strength(args.strength)
    V.number(args.batch_size, "--batch-size", 1, whole=True)
    check_hold(args.track_hold, "--track-hold")
    # Validate every input and the output, and find the faces, before the (slow) model load.
    source_video = source_video_info(args.source_path, args.allow_truncated)
    info = probe_driving(args.driving_path, allow_truncated=args.allow_truncated)
    ref_index = S.check_reference(args.reference_frame, info.num_frames)
    layout = "cross-domain" if args.command == "crossdomain" else "in-domain"
    ckpt = Path(args.checkpoint) if args.checkpoint else _default_checkpoint(layout)
    log = (lambda *a: None) if args.quiet else _log
    warn = (lambda msg: None) if args.quiet else (lambda msg: _log(f"warning: {msg}"))
    if source_video is not None:  # the output follows the source video: its length, timing and audio
        timing, alpha, source01 = source_video, None, None
        plan = _VideoSourcePlan(args, source_video, info, ref_index, warn, source_domain, driving_domain)
    else:
        source01 = load_image(args.source_path)
        timing = info
        alpha = _source_alpha(args.source_path) if args.crop == "auto" else None  # kept in PNG output
        plan = (_CropPlan(args, source01, info, ref_index, source_domain, driving_domain) if args.crop == "auto"
                else None)  # no face: fail fast
    _check_domains(args, source01, ref_index, source_domain, driving_domain, warn)
    if timing.timestamps is not None:
        log(f"note: {timing.path} has a variable frame rate ({timing.num_frames} frames over "
            f"{timing.timestamps[-1]:.2f} s); the output video keeps its timing")
    writer = _writer(args, timing, ckpt, alpha, log)

    device = resolve_device(args.device)
    dtype = resolve_dtype(args.precision, device)
    t0 = time.perf_counter()
    model = load_model(ckpt, device=device, dtype=dtype)
    model.check_route(source_domain, driving_domain)
    log(f"loaded {ckpt} in {time.perf_counter() - t0:.1f}s: {model.describe()}")
    batch = check_batch_size(args.batch_size, model, warn)
    # read few frames at a time when they are large; the model still gets full batches of their crops
    read_chunk = full_res_batch(max(info.height, timing.height) * max(info.width, timing.width), batch)
    if plan is not None:
        return plan.run(args, model, source_domain, driving_domain, strength, info, writer, log, batch, read_chunk,
                        warn)

    size = model.cfg.size
    source = encode_source(model, resize_to(source01, size)[None], source_domain, warn=warn)
    reference = encode_reference(model, resize_to(read_frame(args.driving_path, ref_index, args.allow_truncated),
                                                  size)[None], driving_domain, warn=warn)
    chunks = rebatch((resize_to(c, size) for c in _driving_chunks(args, read_chunk)), batch)

    with _progress(info.num_frames, args.quiet) as progress, writer:
        for frames in reenact_chunks(model, source, chunks, driving_domain, strength, args.mode,
                                     reference.canon_T1, on_chunk=progress.update, warn=warn):
            writer.write(_for_writer(writer, frames))
    log(f"wrote {writer.count} frames to {args.output}")
    return Path(args.output)


def _check_domains(args: argparse.Namespace, source01, ref_index: int, source_domain: str, driving_domain: str,
                   warn) -> None:
    """A warning line for an input that looks like the other domain than the route encodes it as (image
    statistics of the source, or a video source's first frame, and the driving reference frame). With
    --face-domains the faces' domains are not the route's: the source is not looked at."""
    if args.face_domains.strip() and args.crop == "auto":
        source = None
    else:
        source = source01 if source01 is not None else read_frame(args.source_path, 0, args.allow_truncated)
    driving = read_frame(args.driving_path, ref_index, args.allow_truncated)

    def fix(s: str, d: str) -> str:
        return f"run crossdomain --type {next(k for k, v in ROUTES.items() if v == (s, d))}"

    for line in route_warnings(source, driving, source_domain, driving_domain, fix):
        warn(line)


def _writer(args: argparse.Namespace, info, ckpt: Path, alpha, log) -> FrameWriter:
    """The output, checked now (kind, what it would replace, same file as an input, writable), before rendering.
    `info` is what the output follows: its fps, per-frame timing and audio."""
    audio = info.path if info.kind == "video" and info.has_audio else None
    writer = FrameWriter(args.output, fps=info.fps, audio_from=audio, alpha=alpha, timestamps=info.timestamps,
                         inputs=(args.source_path, args.driving_path, ckpt))
    if alpha is not None and not writer.keeps_alpha:
        log(f"note: the source's alpha channel is dropped ({Path(args.output).suffix or 'this'} output is RGB; "
            "write a PNG folder to keep it)")
    if info.timestamps is not None and writer.mode != "video":
        log(f"note: {writer.mode} output has no timing; the variable frame rate of {info.path} is not kept")
    return writer


def _driving_chunks(args: argparse.Namespace, chunk_size: int):
    return iter_driving(args.driving_path, chunk_size=chunk_size, allow_truncated=args.allow_truncated)


def _for_writer(writer: FrameWriter, frames: torch.Tensor) -> torch.Tensor:
    """8-bit outputs get uint8 frames, made on the model's device (a quarter of the bytes to copy and no
    float copies in the writer); .npy keeps float32."""
    return frames if writer.mode == "npy" or frames.dtype == torch.uint8 else to_uint8(frames, inplace=True)


class _CropPlan:
    """--crop auto: where the faces are (found before the model loads) and the crop -> reenact -> paste loop."""

    def __init__(self, args: argparse.Namespace, source01: torch.Tensor, info, ref_index: int, source_domain: str,
                 driving_domain: str) -> None:
        warn = (lambda msg: None) if args.quiet else (lambda msg: _log(f"warning: {msg}"))
        self.source01 = source01
        choice, driving_choice = parse_faces(args.faces), parse_driving_face(args.driving_face)
        what, hint = f"the source image {args.source_path}", "pass its position with --source-box X Y SIZE"
        self.source_boxes, _ = locate_faces(source01, choice, box=args.source_box, scale=args.crop_scale,
                                            offset=args.crop_offset, warn=warn, what=what, hint=hint,
                                            several="pass --faces all, or positions from the left such as --faces 0,2",
                                            domain=finding_domain(args.face_domains, source_domain))
        parse_domains(args.face_domains, len(self.source_boxes), "real")  # checked now, resolved in run()
        self.reference, self.croppers = _driving_croppers(args, info, ref_index, warn, len(self.source_boxes),
                                                          driving_choice, driving_domain)

    def run(self, args, model, source_domain: str, driving_domain: str, strength: float, info,
            writer: FrameWriter, log, batch: int, read_chunk: int, warn) -> Path:
        domains = _face_domains(args, model, self.source01, self.source_boxes, source_domain, driving_domain, log)
        driving = args.crop_mode if args.driving_box is None else "fixed (--driving-box)"
        log(f"driving crop: {driving}" + (f", {len(self.croppers)} driving faces paired left to right"
                                          if len(self.croppers) > 1 else ""))
        with _progress(info.num_frames, args.quiet) as progress, writer:
            for frames in reenact_faces(model, self.source01[None], self.source_boxes, domains, self.croppers,
                                        self.reference, _driving_chunks(args, read_chunk), driving_domain, strength,
                                        args.mode, args.feather, args.color_match, args.pad_mode,
                                        on_chunk=progress.update, batch_size=batch, warn=warn,
                                        out_dtype=torch.float32 if writer.mode == "npy" else torch.uint8):
                writer.write(_for_writer(writer, frames))
        _report_tracking(self.croppers, log)
        log(f"wrote {writer.count} frames to {args.output}")
        return Path(args.output)


def _face_domains(args: argparse.Namespace, model, image01: torch.Tensor, boxes: torch.Tensor, source_domain: str,
                  driving_domain: str, log, where: str = "") -> list[str]:
    """Each chosen face's domain (--face-domains; auto: from its own pixels in image [3,H,W] at its crop box),
    logged with its box, one line per face."""
    domains, notes = pick_face_domains(parse_domains(args.face_domains, len(boxes), source_domain), image01, boxes,
                                       source_domain, "--face-domains", lambda d: model.check_route(d, driving_domain))
    h, w = image01.shape[1:]
    for (x, y, side), domain, note in zip(boxes.tolist(), domains, notes):
        shown = len(domains) > 1 or domain != source_domain or note
        log(f"source face crop{where}: x={x:.0f} y={y:.0f} size={side:.0f} px of {w}x{h}"
            + (f" ({domain}{f'; {note}' if note else ''})" if shown else ""))
    return domains


def _report_tracking(croppers, log) -> None:
    """One line per tracker that lost its face on some frames (how many, the longest gap, what was held)."""
    for cropper in croppers:
        line = cropper.report()
        if line:
            log(f"note: {line}")


def _driving_croppers(args: argparse.Namespace, info, ref_index: int, warn, n_sources: int,
                      choice, domain: str) -> tuple[torch.Tensor, list]:
    """(the reference frame, the driving croppers started on it: one, or one per source face when paired)."""
    if args.driving_box is not None or choice.kind != "paired":
        reference, cropper = _driving_cropper(args, info, ref_index, warn, choice, domain)
        return reference, [cropper]
    check_blend(args.feather, args.color_match)
    reference = read_frame(args.driving_path, ref_index, args.allow_truncated)
    croppers = driving_croppers(reference, n_sources, choice,
                                lambda choose: _make_cropper(args, info, warn, choose, domain),
                                what=f"driving frame {ref_index} of {args.driving_path}",
                                hint="choose a frame with every face via --reference-frame", domain=domain)
    return reference, croppers


def _make_cropper(args: argparse.Namespace, info, warn, choose=primary_face, domain: str | None = None
                  ) -> FaceCropper:
    return FaceCropper(256, args.crop_mode, scale=args.crop_scale, offset=args.crop_offset, smoothing=args.smoothing,
                       fps=info.fps, pad_mode=args.pad_mode, box=args.driving_box, warn=warn,
                       what=f" of {args.driving_path}", choose=choose, hold_seconds=args.track_hold, domain=domain)


def _driving_cropper(args: argparse.Namespace, info, ref_index: int, warn,
                     choice=None, domain: str | None = None) -> tuple[torch.Tensor, FaceCropper]:
    """(the reference frame, a FaceCropper started on it): the driving face, found before the model loads."""
    check_blend(args.feather, args.color_match)
    choice = choice or parse_driving_face(args.driving_face)
    if choice.kind == "paired":
        raise InputError("--driving-face paired needs the driving faces found by the detector: drop --driving-box")
    reference = read_frame(args.driving_path, ref_index, args.allow_truncated)
    cropper = _make_cropper(args, info, warn, choice, domain)
    cropper.start(reference, what=f"driving frame {ref_index} of {args.driving_path}",
                  hint="choose a frame with a face via --reference-frame, or pass --driving-box X Y SIZE",
                  several="pass --driving-face N (position from the left) or paired"
                  if choice.kind == "largest" else None)
    return reference, cropper


class _VideoSourcePlan:
    """A video as --source_path (--crop auto only): each source frame is reenacted with the driving motion of
    the same index (looped when shorter, cut when longer) and pasted back; the output has the source's
    length, timing and audio. Each chosen face (--faces) is tracked through the source frames on its own.
    Reading, truncation, chunking and writing are the crop plan's."""

    def __init__(self, args: argparse.Namespace, source_info, info, ref_index: int, warn, source_domain: str,
                 driving_domain: str) -> None:
        if args.crop != "auto":
            raise InputError("a video source needs --crop auto (its face is tracked through the frames)")
        self.source_info = source_info
        self.first = read_frame(args.source_path, 0, args.allow_truncated)
        choice = parse_faces(args.faces)
        domain = finding_domain(args.face_domains, source_domain)
        self.sources = source_croppers(
            self.first, choice if args.source_box is None else parse_faces("largest"),  # a box by hand: one face
            lambda choose: FaceCropper(
                256, "tracked", scale=args.crop_scale, offset=args.crop_offset, smoothing=args.smoothing,
                fps=source_info.fps, pad_mode=args.pad_mode, box=args.source_box, warn=warn,
                what=f" of {args.source_path}", hold_seconds=args.track_hold, choose=choose, domain=domain),
            what=f"the first frame of the source video {args.source_path}",
            hint="pass its face position with --source-box X Y SIZE",
            several="pass --faces all, or positions from the left such as --faces 0,2", domain=domain)
        parse_domains(args.face_domains, len(self.sources), "real")  # checked now, resolved in run()
        self.reference, self.drivers = _driving_croppers(args, info, ref_index, warn, len(self.sources),
                                                         parse_driving_face(args.driving_face), driving_domain)

    def run(self, args, model, source_domain: str, driving_domain: str, strength: float, info,
            writer: FrameWriter, log, batch: int, read_chunk: int, warn) -> Path:
        n = self.source_info.num_frames
        # driving frames past the source's length would be encoded for nothing; each chunk moves to the model's
        # device where it is tracked and encoded (once per driving face, however many source faces it drives)
        driving = iter_driving(args.driving_path, chunk_size=read_chunk, stop=n, allow_truncated=args.allow_truncated)
        codes, refs = encode_tracked_driving(model, driving, self.drivers, self.reference, driving_domain)
        log(f"video source: {n} frames at {self.source_info.fps:g} fps; driving motion: {len(codes)} frames"
            + (" (looped)" if len(codes) < n else ""))
        boxes = torch.stack([c.reference_box for c in self.sources])
        domains = _face_domains(args, model, self.first, boxes, source_domain, driving_domain, log, " (first frame)")
        faces = source_faces(self.sources, domains, codes, refs)
        sources = iter_driving(args.source_path, chunk_size=read_chunk, allow_truncated=args.allow_truncated)
        with _progress(n, args.quiet) as progress, writer:
            for frames in reenact_video_source(model, sources, faces, strength, args.mode, args.feather,
                                               on_chunk=progress.update, color_match=args.color_match,
                                               pad_mode=args.pad_mode, warn=warn):
                writer.write(_for_writer(writer, frames))
        _report_tracking([*self.drivers, *self.sources], log)
        log(f"wrote {writer.count} frames to {args.output}")
        return Path(args.output)


def _source_alpha(path) -> torch.Tensor | None:
    """The source's alpha channel [H,W] in [0,1] (EXIF-rotated like load_image), or None if it has none."""
    from PIL import Image, ImageOps

    with Image.open(path) as im:
        im = ImageOps.exif_transpose(im)
        if im.mode in ("P", "PA"):
            im = im.convert("RGBA")
        if "A" not in im.getbands():
            return None
        alpha = torch.from_numpy(np.asarray(im.getchannel("A"), dtype=np.float32) / 255.0)
    return None if bool((alpha >= 1).all()) else alpha


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


def _log(*parts) -> None:
    """A message line on stderr, printed above a running progress bar rather than onto it."""
    from tqdm import tqdm

    tqdm.write(" ".join(str(p) for p in parts), file=sys.stderr)


class Interrupted(KeyboardInterrupt):
    """SIGTERM/SIGHUP turned into the same unwinding as Ctrl-C, so every temp file is removed."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


@contextmanager
def _signals_interrupt():
    """SIGTERM and SIGHUP raise `Interrupted` (SIGINT already raises KeyboardInterrupt); further signals are
    ignored while the first one unwinds, so cleanup cannot itself be cut short. Handlers restored after."""
    wanted = [getattr(signal, n) for n in ("SIGTERM", "SIGHUP") if hasattr(signal, n)]

    def handler(signum, frame):
        for sig in (*wanted, signal.SIGINT):
            signal.signal(sig, signal.SIG_IGN)
        raise Interrupted(signum)

    try:
        previous = {sig: signal.signal(sig, handler) for sig in (*wanted, signal.SIGINT)}
        signal.signal(signal.SIGINT, previous[signal.SIGINT])  # Ctrl-C keeps its own KeyboardInterrupt
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@contextmanager
def _one_line_warnings(args):
    """Library warnings (the fp16 guard, audio that ends early) as one 'warning:' line each, like the CLI's own;
    none with --quiet. Python's handler is restored after."""
    previous = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if not getattr(args, "quiet", False):
            _log(f"warning: {message}")

    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = previous


def _os_error_line(e: OSError) -> str:
    """OSError -> 'PATH: reason' without errno noise."""
    reason = e.strerror or str(e) or type(e).__name__
    where = e.filename if e.filename is not None else ""
    return f"{where}: {reason}" if where else str(reason)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        with _signals_interrupt(), _one_line_warnings(args):
            if args.command == "convert":
                out = convert(args.src, args.dst, overwrite=args.overwrite)
                print(f"wrote {out}", file=sys.stderr)
            elif args.command == "download":
                download.main(args)
            elif args.command == "animate":
                from .animate import run_animate

                with torch.inference_mode():
                    run_animate(args)
            else:
                with torch.inference_mode():
                    run_reenact(args)
    except (ToonTalkerError, MediaError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # filesystem / device errors the checks above could not foresee
        print(f"error: {_os_error_line(e)}", file=sys.stderr)
        return 2
    except Interrupted as e:
        print(f"interrupted ({signal.Signals(e.signum).name}): no output written", file=sys.stderr)
        return 128 + e.signum
    except KeyboardInterrupt:
        print("interrupted: no output written", file=sys.stderr)
        return 130
    return 0
