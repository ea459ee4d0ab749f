"""Crop boxes and crop transforms: exact inversion, geometry, padding at the borders, anti-aliasing."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from toontalker_core.errors import InputError
from toontalker_core.face import CropTransform, crop, crop_boxes, padded_region, paste_back


def ramp(h: int, w: int) -> torch.Tensor:
    """A linear image (bilinear interpolation reproduces it exactly): [1,3,h,w]."""
    yy, xx = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    return torch.stack([xx / w, yy / h, 0.2 + 0.3 * xx / w + 0.4 * yy / h])[None]


BOXES = [(100.3, 50.7, 120.0), (40.25, 30.5, 250.5), (200.6, 100.2, 96.0), (150.0, 80.0, 30.0)]


@pytest.mark.parametrize("box", BOXES)
def test_crop_then_paste_back_is_identity(box):
    """Round trip through a down- or up-scaling crop: identity within 1e-5 inside the crop square."""
    img = ramp(300, 420)
    t = CropTransform.from_boxes([box], 64, (300, 420))
    back = paste_back(img, crop(img, t, interpolation="bilinear"), t, feather=0.0, interpolation="bilinear")
    x, y, s = box
    inner = (slice(None), slice(None), slice(math.ceil(y) + 2, math.floor(y + s) - 2),
             slice(math.ceil(x) + 2, math.floor(x + s) - 2))
    assert (back - img)[inner].abs().max() < 1e-5
    outside = torch.ones(300, 420, dtype=torch.bool)
    outside[max(0, math.floor(y)):math.ceil(y + s), max(0, math.floor(x)):math.ceil(x + s)] = False
    assert torch.equal(back[0][:, outside], img[0][:, outside])  # nothing outside the square changes


def test_default_bicubic_round_trip_is_exact_on_the_pixel_grid():
    """A crop of the source's own size on whole pixels (partly outside the image) with the default settings."""
    img = torch.rand(1, 3, 80, 100, generator=torch.Generator().manual_seed(1))
    t = CropTransform.from_boxes([(60.0, -10.0, 48.0)], 48, (80, 100))
    c = crop(img, t)
    assert torch.allclose(c[0, :, 10:, :40], img[0, :, :38, 60:100], atol=1e-5)
    back = paste_back(img, c, t, feather=0.0)
    assert (back - img).abs().max() < 1e-5


def test_crop_samples_where_the_matrix_says():
    img = ramp(300, 420)
    x, y, s = 100.3, 50.7, 120.0
    t = CropTransform.from_boxes([(x, y, s)], 64, (300, 420))
    c = crop(img, t, interpolation="bilinear")[0]
    u = torch.arange(64, dtype=torch.float64)
    sx = (u + 0.5) * s / 64 + x - 0.5    # source pixel index of each crop pixel centre
    sy = (u + 0.5) * s / 64 + y - 0.5
    assert (c[0] - (sx / 420)[None, :]).abs()[2:-2, 2:-2].max() < 1e-5
    assert (c[1] - (sy / 300)[:, None]).abs()[2:-2, 2:-2].max() < 1e-5
    # matrix algebra: inverse maps crop corners to the box corners
    inv = t.inverse()[0]
    corner = inv @ torch.tensor([-0.5, -0.5, 1.0], dtype=torch.float64)
    assert torch.allclose(corner[:2] + 0.5, torch.tensor([x, y], dtype=torch.float64), atol=1e-12)
    assert torch.allclose(t.matrix[0] @ inv, torch.eye(3, dtype=torch.float64), atol=1e-12)


def test_crop_boxes_scale_and_offset():
    faces = torch.tensor([[100.0, 200.0, 200.0, 300.0]])
    b = crop_boxes(faces, scale=2.0, offset=0.0)[0].tolist()
    assert b == pytest.approx([50.0, 150.0, 200.0])
    up = crop_boxes(faces, scale=2.0, offset=-0.25)[0].tolist()
    assert up == pytest.approx([50.0, 125.0, 200.0])  # negative offset moves the crop up by 0.25 face sizes
    with pytest.raises(InputError, match="scale"):
        crop_boxes(faces, scale=0.0)


