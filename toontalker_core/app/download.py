"""Fetch the published ToonTalker checkpoints (or any direct link), verified before they are put in place.

    python -m toontalker_core download [--to DIR] [--which in-domain|cross-domain|both] [--safetensors]
    python -m toontalker_core download --url URL [--name FILE] [--to DIR] [--safetensors]

The authors publish `in-domain440000.pth` (real -> real) and `cross-domain.pth` (real <-> cartoon) in a Google
Drive folder; Drive needs its own client, `gdown` (an optional dependency: `pip install gdown`). `--url` takes
any direct HTTP(S) link (a mirror) and needs nothing extra: it resumes an interrupted download with an HTTP
Range request.

$TOONTALKER_WEIGHTS_MIRROR (a base URL) replaces the Drive folder with direct links: the published files are
fetched from `<mirror>/<file name>` like `--url` (no gdown; the node tests point it at a local server).

Every file is downloaded into a hidden staging folder inside DIR, checked by loading it through the safe loader
(no pickled code runs; the tensors must match the ToonTalker layout) and only then renamed into DIR, so DIR
never holds a partial or unverified checkpoint. A refused file is deleted.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Callable

from ..atomic import child_path, place_new
from ..model.checkpoint import CHECKPOINT_EXTS, build_model, convert, read_states
from ..errors import CheckpointError, ToonTalkerError
from .offers import offer
from .paths import BUNDLED_DIR, PUBLISHED_FILES, model_dirs

DRIVE_FOLDER = "https://drive.google.com/drive/folders/1k14D7JnZXOJMEMBkTIsy-WEV7qEb3rCs"
PROJECT_PAGE = "https://opentalker.github.io/ToonTalker/"  # code: https://github.com/OpenTalker/ToonTalker
STAGING = ".toontalker-download"
DEMO_ONLY_HINT = (f"Only the 64 px demo model is installed: for real quality pick '{offer('cross-domain')}' "
                  "(real<->cartoon) or the in-domain one (real->real) in Load ToonTalker Checkpoint, or put the "
                  f"authors' {PUBLISHED_FILES['cross-domain']} and {PUBLISHED_FILES['in-domain']} from "
                  + DRIVE_FOLDER + " in ComfyUI/models/toontalker, or run `python -m toontalker_core download` "
                  "(Drive needs gdown); see the pack's README, Checkpoints.")
CHUNK = 1 << 20
MIRROR_VAR = "TOONTALKER_WEIGHTS_MIRROR"
# progress(bytes so far, total bytes or None): called as the download goes; it may raise to stop it (the
# partial file stays for resuming), e.g. ComfyUI's interrupt.
Progress = Callable[[int, "int | None"], None]


class DownloadError(ToonTalkerError):
    """A download that failed or a file that is not a usable checkpoint."""


def default_dir() -> Path:
    """Where the loader looks first: $TOONTALKER_MODELS, ComfyUI's models/toontalker, the pack's models/."""
    return next(d for d in model_dirs() if d != BUNDLED_DIR)


# ------------------------------------------------------------------------------------------ verification

def verify(path: Path) -> str:
    """Load `path` through the safe loader (layout check) -> the model's one-line description."""
    try:
        data = read_states(path)
        model = build_model(data["states"], data["config"], origin=path.name)
    except CheckpointError as e:
        raise DownloadError(f"the downloaded file is not a usable ToonTalker checkpoint, deleted: {e}") from None
    return model.describe()


def _keep_present(present: Path, log: Callable[[str], None]) -> Path:
    """A file already in the model folder under the download's name: kept and verified, never replaced."""
    log(f"{present} exists: verifying it instead of downloading again")
    try:
        verify(present)
    except DownloadError:
        raise DownloadError(f"{present} exists and is not a usable ToonTalker checkpoint; refusing to replace it. "
                            "Move it away, or pass --name / --to to save the download elsewhere") from None
    return present


