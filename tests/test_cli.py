"""The command line end to end on a tiny checkpoint: outputs, audio, and bad input."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from toontalker_core.model.checkpoint import save_safetensors
from toontalker_core.app.cli import main
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
    """The whole-image path (--crop none): the tiny random sources here have no face."""
    args = [command, "--source_path", str(files["src"]), "--checkpoint", str(files["ckpt"][ckpt]), "--quiet",
            "--crop", "none", *extra]
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
            "--checkpoint", str(files["ckpt"]["in"]), "--output_dir", str(out), "--quiet", "--crop", "none"]
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
                "--output_dir", str(out), "--quiet", "--crop", "none", *extra]
        assert main(args) == 2
        err = capsys.readouterr().err
        assert needle in err and not out.exists()
    # 16-bit grayscale and RGBA sources are converted, not refused
    rgba = tmp_path / "rgba.png"
    Image.new("RGBA", (70, 70), (200, 100, 50, 128)).save(rgba)
    for src in (gray16, rgba):
        assert main(["indomain", "--source_path", str(src), "--driving_path", str(files["frames"]),
                     "--checkpoint", str(files["ckpt"]["in"]), "--output_dir", str(out.with_suffix(".npy")),
                     "--quiet", "--crop", "none"]) == 0


def test_missing_checkpoint_names_the_folders(tmp_path, monkeypatch, capsys, files):
    monkeypatch.setenv("TOONTALKER_MODELS", str(tmp_path / "models"))
    import toontalker_core.app.paths as paths
    monkeypatch.setattr(paths, "PACK_ROOT", tmp_path / "pack")
    monkeypatch.setattr(paths, "BUNDLED_DIR", tmp_path / "bundled")
    out = tmp_path / "o.mp4"
    assert main(["indomain", "--source_path", str(files["src"]), "--driving_path", str(files["frames"]),
                 "--output_dir", str(out), "--crop", "none"]) == 2
    err = capsys.readouterr().err
    assert "in-domain440000.pth" in err and str(tmp_path / "models") in err and not out.exists()


# --- --crop auto (the default): detect, crop, reenact, paste back at the source's resolution -----------------------

@pytest.fixture(scope="module")
def face_files(files, tmp_path_factory):
    """A portrait-sized RGBA source (odd size, face off-centre) and a driving folder whose face moves."""
    from toontalker_core.media import iter_driving, load_image

    d = tmp_path_factory.mktemp("cli_face")
    face = load_image("samples/source_real.png")
    small = torch.nn.functional.interpolate(face[None], size=(160, 160), mode="bilinear", antialias=True)[0]
    rgb = torch.full((3, 237, 301), 0.5)
    rgb[:, 40:200, 90:250] = small
    alpha = torch.full((237, 301), 255, dtype=torch.uint8)
    alpha[:, :20] = 0
    alpha[200:, :] = 128
    src = d / "portrait.png"
    rgba = np.concatenate([(rgb.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8), alpha.numpy()[..., None]], 2)
    Image.fromarray(rgba, "RGBA").save(src)
    frames = d / "drive"
    frames.mkdir()
    clip = next(iter_driving("samples/driving.mp4", chunk_size=5, stop=5))
    clip = torch.nn.functional.interpolate(clip, size=(128, 128), mode="bilinear", antialias=True)
    for i, img in enumerate(clip):
        canvas = torch.full((3, 170, 200), 0.4)
        canvas[:, 20:148, 20 + 8 * i:148 + 8 * i] = img
        Image.fromarray((canvas.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)).save(frames / f"{i}.png")
    return {**files, "face_src": src, "rgb": rgb, "alpha": alpha, "face_frames": frames}


def crop_run(face_files, out, *extra, src=None, driving=None):
    return main(["indomain", "--source_path", str(src or face_files["face_src"]),
                 "--driving_path", str(driving or face_files["face_frames"]),
                 "--checkpoint", str(face_files["ckpt"]["in"]), "--output_dir", str(out), *extra])


def test_crop_auto_pastes_back_at_source_resolution_and_keeps_alpha(face_files, tmp_path):
    from toontalker_core.face import locate_face

    out = tmp_path / "pngs"
    assert crop_run(face_files, out, "--quiet") == 0   # --crop auto is the default
    pngs = sorted(out.glob("*.png"))
    assert len(pngs) == 5
    src = np.asarray(Image.open(face_files["face_src"]))
    x, y, s = locate_face(face_files["rgb"])[0].tolist()
    outside = np.ones(src.shape[:2], dtype=bool)
    outside[max(0, int(y)):int(np.ceil(y + s)), max(0, int(x)):int(np.ceil(x + s))] = False
    frames = [np.asarray(Image.open(p)) for p in pngs]
    for f in frames:
        assert f.shape == (237, 301, 4)                                # source size, RGBA
        assert np.array_equal(f[..., 3], src[..., 3])                   # alpha kept
        assert np.array_equal(f[outside, :3], src[outside, :3])         # only the face square changes
    inside = ~outside
    assert np.abs(frames[0][inside, :3].astype(int) - src[inside, :3]).max() > 10  # the face was re-rendered


def test_crop_auto_npy_tracked_fixed_and_alpha_note(face_files, tmp_path, capsys):
    out = tmp_path / "out.npy"
    assert crop_run(face_files, out, "--crop-mode", "fixed", "--feather", "0.2", "--color-match") == 0
    err = capsys.readouterr().err
    assert "alpha channel is dropped" in err and "source face crop" in err
    arr = np.load(out)
    assert arr.shape == (5, 237, 301, 3) and arr.dtype == np.float32
    out2 = tmp_path / "tracked.npy"
    assert crop_run(face_files, out2, "--quiet", "--smoothing", "0", "--crop-scale", "2.2", "--crop-offset", "0") == 0
    assert np.load(out2).shape == (5, 237, 301, 3)


def test_crop_auto_without_a_face_names_the_manual_box(face_files, tmp_path, capsys):
    out = tmp_path / "o.npy"
    # the tiny random source has no face
    assert crop_run(face_files, out, "--quiet", src=face_files["src"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no face found in the source image" in err[0] and "--source-box" in err[0]
    assert not out.exists()
    assert crop_run(face_files, out, "--quiet", "--source-box", "10", "-20", "80", src=face_files["src"]) == 0
    assert np.load(out).shape == (5, 96, 96, 3)   # box partly outside the image: padded, output at 96x96
    # a driving input without a face: clear error, and --driving-box as the way out
    out2 = tmp_path / "d.npy"
    assert crop_run(face_files, out2, "--quiet", driving=face_files["frames"]) == 2
    err = capsys.readouterr().err
    assert "no face found in driving frame 0" in err and "--driving-box" in err and not out2.exists()
    assert crop_run(face_files, out2, "--quiet", "--driving-box", "0", "0", "80", driving=face_files["frames"]) == 0
    assert np.load(out2).shape == (6, 237, 301, 3)


@pytest.mark.parametrize("extra, message", [
    (["--feather", "0.9"], "feather must be between 0 and 0.5"),
    (["--crop-scale", "0"], "crop scale must be a positive number"),
    (["--smoothing", "-1"], "smoothing strength must be >= 0"),
    (["--source-box", "500", "0", "10"], "lies outside the 301x237 image"),
    (["--track-hold", "-1"], "--track-hold (seconds a lost face is held) must be >= 0 and <= 10, got -1.0"),
])
def test_bad_crop_settings_fail_cleanly(face_files, tmp_path, capsys, extra, message):
    out = tmp_path / "o.mp4"
    assert crop_run(face_files, out, "--quiet", *extra) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not out.exists()


def test_track_hold_sets_how_long_a_lost_driving_face_is_held(face_files, tmp_path, capsys):
    frames = tmp_path / "gap"
    frames.mkdir()
    shots = sorted(face_files["face_frames"].glob("*.png"))
    blank = Image.new("RGB", Image.open(shots[0]).size, (102, 102, 102))
    for i, shot in enumerate([shots[0], shots[1], None, None, shots[2]]):         # the face gone for 2 frames
        (Image.open(shot) if shot else blank).save(frames / f"{i}.png")
    for hold, end in (("0.25", "; the predicted box was held"),
                      ("0", "; 1 gap outlasted the 0-frame hold and the track restarted on the next face found")):
        assert crop_run(face_files, tmp_path / f"{hold}.npy", "--track-hold", hold, driving=frames) == 0
        notes = [line for line in capsys.readouterr().err.splitlines() if line.startswith("note: no tracked face")]
        assert notes == [f"note: no tracked face in 2 of 5 frames of {frames} (1 gap, the longest 2 from frame 2)"
                         + end]


@pytest.fixture(scope="module")
def two_face_src(face_files):
    """Two copies of the real sample portrait side by side (source 0 from the left is the larger one)."""
    from toontalker_core.media import load_image

    real = load_image("samples/source_real.png")
    img = torch.full((3, 200, 400), 0.9)
    img[:, 10:190, 10:190] = torch.nn.functional.interpolate(real[None], size=(180, 180), mode="area")[0]
    img[:, 30:170, 240:380] = torch.nn.functional.interpolate(real[None], size=(140, 140), mode="area")[0]
    path = face_files["dir"] / "two.png"
    Image.fromarray((img.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)).save(path)
    return path


def test_crop_auto_reenacts_every_chosen_face_and_keeps_the_rest(face_files, two_face_src, tmp_path, capsys):
    from toontalker_core.face import locate_faces, parse_faces

    src = np.asarray(Image.open(two_face_src))
    out = tmp_path / "all"
    assert crop_run(face_files, out, "--faces", "all", "--face-domains", "real", src=two_face_src) == 0
    err = capsys.readouterr().err
    assert err.count("source face crop") == 2
    frames = [np.asarray(Image.open(p)) for p in sorted(out.glob("*.png"))]
    boxes, _ = locate_faces(torch.from_numpy(src).permute(2, 0, 1) / 255.0, parse_faces("all"))
    outside = np.ones(src.shape[:2], dtype=bool)
    for x, y, s in boxes.tolist():
        outside[max(0, int(y)):int(np.ceil(y + s)), max(0, int(x)):int(np.ceil(x + s))] = False
    for x, y, s in boxes.tolist():
        face = np.s_[int(y + s / 3):int(y + 2 * s / 3), int(x + s / 3):int(x + 2 * s / 3)]
        assert np.abs(frames[0][face].astype(int) - src[face]).max() > 10     # each face re-rendered
    assert all(np.array_equal(f[outside], src[outside]) for f in frames)      # nothing else changed
    # the default takes the largest face and says how to get the others, once
    assert crop_run(face_files, tmp_path / "one.npy", src=two_face_src) == 0
    err = capsys.readouterr().err
    assert err.count("found 2 faces in the source image") == 1 and "--faces all" in err


@pytest.mark.parametrize("extra, message", [
    (["--faces", "0,5"], "--faces 0,5: the source image .* has 2 faces"),
    (["--faces", "all", "--face-domains", "real,real,real"], "names 3 domains for 2 chosen faces"),
    (["--faces", "all", "--driving-face", "paired"], "--driving-face paired: driving frame 0 .* has 1 face for 2"),
    (["--driving-face", "sideways"], "--driving-face 'sideways' is not understood"),
])
def test_face_choices_fail_with_one_line(face_files, two_face_src, tmp_path, capsys, extra, message):
    import re

    out = tmp_path / "x.npy"
    assert crop_run(face_files, out, "--quiet", *extra, src=two_face_src) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and re.search(message, err[0]), err
    assert not out.exists()


@pytest.fixture(scope="module")
def mixed_src(face_files):
    """The real sample portrait on the left, the cartoon one on the right."""
    from toontalker_core.media import load_image

    img = torch.full((3, 200, 400), 0.9)
    for x, name in ((10, "real"), (210, "cartoon")):
        face = load_image(f"samples/source_{name}.png")
        img[:, 10:190, x:x + 180] = torch.nn.functional.interpolate(face[None], size=(180, 180), mode="area")[0]
    path = face_files["dir"] / "mixed.png"
    Image.fromarray((img.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)).save(path)
    return path


def test_face_domains_auto_picks_each_faces_domain_and_needs_a_model_that_serves_it(face_files, mixed_src,
                                                                                       tmp_path, capsys):
    def run(out, *extra, ckpt="cross"):
        return main(["crossdomain", "--type", "r2r", "--source_path", str(mixed_src), "--driving_path",
                     str(face_files["face_frames"]), "--checkpoint", str(face_files["ckpt"][ckpt]),
                     "--output_dir", str(out), "--faces", "all", *extra])

    assert run(tmp_path / "auto.npy", "--face-domains", "auto") == 0
    crops = [line for line in capsys.readouterr().err.splitlines() if "source face crop" in line]
    assert len(crops) == 2 and crops[0].endswith("(real; --face-domains auto, it looks like a real photo)")
    assert crops[1].endswith("(cartoon; --face-domains auto, it looks like a cartoon)")
    assert run(tmp_path / "byhand.npy", "--face-domains", "real,cartoon", "--quiet") == 0
    assert np.array_equal(np.load(tmp_path / "auto.npy"), np.load(tmp_path / "byhand.npy"))
    capsys.readouterr()
    assert run(tmp_path / "in.npy", "--face-domains", "real,auto", "--quiet", ckpt="in") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: --face-domains auto: face 1 from the left is cartoon (it looks like a cartoon), but source "
                   "domain 'cartoon': this in-domain checkpoint only serves real faces; a cartoon image needs a "
                   "cross-domain checkpoint (one holding both 'gen' and 'gen_real'); set its domain by hand in "
                   "--face-domains"]
    assert not (tmp_path / "in.npy").exists()
