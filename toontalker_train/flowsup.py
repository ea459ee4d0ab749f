"""Optional supervision from the synthetic data's known motion (training aids, not in the paper): the flow
of the coarse synthesis levels, and the motion parameters regressed from the motion vectors.

Why: from scratch on a CPU budget, self-reenactment has an easy local minimum: warp nothing, rebuild the
source, and ignore the driving code. A first in-domain run fell into it (the rendered image moved by
~5e-5 when the canonical code moved by its whole driving change). The synthetic clips know the head pose of
each frame, so the coarse flow levels can be told where the head went: a dense, direct signal through the
style latents, the backward transformer and the motion encoder that makes the driving code matter. The weight
decays to 0 (`flow_steps`), after which only the paper's losses remain. Folder data has no ground truth
and gets none of this.

Ground truth: both generators place the head with the same inverse affine, h = R(roll)^T (p - t) / s
(normalised image coordinates). The driving frame's pixel p shows head point h = A2^-1(p), which the source
frame shows at q = A1(h); the synthesis samples the source at its grid, so the target grid offset is q - p.
Expression, yaw/pitch parallax and the real stills' local warps are not in it (a coarse guide only).

Pose regression (`PoseHeads`): a linear read-out from each domain's motion vector to the 13 known motion
parameters (head pose, eyes, gaze, brows, mouth), training-only (never exported). It gives the motion
encoders a direct signal from step 0, so that the driving code carries the pose before the flow, decoded
through the query and backward transformers, does; in a 600-step probe (flow loss only, demo64) it took the
held-out flow error from 0.147 to 0.090 instead of 0.102.
"""
from __future__ import annotations

from contextlib import contextmanager

import torch

from torch import nn

from toontalker_core.model.toontalker import ToonTalker
from toontalker_core.model.synthesis import identity_grid

from .cartoon import MOTION_RANGES

# Motion parameters that change sign under a horizontal flip (the eyes swap instead).
_MIRRORED = ("yaw", "roll", "tx", "gaze_x")


def affine_offsets(m1: dict, m2: dict, size: int, flip: torch.Tensor | None = None) -> torch.Tensor:
    """Target grid offsets [n,size,size,2] (x, y) that rebuild frame 2 (pose m2) from frame 1 (pose m1)."""
    n = m1["tx"].shape[0]
    p = identity_grid(size, n, "cpu", torch.float32).clone()  # the synthesis' own identity grid
    if flip is not None:
        p[..., 0] = torch.where(flip[:, None, None], -p[..., 0], p[..., 0])

    def par(m, k):
        return m[k].float()[:, None, None]

    x, y = (p[..., 0] - par(m2, "tx")) / par(m2, "scale"), (p[..., 1] - par(m2, "ty")) / par(m2, "scale")
    c, s = torch.cos(par(m2, "roll")), torch.sin(par(m2, "roll"))
    hx, hy = c * x + s * y, -s * x + c * y                      # head coordinates (A2^-1)
    c, s = torch.cos(par(m1, "roll")), torch.sin(par(m1, "roll"))
    qx = par(m1, "tx") + par(m1, "scale") * (c * hx - s * hy)  # A1
    qy = par(m1, "ty") + par(m1, "scale") * (s * hx + c * hy)
    q = torch.stack((qx, qy), -1)
    if flip is not None:
        q[..., 0] = torch.where(flip[:, None, None], -q[..., 0], q[..., 0])
        p[..., 0] = torch.where(flip[:, None, None], -p[..., 0], p[..., 0])
    return q - p


@contextmanager
def capture_flows(model: ToonTalker, domain: str):
    """Collects the flow logits of every synthesis level during the renders inside the block:
    yields a dict {level: [tensors in call order]}."""
    gen = model.generator(domain)
    store: dict[int, list[torch.Tensor]] = {}
    hooks = []
    for level, module in enumerate(gen.dec.to_flows):
        def hook(mod, args, out, level=level):
            store.setdefault(level, []).append(out[2])
        hooks.append(module.register_forward_hook(hook))
    try:
        yield store
    finally:
        for h in hooks:
            h.remove()


def flow_loss(store: dict, target_by_size, levels: int = 3) -> torch.Tensor:
    """L1 between tanh(flow logits) and the target offsets on the `levels` coarsest levels."""
    total, count = 0.0, 0
    for level in range(min(levels, len(store))):
        logits = torch.cat(store[level])  # [n,3,h,w] (per-sample calls concatenated in order)
        pred = torch.tanh(logits[:, :2].float()).permute(0, 2, 3, 1)
        target = target_by_size(pred.shape[1])
        total = total + (pred - target[:pred.shape[0]]).abs().mean()
        count += 1
    return total / max(1, count)


def pose_targets(m: dict, flip: torch.Tensor | None = None) -> torch.Tensor:
    """Motion parameters [n, 13] scaled to [-1, 1] by their ranges, as seen in the (possibly mirrored) image."""
    keys = list(MOTION_RANGES)
    t = torch.stack([(m[k].float() - (lo + hi) / 2) / ((hi - lo) / 2) for k, (lo, hi) in MOTION_RANGES.items()], 1)
    if flip is None or not bool(flip.any()):
        return t
    mirrored = t * torch.tensor([-1.0 if k in _MIRRORED else 1.0 for k in keys])
    perm = list(range(len(keys)))
    il, ir = keys.index("eye_l"), keys.index("eye_r")
    perm[il], perm[ir] = ir, il
    return torch.where(flip[:, None], mirrored[:, perm], t)


class PoseHeads(nn.ModuleDict):
    """One linear read-out per domain: motion vector [n, D] -> motion parameters [n, 13]."""

    def __init__(self, domains, motion_width: int):
        super().__init__({d: nn.Linear(motion_width, len(MOTION_RANGES)) for d in domains})

    def loss(self, domain: str, motion: torch.Tensor, m: dict, flip: torch.Tensor | None) -> torch.Tensor:
        return (self[domain](motion) - pose_targets(m, flip)).abs().mean()
