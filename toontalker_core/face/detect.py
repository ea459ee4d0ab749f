"""Face detection for real and cartoon faces: the bundled BlazeFace detectors' ensemble plus the pack's ToonNet.

Each image is letterboxed (centred on black, aspect kept), resized with anti-aliasing to each detector's input
size, and the candidates of all detectors are merged by weighted non-maximum suppression. A face's score is the
mean over the detectors of their best score on it: measured on the shared test media, real and cartoon faces
score >= 0.45 while textured backgrounds and random blobs stay <= 0.35 (one detector alone reaches 0.6 there),
hence the default threshold 0.4.

BlazeFace misses many 2-D cartoons (big eyes, no nose, thick outlines, animal heads), so the default adds the
pack's own ToonNet (`toonnet.py`, trained here on procedural cartoons and public-domain stills): its faces
join BlazeFace's unless they overlap one (BlazeFace's box and keypoints are kept there, with the higher of the
two scores). ToonNet looks twice, at 192 and 384 px, the second time for small faces only; a still gets
deeper looks up to its own resolution. A face only
ToonNet found gets template keypoints placed in its box (BlazeFace's mean layout on frontal faces), so crop
code that reads keypoints keeps working; code that measures with the keypoints asks
for BlazeFace alone (`models=BLAZEFACE`, as motion/measure.py does).

`detect_faces` returns every face per image, best first; `primary_face` picks the one to animate (largest,
weighted by confidence). `detect_faces(..., still=True)` takes more time for stills: ToonNet looks again at
up to the image's own resolution (small faces in large frames), and images without a face get a second look
on overlapping square tiles.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from ..errors import InputError
from .blazeface import load_blazeface, one_cpu_thread
from .toonnet import SIZE as TOON_SIZE
from .toonnet import decode, load_toonnet

BLAZEFACE = ("short", "full")
TOON = "toon"
DEFAULT_MODELS = (*BLAZEFACE, TOON)
THRESHOLD = 0.4
TOON_THRESHOLD = 0.55   # ToonNet's score scale, chosen on training-style scenes (DATA.md); moves with `threshold`
TOON_MIN_SIZE = 10      # px, in each look's letterbox and in the source: smaller boxes are mostly noise
TOON_FINE_EXTRA = 0.15  # the second look's faces need this much more score (small things are easier to mistake)
TOON_FINE_MAX = 32      # px in the 192 px letterbox: the largest face taken from the second look at 384 px
# A face only ToonNet finds in a picture said to be real needs this score: BlazeFace finds >= 98 % of real faces
# itself, and ToonNet's false faces on photos (blurred foliage in a real clip) score under it (DATA.md)
TOON_REAL_THRESHOLD = 0.75
# BlazeFace's keypoints relative to its box (x, y in 0..1), mean over frontal real and cartoon portraits
# (samples/, the shared test stills): right eye, left eye, nose, mouth, right ear, left ear
TEMPLATE_KEYPOINTS = ((0.29, 0.30), (0.71, 0.30), (0.50, 0.55), (0.49, 0.74), (0.07, 0.37), (0.93, 0.38))
CANDIDATE_FLOOR = 0.1   # anchors below this take no part in the vote
IOU_MERGE = 0.3
# ToonNet's second look at each of its faces (`_refine`); chosen on training-style scenes (seed 5), not on the
# held-out styles that measure it
REFINE_CONTEXT = 2.5    # window side / face side: the face is ~77 px of the 192 px input, where boxes are best
REFINE_SLACK = 0.1      # candidates may score this much under threshold: the second look decides
NEAR_CONTEXT = 2.0      # `detect_near`: window side / expected box side
STILL_MAX_LOOK = 4096   # px: the largest long side of a still's closer look (4K frames are seen whole)


@dataclass
class Face:
    """One detection in source pixels: box (x0, y0, x1, y1), score in [0,1], 6 keypoints (x, y)."""
    box: tuple[float, float, float, float]
    score: float
    keypoints: list[tuple[float, float]] = field(default_factory=list)

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]

    @property
    def size(self) -> float:
        return max(self.width, self.height)

    @property
    def center(self) -> tuple[float, float]:
        return (self.box[0] + self.box[2]) / 2, (self.box[1] + self.box[3]) / 2

    def moved(self, scale: float, x: float, y: float) -> "Face":
        """This face found in a part of a picture (a tile, a window resized by `scale`, whose corner is at
        (x, y)) -> the same face in the picture's pixels."""
        return Face(tuple(c / scale + (x, y)[i % 2] for i, c in enumerate(self.box)), self.score,
                    [(px / scale + x, py / scale + y) for px, py in self.keypoints])

    @classmethod
    def templated(cls, box: tuple[float, float, float, float], score: float) -> "Face":
        """A face without measured keypoints (ToonNet's): BlazeFace's mean layout placed in its box."""
        x0, y0, x1, y1 = box
        return cls(tuple(box), score, [(x0 + u * (x1 - x0), y0 + v * (y1 - y0)) for u, v in TEMPLATE_KEYPOINTS])


