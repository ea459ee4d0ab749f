"""The two training stages, checkpoints (resumable) and logging.

in-domain stage (LIA/ToonTalker self-reenactment): source s and driving d are two frames of one clip; the
generator rebuilds d from s with z = T0(E(s)) + T1(E(d)) (the reference forward = `transfer` in absolute
mode at strength 1):  L = L1 + w_struct * structural [+ w_adv * non-saturating GAN, R1 on the discriminator].

cross-domain stage: a real batch and a cartoon batch (no pairing between them) per step; each domain is
self-reenacted by its own generator (shared query transformers T0/T1 of the real generator, domain motion
encoders and bases), plus the analogy constraint in both directions (`losses.analogy_loss`):
    L = rec_real + rec_cartoon + w_ana * (ana_real->cartoon + ana_cartoon->real) [+ adversarial on the
        reconstructions and on the transferred frames, one discriminator per domain].
It starts from scratch or from a checkpoint (`init_from`: an in-domain one initialises both domains; a
cross-domain one, e.g. the shipped demo weights, continues their training with a fresh optimiser).

Paired aid (synthetic data only, not in the paper): when the sources draw one shared motion per step
(`data.shared_motion`), sample i of the real batch and of the cartoon batch show the same motion m1 -> m2.
The real pair's canonical change then has a target in the cartoon domain, the cartoon drawn at m2, and
vice versa:  L_pair = rec(G_c(c1, c_c1 + delta_r), c2) + rec(G_r(r1, c_r1 + delta_c), r2), with gradients
into both domains (the driving domain's motion encoder learns the change the other domain can render).
`w_mix` adds the same inside each domain between two identities in one motion (identity mixing: the motion
encoder must read the motion, not the face). Both fade to 0 over `paired_steps` like the flow aid.
"""
from __future__ import annotations

import copy
import json
import math
import signal
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from toontalker_core import stages as S
from toontalker_core.atomic import atomic_write
from toontalker_core.model.checkpoint import build_model, read_states, save_safetensors
from toontalker_core.model.config import ModelConfig
from toontalker_core.model.toontalker import ToonTalker

from . import losses as L
from .data import augment_pair, shared_motion
from .discriminator import Discriminator
from .flowsup import PoseHeads, affine_offsets, capture_flows, flow_loss

STAGES = ("indomain", "crossdomain")


@dataclass
class TrainConfig:
    stage: str = "crossdomain"
    out: str = "runs/toontalker"
    steps: int = 1000
    batch: int = 8
    lr: float = 2e-3                 # equalized-learning-rate layers (StyleGAN2 convs, linear maps)
    lr_std_mult: float = 0.1         # x lr for standard-parametrised layers: transformers, motion bases,
                                     # plain convs (at 2e-3 the transformers learn to ignore the motion)
    beta1: float = 0.5
    beta2: float = 0.99
    structural: str = "msssim"       # msssim | lappyr | none
    w_struct: float = 1.0
    w_analogy: float = 0.1
    w_flow: float = 0.0              # flow supervision from synthetic poses (flowsup.py); 0 = off
    flow_steps: int = 600            # ... decaying linearly to 0 over this many steps
    w_pose: float = 0.0              # motion-parameter regression from the motion vectors (flowsup.py), same
                                     # schedule as w_flow; 0 = off
    motion_warmup: int = 0           # first steps led by the synthetic motion losses (flow, pose), the
                                     # reconstruction at 0.1 weight: at full weight it slows the flow's
                                     # learning (probe: held-out flow error 0.130 instead of 0.119 after
                                     # 400 steps); at 0 the unconstrained output diverged
    grad_clip: float = 0.0           # clip the generator's gradient norm to this (0 = off)
    analogy_warmup: int = 200        # steps over which the analogy weight ramps up from 0
    analogy_batch: int = 4           # samples per direction that the analogy constraint uses (<= batch)
    adv: bool = False
    w_adv: float = 0.05
    d_lr: float = 2e-3
    r1: float = 1.0
    r1_every: int = 16
    ema: float = 0.995               # 0 disables; exports use the EMA weights
    flow_init: float = 0.1           # scale of the flow heads at init (small = start from the identity warp)
    mask_init: float = 2.0           # initial mask logit (sigmoid(2) = 0.88: start by passing the warped source)
    bases_init: float = 0.1          # scale of the motion bases at init: small bases let the motion vector
                                     # dominate the query transformers' residual stream (see _init_weights)
    motion_gain: float = 4.0         # scale of the motion encoders' last layer at init
    seed: int = 0
    ckpt_every: int = 200
    keep: int = 3
    sample_every: int = 200
    log_every: int = 10
    max_minutes: float = 0.0         # 0 = no limit; else stop (with a checkpoint) after this wall-clock time
    threads: int = 1
    export: str = ""                 # also write the EMA model as .safetensors here at every checkpoint
    export_half: bool = False        # ... stored as float16
    w_paired: float = 0.0            # paired cross-domain aid (see the module docstring); 0 = off
    w_mix: float = 0.0               # identity-mixing aid inside each domain (same schedule); 0 = off
    paired_steps: int = 0            # both decay linearly to 0 over this many steps (0 = constant)
    paired_batch: int = 4            # samples per direction of the paired / mixing aids (<= batch)
    drv_colour: float = 0.0          # colour jitter of the driving frame as the motion encoder sees it
                                     # (the target is not jittered): the motion code must ignore colour
    init_from: str = ""              # start from this checkpoint or .safetensors (fine-tuning, see _load_init)
    model: dict = field(default_factory=dict)


