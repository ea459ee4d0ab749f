"""The main job (r2c: the real sample video drives the sample cartoon) with the bundled demo model, and the
in-domain route: the result must follow the driving head motion.

Tracked with the project's face detector: per frame the eye-line angle (roll) and the face centre, in the
driving video and in the result. A model that ignores the driving motion gives a flat track (correlation
undefined or low, range ~0); a damped one gives a small range.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from toontalker_core.app.cli import main
from toontalker_core.face.detect import detect_faces
from toontalker_core.media import iter_driving
from toontalker_core.app.paths import BUNDLED_DIR, PACK_ROOT

BUNDLED = BUNDLED_DIR / "cross-domain-demo-64px.safetensors"
SAMPLES = PACK_ROOT / "samples"
DRIVING = SAMPLES / "driving.mp4"
# route -> (CLI command, source portrait): the main job (scripts/demo.sh, r2c: the real sample video drives the
# sample cartoon) and the in-domain route with the same driving video
ROUTES = {"r2c": (["crossdomain", "--type", "r2c"], SAMPLES / "source_cartoon.png"),
          "real->real": (["indomain"], SAMPLES / "source_real.png")}


def head_track(frames: torch.Tensor) -> np.ndarray:
    """[n,3,H,W] in [0,1] -> [n, 3]: eye-line angle (degrees), face centre x, y (pixels)."""
    rows = []
    for i, faces in enumerate(detect_faces(frames)):
        assert faces, f"no face found in frame {i}"
        (rx, ry), (lx, ly) = faces[0].keypoints[:2]
        rows.append((math.degrees(math.atan2(ly - ry, lx - rx)), *faces[0].center))
    return np.array(rows)


def test_the_main_job_is_the_r2c_route():
    demo = (PACK_ROOT / "scripts" / "demo.sh").read_text()
    command, source = ROUTES["r2c"]
    assert " ".join(command) in demo and str(source.relative_to(PACK_ROOT)) in demo and "samples/driving.mp4" in demo


@pytest.mark.skipif(not BUNDLED.exists(), reason="the bundled demo model is not in this checkout")
@pytest.mark.parametrize("route", sorted(ROUTES))
def test_main_job_follows_the_driving_head_motion(tmp_path, route):
    command, source = ROUTES[route]
    out = tmp_path / "demo.npy"
    assert main([*command, "--source_path", str(source), "--driving_path", str(DRIVING),
                 "--checkpoint", str(BUNDLED), "-o", str(out), "--quiet"]) == 0
    result = torch.from_numpy(np.load(out)).permute(0, 3, 1, 2)
    driving = torch.cat(list(iter_driving(DRIVING, chunk_size=50)))
    assert result.shape == driving.shape
    drv, res = head_track(driving), head_track(result)
    for k, (name, min_corr) in enumerate((("eye-line angle", 0.9), ("centre x", 0.6), ("centre y", 0.8))):
        corr = np.corrcoef(drv[:, k], res[:, k])[0, 1]
        ratio = np.ptp(res[:, k]) / np.ptp(drv[:, k])
        assert corr > min_corr, f"{route}, {name}: correlation {corr:.3f} with the driving video"
        assert 0.6 < ratio < 1.5, f"{route}, {name}: range {ratio:.2f}x the driving video's"
