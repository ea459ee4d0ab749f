"""Motion Editor, Motion Keyframes, Save Motion, Load Motion: thin adapters over the core's motion editing
(`motion_edit`, `motion_controls`, `keyframes`, `motion_file`)."""
from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import torch

from ..toontalker_core import runtime as R
from ..toontalker_core.errors import InputError
from ..toontalker_core.motion.keyframes import MAX_FRAMES, keyframe_motion, parse_keyframes
from ..toontalker_core.media.common import DEFAULT_FPS
from ..toontalker_core.model.toontalker import DOMAINS
from ..toontalker_core.motion.controls import (NAMES, SHIPPED_DIR, SLIDER_RANGE, availability, cached_controls,
                                               control_weights, controls_table, default_cache_dir,
                                               ignored_controls, ignored_message, load_controls, raw_only,
                                               read_cache, tooltip)
from ..toontalker_core.motion.edit import edit_delta, edit_still_or_motion, motion_directions, raw_name
from ..toontalker_core.motion.file import EXT, load_motion, save_motion
from ..toontalker_core.resources import PACK_ROOT
from .comfy import ProgressBar, check_interrupt, folder_paths, intermediate_device, offload_device, save_preview
from ..toontalker_core.memory import frame_bytes
from .memory import prepare
from .motion import MODEL_TIP, SOURCE_DOMAIN
from .payloads import (CANONICAL, CATEGORY, MODEL, MOTION, SOURCE, CanonicalPayload, MotionPayload,
                       model_uid, require_same_model)

log = logging.getLogger("toontalker")
RAW_SLIDERS = 20          # the published checkpoints have 20 motion bases (the bundled demo model 16)
MOTION_FOLDER = "toontalker_motion"
EXAMPLE_KEYS = """[
  {"time": 0.5},
  {"time": 1.5, "set": {"head_roll": 3}, "ease": "ease_in_out"},
  {"time": 3.0, "set": {"head_yaw": -3}, "ease": "ease_in_out"},
  {"time": 3.9, "ease": "ease_out"}
]"""


def controls_cache_dir() -> Path | None:
    """Discovered controls live in ComfyUI's user folder (the core's default cache without ComfyUI)."""
    if folder_paths is None:
        return None
    return Path(folder_paths.get_user_directory()) / "toontalker" / "motion_controls"


def motion_dir() -> Path:
    base = folder_paths.get_output_directory() if folder_paths is not None else PACK_ROOT / "output"
    return Path(base) / MOTION_FOLDER


def _known_checkpoints() -> dict[str, list[str]]:
    """Per control name, one plain line per checkpoint measured so far (shipped or cached): for which faces it
    works, or why not."""
    lines: dict[str, list[str]] = {}
    folders = (SHIPPED_DIR, controls_cache_dir() or default_cache_dir())
    files = {f.name: f for folder in folders if folder.is_dir() for f in sorted(folder.glob("*.json"))}
    for f in files.values():
        data = read_cache(f)
        label = data.get("model", "?").replace("ToonTalker ", "")
        per = {d: availability(found) for d, found in data.get("domains", {}).items()}
        for name in NAMES:
            by_text: dict[str, list[str]] = {}  # the same verdict for both domains is said once
            for d, a in per.items():
                by_text.setdefault(a[name], []).append(d)
            parts = [f"{'works' if text == 'works' else 'n/a'} on {' and '.join(ds)} faces"
                     + ("" if text == "works" else f" ({text.removeprefix('not available: ')})")
                     for text, ds in by_text.items()]
            lines.setdefault(name, []).append(f"{label}: {'; '.join(parts)}")
    return lines


def _slider(tip: str, advanced: bool = False) -> tuple:
    opts = {"default": 0.0, "min": -SLIDER_RANGE, "max": SLIDER_RANGE, "step": 0.05, "tooltip": tip}
    return ("FLOAT", {**opts, "advanced": True} if advanced else opts)


def controls_ui(controls: dict, ignored: dict[str, str]) -> dict:
    """What the editor's web extension shows: per named control whether this checkpoint offers it (and why not),
    and the warning for rejected ones that were set (sliders not measured yet stay live)."""
    measured = "named" in controls and not controls.get("unmeasured")
    return {"offered": sorted(controls["named"]), "measured": measured,
            "rejected": controls["rejected"] if measured else {}, "warning": ignored_message(ignored)}


def _progress(total_hint: int = 1):
    bar = ProgressBar(total_hint)

    def update(done: int, total: int) -> None:
        check_interrupt()
        bar.update_absolute(done, total)
    return update


