"""The few ComfyUI services the nodes use, with small stand-ins when ComfyUI is absent (tests, scripts).

Importing the pack never loads a model or touches a GPU. Model management (as ComfyUI's own VAE / CLIP vision
models do it): the loader wraps the model in a `comfy.model_patcher.ModelPatcher` (`manage`), and every node
that computes with it calls `load_for_compute` first, so ComfyUI's memory manager can offload it for a diffusion
model, unload it on "Unload models", and bring it back by itself on the next run. Without ComfyUI both are
no-ops and the model is a plain PyTorch module on the device the user chose.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch

from ..toontalker_core.model.checkpoint import CHECKPOINT_EXTS
from ..toontalker_core.model.cache import cache_of
from ..toontalker_core.app.paths import BUNDLED_DIR, list_checkpoints, model_dirs

FOLDER = "toontalker"

try:  # ComfyUI present
    import folder_paths  # type: ignore
except ImportError:  # pragma: no cover - depends on the host
    folder_paths = None

try:
    import comfy.model_management as model_management  # type: ignore
    from comfy.model_patcher import ModelPatcher  # type: ignore
    from comfy.utils import ProgressBar  # type: ignore
except ImportError:
    model_management = ModelPatcher = None

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
    raise FileNotFoundError(f"checkpoint '{name}' not found; put it in {models_folder_label()} and refresh the "
                            "node")


def models_folder_label() -> str:
    """How messages name the model folder."""
    return "ComfyUI/models/toontalker" if folder_paths is not None else ", ".join(map(str, model_dirs()))


def download_dir() -> Path:
    """Where the loader puts a downloaded checkpoint: ComfyUI's models/toontalker (the core's default folder
    without ComfyUI)."""
    if folder_paths is not None:
        return Path(folder_paths.models_dir) / FOLDER
    from ..toontalker_core.app.download import default_dir

    return default_dir()


def byte_progress(name: str):
    """A downloader progress callback (toontalker_core.app.download.Progress): ComfyUI's progress bar on the
    running node once the size is known, the megabytes as text on it, and ComfyUI's interrupt, which raises
    and so stops the download (the partial file stays for the next run)."""
    bar = None

    def report(done: int, total: int | None) -> None:
        nonlocal bar
        check_interrupt()
        of = f" of {total / 2 ** 20:.1f}" if total else ""
        progress_text(f"downloading {name}: {done / 2 ** 20:.1f}{of} MB")
        if total:
            if bar is None:
                bar = ProgressBar(total)
            bar.update_absolute(done, total)
    return report


def torch_device(choice: str) -> torch.device:
    if choice == "auto" and model_management is not None:
        return model_management.get_torch_device()
    from ..toontalker_core.runtime import resolve_device

    return resolve_device(choice)


# -- model management ---------------------------------------------------------------------------------------
def model_devices(choice: str) -> tuple[torch.device, torch.device]:
    """(load device, offload device) for the loader's `device` choice. ComfyUI's own device gets ComfyUI's
    offload device (CPU, or the GPU itself with --highvram/--gpu-only); any other device is kept as is."""
    load = torch_device(choice)
    if model_management is None:
        return load, load
    comfy_dev = model_management.get_torch_device()
    if load.type != comfy_dev.type:
        return load, load
    return comfy_dev, model_management.unet_offload_device()


def auto_dtype(device: torch.device) -> torch.dtype:
    """Precision `auto`, from ComfyUI's verdict on the device: on GPUs fp16 where ComfyUI finds fp16 good (the
    pack's measured choice: bf16's speed with 6.5x less error, see toontalker_core/precision.py), else bf16
    where it finds bf16 good, else fp32; --force-fp32/--force-fp16 are respected through those answers. On the
    CPU ComfyUI never picks a half type, but this model measured ~2x faster in bf16 on CPUs with native bf16,
    so the core's policy applies there unless --force-fp32 is set."""
    from ..toontalker_core.precision import resolve_dtype

    if model_management is None:
        return resolve_dtype("auto", device)
    if device.type == "cpu":
        return torch.float32 if getattr(model_management, "FORCE_FP32", False) else resolve_dtype("auto", device)
    if model_management.should_use_fp16(device, prioritize_performance=True):
        return torch.float16
    if model_management.should_use_bf16(device, prioritize_performance=True):
        return torch.bfloat16
    return torch.float32