def _as_batch(images: torch.Tensor) -> torch.Tensor:
    if images.dim() == 3:
        images = images[None]
    if images.dim() != 4 or images.shape[1] not in (1, 3, 4):
        raise InputError(f"detect_faces expects images [B,3,H,W] in [0,1], got shape {tuple(images.shape)}")
    if images.shape[1] == 1:
        images = images.expand(-1, 3, -1, -1)
    return images[:, :3].float()


def _letterbox(images: torch.Tensor, size: int) -> tuple[torch.Tensor, float, float, int, int]:
    """[B,3,H,W] -> [B,3,size,size], plus (scale_x, scale_y, pad_x, pad_y): source = (letterbox - pad) / scale."""
    h, w = images.shape[-2:]
    scale = size / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    small = F.interpolate(images, size=(nh, nw), mode="bilinear", align_corners=False,
                          antialias=scale < 1).clamp_(0, 1)
    px, py = (size - nw) // 2, (size - nh) // 2
    out = F.pad(small, (px, size - nw - px, py, size - nh - py))
    # the resize maps pixel edges to pixel edges, so x_lb = x * nw / w + px (per axis)
    return out, nw / w, nh / h, px, py


def _box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a [4] vs b [N,4] (x0,y0,x1,y1) -> [N]."""
    ix = (torch.minimum(a[2], b[:, 2]) - torch.maximum(a[0], b[:, 0])).clamp(min=0)
    iy = (torch.minimum(a[3], b[:, 3]) - torch.maximum(a[1], b[:, 1])).clamp(min=0)
    inter = ix * iy
    area = lambda t: (t[..., 2] - t[..., 0]).clamp(min=0) * (t[..., 3] - t[..., 1]).clamp(min=0)  # noqa: E731
    return inter / (area(a) + area(b) - inter).clamp(min=1e-9)


def _cluster(scores: torch.Tensor, boxes: torch.Tensor, kps: torch.Tensor, model: torch.Tensor,
             n_models: int, iou: float = IOU_MERGE) -> list[tuple[float, torch.Tensor, torch.Tensor]]:
    """Weighted NMS across detectors: candidates overlapping the best remaining one form a cluster whose box and
    keypoints are the score-weighted mean of its members; its score is the mean over detectors of each
    detector's best score in the cluster (a detector that saw nothing there counts 0), so a face needs
    agreement, and one detector's confident false alarm on a textured background stays below threshold."""
    order = scores.argsort(descending=True)
    scores, boxes, kps, model = scores[order], boxes[order], kps[order], model[order]
    alive = torch.ones(len(scores), dtype=torch.bool)
    out = []
    for i in range(len(scores)):
        if not alive[i]:
            continue
        member = alive & (_box_iou(boxes[i], boxes) > iou)
        member[i] = True
        wts = scores[member][:, None]
        box = (boxes[member] * wts).sum(0) / wts.sum()
        kp = (kps[member] * wts[:, :, None]).sum(0) / wts.sum()
        per_model = [float(scores[member & (model == m)].max()) if bool((member & (model == m)).any()) else 0.0
                     for m in range(n_models)]
        out.append((sum(per_model) / n_models, box, kp))
        alive &= ~member
    return out


def _detect_batch(images: torch.Tensor, threshold: float, models, still: bool = False,
                  domain: str | None = None) -> list[list[Face]]:
    """One look at whole images (letterboxed): BlazeFace's ensemble, then ToonNet's faces where BlazeFace found
    none."""
    unknown = sorted(set(models) - {*BLAZEFACE, TOON})
    if unknown or not models:
        raise InputError(f"detect_faces: unknown or no detector in models={tuple(models)}; "
                         f"use some of {DEFAULT_MODELS}")
    blaze = tuple(m for m in models if m != TOON)
    boxed: dict[int, tuple] = {}  # letterboxes by size: BlazeFace full range and ToonNet share the 192 px one

    def letterbox(size: int) -> tuple:
        if size not in boxed:
            boxed[size] = _letterbox(images, size)
        return boxed[size]

    faces = _blaze_batch(images, threshold, blaze, letterbox) if blaze else [[] for _ in range(images.shape[0])]
    if TOON in models:
        for found, extra in zip(faces, _toon_batch(images, TOON_THRESHOLD + threshold - THRESHOLD, letterbox, still)):
            for t in extra:  # best first
                same = [f for f in found if same_face(t.box, f.box)]
                if same:
                    same[0].score = max(same[0].score, t.score)  # BlazeFace's box and keypoints stay
                elif domain != "real" or t.score >= TOON_REAL_THRESHOLD + threshold - THRESHOLD:
                    found.append(t)
    return faces