@pytest.mark.parametrize("mode", ["reflect", "edge"])
def test_box_partly_outside_is_padded_not_black(mode):
    img = torch.rand(1, 3, 50, 70, generator=torch.Generator().manual_seed(2)) * 0.5 + 0.4
    t = CropTransform.from_boxes([(-40.0, 20.0, 90.0)], 32, (50, 70))  # leaves the image left and bottom
    c = crop(img, t, pad_mode=mode)
    assert c.shape == (1, 3, 32, 32) and c.min() > 0.3  # no black fill anywhere
    if mode == "reflect":
        rows, cols = [48, 49, 48, 47, 46], [3, 2, 1, 0, 1]
    else:
        rows, cols = [48, 49, 49, 49, 49], [0, 0, 0, 0, 1]
    expected = img[..., rows, :][..., cols]
    assert torch.equal(padded_region(img, -3, 48, 2, 53, mode), expected)
    # a box far larger than the image still works
    big = CropTransform.from_boxes([(-300.0, -300.0, 700.0)], 16, (50, 70))
    assert torch.isfinite(crop(img, big, pad_mode=mode)).all()


def test_downscaling_crop_is_anti_aliased():
    """A 1-px checkerboard shrunk 8x must come out flat grey, not as moire."""
    yy, xx = torch.meshgrid(torch.arange(512), torch.arange(512), indexing="ij")
    board = ((xx + yy) % 2).float().expand(1, 3, 512, 512)
    t = CropTransform.from_boxes([(0.0, 0.0, 512.0)], 64, (512, 512))
    c = crop(board, t)
    assert (c - 0.5).abs().max() < 0.05


def test_transform_container_ops():
    t = CropTransform.from_boxes([(0, 0, 10), (5, 5, 20)], 32, (40, 60))
    assert len(t) == 2 and len(t[1]) == 1 and torch.equal(t[1].boxes, t.boxes[1:])
    both = CropTransform.cat([t[0], t[1]])
    assert torch.equal(both.matrix, t.matrix)
    rebuilt = CropTransform.from_dict(t.to_dict())
    assert torch.allclose(rebuilt.matrix, t.matrix) and rebuilt.source_size == (40, 60)
    assert len(t[0].repeat(5)) == 5 and torch.equal(t[0].repeat(5).matrix[4], t.matrix[0])
    assert t.scale.tolist() == pytest.approx([3.2, 1.6])
    with pytest.raises(InputError, match="made for"):
        crop(torch.zeros(1, 3, 41, 60), t)


def test_portrait_and_odd_sizes():
    img = torch.rand(1, 3, 131, 77, generator=torch.Generator().manual_seed(3))
    t = CropTransform.from_boxes([(10.5, 40.25, 63.0)], 33, (131, 77))
    c = crop(img, t)
    assert c.shape == (1, 3, 33, 33)
    out = paste_back(img, c, t)
    assert out.shape == (1, 3, 131, 77)


def test_an_offset_that_moves_the_crop_off_the_face_is_refused(capsys, tmp_path):
    """Issue 22: `--crop-offset 2` put the box below the sample cartoon: a black video and exit 0."""
    from toontalker_core.app.cli import main

    with pytest.raises(InputError, match="between -0.95 and 0.95"):
        crop_boxes(torch.tensor([[0.0, 0.0, 10.0, 10.0]]), scale=1.9, offset=2)
    assert crop_boxes(torch.tensor([[0.0, 0.0, 10.0, 10.0]]), scale=1.9, offset=-0.9).shape == (1, 3)
    repo = Path(__file__).resolve().parent.parent
    assert main(["crossdomain", "--type", "r2c", "--source_path", str(repo / "samples" / "source_cartoon.png"),
                 "--driving_path", str(repo / "samples" / "driving.mp4"), "--output_dir", str(tmp_path / "out.mp4"),
                 "--crop-offset", "2", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "crop offset 2 moves the crop off the face" in err[0]
    assert list(tmp_path.iterdir()) == []
