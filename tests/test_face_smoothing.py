"""Box smoothing: jitter removed, fast moves followed without lag, state streams across chunks."""
from __future__ import annotations

import pytest
import torch

from toontalker_core.errors import InputError
from toontalker_core.face import BoxSmoother, OneEuroFilter, smooth_boxes

FPS, SIZE, N, STEP_AT = 25.0, 200.0, 600, 400


def track(jitter: float, step: float, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A still head (box x, y, size) that jumps `step` face sizes to the right at frame STEP_AT, plus
    detector-like jitter of `jitter` face sizes (position) and relative size."""
    g = torch.Generator().manual_seed(seed)
    truth = torch.zeros(N, 3, dtype=torch.float64)
    truth[:, 2] = SIZE
    truth[STEP_AT:, 0] = step * SIZE
    noisy = truth.clone()
    noisy[:, :2] += torch.randn(N, 2, generator=g, dtype=torch.float64) * jitter * SIZE
    noisy[:, 2] *= torch.exp(torch.randn(N, generator=g, dtype=torch.float64) * jitter)
    return truth, noisy


# Jitter of 1 % of the face size: 3-10x what the bundled detector shows on the shared driving videos.
@pytest.mark.parametrize("jitter, step", [(0.01, 0.5), (0.01, 0.3), (0.01, 0.2)])
def test_jitter_is_removed_and_a_step_is_followed_within_two_frames(jitter, step):
    truth, noisy = track(jitter, step)
    out = smooth_boxes(noisy, FPS)
    still = list(range(50, STEP_AT)) + list(range(STEP_AT + 50, N))  # settled segments
    raw = (noisy[still] - truth[still]).pow(2).mean().sqrt()
    left = (out[still] - truth[still]).pow(2).mean().sqrt()
    assert left <= 0.2 * raw, f"only {1 - left / raw:.0%} of the jitter removed"
    before = out[STEP_AT - 10:STEP_AT, 0].mean()
    progress = (out[STEP_AT:, 0] - before) / (step * SIZE)
    lag = int((progress >= 0.8).nonzero()[0])  # frames after the step until 80 % of it is covered
    assert lag <= 2, f"the box needed {lag} frames to cover 80% of the step"


def test_a_steady_drift_is_followed_closely():
    truth = torch.zeros(150, 3, dtype=torch.float64)
    truth[:, 2] = SIZE
    for speed in (0.1, 0.3, 1.0):  # face sizes per second
        truth[:, 0] = torch.arange(150) / FPS * speed * SIZE
        out = smooth_boxes(truth, FPS)
        assert abs(float(out[-1, 0] - truth[-1, 0])) < 0.05 * SIZE


def test_streaming_in_chunks_equals_one_pass_and_strength_zero_is_off():
    _, noisy = track(0.02, 0.5, seed=1)
    whole = smooth_boxes(noisy, FPS)
    smoother = BoxSmoother(FPS)
    parts = torch.cat([smooth_boxes(noisy[i:i + 7], FPS, smoother=smoother) for i in range(0, N, 7)])
    assert torch.allclose(parts, whole, atol=1e-9)
    assert torch.allclose(smooth_boxes(noisy, FPS, strength=0.0), noisy)
    stronger = smooth_boxes(noisy, FPS, strength=3.0)
    seg = slice(50, STEP_AT)
    assert stronger[seg, 0].std() < whole[seg, 0].std()  # higher strength: steadier


def test_filter_validates_its_settings():
    with pytest.raises(InputError, match="strength"):
        OneEuroFilter(25, strength=-1)
    with pytest.raises(InputError, match="fps"):
        OneEuroFilter(0)