def to_train_mode(model: ToonTalker) -> ToonTalker:
    return model.train().requires_grad_(True)


def self_reenact(model: ToonTalker, domain: str, src: torch.Tensor, drv: torch.Tensor,
                 drv_seen: torch.Tensor | None = None):
    """Rebuild `drv` from `src` (model range). -> (output, encoded source, encoded driving).
    drv_seen: what the motion encoder sees of the driving frame (an augmented `drv`)."""
    es = S.encode_source(model, src, domain)
    ed = S.encode_driving(model, drv if drv_seen is None else drv_seen, domain)
    z = es.canon_T0 + ed.canon_T1
    return S.render(model, es, S.decode(model, es, z)), es, ed


def param_groups(model: torch.nn.Module, lr: float, std_mult: float) -> list[dict]:
    """Two Adam groups: equalized-lr parameters (stored unscaled, N(0,1)) at `lr`, and the parameters of
    standard torch layers (Linear, LayerNorm, Embedding, Conv2d, the attention projections) at lr*std_mult,
    the usual transformer learning rate range."""
    from torch import nn

    from toontalker_core.model.transformer import Attention

    std_ids = set()
    for mod in model.modules():
        if isinstance(mod, (nn.Linear, nn.LayerNorm, nn.Embedding, nn.Conv2d, Attention)):
            std_ids.update(id(p) for p in mod.parameters(recurse=False))
    std = [p for p in model.parameters() if id(p) in std_ids]
    eq = [p for p in model.parameters() if id(p) not in std_ids]
    return [{"params": eq, "lr": lr}, {"params": std, "lr": lr * std_mult}]


def slice_source(es: S.EncodedSource, k: int) -> S.EncodedSource:
    """The first k sources of a batch encoding."""
    return es.map(lambda t: t[:k])


def _state(model: ToonTalker) -> dict:
    return {r: getattr(model, r).state_dict() for r in ("gen", "gen_real") if getattr(model, r) is not None}


def _atomic_save(obj, path: Path) -> None:
    with atomic_write(path) as tmp:  # no temp file is left behind when saving fails
        torch.save(obj, tmp)


