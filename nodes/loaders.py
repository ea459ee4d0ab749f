"""ToonTalker Load Checkpoint."""
from __future__ import annotations

import os

from ..toontalker_core.model.checkpoint import load_model
from ..toontalker_core.app.download import DEMO_ONLY_HINT, fetch_published
from ..toontalker_core.app.offers import installed_name, missing_message, offer_layout, offers
from ..toontalker_core.app.paths import PUBLISHED_FILES
from ..toontalker_core.resources import BUNDLED_DIR
from ..toontalker_core.precision import PRECISIONS, resolve_dtype
from ..toontalker_core.runtime import DEVICES
from .comfy import (auto_dtype, byte_progress, checkpoint_names, checkpoint_path, download_dir, manage,
                    model_devices, models_folder_label, progress_text)
from .payloads import CATEGORY, MODEL, model_uid


class LoadToonTalkerCheckpoint:
    DESCRIPTION = ("Loads a ToonTalker checkpoint (.pth/.pt/.safetensors) from models/toontalker. In-domain "
                   "checkpoints animate real faces with real videos; cross-domain ones (holding a cartoon and a "
                   "real generator) also serve real video -> cartoon and cartoon video -> real. Pickled files are "
                   "read without running code.")
    CATEGORY = CATEGORY
    FUNCTION = "load"
    RETURN_TYPES = (MODEL, "STRING")
    RETURN_NAMES = ("model", "info")
    OUTPUT_TOOLTIPS = ("The loaded ToonTalker model (in-domain or cross-domain).",
                       "What was loaded: layout, domains, resolution, precision and device.")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "ckpt_name": (_choices(), {"tooltip": "Checkpoint file in ComfyUI/models/toontalker (the small bundled "
                                                  "demo model is listed too). A 'download: ...' entry fetches that "
                                                  "published 256 px checkpoint into the folder on the first run, "
                                                  "with progress (cancel keeps the part for resuming); a workflow "
                                                  "saved with it uses the file wherever it is already installed. "
                                                  + DEMO_ONLY_HINT}),
            "device": (list(DEVICES), {"default": "auto",
                                       "tooltip": "auto: ComfyUI's device (GPU when there is one)."}),
            "precision": (list(PRECISIONS), {"default": "auto",
                                             "tooltip": "auto: on a GPU fp16 where ComfyUI finds it fast (a chunk "
                                                        "that overflows is redone in fp32), else bf16, else fp32; on "
                                                        "CPUs with native bf16 bf16 (about 2x faster), else fp32. "
                                                        "fp32 is exact: TF32 is off for this model's work."}),
        }}

    @classmethod
    def VALIDATE_INPUTS(cls, ckpt_name):
        # replaces ComfyUI's "value not in list": an offer is valid with or without its file installed, and a
        # missing file gets a message naming the offer that fetches it
        return missing_message(ckpt_name, checkpoint_names(), models_folder_label()) or True

    @classmethod
    def IS_CHANGED(cls, ckpt_name, device, precision):
        try:  # re-load when the file on disk changes
            st = os.stat(checkpoint_path(_installed(ckpt_name) or ckpt_name))
            return f"{st.st_mtime_ns}:{st.st_size}"
        except OSError:
            return ckpt_name

    def load(self, ckpt_name: str, device: str, precision: str):
        load_device, offload = model_devices(device)
        dtype = auto_dtype(load_device) if precision == "auto" else resolve_dtype(precision, load_device)
        path, downloaded = _resolve(ckpt_name)
        # Weights wait on the offload device; ComfyUI's memory manager moves them when a node needs them.
        model = manage(load_model(path, device=offload, dtype=dtype), load_device, offload)
        model_uid(model)
        info = model.describe()
        if offload != load_device:
            info += f" (runs on {load_device}, managed by ComfyUI)"
        if _only_demo_model():
            info += "\n" + DEMO_ONLY_HINT
        if downloaded:  # the web extension refreshes the checkpoint lists: the new file is listed
            return {"ui": {"toontalker_downloaded": [path.name]}, "result": (model, info)}
        return (model, info)


def _choices() -> list[str]:
    """The installed checkpoints, then offers for the published files that are not installed."""
    names = checkpoint_names()
    return names + offers(names)


def _installed(choice: str) -> str | None:
    """The installed file an offer stands for (None for a plain name, or an offer not installed yet)."""
    layout = offer_layout(choice)
    return installed_name(layout, checkpoint_names()) if layout else None


def _resolve(choice: str):
    """(checkpoint path, whether it was downloaded now) for a list entry."""
    layout = offer_layout(choice)
    if layout is None:
        return checkpoint_path(choice), False
    name = _installed(choice)
    if name is not None:
        return checkpoint_path(name), False
    path = fetch_published(layout, download_dir(), quiet=True, progress=byte_progress(PUBLISHED_FILES[layout]))
    progress_text(f"{path.name}: downloaded and verified ({path.stat().st_size / 2 ** 20:.1f} MB)")
    return path, True


def _only_demo_model() -> bool:
    """True when every listed checkpoint is the pack's bundled demo model (no published weights installed)."""
    try:
        return all(BUNDLED_DIR in checkpoint_path(n).resolve().parents for n in checkpoint_names())
    except OSError:  # a file vanished since the list was made: say nothing rather than fail the load
        return False
