"""Training of ToonNet, the pack's small face detector (toontalker_core/face/toonnet.py), on the CPU.

    python -m toontalker_train detector --out RUN --minutes 32 --bank 3000 --export OUT.safetensors
    python -m toontalker_train detector --out RUN --minutes 37 --bank 3000 --resume --photo 0.4 --export OUT.safetensors

(the shipped weights: OUT = toontalker_core/face/models/toonnet; see DATA.md)

Data, all made here (DATA.md): a bank of procedural cartoon faces of the TRAINING styles
(`cartoon_styles.TRAIN_STYLES`; the held-out styles are never drawn), rendered once with alpha and box, and the
project's public-domain real stills (`scenes.REAL_STILLS`, boxes from the bundled BlazeFace ensemble), pasted
at random sizes (7 px up to 3/4 of the frame, log-uniform) onto the scene backgrounds (`scenes.background`),
0-4 faces per image, in frames of random aspect letterboxed to 192 px as at inference; then brightness,
contrast, grey, blur and noise jitter. `--photo F`: a share F of the backgrounds are crops of face-free
public-domain / CC0 photographs (`scenes.photo_background`), against false alarms on real video backgrounds.

Loss (CenterNet): focal loss on a Gaussian centre heatmap (sigma grows with the face), L1 on the centre offset
and the log box size at each face's centre cell. AdamW with a cosine schedule over the time budget; every
`--save-every` seconds the run writes a checkpoint and (with --export) the folded weights, so an
interrupted run still leaves usable weights.
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from toontalker_core.atomic import atomic_write
from toontalker_core.face.toonnet import SIZE, STRIDE, ToonNet, fold_norms

from .cartoon_styles import TRAIN_STYLES, render_styles
from .scenes import BACKGROUNDS, REAL_STILLS, background, photo_background, place_faces, real_cutout, scale_face

ASPECTS = (1.0, 4 / 3, 16 / 9, 3 / 4, 9 / 16, 2.0)


def face_bank(n: int, g: torch.Generator, styles=TRAIN_STYLES, tile: int = 96, chunk: int = 64):
    """n cartoon faces of `styles` (cycled) -> (colour uint8 [n,3,T,T], alpha uint8 [n,1,T,T], boxes [n,4])."""
    cols, alps, boxes = [], [], []
    names = [styles[i % len(styles)] for i in range(n)]
    for i in range(0, n, chunk):
        c, a, b = render_styles(names[i:i + chunk], g, tile, supersample=1)
        cols.append((c * 255).round().to(torch.uint8))
        alps.append((a * 255).round().to(torch.uint8))
        boxes.append(b)
    return torch.cat(cols), torch.cat(alps), torch.cat(boxes)


def _u(g, lo=0.0, hi=1.0):
    return lo + (hi - lo) * float(torch.rand((), generator=g))


def sample_image(bank, g: torch.Generator, real: float = 0.2, empty: float = 0.1, photo: float = 0.0):
    """One letterboxed training image [3,S,S] and its face boxes [k,4] in its pixels. `photo`: the share of
    face-free photographs as backgrounds (the second run: against false alarms on real video backgrounds)."""
    aspect = ASPECTS[int(torch.randint(len(ASPECTS), (1,), generator=g))]
    ch, cw = (round(SIZE / aspect), SIZE) if aspect > 1 else (SIZE, round(SIZE * aspect))  # aspect = w / h
    if _u(g) < photo:
        img = photo_background(ch, cw, g)
    else:
        img = background(BACKGROUNDS[int(torch.randint(len(BACKGROUNDS), (1,), generator=g))], ch, cw, g)
    n = 0 if _u(g) < empty else int(torch.randint(1, 5, (1,), generator=g))
    faces = []
    for _ in range(n):
        side = math.exp(_u(g, math.log(7), math.log(0.75 * min(ch, cw))))
        if _u(g) < real:
            c, a, b = real_cutout(REAL_STILLS[int(torch.randint(len(REAL_STILLS), (1,), generator=g))])
        else:
            k = int(torch.randint(len(bank[0]), (1,), generator=g))
            c, a, b = bank[0][k].float() / 255, bank[1][k].float() / 255, tuple(bank[2][k].tolist())
        if _u(g) < 0.5:
            w = c.shape[-1]
            c, a, b = c.flip(-1), a.flip(-1), (w - b[2], b[1], w - b[0], b[3])
        faces.append(scale_face(c, a, b, side))
    boxes, _ = place_faces(img, faces, g)
    # photometric jitter
    img = (img - 0.5) * _u(g, 0.7, 1.3) + 0.5 + _u(g, -0.15, 0.15)
    if _u(g) < 0.1:
        img = img.mean(0, keepdim=True).expand(3, -1, -1)
    if _u(g) < 0.3:
        f = _u(g, 0.35, 0.8)
        small = F.interpolate(img[None], scale_factor=f, mode="bilinear", antialias=True, align_corners=False)
        img = F.interpolate(small, size=(ch, cw), mode="bilinear", align_corners=False)[0]
    img = (img + _u(g, 0, 0.05) * torch.randn(img.shape, generator=g)).clamp(0, 1)
    out = torch.zeros(3, SIZE, SIZE)
    px, py = (SIZE - cw) // 2, (SIZE - ch) // 2
    out[:, py:py + ch, px:px + cw] = img
    return out, boxes + torch.tensor([px, py, px, py], dtype=torch.float32)


def targets(boxes_list: list[torch.Tensor]):
    """Per image boxes -> heatmap [B,1,G,G], regression [B,4,G,G] (offset x/y, log w/h), mask [B,1,G,G]."""
    G = SIZE // STRIDE
    b = len(boxes_list)
    heat, reg, mask = torch.zeros(b, 1, G, G), torch.zeros(b, 4, G, G), torch.zeros(b, 1, G, G)
    ys, xs = torch.meshgrid(torch.arange(G) + 0.5, torch.arange(G) + 0.5, indexing="ij")
    for i, boxes in enumerate(boxes_list):
        for x0, y0, x1, y1 in boxes.tolist():
            cx, cy = (x0 + x1) / 2 / STRIDE, (y0 + y1) / 2 / STRIDE
            w, h = (x1 - x0) / STRIDE, (y1 - y0) / STRIDE
            if not (0 <= cx < G and 0 <= cy < G):
                continue
            sigma = max(0.5, 0.12 * (w + h))
            heat[i, 0] = torch.maximum(heat[i, 0], torch.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / (2 * sigma ** 2)))
            gx, gy = int(cx), int(cy)
            heat[i, 0, gy, gx] = 1.0
            reg[i, :, gy, gx] = torch.tensor([cx - gx - 0.5, cy - gy - 0.5, math.log(w), math.log(h)])
            mask[i, 0, gy, gx] = 1.0
    return heat, reg, mask


def loss_fn(raw: torch.Tensor, heat: torch.Tensor, reg: torch.Tensor, mask: torch.Tensor):
    p = torch.sigmoid(raw[:, :1]).clamp(1e-4, 1 - 1e-4)
    pos = heat.eq(1).float()
    focal = -(pos * (1 - p) ** 2 * torch.log(p) + (1 - pos) * (1 - heat) ** 4 * p ** 2 * torch.log(1 - p)).sum()
    n = pos.sum().clamp(min=1)
    box = (F.l1_loss(raw[:, 1:5], reg, reduction="none") * mask).sum() / n
    return focal / n + box, float(focal.detach() / n), float(box.detach())


def save(path: Path, obj) -> None:
    with atomic_write(path) as tmp:
        torch.save(obj, tmp)


def export(net: ToonNet, path: Path) -> None:
    from safetensors.torch import save_file
    with atomic_write(path) as tmp:
        save_file(fold_norms(net), str(tmp), metadata={"format": "toonnet-v1", "input": str(SIZE)})


def train(out: Path, minutes: float, export_to: Path | None = None, batch: int = 32, lr: float = 3e-3,
          bank_size: int = 2000, seed: int = 0, threads: int = 1, save_every: float = 120.0,
          resume: bool = False, photo: float = 0.0) -> Path:
    torch.set_num_threads(threads)
    out.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    bank_file = out / f"bank_{bank_size}.pt"
    if bank_file.is_file():
        bank = torch.load(bank_file, weights_only=True)  # our own file, tensors only
    else:
        t0 = time.time()
        bank = face_bank(bank_size, g)
        save(bank_file, bank)
        print(f"face bank: {bank_size} faces in {time.time() - t0:.0f} s", flush=True)
    net = ToonNet(norm=True)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    step, spent = 0, 0.0
    ckpt = out / "ckpt_latest.pt"
    if resume and ckpt.is_file():
        state = torch.load(ckpt, weights_only=True)
        net.load_state_dict(state["net"])
        opt.load_state_dict(state["opt"])
        step, spent = state["step"], state["spent"]
    budget = minutes * 60
    start, last_save = time.time() - spent, time.time()
    log = open(out / "log.jsonl", "a")
    net.train()
    while True:
        spent = time.time() - start
        if spent >= budget:
            break
        frac = spent / budget
        for group in opt.param_groups:  # short warm-up, then cosine over the time budget
            group["lr"] = lr * min(1.0, (step + 1) / 100) * 0.5 * (1 + math.cos(math.pi * frac))
        images, boxes = zip(*(sample_image(bank, g, photo=photo) for _ in range(batch)))
        heat, reg, mask = targets(list(boxes))
        total, focal, box = loss_fn(net(torch.stack(images)), heat, reg, mask)
        opt.zero_grad()
        total.backward()
        opt.step()
        step += 1
        if step % 20 == 0:
            rec = {"step": step, "min": round(spent / 60, 2), "focal": round(focal, 4), "box": round(box, 4),
                   "lr": opt.param_groups[0]["lr"]}
            log.write(json.dumps(rec) + "\n")
            log.flush()
            print(rec, flush=True)
        if time.time() - last_save > save_every:
            _checkpoint(net, opt, step, spent, ckpt, export_to)
            last_save = time.time()
    _checkpoint(net, opt, step, time.time() - start, ckpt, export_to)
    return ckpt


def _checkpoint(net, opt, step, spent, ckpt: Path, export_to: Path | None) -> None:
    save(ckpt, {"net": net.state_dict(), "opt": opt.state_dict(), "step": step, "spent": spent})
    if export_to is not None:
        net.eval()
        export(net, export_to)
        net.train()
    print(f"saved step {step} ({spent / 60:.1f} min)", flush=True)
