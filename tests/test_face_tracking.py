"""The tracked crop never jumps: gating on the predicted box, a bounded hold with decaying motion, one message.

BoxTrack is tested on box streams with known motion; FaceCropper end to end on procedural cartoon faces moving
along known paths (tools/measure_tracking.py's scene: dropped frames and a distractor face).
"""
from __future__ import annotations

import math

import pytest
import torch

from measure_tracking import figures, moving_scene, track
from toontalker_core.errors import InputError
from toontalker_core.face import BoxTrack, FaceCropper, check_hold, hold_frames

SIZE = 100.0


def box_at(x: float, y: float = 50.0, size: float = SIZE) -> torch.Tensor:
    return torch.tensor([[x, y, size]], dtype=torch.float64)


NONE = torch.zeros(0, 3, dtype=torch.float64)


def test_a_gap_coasts_on_the_predicted_motion_and_slows_to_a_stop_without_a_jump():
    notes = []
    track = BoxTrack(fps=25, smoothing=1.0, warn=notes.append)
    out = [track.step(box_at(4.0 * i), 0, hint=box_at(0)) for i in range(30)]   # 4 px per frame
    out += [track.step(NONE, None) for _ in range(5)]                            # five frames without it
    x = torch.stack(out)[:, 0]
    steps = x[1:] - x[:-1]
    # while held the box keeps moving the way it went, ever slower: no jump, no sudden stop
    held = steps[29:]
    assert bool((held > 0).all()) and bool((held[1:] < held[:-1]).all())
    assert float(held[0]) > 2.0 and float(held[-1]) < 2.0
    assert track.gaps[0].first == 30 and track.gaps[0].length == 5
    track.step(box_at(4.0 * 35 - 10), 0)                                          # found again, near
    assert notes == ["no face at frames 30-34; holding the predicted box (5 frames)"]


def test_a_far_face_is_ignored_for_the_hold_then_restarts_the_track_at_once():
    fps = 25
    hold = hold_frames(fps)
    assert hold == 6                                                             # 0.25 s
    notes = []
    track = BoxTrack(fps, warn=notes.append)
    for _ in range(10):
        track.step(box_at(0), 0, hint=box_at(0))
    # another face, 3 face sizes away: the box stays put for the hold ...
    far = [track.step(box_at(300), 0) for _ in range(hold)]
    assert max(abs(float(b[0])) for b in far) < 1e-6
    # ... then the track restarts on it without sliding across the frame
    restarted = track.step(box_at(300), 0)
    assert abs(float(restarted[0]) - 300) < 1e-6
    assert track.gaps[0].far and track.gaps[0].length == hold
    assert notes == [f"only a face far from the tracked one at frames 10-15; holding the predicted box ({hold} frames)"]
    # while the face is next to a distractor, the face is followed, whichever is more prominent
    for i in range(5):
        out = track.step(torch.cat([box_at(0, size=150), box_at(302 + i)]), 0)
    assert abs(float(out[0]) - 306) < 5                                         # (the smoothing lags a little)


def test_the_hold_is_a_setting_and_zero_switches_to_another_face_at_once():
    assert hold_frames(25, 0.5) == 12 and hold_frames(25, 0) == 0 and hold_frames(4, 0.25) == 2  # >= 2 unless 0
    assert FaceCropper(64, fps=10, hold_seconds=1.0).track.hold == 10
    for seconds, held in ((0.0, 0), (0.5, 12)):
        track = BoxTrack(25, hold=hold_frames(25, seconds))
        for _ in range(10):
            track.step(box_at(0), 0, hint=box_at(0))
        x = [float(track.step(box_at(300), 0)[0]) for _ in range(15)]                # only a far face in view
        assert max(abs(v) for v in x[:held] + [0.0]) < 1e-6 and abs(x[held] - 300) < 1e-6
    track = BoxTrack(25, hold=0)                                                  # nothing in view: it coasts
    out = [track.step(box_at(4.0 * i), 0, hint=box_at(0)) for i in range(10)] + [track.step(NONE, None)]
    assert 36 < float(out[-1][0]) < 40
    with pytest.raises(InputError, match=r"^--track-hold \(seconds a lost face is held\) must be >= 0 and <= 10, "
                                         r"got -0.5$"):
        check_hold(-0.5, "--track-hold")


def test_a_long_gap_holds_the_last_box_and_says_so_once():
    notes = []
    track = BoxTrack(fps=10, warn=notes.append, what=" of clip.mp4")
    for _ in range(5):
        track.step(box_at(20), 0, hint=box_at(20))
    held = [track.step(NONE, None) for _ in range(10)]
    assert all(torch.allclose(b, held[0]) for b in held)
    assert notes == ["no face since frame 5 of clip.mp4 (more than 2 frames); holding the last box until the next "
                     "face found restarts the track"]
    track.step(box_at(400), 0)                                                  # the next face: a new track
    track.step(NONE, None)
    track.finish()
    assert len(notes) == 1                                                      # once
    assert track.report(17) == ("no tracked face in 11 of 17 frames of clip.mp4 (2 gaps, the longest 10 from "
                                "frame 5); 1 gap outlasted the 2-frame hold and the track restarted on the next "
                                "face found")


def test_cartoon_faces_moving_with_dropped_frames_and_a_distractor_are_tracked_steadily():
    fps = 25.0
    scene = moving_scene(80, fps, seed=2, drops=((20, 26), (45, 46), (60, 66)), distractor=(60, 64))
    boxes, cropper = track(scene, fps)
    f = figures(scene, boxes)
    # measured on this scene: before this tracker jitter 57.5 %, max jump 380 % (to the distractor), 4 frames on
    # the distractor; with it 4.5 %, 17 %, none; since ToonNet's boxes come from its second look (more accurate
    # on scenes, see DATA.md) 6.5 %, 26 %, none (over tools/measure_tracking.py's 3 seeds: 5.2 %, 25 %)
    assert f["on_distractor"] == 0
    assert f["jitter"] < 7.5 and f["max_jump"] < 32.0, f
    assert cropper.missed >= int((~scene.visible).sum())
    assert math.isfinite(f["error"]) and f["error"] < 20.0


def test_a_small_face_in_a_large_frame_is_followed_by_looking_near_the_track():
    """A ~48 px face moving in 1920x1080 frames is 5 px in the whole-frame look, which finds it in no frame;
    the tracker looks again around the expected box. Measured: 5 frames missed of 40 (4 hidden), mean error
    18 % of the face size; without the near look all 40 were missed and the error was 143 %."""
    fps = 25.0
    scene = moving_scene(40, fps, seed=0, drops=((20, 24),), distractor=(0, 0), size=(1080, 1920))
    boxes, cropper = track(scene, fps)
    f = figures(scene, boxes)
    assert cropper.missed <= int((~scene.visible).sum()) + 2, cropper.missed
    assert f["error"] < 25.0 and f["jitter"] < 6.0, f
