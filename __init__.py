"""ComfyUI-ToonTalker: ToonTalker one-shot face reenactment (real <-> cartoon) as ComfyUI nodes.

Importing registers the `toontalker` model folder and the node classes and copies the sample media into
ComfyUI's input folder where missing; no model is loaded here.
"""
from .nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS
from .nodes.comfy import register_model_folder
from .nodes.routes import register_routes
from .nodes.samples import copy_samples_to_comfy_input

WEB_DIRECTORY = "./web"

register_model_folder()
copy_samples_to_comfy_input()  # the example workflows' inputs, when missing (never overwrites)
register_routes()  # the node search aliases for the editor

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "WEB_DIRECTORY"]
