"""ComfyUI nodes: thin adapters over toontalker_core."""
from .face import FaceCrop, PasteBack
from .loaders import LoadToonTalkerCheckpoint
from .motion import CanonicalMotionTransfer, EncodeDrivingMotion, EncodeSource
from .motion_edit import LoadMotion, MotionEditor, MotionKeyframes, SaveMotion
from .render import DecodeToDomain, ToonTalkerReenact, WarpRender

NODES = {
    "ToonTalkerLoadCheckpoint": (LoadToonTalkerCheckpoint, "Load ToonTalker Checkpoint"),
    "ToonTalkerEncodeSource": (EncodeSource, "Encode Source (ToonTalker)"),
    "ToonTalkerEncodeDrivingMotion": (EncodeDrivingMotion, "Encode Driving Motion (ToonTalker)"),
    "ToonTalkerCanonicalTransfer": (CanonicalMotionTransfer, "Canonical Motion Transfer (ToonTalker)"),
    "ToonTalkerDecodeToDomain": (DecodeToDomain, "Decode to Domain (ToonTalker)"),
    "ToonTalkerWarpRender": (WarpRender, "Warp Render (ToonTalker)"),
    "ToonTalkerReenact": (ToonTalkerReenact, "ToonTalker Reenact (all-in-one)"),
    "ToonTalkerFaceCrop": (FaceCrop, "Face Crop (ToonTalker)"),
    "ToonTalkerPasteBack": (PasteBack, "Paste Back (ToonTalker)"),
    "ToonTalkerMotionEditor": (MotionEditor, "Motion Editor (ToonTalker)"),
    "ToonTalkerMotionKeyframes": (MotionKeyframes, "Motion Keyframes (ToonTalker)"),
    "ToonTalkerSaveMotion": (SaveMotion, "Save Motion (ToonTalker)"),
    "ToonTalkerLoadMotion": (LoadMotion, "Load Motion (ToonTalker)"),
}

NODE_CLASS_MAPPINGS = {name: cls for name, (cls, _) in NODES.items()}
NODE_DISPLAY_NAME_MAPPINGS = {name: title for name, (_, title) in NODES.items()}
