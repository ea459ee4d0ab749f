"""The training package: a step learns, the analogy constraint, checkpoints load through the public loader
and the loader node. Tiny config, no scikit-image needed (the real domain here is smooth random images)."""
from __future__ import annotations

import importlib

import pytest
import torch

from toontalker_core import load_model
from toontalker_core import stages as S
from toontalker_core.model.config import ModelConfig
from toontalker_core.model.toontalker import ToonTalker
from toontalker_core.resources import BUNDLED_DIR
from toontalker_train import TrainConfig, Trainer, analogy_loss, canonical_change
from toontalker_train import cartoon as C
from toontalker_train.data import SyntheticCartoon, augment_pair, crop_clip
from toontalker_train.losses import laplacian_pyramid_loss, ms_ssim_loss, ssim

from tiny import TINY, tiny_images, tiny_model


class FixedPairs:
    """A data source that always returns the same pairs (two frames of one 'clip' each)."""

    name = "fixed"

    def __init__(self, src, drv):
        self.src, self.drv = src, drv

    def sample(self, n, g):
        return self.src[:n], self.drv[:n]

    def describe(self):
        return "fixed test pairs"


def _real_pairs(n=2):
    a = tiny_images(n, seed=11)
    return a, torch.roll(a, shifts=3, dims=-1)  # the "motion": a horizontal shift


def _cartoon_pairs(n=2):
    g = torch.Generator().manual_seed(3)
    return SyntheticCartoon(64, augment=False).sample(n, g)


def _trainer(tmp_path, stage="crossdomain", **kw):
    cfg = dict(stage=stage, out=str(tmp_path / "run"), batch=2, analogy_batch=2, ema=0.0, lr=2e-3, seed=0,
               sample_every=0, log_every=1, ckpt_every=1000)
    cfg.update(kw)
    real = FixedPairs(*_real_pairs())
    cartoon = FixedPairs(*_cartoon_pairs()) if stage == "crossdomain" else None
    return Trainer(TrainConfig(**cfg), TINY, real=real, cartoon=cartoon, log=lambda m: None)


def test_training_steps_reduce_the_loss_on_a_fixed_batch(tmp_path):
    tr = _trainer(tmp_path)
    batches = {"real": _real_pairs(), "cartoon": _cartoon_pairs()}
    losses = [tr.train_step(batches) for _ in range(8)]
    first, last = losses[0], losses[-1]
    assert set(first) >= {"l1_real", "l1_cartoon", "msssim_real", "ana_r2c", "ana_c2r", "loss"}
    assert last["loss"] < 0.85 * first["loss"], [round(x["loss"], 4) for x in losses]
    assert last["l1_real"] < first["l1_real"] and last["l1_cartoon"] < first["l1_cartoon"]


def test_in_domain_step_with_adversarial_loss_runs(tmp_path):
    tr = _trainer(tmp_path, stage="indomain", adv=True, r1_every=1)
    logs = tr.train_step()
    assert {"g_adv", "d_loss", "l1_real"} <= set(logs) and all(torch.isfinite(torch.tensor(v)) for v in logs.values())
    assert tr.model.gen_real is None


def _same_motion_spaces():
    """A cross-domain model whose cartoon motion encoder and bases equal the real ones: then two domains
    see the same motion change for the same pair of frames."""
    model = tiny_model(cross_domain=True, seed=4)
    model.gen.enc2.load_state_dict(model.gen_real.enc2.state_dict())
    model.gen.dec.direction.load_state_dict(model.gen_real.dec.direction.state_dict())
    return model


def test_analogy_loss_is_zero_when_the_constraint_holds_by_construction():
    model = _same_motion_spaces()
    x = tiny_images(3, seed=5) * 2 - 1
    a1, a2, other = x[:1], x[1:2], x[2:3]
    src_b = S.encode_source(model, a1, "cartoon")
    # b = a1 and b_hat = a2: "a1 is to a2 as a1 is to a2" -> the canonical changes are identical
    loss, _ = analogy_loss(model, "real", a1, a2, src_b, generated=a2, generated_ref=a1)
    assert loss.item() < 1e-4  # relative to the size of the change: float rounding only
    # any other second frame breaks the analogy
    wrong, _ = analogy_loss(model, "real", a1, a2, src_b, generated=other, generated_ref=a1)
    assert wrong.item() > 1e-2
    reverse, _ = analogy_loss(model, "real", a2, a1, src_b, generated=a2, generated_ref=a1)  # the opposite change
    assert reverse.item() > 1.0  # |-2 delta| / |delta| = 2
    unmoved, _ = analogy_loss(model, "real", a1, a2, src_b, generated=a1, generated_ref=a1)  # no motion costs 1
    assert abs(unmoved.item() - 1.0) < 1e-4


