"""Shared by reading and writing: file kinds, default frame rate, error wording."""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Union

from ..errors import MediaError

PathLike = Union[str, "os.PathLike[str]"]

IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"}
VIDEO_EXTS = {".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".gif"}
DEFAULT_FPS = 25.0


def short_reason(exc: BaseException, limit: int = 120) -> str:
    """FFmpeg/PIL messages often repeat the path and an errno; keep only the human part."""
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    text = " ".join(str(text).split())
    if isinstance(exc, EOFError) or text == "End of file":
        text = "the file is empty or truncated"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def require_exists(path: Path, what: str) -> None:
    if not path.exists():
        raise MediaError(f"{what} not found: {path} (check the path)")


def natural_key(name: str) -> tuple:
    """Sort key so that frame2 < frame10 (digit runs compare as numbers)."""
    parts = re.split(r"(\d+)", name.lower())
    return tuple(int(p) if p.isdigit() else p for p in parts), name

