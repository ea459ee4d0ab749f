"""Temporal smoothing of per-frame crop boxes: a one-euro filter (Casiez et al., CHI 2012).

A one-euro filter is an exponential low-pass whose cutoff rises with the signal's speed: still heads get a
low cutoff (detector jitter is averaged away), fast moves a high one (the box follows without lag). Here it
runs on the box's centre and log-size, measured in face sizes (the first box's side), so the same settings
suit any resolution. Speeds below `deadzone` (face sizes per second; detector jitter is well below it) do not
raise the cutoff.

`strength` scales the smoothing: 0 = off (boxes pass through), 1 = default, 2 = twice the time constant.
The filter is stateful and streams: feed chunk after chunk (`OneEuroFilter.__call__` or `smooth_boxes` with
a filter you keep).
"""
from __future__ import annotations

import math

import torch

from ..errors import InputError
from ..media.common import DEFAULT_FPS

MIN_CUTOFF = 0.15   # Hz at strength 1, for a still head
BETA = 4.0          # Hz added per face size / second of speed above the dead zone
D_CUTOFF = 1.0      # Hz, low-pass of the speed estimate
DEADZONE = 0.3      # face sizes / second


def _alpha(cutoff: torch.Tensor | float, dt: float) -> torch.Tensor | float:
    tau = 1.0 / (2 * math.pi * cutoff)
    return 1.0 / (1.0 + tau / dt)


class OneEuroFilter:
    """One-euro filter over vectors; `__call__(x[D]) -> filtered x[D]` once per frame."""

    def __init__(self, fps: float = DEFAULT_FPS, strength: float = 1.0, min_cutoff: float = MIN_CUTOFF, beta: float = BETA,
                 d_cutoff: float = D_CUTOFF, deadzone: float = DEADZONE) -> None:
        if not (math.isfinite(fps) and fps > 0):
            raise InputError(f"fps must be positive, got {fps}")
        if not (math.isfinite(strength) and strength >= 0):
            raise InputError(f"smoothing strength must be >= 0, got {strength}")
        self.dt = 1.0 / fps
        self.strength = strength
        self.min_cutoff = min_cutoff / strength if strength > 0 else math.inf
        self.beta, self.d_cutoff, self.deadzone = beta, d_cutoff, deadzone
        self.x: torch.Tensor | None = None
        self.dx: torch.Tensor | None = None

    def reset(self) -> None:
        self.x = self.dx = None

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x = x.double()
        if self.x is None or self.strength == 0:
            self.x, self.dx = x.clone(), torch.zeros_like(x)
            return x.clone()
        dx = (x - self.x) / self.dt
        self.dx = self.dx + _alpha(self.d_cutoff, self.dt) * (dx - self.dx)
        cutoff = self.min_cutoff + self.beta * (self.dx.abs() - self.deadzone).clamp(min=0)
        self.x = self.x + _alpha(cutoff, self.dt) * (x - self.x)
        return self.x.clone()


class BoxSmoother:
    """Streams square boxes [N,3] (x, y, size) through a one-euro filter on (centre, log size) in face units."""

    def __init__(self, fps: float = DEFAULT_FPS, strength: float = 1.0, **filter_args) -> None:
        self.filter = OneEuroFilter(fps, strength, **filter_args)
        self.unit: float | None = None

    def __call__(self, boxes: torch.Tensor) -> torch.Tensor:
        boxes = torch.as_tensor(boxes, dtype=torch.float64).reshape(-1, 3)
        out = torch.empty_like(boxes)
        for i, (x, y, s) in enumerate(boxes.tolist()):
            if self.unit is None:
                self.unit = max(s, 1e-6)
            u = self.unit
            state = torch.tensor([(x + s / 2) / u, (y + s / 2) / u, math.log(max(s, 1e-6) / u)], dtype=torch.float64)
            cx, cy, ls = self.filter(state).tolist()
            size = math.exp(ls) * u
            out[i] = torch.tensor([cx * u - size / 2, cy * u - size / 2, size], dtype=torch.float64)
        return out


def smooth_boxes(boxes: torch.Tensor, fps: float = DEFAULT_FPS, strength: float = 1.0,
                 smoother: BoxSmoother | None = None) -> torch.Tensor:
    """Smooth a track of square boxes [N,3] (x, y, size). Pass `smoother` to continue a stream across calls."""
    return (smoother or BoxSmoother(fps, strength))(boxes)
