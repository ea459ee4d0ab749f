"""Issue 13: no data loss, no tracebacks. Each case asserts that the user's data is intact and that the one-line
message names the problem. Tiny random checkpoint, whole-image path (--crop none), small generated media."""
from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from PIL import Image

from toontalker_core import stages as S
from toontalker_core.atomic import atomic_write, remove_stale_temps, temp_path
from toontalker_core.model.checkpoint import convert, load_model, read_states, save_safetensors
from toontalker_core.app.cli import main
from toontalker_core.errors import CheckpointError, InputError, MediaError
from toontalker_core.media import FrameWriter, iter_driving, probe_driving

from tiny import tiny_images, tiny_model

ROOT = Path(__file__).resolve().parent.parent


def _png(path: Path, img: torch.Tensor) -> Path:
    Image.fromarray((img.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)).save(path)
    return path


def _tone(seconds: float, rate: int = 16000) -> tuple[np.ndarray, int]:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), rate


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("safety")
    ckpt = save_safetensors(tiny_model(False), d / "in.safetensors")
    src = _png(d / "source.png", tiny_images(1, seed=5, size=96)[0])
    frames = d / "frames"
    frames.mkdir()
    for i, img in enumerate(tiny_images(4, seed=6, size=64)):
        _png(frames / f"{i:06d}.png", img)
    video = d / "drive.mp4"
    with FrameWriter(video, fps=10, audio_array=_tone(0.4)) as w:
        w.write(tiny_images(4, seed=6, size=64))
    return {"ckpt": ckpt, "src": src, "frames": frames, "video": video, "dir": d}


def cli(files, driving, out, *extra, ckpt=None):
    return main(["indomain", "--source_path", str(files["src"]), "--driving_path", str(driving),
                 "--output_dir", str(out), "--checkpoint", str(ckpt or files["ckpt"]), "--quiet", "--crop", "none",
                 *extra])


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    assert "Traceback" not in err[0]
    return err[0]


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if "toontalker-tmp" in p.name or "toontalker-probe" in p.name)


# ------------------------------------------------------------------------------------------- output safety

@pytest.mark.parametrize("name", ["notes", "report.txt"])
def test_existing_user_file_is_never_replaced(files, tmp_path, capsys, name):
    out = tmp_path / name
    out.write_text("user notes")
    assert cli(files, files["frames"], out) == 2
    msg = one_error_line(capsys)
    assert str(out) in msg and "already exists and is a file" in msg and "refusing to replace" in msg
    assert out.read_text() == "user notes"
    assert leftovers(tmp_path) == []


