"""`python -m toontalker_core download`: the direct-link path against a local HTTP server (127.0.0.1) with
Range support, resume, refusal of non-checkpoints, and the Google Drive glue with a stand-in for gdown (the
real Drive download cannot be tested offline)."""
from __future__ import annotations

import http.server
import sys
import threading
import types
from pathlib import Path

import pytest
import torch

from tiny import TINY, tiny_model
from toontalker_core.app import cli
from toontalker_core.app import download
from toontalker_core.model.checkpoint import load_model, save_safetensors


class Files(http.server.BaseHTTPRequestHandler):
    """Serves `files` (name -> bytes); honours `Range: bytes=N-` unless `ranges` is False."""
    files: dict[str, bytes] = {}
    ranges = True
    seen: list[tuple[str, str | None]] = []

    def do_HEAD(self):
        self._serve(body=False)

    def do_GET(self):
        self._serve(body=True)

    def _serve(self, body: bool):
        data = self.files.get(self.path.lstrip("/"))
        rng = self.headers.get("Range")
        self.seen.append((self.command, rng))
        if data is None:
            self.send_error(404)
            return
        start = 0
        if rng and self.ranges:
            start = int(rng.removeprefix("bytes=").split("-")[0])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(data) - start))
        self.send_header("Accept-Ranges", "bytes" if self.ranges else "none")
        self.end_headers()
        if body:
            self.wfile.write(data[start:])

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, bytes]:
    d = tmp_path_factory.mktemp("ckpts")
    model = tiny_model(True)
    save_safetensors(model, d / "tiny.safetensors")
    states = {r: getattr(model, r).state_dict() for r in ("gen", "gen_real")}
    torch.save({**states, "config": TINY.to_dict(), "step": 7}, d / "tiny.pth")
    return {"cross-domain.safetensors": (d / "tiny.safetensors").read_bytes(),
            "cross-domain.pth": (d / "tiny.pth").read_bytes(),
            "broken.pth": b"PK\x03\x04 this is not a checkpoint" * 50,
            "notes.safetensors": b"\x10\x00\x00\x00\x00\x00\x00\x00{}" + b"\x00" * 64}


@pytest.fixture()
def server(checkpoints):
    Files.files, Files.ranges, Files.seen = checkpoints, True, []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Files)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _same_weights(a: Path, b_bytes: bytes, tmp_path: Path) -> bool:
    ref = tmp_path / "ref.safetensors"
    ref.write_bytes(b_bytes)
    ma, mb = load_model(a), load_model(ref)
    return all(torch.equal(x, y) for x, y in zip(ma.state_dict().values(), mb.state_dict().values()))


def test_url_download_verified_and_placed(server, checkpoints, tmp_path, capsys):
    dest = tmp_path / "models"
    assert cli.main(["download", "--url", f"{server}/cross-domain.safetensors", "--to", str(dest)]) == 0
    out = dest / "cross-domain.safetensors"
    assert out.read_bytes() == checkpoints["cross-domain.safetensors"]
    assert sorted(p.name for p in dest.iterdir()) == ["cross-domain.safetensors"]  # no staging left
    err = capsys.readouterr().err
    assert "ok:" in err and "cross-domain" in err and "64px" in err


def test_resume_from_partial_file(server, checkpoints, tmp_path):
    data = checkpoints["cross-domain.pth"]
    dest = tmp_path / "models"
    staging = dest / download.STAGING
    staging.mkdir(parents=True)
    half = len(data) // 2
    (staging / "cross-domain.pth.part").write_bytes(data[:half])
    path = download.fetch_url(f"{server}/cross-domain.pth", dest, quiet=True)
    assert ("GET", f"bytes={half}-") in Files.seen
    assert path.read_bytes() == data
    assert not staging.exists()


def test_server_without_ranges_restarts(server, checkpoints, tmp_path):
    Files.ranges = False
    data = checkpoints["cross-domain.pth"]
    dest = tmp_path / "models"
    (dest / download.STAGING).mkdir(parents=True)
    (dest / download.STAGING / "cross-domain.pth.part").write_bytes(b"garbage" * 10)
    path = download.fetch_url(f"{server}/cross-domain.pth", dest, quiet=True)
    assert path.read_bytes() == data


def test_convert_to_safetensors(server, checkpoints, tmp_path):
    dest = tmp_path / "models"
    path = download.fetch_url(f"{server}/cross-domain.pth", dest, to_safetensors=True, quiet=True)
    assert path == dest / "cross-domain.safetensors"
    assert [p.name for p in dest.iterdir()] == ["cross-domain.safetensors"]
    assert _same_weights(path, checkpoints["cross-domain.safetensors"], tmp_path)


