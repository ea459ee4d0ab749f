"""Face detection for real and cartoon faces: an ensemble of the bundled BlazeFace detectors.

Each image is letterboxed (centred on black, aspect kept), resized with anti-aliasing to each detector's input
size, and the candidates of all detectors are merged by weighted non-maximum suppression. A face's score is the
mean over the detectors of their best score on it: measured on the shared test media, real and cartoon faces
score >= 0.45 while textured backgrounds and random blobs stay <= 0.35 (one detector alone reaches 0.6 there),
hence the default threshold 0.4.

`detect_faces` returns every face per image, best first; `primary_face` picks the one to animate (largest,
weighted by confidence). `detect_faces(..., tiles=True)` gives images without a face a second look on
overlapping square tiles (small faces in large, wide or tall stills).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from ..errors import InputError
from .blazeface import load_blazeface, one_cpu_thread

DEFAULT_MODELS = ("short", "full")
THRESHOLD = 0.4
CANDIDATE_FLOOR = 0.1   # anchors below this take no part in the vote
IOU_MERGE = 0.3


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


def _detect_batch(images: torch.Tensor, threshold: float, models) -> list[list[Face]]:
    """One look at whole images (letterboxed)."""
    h, w = images.shape[-2:]
    cand: list[list[tuple]] = [[] for _ in range(images.shape[0])]
    for m, name in enumerate(models):
        net = load_blazeface(name, images.device)
        lb, sx, sy, px, py = _letterbox(images, net.size)
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


def _tiled_look(image: torch.Tensor, threshold: float, models) -> list[Face]:
    """Detection on overlapping square tiles of one image [1,3,H,W]; duplicates across tiles are merged."""
    h, w = image.shape[-2:]
    found: list[Face] = []
    for x, y, side in _tiles(h, w):
        for f in _detect_batch(image[..., y:y + side, x:x + side], threshold, models)[0]:
            x0, y0, x1, y1 = f.box
            found.append(Face((x0 + x, y0 + y, x1 + x, y1 + y), f.score, [(px + x, py + y) for px, py in f.keypoints]))
    found.sort(key=lambda f: -f.score)
    kept: list[Face] = []
    for f in found:
        if all(float(_box_iou(torch.tensor(k.box), torch.tensor([f.box]))[0]) <= IOU_MERGE for k in kept):
            kept.append(f)
    return kept


@torch.no_grad()
def detect_faces(images: torch.Tensor, threshold: float = THRESHOLD, *, tiles: bool = False,
                 models: tuple[str, ...] = DEFAULT_MODELS) -> list[list[Face]]:
    """Faces in each image of a batch [B,3,H,W] (or one [3,H,W]) in [0,1] -> per image a list of `Face`,
    best score first. Runs on the images' device. `tiles`: images where the whole-image look finds nothing
    get a second, slower look on overlapping tiles."""
    batch = _as_batch(images)
    with one_cpu_thread(batch.device):
        faces = _detect_batch(batch, threshold, models)
        if tiles:
            for i, found in enumerate(faces):
                if not found:
                    faces[i] = _tiled_look(batch[i:i + 1], threshold, models)
    for found in faces:
        found.sort(key=lambda f: -f.score)
    return faces


def primary_face(faces: list[Face]) -> Face | None:
    """The face to animate: the largest, weighted by confidence (score * side length)."""
    if not faces:
        return None
    return max(faces, key=lambda f: f.score * f.size)