def test_fifo_and_device_are_refused(files, tmp_path, capsys):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert cli(files, files["frames"], fifo) == 2
    assert "is a FIFO" in one_error_line(capsys)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    device = tmp_path / "null"
    try:
        os.mknod(device, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except (PermissionError, AttributeError):
        pytest.skip("creating a device node needs root")
    assert cli(files, files["frames"], device) == 2
    assert "is a device" in one_error_line(capsys)
    assert stat.S_ISCHR(os.stat(device).st_mode)


def test_output_onto_an_input_is_refused(files, tmp_path, capsys):
    video = tmp_path / "drive.mp4"
    video.write_bytes(files["video"].read_bytes())
    before = video.read_bytes()
    link = tmp_path / "link.mp4"
    link.symlink_to(video)
    hard = tmp_path / "hard.mp4"
    os.link(video, hard)
    for out in (video, link, hard):
        assert cli(files, video, out) == 2
        msg = one_error_line(capsys)
        assert f"output {out} is the input {video}" in msg
    assert video.read_bytes() == before

    frames = tmp_path / "frames"  # a driving folder of 000000.png ... frames as the output
    frames.mkdir()
    for f in files["frames"].iterdir():
        (frames / f.name).write_bytes(f.read_bytes())
    names = sorted(os.listdir(frames))
    assert cli(files, frames, frames) == 2
    assert "is the input" in one_error_line(capsys)
    assert cli(files, frames / "000002.png", frames) == 2  # an input inside the output folder
    assert "contains the input" in one_error_line(capsys)
    assert sorted(os.listdir(frames)) == names
    assert leftovers(tmp_path) == []


def test_only_our_outputs_are_replaced(files, tmp_path, capsys):
    pngs = tmp_path / "pngs"
    pngs.mkdir()  # an empty folder may be filled
    assert cli(files, files["frames"], pngs) == 0
    assert (pngs / ".toontalker").is_file() and len(list(pngs.glob("*.png"))) == 4
    assert cli(files, files["frames"] / "000000.png", pngs) == 0  # our own folder: replaced
    assert len(list(pngs.glob("*.png"))) == 1
    (pngs / "keep.txt").write_text("added by the user")
    assert cli(files, files["frames"], pngs) == 2
    assert "keep.txt" in one_error_line(capsys)
    assert (pngs / "keep.txt").read_text() == "added by the user"

    video = tmp_path / "old.mp4"
    assert cli(files, files["frames"] / "000000.png", video) == 0
    assert cli(files, files["frames"], video) == 0  # a video replaces a video the user named
    assert probe_driving(video).num_frames == 4
    thesis = tmp_path / "thesis.mp4"  # only the name is a video's: the header decides (issue 22)
    thesis.write_text("chapter 1 ...")
    assert cli(files, files["frames"], thesis) == 2
    assert "does not hold a video; refusing to replace it" in one_error_line(capsys)
    assert thesis.read_text() == "chapter 1 ..."
    array = tmp_path / "notes.npy"
    array.write_text("not an array")
    assert cli(files, files["frames"], array) == 2
    assert "does not hold a .npy array" in one_error_line(capsys) and array.read_text() == "not an array"
    folder = tmp_path / "results.mp4"  # a user's folder, even one named like a video
    folder.mkdir()
    (folder / "a.txt").write_text("user data")
    assert cli(files, files["frames"], folder) == 2
    assert "not written by ToonTalker" in one_error_line(capsys)
    assert (folder / "a.txt").read_text() == "user data" and os.listdir(folder) == ["a.txt"]


def test_unwritable_output_fails_before_rendering(files, tmp_path, capsys):
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    # A checkpoint that does not exist: the output error must come first, i.e. before any model load.
    missing = tmp_path / "missing.safetensors"
    assert cli(files, files["frames"], blocker / "out.mp4", ckpt=missing) == 2
    msg = one_error_line(capsys)
    assert f"{blocker} is a file, not a folder" in msg
    assert blocker.read_text() == "x"
    if os.geteuid() != 0:  # root writes anywhere
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o555)
        try:
            assert cli(files, files["frames"], ro / "out.mp4", ckpt=missing) == 2
            assert "is not writable" in one_error_line(capsys)
        finally:
            ro.chmod(0o755)


def test_write_failure_is_one_line_above_the_progress_bar(files, tmp_path, capsys, monkeypatch):
    def fail(self, frames):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("toontalker_core.media.sinks.NpySink.write", fail)
    out = tmp_path / "out.npy"
    args = ["indomain", "--source_path", str(files["src"]), "--driving_path", str(files["frames"]),
            "--output_dir", str(out), "--checkpoint", str(files["ckpt"]), "--crop", "none", "--batch-size", "2"]
    assert main(args) == 2
    err = capsys.readouterr().err
    lines = err.replace("\r", "\n").splitlines()
    assert f"error: could not write {out}: No space left on device" in lines  # a line of its own
    assert "Traceback" not in err and not out.exists() and leftovers(tmp_path) == []


# ------------------------------------------------------------------------------------------- interrupts

def _start(files, out: Path, driving: Path) -> subprocess.Popen:
    # extend the environment's own path entries (a staged or site-customised interpreter needs them)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (str(ROOT), os.environ.get("PYTHONPATH"))))}
    args = [sys.executable, "-m", "toontalker_core", "indomain", "--source_path", str(files["src"]),
            "--driving_path", str(driving), "--output_dir", str(out), "--checkpoint", str(files["ckpt"]),
            "--crop", "none", "--quiet", "--batch-size", "1", "--precision", "fp32"]
    return subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_temp(proc: subprocess.Popen, folder: Path, timeout: float = 240) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if any("toontalker-tmp" in p.name for p in folder.iterdir()):
            return
        if proc.poll() is not None:
            pytest.fail(f"the run ended before it was interrupted: {proc.communicate()}")
        time.sleep(0.05)
    proc.kill()
    pytest.fail("no temp output appeared")


@pytest.fixture(scope="module")
def long_driving(files):
    path = files["dir"] / "long.npy"
    np.save(path, tiny_images(400, seed=3).permute(0, 2, 3, 1).numpy())
    return path


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGHUP"])
def test_sigterm_and_sighup_clean_up_like_ctrl_c(files, tmp_path, long_driving, sig):
    out = tmp_path / "out.mp4"
    previous = b"\x00\x00\x00\x18ftypisom" + b"the previous result"  # an MP4's header: ours to replace
    out.write_bytes(previous)
    proc = _start(files, out, long_driving)
    _wait_for_temp(proc, tmp_path)
    proc.send_signal(getattr(signal, sig))
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + getattr(signal, sig)
    assert f"interrupted ({sig}): no output written" in err and "Traceback" not in err
    assert out.read_bytes() == previous
    assert sorted(os.listdir(tmp_path)) == ["out.mp4"]