def _load(model) -> torch.device:
    """ComfyUI's memory manager puts the model on its device (again, after "Unload models") with room for a
    one-frame render; returns that device. Payloads wait on the offload device and come here for the compute."""
    prepare(model, 1, frame_bytes(model, "reenact"))
    return model.device


def _controls(model, domain: str, named_used: bool) -> dict:
    """The checkpoint's controls; measured (once, minutes for a 256 px model) only when a named one is used."""
    if not named_used:
        found = cached_controls(model, domain, controls_cache_dir())
        return found if found is not None else raw_only(motion_directions(model, domain).count)
    return load_controls(model, domain, controls_cache_dir(), progress=_progress())


class MotionEditor:
    DESCRIPTION = ("Edits canonical motion codes along the model's motion directions: named controls (head turn, "
                   "nod, tilt, position, size, mouth, eyes) found for each checkpoint by measurement, each moving "
                   "one thing (a control the checkpoint cannot isolate is greyed out after the first run, with the "
                   "reason in its tooltip, and ignored if set), and the raw direction sliders " + raw_name(0) +
                   "... under Show Advanced. Edits a still (source alone), every frame of a MOTION, or CANONICAL "
                   "codes. All zero = no change. Changing a slider re-runs only this node (edit, decode and render "
                   "of one preview frame). The first run with a new checkpoint measures its controls (once; cached).")
    CATEGORY = CATEGORY
    FUNCTION = "edit"
    RETURN_TYPES = (CANONICAL, MOTION, "IMAGE", "STRING")
    RETURN_NAMES = ("canonical", "motion", "preview", "controls")
    OUTPUT_TOOLTIPS = (
        "Edited canonical codes for Decode to Domain: the still (source alone), the codes + edit (canonical in), "
        "or the motion relative to its frame 0 + edit (motion in).",
        "Edited driving codes: the still's expression (one frame, e.g. for Motion Keyframes or Save Motion), or "
        "every frame + edit (motion in; under relative transfer the reference frame's edit cancels, so transfer "
        "it in absolute mode or edit the canonical codes after the transfer).",
        "The first edited frame, rendered (the node also shows it).",
        "The checkpoint's discovered controls and their measured effects (markdown table).")

    @classmethod
    def INPUT_TYPES(cls):
        known = _known_checkpoints()
        named = {}
        for name in NAMES:
            tip = tooltip(name)
            if known.get(name):
                tip += " " + " | ".join(known[name]) + "."
            named[name] = _slider(tip)
        raw = {raw_name(i): _slider(f"Raw motion {i} as the model learned it: often moves several things at once; "
                                    f"for fine tuning (-{SLIDER_RANGE:g}..+{SLIDER_RANGE:g}; models with fewer "
                                    "motions: keep 0).", advanced=True)
               for i in range(RAW_SLIDERS)}
        return {"required": {
            "model": (MODEL, {"tooltip": MODEL_TIP}),
            "source": (SOURCE, {"tooltip": "From Encode Source: the portrait edited (alone) or rendered in the "
                                           "preview."}),
            **named,
        }, "optional": {
            "motion": (MOTION, {"tooltip": "Optional: a MOTION to edit on every frame (Encode Driving Motion, "
                                           "Motion Keyframes, Load Motion)."}),
            "canonical": (CANONICAL, {"tooltip": "Optional: canonical codes to edit (Canonical Motion Transfer)."}),
            **raw,
        }}

    def edit(self, model, source, motion=None, canonical=None, **values):
        given = {"source": source, **({"motion": motion} if motion is not None else {}),
                 **({"canonical": canonical} if canonical is not None else {})}
        require_same_model(model, **given)
        if motion is not None and canonical is not None:
            raise InputError("connect either 'motion' or 'canonical' to the Motion Editor, not both")
        dev = _load(model)
        src = source.encoded.to(dev)
        domain = motion.encoded.domain if motion is not None else src.domain
        controls = _controls(model, domain, any(values.get(n) for n in NAMES))
        ignored = ignored_controls(controls, values)     # rejected named controls add nothing (one warning)
        if ignored:
            log.warning("ToonTalker Motion Editor: %s", ignored_message(ignored))
        weights = control_weights(controls, values)
        dirs = motion_directions(model, domain)
        with torch.inference_mode():
            z, out_motion = edit_still_or_motion(
                src, dirs, weights, None if motion is None else motion.encoded.to(dev),
                None if canonical is None else canonical.codes.to(dev))
            one = src.for_frames(slice(0, 1))
            check_interrupt()
            preview01 = R.synthesize(model, one, z[:1])
        uid, home = model_uid(model), offload_device(model)
        preview = preview01.permute(0, 2, 3, 1).float().to(intermediate_device())
        shown = save_preview(preview01[0])
        ui = {"toontalker_controls": [controls_ui(controls, ignored)], **({"images": [shown]} if shown else {})}
        fps = None if motion is None else motion.fps
        return {"ui": ui, "result": (CanonicalPayload(uid, src.domain, z.to(home)),
                                     MotionPayload(uid, out_motion.to(home), fps), preview, controls_table(controls))}


