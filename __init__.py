"""ComfyUI-ToonTalker: ToonTalker one-shot face reenactment (real <-> cartoon) as ComfyUI nodes.

Importing registers the `toontalker` model folder and the node classes; no model is loaded here.
"""
from .nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS
from .nodes.comfy import register_model_folder

WEB_DIRECTORY = "./web"

register_model_folder()

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "WEB_DIRECTORY"]
