"""Paste-back: no visible seam (bounded gradient across the mask edge), colour matching, masks."""
from __future__ import annotations

import pytest
import torch

from toontalker_core.errors import InputError
from toontalker_core.face import CropTransform, crop, crop_mask, match_color, paste_back, paste_mask

H, W, S = 200, 240, 64
BOX = (50.5, 40.25, 120.0)   # 120 source px <- 64 crop px


def max_gradient(img: torch.Tensor) -> float:
    return max(float(img.diff(dim=-1).abs().max()), float(img.diff(dim=-2).abs().max()))


def test_feathered_seam_on_a_flat_image_has_a_bounded_gradient():
    original = torch.full((1, 3, H, W), 0.4)
    rendered = torch.full((1, 3, S, S), 0.6)
    t = CropTransform.from_boxes([BOX], S, (H, W))
    hard = paste_back(original, rendered, t, feather=0.0)
    assert max_gradient(hard) > 0.15                      # a hard paste shows the full 0.2 step
    feather = 0.1
    soft = paste_back(original, rendered, t, feather=feather)
    ramp_px = feather * BOX[2]                            # width of the soft edge in source pixels
    bound = 0.2 * 1.5 / ramp_px * 1.1                     # smoothstep's steepest slope is 1.5 / width
    assert max_gradient(soft) < bound
    assert abs(float(soft[0, 0, 100, 110]) - 0.6) < 1e-6  # the crop's centre is the rendered face
    assert float(soft[0, 0, 10, 10]) == pytest.approx(0.4)  # outside the square: the original
    matched = paste_back(original, rendered, t, feather=feather, color_match=1.0)
    assert max_gradient(matched) < 1e-4                   # colour matching removes the step altogether


def test_seam_bound_holds_for_a_wider_feather_and_a_box_over_the_border():
    original = torch.full((2, 3, H, W), 0.3)
    rendered = torch.full((2, 3, S, S), 0.7)
    t = CropTransform.from_boxes([(-30.0, 120.0, 150.0), (180.0, -20.0, 90.0)], S, (H, W))
    out = paste_back(original, rendered, t, feather=0.25)
    assert out.shape == (2, 3, H, W)
    assert max_gradient(out[:1]) < 0.4 * 1.5 / (0.25 * 150) * 1.1
    assert max_gradient(out[1:]) < 0.4 * 1.5 / (0.25 * 90) * 1.1


def test_color_match_recovers_an_affine_colour_change():
    g = torch.Generator().manual_seed(0)
    original = torch.nn.functional.interpolate(torch.rand(1, 3, 12, 12, generator=g), size=(H, W), mode="bicubic",
                                               align_corners=False).clamp(0, 1)
    t = CropTransform.from_boxes([BOX], S, (H, W))
    target = crop(original, t)
    rendered = target * torch.tensor([0.7, 0.9, 0.8]).view(1, 3, 1, 1) + 0.05  # stays inside [0, 1]
    weight = crop_mask(t, 0.1)
    matched = match_color(rendered, target, weight)
    w = weight[:, None]
    mean = lambda x: (x * w).sum(dim=(2, 3)) / w.sum(dim=(2, 3))  # noqa: E731
    assert torch.allclose(mean(matched), mean(target), atol=2e-3)
    assert (matched - target).abs().max() < 0.02
    half = match_color(rendered, target, weight, amount=0.5)
    assert torch.allclose(half, (rendered + matched) / 2, atol=2e-3)


def test_masks_and_one_original_for_many_frames():
    t = CropTransform.from_boxes([BOX], S, (H, W)).repeat(3)
    m = paste_mask(t, 0.1)
    assert m.shape == (3, H, W) and float(m[:, :30].max()) == 0.0 and float(m[:, 100, 110].min()) == 1.0
    cm = crop_mask(t, 0.1)
    assert cm.shape == (3, S, S) and float(cm[0, 0, 0]) < 0.03 and float(cm[0, S // 2, S // 2]) == 1.0
    original = torch.rand(1, 3, H, W)
    rendered = torch.rand(3, 3, S, S)
    out = paste_back(original, rendered, t)
    assert out.shape == (3, 3, H, W)
    outside = m[0] == 0
    assert torch.equal(out[:, :, outside], original.expand(3, -1, -1, -1)[:, :, outside])  # untouched outside
    assert not torch.equal(out[0], out[1])                        # each frame gets its own rendered crop


@pytest.mark.parametrize("kw, msg", [({"feather": 0.7}, "feather"), ({"color_match": 2.0}, "color match")])
def test_bad_blend_settings(kw, msg):
    t = CropTransform.from_boxes([BOX], S, (H, W))
    with pytest.raises(InputError, match=msg):
        paste_back(torch.zeros(1, 3, H, W), torch.zeros(1, 3, S, S), t, **kw)
