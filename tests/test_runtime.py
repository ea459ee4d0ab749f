"""Device-resident pipeline, memory limits, device-aware synthesis and the fp16 guard (issue 12).

Device-dependent tests run on every device present: CUDA and MPS cases skip where there is none.
"""
from __future__ import annotations

import copy
import math
import warnings

import pytest
import torch
import torch.nn.functional as F

from tiny import poison_fp16, tiny_images, tiny_model
from toontalker_core import precision as precision_policy
from toontalker_core import runtime as R
from toontalker_core import stages as S
from toontalker_core.model import synthesis
from toontalker_core.errors import InputError
from toontalker_core.face import CropTransform, FaceCropper, crop, manual_box, padded_region
from toontalker_core.face.crop import pooled_region
from toontalker_core.pipeline import reenact_full_frames

_MPS = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
DEVICES = [
    "cpu",
    pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")),
    pytest.param("mps", marks=pytest.mark.skipif(not _MPS, reason="no MPS device")),
]


def _encode(model, domain="real"):
    src = R.encode_source(model, tiny_images(1, seed=1).to(model.device), domain)
    ref = R.encode_reference(model, tiny_images(1, seed=2).to(model.device), domain)
    return src, ref


def _psnr(a, b):
    mse = (a.float().cpu() - b.float().cpu()).pow(2).mean().item()
    return math.inf if mse == 0 else 10 * math.log10(1 / mse)


# -- fp16 ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("device", DEVICES)
def test_fp16_through_the_library_matches_fp32(device):
    base = tiny_model(cross_domain=False)
    frames = tiny_images(3, seed=3)
    outs = {}
    for dtype in (torch.float32, torch.float16):
        model = copy.deepcopy(base).to(device=device, dtype=dtype)
        assert precision_policy.resolve_dtype("fp16" if dtype == torch.float16 else "fp32", torch.device(device)) == dtype
        src, ref = _encode(model)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no fallback needed for this model: no warning
            outs[dtype] = R.reenact_batch(model, src, frames.to(device), "real", 1.0, "relative", ref.canon_T1)
    assert outs[torch.float16].dtype == torch.float32 and outs[torch.float16].device.type == device
    assert torch.isfinite(outs[torch.float16]).all()
    assert _psnr(outs[torch.float16], outs[torch.float32]) > 35


@pytest.mark.parametrize("device", DEVICES)
def test_fp16_guard_recomputes_non_finite_chunks_in_fp32_with_one_warning(device):
    base = tiny_model(cross_domain=False)
    model16 = copy.deepcopy(base).to(device=device, dtype=torch.float16)
    poison_fp16(model16)
    src, ref = _encode(model16)
    raw = S.render(model16, src, S.decode(model16, src, S.transfer(src, ref.canon_T1, 1.0, "relative",
                                                                   ref.canon_T1)))
    assert not torch.isfinite(raw).all()  # the emulated overflow is real: unguarded, these pixels are lost

    warned: list[str] = []
    chunks = [tiny_images(2, seed=4).to(device), tiny_images(2, seed=5).to(device)]
    outs = [R.reenact_batch(model16, src, c, "real", 1.0, "relative", ref.canon_T1, warn=warned.append)
            for c in chunks]
    assert len(warned) == 1 and "fp16" in warned[0]
    model32 = copy.deepcopy(base).to(device)
    src32, ref32 = _encode(model32)
    for c, out in zip(chunks, outs):
        assert torch.isfinite(out).all()
        expected = R.reenact_batch(model32, src32, c, "real", 1.0, "relative", ref32.canon_T1)
        assert _psnr(out, expected) > 35  # fp32 recomputation from fp16-rounded weights and source codes


def test_fp16_guard_source_encoding_falls_back_to_fp32():
    """A source whose fp16 encoding is not finite is encoded and rendered in fp32 (one warning)."""
    model16 = tiny_model(cross_domain=False).half()

    def hook(_m, _i, out):
        return out.masked_fill(torch.ones_like(out, dtype=torch.bool), float("inf")) if out.dtype == torch.float16 else out
    model16.gen.enc2.register_forward_hook(hook)  # the motion encoder overflows in fp16
    warned: list[str] = []
    src = R.encode_source(model16, tiny_images(1, seed=1), "real", warn=warned.append)
    ref = R.encode_reference(model16, tiny_images(1, seed=2), "real", warn=warned.append)
    assert src.motion.dtype == torch.float32 and torch.isfinite(src.canon_T1).all()
    out = R.reenact_batch(model16, src, tiny_images(2, seed=3), "real", 1.0, "relative", ref.canon_T1,
                          warn=warned.append)
    assert torch.isfinite(out).all() and len(warned) == 1


