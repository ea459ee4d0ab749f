"""Start and drive a real ComfyUI server on 127.0.0.1 (integration tests and tools/make_thumbnails.py)."""
from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, base: Path, comfy_path: str, python: str | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(base / "server.log", "w")
        self.proc = subprocess.Popen(
            [python or sys.executable, "main.py", "--cpu", "--disable-api-nodes", "--listen", "127.0.0.1", "--port", str(self.port),
             "--base-directory", str(base), "--database-url", "sqlite:///:memory:"],
            cwd=comfy_path, stdout=self.log, stderr=subprocess.STDOUT)
        self.base = base

    def get(self, path: str, timeout: float = 30):
        with urllib.request.urlopen(self.url + path, timeout=timeout) as r:
            return json.loads(r.read())

    def post(self, path: str, data: dict | None = None):
        req = urllib.request.Request(self.url + path, data=json.dumps(data or {}).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            body = r.read()
            return json.loads(body) if body else {}

    def wait_ready(self, timeout: float = 120):
        end = time.time() + timeout
        while time.time() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ComfyUI exited: see {self.base / 'server.log'}")
            try:
                self.get("/object_info/ToonTalkerReenact", timeout=5)
                return
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(1)
        raise TimeoutError("ComfyUI did not start")

    def run(self, prompt: dict, timeout: float = 900) -> dict:
        pid = self.post("/prompt", {"prompt": prompt, "client_id": uuid.uuid4().hex})["prompt_id"]
        end = time.time() + timeout
        while time.time() < end:
            hist = self.get(f"/history/{pid}")
            if pid in hist and hist[pid].get("status", {}).get("completed") is not None:
                if hist[pid]["status"].get("status_str") in ("success", "error"):
                    return hist[pid]
            time.sleep(0.5)
        raise TimeoutError(f"prompt {pid} did not finish")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()




def prepare_base(base: Path, repo: Path, checkpoint=None) -> Path:
    """A ComfyUI base directory: the pack linked into custom_nodes, the sample media in input/, and
    `checkpoint(path)` called to write models/toontalker/cross-domain-demo-64px.safetensors if given."""
    (base / "custom_nodes").mkdir(parents=True, exist_ok=True)
    (base / "custom_nodes" / "ComfyUI-ToonTalker").symlink_to(repo)
    (base / "input").mkdir(exist_ok=True)
    for f in (repo / "samples").glob("*.*"):
        shutil.copy(f, base / "input" / f.name)
    if checkpoint is not None:
        (base / "models" / "toontalker").mkdir(parents=True, exist_ok=True)
        checkpoint(base / "models" / "toontalker" / "cross-domain-demo-64px.safetensors")
    return base


def tiny_checkpoint(path: Path) -> None:
    """A tiny random cross-domain model under the demo model's name (fast server tests)."""
    from tiny import TINY, tiny_model
    from toontalker_core.checkpoint import save_safetensors

    save_safetensors(tiny_model(True), path, TINY)