def same_face(a, b) -> bool:
    """Two boxes that overlap (IoU > IOU_MERGE) or where one mostly holds the other (over half of the smaller
    one's area): faces do not nest, so a box around a face and its body, or on an eye, is the same face."""
    ta, tb = torch.tensor(a), torch.tensor([b])
    if float(_box_iou(ta, tb)[0]) > IOU_MERGE:
        return True
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return ix * iy > 0.5 * max(smaller, 1e-9)


def _scaled(images: torch.Tensor, long: int) -> tuple[torch.Tensor, float, float, int, int]:
    """[B,3,H,W] resized so its long side is `long` (aspect kept, no square letterbox: a deep look at a wide
    frame would spend half its work on padding), padded right and bottom to a multiple of ToonNet's coarsest
    stride; same return convention as `_letterbox`."""
    h, w = images.shape[-2:]
    scale = long / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    out = images if (nh, nw) == (h, w) else F.interpolate(images, size=(nh, nw), mode="bilinear",
                                                           align_corners=False, antialias=scale < 1).clamp_(0, 1)
    out = F.pad(out, (0, -nw % 32, 0, -nh % 32))
    return out, nw / w, nh / h, 0, 0


def _still_levels(h: int, w: int) -> list[int]:
    """Long sides of the deeper looks a still gets after the 192 and 384 px letterboxes: doubling while the
    image is at least that large, then the image's own size if the last look was under 80 % of it, never
    over STILL_MAX_LOOK px (a 6000 px photo's own size would cost seconds and ~1 GB for faces of 20 px). A
    face of 24 px in a frame up to 4K, or of about 0.5 % of the long side in larger ones, is then >= 16 px in
    some look."""
    long, levels, size = max(h, w), [], 4 * TOON_SIZE
    while size <= min(long, STILL_MAX_LOOK):
        levels.append(size)
        size *= 2
    if (levels[-1] if levels else 2 * TOON_SIZE) < 0.8 * long and long <= STILL_MAX_LOOK:
        levels.append(long)
    return levels


def _toon_batch(images: torch.Tensor, threshold: float, letterbox, still: bool = False) -> list[list[Face]]:
    """ToonNet's faces in source pixels, with template keypoints. Each further look is larger and only adds
    faces the looks before have not found and that were small there (at most TOON_FINE_MAX px in the previous
    look), with a stricter score: a big face's eye, seen as a face at the larger size, cannot replace the face.
    Video frames get the 192 and 384 px letterboxes; a still (`still`) also the deeper looks of `_still_levels`."""
    h, w = images.shape[-2:]
    net = load_toonnet(images.device)
    out = [[] for _ in range(images.shape[0])]
    floor = threshold - REFINE_SLACK  # candidates; `_refine` keeps those its second look scores >= threshold
    fine = floor + TOON_FINE_EXTRA
    looks = [(TOON_SIZE, letterbox), (2 * TOON_SIZE, letterbox)]
    if still:
        looks += [(long, lambda size: _scaled(images, size)) for long in _still_levels(h, w)]
    prev = None  # the previous look's scale (its px per source px)
    for size, make in looks:
        lb, sx, sy, px, py = make(size)
        for found, (scores, boxes) in zip(out, decode(net(lb), max(floor, 0.05))):
            for score, (x0, y0, x1, y1) in zip(scores.tolist(), boxes.tolist()):
                side = min(x1 - x0, y1 - y0)  # in this look's pixels
                if side < TOON_MIN_SIZE or (prev is not None and (side * prev / sx > TOON_FINE_MAX
                                                                  or score < fine)):
                    continue
                x0, x1 = (x0 - px) / sx, (x1 - px) / sx
                y0, y1 = (y0 - py) / sy, (y1 - py) / sy
                if x1 <= 0 or y1 <= 0 or x0 >= w or y0 >= h or min(x1 - x0, y1 - y0) < TOON_MIN_SIZE:
                    continue  # outside the image, or under 10 source px (an upscaled tile's noise)
                if any(same_face((x0, y0, x1, y1), f.box) for f in found):
                    continue  # a second peak on the same face (an eye, or face + hair), lower score
                found.append(Face.templated((x0, y0, x1, y1), score))
        prev = sx
    return _refine(images, net, out, threshold)