def _publish(staged: Path, dest_dir: Path, to_safetensors: bool, log: Callable[[str], None]) -> Path:
    """Verify a complete staged file, then move it (or its .safetensors conversion) into dest_dir."""
    try:
        log(f"verifying {staged.name} ...")
        about = verify(staged)
        if to_safetensors and staged.suffix.lower() != ".safetensors":
            # overwrite: a conversion left in our own staging folder by a killed run
            converted = convert(staged, staged.with_suffix(".safetensors"), overwrite=True)
            staged.unlink()
            staged = converted
        final = dest_dir / staged.name
        try:
            place_new(staged, final)
        except FileExistsError:  # appeared meanwhile, or a --safetensors twin of a user's file
            raise DownloadError(f"{final} already exists; refusing to replace it with the download. Move it away, "
                                "or pass --name / --to to save the download elsewhere") from None
    finally:
        staged.unlink(missing_ok=True)
        _drop_staging(staged.parent)
    log(f"ok: {final} ({about})")
    return final


def _drop_staging(staging: Path) -> None:
    try:
        staging.rmdir()  # only when empty: a partial download of another file stays for resuming
    except OSError:
        pass


# ------------------------------------------------------------------------------------------ direct links

def _name_from(url: str, headers) -> str | None:
    disposition = headers.get("Content-Disposition", "") if headers else ""
    m = re.search(r"filename\*?=(?:UTF-8'')?\"?([^\";]+)\"?", disposition)
    name = urllib.parse.unquote(m.group(1)) if m else Path(urllib.parse.urlparse(url).path).name
    name = Path(name).name  # never a path from the server
    return name or None


def _progress(total: int | None, initial: int, name: str, quiet: bool):
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit="B", unit_scale=True, unit_divisor=1024, desc=name,
                disable=quiet, file=sys.stderr)


def fetch_url(url: str, dest_dir: Path, name: str | None = None, to_safetensors: bool = False,
              quiet: bool = False, timeout: float = 60, progress: Progress | None = None) -> Path:
    """Download a direct link into dest_dir (resumable), verify it, and return the checkpoint's path.
    `progress` is told the bytes so far after every chunk (see Progress)."""
    log = (lambda m: None) if quiet else (lambda m: print(m, file=sys.stderr))
    if urllib.parse.urlparse(url).scheme not in ("http", "https"):
        raise DownloadError(f"--url {url}: only http:// and https:// links can be downloaded")
    dest_dir = Path(dest_dir)
    staging = dest_dir / STAGING
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout)
        head = response.headers
        response.close()
    except (urllib.error.URLError, OSError, ValueError):
        head = None  # some servers refuse HEAD; the GET below reports real errors
    if name is not None:
        child_path(dest_dir, name, DownloadError)  # --name is a file name inside the model folder
    name = name or _name_from(url, head)
    if not name or Path(name).suffix.lower() not in CHECKPOINT_EXTS:
        raise DownloadError(f"cannot tell a checkpoint file name from {url} (got {name!r}); pass --name FILE.pth "
                            "or FILE.safetensors")
    final = dest_dir / name
    present = next((p for p in (final, final.with_suffix(".safetensors") if to_safetensors else None)
                    if p is not None and p.exists()), None)
    if present is not None:
        return _keep_present(present, log)
    staging.mkdir(parents=True, exist_ok=True)
    part = staging / (name + ".part")
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:  # the partial file is already complete
            response = None
        else:
            _drop_staging(staging)
            raise DownloadError(f"{url}: HTTP {e.code} {e.reason}") from None
    except (urllib.error.URLError, OSError) as e:
        _drop_staging(staging)
        raise DownloadError(f"{url}: cannot connect ({getattr(e, 'reason', e)})") from None
    if response is not None:
        with response:
            resumed = have and response.status == 206
            if have and not resumed:
                log("the server does not resume downloads: starting over")
                have = 0
            length = response.headers.get("Content-Length")
            total = have + int(length) if length and length.isdigit() else None
            if have:
                log(f"resuming {name} at {have} bytes")
            bar = _progress(total, have, name, quiet)
            done = have
            try:
                with open(part, "ab" if resumed else "wb") as f:
                    if progress is not None:
                        progress(done, total)
                    while chunk := response.read(CHUNK):
                        f.write(chunk)
                        bar.update(len(chunk))
                        done += len(chunk)
                        if progress is not None:
                            progress(done, total)  # may raise (interrupt): what is written stays in `part`
            except (OSError, urllib.error.URLError) as e:  # the partial file stays for the next run
                raise DownloadError(f"{url}: the download broke off ({e}); run the same command again to "
                                    "resume") from None
            finally:
                bar.close()
            if total is not None and part.stat().st_size != total:
                raise DownloadError(f"{url}: got {part.stat().st_size} of {total} bytes; run the same command "
                                    "again to resume")
    staged = staging / name
    os.replace(part, staged)
    return _publish(staged, dest_dir, to_safetensors, log)


