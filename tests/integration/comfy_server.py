"""Start and drive a real ComfyUI server on 127.0.0.1 (integration tests and tools/make_thumbnails.py).

Standard library only: HTTP via urllib, and a minimal WebSocket client for ComfyUI's progress messages.
"""
from __future__ import annotations

import atexit
import base64
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

PACK_DIR_NAME = "ComfyUI-ToonTalker"



def comfy_or_skip(what: str) -> tuple[str, str]:
    """(ComfyUI checkout, its python) from COMFYUI_PATH / COMFYUI_PYTHON; skips the calling test module, saying
    what it needs them for, when they are not set or do not exist."""
    import pytest

    comfy = os.environ.get("COMFYUI_PATH")
    python = os.environ.get("COMFYUI_PYTHON") or sys.executable
    if not comfy or not (Path(comfy) / "main.py").is_file():
        pytest.skip(f"set COMFYUI_PATH to a ComfyUI checkout (and COMFYUI_PYTHON to its python) to {what}",
                    allow_module_level=True)
    if not (shutil.which(python) or Path(python).is_file()):
        pytest.skip(f"ComfyUI's python {python!r} (COMFYUI_PYTHON) cannot be found", allow_module_level=True)
    return comfy, python

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


DEMO_CKPT = "cross-domain-demo-64px.safetensors"  # the name the example workflows use


def prepare_base(base: Path, repo: Path, checkpoint=None, ckpt_name: str = DEMO_CKPT) -> Path:
    """A ComfyUI base directory: the pack symlinked into custom_nodes, the sample media in input/, and
    models/toontalker/<ckpt_name> when `checkpoint` is given: a file to copy, or a callable that writes the path
    it is given (e.g. tiny_checkpoint). Without one the server lists the pack's bundled demo model."""
    (base / "custom_nodes").mkdir(parents=True, exist_ok=True)
    link = base / "custom_nodes" / PACK_DIR_NAME
    if not link.exists():
        link.symlink_to(repo, target_is_directory=True)
    (base / "models" / "toontalker").mkdir(parents=True, exist_ok=True)
    if checkpoint is not None:
        target = base / "models" / "toontalker" / ckpt_name
        if callable(checkpoint):
            checkpoint(target)
        else:
            shutil.copy(checkpoint, target)
    (base / "input").mkdir(exist_ok=True)
    for f in (repo / "samples").iterdir():
        if f.suffix.lower() in (".png", ".jpg", ".mp4", ".webm", ".mov"):
            shutil.copy(f, base / "input" / f.name)
    return base


# A test-only custom node package (never shipped): one route that lists ComfyUI's loaded models, so tests can
# see what comfy.model_management.current_loaded_models holds inside the server process (and the /free flags
# still waiting for the prompt worker).
PROBE_DIR_NAME = "toontalker_test_probe"
PROBE_ROUTE = "/toontalker_test/loaded_models"
PROBE_SOURCE = f'''"""Test probe written by tests/integration/comfy_server.py: not part of the node pack."""
from aiohttp import web

import comfy.model_management as mm
from server import PromptServer

NODE_CLASS_MAPPINGS = {{}}


@PromptServer.instance.routes.get("{PROBE_ROUTE}")
async def loaded_models(request):
    queue = PromptServer.instance.prompt_queue
    with queue.mutex:  # /free flags the prompt worker has not applied yet
        pending = dict(queue.flags)
    return web.json_response({{"pending_flags": pending, "models": [
        {{"class": type(m.model.model).__name__, "device": str(m.device),
          "loaded_bytes": int(m.model.loaded_size()), "size_bytes": int(m.model.model_size())}}
        for m in mm.current_loaded_models if m.model is not None]}})
'''


def install_probe(base: Path) -> str:
    """Write the probe package into `base`/custom_nodes (before the server starts); -> its route."""
    d = Path(base) / "custom_nodes" / PROBE_DIR_NAME
    d.mkdir(parents=True, exist_ok=True)
    (d / "__init__.py").write_text(PROBE_SOURCE)
    return PROBE_ROUTE


def tiny_checkpoint(path: Path) -> None:
    """A tiny random cross-domain model (tests/tiny.py) written to `path` (fast server tests)."""
    from tiny import TINY, tiny_model
    from toontalker_core.model.checkpoint import save_safetensors

    save_safetensors(tiny_model(True), path, TINY)