def _window(image: torch.Tensor, box, context: float) -> tuple[torch.Tensor, tuple[float, float, float]]:
    """A square window `context` x the box's side around its centre, zero outside the image, resized to
    ToonNet's input -> ([3,S,S], (x, y, side) of the window in source pixels)."""
    h, w = image.shape[-2:]
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    side = max(8.0, context * max(box[2] - box[0], box[3] - box[1]))
    x0, y0 = round(cx - side / 2), round(cy - side / 2)
    n = round(side)
    part = image[..., max(0, y0):min(h, y0 + n), max(0, x0):min(w, x0 + n)]
    part = F.pad(part, (max(0, -x0), max(0, x0 + n - w), max(0, -y0), max(0, y0 + n - h)))
    part = F.interpolate(part, size=(TOON_SIZE, TOON_SIZE), mode="bilinear", align_corners=False,
                         antialias=n > TOON_SIZE).clamp_(0, 1)
    return part[0], (x0, y0, n)


def _refine(images: torch.Tensor, net, faces: list[list[Face]], threshold: float) -> list[list[Face]]:
    """Each ToonNet face looked at again in a window around it, where it is a mid-sized face (the size
    ToonNet boxes best): the box and score come from that look's peak on the face; a candidate with no
    such peak above `threshold` is dropped. One batch for all faces of all images."""
    wins = [(i, f, *_window(images[i:i + 1], f.box, REFINE_CONTEXT)) for i, found in enumerate(faces)
            for f in found]
    out: list[list[Face]] = [[] for _ in faces]
    if not wins:
        return out
    looks = decode(net(torch.stack([w[2] for w in wins])), 0.05)
    for (i, f, _, (x0, y0, n)), (scores, boxes) in zip(wins, looks):
        seen = (Face(tuple(b), sc).moved(TOON_SIZE / n, x0, y0) for sc, b in zip(scores.tolist(), boxes.tolist()))
        best = next((g for g in seen if float(_box_iou(torch.tensor(g.box), torch.tensor([f.box]))[0]) > IOU_MERGE),
                    None)  # the best peak on this face
        if best is None or best.score < threshold or any(same_face(best.box, o.box) for o in out[i]):
            continue
        out[i].append(Face.templated(best.box, best.score))
    return out


def _blaze_batch(images: torch.Tensor, threshold: float, models, letterbox) -> list[list[Face]]:
    """BlazeFace's ensemble on whole images (letterboxed)."""
    h, w = images.shape[-2:]
    cand: list[list[tuple]] = [[] for _ in range(images.shape[0])]
    for m, name in enumerate(models):
        net = load_blazeface(name, images.device)
        lb, sx, sy, px, py = letterbox(net.size)
        scores, boxes, kps = net(lb)
        s = net.size
        # (cx, cy, w, h) in 0..1 of the letterbox -> (x0, y0, x1, y1) in source pixels
        cx, cy = (boxes[..., 0] * s - px) / sx, (boxes[..., 1] * s - py) / sy
        bw, bh = boxes[..., 2] * s / sx, boxes[..., 3] * s / sy
        xyxy = torch.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], dim=-1)
        kxy = torch.stack([(kps[..., 0] * s - px) / sx, (kps[..., 1] * s - py) / sy], dim=-1)
        # one host copy per chunk and detector (small: anchors x 17 values); the merging below runs on the CPU
        scores, xyxy, kxy = scores.float().cpu(), xyxy.float().cpu(), kxy.float().cpu()
        for b in range(images.shape[0]):
            keep = scores[b] >= CANDIDATE_FLOOR
            if keep.any():
                k = int(keep.sum())
                cand[b].append((scores[b][keep], xyxy[b][keep], kxy[b][keep], torch.full((k,), m)))
    faces = []
    for parts in cand:
        found = []
        if parts:
            merged = _cluster(*(torch.cat([p[j] for p in parts]) for j in range(4)), n_models=len(models))
            for score, box, kp in merged:
                x0, y0, x1, y1 = box.tolist()
                if score < threshold or x1 <= 0 or y1 <= 0 or x0 >= w or y0 >= h or x1 - x0 < 2:
                    continue  # below threshold, or a box entirely outside the image (letterbox border)
                found.append(Face((x0, y0, x1, y1), score, [tuple(p) for p in kp.tolist()]))
        faces.append(found)
    return faces