class Trainer:
    def __init__(self, tcfg: TrainConfig, mcfg: ModelConfig, real=None, cartoon=None, log=None):
        if tcfg.stage not in STAGES:
            raise ValueError(f"unknown stage '{tcfg.stage}': use one of {', '.join(STAGES)}")
        self.t, self.cfg = tcfg, mcfg
        self.cross = tcfg.stage == "crossdomain"
        self.real, self.cartoon = real, cartoon
        if self.cross and (real is None or cartoon is None):
            raise ValueError("the cross-domain stage needs real and cartoon data")
        if not self.cross and real is None:
            raise ValueError("the in-domain stage needs (real) data")
        self.out = Path(tcfg.out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.logf = open(self.out / "log.jsonl", "a")
        self._print = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
        torch.set_num_threads(max(1, tcfg.threads))
        torch.manual_seed(tcfg.seed)
        self.g = torch.Generator().manual_seed(tcfg.seed)

        self.model = to_train_mode(ToonTalker(mcfg, cross_domain=self.cross))
        self._init_weights()
        if tcfg.w_mix > 0 and (tcfg.batch % 2 or tcfg.paired_batch % 2):
            raise ValueError("--w-mix pairs the batch in twos: use an even --batch and --paired-batch")
        if tcfg.init_from:
            self._load_init(tcfg.init_from)
        self.ema = None
        if tcfg.ema > 0:
            self.ema = copy.deepcopy(self.model).eval().requires_grad_(False)
        groups = param_groups(self.model, tcfg.lr, tcfg.lr_std_mult)
        self.pose_heads = None
        if tcfg.w_pose > 0:
            self.pose_heads = PoseHeads([d for d, _ in self._domains()], mcfg.style_dim)
            groups.append({"params": list(self.pose_heads.parameters()), "lr": tcfg.lr})
        self.opt = torch.optim.Adam(groups, betas=(tcfg.beta1, tcfg.beta2))
        self.discs = {}
        if tcfg.adv:
            for d in (("real", "cartoon") if self.cross else ("real",)):
                self.discs[d] = Discriminator(mcfg.size, mcfg.channel_base, mcfg.channel_max).train()
            self.d_opt = torch.optim.Adam([p for d in self.discs.values() for p in d.parameters()],
                                          lr=tcfg.d_lr, betas=(0.0, 0.99))
        self.step = 0
        self.elapsed = 0.0
        self._stop = False
        self._paired = False

    # -- setup ----------------------------------------------------------------------------------------------
    def _init_weights(self):
        """Initialisation that keeps the driving code alive. With the default init the query transformers'
        queries (the motion bases, N(0,1)) dwarf the attended motion vector, so every canonical code is
        nearly the same (spread ~0.05); the renderer then learns to ignore the code and rebuild the source
        (observed: a driving change moved the output by < 1e-3). Small bases and a larger motion vector make
        the codes depend on the motion from the start."""
        with torch.no_grad():
            for gen in filter(None, (self.model.gen, self.model.gen_real)):
                for flow in gen.dec.to_flows:
                    flow.conv.weight.mul_(self.t.flow_init)
                    flow.bias[:, 2].fill_(self.t.mask_init)
                gen.dec.direction.weight.mul_(self.t.bases_init)
                gen.enc2.convs[-1].weight.mul_(self.t.motion_gain)

    def _load_init(self, path):
        data = read_states(path)
        src = build_model(data["states"], data["config"], origin=str(path))
        if src.cfg != self.cfg:
            raise ValueError(f"--init-from {path}: its architecture {src.cfg} differs from {self.cfg}")
        with torch.no_grad():
            real_src = src.gen_real if src.cross_domain else src.gen
            if self.cross:
                self.model.gen_real.load_state_dict(real_src.state_dict())
                self.model.gen.load_state_dict(src.gen.state_dict())
            else:
                self.model.gen.load_state_dict(real_src.state_dict())
        self._print(f"initialised from {path} ({src.kind})")

    # -- one step -------------------------------------------------------------------------------------------
    def _domains(self):
        return (("real", self.real), ("cartoon", self.cartoon)) if self.cross else (("real", self.real),)

    def train_step(self, batches: dict | None = None, paired: bool = False) -> dict[str, float]:
        """One optimisation step. `batches` ({domain: (src01, drv01)}) fixes the data (tests); `paired`: its
        samples share their motion across domains (and in identity pairs), as `draw_batches` makes them."""
        t = self.t
        logs: dict[str, float] = {}
        aux = {}
        if batches is None:
            batches = self.draw_batches()
            aux = {d: src.last_aux for d, src in self._domains() if getattr(src, "last_aux", None) is not None}
        else:
            self._paired = paired
        data = {d: (s * 2 - 1, v * 2 - 1) for d, (s, v) in batches.items()}
        aid = max(0.0, 1 - self.step / max(1, t.flow_steps))  # schedule of the synthetic-motion aids
        w_flow, w_pose = t.w_flow * aid, t.w_pose * aid
        w_rec = 0.1 if self.step < t.motion_warmup else 1.0

        total = 0.0
        outs, encs, fakes = {}, {}, {}
        for d, (src, drv) in data.items():
            seen = None
            if t.drv_colour > 0:
                seen = augment_pair(batches[d][1], batches[d][1], self.g, flip=False, colour=t.drv_colour)[0] * 2 - 1
            if w_flow > 0 and d in aux:
                with capture_flows(self.model, d) as flows:
                    out, es, ed = self_reenact(self.model, d, src, drv, seen)
                a = aux[d]
                fl = flow_loss(flows, lambda size: affine_offsets(a["m1"], a["m2"], size, a["flip"]))
                total = total + w_flow * fl
                logs[f"flow_{d}"] = fl.item()
            else:
                out, es, ed = self_reenact(self.model, d, src, drv, seen)
            if w_pose > 0 and d in aux:
                a = aux[d]
                pl = self.pose_heads.loss(d, torch.cat([es.motion, ed.motion]),
                                          {k: torch.cat([a["m1"][k], a["m2"][k]]) for k in a["m1"]},
                                          torch.cat([a["flip"], a["flip"]]))
                total = total + w_pose * pl
                logs[f"pose_{d}"] = pl.item()
            rec, rl = L.reconstruction_loss(out, drv, t.structural, t.w_struct)
            total = total + w_rec * rec
            logs.update({f"{k}_{d}": v for k, v in rl.items()})
            outs[d], encs[d] = out, (es, ed)
            fakes[d] = [out]
        if self.cross and t.w_analogy > 0 and self.step >= t.motion_warmup:
            for a, b in (("real", "cartoon"), ("cartoon", "real")):
                k = max(1, min(t.analogy_batch, t.batch))
                es_a, ed_a = encs[a]
                delta_a = (ed_a.canon_T1 - es_a.canon_T1)[:k]  # the pair (source -> driving) of domain a
                ana, gen_b = L.analogy_loss(self.model, a, None, None, slice_source(encs[b][0], k),
                                            driving_change=delta_a)
                warm = min(1.0, (self.step + 1 - t.motion_warmup) / max(1, t.analogy_warmup))
                total = total + warm * t.w_analogy * ana
                logs[f"ana_{a[0]}2{b[0]}"] = ana.item()
                logs[f"delta_{a[0]}"] = delta_a.abs().mean().item()  # watch for a collapsing canonical space
                fakes[b].append(gen_b)
        total = total + self._paired_aids(data, encs, logs)
        if self.discs:
            g_adv = 0.0
            for d, disc in self.discs.items():
                disc.requires_grad_(False)
                g_adv = g_adv + L.g_nonsaturating(disc(torch.cat(fakes[d])))
            total = total + t.w_adv * g_adv
            logs["g_adv"] = float(g_adv.detach())
        self.opt.zero_grad(set_to_none=True)
        total.backward()
        if t.grad_clip > 0:
            params = [p for g in self.opt.param_groups for p in g["params"]]
            logs["grad_norm"] = float(torch.nn.utils.clip_grad_norm_(params, t.grad_clip))
        logs["loss"] = float(total.detach())
        if not math.isfinite(logs["loss"]):  # keep the weights; fit() stops after repeated failures
            self.opt.zero_grad(set_to_none=True)
            self.step += 1
            return logs
        self.opt.step()

        if self.discs:
            d_total = 0.0
            for d, disc in self.discs.items():
                disc.requires_grad_(True)
                real = data[d][1]
                fake = torch.cat([f.detach() for f in fakes[d]])
                d_total = d_total + L.d_logistic(disc(real), disc(fake))
                if t.r1 > 0 and self.step % t.r1_every == 0:
                    real = real.detach().requires_grad_(True)
                    d_total = d_total + t.r1 / 2 * t.r1_every * L.r1_penalty(disc(real), real)
            self.d_opt.zero_grad(set_to_none=True)
            d_total.backward()
            self.d_opt.step()
            logs["d_loss"] = float(d_total.detach())
        if self.ema is not None:
            self._update_ema()
        self.step += 1
        return logs

    def paired_weights(self) -> tuple[float, float]:
        """(w_paired, w_mix) at the current step."""
        fade = 1.0 if self.t.paired_steps <= 0 else max(0.0, 1 - self.step / self.t.paired_steps)
        return self.t.w_paired * fade, self.t.w_mix * fade

    def draw_batches(self) -> dict:
        """One step's data: {domain: (src01, drv01)}; with the paired aids on, one shared motion for every
        domain (`data.shared_motion`, in identity pairs for the mixing aid)."""
        w_pair, w_mix = self.paired_weights()
        doms = self._domains()
        motion = None
        if (w_pair > 0 or w_mix > 0) and all(getattr(src, "shares_motion", False) for _, src in doms):
            motion = shared_motion(self.t.batch, self.g, identity_pairs=w_mix > 0)
        self._paired = motion is not None
        return {d: (src.sample(self.t.batch, self.g, motion=motion) if motion is not None
                    else src.sample(self.t.batch, self.g)) for d, src in doms}

    def _paired_aids(self, data: dict, encs: dict, logs: dict):
        """The paired cross-domain aid and the identity-mixing aid (module docstring): the driving pair of
        domain a moves the source of domain b (relative mode) and must give b's own driving frame."""
        w_pair, w_mix = self.paired_weights()
        if not self._paired or (w_pair <= 0 and w_mix <= 0):
            return 0.0
        total = 0.0
        n = next(iter(data.values()))[0].shape[0]
        k = max(1, min(self.t.paired_batch, n))
        swap = torch.arange(n) ^ 1  # samples 2j, 2j+1: two identities in one motion (identity_pairs)
        for a in encs:
            for b in encs:
                w = w_mix if a == b else w_pair
                if w <= 0:
                    continue
                es_a, ed_a = encs[a]
                delta = ed_a.canon_T1 - es_a.canon_T1
                delta = (delta[swap] if a == b else delta)[:k]
                es_b = slice_source(encs[b][0], k)
                out = S.render(self.model, es_b, S.decode(self.model, es_b, es_b.canon_T0 + es_b.canon_T1 + delta))
                loss, _ = L.reconstruction_loss(out, data[b][1][:k], self.t.structural, self.t.w_struct)
                total = total + w * loss
                logs[f"{'mix' if a == b else 'pair'}_{a[0]}2{b[0]}"] = loss.item()
        return total

    @torch.no_grad()
    def _update_ema(self):
        decay = min(self.t.ema, (1 + self.step) / (10 + self.step))  # warm-up: follow closely at first
        for pe, pm in zip(self.ema.parameters(), self.model.parameters()):
            pe.lerp_(pm, 1 - decay)

    # -- checkpoints ----------------------------------------------------------------------------------------
    def checkpoint_dict(self) -> dict:
        ck = {**_state(self.model), "config": self.cfg.to_dict(), "stage": self.t.stage, "step": self.step,
              "elapsed": self.elapsed, "optim": self.opt.state_dict(), "train_config": asdict(self.t),
              "rng": {"data": self.g.get_state(), "torch": torch.get_rng_state()}}
        if self.ema is not None:
            ck["ema"] = _state(self.ema)
        if self.pose_heads is not None:
            ck["pose_heads"] = self.pose_heads.state_dict()
        if self.discs:
            ck["disc"] = {d: m.state_dict() for d, m in self.discs.items()}
            ck["disc_optim"] = self.d_opt.state_dict()
        return ck

    def save_checkpoint(self) -> Path:
        ck = self.checkpoint_dict()
        path = self.out / f"ckpt_{self.step:07d}.pt"
        _atomic_save(ck, path)
        _atomic_save(ck, self.out / "ckpt_latest.pt")
        old = sorted(self.out.glob("ckpt_[0-9]*.pt"))[:-max(1, self.t.keep)]
        for p in old:
            p.unlink(missing_ok=True)
        if self.t.export:
            model = self.export_model()
            save_safetensors(copy.deepcopy(model).half() if self.t.export_half else model, self.t.export)
        return path

    def export_model(self) -> ToonTalker:
        return self.ema if self.ema is not None else self.model

    def resume(self, path: str | Path) -> None:
        ck = torch.load(path, map_location="cpu", weights_only=True)
        if ModelConfig.from_dict(ck["config"]) != self.cfg:
            raise ValueError(f"{path}: its architecture {ck['config']} differs from {self.cfg.to_dict()}")
        if ck.get("stage") != self.t.stage:
            raise ValueError(f"{path} is a '{ck.get('stage')}' checkpoint; this run is '{self.t.stage}'")
        for role in ("gen", "gen_real"):
            if getattr(self.model, role) is not None:
                getattr(self.model, role).load_state_dict(ck[role])
                if self.ema is not None and "ema" in ck:
                    getattr(self.ema, role).load_state_dict(ck["ema"][role])
        if self.pose_heads is not None and "pose_heads" in ck:
            self.pose_heads.load_state_dict(ck["pose_heads"])
        self.opt.load_state_dict(ck["optim"])
        if self.discs and "disc" in ck:
            for d, m in self.discs.items():
                m.load_state_dict(ck["disc"][d])
            self.d_opt.load_state_dict(ck["disc_optim"])
        self.g.set_state(ck["rng"]["data"])
        torch.set_rng_state(ck["rng"]["torch"])
        self.step, self.elapsed = int(ck["step"]), float(ck.get("elapsed", 0.0))
        self._print(f"resumed from {path} at step {self.step}")

    # -- samples --------------------------------------------------------------------------------------------
    @torch.no_grad()
    def write_samples(self, n: int = 4) -> Path:
        from .evaluate import save_grid

        model = self.export_model()
        g = torch.Generator().manual_seed(12345)
        rows = []
        pairs = {d: src.sample(n, g) for d, src in self._domains()}
        for d, (s, v) in pairs.items():
            out, _, _ = self_reenact(model, d, s * 2 - 1, v * 2 - 1)
            rows += [s, v, S.to_unit_range(out)]
        if self.cross:
            for a, b in (("real", "cartoon"), ("cartoon", "real")):
                sa, va = pairs[a]
                sb = pairs[b][0]
                es = S.encode_source(model, sb * 2 - 1, b)
                delta = L.canonical_change(model, a, sa * 2 - 1, va * 2 - 1)
                z = es.canon_T0 + es.canon_T1 + delta
                rows.append(S.to_unit_range(S.render(model, es, S.decode(model, es, z))))
        path = self.out / "samples" / f"step{self.step:07d}.png"
        save_grid(rows, path)
        return path

    # -- loop -----------------------------------------------------------------------------------------------
    def _on_signal(self, signum, frame):
        self._print(f"signal {signum}: stopping after this step (a checkpoint will be written)")
        self._stop = True

    def fit(self) -> Path:
        t = self.t
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                signal.signal(sig, self._on_signal)
            except ValueError:  # not the main thread
                pass
        start = time.perf_counter() - self.elapsed
        session_start, session_step = time.perf_counter(), self.step
        self._print(f"training {t.stage}: {self.model.describe()}, "
                    f"{sum(p.numel() for p in self.model.parameters()) / 1e6:.2f}M parameters, step {self.step}"
                    f" -> {t.steps}")
        for d, src in self._domains():
            self._print(f"  {d} data: {src.describe()}")
        last = None
        bad = 0
        running: dict[str, float] = {}
        while self.step < t.steps and not self._stop:
            logs = self.train_step()
            for k, v in logs.items():
                running[k] = running.get(k, 0.0) + v
            self.elapsed = time.perf_counter() - start
            if self.step % t.log_every == 0 or self.step == t.steps:
                n = t.log_every if self.step % t.log_every == 0 else (self.step % t.log_every)
                avg = {k: v / n for k, v in running.items()}
                running = {}
                rate = (time.perf_counter() - session_start) / max(1, self.step - session_step)
                eta = rate * (t.steps - self.step)
                self._print(f"step {self.step}/{t.steps} | {rate:.2f} s/step | elapsed {self.elapsed / 60:.1f} min"
                            f" | eta {eta / 60:.1f} min | " + " ".join(f"{k} {v:.4f}" for k, v in avg.items()))
                self.logf.write(json.dumps({"step": self.step, "elapsed": round(self.elapsed, 1), **avg}) + "\n")
                self.logf.flush()
            if t.max_minutes and self.elapsed > t.max_minutes * 60 and self.step < t.steps:
                self._print(f"time limit of {t.max_minutes} min reached at step {self.step}")
                self._stop = True
            if self.step % t.ckpt_every == 0 or self.step == t.steps or self._stop:
                last = self.save_checkpoint()
                self._print(f"checkpoint {last}")
            if t.sample_every and (self.step % t.sample_every == 0 or self.step == t.steps):
                self._print(f"samples {self.write_samples()}")
            bad = 0 if math.isfinite(logs["loss"]) else bad + 1
            if bad:
                self._print(f"step {self.step}: loss is {logs['loss']}, update skipped")
            if bad >= 5:
                raise FloatingPointError(f"loss is {logs['loss']} for {bad} steps in a row at step {self.step}")
        if last is None:
            last = self.save_checkpoint()
        return last


def export(checkpoint: str | Path, out: str | Path, use_ema: bool = True, half: bool = False) -> Path:
    """A training checkpoint (.pt) -> inference .safetensors (EMA weights when present and `use_ema`;
    float16 storage with `half`: half the size, the loader computes in float32 or what it is asked)."""
    ck = torch.load(checkpoint, map_location="cpu", weights_only=True)
    states = ck["ema"] if use_ema and "ema" in ck else {r: ck[r] for r in ("gen", "gen_real") if r in ck}
    model = build_model(states, ck["config"], origin=str(checkpoint))
    return save_safetensors(model.half() if half else model, out)
