"""Streaming driving crops: tracking, frames without a face, fixed and manual boxes, bad input."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from conftest import REPO
from toontalker_core.errors import InputError
from toontalker_core.face import FaceCropper, NoFaceError, locate_face
from toontalker_core.media import load_image

FACE = F.interpolate(load_image(REPO / "samples" / "source_real.png")[None], size=(128, 128), mode="bilinear",
                     antialias=True)[0]


def video(positions: list[tuple[int, int] | None], h: int = 240, w: int = 320) -> torch.Tensor:
    """Frames with the sample face pasted at (x, y), or no face (None)."""
    frames = torch.full((len(positions), 3, h, w), 0.55)
    for i, p in enumerate(positions):
        if p is not None:
            x, y = p
            frames[i, :, y:y + 128, x:x + 128] = FACE
    return frames


def test_tracked_crops_hold_through_a_cut_then_restart_on_the_new_face_and_hold_through_a_gap():
    # a cut moves the face 100 px at frame 4: held for the 6-frame hold (25 fps), then the track restarts there
    positions = [(40, 50)] * 4 + [(140, 60)] * 10 + [None] * 3 + [(140, 60)] * 3
    frames = video(positions)
    notes = []
    cropper = FaceCropper(64, "tracked", fps=25, warn=notes.append)
    ref_box = cropper.start(frames[0])
    chunks = [cropper(frames[i:i + 5]) for i in range(0, len(frames), 5)]  # streamed in chunks of 5
    crops = torch.cat([c for c, _ in chunks])
    boxes = torch.cat([t.boxes for _, t in chunks])
    assert crops.shape == (20, 3, 64, 64)
    assert cropper.frames == 20 and cropper.missed == 6 + 3
    centre = boxes[:, 0] + boxes[:, 2] / 2
    ref_centre = float(ref_box[0] + ref_box[2] / 2)
    assert (centre[:10] - ref_centre).abs().max() < 3                       # no jump during the hold ...
    assert abs(float(centre[10]) - (140 + 64)) < 12                         # ... then at once on the new face
    assert torch.allclose(boxes[14:17], boxes[13:14].expand(3, 3), atol=2.0)  # held while the face is gone
    assert abs(float(centre[19]) - (140 + 64)) < 12
    assert notes == ["only a face far from the tracked one at frames 4-9; holding the predicted box (6 frames)"]
    assert cropper.report() == ("no tracked face in 9 of 20 frames (2 gaps, the longest 6 from frame 4); 6 of "
                                "them showed only another face, which was ignored; the predicted box was held")


def test_fixed_mode_and_manual_box_use_one_box():
    frames = video([(40, 50), (140, 60), (100, 40)])
    fixed = FaceCropper(32, "fixed")
    box = fixed.start(frames[0])
    _, t = fixed(frames)
    assert torch.equal(t.boxes, box[None].expand(3, 3).to(t.boxes))
    manual = FaceCropper(32, "tracked", box=(10, 20, 100))
    manual.start(torch.full((3, 240, 320), 0.5))   # no face needed with a manual box
    _, t = manual(frames)
    assert t.boxes.tolist() == [[10, 20, 100]] * 3 and manual.missed == 0


def test_no_face_anywhere_is_a_clear_error():
    blank = video([None, None])
    with pytest.raises(NoFaceError, match="reference frame.*by hand"):
        FaceCropper(64).start(blank[0])
    with pytest.raises(NoFaceError, match="no face found in the source image"):
        locate_face(blank[0])


def test_bad_settings_and_sizes():
    with pytest.raises(InputError, match="crop mode"):
        FaceCropper(64, "sometimes")
    with pytest.raises(InputError, match="scale"):
        FaceCropper(64, scale=-1)
    with pytest.raises(InputError, match="outside"):
        locate_face(torch.zeros(3, 50, 50), box=(60, 0, 10))
    with pytest.raises(InputError, match="X Y SIZE"):
        locate_face(torch.zeros(3, 50, 50), box=(1, 2))
    cropper = FaceCropper(64, box=(0, 0, 40))
    cropper.start(torch.zeros(3, 50, 50))
    with pytest.raises(InputError, match="reference frame is 50x50"):
        cropper(torch.zeros(1, 3, 60, 50))


def test_box_partly_outside_a_portrait_frame_is_padded():
    frames = video([(10, 150), (10, 150)], h=301, w=151)  # portrait, odd sizes
    cropper = FaceCropper(48, "tracked", box=(-60, 130, 170))
    cropper.start(frames[0])
    crops, t = cropper(frames)
    assert crops.shape == (2, 3, 48, 48) and torch.isfinite(crops).all()
    # the part of the box left of the image is the mirror image (as if the frame were reflect-padded), not black
    mirrored = F.pad(frames, (80, 0, 0, 0), mode="reflect")
    expected = FaceCropper(48, box=(20, 130, 170))
    expected.start(mirrored[0])
    assert torch.allclose(crops, expected(mirrored)[0], atol=1e-5)
