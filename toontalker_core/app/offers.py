"""The published checkpoints offered in a model list (ComfyUI's loader) while they are not installed.

An offer is a list entry such as "download: cross-domain.pth (published, 256 px)". A workflow saved with an offer
works everywhere: where the file (or its .safetensors conversion) is installed the offer resolves to it and
nothing is downloaded; where it is missing, running the workflow downloads it. A workflow saved with the file
name itself needs that file; where it is missing, `missing_message` says which offer fetches it.
"""
from __future__ import annotations

from pathlib import Path

from .paths import PUBLISHED_FILES

PREFIX = "download: "


def offer(layout: str) -> str:
    """The list entry that downloads the published `layout` ("in-domain" / "cross-domain")."""
    return f"{PREFIX}{PUBLISHED_FILES[layout]} (published, 256 px)"


def offer_layout(choice: str) -> str | None:
    """The layout an entry offers, or None when it is a plain file name."""
    return next((layout for layout in PUBLISHED_FILES if offer(layout) == choice), None)


def installed_name(layout: str, names: list[str]) -> str | None:
    """The published file of `layout` among the listed names, as published or converted to .safetensors."""
    published = PUBLISHED_FILES[layout]
    for name in (published, str(Path(published).with_suffix(".safetensors"))):
        if name in names:
            return name
    return None


def offers(names: list[str]) -> list[str]:
    """Offers for the published files that are not among `names` (the installed checkpoints)."""
    return [offer(layout) for layout in PUBLISHED_FILES if installed_name(layout, names) is None]


def missing_message(name: str, names: list[str], where: str) -> str | None:
    """None when `name` (a list entry) can be loaded; else one line naming the fix."""
    if offer_layout(name) is not None or name in names:
        return None
    fix = next((f"choose '{offer(layout)}' in the list to download it, or put the file there"
                for layout, published in PUBLISHED_FILES.items()
                if name in (published, str(Path(published).with_suffix(".safetensors")))),
               "put the file there, or choose another checkpoint")
    return f"checkpoint '{name}' is not in {where}: {fix}, then refresh (R)"