def test_analogy_loss_is_invariant_to_the_scale_of_the_canonical_space():
    model = _same_motion_spaces()
    x = tiny_images(3, seed=8) * 2 - 1
    src_b = S.encode_source(model, x[:1], "cartoon")
    delta = canonical_change(model, "real", x[:1], x[1:2])
    loss, _ = analogy_loss(model, "real", None, None, src_b, generated=x[2:3], generated_ref=x[:1],
                           driving_change=delta)
    moved = S.encode_driving(model, x[2:3], "cartoon").canon_T1 - src_b.canon_T1
    # shrinking both changes by 10 leaves the loss unchanged (an absolute L1 would drop 10x: collapse)
    small = (0.1 * moved - 0.1 * delta).abs().sum() / (0.1 * delta).abs().sum()
    assert abs(small.item() - loss.item()) < 1e-4 and loss.item() > 0


def test_analogy_loss_trains_the_target_domain_only():
    model = tiny_model(cross_domain=True, seed=6).train().requires_grad_(True)
    x = tiny_images(3, seed=7) * 2 - 1
    src_b = S.encode_source(model, x[2:3], "cartoon")
    loss, generated = analogy_loss(model, "real", x[:1], x[1:2], src_b)
    assert generated.shape == (1, 3, 64, 64) and loss.item() > 0
    loss.backward()
    grad = lambda m: sum(p.grad.abs().sum().item() for p in m.parameters() if p.grad is not None)  # noqa: E731
    assert grad(model.gen.dec.to_rgbs) > 0 and grad(model.gen.enc2) > 0   # cartoon renderer and encoder
    assert grad(model.gen_real.enc2) == 0                                 # the real change is a fixed target
    delta = canonical_change(model, "real", x[:1], x[1:2])
    assert delta.shape == (1, TINY.motion_dim, TINY.style_dim)


def test_checkpoints_load_through_the_public_loader(tmp_path):
    tr = _trainer(tmp_path, ema=0.9, ckpt_every=2, steps=2, export=str(tmp_path / "cross-domain-test.safetensors"))
    last = tr.fit()
    assert last.name == "ckpt_0000002.pt" and (tmp_path / "run" / "ckpt_latest.pt").is_file()
    model = load_model(tmp_path / "run" / "ckpt_latest.pt")
    assert model.cross_domain and model.cfg == TINY
    for role in ("gen", "gen_real"):
        ours = getattr(tr.model, role).state_dict()
        for k, v in getattr(model, role).state_dict().items():
            assert torch.equal(v, ours[k]), k
    exported = load_model(tmp_path / "cross-domain-test.safetensors")  # EMA weights
    assert exported.cfg == TINY and exported.cross_domain
    assert torch.equal(exported.gen.dec.direction.weight, tr.ema.gen.dec.direction.weight)
    # and it runs
    src = S.encode_source(exported, tiny_images(1) * 2 - 1, "cartoon")
    assert S.render(exported, src, S.decode(exported, src, src.canon_T0 + src.canon_T1)).shape == (1, 3, 64, 64)


def test_resume_continues_exactly(tmp_path):
    a = _trainer(tmp_path / "a", steps=3, ckpt_every=2)
    a.fit()
    b = _trainer(tmp_path / "b", steps=2, ckpt_every=2)
    b.fit()
    c = _trainer(tmp_path / "b", steps=3, ckpt_every=2)
    c.resume(tmp_path / "b" / "run" / "ckpt_latest.pt")
    assert c.step == 2
    c.fit()
    for p, q in zip(a.model.parameters(), c.model.parameters()):
        assert torch.allclose(p, q, atol=1e-6)


