"""Training pairs: two frames of one clip (source, driving), from folders of videos / frame folders or from
the synthetic generators, with augmentation shared by both frames of a pair.

Every source has `sample(n, generator) -> (source, driving)`, each [n,3,S,S] float in [0,1]; all randomness
comes from the torch.Generator passed in (deterministic and resumable).
"""
from __future__ import annotations

import sys
from pathlib import Path

import torch
import torch.nn.functional as F

from toontalker_core.media import IMAGE_EXTS, VIDEO_EXTS, MediaError, iter_driving

from . import cartoon as C
from .realmotion import StillBank, random_identity_warp

CROPS = ("none", "center", "face")


# -- augmentation -------------------------------------------------------------------------------------------
def augment_pair(src: torch.Tensor, drv: torch.Tensor, g: torch.Generator, flip: bool = True,
                 colour: float = 1.0, zoom: float = 0.0, return_flip: bool = False,
                 flip_mask: torch.Tensor | None = None):
    """The same random flip, colour jitter and zoom/shift for both frames of each pair (so the motion between
    them is untouched). colour: jitter strength (0 = none); zoom: max relative zoom/shift; flip_mask [n]
    imposes the flips (pairs of two domains that must show the same, possibly mirrored, motion)."""
    n = src.shape[0]
    both = torch.cat([src, drv])  # [2n, ...]
    f = torch.zeros(n, dtype=torch.bool)
    if flip_mask is not None:
        f = flip_mask.bool()
        both = torch.where(torch.cat([f, f])[:, None, None, None], both.flip(-1), both)
    elif flip:
        f = torch.rand(n, generator=g) < 0.5
        f2 = torch.cat([f, f])
        both = torch.where(f2[:, None, None, None], both.flip(-1), both)
    if zoom > 0:
        s = 1 + zoom * (2 * torch.rand(n, generator=g) - 1)
        t = zoom * (2 * torch.rand(n, 2, generator=g) - 1)
        theta = torch.zeros(n, 2, 3)
        theta[:, 0, 0] = theta[:, 1, 1] = 1 / s
        theta[:, :, 2] = t
        theta = torch.cat([theta, theta])
        grid = F.affine_grid(theta, list(both.shape), align_corners=False)
        both = F.grid_sample(both, grid, mode="bilinear", padding_mode="border", align_corners=False)
    if colour > 0:
        def u(lo, hi, *shape):
            r = lo + (hi - lo) * torch.rand(n, *shape, generator=g)
            return torch.cat([r, r])
        bright = u(-0.08, 0.08, 1, 1, 1) * colour
        contrast = 1 + u(-0.2, 0.2, 1, 1, 1) * colour
        sat = 1 + u(-0.4, 0.3, 1, 1, 1) * colour
        gain = 1 + u(-0.08, 0.08, 3, 1, 1) * colour
        gray = both.mean(1, keepdim=True)
        both = gray + (both - gray) * sat
        mean = both.mean((1, 2, 3), keepdim=True)
        both = (both - mean) * contrast + mean + bright
        both = both * gain
        to_gray = torch.rand(n, generator=g) < 0.08 * colour
        to_gray = torch.cat([to_gray, to_gray])[:, None, None, None]
        both = torch.where(to_gray, both.mean(1, keepdim=True).expand_as(both), both)
    both = both.clamp(0, 1)
    return (both[:n], both[n:], f) if return_flip else (both[:n], both[n:])


