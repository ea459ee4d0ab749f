"""The command line end to end on a tiny checkpoint: outputs, audio, and bad input."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from toontalker_core.checkpoint import save_safetensors
from toontalker_core.cli import main
from toontalker_core.media import FrameWriter, probe_driving

from tiny import tiny_images, tiny_model


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    ckpt = {"cross": save_safetensors(tiny_model(True), d / "cross.safetensors"),
            "in": save_safetensors(tiny_model(False), d / "in.safetensors")}
    src = d / "source.png"
    Image.fromarray((tiny_images(1, seed=5, size=96)[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)).save(src)
    frames = d / "frames"
    frames.mkdir()
    for i, img in enumerate(tiny_images(6, seed=6, size=80)):
        Image.fromarray((img.permute(1, 2, 0).numpy() * 255).astype(np.uint8)).save(frames / f"f{i}.png")
    video = d / "drive.mp4"
    t = np.arange(16000 * 6 // 10) / 16000
    with FrameWriter(video, fps=10, audio_array=(np.sin(2 * np.pi * 440 * t).astype(np.float32), 16000)) as w:
        w.write(tiny_images(6, seed=6, size=80).permute(0, 2, 3, 1))
    return {"ckpt": ckpt, "src": src, "frames": frames, "video": video, "dir": d}


def run(files, *extra, command="indomain", ckpt="in"):
    args = [command, "--source_path", str(files["src"]), "--checkpoint", str(files["ckpt"][ckpt]), "--quiet", *extra]
    return main(args)


def test_npy_output_matches_the_staged_api(files, tmp_path):
    out = tmp_path / "out.npy"
    assert run(files, "--driving_path", str(files["frames"]), "--output_dir", str(out), "--batch-size", "4") == 0
    arr = np.load(out)
    assert arr.shape == (6, 64, 64, 3) and arr.dtype == np.float32
    assert 0 <= arr.min() and arr.max() <= 1
    # frame 0 is the reference frame: relative motion there is zero, so it shows the source pose
    assert np.abs(arr[0] - arr[1:]).max() > 1e-3
    strength0 = tmp_path / "s0.npy"
    assert run(files, "--driving_path", str(files["frames"]), "--output_dir", str(strength0), "--strength", "0") == 0
    s0 = np.load(strength0)
    assert np.abs(s0 - s0[:1]).max() < 1e-4 and np.abs(s0[0] - arr[0]).max() < 1e-4


def test_png_folder_and_cross_domain(files, tmp_path):
    out = tmp_path / "pngs"
    assert run(files, "--type", "r2c", "--driving_path", str(files["frames"]), "--output_dir", str(out),
               command="crossdomain", ckpt="cross") == 0
    pngs = sorted(out.glob("*.png"))
    assert len(pngs) == 6 and Image.open(pngs[0]).size == (64, 64)


def test_mp4_keeps_fps_and_audio(files, tmp_path):
    out = tmp_path / "out.mp4"
    assert run(files, "--driving_path", str(files["video"]), "--output_dir", str(out)) == 0
    info = probe_driving(out)
    assert info.num_frames == 6 and abs(info.fps - 10) < 1e-6 and info.has_audio


@pytest.mark.parametrize("case, extra, message", [
    ("missing source", ["--source_path", "nope.png"], "nope.png"),
    ("reference out of range", ["--reference-frame", "6"], "reference frame 6 is out of range"),
    ("strength nan", ["--strength", "nan"], "strength must be a finite number"),
    ("in-domain for r2c", ["--type", "r2c"], "cartoon.*cross-domain checkpoint"),
])
def test_bad_input_fails_cleanly(files, tmp_path, capsys, case, extra, message):
    out = tmp_path / "out.mp4"
    command = "crossdomain" if "--type" in extra else "indomain"
    args = [command, "--source_path", str(files["src"]), "--driving_path", str(files["video"]),
            "--checkpoint", str(files["ckpt"]["in"]), "--output_dir", str(out), "--quiet"]
    args += extra
    assert main(args) == 2, case
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ")
    import re
    assert re.search(message, err[0]), err[0]
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_bad_media_fail_cleanly(files, tmp_path, capsys):
    gray16 = tmp_path / "g16.png"
    Image.fromarray((np.linspace(0, 65535, 40 * 40).reshape(40, 40)).astype(np.uint16)).save(gray16)
    corrupt = tmp_path / "bad.mp4"
    corrupt.write_bytes(b"\x00\x01garbage" * 100)
    empty = tmp_path / "empty"
    empty.mkdir()
    tiny = tmp_path / "tiny.png"
    Image.new("RGB", (12, 10)).save(tiny)
    out = tmp_path / "res.mp4"
    cases = [(["--driving_path", str(corrupt)], "bad.mp4"), (["--driving_path", str(empty)], "empty"),
             (["--source_path", str(tiny), "--driving_path", str(files["frames"])], "12x10")]
    for extra, needle in cases:
        args = ["indomain", "--source_path", str(files["src"]), "--checkpoint", str(files["ckpt"]["in"]),
                "--output_dir", str(out), "--quiet", *extra]
        assert main(args) == 2
        err = capsys.readouterr().err
        assert needle in err and not out.exists()
    # 16-bit grayscale and RGBA sources are converted, not refused
    rgba = tmp_path / "rgba.png"
    Image.new("RGBA", (70, 70), (200, 100, 50, 128)).save(rgba)
    for src in (gray16, rgba):
        assert main(["indomain", "--source_path", str(src), "--driving_path", str(files["frames"]),
                     "--checkpoint", str(files["ckpt"]["in"]), "--output_dir", str(out.with_suffix(".npy")),
                     "--quiet"]) == 0


def test_missing_checkpoint_names_the_folders(tmp_path, monkeypatch, capsys, files):
    monkeypatch.setenv("TOONTALKER_MODELS", str(tmp_path / "models"))
    import toontalker_core.paths as paths
    monkeypatch.setattr(paths, "PACK_ROOT", tmp_path / "pack")
    monkeypatch.setattr(paths, "BUNDLED_DIR", tmp_path / "bundled")
    out = tmp_path / "o.mp4"
    assert main(["indomain", "--source_path", str(files["src"]), "--driving_path", str(files["frames"]),
                 "--output_dir", str(out)]) == 2
    err = capsys.readouterr().err
    assert "in-domain440000.pth" in err and str(tmp_path / "models") in err and not out.exists()