def test_checkpoints_load_through_the_loader_node(tmp_path, pack, monkeypatch):
    tr = _trainer(tmp_path, steps=1, ckpt_every=1)
    tr.fit()
    models = tmp_path / "models"
    models.mkdir()
    (tmp_path / "run" / "ckpt_latest.pt").rename(models / "trained.pt")
    from toontalker_train.trainer import export
    export(tr.out / "ckpt_0000001.pt", models / "trained.safetensors")
    monkeypatch.setenv("TOONTALKER_MODELS", str(models))
    loaders = importlib.import_module(pack.__name__ + ".nodes.loaders")
    comfy = importlib.import_module(pack.__name__ + ".nodes.comfy")
    if comfy.folder_paths is not None:
        pytest.skip("inside ComfyUI the node lists ComfyUI's model folder")
    for name in ("trained.pt", "trained.safetensors"):
        model, info = loaders.LoadToonTalkerCheckpoint().load(name, "cpu", "fp32")
        assert model.cross_domain and model.cfg.size == TINY.size and "cross-domain" in info


def test_structural_losses_and_ssim():
    a = tiny_images(2, seed=1)
    assert abs(ssim(a, a).item() - 1) < 1e-5
    assert ms_ssim_loss(a, a).item() < 1e-5 and laplacian_pyramid_loss(a, a).item() < 1e-6
    b = torch.roll(a, 4, -1)
    assert ms_ssim_loss(a, b).item() > 0.01 and laplacian_pyramid_loss(a, b).item() > 0.001


def test_augmentation_is_shared_by_both_frames_and_seeded():
    a = tiny_images(4, seed=2)
    s1, d1 = augment_pair(a, a.clone(), torch.Generator().manual_seed(0), zoom=0.1)
    s2, d2 = augment_pair(a, a.clone(), torch.Generator().manual_seed(0), zoom=0.1)
    assert torch.equal(s1, d1) and torch.equal(s1, s2) and not torch.equal(s1, a)


def test_cartoon_renderer_is_deterministic_and_moves():
    g1, g2 = torch.Generator().manual_seed(9), torch.Generator().manual_seed(9)
    ident, again = C.random_identity(1, g1), C.random_identity(1, g2)
    assert all(torch.equal(v, again[k]) for k, v in ident.items())
    neutral = C.render(ident, C.neutral_motion(1), 64)
    moved = C.render(ident, {**C.neutral_motion(1), "yaw": torch.tensor([0.6]), "mouth_open": torch.tensor([1.0])}, 64)
    assert neutral.shape == (1, 3, 64, 64) and 0 <= neutral.min() and neutral.max() <= 1
    assert (moved - neutral).abs().mean() > 0.01
    clip = C.render_clip(ident, C.trajectory(10, torch.Generator().manual_seed(1)), 64)
    assert clip.shape == (10, 3, 64, 64)


def test_folder_clip_crop_modes():
    frames = torch.rand(3, 3, 40, 60)
    assert crop_clip(frames, "none", 64).shape == (3, 3, 64, 64)
    assert crop_clip(frames, "center", 64).shape == (3, 3, 64, 64)
    with pytest.raises(ValueError, match="unknown crop"):
        crop_clip(frames, "sideways", 64)


class FixedPairsWithMotion(FixedPairs):
    """Fixed pairs plus their known motion parameters (as the synthetic sources give them)."""

    def __init__(self, src, drv, aux):
        super().__init__(src, drv)
        self.last_aux = aux


def test_pose_targets_scale_to_the_ranges_and_follow_a_mirror():
    from toontalker_train.flowsup import pose_targets

    keys = list(C.MOTION_RANGES)
    m = {k: torch.tensor([lo, hi]) for k, (lo, hi) in C.MOTION_RANGES.items()}
    t = pose_targets(m)
    assert torch.allclose(t[0], -torch.ones(len(keys))) and torch.allclose(t[1], torch.ones(len(keys)))
    m = {**C.neutral_motion(1), "yaw": torch.tensor([0.35]), "pitch": torch.tensor([0.2]),
         "eye_l": torch.tensor([0.0]), "eye_r": torch.tensor([1.0])}
    plain, mirrored = pose_targets(m, torch.tensor([False]))[0], pose_targets(m, torch.tensor([True]))[0]
    i = {k: keys.index(k) for k in ("yaw", "pitch", "eye_l", "eye_r")}
    assert mirrored[i["yaw"]] == -plain[i["yaw"]] != 0 and mirrored[i["pitch"]] == plain[i["pitch"]]
    assert mirrored[i["eye_l"]] == plain[i["eye_r"]] and mirrored[i["eye_r"]] == plain[i["eye_l"]]


