"""Animated WebP / GIF as driving input (Pillow; PyAV has no animated-WebP decoder): frames, fps from the
frame durations, no audio, through probe_driving / iter_driving / read_frame and the CLI."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from toontalker_core.app import cli
from toontalker_core.media import MediaError, iter_driving, probe_driving, read_frame


def _frames(n: int, size: int = 48) -> list[np.ndarray]:
    """Distinct frames: a bright square moving left to right on a gradient."""
    out = []
    for i in range(n):
        f = np.zeros((size, size + 8, 3), np.uint8)
        f[..., 0] = np.linspace(0, 200, size + 8, dtype=np.uint8)[None]
        f[..., 2] = 60
        x = 2 + i * 4
        f[10:30, x:x + 12] = (250, 250, 40)
        out.append(f)
    return out


def _save(path, frames, durations, **kw):
    ims = [Image.fromarray(f) for f in frames]
    ims[0].save(path, save_all=True, append_images=ims[1:], duration=durations, loop=0, **kw)


@pytest.mark.parametrize("ext, kw", [(".webp", {"lossless": True}), (".gif", {})])
def test_animated_driving_input(tmp_path, ext, kw):
    frames = _frames(9)
    path = tmp_path / f"drive{ext}"
    _save(path, frames, [80] * 9, **kw)  # 80 ms per frame = 12.5 fps
    info = probe_driving(path)
    assert (info.kind, info.num_frames, info.width, info.height, info.has_audio) == ("animated", 9, 56, 48, False)
    assert info.fps == pytest.approx(12.5)
    got = np.concatenate([c.permute(0, 2, 3, 1).numpy() for c in iter_driving(path, chunk_size=4)])
    assert got.shape == (9, 48, 56, 3)
    want = np.stack(frames).astype(np.float32) / 255
    tol = 1e-6 if ext == ".webp" else 0.05  # GIF: a 256-colour palette
    assert np.abs(got - want).mean() < tol
    assert np.abs(got[1:] - got[:-1]).mean() > 0.01  # really the animation, not the first frame repeated
    assert np.allclose(read_frame(path, 5).permute(1, 2, 0).numpy(), got[5])
    part = np.concatenate([c.permute(0, 2, 3, 1).numpy() for c in iter_driving(path, start=3, stop=6)])
    assert np.allclose(part, got[3:6])


def test_fps_from_uneven_durations_and_missing_delays(tmp_path):
    path = tmp_path / "uneven.webp"
    _save(path, _frames(4), [40, 40, 120, 120], lossless=True)  # 4 frames in 320 ms
    assert probe_driving(path).fps == pytest.approx(12.5)
    path = tmp_path / "nodelay.gif"
    _save(path, _frames(3), 0)
    assert probe_driving(path).fps == 25.0  # no delays in the file: the default, not a division by zero


def test_still_webp_is_one_image(tmp_path):
    path = tmp_path / "still.webp"
    Image.fromarray(_frames(1)[0]).save(path, lossless=True)
    assert probe_driving(path).kind == "image"


def test_damaged_animation_is_a_one_line_error(tmp_path):
    path = tmp_path / "cut.webp"
    _save(path, _frames(8), [40] * 8, lossless=True)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises((MediaError, ValueError)) as e:
        probe_driving(path)
        list(iter_driving(path))
    assert str(path) in str(e.value) and "\n" not in str(e.value)


def test_cli_reenacts_an_animated_webp(tmp_path):
    from tiny import TINY, tiny_model
    from toontalker_core.model.checkpoint import save_safetensors

    ckpt = save_safetensors(tiny_model(True), tmp_path / "cross-domain-tiny.safetensors", TINY)
    drive = tmp_path / "drive.webp"
    _save(drive, _frames(5, 64), [50] * 5, lossless=True)
    source = tmp_path / "toon.png"
    Image.fromarray(_frames(1, 64)[0]).save(source)
    for route in ("c2c", "r2r"):
        out = tmp_path / f"{route}.npy"
        assert cli.main(["crossdomain", "--type", route, "--source_path", str(source), "--driving_path", str(drive),
                         "--output_dir", str(out), "--checkpoint", str(ckpt), "--crop", "none", "--quiet",
                         "--device", "cpu", "--precision", "fp32"]) == 0
        arr = np.load(out)
        assert arr.shape == (5, 64, 64, 3) and np.isfinite(arr).all()
        assert np.abs(arr[1:] - arr[:-1]).mean() > 0  # the frames follow the driving animation
