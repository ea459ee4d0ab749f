"""Writing outputs atomically, and the filesystem checks made before writing starts.

Everything is written to a hidden temp name beside the target and renamed onto it only when complete, so a
crash, an error or an interrupt never leaves a half-written file where the user expects a finished one. The
temp name carries the writer's host and process id: a run that was killed (SIGKILL, power loss) cannot clean
up after itself, so the next write to the same target removes temps whose process is gone.

Used by media (FrameWriter), checkpoints (save/convert) and the trainer.
"""
from __future__ import annotations

import os
import re
import shutil
import socket
import stat
import sys
import tempfile
import uuid
import zlib
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator

from .errors import ToonTalkerError

_TMP_SUFFIX = ".toontalker-tmp"
_TMP_NAME = re.compile(r"^\.(?P<name>.+)\.(?P<host>[0-9a-f]{4})-(?P<pid>\d+)-[0-9a-f]{8}" + re.escape(_TMP_SUFFIX) + "$")


def _host_tag() -> str:
    return f"{zlib.crc32(socket.gethostname().encode()) & 0xFFFF:04x}"


def temp_path(out: Path) -> Path:
    """A fresh hidden temp name beside `out`: .<name>.<host>-<pid>-<random>.toontalker-tmp"""
    return out.with_name(f".{out.name}.{_host_tag()}-{os.getpid()}-{uuid.uuid4().hex[:8]}{_TMP_SUFFIX}")


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    if sys.platform == "win32":
        import ctypes

        handle = ctypes.windll.kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return False
        code = ctypes.c_ulong()
        ctypes.windll.kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
        ctypes.windll.kernel32.CloseHandle(handle)
        return code.value == 259  # STILL_ACTIVE
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by someone else
    return True


def remove_stale_temps(out: Path) -> list[Path]:
    """Remove the temps a killed run left beside `out` (same host, process gone). -> what was removed."""
    removed = []
    try:
        siblings = list(out.parent.iterdir())
    except OSError:
        return removed
    host = _host_tag()
    for p in siblings:
        m = _TMP_NAME.match(p.name)
        if m and m["name"] == out.name and m["host"] == host and not _pid_alive(int(m["pid"])):
            remove(p)
            removed.append(p)
    return removed


