"""The few ComfyUI services the nodes use, with small stand-ins when ComfyUI is absent (tests, scripts).

`folder_paths`, `comfy.utils.ProgressBar` and `comfy.model_management` are imported lazily, so importing
the pack never loads a model or touches a GPU.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch

from ..toontalker_core.checkpoint import CHECKPOINT_EXTS
from ..toontalker_core.paths import BUNDLED_DIR, list_checkpoints, model_dirs

FOLDER = "toontalker"

try:  # ComfyUI present
    import folder_paths  # type: ignore
except ImportError:  # pragma: no cover - depends on the host
    folder_paths = None

try:
    import comfy.model_management as model_management  # type: ignore
    from comfy.utils import ProgressBar  # type: ignore
except ImportError:
    model_management = None

    class ProgressBar:  # minimal stand-in with the same interface
        def __init__(self, total: int):
            self.total, self.current = total, 0

        def update(self, value: int):
            self.current += value

        def update_absolute(self, value: int, total: int | None = None, preview=None):
            self.current = value
            if total is not None:
                self.total = total


def register_model_folder() -> None:
    """`models/toontalker` (+ the bundled demo model) as a ComfyUI model folder for .pt/.pth/.safetensors."""
    if folder_paths is None:
        return
    default = os.path.join(folder_paths.models_dir, FOLDER)
    os.makedirs(default, exist_ok=True)
    dirs, exts = folder_paths.folder_names_and_paths.get(FOLDER, ([], set()))
    dirs = list(dirs)
    for d in (default, str(BUNDLED_DIR)):
        if d not in dirs:
            dirs.append(d)
    folder_paths.folder_names_and_paths[FOLDER] = (dirs, set(exts) | CHECKPOINT_EXTS)


def checkpoint_names() -> list[str]:
    if folder_paths is not None:
        return sorted(folder_paths.get_filename_list(FOLDER))
    return sorted({p.name for p in list_checkpoints()})


def checkpoint_path(name: str) -> Path:
    if folder_paths is not None:
        path = folder_paths.get_full_path(FOLDER, name)
        if path:
            return Path(path)
    for d in model_dirs():
        if (d / name).is_file():
            return d / name
    where = "ComfyUI/models/toontalker" if folder_paths is not None else ", ".join(map(str, model_dirs()))
    raise FileNotFoundError(f"checkpoint '{name}' not found; put it in {where} and refresh the node")


def torch_device(choice: str) -> torch.device:
    if choice == "auto" and model_management is not None:
        return model_management.get_torch_device()
    from ..toontalker_core.runtime import resolve_device

    return resolve_device(choice)


def intermediate_device() -> torch.device:
    """Where IMAGE outputs live (CPU unless ComfyUI runs with --gpu-only)."""
    return model_management.intermediate_device() if model_management is not None else torch.device("cpu")


def check_interrupt() -> None:
    if model_management is not None:
        model_management.throw_exception_if_processing_interrupted()


def save_preview(image01: torch.Tensor) -> dict | None:
    """Save [3,H,W] in 0..1 to ComfyUI's temp folder for a preview on the node (None without ComfyUI)."""
    if folder_paths is None:
        return None
    import uuid

    import numpy as np
    from PIL import Image

    name = f"toontalker_crop_{uuid.uuid4().hex[:12]}.png"
    arr = (image01.detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255).round().astype(np.uint8)
    Image.fromarray(arr).save(os.path.join(folder_paths.get_temp_directory(), name), compress_level=1)
    return {"filename": name, "subfolder": "", "type": "temp"}