def test_leftovers_of_a_killed_run_are_removed_by_the_next(files, tmp_path, long_driving):
    out = tmp_path / "pngs"
    proc = _start(files, out, long_driving)
    _wait_for_temp(proc, tmp_path)
    proc.kill()
    proc.wait(timeout=30)
    assert leftovers(tmp_path)  # SIGKILL cannot be handled: the temp folder stays ...
    assert cli(files, files["frames"], out) == 0  # ... until the next run for the same output
    assert leftovers(tmp_path) == [] and len(list(out.glob("*.png"))) == 4


def test_stale_temp_detection_spares_live_runs_and_other_targets(tmp_path):
    out = tmp_path / "x.mp4"
    mine = temp_path(out)  # this process is alive
    mine.write_bytes(b"in progress")
    dead = Path(str(temp_path(out)).replace(f"-{os.getpid()}-", "-999999999-"))
    dead.write_bytes(b"left by a killed run")
    other = temp_path(tmp_path / "y.mp4").with_name(dead.name.replace("x.mp4", "y.mp4"))
    other.write_bytes(b"another output's temp")
    assert remove_stale_temps(out) == [dead]
    assert mine.exists() and other.exists() and not dead.exists()


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    out = tmp_path / "ckpt.pt"
    out.write_bytes(b"last good checkpoint")
    with pytest.raises(RuntimeError):
        with atomic_write(out) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("disk full")
    assert out.read_bytes() == b"last good checkpoint" and os.listdir(tmp_path) == ["ckpt.pt"]