# -- device-aware synthesis ---------------------------------------------------------------------------------
def test_synthesis_split_is_chosen_per_device_and_both_ways_agree(monkeypatch):
    assert synthesis.per_sample_from("cpu") == 64 and synthesis.per_sample_from("cuda") is None
    model = tiny_model(cross_domain=False)
    src, ref = _encode(model)
    frames = tiny_images(3, seed=6)
    per_sample = R.reenact_batch(model, src, frames, "real", 1.0, "relative", ref.canon_T1)
    monkeypatch.setattr(synthesis, "PER_SAMPLE_FROM", {})  # what CUDA does: every level batched
    batched = R.reenact_batch(model, src, frames, "real", 1.0, "relative", ref.canon_T1)
    assert (per_sample - batched).abs().max() < 1e-5


# -- memory limits ------------------------------------------------------------------------------------------
def test_chunks_are_sized_from_the_frame_size():
    from toontalker_core.memory import full_res_batch

    assert full_res_batch(4000 * 6000, 8) == 1 and full_res_batch(2160 * 3840, 8) == 1
    assert full_res_batch(1080 * 1920, 8) == 5 and full_res_batch(256 * 256, 8) == 8
    assert full_res_batch(256 * 256) == 16  # never more than MAX_FULL_RES_BATCH


def test_oversized_batch_is_clamped_with_a_note_and_nonsense_refused():
    model = tiny_model(cross_domain=False)
    notes: list[str] = []
    from toontalker_core.memory import max_model_batch

    limit = max_model_batch(model)
    assert R.check_batch_size(100000, model, notes.append) == limit < 100000
    assert len(notes) == 1 and "100000" in notes[0] and str(limit) in notes[0]
    assert R.check_batch_size(4, model, notes.append) == 4 and len(notes) == 1
    with pytest.raises(InputError, match="batch size"):
        R.check_batch_size(0, model)


def test_rebatch_regroups_in_order():
    chunks = [torch.arange(a, b)[:, None] for a, b in ((0, 3), (3, 8), (8, 10))]
    out = list(R.rebatch(chunks, 4))
    assert [len(c) for c in out] == [4, 4, 2]
    assert torch.equal(torch.cat(out)[:, 0], torch.arange(10))
    assert [len(c) for c in R.rebatch(chunks, None)] == [3, 5, 2]


@pytest.mark.parametrize("mode", ["reflect", "edge"])
def test_pooled_region_equals_pooling_the_padded_window(mode):
    img = torch.rand(1, 3, 37, 53, generator=torch.Generator().manual_seed(1))
    for x0, y0, x1, y1, f in ((-20, -9, 70, 61, 3), (5, 4, 30, 33, 2), (-100, -80, 140, 120, 7)):
        expected = F.avg_pool2d(padded_region(img, x0, y0, x1, y1, mode), f)
        assert torch.allclose(pooled_region(img, x0, y0, x1, y1, f, mode), expected, atol=1e-6)


def test_huge_crop_boxes_need_little_memory_or_are_refused():
    img = torch.rand(1, 3, 400, 600, generator=torch.Generator().manual_seed(2))
    # 9000 px box over a 600 px image: the full-resolution window would be 9000^2 x 3 floats (~1 GB)
    big = CropTransform.from_boxes([(-4000.0, -4000.0, 9000.0)], 64, (400, 600))
    out = crop(img, big)
    assert out.shape == (1, 3, 64, 64) and torch.isfinite(out).all()
    with pytest.raises(InputError, match="SIZE"):
        manual_box((0, 0, 100000), (400, 600))
    with pytest.raises(InputError, match="16x"):
        CropTransform.from_boxes([(0.0, 0.0, 100000.0)], 64, (400, 600))


# -- the full-frame pipeline --------------------------------------------------------------------------------
@pytest.mark.parametrize("device", DEVICES)
def test_full_frame_pipeline_runs_on_the_model_device_in_frame_sized_chunks(device, monkeypatch):
    model = tiny_model(cross_domain=False).to(device)
    source = tiny_images(1, seed=7, size=96)
    driving = tiny_images(5, seed=8, size=80)
    box = torch.tensor([10.0, 12.0, 70.0], dtype=torch.float64)
    from toontalker_core import memory

    monkeypatch.setattr(memory, "FULL_RES_CHUNK_BYTES", 2 * memory.FULL_RES_BYTES_PER_PIXEL * 96 * 96)  # 2 frames

    def run(batch_size):
        cropper = FaceCropper(64, "fixed", box=(5.0, 5.0, 60.0))
        cropper.start(driving[0])
        seen: list[int] = []
        outs = list(reenact_full_frames(model, source, box, cropper, driving[0], [driving[:3], driving[3:]],
                                        "real", "real", on_chunk=seen.append, batch_size=batch_size))
        return outs, seen

    outs, seen = run(batch_size=4)
    assert [o.shape[0] for o in outs] == [2, 2, 1] and seen == [2, 2, 1]
    assert all(o.device.type == device and o.shape[1:] == (3, 96, 96) for o in outs)
    outs_default, _ = run(batch_size=None)  # model batches as the chunks come: same frames
    # cuDNN picks its convolution algorithm per batch size: the same fp32 sums in another order differ by
    # rounding (TF32 is off inside the pack, see precision.py; with it on they differed by 6e-4 on an H200)
    tolerance = 1e-5 if device == "cpu" else 1e-4
    assert (torch.cat(outs) - torch.cat(outs_default)).abs().max() < tolerance
    assert torch.equal(torch.cat(outs)[:, :, :5, :5].cpu(), source[:, :, :5, :5].expand(5, -1, -1, -1))