class ToonTalkerWeights(torch.nn.Module):
    """What the ModelPatcher holds: the model's generators (the same modules, so moving these moves the
    model) plus the plain `device` attribute the patcher sets. It does not refer back to the ToonTalker, so
    model -> patcher -> weights makes no reference cycle."""

    def __init__(self, model):
        super().__init__()
        self.gen = model.gen
        self.gen_real = model.gen_real
        self.device = model.device
        self._dtype = model.dtype
        self.__dict__["_cache"] = cache_of(model)  # what is derived from these weights moves with them

    def _apply(self, fn, *args, **kwargs):
        before = self.gen.motion_bases.device
        out = super()._apply(fn, *args, **kwargs)
        self._cache.follow(fn, before)
        return out

    def get_dtype(self) -> torch.dtype:  # ModelPatcher.model_dtype()
        return self._dtype


def manage(model, load_device: torch.device, offload_device: torch.device):
    """Hand the (offloaded) model to ComfyUI's memory manager; returns the model (unchanged without ComfyUI)."""
    if ModelPatcher is not None:
        model.comfy_patcher = ModelPatcher(ToonTalkerWeights(model), load_device=load_device,
                                           offload_device=offload_device)
    return model


def patcher_of(model):
    return getattr(model, "comfy_patcher", None)


def load_for_compute(model, memory_required: int = 0):
    """Call right before computing with `model`: ComfyUI loads it on its device (again, after "Unload models"
    or when another model took the VRAM), first freeing `memory_required` bytes for the computation.
    Returns the model, ready on its load device."""
    patcher = patcher_of(model)
    if patcher is None or model_management is None:
        return model
    # Full load: the layers are plain torch modules (no comfy.ops weight casting), so a partial "lowvram"
    # load would leave some of them on the offload device.
    model_management.load_models_gpu([patcher], memory_required=int(memory_required), force_full_load=True)
    return model


def offload_device(model) -> torch.device:
    """Where cached payloads (encoded source, motion, codes, latents) wait between nodes: with the model's
    weights when it is offloaded, so they never pin VRAM behind the memory manager's back."""
    patcher = patcher_of(model)
    return patcher.offload_device if patcher is not None else model.device


def free_memory_bytes(device: torch.device) -> int | None:
    """Memory ComfyUI says is free on `device` (None without ComfyUI)."""
    if model_management is None:
        return None
    return int(model_management.get_free_memory(device))


def oom_errors() -> tuple[type[BaseException], ...]:
    """Out-of-memory exceptions worth a retry with a smaller batch (never a bare Exception: that would hide
    real errors behind retries)."""
    errors = {torch.cuda.OutOfMemoryError}
    mm_oom = getattr(model_management, "OOM_EXCEPTION", None)
    if isinstance(mm_oom, type) and mm_oom is not Exception:
        errors.add(mm_oom)
    return tuple(errors)


def soft_empty_cache() -> None:
    if model_management is not None:
        model_management.soft_empty_cache()


def work_device() -> torch.device:
    """Where image work without the model (Face Crop, Paste Back) runs: ComfyUI's device (CPU without ComfyUI)."""
    return model_management.get_torch_device() if model_management is not None else torch.device("cpu")


def reserve_memory(device: torch.device, nbytes: int) -> None:
    """Let ComfyUI offload models until `nbytes` are free on `device` (a GPU) before non-model work there."""
    if model_management is not None and device.type != "cpu":
        model_management.free_memory(int(nbytes), device)


def intermediate_device() -> torch.device:
    """Where IMAGE outputs live (CPU unless ComfyUI runs with --gpu-only)."""
    return model_management.intermediate_device() if model_management is not None else torch.device("cpu")


def current_node_id() -> str | None:
    """The id of the node ComfyUI is executing (its execution context; in older versions the server's last
    node; None outside a run or without ComfyUI)."""
    try:
        from comfy_execution.utils import get_executing_context  # type: ignore
    except ImportError:  # older ComfyUI or none
        server = _prompt_server()
        node = getattr(server, "last_node_id", None)
        return None if node is None else str(node)
    context = get_executing_context()
    return None if context is None else str(context.node_id)


def _prompt_server():
    try:
        from server import PromptServer  # type: ignore
    except ImportError:
        return None
    return getattr(PromptServer, "instance", None)


def progress_text(text: str) -> None:
    """Show `text` on the running node (ComfyUI's progress text; silently nothing where that is missing)."""
    server, node_id = _prompt_server(), current_node_id()
    if server is not None and node_id is not None and hasattr(server, "send_progress_text"):
        server.send_progress_text(text, node_id)


def send_event(event: str, data: dict) -> None:
    """A custom websocket message to the client that queued the run (the web/ extension listens)."""
    server = _prompt_server()
    if server is not None:
        server.send_sync(event, data, getattr(server, "client_id", None))


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