def test_trainer_save_leaves_no_partial_file(tmp_path, monkeypatch):
    from toontalker_train import trainer

    def broken_save(obj, f):
        Path(f).write_bytes(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(trainer.torch, "save", broken_save)
    with pytest.raises(OSError):
        trainer._atomic_save({"a": 1}, tmp_path / "ckpt_latest.pt")
    assert os.listdir(tmp_path) == []


# ------------------------------------------------------------------------------------------- input integrity

@pytest.fixture(scope="module")
def truncated(files):
    """A 30-frame MP4 with its index at the front (faststart) and audio, cut to 40 % of its bytes."""
    full = files["dir"] / "full.mp4"
    with FrameWriter(full, fps=10, audio_array=_tone(3.0)) as w:
        w.write(tiny_images(30, seed=8, size=64))
    cut = files["dir"] / "cut.mp4"
    data = full.read_bytes()
    cut.write_bytes(data[: int(len(data) * 0.4)])
    return cut


def test_truncated_video_is_an_error_naming_both_counts(files, tmp_path, capsys, truncated):
    out = tmp_path / "out.mp4"
    assert cli(files, truncated, out) == 2
    msg = one_error_line(capsys)
    assert f"{truncated} is truncated:" in msg and "of its 30 declared frames" in msg and "--allow-truncated" in msg
    assert cli(files, truncated, out, "--reference-frame", "25") == 2  # no self-contradicting range message
    assert "is truncated" in one_error_line(capsys)
    assert not out.exists()
    with pytest.raises(MediaError, match="is truncated"):
        list(iter_driving(truncated))

    assert cli(files, truncated, out, "--allow-truncated") == 0
    got = probe_driving(out)
    present = probe_driving(truncated, allow_truncated=True).num_frames
    # frame-threaded decoding may drop the frames next to the cut: at most the packets present are used
    assert 0 < got.num_frames <= present < 30 and got.has_audio


def test_variable_frame_rate_keeps_audio_in_sync(files, tmp_path):
    vfr = tmp_path / "vfr.mkv"
    times_ms = np.cumsum([0] + [20 if i % 3 else 100 for i in range(23)])  # 24 frames, 20..100 ms apart
    container = av.open(str(vfr), "w")
    stream = container.add_stream("libx264", rate=25)
    stream.width = stream.height = 64
    stream.pix_fmt = "yuv420p"
    stream.codec_context.time_base = Fraction(1, 1000)
    for t, img in zip(times_ms, tiny_images(24, seed=9)):
        frame = av.VideoFrame.from_ndarray((img.permute(1, 2, 0).numpy() * 255).astype(np.uint8), format="rgb24")
        frame.pts, frame.time_base = int(t), Fraction(1, 1000)
        container.mux(stream.encode(frame))
    container.mux(stream.encode(None))
    container.close()
    info = probe_driving(vfr)
    assert info.timestamps is not None and info.num_frames == 24
    assert abs(info.timestamps[-1] - times_ms[-1] / 1000) < 1e-3

    audio = tmp_path / "with_audio.mp4"  # the same timing, plus audio as long as the clip
    seconds = (times_ms[-1] + 100) / 1000
    with FrameWriter(audio, fps=25, audio_array=_tone(seconds), timestamps=info.timestamps) as w:
        w.write(tiny_images(24, seed=9))
    out = tmp_path / "out.mp4"
    assert cli(files, audio, out) == 0
    with av.open(str(out)) as c:
        v, a = c.streams.video[0], c.streams.audio[0]
        pts = [float(f.time) for f in c.decode(v)]
        audio_s = float(a.duration * a.time_base)
    assert len(pts) == 24
    np.testing.assert_allclose(np.array(pts) - pts[0], info.timestamps, atol=2e-3)  # the input's timing
    video_s = info.timestamps[-1] + (info.timestamps[-1] - info.timestamps[-2])  # the last frame lasts like the one before
    assert abs(audio_s - video_s) < 0.03 and audio_s > 24 / 25 + 0.1  # not cut to 24 frames at a constant 25 fps


def test_npy_out_of_range_or_non_finite_is_an_error(files, tmp_path, capsys):
    frames = tiny_images(3, seed=1).permute(0, 2, 3, 1).numpy()
    cases = {"x255.npy": (frames * 255, "float values in [", "divide by 255"),
             "pm1.npy": (frames * 2 - 1, "float values in [-", "(x + 1) / 2")}
    bad = frames.copy()
    bad[2, 1, 1, 0] = np.nan
    cases["nan.npy"] = (bad, "frame 2 holds NaN or Inf", "nan_to_num")
    for name, (arr, what, hint) in cases.items():
        path = tmp_path / name
        np.save(path, arr)
        out = tmp_path / f"out_{name}"
        assert cli(files, path, out) == 2
        msg = one_error_line(capsys)
        assert str(path) in msg and what in msg and hint in msg
        assert not out.exists()
        np.testing.assert_array_equal(np.load(path), arr)
    ok = tmp_path / "ok.npy"
    np.save(ok, frames)
    assert probe_driving(ok).num_frames == 3


def test_library_range_check_and_numpy_input():
    model = tiny_model(False)
    x = tiny_images(2, seed=2)
    ref = S.to_model_range(x, model)
    assert torch.equal(S.to_model_range(x.numpy(), model), ref)  # numpy is accepted
    ringing = S.to_model_range(x * 1.06 - 0.03, model)  # an upscaler's few-% overshoot is clamped, not refused
    assert float(ringing.min()) >= -1 and float(ringing.max()) <= 1
    for bad, message in [((x * 255).to(torch.uint8), "uint8.*divide by 255"),
                         (x * 255, r"span \[.*\]; expected \[0,1\] \(0\.\.255 values: divide by 255"),
                         (x * 2 - 1, r"\(x \+ 1\) / 2"),
                         (x.masked_fill(x > 0.9, float("nan")), "NaN or Inf")]:
        with pytest.raises(InputError, match=message):
            S.to_model_range(bad, model)
    with pytest.raises(InputError, match="tensor or numpy"):
        S.to_model_range(x.tolist(), model)


# ------------------------------------------------------------------------------------------- weights

@pytest.fixture(scope="module")
def nan_ckpt(files):
    states = {"gen": tiny_model(False).gen.state_dict()}
    key = next(k for k, v in states["gen"].items() if v.is_floating_point())
    states["gen"][key] = torch.full_like(states["gen"][key], float("nan"))
    path = files["dir"] / "nan.safetensors"
    save_safetensors(states, path)
    return path, f"gen.{key}"


def test_non_finite_weights_are_refused(files, tmp_path, capsys, nan_ckpt):
    path, first_bad = nan_ckpt
    with pytest.raises(CheckpointError, match=f"tensor '{first_bad}' holds .* NaN/Inf"):
        load_model(path)
    out = tmp_path / "out.mp4"
    assert cli(files, files["frames"], out, ckpt=path) == 2
    assert first_bad in one_error_line(capsys) and not out.exists()
    dst = tmp_path / "conv.safetensors"
    assert main(["convert", str(path), str(dst)]) == 2
    assert first_bad in one_error_line(capsys) and not dst.exists()


def test_convert_keeps_dtype_and_refuses_to_overwrite(files, tmp_path, capsys):
    half = {"gen": {k: v.half() for k, v in tiny_model(False).gen.state_dict().items()}}
    src = save_safetensors(half, tmp_path / "half.safetensors")
    pth = convert(src, tmp_path / "half.pth")
    back = convert(pth, tmp_path / "back.safetensors")
    for path in (pth, back):
        assert all(v.dtype == torch.float16 for v in read_states(path)["states"]["gen"].values())
    assert abs(back.stat().st_size - src.stat().st_size) < 4096  # not doubled to fp32

    keep = tmp_path / "keep.safetensors"
    keep.write_bytes(b"the user's file")
    for extra in ([], ["--overwrite"]):  # not a checkpoint: never replaced (issue 22), --overwrite or not
        assert main(["convert", str(src), str(keep), *extra]) == 2
        assert "does not hold a checkpoint; refusing to replace it" in one_error_line(capsys)
        assert keep.read_bytes() == b"the user's file"
    keep.write_bytes(back.read_bytes())  # a checkpoint: replaced only with --overwrite
    assert main(["convert", str(src), str(keep)]) == 2
    assert "already exists; pass --overwrite" in one_error_line(capsys)
    assert main(["convert", str(src), str(src), "--overwrite"]) == 2
    assert "is the input checkpoint itself" in one_error_line(capsys)
    assert main(["convert", str(src), str(keep), "--overwrite"]) == 0
    assert capsys.readouterr().err.strip() == f"wrote {keep}"
    assert read_states(keep)["states"]["gen"].keys() == half["gen"].keys()
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    assert main(["convert", str(src), str(blocker / "x.safetensors")]) == 2
    assert "is a file, not a folder" in one_error_line(capsys)
    assert leftovers(tmp_path) == []


def test_pickled_module_refusal_is_a_whole_sentence(tmp_path, capsys):
    path = tmp_path / "module.pth"
    torch.save(torch.nn.Sequential(torch.nn.Linear(2, 2)), path)
    assert main(["convert", str(path), str(tmp_path / "m.safetensors")]) == 2
    msg = one_error_line(capsys)
    assert "could run code (a pickled torch.nn.modules.container.Sequential)" in msg
    assert msg.endswith("re-save the state dicts from a trusted environment.")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_missing_cuda_is_a_clear_error(files):
    with pytest.raises(InputError, match="CUDA is not available"):
        load_model(files["ckpt"], device="cuda")


# ------------------------------------------------------------------------------------------- writer API

def test_frame_writer_alpha_option(tmp_path):
    frames = tiny_images(2, seed=4)
    alpha = torch.linspace(0, 1, 64).expand(64, 64)
    with FrameWriter(tmp_path / "rgba", alpha=alpha) as w:
        assert w.keeps_alpha and w.mode == "folder"
        w.write(frames)
    im = np.asarray(Image.open(tmp_path / "rgba" / "000001.png"))
    assert im.shape == (64, 64, 4)
    np.testing.assert_array_equal(im[..., 3], np.rint(alpha.numpy() * 255).astype(np.uint8))
    assert not FrameWriter(tmp_path / "x.mp4", alpha=alpha).keeps_alpha


@pytest.mark.parametrize("ext", [".mkv", ".mp4"])
def test_a_cut_file_of_any_container_is_found_and_allow_truncated_keeps_its_audio(files, tmp_path, capsys, ext):
    """Issue 22: a .mkv cut in half was accepted without a word; --allow-truncated with audio rendered the
    frames, then failed on the audio and wrote nothing; the count in the message was of packets."""
    full = tmp_path / f"full{ext}"
    with FrameWriter(full, fps=10, audio_array=_tone(3.0)) as w:
        w.write(tiny_images(30, seed=8, size=64))
    cut = tmp_path / f"cut{ext}"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    out = tmp_path / "out.mp4"
    assert cli(files, cut, out) == 2
    msg = one_error_line(capsys)
    decodable = sum(len(c) for c in iter_driving(cut, allow_truncated=True))
    assert f"{cut} is truncated" in msg and f"{decodable} " in msg and "--allow-truncated" in msg
    assert ("of the" in msg and "bytes its header declares" in msg) if ext == ".mkv" else "of its 30 declared" in msg
    assert not out.exists()
    assert cli(files, cut, out, "--allow-truncated") == 0
    got = probe_driving(out)
    assert got.num_frames == decodable < 30 and got.has_audio