def _expression_code(payload, name: str) -> torch.Tensor:
    enc = payload.encoded
    codes = enc.canon_T1
    if codes.shape[0] != 1:
        raise InputError(f"'{name}' holds {codes.shape[0]} frames; an expression is one encoded photo (or a one-"
                         "frame motion)")
    return codes[0]


class MotionKeyframes:
    DESCRIPTION = ("Builds a MOTION with no driving video from keyframes: each key sets, at a time in seconds "
                   "('time') or a frame ('frame'), Motion Editor settings ('set') and/or an expression taken from "
                   "a photo ('expression': a, b or c), with an easing (linear, ease_in, ease_out, ease_in_out, "
                   "hold). Feed it to Canonical Motion Transfer like an encoded driving video (relative mode, "
                   "reference frame 0 = neutral).")
    CATEGORY = CATEGORY
    FUNCTION = "build"
    RETURN_TYPES = (MOTION, "FLOAT", "INT")
    RETURN_NAMES = ("motion", "fps", "frames")
    OUTPUT_TOOLTIPS = ("Keyframed canonical driving codes, one per frame.", "The frame rate (for Create Video).",
                       "The number of frames.")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "model": (MODEL, {"tooltip": MODEL_TIP}),
            "domain": (list(DOMAINS), {"default": SOURCE_DOMAIN, "tooltip": "Whose motion directions the settings use "
                                                                     "(the portrait's domain)."}),
            "keyframes": ("STRING", {"multiline": True, "default": EXAMPLE_KEYS,
                                     "tooltip": "JSON (or YAML) list of keys: {\"time\": seconds | \"frame\": index, "
                                                "\"set\": {control: value}, \"expression\": \"a\", \"ease\": ...}. "
                                                "Controls: " + ", ".join(NAMES) + f", {raw_name(0)}..{raw_name(RAW_SLIDERS - 1)}."}),
            "length": ("INT", {"default": 100, "min": 1, "max": MAX_FRAMES, "tooltip": "Frames in the motion."}),
            "fps": ("FLOAT", {"default": DEFAULT_FPS, "min": 1.0, "max": 240.0, "step": 0.01,
                              "tooltip": "Frame rate: converts key times in seconds to frames."}),
        }, "optional": {
            "source": (SOURCE, {"tooltip": "Optional: the portrait to animate; its own pose is the neutral code "
                                           "(else the probe portrait's)."}),
            "expression_a": (SOURCE, {"tooltip": "Optional: an encoded photo whose expression keys can use as "
                                                 "\"expression\": \"a\"."}),
            "expression_b": (SOURCE, {"tooltip": "Optional: expression \"b\"."}),
            "expression_c": (SOURCE, {"tooltip": "Optional: expression \"c\"."}),
        }}

    def build(self, model, domain, keyframes, length, fps, source=None, expression_a=None, expression_b=None,
              expression_c=None):
        photos = {k: p for k, p in (("a", expression_a), ("b", expression_b), ("c", expression_c)) if p is not None}
        require_same_model(model, **{f"expression_{k}": p for k, p in photos.items()},
                           **({"source": source} if source is not None else {}))
        spec = parse_keyframes(keyframes)
        dev = _load(model)
        controls = _controls(model, domain, any(n in k.settings for k in spec.keys for n in NAMES))
        ignored = {n: why for k in spec.keys for n, why in ignored_controls(controls, k.settings).items()}
        if ignored:
            log.warning("ToonTalker Motion Keyframes: %s", ignored_message(ignored))
        dirs = motion_directions(model, domain)
        neutral = (source.encoded.to(dev) if source is not None else dirs.probe)
        with torch.inference_mode():
            motion = keyframe_motion(
                spec, length, fps, domain, neutral.canon_T1[0], neutral.motion[0],
                lambda settings: edit_delta(dirs, control_weights(controls, settings))[0],
                {k: _expression_code(p, f"expression_{k}").to(dev) for k, p in photos.items()})
        return (MotionPayload(model_uid(model), motion.to(offload_device(model)), float(fps)), float(fps), len(motion))


_SAFE_NAME = re.compile(r"^[\w\-. ]+(/[\w\-. ]+)*$")


