"""Media I/O: reading source/driving inputs, writing results atomically. All test data is made in tmp_path."""
from __future__ import annotations

import os
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from PIL import Image

from toontalker_core.media import (
    DrivingInfo,
    FrameWriter,
    MediaError,
    iter_driving,
    load_image,
    probe_driving,
    read_frame,
    resize_to,
)

QUANT = 0.5 / 255 + 1e-6  # max error from round(x*255)


def smooth_frames(n: int, h: int = 48, w: int = 64) -> np.ndarray:
    """Smooth moving gradients (codec-friendly, distinct per frame) as float32 [n,H,W,3]."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    frames = []
    for i in range(n):
        r = 0.5 + 0.4 * np.sin(xx / w * 2 * np.pi + i * 0.4)
        g = 0.2 + 0.6 * yy / h
        b = np.full_like(xx, 0.1 + 0.8 * i / max(n - 1, 1))
        frames.append(np.stack([r, g, b], axis=-1))
    return np.stack(frames).astype(np.float32)


def tone(seconds: float, rate: int = 16000, hz: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def collect(path, **kw) -> torch.Tensor:
    return torch.cat(list(iter_driving(path, **kw)))


def nchw(frames: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(frames).permute(0, 3, 1, 2)


def decoded_audio_seconds(path: Path) -> float:
    with av.open(str(path)) as c:
        stream = c.streams.audio[0]
        return sum(f.samples for f in c.decode(stream)) / stream.codec_context.sample_rate


def save_png(path: Path, value, size=(40, 36), mode="RGB") -> None:
    Image.new(mode, size, value).save(path)


# ------------------------------------------------------------------------------------------- round trips

def test_png_folder_round_trip(tmp_path):
    frames = smooth_frames(7)
    out = tmp_path / "frames"
    with FrameWriter(out) as w:
        w.write(frames[:3])
        w.write(nchw(frames[3:]))  # torch NCHW is accepted too
        assert w.count == 7
    assert sorted(os.listdir(out)) == [".toontalker"] + [f"{i:06d}.png" for i in range(7)]  # frames + our mark
    info = probe_driving(out)
    assert info == DrivingInfo(path=out, kind="folder", fps=25.0, num_frames=7, width=64, height=48,
                               has_audio=False)
    chunks = list(iter_driving(out, chunk_size=3))
    assert [c.shape[0] for c in chunks] == [3, 3, 1]
    got = torch.cat(chunks)
    assert got.dtype == torch.float32 and got.shape == (7, 3, 48, 64)
    assert (got - nchw(frames)).abs().max() <= QUANT


def test_npy_round_trip_is_exact(tmp_path):
    frames = smooth_frames(5, 20, 30)
    out = tmp_path / "sub" / "out.npy"  # missing parent is created
    with FrameWriter(out) as w:
        w.write(frames[:2])
        w.write(torch.from_numpy(frames[2:]))
    arr = np.load(out)
    assert arr.dtype == np.float32 and arr.shape == (5, 20, 30, 3)
    np.testing.assert_array_equal(arr, frames)
    info = probe_driving(out)
    assert (info.kind, info.num_frames, info.width, info.height) == ("array", 5, 30, 20)
    np.testing.assert_array_equal(collect(out, chunk_size=2).numpy(), nchw(frames).numpy())


def test_npy_clamps_and_accepts_uint8(tmp_path):
    out = tmp_path / "c.npy"
    with FrameWriter(out) as w:
        w.write(np.array([[[[-0.5, 0.25, 2.0]]]], np.float32).repeat(4, 1).repeat(4, 2))
        w.write(np.full((1, 4, 4, 3), 255, np.uint8))
    arr = np.load(out)
    np.testing.assert_allclose(arr[0, 0, 0], [0.0, 0.25, 1.0])
    np.testing.assert_allclose(arr[1], 1.0)


@pytest.mark.parametrize("ext", [".mp4", ".mov", ".mkv"])
def test_video_round_trip(tmp_path, ext):
    frames = smooth_frames(12)
    out = tmp_path / f"clip{ext}"
    with FrameWriter(out, fps=30.0) as w:
        w.write(nchw(frames))
    info = probe_driving(out)
    assert (info.kind, info.num_frames, info.width, info.height) == ("video", 12, 64, 48)
    assert info.fps == pytest.approx(30.0, rel=1e-3)
    assert info.has_audio is False
    chunks = list(iter_driving(out, chunk_size=5))
    assert [c.shape[0] for c in chunks] == [5, 5, 2]
    err = (torch.cat(chunks) - nchw(frames)).abs()
    assert err.mean() < 0.02, f"mean abs error {err.mean():.4f}"
    assert err.max() < 0.2


def test_video_ntsc_rate_and_odd_size(tmp_path):
    frames = smooth_frames(6, 31, 45)
    out = tmp_path / "odd.mp4"
    with FrameWriter(out, fps=30000 / 1001) as w:
        w.write(frames)
    info = probe_driving(out)
    assert info.fps == pytest.approx(29.97, abs=0.01)
    assert (info.width, info.height) == (46, 32)  # padded to even by one replicated edge pixel
    got = collect(out)
    assert (got[:, :, :31, :45] - nchw(frames)).abs().mean() < 0.02
    assert (got[:, :, :31, 45] - got[:, :, :31, 44]).abs().mean() < 0.03


def test_start_stop_and_read_frame(tmp_path):
    frames = smooth_frames(9, 16, 16)
    out = tmp_path / "f"
    with FrameWriter(out) as w:
        w.write(frames)
    np.testing.assert_allclose(collect(out, start=2, stop=6).numpy(), nchw(frames[2:6]).numpy(), atol=QUANT)
    assert collect(out, start=7, stop=100).shape[0] == 2
    np.testing.assert_allclose(read_frame(out, 4).numpy(), nchw(frames)[4].numpy(), atol=QUANT)
    np.testing.assert_allclose(read_frame(out, -1).numpy(), nchw(frames)[8].numpy(), atol=QUANT)
    with pytest.raises(MediaError, match=r"frame index 9 is out of range.*9 frame.*0\.\.8"):
        read_frame(out, 9)


def test_read_frame_from_video(tmp_path):
    frames = smooth_frames(8)
    out = tmp_path / "v.mp4"
    with FrameWriter(out) as w:
        w.write(frames)
    assert (read_frame(out, 5) - nchw(frames)[5]).abs().mean() < 0.02
    with pytest.raises(MediaError, match=r"out of range.*0\.\.7"):
        read_frame(out, 8)


def test_single_image_and_gif_as_driving(tmp_path):
    img = tmp_path / "still.png"
    save_png(img, (10, 200, 30))
    info = probe_driving(img)
    assert (info.kind, info.num_frames, info.width, info.height) == ("image", 1, 40, 36)
    assert collect(img).shape == (1, 3, 36, 40)

    gif = tmp_path / "anim.gif"
    ims = [Image.new("RGB", (50, 40), (i * 30, 0, 0)) for i in range(7)]
    ims[0].save(gif, save_all=True, append_images=ims[1:], duration=100, loop=0)
    info = probe_driving(gif)
    assert (info.kind, info.num_frames, info.width, info.height, info.fps) == ("animated", 7, 50, 40, 10.0)
    assert collect(gif).shape == (7, 3, 40, 50)


# ------------------------------------------------------------------------------------------- folders

def test_folder_natural_order_ignores_other_files(tmp_path):
    for number in (10, 2, 1, 33, 3):
        save_png(tmp_path / f"frame{number}.png", (number, number, number))
    (tmp_path / "notes.txt").write_text("not a frame")
    (tmp_path / "._frame5.png").write_bytes(b"macOS resource fork, not an image")
    assert probe_driving(tmp_path).num_frames == 5
    got = collect(tmp_path)[:, 0, 0, 0] * 255
    np.testing.assert_allclose(got.numpy(), [1, 2, 3, 10, 33], atol=1e-3)


def test_folder_without_images(tmp_path):
    (tmp_path / "readme.txt").write_text("x")
    with pytest.raises(MediaError, match="contains no images") as e:
        probe_driving(tmp_path)
    assert str(tmp_path) in str(e.value)
    with pytest.raises(MediaError, match="contains no images"):
        next(iter_driving(tmp_path))


def test_folder_with_mixed_sizes(tmp_path):
    save_png(tmp_path / "a1.png", 0, size=(40, 36))
    save_png(tmp_path / "a2.png", 0, size=(40, 36))
    save_png(tmp_path / "a3.png", 0, size=(41, 36))
    with pytest.raises(MediaError, match=r"a3\.png is 41x36 px.*one size"):
        probe_driving(tmp_path)
    with pytest.raises(MediaError, match="one size"):
        collect(tmp_path)


# ------------------------------------------------------------------------------------------- still images

def test_load_rgb_exact(tmp_path):
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    Image.fromarray(arr).save(tmp_path / "x.png")
    img = load_image(tmp_path / "x.png")
    assert img.dtype == torch.float32 and img.shape == (3, 40, 50)
    np.testing.assert_allclose(img.permute(1, 2, 0).numpy(), arr / 255.0, atol=1e-6)


def test_load_grayscale_rgba_palette(tmp_path):
    save_png(tmp_path / "l.png", 100, mode="L")
    np.testing.assert_allclose(load_image(tmp_path / "l.png").numpy(), 100 / 255, atol=1e-6)

    save_png(tmp_path / "la.png", (77, 10), mode="LA")
    np.testing.assert_allclose(load_image(tmp_path / "la.png").numpy(), 77 / 255, atol=1e-6)

    save_png(tmp_path / "rgba.png", (10, 20, 30, 0), mode="RGBA")  # fully transparent: colour kept
    img = load_image(tmp_path / "rgba.png")
    assert img.shape[0] == 3
    np.testing.assert_allclose(img[:, 0, 0].numpy(), np.array([10, 20, 30]) / 255, atol=1e-6)

    pal = Image.new("P", (40, 36), 1)
    pal.putpalette([0, 0, 0, 200, 100, 50] + [0] * 762)
    pal.save(tmp_path / "p.png")
    np.testing.assert_allclose(load_image(tmp_path / "p.png")[:, 5, 5].numpy(),
                               np.array([200, 100, 50]) / 255, atol=1e-6)

    Image.new("1", (40, 36), 1).save(tmp_path / "bw.png")
    np.testing.assert_allclose(load_image(tmp_path / "bw.png").numpy(), 1.0)


def test_load_16bit_keeps_range(tmp_path):
    arr = np.full((36, 40), 40000, np.uint16)
    arr[0, 0] = 65535
    im = Image.fromarray(arr)
    assert im.mode == "I;16"
    im.save(tmp_path / "deep.png")
    img = load_image(tmp_path / "deep.png")
    assert img.shape == (3, 36, 40)
    np.testing.assert_allclose(img[:, 5, 5].numpy(), 40000 / 65535, atol=1e-6)  # not clipped to 255
    np.testing.assert_allclose(img[:, 0, 0].numpy(), 1.0, atol=1e-6)


def test_load_applies_exif_orientation(tmp_path):
    arr = np.zeros((36, 48, 3), np.uint8)
    arr[:6, :6] = 255  # marker in the stored top-left corner
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    Image.fromarray(arr).save(tmp_path / "rot.jpg", exif=exif, quality=95)
    img = load_image(tmp_path / "rot.jpg")
    assert img.shape == (3, 48, 36)
    assert img[:, :6, -6:].mean() > 0.8  # marker moved to the top-right
    info = probe_driving(tmp_path / "rot.jpg")
    assert (info.width, info.height) == (36, 48)


def test_tiny_image_error(tmp_path):
    save_png(tmp_path / "tiny.png", 0, size=(12, 10))
    with pytest.raises(MediaError, match=r"tiny\.png is 12x10 px; ToonTalker needs at least 32 px"):
        load_image(tmp_path / "tiny.png")
    assert load_image(tmp_path / "tiny.png", min_size=8).shape == (3, 10, 12)


def test_missing_and_corrupt_image(tmp_path):
    with pytest.raises(MediaError, match=r"not found: .*nope\.png"):
        load_image(tmp_path / "nope.png")
    with pytest.raises(MediaError, match=r"not found: .*nope\.mp4"):
        probe_driving(tmp_path / "nope.mp4")
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(MediaError, match=r"could not read image .*bad\.png"):
        load_image(tmp_path / "bad.png")


# ------------------------------------------------------------------------------------------- bad videos

def test_corrupt_video_error(tmp_path):
    bad = tmp_path / "random.mp4"
    bad.write_bytes(np.random.default_rng(1).bytes(20000))
    with pytest.raises(MediaError, match=r"random\.mp4 could not be decoded as video: \S"):
        probe_driving(bad)
    with pytest.raises(MediaError, match="could not be decoded as video"):
        next(iter_driving(bad))


def test_zero_frame_video_error(tmp_path):
    empty = tmp_path / "empty.avi"
    with av.open(str(empty), "w") as c:
        s = c.add_stream("mpeg4", rate=25)
        s.width, s.height, s.pix_fmt = 64, 64, "yuv420p"
        c.start_encoding()
        c.mux(s.encode(None))
    with pytest.raises(MediaError, match=r"empty\.avi has no video frames"):
        probe_driving(empty)


def test_audio_only_file_error(tmp_path):
    with FrameWriter(tmp_path / "v.mp4", audio_array=(tone(0.5), 16000)) as w:
        w.write(smooth_frames(5))
    audio_only = tmp_path / "a.m4a"
    with av.open(str(tmp_path / "v.mp4")) as src, av.open(str(audio_only), "w", format="mp4") as dst:
        out_stream = dst.add_stream_from_template(src.streams.audio[0])
        for packet in src.demux(src.streams.audio[0]):
            if packet.dts is not None:
                packet.stream = out_stream
                dst.mux(packet)
    with pytest.raises(MediaError, match="no video stream"):
        probe_driving(audio_only)


# ------------------------------------------------------------------------------------------- audio

def test_audio_copied_and_trimmed(tmp_path):
    src = tmp_path / "with_audio.mp4"
    with FrameWriter(src, fps=25, audio_array=(tone(2.0), 16000)) as w:
        w.write(smooth_frames(25))  # 1 s of video, 2 s of audio offered
    assert probe_driving(src).has_audio
    assert decoded_audio_seconds(src) == pytest.approx(1.0, abs=0.07)

    out = tmp_path / "result.mp4"
    with FrameWriter(out, fps=25, audio_from=src) as w:
        for chunk in iter_driving(src, chunk_size=4, stop=15):
            w.write(chunk)
    assert probe_driving(out).has_audio
    with av.open(str(out)) as c:
        assert c.streams.audio[0].codec_context.name == "aac"
        samples = np.concatenate([f.to_ndarray().ravel() for f in c.decode(c.streams.audio[0])])
    assert np.sqrt(np.mean(samples ** 2)) > 0.1  # the tone, not silence
    assert decoded_audio_seconds(out) == pytest.approx(15 / 25, abs=0.07)  # trimmed to the video


def test_audio_from_without_audio_is_skipped(tmp_path):
    silent = tmp_path / "silent.mp4"
    with FrameWriter(silent) as w:
        w.write(smooth_frames(4))
    still = tmp_path / "still.png"
    save_png(still, 0)
    for source in (silent, still, tmp_path):
        out = tmp_path / "o.mp4"
        with FrameWriter(out, audio_from=source) as w:
            w.write(smooth_frames(4))
        assert probe_driving(out).has_audio is False
    with pytest.raises(MediaError, match="audio source not found"):
        FrameWriter(tmp_path / "x.mp4", audio_from=tmp_path / "missing.wav")


# ------------------------------------------------------------------------------------------- atomicity

class Boom(RuntimeError):
    pass


@pytest.mark.parametrize("name", ["out.mp4", "out.npy", "out"])
def test_failed_write_leaves_nothing(tmp_path, name):
    out = tmp_path / name
    with pytest.raises(Boom):
        with FrameWriter(out) as w:
            w.write(smooth_frames(3))
            raise Boom()
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("name", ["out.mp4", "out.npy", "out"])
def test_existing_output_survives_failure_and_is_replaced_on_success(tmp_path, name):
    out = tmp_path / name
    with FrameWriter(out) as w:
        w.write(smooth_frames(2))
    before = probe_driving(out)
    with pytest.raises(Boom):
        with FrameWriter(out) as w:
            w.write(smooth_frames(5))
            raise Boom()
    assert probe_driving(out) == before
    assert os.listdir(tmp_path) == [name]
    with FrameWriter(out) as w:
        w.write(smooth_frames(4))
    assert probe_driving(out).num_frames == 4
    assert os.listdir(tmp_path) == [name]


def test_size_change_and_empty_write_errors(tmp_path):
    out = tmp_path / "o.mp4"
    with pytest.raises(MediaError, match="one size"):
        with FrameWriter(out) as w:
            w.write(smooth_frames(2, 32, 32))
            w.write(smooth_frames(2, 32, 48))
    with pytest.raises(MediaError, match="no frames were written"):
        with FrameWriter(out):
            pass
    assert os.listdir(tmp_path) == []


def test_writer_refuses_unsafe_or_unsupported_outputs(tmp_path):
    keep = tmp_path / "mine"
    keep.mkdir()
    (keep / "important.txt").write_text("user data")
    with pytest.raises(MediaError, match="not written by ToonTalker"):
        FrameWriter(keep)
    with pytest.raises(MediaError, match=r"cannot write .*\.webm"):
        FrameWriter(tmp_path / "x.webm")
    with pytest.raises(MediaError, match="positive"):
        FrameWriter(tmp_path / "x.mp4", fps=0)
    with pytest.raises(RuntimeError, match="context manager"):
        FrameWriter(tmp_path / "x.npy").write(smooth_frames(1))
    assert (keep / "important.txt").read_text() == "user data"


# ------------------------------------------------------------------------------------------- resize

def test_resize_to():
    x = torch.rand(2, 3, 40, 60)
    y = resize_to(x, 32)
    assert y.shape == (2, 3, 32, 32) and y.dtype == torch.float32
    assert float(y.min()) >= 0 and float(y.max()) <= 1
    assert resize_to(y, 32) is y
    single = resize_to(torch.full((3, 10, 10), 0.5), 64)
    assert single.shape == (3, 64, 64)
    torch.testing.assert_close(single, torch.full((3, 64, 64), 0.5))
    # anti-aliasing: a fine checkerboard shrinks to flat grey instead of aliasing
    checker = (torch.arange(64)[:, None] + torch.arange(64)[None, :]) % 2
    small = resize_to(checker.float().expand(3, 64, 64), 8)
    assert (small - 0.5).abs().max() < 0.05