def test_uint8_paste_blends_only_the_crop_window_and_matches_the_float_frames():
    model = tiny_model(cross_domain=False)
    source = tiny_images(1, seed=9, size=160)
    driving = tiny_images(3, seed=10, size=80)
    box = torch.tensor([30.0, 25.0, 60.0], dtype=torch.float64)

    def run(out_dtype):
        cropper = FaceCropper(64, "fixed", box=(5.0, 5.0, 60.0))
        cropper.start(driving[0])
        return torch.cat(list(reenact_full_frames(model, source, box, cropper, driving[0], [driving], "real",
                                                  "real", color_match=0.5, out_dtype=out_dtype)))

    as_float, as_uint8 = run(torch.float32), run(torch.uint8)
    assert as_uint8.dtype == torch.uint8
    assert (R.to_uint8(as_float).int() - as_uint8.int()).abs().max() <= 1
    assert not torch.equal(as_uint8[:, :, 40:70, 45:75], R.to_uint8(source).expand(3, -1, -1, -1)[:, :, 40:70, 45:75])


# -- precision policy (issue 21) ------------------------------------------------------------------------------
def test_auto_precision_is_guarded_fp16_on_gpus_and_fp32_or_native_bf16_on_cpus(monkeypatch):
    # measured on an H200: fp16 had bf16's speed with 6.5x less error against the original (precision.py)
    assert precision_policy.resolve_dtype("auto", torch.device("cuda")) == torch.float16
    assert precision_policy.resolve_dtype("auto", torch.device("mps")) == torch.float16
    from toontalker_core import precision

    monkeypatch.setattr(precision, "cpu_has_fast_bf16", lambda: False)
    assert precision_policy.resolve_dtype("auto", torch.device("cpu")) == torch.float32
    monkeypatch.setattr(precision, "cpu_has_fast_bf16", lambda: True)
    assert precision_policy.resolve_dtype("auto", torch.device("cpu")) == torch.bfloat16
    with pytest.raises(InputError, match="unknown precision 'fp8': use one of auto, fp32, bf16, fp16"):
        precision_policy.resolve_dtype("fp8", torch.device("cpu"))


def _tf32_state():
    from toontalker_core.precision import _precision_switches, _read_legacy

    return ([_read_legacy(m) for m in (torch.backends.cudnn, torch.backends.cuda.matmul)],
            [m.fp32_precision for m in _precision_switches()])


@pytest.mark.parametrize("start", ["default", "legacy_on", "legacy_off", "new_api"])
def test_fp32_on_cuda_turns_tf32_off_inside_and_restores_the_callers_settings(start):
    """The switches are process-wide flags, so this runs without a GPU: what ComfyUI or a user set before stays
    exactly as it was (both the legacy booleans and torch >= 2.9's strings), also after an error."""
    from toontalker_core.precision import _precision_switches, exact_fp32

    before_test = _tf32_state()
    try:
        if start == "legacy_on":
            torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = True
        elif start == "legacy_off":
            torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
        elif start == "new_api":
            if not _precision_switches():
                pytest.skip(f"torch {torch.__version__} has no fp32_precision switches")
            torch.backends.cuda.matmul.fp32_precision = "tf32"
        state = _tf32_state()
        with exact_fp32(torch.device("cuda"), torch.float32):
            assert not torch.backends.cudnn.allow_tf32 and not torch.backends.cuda.matmul.allow_tf32
        assert _tf32_state() == state
        with pytest.raises(ValueError), exact_fp32(torch.device("cuda", 0), torch.float32):
            raise ValueError("a failing chunk")
        assert _tf32_state() == state
        for device, dtype in (("cuda", torch.float16), ("cpu", torch.float32)):  # only fp32 on CUDA is touched
            with exact_fp32(torch.device(device), dtype):
                assert _tf32_state() == state
    finally:
        for m, value in zip((torch.backends.cudnn, torch.backends.cuda.matmul), before_test[0]):
            if value is not None:
                m.allow_tf32 = value
        for m, value in zip(_precision_switches(), before_test[1]):
            m.fp32_precision = value


def test_the_model_work_of_an_fp32_cuda_model_runs_without_tf32(monkeypatch):
    """Every model call of the library's door runs inside exact_fp32 for the model that computes (a stand-in
    CUDA device: the flags are what is checked, the arithmetic runs on the CPU)."""
    from toontalker_core import precision

    seen = []
    real = precision.exact_fp32

    def spy(device, dtype):
        seen.append((torch.device(device).type, dtype))
        return real(device, dtype)

    monkeypatch.setattr(R, "exact_fp32", spy)
    model = tiny_model(cross_domain=False)
    src, ref = _encode(model)
    R.reenact_batch(model, src, tiny_images(2, seed=3), "real", 1.0, "relative", ref.canon_T1)
    assert seen == [("cpu", torch.float32)] * 3  # source, reference, one chunk