def remove(path: Path) -> None:
    """Delete a file, link or folder tree if it exists."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink(missing_ok=True)


def move_into_place(tmp: Path, out: Path) -> None:
    """Rename tmp -> out, replacing out. Files swap atomically; folders via a short-lived backup."""
    if not (out.exists() and (out.is_dir() or tmp.is_dir())):
        os.replace(tmp, out)
        return
    backup = temp_path(out)
    os.replace(out, backup)
    try:
        os.replace(tmp, out)
    except BaseException:
        os.replace(backup, out)
        raise
    remove(backup)


def place_new(tmp: Path, out: Path) -> None:
    """Move file tmp -> out, never over a file at `out` (FileExistsError), not even one that appeared a moment
    ago: a hard link is atomic and refuses to replace."""
    try:
        os.link(tmp, out)
    except FileExistsError:
        raise
    except OSError:  # no hard links on this file system
        if out.exists() or out.is_symlink():
            raise FileExistsError(str(out)) from None
        os.replace(tmp, out)
        return
    remove(tmp)


def _umask() -> int:
    """The process umask, read without changing it where the OS tells it (Linux); else the set-and-restore
    call (a brief window in which another thread's new file would get mode 0o777/0o666)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


class AtomicTarget:
    """The temp path for one output and its fate: `commit()` renames it onto the target, `discard()` deletes it.

    Opening removes stale temps of killed runs for the same target (and creates missing parent folders).
    """

    def __init__(self, out: Path, folder: bool = False) -> None:
        self.out = Path(out)
        self.out.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(self.out)
        self.tmp: Path | None = temp_path(self.out)
        if folder:
            self.tmp.mkdir()

    def commit(self, replace: bool = True) -> None:
        """Put the temp in place. replace=False: never over a file that exists (FileExistsError), even one that
        appeared while writing (a hard link is atomic and refuses to replace)."""
        if self.tmp.is_file():  # some writers (safetensors, mkstemp) create 0o600 files: give the usual mode
            os.chmod(self.tmp, 0o666 & ~_umask())
        (move_into_place if replace else place_new)(self.tmp, self.out)
        self.tmp = None

    def discard(self) -> None:
        if self.tmp is not None:
            remove(self.tmp)
            self.tmp = None


@contextmanager
def atomic_write(out: str | os.PathLike, folder: bool = False, replace: bool = True) -> Iterator[Path]:
    """`with atomic_write(out) as tmp: write(tmp)` -> `out` appears complete, or not at all (replace=False: and
    never over an existing file: FileExistsError)."""
    target = AtomicTarget(Path(out), folder)
    try:
        yield target.tmp
        target.commit(replace)
    finally:
        target.discard()


# -- checks before writing --------------------------------------------------------------------------------
def describe(path: Path) -> str:
    """'a folder', 'a FIFO', 'a device', 'a file' ... for messages about what sits at `path`."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return "a broken link" if path.is_symlink() else "nothing"
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a file"


def is_regular_file(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def same_file_input(out: Path, inputs: Iterable) -> Path | None:
    """The first input that is `out` itself (links resolved, inodes compared) or lies inside folder `out`."""
    if not (out.exists() or out.is_symlink()):
        return None
    out_real = Path(os.path.realpath(out))
    for inp in inputs:
        if inp is None:
            continue
        inp = Path(inp)
        if not inp.exists():
            continue
        try:
            if os.path.samefile(out, inp):
                return inp
        except OSError:
            continue
        if out.is_dir() and out_real in Path(os.path.realpath(inp)).parents:
            return inp
    return None


def check_writable(out: Path, error: type[ToonTalkerError] = ToonTalkerError) -> None:
    """Raise `error` unless `out` can be created: its nearest existing ancestor is a writable folder."""
    parent = out.parent
    while not (parent.exists() or parent.is_symlink()) and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise error(f"cannot write {out}: {parent} is {describe(parent)}, not a folder; choose another output path")
    try:  # os.access is not enough (root, read-only mounts, ACLs): create and delete a probe file
        fd, probe = tempfile.mkstemp(dir=parent, prefix=".toontalker-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise error(f"cannot write {out}: {parent} is not writable ({e.strerror or e}); "
                    "choose another output path") from None


# -- what may be replaced ----------------------------------------------------------------------------------
# One rule for every writer (videos, arrays, checkpoints, motion files, downloads): an existing file is
# replaced only when it already holds the same kind of content, told by its first bytes, never by its name
# (`-o thesis.mp4` must not eat a text file that happens to be called that). Empty files hold nothing to lose.
def _head(path: Path, n: int = 16) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(n)
    except OSError:
        return b""


def holds_video(path: Path) -> bool:
    """MP4/MOV (an ISO-BMFF box: ftyp, moov, mdat, free, wide, skip) or Matroska/WebM (EBML magic)."""
    head = _head(path)
    return head[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip") or head[:4] == b"\x1a\x45\xdf\xa3"


def holds_npy(path: Path) -> bool:
    return _head(path, 6) == b"\x93NUMPY"


def holds_safetensors(path: Path) -> bool:
    """An 8-byte little-endian header length that fits the file, then a JSON object."""
    head = _head(path, 9)
    if len(head) < 9:
        return False
    size = int.from_bytes(head[:8], "little")
    try:
        return head[8:9] == b"{" and 8 + size <= os.path.getsize(path)
    except OSError:
        return False


def holds_torch(path: Path) -> bool:
    """torch.save's zip archive, or the legacy pickle format (protocol 2+)."""
    head = _head(path, 4)
    return head == b"PK\x03\x04" or head[:1] == b"\x80"


def holds_checkpoint(path: Path) -> bool:
    return holds_safetensors(path) or holds_torch(path)


def check_replaceable(out: Path, kind: str, holds, error: type[ToonTalkerError] = ToonTalkerError) -> None:
    """Raise `error` when `out` exists and is not a file that `holds` says is `kind` (or an empty file)."""
    out = Path(out)
    if not (out.exists() or out.is_symlink()):
        return
    if not is_regular_file(out):
        raise error(f"{out} already exists and is {describe(out)}; refusing to replace it. Choose another path")
    try:
        empty = os.path.getsize(out) == 0
    except OSError:
        empty = False
    if not empty and not holds(out):
        raise error(f"{out} already exists and does not hold {kind}; refusing to replace it (it would be "
                    "lost). Choose another path, or move that file away")


def child_path(folder: Path, name: str, error: type[ToonTalkerError] = ToonTalkerError) -> Path:
    """`folder`/`name` for a plain file name; a name that would leave `folder` (a path, '..', '.') is refused."""
    if not name or name in (".", "..") or Path(name).name != name or "/" in name or "\\" in name:
        raise error(f"{name!r} is not a plain file name; give a name without folders (it must stay in {folder})")
    return Path(folder) / name
