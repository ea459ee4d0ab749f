"""ComfyUI nodes: thin adapters over toontalker_core.

Every title reads "ToonTalker ..." (the node type ids stay as they were: saved workflows use them). Search
aliases are the obvious words an artist types for a node that its title lacks ("toontalker model" for the
loader); ComfyUI 0.3.64 / frontend 1.27 search only the type id and the title, so web/search_aliases.js adds
them to the editor's node search, fetching them from the route in nodes/routes.py."""
from .face import FaceCrop, PasteBack
from .loaders import LoadToonTalkerCheckpoint
from .motion import CanonicalMotionTransfer, EncodeDrivingMotion, EncodeSource
from .motion_edit import LoadMotion, MotionEditor, MotionKeyframes, SaveMotion
from .render import DecodeToDomain, ToonTalkerReenact, WarpRender

NODES = {
    "ToonTalkerLoadCheckpoint": (LoadToonTalkerCheckpoint, "ToonTalker Load Checkpoint",
                                 ("toontalker model", "load model")),
    "ToonTalkerEncodeSource": (EncodeSource, "ToonTalker Encode Source", ("encode portrait", "source image")),
    "ToonTalkerEncodeDrivingMotion": (EncodeDrivingMotion, "ToonTalker Encode Driving Motion",
                                      ("driving video", "encode video motion")),
    "ToonTalkerCanonicalTransfer": (CanonicalMotionTransfer, "ToonTalker Canonical Motion Transfer",
                                    ("motion strength", "exaggerate motion")),
    "ToonTalkerDecodeToDomain": (DecodeToDomain, "ToonTalker Decode to Domain", ("decode latents",)),
    "ToonTalkerWarpRender": (WarpRender, "ToonTalker Warp Render", ("render frames",)),
    "ToonTalkerReenact": (ToonTalkerReenact, "ToonTalker Reenact",
                          ("animate face", "animate portrait", "face reenactment", "talking head",
                           "cartoon animation", "real to cartoon")),
    "ToonTalkerFaceCrop": (FaceCrop, "ToonTalker Face Crop", ("crop face", "face detection")),
    "ToonTalkerPasteBack": (PasteBack, "ToonTalker Paste Back", ("paste face", "uncrop face")),
    "ToonTalkerMotionEditor": (MotionEditor, "ToonTalker Motion Editor",
                               ("head pose", "edit expression", "edit motion")),
    "ToonTalkerMotionKeyframes": (MotionKeyframes, "ToonTalker Motion Keyframes",
                                  ("keyframe animation", "animate without video")),
    "ToonTalkerSaveMotion": (SaveMotion, "ToonTalker Save Motion", ("save performance",)),
    "ToonTalkerLoadMotion": (LoadMotion, "ToonTalker Load Motion", ("load performance",)),
}

NODE_CLASS_MAPPINGS = {name: cls for name, (cls, _, _) in NODES.items()}
NODE_DISPLAY_NAME_MAPPINGS = {name: title for name, (_, title, _) in NODES.items()}
SEARCH_ALIASES = {name: list(aliases) for name, (_, _, aliases) in NODES.items()}
