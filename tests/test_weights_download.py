"""Load ToonTalker Checkpoint's "download: ..." entries, without ComfyUI: the published file is served by a local
HTTP server (test_download's, with Range support) through the $TOONTALKER_WEIGHTS_MIRROR hook; ComfyUI's progress
bar and interrupt are the stand-ins of nodes/comfy.py, replaced here by recorders. The pack is imported as
ComfyUI imports it (tests/pack_loader.py): its toontalker_core is its own module copy, patched through `dl`."""
from __future__ import annotations

import importlib
import sys
import time

import pytest

from test_download import Files, checkpoints, server  # noqa: F401  (fixtures: the served files, the server)
from toontalker_core.app import download
from toontalker_core.app.offers import offer, offer_layout, offers
from toontalker_core.app.paths import PUBLISHED_FILES

CROSS = offer("cross-domain")


class Interrupted(Exception):
    """Stands in for ComfyUI's InterruptProcessingException."""


class Bars:
    """Records every ComfyUI progress bar the node makes (update_absolute values, totals)."""

    def __init__(self):
        self.bars = []

    def __call__(self, total):
        bar = type("Bar", (), {})()
        bar.total, bar.values = total, []
        bar.update_absolute = lambda value, total=None, preview=None: bar.values.append((value, total))
        self.bars.append(bar)
        return bar


@pytest.fixture()
def node(pack, monkeypatch, tmp_path):
    """(loaders module, comfy module, the model folder): an empty model folder first in the search path."""
    monkeypatch.setenv("TOONTALKER_MODELS", str(tmp_path / "models"))
    (tmp_path / "models").mkdir()
    monkeypatch.setattr(dl(pack), "CHUNK", 16 << 10)  # many progress steps for a small file
    return (importlib.import_module(pack.__name__ + ".nodes.loaders"),
            importlib.import_module(pack.__name__ + ".nodes.comfy"), tmp_path / "models")


def dl(pack):
    """The downloader module the pack's nodes use."""
    return importlib.import_module(pack.__name__ + ".toontalker_core.app.download")


def choices(loaders):
    return loaders.LoadToonTalkerCheckpoint.INPUT_TYPES()["required"]["ckpt_name"][0]


def test_offers_only_the_missing_published_files(node, checkpoints):
    loaders, _, models = node
    listed = choices(loaders)
    assert listed[0] == "cross-domain-demo-64px.safetensors"  # the default stays the bundled model
    assert listed[-2:] == [offer("in-domain"), CROSS]
    assert CROSS == "download: cross-domain.pth (published, 256 px)" and offer_layout(CROSS) == "cross-domain"
    (models / "cross-domain.safetensors").write_bytes(checkpoints["cross-domain.safetensors"])  # converted twin
    listed = choices(loaders)
    assert "cross-domain.safetensors" in listed and CROSS not in listed and offer("in-domain") in listed
    assert offers(list(PUBLISHED_FILES.values())) == []


def test_validation_accepts_offers_and_names_the_fix_for_a_missing_file(node, checkpoints):
    loaders, _, models = node
    validate = loaders.LoadToonTalkerCheckpoint.VALIDATE_INPUTS
    assert validate(CROSS) is True and validate("cross-domain-demo-64px.safetensors") is True
    msg = validate("cross-domain.pth")  # a workflow saved with the file name, on a machine without the file
    assert isinstance(msg, str) and "\n" not in msg
    assert msg.startswith("checkpoint 'cross-domain.pth' is not in ") and f"choose '{CROSS}'" in msg
    assert "put the file there, or choose another" in validate("mine.pth")
    (models / "cross-domain.pth").write_bytes(checkpoints["cross-domain.pth"])
    assert validate("cross-domain.pth") is True and validate(CROSS) is True


def test_download_with_progress_then_listed_and_loaded(node, server, checkpoints, monkeypatch):  # noqa: F811
    loaders, comfy, models = node
    monkeypatch.setenv(download.MIRROR_VAR, server + "/")
    bars = Bars()
    monkeypatch.setattr(comfy, "ProgressBar", bars)
    out = loaders.LoadToonTalkerCheckpoint().load(CROSS, "cpu", "fp32")
    data = checkpoints["cross-domain.pth"]
    assert out["ui"] == {"toontalker_downloaded": ["cross-domain.pth"]}
    model, info = out["result"]
    assert "cross-domain" in info and model.cfg.size == 64
    assert (models / "cross-domain.pth").read_bytes() == data
    assert sorted(p.name for p in models.iterdir()) == ["cross-domain.pth"]  # no staging folder left
    (bar,) = bars.bars
    values = [v for v, _ in bar.values]
    assert bar.total == len(data) and all(t == len(data) for _, t in bar.values)
    assert values == sorted(values) and values[0] == 0 and values[-1] == len(data)
    assert len(values) >= len(data) // (16 << 10)  # one step per chunk
    listed = choices(loaders)
    assert "cross-domain.pth" in listed and CROSS not in listed
    # the same workflow again (or on a machine that has the file): loaded, nothing fetched, no progress bar
    seen = len(Files.seen)
    model2, _ = loaders.LoadToonTalkerCheckpoint().load(CROSS, "cpu", "fp32")
    assert len(Files.seen) == seen and len(bars.bars) == 1 and model2.cfg == model.cfg