def device_args() -> tuple[str, ...]:
    """ComfyUI's device flags, from $TOONTALKER_COMFY_ARGS (split like a shell line): default `--cpu`, so a
    machine without a GPU works as it is; e.g. TOONTALKER_COMFY_ARGS="" runs on the GPU, and
    TOONTALKER_COMFY_ARGS="--reserve-vram 130" leaves ComfyUI about 2 GB of an H200's memory."""
    import shlex

    return tuple(shlex.split(os.environ.get("TOONTALKER_COMFY_ARGS", "--cpu")))


class Server:
    """A ComfyUI process (device flags from `device_args()`, `--disable-api-nodes`, 127.0.0.1, a free port) on
    a base directory."""

    def __init__(self, base: Path, comfy_path: str, python: str | None = None, extra_args: tuple[str, ...] = ()):
        self.base = Path(base)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = self.base / "server.log"
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [python or sys.executable, "main.py", *device_args(), "--disable-api-nodes", "--listen", "127.0.0.1",
             "--port", str(self.port), "--base-directory", str(self.base), "--database-url", "sqlite:///:memory:",
             *extra_args],
            cwd=comfy_path, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        atexit.register(self.stop)  # a safety net: tests stop it in their teardown

    # --- HTTP
    def get(self, path: str, timeout: float = 30):
        with urllib.request.urlopen(self.url + path, timeout=timeout) as r:
            return json.loads(r.read())

    def get_bytes(self, path: str, timeout: float = 30) -> tuple[bytes, str]:
        with urllib.request.urlopen(self.url + path, timeout=timeout) as r:
            return r.read(), r.headers.get("Content-Type", "")

    def post(self, path: str, data: dict | bool | None = None, timeout: float = 30):
        req = urllib.request.Request(self.url + path, data=json.dumps({} if data is None else data).encode(),
                                     method="POST", headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout) as r:
            body = r.read()
            try:
                return json.loads(body) if body else {}
            except ValueError:
                return {}

    def view(self, item: dict) -> bytes:
        """The bytes of an output file listed in a history's outputs ({filename, subfolder, type})."""
        query = urllib.parse.urlencode({"filename": item["filename"], "subfolder": item.get("subfolder", ""),
                                        "type": item.get("type", "output")})
        return self.get_bytes(f"/view?{query}", timeout=60)[0]

    def log_tail(self, n: int = 40) -> str:
        self.log.flush()
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def alive(self) -> bool:
        return self.proc.poll() is None

    def wait_ready(self, timeout: float = 180):
        end = time.time() + timeout
        while time.time() < end:
            if not self.alive():
                raise RuntimeError(f"ComfyUI exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                self.get("/object_info/ToonTalkerReenact", timeout=5)
                return
            except (urllib.error.URLError, ConnectionError, OSError, ValueError):
                time.sleep(1)
        raise TimeoutError(f"ComfyUI did not start within {timeout:.0f} s:\n{self.log_tail()}")

    def queue(self, prompt: dict, client_id: str | None = None) -> str:
        try:
            return self.post("/prompt", {"prompt": prompt, "client_id": client_id or uuid.uuid4().hex})["prompt_id"]
        except urllib.error.HTTPError as e:  # validation errors: 400 with node_errors
            raise RuntimeError(f"/prompt refused the prompt: {e.read().decode(errors='replace')}") from None

    def wait(self, prompt_id: str, timeout: float = 900) -> dict:
        """Poll /history until the prompt completed (success, error or interrupted); -> its history entry."""
        end = time.time() + timeout
        while time.time() < end:
            if not self.alive():
                raise RuntimeError(f"ComfyUI died while running {prompt_id}:\n{self.log_tail()}")
            hist = self.get(f"/history/{prompt_id}")
            status = hist.get(prompt_id, {}).get("status", {})
            if status.get("status_str") in ("success", "error"):
                return hist[prompt_id]
            time.sleep(0.3)
        raise TimeoutError(f"prompt {prompt_id} did not finish within {timeout:.0f} s")

    def run(self, prompt: dict, timeout: float = 900) -> dict:
        return self.wait(self.queue(prompt), timeout)

    def websocket(self, client_id: str) -> "WebSocket":
        return WebSocket("127.0.0.1", self.port, f"/ws?clientId={client_id}")

    def __enter__(self) -> "Server":
        """`with Server(...) as srv:` waits until it answers, and stops it however the block ends."""
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)  # its own session: children go too
            except (ProcessLookupError, PermissionError):
                self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    self.proc.kill()
                self.proc.wait(10)
        if not self.log.closed:
            self.log.close()