def test_motion_supervision_learns_the_pose_and_warms_up_before_reconstruction(tmp_path):
    g = torch.Generator().manual_seed(5)
    data = SyntheticCartoon(64, augment=False)
    src, drv = data.sample(2, g)
    tr = _trainer(tmp_path, stage="indomain", w_pose=1.0, w_flow=1.0, flow_steps=100, motion_warmup=4)
    tr.real = FixedPairsWithMotion(src, drv, data.last_aux)
    logs = [tr.train_step() for _ in range(8)]
    assert {"pose_real", "flow_real", "l1_real"} <= set(logs[0])
    assert logs[-1]["pose_real"] < 0.8 * logs[0]["pose_real"], [round(x["pose_real"], 4) for x in logs]
    # during the warm-up the reconstruction weighs 0.1, afterwards 1
    rec = [x["l1_real"] + x["msssim_real"] for x in logs]
    fl = [x["flow_real"] * (1 - i / 100) + x["pose_real"] * (1 - i / 100) for i, x in enumerate(logs)]
    assert abs(logs[0]["loss"] - (fl[0] + 0.1 * rec[0])) < 1e-4 and abs(logs[5]["loss"] - (fl[5] + rec[5])) < 1e-4
    ck = tr.checkpoint_dict()
    assert set(ck["pose_heads"]) == {"real.weight", "real.bias"}


def test_a_non_finite_loss_skips_the_update(tmp_path):
    tr = _trainer(tmp_path)
    before = [p.detach().clone() for p in tr.model.parameters()]
    s, d = _real_pairs()
    d = d.clone()
    d[0, :, 0, 0] = float("nan")
    logs = tr.train_step({"real": (s, d), "cartoon": _cartoon_pairs()})
    assert not torch.isfinite(torch.tensor(logs["loss"])) and tr.step == 1
    assert all(torch.equal(p, q) for p, q in zip(before, tr.model.parameters()))


def test_ellipse_distance_is_finite_for_a_zero_radius():
    x = torch.linspace(-1, 1, 9)[None].expand(9, -1)
    d = C._ellipse_sdf(x, x.t(), 0.0, 0.0, torch.zeros(9, 9), 0.5)  # the chin's radius crossing 0
    assert torch.isfinite(d).all() and (d[:, x[0] != 0] > 0).all()  # only its centre line is inside
    assert torch.equal(C._ellipse_sdf(x, x.t(), 0.0, 0.0, -0.3, 0.5), C._ellipse_sdf(x, x.t(), 0.0, 0.0, 0.3, 0.5))


# -- paired cross-domain aid, identity mixing, fine-tuning ---------------------------------------------------
def test_shared_motion_is_shown_by_every_source_with_its_flips():
    from toontalker_train.data import shared_motion

    m = shared_motion(4, torch.Generator().manual_seed(1), identity_pairs=True)
    for v in (*m["m1"].values(), *m["m2"].values(), m["flip"]):
        assert torch.equal(v[0::2], v[1::2])  # identity pairs: samples 2j, 2j+1 share their motion
    assert not torch.equal(m["m1"]["yaw"][0], m["m1"]["yaw"][2])
    data = SyntheticCartoon(64, augment=False)
    plain = {**m, "flip": torch.zeros(4, dtype=torch.bool)}
    mirrored = {**m, "flip": torch.ones(4, dtype=torch.bool)}
    s0, d0 = data.sample(4, torch.Generator().manual_seed(2), motion=plain)
    s1, d1 = data.sample(4, torch.Generator().manual_seed(2), motion=mirrored)
    assert torch.equal(s1, s0.flip(-1)) and torch.equal(d1, d0.flip(-1))
    assert data.last_aux["m1"] is m["m1"] and bool(data.last_aux["flip"].all())
    aug = SyntheticCartoon(64, augment=True)
    aug.sample(4, torch.Generator().manual_seed(3), motion=m)
    assert torch.equal(aug.last_aux["flip"], m["flip"])  # augmentation keeps the imposed flips


