"""Where checkpoints are looked for when none is given."""
from __future__ import annotations

import os
from pathlib import Path

from ..model.checkpoint import CHECKPOINT_EXTS
from ..errors import CheckpointError
from ..resources import BUNDLED_DIR, PACK_ROOT  # noqa: F401  (re-exported: where the pack's files are)

ENV_VAR = "TOONTALKER_MODELS"
# The authors' published files, per layout (what each holds), and the file-name stems that mark a layout.
PUBLISHED_FILES = {
    "in-domain": "in-domain440000.pth",      # real video drives a real portrait
    "cross-domain": "cross-domain.pth",      # cartoon + real generators: r2c, c2r (and r2r / c2c)
}
PUBLISHED = {"in-domain": ("in-domain", "indomain"), "cross-domain": ("cross-domain", "crossdomain")}


def model_dirs() -> list[Path]:
    """$TOONTALKER_MODELS (os.pathsep-separated), ComfyUI's models/toontalker when the pack sits in
    ComfyUI/custom_nodes, models/toontalker inside the pack, and last the small bundled demo model."""
    dirs = [Path(p) for p in os.environ.get(ENV_VAR, "").split(os.pathsep) if p]
    if PACK_ROOT.parent.name == "custom_nodes":
        dirs.append(PACK_ROOT.parent.parent / "models" / "toontalker")
    dirs.append(PACK_ROOT / "models" / "toontalker")
    dirs.append(BUNDLED_DIR)
    return dirs


def list_checkpoints(dirs: list[Path] | None = None) -> list[Path]:
    found = []
    for d in dirs or model_dirs():
        if d.is_dir():
            found += sorted(p for p in d.iterdir() if p.suffix.lower() in CHECKPOINT_EXTS and p.is_file())
    return found


def find_checkpoint(layout: str) -> Path:
    """The first file in the model folders whose name marks it as `layout` ("in-domain"/"cross-domain")."""
    stems = PUBLISHED[layout]
    for path in list_checkpoints():
        name = path.name.lower().replace("_", "-")
        if any(name.startswith(s) for s in stems):
            return path
    where = ", ".join(str(d) for d in model_dirs())
    example = PUBLISHED_FILES[layout]
    raise CheckpointError(
        f"no {layout} ToonTalker checkpoint found. Put the published '{example}' (or a .safetensors "
        f"converted from it) in one of: {where} — or set ${ENV_VAR}, or pass --checkpoint FILE")
