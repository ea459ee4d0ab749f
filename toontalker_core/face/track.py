"""One face's crop box through a video: gated on the predicted box, held (with decaying motion) through
frames without it, smoothed, and re-acquired only after a bounded hold.

Per frame, the detections (as crop boxes) are compared with the box predicted from the track's motion. A
detection near the prediction (within `GATE` crop sizes, a gate that widens while the track is held, and of
a similar size) continues the track. When none is near (the face is occluded or missed, or only another face
is in view), the track coasts: the predicted box moves on with the last velocity, which decays each frame
(`DECAY`), so the crop slows to a stop instead of jumping. After `hold` frames without the face (0.25 s by
default, `hold_frames`; a hold of 0 switches at once), the most prominent face in view, wherever it is,
starts a new track (a cut, or the subject moved while unseen): the smoothing restarts there, so the crop does
not slide across the frame.

Each gap is one `Gap` in `.gaps`; the first is reported through `warn` once, the rest are summed up by
`report()`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch

from .. import validate as V
from .smoothing import BoxSmoother

GATE = 0.5              # crop sizes between the predicted and the detected box centre (~1 face size per frame)
SIZE_RATIO = 1.6        # a detection this much larger or smaller than the prediction is another face
DECAY = 0.8             # velocity kept per held frame: the predicted box coasts ~4 frames' motion, then stops
HOLD_SECONDS = 0.25     # the longest hold before any face in view starts a new track (default; --track-hold)
MAX_HOLD_SECONDS = 10.0  # longer would mean never giving a lost face up: a cut would keep the old box
VELOCITY_WEIGHT = 0.5   # low-pass of the frame-to-frame velocity of the smoothed box


def check_hold(seconds, what: str = "track hold") -> float:
    """A hold length in seconds as users give it (`what`: the flag or input), checked: one line otherwise."""
    return V.number(seconds, f"{what} (seconds a lost face is held)", 0, MAX_HOLD_SECONDS)


def hold_frames(fps: float, seconds: float = HOLD_SECONDS) -> int:
    """Frames a track is held without its face before it re-acquires: 0 for a hold of 0 s (another face in view
    restarts the track at once), else at least 2 (one missed detection never moves the crop to another face)."""
    return 0 if seconds == 0 else max(2, round(seconds * fps))


@dataclass
class Gap:
    """Frames [first, first + length) without the tracked face; `far`: another face was in view meanwhile;
    `lost`: the gap outlasted the hold (the track was re-acquired, or is still waiting)."""
    first: int
    length: int = 0
    far: bool = False
    lost: bool = False

    def describe(self, what: str = "") -> str:
        where = f"frame {self.first}" if self.length <= 1 else f"frames {self.first}-{self.first + self.length - 1}"
        cause = "only a face far from the tracked one" if self.far else "no face"
        held = "the last box" if self.lost else "the predicted box"
        return f"{cause} at {where}{what}; holding {held} ({self.length} frame{'s' * (self.length != 1)})"


def _centre(b: torch.Tensor) -> torch.Tensor:
    return b[..., :2] + b[..., 2:3] / 2


class BoxTrack:
    """Streams per-frame detections -> one smoothed crop box per frame (see the module docstring)."""

    def __init__(self, fps: float, smoothing: float = 1.0, hold: int | None = None,
                 warn: Callable[[str], None] | None = None, what: str = "") -> None:
        self.smoother = BoxSmoother(fps, smoothing)
        self.hold = hold_frames(fps) if hold is None else int(hold)
        self.warn, self.what = warn, what
        self.raw: torch.Tensor | None = None           # the last measured (or predicted) box, unsmoothed
        self.out: torch.Tensor | None = None           # the last smoothed box
        self.velocity = torch.zeros(3, dtype=torch.float64)
        self.frame = 0
        self.gaps: list[Gap] = []
        self.open: Gap | None = None
        self.warned = False
        self.restarted = False

    def step(self, boxes: torch.Tensor, primary: int | None, hint: torch.Tensor | None = None) -> torch.Tensor:
        """Detections of one frame as crop boxes [K,3] (K may be 0), the index of the most prominent one (or
        None), and for the first frame a `hint` box (the reference frame's) -> this frame's box [3]."""
        boxes = boxes.to(torch.float64).reshape(-1, 3)
        self.restarted = False
        if self.raw is None:
            box = self._first(boxes, primary, hint)
        else:
            box = self._next(boxes, primary)
        self.raw = box
        out = self.smoother(box[None])[0]
        if self.out is not None and self.open is None and not self.restarted:
            self.velocity += VELOCITY_WEIGHT * ((out - self.out) - self.velocity)
        self.out = out
        self.frame += 1
        return out

    def _first(self, boxes, primary, hint):
        if len(boxes) == 0:
            self._miss(far=False)
            return torch.as_tensor(hint, dtype=torch.float64).reshape(3)
        if hint is None:
            return boxes[primary]
        hint = torch.as_tensor(hint, dtype=torch.float64).reshape(3)
        # the detection nearest the reference frame's face (the subject), however far the video has moved
        return boxes[int(self._distance(boxes, hint).argmin())]

    def expected(self) -> torch.Tensor | None:
        """The box [3] this frame's face should fit (the prediction), or None before the first frame."""
        return None if self.raw is None else self.raw + self.velocity

    def fits(self, boxes: torch.Tensor) -> torch.Tensor:
        """Which crop boxes [K,3] pass the gate around the expected box -> bool [K] (all False before the first
        frame): near enough to the prediction and of about its size."""
        predicted = self.expected()
        boxes = boxes.to(torch.float64).reshape(-1, 3)
        if predicted is None or not len(boxes):
            return torch.zeros(len(boxes), dtype=torch.bool)
        held = self.open.length if self.open is not None else 0
        gate = GATE * (1 + 0.5 * min(held / self.hold, 1)) if self.hold else GATE  # less certain while held
        ratio = boxes[:, 2] / predicted[2]
        return (self._distance(boxes, predicted) < gate) & (ratio < SIZE_RATIO) & (ratio > 1 / SIZE_RATIO)

    def _next(self, boxes, primary):
        predicted = self.expected()
        if len(boxes):
            held = self.open.length if self.open is not None else 0
            d = self._distance(boxes, predicted)
            ok = self.fits(boxes)
            if ok.any():
                self._close()
                return boxes[int(torch.where(ok, d, torch.full_like(d, math.inf)).argmin())]
            if held >= self.hold:
                self._close()                       # lost for longer than the hold: a new track
                self.smoother.filter.reset()
                self.velocity.zero_()
                self.restarted = True
                return boxes[primary]
        self._miss(far=len(boxes) > 0)
        self.velocity *= DECAY
        return predicted

    @staticmethod
    def _distance(boxes: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        return (_centre(boxes) - _centre(ref)).norm(dim=-1) / ref[2]

    def _miss(self, far: bool) -> None:
        if self.open is None:
            self.open = Gap(self.frame)
            self.gaps.append(self.open)
        self.open.length += 1
        self.open.far |= far
        if self.open.length > self.hold and not self.open.lost:
            self.open.lost = True
            cause = "only a face far from the tracked one" if self.open.far else "no face"
            self._say(f"{cause} since frame {self.open.first}{self.what} (more than {self.hold} frames); holding "
                      "the last box until the next face found restarts the track")

    def _close(self) -> None:
        if self.open is not None and not self.open.lost:
            self._say(self.open.describe(self.what))
        self.open = None

    def _say(self, msg: str) -> None:
        if not self.warned and self.warn is not None:
            self.warn(msg)
        self.warned = True

    def finish(self) -> None:
        """End of the stream: an open gap is reported (once, as every gap)."""
        if self.open is not None and not self.open.lost:
            self._say(self.open.describe(self.what))

    def report(self, total: int | None = None) -> str | None:
        """One line summing up every gap, or None when the face was seen in every frame."""
        if not self.gaps:
            return None
        missed = sum(g.length for g in self.gaps)
        longest = max(self.gaps, key=lambda g: g.length)
        of = f" of {total}" if total is not None else ""
        far = sum(g.length for g in self.gaps if g.far)
        line = (f"no tracked face in {missed}{of} frames{self.what} ({len(self.gaps)} gap"
                f"{'s' * (len(self.gaps) != 1)}, the longest {longest.length} from frame {longest.first})")
        if far:
            line += f"; {far} of them showed only another face, which was ignored"
        lost = sum(1 for g in self.gaps if g.lost)
        return line + (f"; {lost} gap{'s' * (lost != 1)} outlasted the {self.hold}-frame hold and the track "
                       "restarted on the next face found" if lost else "; the predicted box was held")