def _paired_trainer(tmp_path, **kw):
    """Both 'domains' are procedural cartoons (no scikit-image): what matters is the shared motion."""
    cfg = dict(stage="crossdomain", out=str(tmp_path / "run"), batch=4, paired_batch=4, w_paired=1.0, w_mix=1.0,
               w_analogy=0.0, ema=0.0, seed=0, sample_every=0, log_every=1, ckpt_every=1000)
    cfg.update(kw)
    return Trainer(TrainConfig(**cfg), TINY, real=SyntheticCartoon(64), cartoon=SyntheticCartoon(64),
                   log=lambda m: None)


def test_paired_aid_trains_the_driving_domain_too_and_learns(tmp_path):
    tr = _paired_trainer(tmp_path, drv_colour=0.5)
    batches = tr.draw_batches()
    assert tr._paired and torch.equal(tr.real.last_aux["m2"]["yaw"], tr.cartoon.last_aux["m2"]["yaw"])
    data = {d: (s * 2 - 1, v * 2 - 1) for d, (s, v) in batches.items()}
    from toontalker_train.trainer import self_reenact

    encs = {d: self_reenact(tr.model, d, s, v)[1:] for d, (s, v) in data.items()}
    logs = {}
    loss = tr._paired_aids(data, encs, logs)
    assert set(logs) == {"pair_r2c", "pair_c2r", "mix_r2r", "mix_c2c"} and loss.item() > 0
    loss.backward()
    grad = lambda m: sum(p.grad.abs().sum().item() for p in m.parameters() if p.grad is not None)  # noqa: E731
    # unlike the analogy constraint, the driving domain's motion encoder learns from the other domain's target
    assert grad(tr.model.gen_real.enc2) > 0 and grad(tr.model.gen.enc2) > 0 and grad(tr.model.gen.dec.to_rgbs) > 0
    tr.opt.zero_grad(set_to_none=True)
    steps = [tr.train_step(batches, paired=True) for _ in range(8)]
    first, last = steps[0], steps[-1]
    assert all(k in first for k in ("pair_r2c", "mix_c2c", "l1_real"))
    pair = lambda x: x["pair_r2c"] + x["pair_c2r"]  # noqa: E731
    assert pair(last) < 0.85 * pair(first), [round(pair(x), 4) for x in steps]


def test_paired_aid_fades_out_and_then_draws_free_motion(tmp_path):
    tr = _paired_trainer(tmp_path, w_paired=2.0, w_mix=1.0, paired_steps=10)
    assert tr.paired_weights() == (2.0, 1.0)
    tr.step = 5
    assert tr.paired_weights() == (1.0, 0.5)
    tr.step = 10
    assert tr.paired_weights() == (0.0, 0.0)
    logs = tr.train_step()
    assert not tr._paired and not any(k.startswith(("pair_", "mix_")) for k in logs)
    with pytest.raises(ValueError, match="even --batch"):
        _paired_trainer(tmp_path, batch=3)


def test_init_from_and_its_cli_flag(tmp_path):
    from toontalker_core.model.checkpoint import save_safetensors
    from toontalker_train.cli import build_parser

    donor = tiny_model(cross_domain=True, seed=21)
    save_safetensors(donor.half(), tmp_path / "donor.safetensors")  # stored as the shipped weights are
    tr = _trainer(tmp_path, init_from=str(tmp_path / "donor.safetensors"))
    for role in ("gen", "gen_real"):
        ours = getattr(tr.model, role).state_dict()
        for k, v in getattr(donor, role).state_dict().items():
            assert torch.equal(ours[k], v.float()), k
    logs = tr.train_step({"real": _real_pairs(), "cartoon": _cartoon_pairs()})
    assert torch.isfinite(torch.tensor(logs["loss"]))
    other = tmp_path / "other.safetensors"
    save_safetensors(ToonTalker(ModelConfig.from_dict({**TINY.to_dict(), "style_dim": 48}), cross_domain=True), other)
    with pytest.raises(ValueError, match="architecture"):
        _trainer(tmp_path, init_from=str(other))
    for flag in ("--init-from", "--init"):
        args = build_parser().parse_args(["train", "--out", "x", flag, "w.safetensors"])
        assert args.init_from == "w.safetensors"


BUNDLED_WEIGHTS = BUNDLED_DIR / "cross-domain-demo-64px.safetensors"