class TimingSummary:
    """A pytest plugin that prints a test module's timing lines in the terminal summary (shown without -s)."""

    def __init__(self, title: str, lines: list[str]):
        self.title, self.lines = title, lines

    def pytest_terminal_summary(self, terminalreporter):
        if self.lines:
            terminalreporter.write_sep("-", self.title)
            for line in self.lines:
                terminalreporter.write_line(line)

    @classmethod
    def register(cls, config, name: str, title: str, lines: list[str]) -> None:
        if not config.pluginmanager.has_plugin(name):
            config.pluginmanager.register(cls(title, lines), name)


def wait_for(condition, what: str, timeout: float = 30):
    end = time.time() + timeout
    while time.time() < end:  # /free is applied by the prompt worker when it is idle
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting until {what}")


def history_messages(entry: dict) -> dict:
    """{message type: data} from a history entry's status messages."""
    return {m[0]: m[1] for m in entry.get("status", {}).get("messages", [])}


def execution_seconds(entry: dict) -> float | None:
    """Server-side execution time of a prompt (execution_start -> success/error/interrupted timestamps)."""
    msgs = history_messages(entry)
    start = msgs.get("execution_start", {}).get("timestamp")
    end = next((msgs[k]["timestamp"] for k in ("execution_success", "execution_error", "execution_interrupted")
                if k in msgs and "timestamp" in msgs[k]), None)
    return (end - start) / 1000 if start is not None and end is not None else None


class WebSocket:
    """Just enough of RFC 6455 to read ComfyUI's JSON messages (text frames); binary frames are skipped."""

    def __init__(self, host: str, port: int, path: str, timeout: float = 30):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                           f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
                           ).encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("websocket handshake: connection closed")
            head += chunk
        head, self.buf = head.split(b"\r\n\r\n", 1)
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise ConnectionError(f"websocket handshake refused: {head[:200]!r}")

    def _read(self, n: int) -> bytes:
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("websocket closed")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _send(self, opcode: int, payload: bytes = b""):
        mask = os.urandom(4)
        header = bytes([0x80 | opcode])
        n = len(payload)
        header += bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack(">H", n)
        self.sock.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def recv(self, timeout: float) -> dict | None:
        """The next JSON message, or None when nothing came within `timeout` seconds."""
        end = time.time() + timeout
        message, kind = b"", None
        while True:
            left = end - time.time()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                b0, b1 = self._read(2)
            except socket.timeout:
                return None
            self.sock.settimeout(max(5.0, left))
            opcode, n = b0 & 0x0F, b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._read(8))[0]
            mask = self._read(4) if b1 & 0x80 else None
            payload = self._read(n)
            if mask:
                payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            if opcode == 0x8:
                raise ConnectionError("websocket closed by the server")
            if opcode == 0x9:
                self._send(0xA, payload)
                continue
            if opcode in (0x1, 0x2):
                message, kind = payload, opcode
            elif opcode == 0x0:
                message += payload
            else:
                continue
            if b0 & 0x80 and kind == 0x1:
                return json.loads(message)

    def prompt_messages(self, prompt_id: str, timeout: float, untagged: bool = False):
        """(type, data) of each message about `prompt_id` until `timeout` seconds have passed or nothing more
        comes; `untagged`: also the messages that name no prompt (progress, on some ComfyUI versions)."""
        end = time.time() + timeout
        while time.time() < end:
            msg = self.recv(timeout=max(0.1, end - time.time()))
            if msg is None:
                return
            data = msg.get("data", {})
            if data.get("prompt_id") == prompt_id or (untagged and data.get("prompt_id") is None):
                yield msg["type"], data

    def close(self):
        try:
            self._send(0x8)
        except OSError:
            pass
        self.sock.close()
