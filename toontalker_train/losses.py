"""Training losses: reconstruction, download-free structural losses, adversarial, and the analogy constraint.

Images are [B,3,H,W]; reconstruction losses take model-range images ([-1,1]) and measure in [0,1] units.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from toontalker_core import stages as S
from toontalker_core.model.toontalker import ToonTalker


# -- structure ----------------------------------------------------------------------------------------------
def _gauss(size: int, sigma: float, device, dtype) -> torch.Tensor:
    x = torch.arange(size, device=device, dtype=dtype) - (size - 1) / 2
    g = torch.exp(-x ** 2 / (2 * sigma ** 2))
    return g / g.sum()


def _blur(x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    c = x.shape[1]
    k = g.numel()
    x = F.conv2d(x, g.view(1, 1, 1, k).expand(c, 1, 1, k), groups=c)
    return F.conv2d(x, g.view(1, 1, k, 1).expand(c, 1, k, 1), groups=c)


def ssim(a: torch.Tensor, b: torch.Tensor, window: int = 7, sigma: float = 1.5,
         reduce: bool = True) -> torch.Tensor:
    """SSIM (Wang et al. 2004) of images in [0,1] with a Gaussian window, 'valid' filtering; per image if
    not `reduce`."""
    g = _gauss(window, sigma, a.device, a.dtype)
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    mu_a, mu_b = _blur(a, g), _blur(b, g)
    saa = _blur(a * a, g) - mu_a ** 2
    sbb = _blur(b * b, g) - mu_b ** 2
    sab = _blur(a * b, g) - mu_a * mu_b
    m = ((2 * mu_a * mu_b + c1) * (2 * sab + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (saa + sbb + c2))
    return m.mean() if reduce else m.flatten(1).mean(1)


def ms_ssim_loss(pred01: torch.Tensor, target01: torch.Tensor, scales: int = 3) -> torch.Tensor:
    """Multi-scale structural loss: mean over `scales` octaves of (1 - SSIM). (A plain average rather than
    MS-SSIM's product of contrast/structure terms: stable for small images and early, poor predictions.)"""
    loss, a, b = 0.0, pred01, target01
    for i in range(scales):
        loss = loss + (1 - ssim(a, b))
        if i + 1 < scales:
            a, b = F.avg_pool2d(a, 2), F.avg_pool2d(b, 2)
    return loss / scales


def laplacian_pyramid_loss(pred: torch.Tensor, target: torch.Tensor, levels: int = 4) -> torch.Tensor:
    """L1 between Laplacian pyramids (band-pass detail at each octave + the low-pass residual), each level
    weighted 2^i so that coarse structure counts as much as fine detail."""
    g = _gauss(5, 1.0, pred.device, pred.dtype)
    loss = 0.0
    a, b = pred, target
    for i in range(levels):
        a_low = _blur(F.pad(a, (2, 2, 2, 2), mode="reflect"), g)
        b_low = _blur(F.pad(b, (2, 2, 2, 2), mode="reflect"), g)
        loss = loss + (2 ** i) * (a - a_low - (b - b_low)).abs().mean()
        a, b = F.avg_pool2d(a_low, 2), F.avg_pool2d(b_low, 2)
    return loss + (2 ** levels) * (a - b).abs().mean()


STRUCTURAL = {"msssim": ms_ssim_loss, "lappyr": laplacian_pyramid_loss}


def reconstruction_loss(pred: torch.Tensor, target: torch.Tensor, structural: str = "msssim",
                        w_struct: float = 1.0) -> tuple[torch.Tensor, dict[str, float]]:
    """L1 + w * structural, on [-1,1] images compared in [0,1] units."""
    p01, t01 = (pred + 1) / 2, (target + 1) / 2
    l1 = (p01 - t01).abs().mean()
    total, logs = l1, {"l1": l1.item()}
    if structural != "none" and w_struct > 0:
        st = STRUCTURAL[structural](p01.clamp(0, 1) if structural == "msssim" else p01, t01)
        total = total + w_struct * st
        logs[structural] = st.item()
    return total, logs


# -- adversarial (non-saturating logistic, StyleGAN2) -------------------------------------------------------
def g_nonsaturating(fake_logits: torch.Tensor) -> torch.Tensor:
    return F.softplus(-fake_logits).mean()


def d_logistic(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def r1_penalty(real_logits: torch.Tensor, real_images: torch.Tensor) -> torch.Tensor:
    (grad,) = torch.autograd.grad(real_logits.sum(), real_images, create_graph=True)
    return grad.pow(2).flatten(1).sum(1).mean()


# -- the analogy constraint ---------------------------------------------------------------------------------
def canonical_change(model: ToonTalker, domain: str, frm: torch.Tensor, to: torch.Tensor) -> torch.Tensor:
    """delta = T1(E_domain(to)) - T1(E_domain(frm)), the motion change between two frames in the canonical
    space (T1: the shared driving query transformer with `domain`'s motion bases). [B, M, D]."""
    both = S.encode_driving(model, torch.cat([frm, to]), domain).canon_T1
    return both[frm.shape[0]:] - both[:frm.shape[0]]


def _twice(es: S.EncodedSource) -> S.EncodedSource:
    return es.map(lambda t: torch.cat([t, t]))


def analogy_loss(model: ToonTalker, driving_domain: str, driving_ref: torch.Tensor | None,
                 driving: torch.Tensor | None, source: S.EncodedSource, generated: torch.Tensor | None = None,
                 generated_ref: torch.Tensor | None = None, driving_change: torch.Tensor | None = None,
                 eps: float = 1e-6) -> tuple[torch.Tensor, torch.Tensor]:
    """The analogy constraint, one direction (driving domain A -> source domain B).

    For two frames a1 (`driving_ref`), a2 (`driving`) of one clip in domain A and a frame b of domain B
    (encoded as `source`):

        delta_A = T1(E_A(a2)) - T1(E_A(a1))                     motion change in A, canonical space
        c_b     = T0(E_B(b)) + T1(E_B(b))                       b's own code (strength-0 transfer)
        b_0     = G_B(b, c_b)                                   b re-rendered with no motion
        b_hat   = G_B(b, c_b + sg(delta_A))                     the change transferred to b (relative mode)
        delta_B = T1(E_B(b_hat)) - T1(E_B(b_0))                 the change b_0 -> b_hat, seen by B's encoder
        L_ana   = sum | delta_B - sg(delta_A) |  /  (sum | sg(delta_A) | + eps)
                  (L1 over the batch and the M x D canonical code, relative to the size of the change)

    i.e. "a1 is to a2 as b is to b_hat", measured in the canonical space. Why this form:
    - sg (stop gradient) on delta_A, also where it enters G_B: the constraint must move B's output, not
      shrink A's motion;
    - relative, not absolute: T1 is shared by both domains, so an absolute L1 can be lowered by making every
      canonical change small (the backward transformer still decodes small changes). In a first run with
      the absolute form the mean |delta| fell from 0.48 to 0.02 (real) and 0.0005 (cartoon) within 100
      steps: the canonical space collapsed and transferred motion vanished. Divided by |delta_A|, the loss
      is invariant to that scale, and an unmoved b_hat costs 1;
    - the change on B's side is measured between two *generated* frames (b_0, b_hat), not from the input b:
      otherwise the generator's reconstruction error (blur, colour) is read as motion. In a run comparing
      with b, delta_B started 16-26 times larger than delta_A and the cheapest fix was again a collapse.
    Gradients reach B's appearance encoder, renderer, backward transformer, motion encoder and bases, and
    the shared query transformers; A's encoder is trained by its own reconstruction loss.
    `generated`/`generated_ref` replace b_hat/b_0 (tests), `driving_change` replaces delta_A.

    -> (loss, b_hat).
    """
    if driving_change is None:
        driving_change = canonical_change(model, driving_domain, driving_ref, driving)
    target = driving_change.detach()
    if generated is None:
        base = source.canon_T0 + source.canon_T1
        twice = source if source.batch == 1 else _twice(source)  # one render pass for b_hat and b_0
        both = S.render(model, twice, S.decode(model, twice, torch.cat([base + target, base])))
        generated, generated_ref = both.chunk(2)
    elif generated_ref is None:
        raise ValueError("give generated_ref (b_0) with generated (b_hat)")
    codes = S.encode_driving(model, torch.cat([generated, generated_ref]), source.domain).canon_T1
    moved = codes[:generated.shape[0]] - codes[generated.shape[0]:]
    return (moved - target).abs().sum() / (target.abs().sum() + eps), generated