def test_interrupt_leaves_a_resumable_part_and_the_next_run_resumes(node, server, checkpoints,  # noqa: F811
                                                                     monkeypatch):
    loaders, comfy, models = node
    monkeypatch.setenv(download.MIRROR_VAR, server)
    data = checkpoints["cross-domain.pth"]
    calls = []

    def interrupt_after_5():
        calls.append(1)
        if len(calls) > 5:
            raise Interrupted()

    monkeypatch.setattr(comfy, "check_interrupt", interrupt_after_5)
    with pytest.raises(Interrupted):
        loaders.LoadToonTalkerCheckpoint().load(CROSS, "cpu", "fp32")
    part = models / download.STAGING / "cross-domain.pth.part"
    have = part.stat().st_size
    assert have == 5 * (16 << 10) and have < len(data)  # the 5 chunks reported before the stop stay
    assert not (models / "cross-domain.pth").exists()
    assert CROSS in choices(loaders)  # still offered: nothing half-done is listed
    monkeypatch.setattr(comfy, "check_interrupt", lambda: None)
    bars = Bars()
    monkeypatch.setattr(comfy, "ProgressBar", bars)
    out = loaders.LoadToonTalkerCheckpoint().load(CROSS, "cpu", "fp32")
    assert ("GET", f"bytes={have}-") in Files.seen
    assert (models / "cross-domain.pth").read_bytes() == data and out["result"][0].cfg.size == 64
    values = [v for v, _ in bars.bars[0].values]
    assert values[0] == have and values[-1] == len(data) and values == sorted(values)


def test_a_file_that_is_not_a_checkpoint_is_refused(pack, node, server, checkpoints, monkeypatch):  # noqa: F811
    loaders, _, models = node
    monkeypatch.setenv(download.MIRROR_VAR, server)
    monkeypatch.setattr(Files, "files", {**checkpoints, "cross-domain.pth": checkpoints["broken.pth"]})
    with pytest.raises(dl(pack).DownloadError, match="not a usable ToonTalker checkpoint, deleted"):
        loaders.LoadToonTalkerCheckpoint().load(CROSS, "cpu", "fp32")
    assert list(models.iterdir()) == []
    assert CROSS in choices(loaders)


def test_drive_without_gdown_is_one_line_naming_the_python(pack, node, monkeypatch):
    loaders, _, models = node
    monkeypatch.delenv(download.MIRROR_VAR, raising=False)
    monkeypatch.setitem(sys.modules, "gdown", None)  # import gdown -> ImportError
    with pytest.raises(dl(pack).DownloadError) as e:
        loaders.LoadToonTalkerCheckpoint().load(CROSS, "cpu", "fp32")
    msg = str(e.value)
    assert "\n" not in msg and f"`{sys.executable} -m pip install gdown`" in msg and "ComfyUI's" in msg
    assert list(models.iterdir()) == []


def test_cli_download_follows_the_mirror(server, checkpoints, tmp_path, monkeypatch):  # noqa: F811
    from toontalker_core.app import cli

    monkeypatch.setenv(download.MIRROR_VAR, server)
    monkeypatch.setitem(sys.modules, "gdown", None)  # a mirror needs no gdown
    assert cli.main(["download", "--which", "cross-domain", "--to", str(tmp_path), "--quiet"]) == 0
    assert (tmp_path / "cross-domain.pth").read_bytes() == checkpoints["cross-domain.pth"]


# ------------------------------------------------------------------------- the Google Drive path (no mirror)

FAKE_GDOWN = '''"""A stand-in for gdown's download() in the child process (tests/test_weights_download.py): it "downloads"
$FAKE_GDOWN_SOURCE slowly into a partial file beside the output, as gdown does, and resumes from it."""
import os
import time


def download(id, output, quiet, resume):
    data = open(os.environ["FAKE_GDOWN_SOURCE"], "rb").read()
    part = output + "3k2j.part"
    have = os.path.getsize(part) if resume and os.path.exists(part) else 0
    with open(os.environ["FAKE_GDOWN_LOG"], "a") as log:
        log.write(f"{id} {have}\\n")
    with open(part, "ab") as f:
        for i in range(have, len(data), 64 << 10):
            f.write(data[i:i + (64 << 10)])
            f.flush()
            time.sleep(0.03)
    os.replace(part, output)
    return output
'''