@pytest.mark.parametrize("name", ["broken.pth", "notes.safetensors"])
def test_non_checkpoint_refused_and_nothing_left(server, tmp_path, capsys, name):
    dest = tmp_path / "models"
    assert cli.main(["download", "--url", f"{server}/{name}", "--to", str(dest)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: the downloaded file is not a usable ToonTalker checkpoint, deleted")
    assert list(dest.iterdir()) == []


def test_http_error_and_bad_names(server, tmp_path, capsys):
    dest = tmp_path / "models"
    assert cli.main(["download", "--url", f"{server}/missing.pth", "--to", str(dest)]) == 2
    assert "HTTP 404" in capsys.readouterr().err
    assert cli.main(["download", "--url", f"{server}/cross-domain.pth?x=1", "--name", "readme.txt",
                     "--to", str(dest)]) == 2
    assert "--name FILE.pth" in capsys.readouterr().err
    assert cli.main(["download", "--url", "ftp://example.org/a.pth", "--to", str(dest)]) == 2
    assert list(dest.iterdir()) == []


@pytest.mark.parametrize("name", ["../x.pth", "sub/x.pth", "..", "/tmp/x.pth"])
def test_a_name_that_leaves_the_model_folder_is_refused(server, tmp_path, capsys, name):
    """Issue 22: `--name ../x.pth` printed "ok" and exit 0 while the file existed nowhere."""
    dest = tmp_path / "models"
    assert cli.main(["download", "--url", f"{server}/cross-domain.pth", "--name", name, "--to", str(dest)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is not a plain file name" in err[0] and "ok:" not in err[0]
    assert not (tmp_path / "x.pth").exists() and sorted(p.name for p in tmp_path.rglob("*")) in ([], ["models"])


def test_safetensors_download_never_replaces_a_users_file(server, checkpoints, tmp_path, capsys):
    """Issue 22: `download --safetensors` silently replaced an existing file of the converted name."""
    dest = tmp_path / "models"
    dest.mkdir()
    mine = dest / "cross-domain.safetensors"
    mine.write_text("my own notes")
    assert cli.main(["download", "--url", f"{server}/cross-domain.pth", "--safetensors", "--to", str(dest)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "not a usable ToonTalker checkpoint; refusing to replace it" in err[-1]
    assert mine.read_text() == "my own notes" and sorted(p.name for p in dest.iterdir()) == [mine.name]
    mine.write_bytes(checkpoints["cross-domain.safetensors"])  # a good checkpoint there: kept, not re-downloaded
    seen = len(Files.seen)
    assert download.fetch_url(f"{server}/cross-domain.pth", dest, to_safetensors=True, quiet=True) == mine
    assert [m for m, _ in Files.seen[seen:]] == ["HEAD"]


def test_drive_without_gdown_says_what_to_do(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "gdown", None)  # import gdown -> ImportError
    assert cli.main(["download", "--to", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "pip install gdown" in err and download.DRIVE_FOLDER in err
    assert list(tmp_path.iterdir()) == []


def test_drive_glue_with_a_stand_in_gdown(monkeypatch, checkpoints, tmp_path):
    """What we do around gdown: pick the published file from the folder listing, verify, place. A stand-in
    module replaces the network; the real Drive listing/download is not tested here (offline)."""
    calls = []

    def download_folder(url, skip_download, quiet):
        calls.append(("list", url))
        return [types.SimpleNamespace(id="id-cross", path="ToonTalker/cross-domain.pth"),
                types.SimpleNamespace(id="id-in", path="ToonTalker/in-domain440000.pth")]

    def fetch(id, output, quiet, resume):
        calls.append(("get", id, resume))
        Path(output).write_bytes(checkpoints["cross-domain.pth"])

    monkeypatch.setitem(sys.modules, "gdown", types.SimpleNamespace(download_folder=download_folder,
                                                                    download=fetch))
    got = download.fetch_drive("cross-domain", tmp_path, quiet=True)
    assert got == [tmp_path / "cross-domain.pth"]
    assert calls == [("list", download.DRIVE_FOLDER), ("get", "id-cross", True)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cross-domain.pth"]
    # a second run finds the verified file and downloads nothing
    assert download.fetch_drive("cross-domain", tmp_path, quiet=True) == got
    assert len(calls) == 2


def test_loader_node_points_to_the_weights_when_only_the_demo_model_is_there(pack, monkeypatch, tmp_path):
    import importlib

    loaders = importlib.import_module(pack.__name__ + ".nodes.loaders")
    tooltip = loaders.LoadToonTalkerCheckpoint.INPUT_TYPES()["required"]["ckpt_name"][1]["tooltip"]
    assert download.DRIVE_FOLDER in tooltip and "cross-domain.pth" in tooltip
    demo = "cross-domain-demo-64px.safetensors"
    monkeypatch.setenv("TOONTALKER_MODELS", str(tmp_path))
    monkeypatch.setattr(loaders, "checkpoint_names", lambda: [demo])
    info = loaders.LoadToonTalkerCheckpoint().load(demo, "cpu", "fp32")[1]
    assert download.DRIVE_FOLDER in info and "python -m toontalker_core download" in info
    save_safetensors(tiny_model(True), tmp_path / "cross-domain.safetensors")  # a real model next to the demo
    monkeypatch.setattr(loaders, "checkpoint_names", lambda: [demo, "cross-domain.safetensors"])
    info = loaders.LoadToonTalkerCheckpoint().load(demo, "cpu", "fp32")[1]
    assert download.DRIVE_FOLDER not in info