def degrade_pair(src: torch.Tensor, drv: torch.Tensor, g: torch.Generator, strength: float = 1.0):
    """Camera-like variation of a pair, so that the stills' own sharpness, tone and cleanliness are not a
    feature of the real domain: per-channel gamma (skin tone, white balance) and softness shared by both
    frames; sensor noise drawn for each frame. strength 0 = none."""
    n = src.shape[0]
    both = torch.cat([src, drv])
    gamma = torch.exp(0.25 * strength * (2 * torch.rand(n, 3, 1, 1, generator=g) - 1))
    soft = (torch.rand(n, 1, 1, 1, generator=g) < 0.5) * torch.rand(n, 1, 1, 1, generator=g) * min(1.0, strength)
    sigma = 0.02 * strength * torch.rand(n, 1, 1, 1, generator=g)
    twice = lambda t: torch.cat([t, t])  # noqa: E731
    both = both.clamp(1e-4, 1) ** twice(gamma)
    blurred = F.avg_pool2d(F.pad(both, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    both = torch.lerp(both, blurred, twice(soft))
    both = both + twice(sigma) * torch.randn(both.shape, generator=g)
    both = both.clamp(0, 1)
    return both[:n], both[n:]


def mix_motion(m1: dict, m2: dict, g: torch.Generator) -> dict:
    """Driving poses between the source pose m1 and an independent pose m2 (t ~ U(0,1) per pair): as in real
    clips, most frame pairs differ by a moderate motion, some by a large one."""
    n = next(iter(m1.values())).shape[0]
    t = torch.rand(n, generator=g)
    return {k: m1[k] + t * (m2[k] - m1[k]) for k in m1}


PAIRED_AMOUNT = 0.8  # motion range of shared motions (the real domain's; the held-out cross sets use it too)


def shared_motion(n: int, g: torch.Generator, identity_pairs: bool = False, amount: float = PAIRED_AMOUNT) -> dict:
    """One motion draw for several sources (the paired cross-domain aid): {"m1", "m2", "flip"} for n samples.
    Sample i of every source that takes it shows the same motion m1[i] -> m2[i] (mirrored where flip[i]),
    so a pair of one domain has a ground truth in the other. identity_pairs: samples 2j and 2j+1 share
    their motion too (two identities of one domain in the same motion: the identity-mixing aid)."""
    k = (n + 1) // 2 if identity_pairs else n
    m1 = C.random_motion(k, g, amount=amount)
    m2 = mix_motion(m1, C.random_motion(k, g, amount=amount), g)
    flip = torch.rand(k, generator=g) < 0.5
    if identity_pairs:
        m1, m2 = ({key: v.repeat_interleave(2)[:n] for key, v in m.items()} for m in (m1, m2))
        flip = flip.repeat_interleave(2)[:n]
    return {"m1": m1, "m2": m2, "flip": flip}


# -- synthetic sources --------------------------------------------------------------------------------------
class SyntheticCartoon:
    """Procedural cartoon clips (`cartoon.py`): a random character in two random poses/expressions."""

    name = "synthetic-cartoon"
    shares_motion = True  # sample(..., motion=shared_motion(...))

    def __init__(self, size: int, augment: bool = True, mix: bool = True):
        self.size, self.augment, self.mix = size, augment, mix

    def sample(self, n: int, g: torch.Generator, motion: dict | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """motion: a `shared_motion` draw to show (its flips imposed) instead of a random one."""
        ident = C.random_identity(n, g)
        if motion is not None:
            m1, m2 = motion["m1"], motion["m2"]
        else:
            m1 = C.random_motion(n, g)
            m2 = mix_motion(m1, C.random_motion(n, g), g) if self.mix else C.random_motion(n, g)
        both = C.render({k: torch.cat([v, v]) for k, v in ident.items()},
                        {k: torch.cat([m1[k], m2[k]]) for k in m1}, self.size)
        src, drv = both[:n], both[n:]
        flip = torch.zeros(n, dtype=torch.bool)
        if self.augment or motion is not None:  # no zoom: the renderer varies scale and position (flows stay
            # exact); a shared motion imposes its flips
            src, drv, flip = augment_pair(src, drv, g, flip=self.augment, colour=0.3 if self.augment else 0.0,
                                          return_flip=True, flip_mask=None if motion is None else motion["flip"])
        self.last_aux = {"m1": m1, "m2": m2, "flip": flip}
        return src, drv

    def describe(self) -> str:
        return "procedural cartoon faces (cartoon.py), unlimited"


class SyntheticReal:
    """Public-domain / CC0 stills animated with known synthetic head and expression motion (`realmotion.py`)."""

    name = "synthetic-real"
    shares_motion = True

    def __init__(self, size: int, stills: list[str] | None = None, augment: bool = True, mix: bool = True,
                 identity: float = 0.0):
        """identity: strength of the identity augmentation (0 = off, as for the first demo models): a reshaped
        face (`realmotion.random_identity_warp`), a wider face-box jitter and camera-like variation
        (`degrade_pair`), so that the few stills become many faces."""
        self.bank = StillBank(size, stills)
        self.size, self.augment, self.mix = size, augment, mix
        self.identity = identity if augment else 0.0

    def sample(self, n: int, g: torch.Generator, motion: dict | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """motion: a `shared_motion` draw to show (its flips imposed) instead of a random one."""
        idx = self.bank.pick(n, g)
        if motion is not None:
            m1, m2 = motion["m1"], motion["m2"]
        else:
            m1 = C.random_motion(n, g, amount=0.8)
            m2 = C.random_motion(n, g, amount=0.8)
            if self.mix:
                m2 = mix_motion(m1, m2, g)
        wider = 1 + 0.5 * self.identity
        jit = (torch.tensor([0.12, 0.12, 0.15]) * wider * (2 * torch.rand(n, 3, generator=g) - 1)
               if self.augment else torch.zeros(n, 3))
        src, drv = [], []
        for i in range(n):
            shape = random_identity_warp(g, self.identity) if self.identity > 0 else None
            pair = self.bank.render(int(idx[i]), {k: torch.stack([m1[k][i], m2[k][i]]) for k in m1}, jit[i], shape)
            src.append(pair[0])
            drv.append(pair[1])
        src, drv = torch.stack(src), torch.stack(drv)
        if self.identity > 0:
            src, drv = degrade_pair(src, drv, g, self.identity)
        flip = torch.zeros(n, dtype=torch.bool)
        if self.augment or motion is not None:  # a shared motion imposes its flips
            src, drv, flip = augment_pair(src, drv, g, flip=self.augment, colour=1.0 if self.augment else 0.0,
                                          return_flip=True, flip_mask=None if motion is None else motion["flip"])
        self.last_aux = {"m1": m1, "m2": m2, "flip": flip}
        return src, drv

    def describe(self) -> str:
        return f"stills {', '.join(self.bank.names)} with synthetic motion (realmotion.py)"


# -- folders ------------------------------------------------------------------------------------------------
def crop_clip(frames: torch.Tensor, mode: str, size: int) -> torch.Tensor:
    """One crop for the whole clip (a per-frame crop would cancel the head motion) -> [T,3,size,size].

    none: the whole frame resized (aspect not kept, as the CLI's --crop none); center: the largest centred
    square; face: the project's face cropper (`toontalker_core.face.locate_face`) on the first frame, that box
    for every frame. Raises ValueError (with the fix) when no face is found."""
    if mode not in CROPS:
        raise ValueError(f"unknown crop '{mode}': use one of {', '.join(CROPS)}")
    t, _, h, w = frames.shape
    if mode == "center":
        s = min(h, w)
        y0, x0 = (h - s) // 2, (w - s) // 2
        frames = frames[:, :, y0:y0 + s, x0:x0 + s]
    elif mode == "face":
        from toontalker_core.face import CropTransform, NoFaceError, crop, locate_face

        try:
            box, _ = locate_face(frames[0], what="the clip's first frame", hint="use --crop center or none",
                                 warn=lambda msg: print(f"warning: {msg}", file=sys.stderr))
        except NoFaceError as e:
            raise ValueError(str(e)) from None
        transform = CropTransform.from_boxes(box[None].expand(t, -1), size, (h, w))
        return crop(frames, transform).clamp(0, 1)
    return F.interpolate(frames, size=(size, size), mode="bilinear", antialias=True, align_corners=False).clamp(0, 1)


def find_clips(root: str | Path) -> list[Path]:
    """Videos anywhere under `root`, and folders that directly hold image frames (one clip each)."""
    root = Path(root)
    if not root.exists():
        raise FileNotFoundError(f"training data folder not found: {root}")
    if root.is_file():
        return [root]
    clips = []
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.suffix.lower() in VIDEO_EXTS:
            clips.append(p)
        elif p.is_dir() and any(c.suffix.lower() in IMAGE_EXTS for c in p.iterdir() if c.is_file()):
            clips.append(p)
    if any(c.suffix.lower() in IMAGE_EXTS for c in root.iterdir() if c.is_file()):
        clips.append(root)
    return clips


class FolderClips:
    """Clips from a folder (videos and/or frame folders), cropped once per clip and kept in memory as uint8."""

    name = "folder"

    def __init__(self, root: str | Path, size: int, crop: str = "face", max_frames: int = 300,
                 stride: int = 1, augment: bool = True):
        self.root, self.size, self.augment = Path(root), size, augment
        self.clips: list[torch.Tensor] = []
        skipped = []
        for path in find_clips(root):
            try:
                chunks, count = [], 0
                for chunk in iter_driving(path, chunk_size=32):
                    chunk = chunk[::stride] if stride > 1 else chunk
                    chunks.append(chunk)
                    count += chunk.shape[0]
                    if count >= max_frames:
                        break
                frames = torch.cat(chunks)[:max_frames]
            except (MediaError, OSError) as e:
                skipped.append(f"{path}: {e}")
                continue
            if frames.shape[0] < 2:
                skipped.append(f"{path}: fewer than 2 frames")
                continue
            try:
                frames = crop_clip(frames, crop, size)
            except ValueError as e:  # e.g. no face found
                skipped.append(f"{path}: {e}")
                continue
            self.clips.append((frames * 255).round().to(torch.uint8))
        for s in skipped:
            print(f"skipped clip {s}", file=sys.stderr)
        if not self.clips:
            raise ValueError(f"no usable clip (video or frame folder with >= 2 frames) under {root}")
        lengths = torch.tensor([c.shape[0] for c in self.clips], dtype=torch.float)
        self.weights = lengths / lengths.sum()

    def sample(self, n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.multinomial(self.weights, n, replacement=True, generator=g)
        src, drv = [], []
        for i in idx.tolist():
            clip = self.clips[i]
            a, b = torch.randint(clip.shape[0], (2,), generator=g).tolist()
            src.append(clip[a])
            drv.append(clip[b])
        src, drv = torch.stack(src).float() / 255, torch.stack(drv).float() / 255
        if self.augment:
            src, drv = augment_pair(src, drv, g, colour=0.6, zoom=0.05)
        return src, drv

    def describe(self) -> str:
        return f"{len(self.clips)} clips, {sum(c.shape[0] for c in self.clips)} frames from {self.root}"


def make_source(spec: str, size: int, crop: str = "face", domain: str = "real", augment: bool = True,
                max_frames: int = 300, identity: float = 0.0):
    """'synthetic' -> the domain's generator (identity: SyntheticReal's identity augmentation); anything else
    is a folder (or one video) of clips."""
    if spec == "synthetic":
        return (SyntheticReal(size, augment=augment, identity=identity) if domain == "real"
                else SyntheticCartoon(size, augment))
    return FolderClips(spec, size, crop=crop, max_frames=max_frames, augment=augment)