@pytest.fixture()
def drive(pack, node, checkpoints, monkeypatch, tmp_path):
    """No mirror: the loader goes to Drive. The folder listing is an in-process stand-in; the download runs in
    the child process on a stand-in gdown package (on PYTHONPATH) serving the tiny checkpoint."""
    import types

    monkeypatch.delenv(dl(pack).MIRROR_VAR, raising=False)
    monkeypatch.setattr(dl(pack), "POLL_S", 0.05)
    listing = [types.SimpleNamespace(id="id-cross", path="ToonTalker/cross-domain.pth")]
    monkeypatch.setitem(sys.modules, "gdown", types.SimpleNamespace(
        download_folder=lambda url, skip_download, quiet: listing))
    fake = tmp_path / "fake_gdown"
    (fake / "gdown").mkdir(parents=True)
    (fake / "gdown" / "__init__.py").write_text(FAKE_GDOWN)
    (tmp_path / "source.pth").write_bytes(checkpoints["cross-domain.pth"])
    monkeypatch.setenv("PYTHONPATH", str(fake))
    monkeypatch.setenv("FAKE_GDOWN_SOURCE", str(tmp_path / "source.pth"))
    monkeypatch.setenv("FAKE_GDOWN_LOG", str(tmp_path / "gdown.log"))
    return tmp_path / "gdown.log"


def test_drive_download_reports_bytes_stops_on_interrupt_and_resumes(node, drive, checkpoints, monkeypatch):
    loaders, comfy, models = node
    data = checkpoints["cross-domain.pth"]
    reports = []  # the text the node shows (ComfyUI's progress text)
    calls = []

    def interrupt_after_8():
        calls.append(1)
        if len(calls) > 8:
            raise Interrupted()

    monkeypatch.setattr(comfy, "check_interrupt", interrupt_after_8)
    for module in (comfy, loaders):
        monkeypatch.setattr(module, "progress_text", reports.append)
    with pytest.raises(Interrupted):
        loaders.LoadToonTalkerCheckpoint().load(CROSS, "cpu", "fp32")
    staging = models / download.STAGING
    (part,) = staging.glob("cross-domain.pth*.part")
    have = part.stat().st_size
    assert 0 < have < len(data) and data.startswith(part.read_bytes())
    time.sleep(0.3)
    assert part.stat().st_size == have  # the child was stopped, not left writing
    assert not (models / "cross-domain.pth").exists()
    texts = list(reports)
    assert texts[0] == "downloading cross-domain.pth: 0.0 MB" and all(" of " not in t for t in texts)

    monkeypatch.setattr(comfy, "check_interrupt", lambda: None)
    bars = Bars()
    monkeypatch.setattr(comfy, "ProgressBar", bars)
    reports.clear()
    out = loaders.LoadToonTalkerCheckpoint().load(CROSS, "cpu", "fp32")
    assert drive.read_text().split("\n")[:2] == ["id-cross 0", f"id-cross {have}"]  # the second run resumed
    assert (models / "cross-domain.pth").read_bytes() == data and out["result"][0].cfg.size == 64
    assert reports[-1] == f"cross-domain.pth: downloaded and verified ({len(data) / 2 ** 20:.1f} MB)"
    mb = [float(t.split(": ")[1].split()[0]) for t in reports[:-1]]
    assert mb == sorted(mb) and mb[0] == round(have / 2 ** 20, 1) and reports[-2].endswith(
        f"{len(data) / 2 ** 20:.1f} of {len(data) / 2 ** 20:.1f} MB")
    (bar,) = bars.bars  # the bar appears once the size is known: at the end, full
    assert bar.values == [(len(data), len(data))]
    assert sorted(p.name for p in models.iterdir()) == ["cross-domain.pth"]


def test_drive_failure_in_the_child_is_one_line(pack, node, drive, monkeypatch):
    loaders, _, models = node
    monkeypatch.setenv("FAKE_GDOWN_SOURCE", str(models / "missing"))
    with pytest.raises(dl(pack).DownloadError) as e:
        loaders.LoadToonTalkerCheckpoint().load(CROSS, "cpu", "fp32")
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("cross-domain.pth: the Google Drive download failed (FileNotFoundError")
    assert "run it again to resume" in msg and not (models / "cross-domain.pth").exists()
