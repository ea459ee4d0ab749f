"""Does an image look like the domain it is encoded as? A cheap image-statistics check (no model, no new
dependency) that catches the silent mistake of a cartoon run on the real route, or the reverse.

Drawn cartoons are made of flat colour regions with sharp outlines; photographs (and frames of real videos)
have texture and sensor noise nearly everywhere. Two statistics of the luma at a working size of at most
128 px (only ever downscaled, by area: upscaling would smooth a small photo into a "cartoon"):

- `flat`: the fraction of pixels whose gradient is below FLAT_GRAD (flat fills),
- `texture`: the median absolute Laplacian, x100 (fine texture / noise; exactly 0 on flat fills).

The verdict is "cartoon", "real" or None (unsure) with a wide unsure band, because a warning that is wrong
teaches people to ignore warnings: smooth 3-D animation, green-screen videos and heavily compressed clips
sit in the band and get no warning. A blind spot: a photo whose background was replaced by one flat colour
covering most of the frame has no texture there either and can look like a cartoon. `tools/measure_domain_check.py` measures it on the project's sets
(the thresholds were chosen on its "generated-fit" set and the pack's samples, with the shared media's
statistics in view; its "generated-held" set was not looked at).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from .errors import ToonTalkerError
from .model.toontalker import DOMAINS

WORK_SIZE = 128       # analysis side in pixels (images are only ever made smaller)
FLAT_GRAD = 0.004     # luma step (0..1 scale) under which a pixel counts as flat
SMOOTH_TEXTURE = 0.1  # cartoon: no texture at all (flat fills and smooth ramps; photos measured >= 0.28) ...
CARTOON_FLAT = 0.65   # ... or at least this flat ...
CARTOON_TEXTURE = 0.25  # ... with nearly no texture
REAL_FLAT = 0.30      # real: at most this flat ...
REAL_TEXTURE = 1.2    # ... and clearly textured
MAX_FRAMES = 5        # frames of a video looked at (spread over it)


@dataclass(frozen=True)
class DomainStats:
    flat: float
    texture: float

    @property
    def verdict(self) -> str | None:
        """'cartoon', 'real', or None when the statistics are not clear either way."""
        if self.texture < SMOOTH_TEXTURE or (self.flat >= CARTOON_FLAT and self.texture < CARTOON_TEXTURE):
            return "cartoon"
        if self.flat <= REAL_FLAT and self.texture >= REAL_TEXTURE:
            return "real"
        return None


def spread(n: int) -> list[int]:
    """The indices of the (at most MAX_FRAMES) frames of an n-frame video that the check looks at."""
    return sorted(set(torch.linspace(0, n - 1, min(n, MAX_FRAMES)).round().long().tolist()))


def image_stats(images01: torch.Tensor) -> DomainStats:
    """[3,H,W] or [N,3,H,W] RGB in 0..1 (any size, any device) -> statistics averaged over at most MAX_FRAMES
    images spread over the batch."""
    x = images01[None] if images01.dim() == 3 else images01
    x = x[spread(x.shape[0])].float()
    h, w = x.shape[-2:]
    scale = min(1.0, WORK_SIZE / min(h, w))
    if scale < 1.0:
        x = F.interpolate(x, size=(max(3, round(h * scale)), max(3, round(w * scale))), mode="area")
    luma = 0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]
    gx = luma[:, :-1, 1:] - luma[:, :-1, :-1]
    gy = luma[:, 1:, :-1] - luma[:, :-1, :-1]
    flat = ((gx ** 2 + gy ** 2).sqrt() < FLAT_GRAD).float().mean(dim=(1, 2))
    lap = (4 * luma[:, 1:-1, 1:-1] - luma[:, :-2, 1:-1] - luma[:, 2:, 1:-1] - luma[:, 1:-1, :-2]
           - luma[:, 1:-1, 2:]).abs()
    texture = lap.flatten(1).median(dim=1).values * 100
    return DomainStats(float(flat.mean()), float(texture.mean()))


def looks_like(images01: torch.Tensor) -> str | None:
    """The domain the images look like ('cartoon' / 'real'), or None when unsure."""
    return image_stats(images01).verdict


AUTO = "auto"  # a face's domain chosen from its own pixels (--face-domains auto)


def box_pixels(image01: torch.Tensor, box) -> torch.Tensor:
    """The pixels of image [3,H,W] inside crop box (x, y, size), clipped to the image: no resampling, which
    would smooth a photo's texture into a cartoon's."""
    h, w = image01.shape[-2:]
    x, y, side = (float(v) for v in box)
    x0, y0 = min(max(0, round(x)), w - 1), min(max(0, round(y)), h - 1)
    return image01[..., y0:max(y0 + 1, min(h, round(y + side))), x0:max(x0 + 1, min(w, round(x + side)))]


def pick_face_domains(domains: list[str], image01: torch.Tensor, boxes: torch.Tensor, fallback: str, flag: str,
                      check: Callable[[str], None] | None = None) -> tuple[list[str], list[str | None]]:
    """Per-face domains (`select.parse_domains`'s) with each 'auto' replaced by what that face's crop box in
    image [3,H,W] looks like, or by `fallback` (the route's source domain) when the check is unsure ->
    (domains, per face a note saying how its auto domain was chosen, None for the others). `check(domain)`
    raises when the model cannot serve a domain; for an auto face the error says why it got that domain."""
    picked, notes = [], []
    for i, (domain, box) in enumerate(zip(domains, boxes.tolist())):
        if domain != AUTO:
            picked.append(domain)
            notes.append(None)
            continue
        seen = looks_like(box_pixels(image01, box))
        why = f"it looks like {_what(seen)}" if seen else "unsure whether real or cartoon: the route's source domain"
        if check is not None:
            try:
                check(seen or fallback)
            except ToonTalkerError as e:
                raise type(e)(f"{flag} auto: face {i} from the left is {seen or fallback} ({why}), but {e}; set "
                              f"its domain by hand in {flag}") from None
        picked.append(seen or fallback)
        notes.append(f"{flag} auto, {why}" + ("" if seen else f"; set it in {flag} to choose"))
    return picked, notes


def domain_warning(images01: torch.Tensor, domain: str, role: str, fix) -> str | None:
    """One line when `images01` (the `role`: "source" or "driving video") clearly look like the other domain
    than `domain`, ending with `fix(seen_domain)` (e.g. "set domain to cartoon"); None when they agree or
    the check is unsure."""
    seen = looks_like(images01)
    if seen is None or seen == domain or domain not in DOMAINS:
        return None
    return f"the {role} looks like {_what(seen)} but is encoded as {domain}: {fix(seen)}"


def _what(domain: str) -> str:
    return "a cartoon" if domain == "cartoon" else "a real photo"


def route_warnings(source01: torch.Tensor | None, driving01: torch.Tensor | None, source_domain: str,
                   driving_domain: str, fix) -> list[str]:
    """Warnings for a route's two inputs (either may be None: not looked at). `fix(source_domain,
    driving_domain)` names how to get the route the images look like (e.g. "set route to ... (r2c)")."""
    seen = {role: looks_like(x) if x is not None else None
            for role, x in (("source", source01), ("driving video", driving01))}
    want = (seen["source"] or source_domain, seen["driving video"] or driving_domain)
    if want == (source_domain, driving_domain):
        return []
    hint = fix(*want)
    return [f"the {role} looks like {_what(s)} but is encoded as {domain}: {hint}"
            for (role, s), domain in zip(seen.items(), (source_domain, driving_domain))
            if s is not None and s != domain]
