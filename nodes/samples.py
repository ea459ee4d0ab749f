"""On start-up, put the pack's sample media into ComfyUI's input folder so the example workflows run as
loaded. A file that is already there is never replaced (the user may have their own file of that name)."""
from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from ..toontalker_core.atomic import atomic_write
from ..toontalker_core.resources import PACK_ROOT

SAMPLES = PACK_ROOT / "samples"
MEDIA_EXTS = {".png", ".jpg", ".jpeg", ".webp", ".mp4", ".webm", ".mov"}
log = logging.getLogger("ComfyUI-ToonTalker")


def copy_samples(input_dir: str | os.PathLike, samples: Path = SAMPLES) -> list[str]:
    """Copy each sample that `input_dir` lacks; -> the names copied. Never overwrites, never raises."""
    copied = []
    try:
        target = Path(input_dir)
        target.mkdir(parents=True, exist_ok=True)
        for src in sorted(samples.iterdir()):
            dest = target / src.name
            if src.suffix.lower() not in MEDIA_EXTS or dest.exists():
                continue
            try:  # atomic, with the usual file mode, and never over a file that appeared meanwhile
                with atomic_write(dest, replace=False) as tmp:
                    shutil.copyfile(src, tmp)
            except FileExistsError:
                continue
            copied.append(src.name)
    except OSError as e:  # a read-only or odd input folder must not break the pack's import
        log.warning("ToonTalker: could not copy the sample media into %s (%s); copy samples/ by hand", input_dir, e)
    if copied:
        log.info("ToonTalker: copied sample media for the example workflows into %s: %s", input_dir,
                 ", ".join(copied))
    return copied


def copy_samples_to_comfy_input() -> None:
    try:
        import folder_paths  # type: ignore
    except ImportError:  # not inside ComfyUI
        return
    copy_samples(folder_paths.get_input_directory())