def _tiles(h: int, w: int) -> list[tuple[int, int, int]]:
    """Overlapping square tiles (x, y, side): squares of the short edge along the long edge (50 % overlap),
    then four 3/4-size squares in the corners (a small face is seen larger than in the whole image)."""
    side = min(h, w)
    tiles = []
    n = max(1, -(-2 * max(h, w) // side) - 1) if h != w else 0  # 50 % overlap along the long edge
    for i in range(n):
        off = 0 if n == 1 else round(i * (max(h, w) - side) / (n - 1))
        tiles.append((off, 0, side) if w >= h else (0, off, side))
    half = side // 2 + side // 4
    if half >= 64:
        for ty in (0, h - half):
            for tx in (0, w - half):
                tiles.append((tx, ty, half))
    return tiles


def _tiled_look(image: torch.Tensor, threshold: float, models, domain: str | None) -> list[Face]:
    """Detection on overlapping square tiles of one image [1,3,H,W]; duplicates across tiles are merged."""
    h, w = image.shape[-2:]
    found: list[Face] = []
    for x, y, side in _tiles(h, w):
        found += [f.moved(1.0, x, y) for f in _detect_batch(image[..., y:y + side, x:x + side], threshold, models,
                                                             domain=domain)[0]]
    found.sort(key=lambda f: -f.score)
    kept: list[Face] = []
    for f in found:
        if all(float(_box_iou(torch.tensor(k.box), torch.tensor([f.box]))[0]) <= IOU_MERGE for k in kept):
            kept.append(f)
    return kept


@torch.no_grad()
def detect_faces(images: torch.Tensor, threshold: float = THRESHOLD, *, still: bool = False,
                 domain: str | None = None, models: tuple[str, ...] = DEFAULT_MODELS) -> list[list[Face]]:
    """Faces in each image of a batch [B,3,H,W] (or one [3,H,W]) in [0,1] -> per image a list of `Face`,
    best score first. Runs on the images' device. `still`: the images are stills (a source portrait, a
    reference frame), worth a slower, closer look: ToonNet also looks at up to the image's own resolution
    (small faces in large frames), and images where nothing is found get BlazeFace on overlapping tiles.
    `domain` "real": the pictures show real people, so a face only ToonNet finds needs TOON_REAL_THRESHOLD
    (None or "cartoon": ToonNet's own threshold). `models`: "short" and "full" (BlazeFace) and "toon"
    (ToonNet); `BLAZEFACE` alone gives the faces with real keypoints only."""
    if domain not in (None, "real", "cartoon"):
        raise InputError(f"detect_faces: domain must be real, cartoon or None, got {domain!r}")
    batch = _as_batch(images)
    with one_cpu_thread(batch.device):
        faces = _detect_batch(batch, threshold, models, still, domain)
        if still:
            for i, found in enumerate(faces):
                if not found:
                    faces[i] = _tiled_look(batch[i:i + 1], threshold, models, domain)
    for found in faces:
        found.sort(key=lambda f: -f.score)
    return faces


@torch.no_grad()
def detect_near(image: torch.Tensor, box, threshold: float = THRESHOLD, *, domain: str | None = None,
                context: float = NEAR_CONTEXT, models: tuple[str, ...] = DEFAULT_MODELS) -> list[Face]:
    """Faces in a window around `box` (x0, y0, x1, y1) of one image [3,H,W]: the window, `context` x the box's
    side, is resized to the detectors' input, so a face that is small in a large frame is seen at a size they
    find well. For a tracker that lost a small face where it expects it. Faces in source pixels, best first."""
    image = _as_batch(image)[:1]
    win, (x0, y0, n) = _window(image, box, context)
    with one_cpu_thread(image.device):
        found = [f.moved(TOON_SIZE / n, x0, y0) for f in _detect_batch(win[None], threshold, models, domain=domain)[0]]
    h, w = image.shape[-2:]
    # faces on the window's padding (outside the picture) are dropped
    return sorted((f for f in found if f.box[2] > 0 and f.box[3] > 0 and f.box[0] < w and f.box[1] < h),
                  key=lambda f: -f.score)


def primary_face(faces: list[Face]) -> Face | None:
    """The face to animate: the largest, weighted by confidence (score * side length)."""
    if not faces:
        return None
    return max(faces, key=lambda f: f.score * f.size)
