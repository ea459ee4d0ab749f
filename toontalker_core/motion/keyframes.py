"""Motion built from keyframes, with no driving video.

A keyframe sets, at a time (a frame index or seconds), the canonical driving code of that frame: an
expression (the T1 code of an encoded photo) or the neutral code, moved by Motion Editor settings (named
controls or raw directions, see `motion.controls`). Between keys the code is interpolated with the easing
of the key it moves towards; before the first key and after the last one the codes hold. Without a key at
frame 0 the motion starts from the neutral code. The result is an `EncodedMotion` that Canonical Motion
Transfer takes like an encoded driving video (relative mode: a frame without edit as the reference frame,
e.g. frame 0).

The keyframe text (the node's widget, the CLI's --keyframes file) is JSON, or YAML when PyYAML is installed:

    {"fps": 25, "seconds": 4,
     "keys": [{"time": 1.0, "set": {"eyes_closed": 2}, "ease": "ease_in_out"},
              {"time": 3.0, "set": {"head_yaw": -2.5}},
              {"frame": 99, "expression": "smile", "ease": "ease_out"}]}

A bare list is the "keys" alone. `expression` names a photo given next to the text (node inputs, CLI
--expression NAME=IMAGE).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import torch

from .. import validate as V
from ..errors import InputError
from .controls import SLIDER_RANGE
from ..stages import EncodedMotion

EASINGS = {
    "linear": lambda u: u,
    "ease_in": lambda u: u * u,
    "ease_out": lambda u: 1 - (1 - u) * (1 - u),
    "ease_in_out": lambda u: u * u * (3 - 2 * u),
    "hold": lambda u: 0.0,  # keep the previous key's code until this key
}
MAX_FRAMES = 100_000


@dataclass
class Key:
    time: float                 # in `unit`
    unit: str                   # "frame" | "s"
    settings: dict[str, float] = field(default_factory=dict)
    expression: str | None = None
    ease: str = "linear"

    def frame(self, fps: float) -> int:
        return int(round(self.time)) if self.unit == "frame" else int(round(self.time * fps))


@dataclass
class KeyframeSpec:
    keys: list[Key]
    fps: float | None = None
    frames: int | None = None
    seconds: float | None = None

    def length(self, fps: float) -> int | None:
        if self.frames is not None:
            return self.frames
        if self.seconds is not None:
            return int(round(self.seconds * fps))
        return None


def _parse_key(i: int, entry) -> Key:
    what = f"keyframe {i + 1}"
    if not isinstance(entry, dict):
        raise InputError(f"{what} must be an object like {{\"time\": 1.0, \"set\": {{\"head_yaw\": 1}}}}")
    unknown = set(entry) - {"time", "frame", "set", "expression", "ease"}
    if unknown:
        raise InputError(f"{what}: unknown field(s) {', '.join(sorted(unknown))}; use time or frame, set, "
                         "expression, ease")
    if ("time" in entry) == ("frame" in entry):
        raise InputError(f"{what} needs exactly one of 'time' (seconds) or 'frame' (index)")
    unit = "s" if "time" in entry else "frame"
    t = entry.get("time", entry.get("frame"))
    t = V.seconds(t, f"{what}'s time") if unit == "s" else V.number(t, f"{what}'s frame", 0, MAX_FRAMES - 1)
    settings = entry.get("set") or {}
    if not isinstance(settings, dict):
        raise InputError(f"{what}'s 'set' must map control names to values, e.g. {{\"mouth_open\": 1.5}}")
    # the Motion Editor's slider range: far beyond it the synthesis leaves its training range (1e30: black)
    settings = {str(k): V.number(v, f"{what}'s {k}", -SLIDER_RANGE, SLIDER_RANGE) for k, v in settings.items()}
    ease = entry.get("ease", "linear")
    if ease not in EASINGS:
        raise InputError(f"{what}: unknown ease '{ease}'; use one of {', '.join(EASINGS)}")
    expression = entry.get("expression")
    if expression is not None and not isinstance(expression, str):
        raise InputError(f"{what}'s 'expression' must be the name of a photo, e.g. \"smile\"")
    return Key(t, unit, settings, expression, ease)


def parse_keyframes(spec) -> KeyframeSpec:
    """Keyframes from a dict, a list of keys, or JSON / YAML text (see the module doc)."""
    if isinstance(spec, str):
        spec = _parse_text(spec)
    if isinstance(spec, list):
        spec = {"keys": spec}
    if not isinstance(spec, dict) or not isinstance(spec.get("keys"), list):
        raise InputError("keyframes must be a list of keys, or an object with a 'keys' list")
    unknown = set(spec) - {"keys", "fps", "frames", "seconds"}
    if unknown:
        raise InputError(f"keyframes: unknown field(s) {', '.join(sorted(unknown))}; use keys, fps, frames, seconds")
    keys = [_parse_key(i, e) for i, e in enumerate(spec["keys"])]
    fps = V.fps(spec["fps"]) if "fps" in spec else None
    frames = V.number(spec["frames"], "frames", 1, MAX_FRAMES, whole=True) if "frames" in spec else None
    seconds = V.seconds(spec["seconds"]) if "seconds" in spec else None
    return KeyframeSpec(keys, fps, frames, seconds)


def _parse_text(text: str):
    text = text.strip()
    if not text:
        return []
    try:
        return json.loads(text)
    except RecursionError:
        raise InputError("keyframes are nested too deeply to read; a keyframe file is a list of keys") from None
    except ValueError as json_error:
        try:
            import yaml  # optional: ComfyUI installs PyYAML
        except ImportError:
            raise InputError(f"keyframes are not valid JSON ({json_error}); YAML needs PyYAML "
                             "(pip install pyyaml)") from None
        try:
            return yaml.safe_load(text)
        except RecursionError:
            raise InputError("keyframes are nested too deeply to read; a keyframe file is a list of keys") from None
        except yaml.YAMLError as e:
            raise InputError(f"keyframes are neither valid JSON nor YAML: {str(e).splitlines()[0]}") from None


def check_length(n_frames: int, fps: float) -> tuple[int, float]:
    return V.number(n_frames, "length in frames", 1, MAX_FRAMES, whole=True), V.fps(fps)


def interpolate(keys: list[tuple[int, torch.Tensor, str]], n_frames: int) -> torch.Tensor:
    """Key codes [(frame, code [M, D], ease)] -> codes [n_frames, M, D]: exactly the key's code at each key
    frame, eased between keys (the ease of the later key), held outside. Later keys win on a shared frame."""
    if not keys:
        raise InputError("no keyframes: add at least one key")
    by_frame = {}
    for frame, code, ease in keys:
        by_frame[frame] = (code, ease)
    frames = sorted(by_frame)
    first = by_frame[frames[0]][0]
    out = first.new_empty((n_frames, *first.shape))
    for t in range(n_frames):
        nxt = next((f for f in frames if f >= t), None)
        if nxt is None:
            out[t] = by_frame[frames[-1]][0]
        elif nxt == t or nxt == frames[0]:
            out[t] = by_frame[nxt][0]
        else:
            prev = max(f for f in frames if f < t)
            code, ease = by_frame[nxt]
            u = EASINGS[ease]((t - prev) / (nxt - prev))
            out[t] = torch.lerp(by_frame[prev][0], code, float(u))
    return out


def keyframe_motion(spec: KeyframeSpec, n_frames: int, fps: float, domain: str, neutral_T1: torch.Tensor,
                    neutral_motion: torch.Tensor, delta, expressions: dict[str, torch.Tensor] | None = None
                    ) -> EncodedMotion:
    """The keyframed motion: neutral_T1 [M, D] (the code a key without expression starts from),
    neutral_motion [D] (the motion vector stored with every frame), delta(settings) -> [M, D] (the edit
    of a key's settings), expressions {name: T1 code [M, D]}."""
    n_frames, fps = check_length(n_frames, fps)
    expressions = expressions or {}
    keys = []
    if not any(k.frame(fps) == 0 for k in spec.keys):
        keys.append((0, neutral_T1.float(), "linear"))
    for i, k in enumerate(spec.keys):
        if k.expression is not None and k.expression not in expressions:
            have = ", ".join(sorted(expressions)) or "none"
            raise InputError(f"keyframe {i + 1} uses expression '{k.expression}', which was not given "
                             f"(given: {have})")
        base = expressions[k.expression].float() if k.expression else neutral_T1.float()
        code = base + delta(k.settings).to(base.device) if k.settings else base
        keys.append((k.frame(fps), code, k.ease))
    codes = interpolate(keys, n_frames).to(neutral_T1.dtype)
    motion = neutral_motion.reshape(1, -1).expand(n_frames, -1).clone()
    return EncodedMotion(domain, motion, codes)