# ------------------------------------------------------------------------------------------ Google Drive

def _gdown():
    try:
        import gdown  # noqa: PLC0415 - optional dependency
    except ImportError:
        raise DownloadError(
            f"downloading from Google Drive needs the 'gdown' package: run `{sys.executable} -m pip install gdown` "
            "(the Python that runs this, ComfyUI's when in ComfyUI), then try again. Or download the files by hand "
            f"from {DRIVE_FOLDER} into the model folder, or use a direct link (the CLI's --url, or "
            f"${MIRROR_VAR}).") from None
    return gdown


# gdown in a child Python: it reports no progress and cannot be stopped in-process (see _drive_download)
GDOWN_CHILD = ("import sys, gdown\n"
               "sys.exit(0 if gdown.download(id=sys.argv[1], output=sys.argv[2], quiet=True, resume=True) else 1)")
POLL_S = 0.5


def _partial_bytes(staged: Path) -> int:
    """Bytes gdown has written for `staged`: its partial file(s) (`<name>...part` beside it), or the file."""
    if staged.exists():
        return staged.stat().st_size
    return sum(p.stat().st_size for p in staged.parent.glob(staged.name + "*.part") if p.is_file())


def _drive_download(gdown, file_id: str, staged: Path, quiet: bool, progress: Progress | None) -> None:
    """gdown's resumable download of one Drive file into `staged` (it keeps its own .part file beside it).
    With `progress`, gdown runs in a child process so that the bytes can be reported while it runs (size
    unknown) and a stop request, `progress` raising, ends it at once; the part stays for the next run.
    A failed download is a DownloadError; what `progress` raises passes through."""
    def failed(reason: str) -> DownloadError:
        return DownloadError(f"{staged.name}: the Google Drive download failed ({reason[:200]}); run it again to "
                             "resume")

    if progress is None:
        try:
            gdown.download(id=file_id, output=str(staged), quiet=quiet, resume=True)
        except Exception as e:  # gdown raises its own types; one line for the user
            raise failed((str(e).splitlines() or [type(e).__name__])[0]) from None
        return
    progress(_partial_bytes(staged), None)
    child = subprocess.Popen([sys.executable, "-c", GDOWN_CHILD, file_id, str(staged)],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        while True:
            try:
                child.wait(POLL_S)
                break
            except subprocess.TimeoutExpired:
                progress(_partial_bytes(staged), None)
    except BaseException:
        child.terminate()
        child.wait()
        raise
    finally:
        err = child.stderr.read().strip().splitlines() if child.returncode is not None else []
        child.stderr.close()
    if child.returncode != 0 or not staged.exists():
        raise failed(err[-1] if err else f"gdown exited with {child.returncode}")


def fetch_drive(which: str, dest_dir: Path, to_safetensors: bool = False, quiet: bool = False,
                progress: Progress | None = None) -> list[Path]:
    """Download the published files (`which`: in-domain, cross-domain or both) from the authors' folder.
    `progress` hears the bytes so far, without a total (Drive's listing has no sizes), then the file's size
    as both once it is complete."""
    log = (lambda m: None) if quiet else (lambda m: print(m, file=sys.stderr))
    gdown = _gdown()
    wanted = list(PUBLISHED_FILES) if which == "both" else [which]
    dest_dir = Path(dest_dir)
    done = []
    todo = []
    for layout in wanted:
        name = PUBLISHED_FILES[layout]
        final = dest_dir / name
        converted = final.with_suffix(".safetensors")
        present = final if final.exists() else converted if converted.exists() else None
        if present:
            done.append(_keep_present(present, log))
        else:
            todo.append(name)
    if not todo:
        return done
    log(f"listing {DRIVE_FOLDER} ...")
    try:
        listing = gdown.download_folder(url=DRIVE_FOLDER, skip_download=True, quiet=True)
    except Exception as e:  # gdown raises its own types; one line for the user
        raise DownloadError(f"cannot list the Google Drive folder {DRIVE_FOLDER}: {str(e).splitlines()[0][:200]}; "
                            "download the files by hand into the model folder") from None
    by_name = {Path(f.path).name: f for f in listing or []}
    staging = dest_dir / STAGING
    staging.mkdir(parents=True, exist_ok=True)
    for name in todo:
        entry = by_name.get(name)
        if entry is None:
            _drop_staging(staging)
            raise DownloadError(f"{name} is not in {DRIVE_FOLDER} (found: {', '.join(sorted(by_name)) or 'nothing'})")
        staged = staging / name
        # gdown resumes from its own .part file in the staging folder and renames when complete
        _drive_download(gdown, entry.id, staged, quiet, progress)
        if progress is not None:
            progress(staged.stat().st_size, staged.stat().st_size)
        done.append(_publish(staged, dest_dir, to_safetensors, log))
    return done


def mirror_url(layout: str) -> str | None:
    """The direct link of a published file when $TOONTALKER_WEIGHTS_MIRROR names a mirror, else None."""
    base = os.environ.get(MIRROR_VAR, "").strip()
    return f"{base.rstrip('/')}/{urllib.parse.quote(PUBLISHED_FILES[layout])}" if base else None


def fetch_published(layout: str, dest_dir: Path, to_safetensors: bool = False, quiet: bool = False,
                    progress: Progress | None = None) -> Path:
    """One published checkpoint into dest_dir: from the mirror when one is set (with `progress`), else from
    the authors' Drive folder."""
    url = mirror_url(layout)
    if url is not None:
        return fetch_url(url, dest_dir, PUBLISHED_FILES[layout], to_safetensors, quiet, progress=progress)
    return fetch_drive(layout, dest_dir, to_safetensors, quiet, progress=progress)[0]


def main(args) -> list[Path]:
    dest = Path(args.to) if args.to else default_dir()
    dest.mkdir(parents=True, exist_ok=True)
    if args.url:
        return [fetch_url(args.url, dest, args.name, args.safetensors, args.quiet)]
    if args.name:
        raise DownloadError("--name only applies to --url")
    if os.environ.get(MIRROR_VAR, "").strip():
        wanted = list(PUBLISHED_FILES) if args.which == "both" else [args.which]
        return [fetch_published(layout, dest, args.safetensors, args.quiet) for layout in wanted]
    return fetch_drive(args.which, dest, args.safetensors, args.quiet)


def add_parser(sub) -> None:
    p = sub.add_parser("download", help="download the published checkpoints (Google Drive via gdown) or a direct "
                                        "link, verified before use",
                       description=__doc__.split("\n\n")[0] + f"\n\nAuthors' folder: {DRIVE_FOLDER}")
    p.add_argument("--to", metavar="DIR", help=f"model folder (default: {default_dir()})")
    p.add_argument("--which", choices=(*PUBLISHED_FILES, "both"), default="both",
                   help="which published checkpoint (default: both)")
    p.add_argument("--url", help="a direct http(s) link to a checkpoint instead of the authors' Drive folder")
    p.add_argument("--name", help="file name to save a --url download as (default: from the server or the URL)")
    p.add_argument("--safetensors", action="store_true",
                   help="store as .safetensors (memory-mapped, faster to load; the .pth is not kept)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
