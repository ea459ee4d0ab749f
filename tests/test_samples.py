"""The pack copies its sample media into ComfyUI's input folder on start-up, never overwriting a file."""
from __future__ import annotations

import importlib
import os
import sys
import types

from conftest import REPO


def test_copies_missing_samples_and_keeps_existing_files(pack, tmp_path):
    samples = importlib.import_module(pack.__name__ + ".nodes.samples")
    media = sorted(p.name for p in (REPO / "samples").iterdir() if p.suffix in (".png", ".mp4"))
    assert {"source_real.png", "source_cartoon.png", "driving.mp4", "driving_cartoon.mp4"} <= set(media)
    (tmp_path / "driving.mp4").write_bytes(b"the user's own clip")
    copied = samples.copy_samples(tmp_path)
    assert sorted(copied) == [m for m in media if m != "driving.mp4"]
    assert (tmp_path / "driving.mp4").read_bytes() == b"the user's own clip"
    mask = os.umask(0o022)
    os.umask(mask)
    for name in copied:
        assert (tmp_path / name).read_bytes() == (REPO / "samples" / name).read_bytes()
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o666 & ~mask  # not mkstemp's 0600 (issue 23)
    assert sorted(p.name for p in tmp_path.iterdir()) == media  # no temp files, no SOURCES.md
    assert samples.copy_samples(tmp_path) == []  # second start-up: nothing to do


def test_unwritable_input_folder_does_not_break_the_import(pack, tmp_path, monkeypatch, caplog):
    samples = importlib.import_module(pack.__name__ + ".nodes.samples")
    blocker = tmp_path / "input"
    blocker.write_text("a file where the folder should be")
    assert samples.copy_samples(blocker) == []
    assert "could not copy the sample media" in caplog.text
    fake = types.SimpleNamespace(get_input_directory=lambda: str(tmp_path / "comfy_input"))
    monkeypatch.setitem(sys.modules, "folder_paths", fake)
    samples.copy_samples_to_comfy_input()
    assert (tmp_path / "comfy_input" / "source_real.png").exists()
