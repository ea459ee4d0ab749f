"""Held-out evaluation: self-reenactment L1 and SSIM against two baselines computed the same way.

Baselines: `source` (the untouched source frame as the prediction of the driving frame) and `random` (the
same architecture with random weights, initialised as training initialises it).

Held-out sets (fixed seeds that the training stream never draws, `augment` off):
- real/self:     synthetic real clips (realmotion.py): the training stills in unseen random poses/expressions;
- cartoon/self:  procedural cartoon clips: unseen random characters in unseen poses;
- real->cartoon / cartoon->real (cross-domain models): both generators share the motion parameters, so a
  real pair (m1 -> m2) has a ground truth in the cartoon domain: the cartoon character drawn at m2. The
  cartoon at m1 is moved by the real pair's canonical change (relative mode). Approximate ground truth: the
  two domains render "the same" parameters differently (a warp of a still vs a drawing);
- any folder of clips given with `--real-dir` / `--cartoon-dir` (local validation only).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from toontalker_core import stages as S
from toontalker_core.model.checkpoint import load_model
from toontalker_core.model.toontalker import ToonTalker

from . import cartoon as C
from . import losses as L
from .data import FolderClips, SyntheticCartoon, SyntheticReal
from .realmotion import EVAL_STILLS

EVAL_SEED = 987_654_321


def save_grid(rows: list[torch.Tensor], path: str | Path, pad: int = 2) -> Path:
    """Rows of images [n,3,H,W] in [0,1] -> one PNG."""
    n = max(r.shape[0] for r in rows)
    h, w = rows[0].shape[-2:]
    canvas = torch.ones(3, len(rows) * (h + pad) + pad, n * (w + pad) + pad)
    for i, r in enumerate(rows):
        for j in range(r.shape[0]):
            y, x = pad + i * (h + pad), pad + j * (w + pad)
            canvas[:, y:y + h, x:x + w] = r[j].float().clamp(0, 1)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray((canvas.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)).save(path)
    return path


def random_model(like: ToonTalker, seed: int = 0, flow_init: float = 0.1, mask_init: float = 2.0) -> ToonTalker:
    torch.manual_seed(seed)
    m = ToonTalker(like.cfg, cross_domain=like.cross_domain)
    with torch.no_grad():
        for gen in filter(None, (m.gen, m.gen_real)):
            for flow in gen.dec.to_flows:
                flow.conv.weight.mul_(flow_init)
                flow.bias[:, 2].fill_(mask_init)
    return m


@torch.no_grad()
def self_reenactment(model: ToonTalker, domain: str, src01: torch.Tensor, drv01: torch.Tensor,
                     batch: int = 16) -> torch.Tensor:
    outs = []
    for i in range(0, src01.shape[0], batch):
        s, d = src01[i:i + batch] * 2 - 1, drv01[i:i + batch] * 2 - 1
        es = S.encode_source(model, s, domain)
        ed = S.encode_driving(model, d, domain)
        outs.append(S.to_unit_range(S.render(model, es, S.decode(model, es, es.canon_T0 + ed.canon_T1))))
    return torch.cat(outs)


@torch.no_grad()
def cross_transfer(model: ToonTalker, drv_domain: str, ref01, drv01, src_domain: str, src01,
                   batch: int = 16) -> torch.Tensor:
    outs = []
    for i in range(0, src01.shape[0], batch):
        es = S.encode_source(model, src01[i:i + batch] * 2 - 1, src_domain)
        delta = L.canonical_change(model, drv_domain, ref01[i:i + batch] * 2 - 1, drv01[i:i + batch] * 2 - 1)
        z = es.canon_T0 + es.canon_T1 + delta
        outs.append(S.to_unit_range(S.render(model, es, S.decode(model, es, z))))
    return torch.cat(outs)


def _scores(pred, target) -> dict[str, float]:
    return {"l1": (pred - target).abs().mean().item(), "ssim": L.ssim(pred, target).item()}


def heldout_sets(size: int, n: int, cross: bool, seed: int = EVAL_SEED, real_dir=None, cartoon_dir=None,
                 crop: str = "center") -> dict:
    """{name: dict(kind, domains, tensors)} of held-out data."""
    sets = {}
    g = torch.Generator().manual_seed(seed)
    real = SyntheticReal(size, stills=list(EVAL_STILLS), augment=False, mix=False)
    sets["real/self"] = {"kind": "self", "domain": "real", "pair": real.sample(n, g)}
    if cross:
        sets["cartoon/self"] = {"kind": "self", "domain": "cartoon",
                                "pair": SyntheticCartoon(size, augment=False, mix=False).sample(n, g)}
        # shared motion parameters: a ground truth for the transfer in the other domain
        m1, m2 = C.random_motion(n, g, amount=0.8), C.random_motion(n, g, amount=0.8)
        ident = C.random_identity(n, g)
        cart1, cart2 = C.render(ident, m1, size), C.render(ident, m2, size)
        idx = real.bank.pick(n, g)
        r1 = torch.cat([real.bank.render(int(idx[i]), {k: v[i:i + 1] for k, v in m1.items()}) for i in range(n)])
        r2 = torch.cat([real.bank.render(int(idx[i]), {k: v[i:i + 1] for k, v in m2.items()}) for i in range(n)])
        sets["real->cartoon"] = {"kind": "cross", "drv_domain": "real", "ref": r1, "drv": r2,
                                 "src_domain": "cartoon", "src": cart1, "target": cart2}
        sets["cartoon->real"] = {"kind": "cross", "drv_domain": "cartoon", "ref": cart1, "drv": cart2,
                                 "src_domain": "real", "src": r1, "target": r2}
    for name, d, dom in (("folder-real/self", real_dir, "real"), ("folder-cartoon/self", cartoon_dir, "cartoon")):
        if d:
            fc = FolderClips(d, size, crop=crop, augment=False)
            sets[name] = {"kind": "self", "domain": dom, "pair": fc.sample(n, g)}
    return sets


@torch.no_grad()
def evaluate(model: ToonTalker, n: int = 128, seed: int = EVAL_SEED, samples: str | Path | None = None,
             real_dir=None, cartoon_dir=None, crop: str = "center", random_seed: int = 0) -> dict:
    """-> {set: {"model": {l1, ssim}, "source": {...}, "random": {...}}}; writes sample grids to `samples`."""
    rnd = random_model(model, random_seed)
    results = {}
    for name, st in heldout_sets(model.cfg.size, n, model.cross_domain, seed, real_dir, cartoon_dir, crop).items():
        if st["kind"] == "self":
            src, drv = st["pair"]
            target = drv
            pred = self_reenactment(model, st["domain"], src, drv)
            pred_rnd = self_reenactment(rnd, st["domain"], src, drv)
            rows = [src[:8], drv[:8], pred[:8], pred_rnd[:8]]
        else:
            src, target = st["src"], st["target"]
            pred = cross_transfer(model, st["drv_domain"], st["ref"], st["drv"], st["src_domain"], src)
            pred_rnd = cross_transfer(rnd, st["drv_domain"], st["ref"], st["drv"], st["src_domain"], src)
            rows = [st["ref"][:8], st["drv"][:8], src[:8], target[:8], pred[:8], pred_rnd[:8]]
        results[name] = {"model": _scores(pred, target), "source": _scores(src, target),
                         "random": _scores(pred_rnd, target), "n": int(src.shape[0])}
        if samples:
            save_grid(rows, Path(samples) / (name.replace("/", "_").replace(">", "") + ".png"))
    return results


def markdown_table(results: dict) -> str:
    lines = ["| held-out set | n | L1 model | L1 source frame | L1 random weights | SSIM model | SSIM source frame"
             " | SSIM random weights |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, r in results.items():
        lines.append(f"| {name} | {r['n']} | **{r['model']['l1']:.4f}** | {r['source']['l1']:.4f} | "
                     f"{r['random']['l1']:.4f} | **{r['model']['ssim']:.4f}** | {r['source']['ssim']:.4f} | "
                     f"{r['random']['ssim']:.4f} |")
    return "\n".join(lines)


def evaluate_file(path, out_dir=None, **kw) -> dict:
    model = load_model(path)
    res = evaluate(model, samples=out_dir, **kw)
    if out_dir:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        (Path(out_dir) / "metrics.json").write_text(json.dumps(res, indent=2))
        (Path(out_dir) / "metrics.md").write_text(markdown_table(res) + "\n")
    return res