@pytest.mark.skipif(not BUNDLED_WEIGHTS.exists(), reason="the bundled demo model is not in this checkout")
def test_fine_tuning_from_the_shipped_weights_runs_a_step(tmp_path):
    from toontalker_core.model.checkpoint import read_states
    from toontalker_train import PRESETS

    cfg = TrainConfig(stage="crossdomain", out=str(tmp_path / "run"), batch=2, paired_batch=2, w_paired=1.0,
                      analogy_batch=1, ema=0.995, sample_every=0, log_every=1, init_from=str(BUNDLED_WEIGHTS))
    tr = Trainer(cfg, PRESETS["demo64"], real=SyntheticCartoon(64), cartoon=SyntheticCartoon(64), log=lambda m: None)
    shipped = read_states(BUNDLED_WEIGHTS)["states"]
    w = tr.model.gen.dec.direction.weight
    assert torch.equal(w, shipped["gen"]["dec.direction.weight"].float())
    logs = tr.train_step()
    assert {"pair_r2c", "pair_c2r", "l1_cartoon"} <= set(logs) and torch.isfinite(torch.tensor(logs["loss"]))
    assert not torch.equal(tr.model.gen.dec.direction.weight, shipped["gen"]["dec.direction.weight"].float())


def test_identity_warp_of_strength_zero_is_the_identity_and_reshapes_otherwise():
    from toontalker_train.realmotion import random_identity_warp, reshape_face

    lin = torch.linspace(-1, 1, 9)
    y, x = torch.meshgrid(lin, lin, indexing="ij")
    none = random_identity_warp(torch.Generator().manual_seed(4), strength=0.0)
    x0, y0 = reshape_face(x, y, none)
    assert torch.allclose(x0, x, atol=1e-7) and torch.allclose(y0, y, atol=1e-7)
    a = random_identity_warp(torch.Generator().manual_seed(4))
    b = random_identity_warp(torch.Generator().manual_seed(4))
    assert all(torch.equal(a[k], b[k]) for k in a)  # seeded
    x1, y1 = reshape_face(x, y, a)
    shift = torch.maximum((x1 - x).abs(), (y1 - y).abs())
    # a new face shape, but small enough that the still's landmarks stay on their features
    assert 0.005 < shift.mean() and shift[2:7, 2:7].max() < 0.25


def test_camera_variation_is_shared_by_both_frames_but_the_noise():
    from toontalker_train.data import degrade_pair

    a = tiny_images(6, seed=5).clamp(0.05, 1)
    s0, d0 = degrade_pair(a, a.clone(), torch.Generator().manual_seed(1), strength=0.0)
    assert torch.allclose(s0, a, atol=1e-6) and torch.equal(s0, d0)
    s1, d1 = degrade_pair(a, a.clone(), torch.Generator().manual_seed(1))
    s2, _ = degrade_pair(a, a.clone(), torch.Generator().manual_seed(1))
    assert torch.equal(s1, s2) and (s1 - a).abs().mean() > 0.01  # seeded, and it changes the frames
    assert (s1 - d1).abs().mean() < 0.02  # the frames differ only by their noise (std <= 0.02)
    assert 0 <= s1.min() and s1.max() <= 1


def test_identity_augmentation_of_the_synthetic_real_domain_and_its_cli_flag():
    pytest.importorskip("skimage", reason="the synthetic real domain reads the stills of scikit-image")
    from toontalker_train.cli import build_parser
    from toontalker_train.data import SyntheticReal, make_source

    assert SyntheticReal(32).bank.names == ["astronaut", "camera", "chelsea", "coffee", "grace_hopper"]
    plain = SyntheticReal(32, stills=["astronaut"], identity=0.0)
    varied = SyntheticReal(32, stills=["astronaut"], identity=1.0)
    assert SyntheticReal(32, stills=["astronaut"], augment=False, identity=1.0).identity == 0.0
    s0, _ = plain.sample(4, torch.Generator().manual_seed(2))
    s1, d1 = varied.sample(4, torch.Generator().manual_seed(2))
    assert s1.shape == s0.shape == d1.shape == (4, 3, 32, 32) and 0 <= s1.min() and s1.max() <= 1
    assert (s1 - s0).abs().mean() > 0.02
    args = build_parser().parse_args(["train", "--out", "x", "--identity-aug", "0.5"])
    assert args.identity_aug == 0.5
    assert make_source("synthetic", 32, domain="real", identity=args.identity_aug).identity == 0.5