class SaveMotion:
    DESCRIPTION = ("Saves a MOTION (canonical codes, domain, fps, model identity) as .safetensors under ComfyUI's "
                   "output/toontalker_motion/ (ComfyUI's file naming: prefix_00001_.safetensors; %date% and the like "
                   "work in the prefix) and shows the file's name on the node; ToonTalker Load Motion lists it at "
                   "once. Load Motion reuses it with the same checkpoint: a performance encoded once drives any "
                   "number of portraits.")
    CATEGORY = CATEGORY
    FUNCTION = "save"
    OUTPUT_NODE = True
    RETURN_TYPES = ("STRING",)
    RETURN_NAMES = ("path",)
    OUTPUT_TOOLTIPS = ("The file written.",)

    @classmethod
    def INPUT_TYPES(cls):
        # fps was a widget after filename_prefix: as an optional socket it leaves the widget order of saved
        # workflows (filename_prefix first) as it was
        return {"required": {
            "model": (MODEL, {"tooltip": MODEL_TIP + " (its identity is stored: only it can load the file)."}),
            "motion": (MOTION, {"tooltip": "Encode Driving Motion, Motion Keyframes or Motion Editor output."}),
            "filename_prefix": ("STRING", {"default": "motion", "tooltip": "File name (a counter is added); "
                                                                           "sub/folders allowed."}),
        }, "optional": {
            "fps": ("FLOAT", {"forceInput": True,
                              "tooltip": "Optional: the frame rate to store instead of the motion's own (Motion "
                                         "Keyframes and Load Motion give theirs; Encode Driving Motion the fps "
                                         f"wired into it; else {DEFAULT_FPS:g})."}),
        }}

    def save(self, model, motion, filename_prefix, fps=None):
        require_same_model(model, motion=motion)
        prefix = filename_prefix.strip().strip("/")
        if not prefix or not _SAFE_NAME.match(prefix) or ".." in prefix.split("/"):
            raise InputError(f"filename_prefix '{filename_prefix}' is not a plain name: use letters, digits, "
                             "- _ . and / for sub-folders")
        fps = fps if fps is not None else motion.fps if motion.fps is not None else DEFAULT_FPS
        folder = motion_dir()
        # ComfyUI's own naming, as its Save Image: %date% and the like in the prefix, the next free counter,
        # name_00001_.safetensors
        full, name, counter, _, _ = folder_paths.get_save_image_path(prefix, str(folder))
        path = Path(full) / f"{name}_{counter:05}_{EXT}"
        save_motion(path, motion.encoded, fps, model)
        rel = path.relative_to(folder).as_posix()
        # shown on the node by web/motion_files.js, which also refreshes Load Motion's list
        return {"ui": {"text": [rel],
                       "toontalker_note": [f"saved {MOTION_FOLDER}/{rel} ({len(motion.encoded)} frames at {fps:g} fps)"]},
                "result": (rel,)}


def motion_files() -> list[str]:
    folder = motion_dir()
    if not folder.is_dir():
        return []
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob(f"*{EXT}") if not p.name.startswith("."))


class LoadMotion:
    DESCRIPTION = ("Loads a motion saved by Save Motion (output/toontalker_motion/). It must be loaded with the "
                   "checkpoint that made it; feed it to Canonical Motion Transfer like an encoded driving video.")
    CATEGORY = CATEGORY
    FUNCTION = "load"
    RETURN_TYPES = (MOTION, "FLOAT", "INT")
    RETURN_NAMES = ("motion", "fps", "frames")
    OUTPUT_TOOLTIPS = ("The saved canonical driving codes.", "Its frame rate.", "Its number of frames.")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "model": (MODEL, {"tooltip": MODEL_TIP + " Must be the checkpoint the motion was saved with."}),
            "motion_file": (motion_files() or [""], {"tooltip": "A file in output/toontalker_motion/ (the list "
                                                                "updates when ToonTalker Save Motion has run)."}),
        }}

    @classmethod
    def IS_CHANGED(cls, model, motion_file):
        try:
            st = os.stat(motion_dir() / motion_file)
            return f"{st.st_mtime_ns}:{st.st_size}"
        except OSError:
            return motion_file

    def load(self, model, motion_file):
        if not motion_file:
            raise InputError("no motion file chosen: save one with ToonTalker Save Motion (the list updates when "
                             "it has run)")
        folder = motion_dir().resolve()
        path = (folder / motion_file).resolve()
        if folder not in path.parents:
            raise InputError(f"motion_file '{motion_file}' is outside output/{MOTION_FOLDER}")
        motion, fps = load_motion(path, model)
        return (MotionPayload(model_uid(model), motion.to(offload_device(model)), fps), fps, len(motion))
