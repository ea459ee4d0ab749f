"""Write the example workflows in both ComfyUI formats from one spec, so that they cannot drift apart.

    python tools/make_workflows.py           # -> example_workflows/*.json (UI) and example_workflows/api/*.json
    python tools/make_workflows.py --check   # exit 1 if the files on disk differ from what the spec gives

UI format: what the editor saves and its template browser loads (nodes with their input/output slots, positional
`widgets_values` including UI-only values such as the upload button of Load Image/Load Video, links, groups,
notes). It is written the way ComfyUI's frontend (1.27) serializes a graph, so that loading a file and saving it
again changes nothing but layout details. API format: what `POST /prompt` takes (headless runs).

Sample media the workflows read from ComfyUI/input (copy them from samples/): source_real.png,
source_cartoon.png, driving.mp4, driving_cartoon.mp4. Checkpoint: cross-domain-demo-64px.safetensors (the bundled
demo model, listed by Load ToonTalker Checkpoint without copying anything).
"""
from __future__ import annotations

import argparse
import json
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "example_workflows"
CKPT = "cross-domain-demo-64px.safetensors"
SAMPLES = ("source_real.png", "source_cartoon.png", "driving.mp4", "driving_cartoon.mp4")

WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}
UI_ONLY_TYPES = {"Note", "MarkdownNote"}  # frontend-only nodes: no API twin


@dataclass(frozen=True)
class Slot:
    name: str
    type: str
    widget: bool = False        # a widget (value in widgets_values), else a socket fed by a link
    optional: bool = False
    label: str | None = None    # the frontend's localized_name when it differs from the name
    ui_value: object = None     # UI-only widget (not sent to the server): its serialized value


@dataclass(frozen=True)
class Schema:
    title: str
    inputs: tuple[Slot, ...]
    outputs: tuple[tuple[str, str], ...]


def _w(name, typ, **kw):
    return Slot(name, typ, widget=True, **kw)


# The core nodes the workflows use, as ComfyUI 0.3.6x defines them (input order, widget/socket, optional) and as
# the frontend titles them. The integration test checks this table against a real server's /object_info.
CORE: dict[str, Schema] = {
    "LoadImage": Schema("Load Image", (
        _w("image", "COMBO"), _w("upload", "IMAGEUPLOAD", label="choose file to upload", ui_value="image")),
        (("IMAGE", "IMAGE"), ("MASK", "MASK"))),
    "LoadVideo": Schema("Load Video", (
        _w("file", "COMBO"), _w("upload", "IMAGEUPLOAD", label="choose file to upload", ui_value="image")),
        (("VIDEO", "VIDEO"),)),
    "GetVideoComponents": Schema("Get Video Components", (Slot("video", "VIDEO"),),
                                 (("images", "IMAGE"), ("audio", "AUDIO"), ("fps", "FLOAT"))),
    "CreateVideo": Schema("Create Video", (
        Slot("images", "IMAGE"), _w("fps", "FLOAT"), Slot("audio", "AUDIO", optional=True)), (("VIDEO", "VIDEO"),)),
    "SaveVideo": Schema("Save Video", (
        Slot("video", "VIDEO"), _w("filename_prefix", "STRING"), _w("format", "COMBO"), _w("codec", "COMBO")), ()),
    "ImageScaleBy": Schema("Upscale Image By", (
        Slot("image", "IMAGE"), _w("upscale_method", "COMBO"), _w("scale_by", "FLOAT")), (("IMAGE", "IMAGE"),)),
    "ImageSharpen": Schema("Image Sharpen", (
        Slot("image", "IMAGE"), _w("sharpen_radius", "INT"), _w("sigma", "FLOAT"), _w("alpha", "FLOAT")),
        (("IMAGE", "IMAGE"),)),
    "ImageStitch": Schema("Image Stitch", (
        Slot("image1", "IMAGE"), _w("direction", "COMBO"), _w("match_image_size", "BOOLEAN"),
        _w("spacing_width", "INT"), _w("spacing_color", "COMBO"), Slot("image2", "IMAGE", optional=True)),
        (("IMAGE", "IMAGE"),)),
    "Note": Schema("Note", (_w("text", "STRING"),), ()),
    "SaveImage": Schema("Save Image", (Slot("images", "IMAGE"), _w("filename_prefix", "STRING")), ()),
}
NODE_COLORS = {"Note": {"color": "#432", "bgcolor": "#653"}}  # what the frontend gives a new Note


def pack_schema(cls, title: str) -> Schema:
    spec = cls.INPUT_TYPES()
    slots = []
    for section in ("required", "optional"):
        for name, (typ, *_) in spec.get(section, {}).items():
            is_combo = isinstance(typ, (list, tuple))
            widget = is_combo or typ in WIDGET_TYPES
            slots.append(Slot(name, "COMBO" if is_combo else typ, widget=widget, optional=section == "optional"))
    return Schema(title, tuple(slots), tuple(zip(cls.RETURN_NAMES, cls.RETURN_TYPES)))


def load_pack():
    """Import the repository as ComfyUI does: as a package by file location (it uses relative imports)."""
    import importlib.util

    name = "toontalker_pack"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, REPO / "__init__.py", submodule_search_locations=[str(REPO)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def schemas(pack=None) -> dict[str, Schema]:
    pack = pack or load_pack()
    out = dict(CORE)
    for name, cls in pack.NODE_CLASS_MAPPINGS.items():
        out[name] = pack_schema(cls, pack.NODE_DISPLAY_NAME_MAPPINGS.get(name, name))
    return out


# --------------------------------------------------------------------------------------------------- the spec

@dataclass
class Node:
    id: int
    type: str
    pos: tuple[float, float]
    size: tuple[float, float]
    links: dict[str, tuple[int, int]] = field(default_factory=dict)  # input name -> (source node id, output slot)
    widgets: dict[str, object] = field(default_factory=dict)
    title: str | None = None


@dataclass
class Workflow:
    name: str
    title: str
    nodes: list[Node]
    groups: list[tuple[str, list[int], str]] = field(default_factory=list)  # (title, member node ids, color)


TOP = 400  # everything below the note that opens each workflow


def note(nid: int, text: str, width: float) -> Node:
    """The workflow's read-me, top left (what it shows, which sample files to copy, the checkpoint)."""
    return Node(nid, "Note", (40, 60), (width, 200), widgets={"text": text})


def loaders(source: str, video: str) -> list[Node]:
    return [
        Node(1, "ToonTalkerLoadCheckpoint", (40, TOP), (320, 130),
             widgets={"ckpt_name": CKPT, "device": "auto", "precision": "auto"}),
        Node(2, "LoadImage", (40, TOP + 190), (320, 360), widgets={"image": source}),
        Node(3, "LoadVideo", (40, TOP + 610), (320, 380), widgets={"file": video}),
        Node(4, "GetVideoComponents", (400, TOP + 610), (240, 80), links={"video": (3, 0)}),
    ]


def save(nid: int, images: tuple[int, int], name: str, x: float, y: float) -> list[Node]:
    """CreateVideo at the driving video's fps with its audio, then SaveVideo."""
    return [
        Node(nid, "CreateVideo", (x, y), (270, 100), links={"images": images, "fps": (4, 2), "audio": (4, 1)},
             widgets={"fps": 25.0}),
        Node(nid + 1, "SaveVideo", (x, y + 160), (360, 440), links={"video": (nid, 0)},
             widgets={"filename_prefix": f"toontalker/{name}", "format": "auto", "codec": "auto"}),
    ]


INPUT_NOTE = ("Copy from the pack's samples/ folder into ComfyUI/input: {files}.\n"
              "Checkpoint: {ckpt}, the small bundled demo model (listed without copying anything). With a published "
              "256 px checkpoint in ComfyUI/models/toontalker, pick it in the loader instead.")


def all_in_one(name: str, title: str, source: str, video: str, route: str, about: str) -> Workflow:
    nodes = [
        note(8, about + "\n\n" + INPUT_NOTE.format(files=f"{source}, {video}", ckpt=CKPT), 1100),
        *loaders(source, video),
        Node(5, "ToonTalkerReenact", (420, TOP), (360, 250),
             links={"model": (1, 0), "source_image": (2, 0), "driving_frames": (4, 0)},
             widgets={"route": route, "strength": 1.0, "mode": "relative", "reference_frame": 0, "batch_size": 8,
                      "crop": "auto"}),
        *save(6, (5, 0), name, 840, TOP),
    ]
    return Workflow(name, title, sorted(nodes, key=lambda n: n.id))


def encoders(source_domain: str, driving_domain: str, x: float) -> list[Node]:
    return [
        Node(5, "ToonTalkerEncodeSource", (x, TOP + 190), (320, 100), links={"model": (1, 0), "image": (2, 0)},
             widgets={"domain": source_domain}),
        Node(6, "ToonTalkerEncodeDrivingMotion", (x, TOP + 390), (340, 260),
             links={"model": (1, 0), "frames": (4, 0)}, widgets={"domain": driving_domain, "batch_size": 16}),
    ]


def branch(nid: int, strength: float, x: float, y: float, titled: bool = False) -> list[Node]:
    """Canonical Transfer -> Decode -> Render for one strength, sharing the encoders (ids 5, 6)."""
    suffix = f" (strength {strength:g})" if titled else ""
    return [
        Node(nid, "ToonTalkerCanonicalTransfer", (x, y), (360, 140), links={"source": (5, 0), "motion": (6, 0)},
             widgets={"strength": strength, "mode": "relative", "reference_frame": 0},
             title=f"Canonical Motion Transfer{suffix}" if titled else None),
        Node(nid + 1, "ToonTalkerDecodeToDomain", (x + 400, y), (280, 80),
             links={"model": (1, 0), "source": (5, 0), "canonical": (nid, 0)},
             title=f"Decode to Domain{suffix}" if titled else None),
        Node(nid + 2, "ToonTalkerWarpRender", (x + 720, y), (280, 110),
             links={"model": (1, 0), "source": (5, 0), "latents": (nid + 1, 0)}, widgets={"batch_size": 8},
             title=f"Warp Render{suffix}" if titled else None),
    ]


def staged_upscale() -> Workflow:
    name = "d_staged_upscale"
    nodes = loaders("source_real.png", "driving.mp4") + encoders("real", "real", 700) + branch(7, 1.0, 1140, TOP) + [
        Node(10, "ImageScaleBy", (1140, TOP + 280), (300, 90), links={"image": (9, 0)},
             widgets={"upscale_method": "lanczos", "scale_by": 4.0}),
        Node(11, "ImageSharpen", (1480, TOP + 280), (300, 120), links={"image": (10, 0)},
             widgets={"sharpen_radius": 1, "sigma": 1.0, "alpha": 0.5}),
        *save(12, (11, 0), name, 1820, TOP + 280),
        note(14, (
            "The staged graph: Encode Source and Encode Driving Motion run once and stay in ComfyUI's cache; "
            "Canonical Motion Transfer -> Decode to Domain -> Warp Render re-run when you change strength, mode "
            "or reference_frame. The renders (at the model's resolution: 64 px for the demo model, 256 px for "
            "the published ones) go through a plain upscaling chain (Upscale Image By + Image Sharpen; swap in "
            "Load Upscale Model + Upscale Image (using Model) for an ESRGAN-type model) into a video with the "
            "driving clip's fps and audio.\n\n"
            + INPUT_NOTE.format(files="source_real.png, driving.mp4", ckpt=CKPT)), 1100),
    ]
    groups = [("Load and encode once (cached)", [1, 2, 3, 4, 5, 6], "#3f789e"),
              ("Re-runs on a strength / mode change", [7, 8, 9], "#8A8"),
              ("Upscale and save", [10, 11, 12, 13], "#b58b2a")]
    return Workflow(name, "Staged graph into an upscaling chain", nodes, groups)


def strength_comparison() -> Workflow:
    name = "e_strength_comparison"
    rows = (TOP, TOP + 270, TOP + 540)
    nodes = (loaders("source_cartoon.png", "driving.mp4") + encoders("cartoon", "real", 700)
             + branch(7, 0.5, 1140, rows[0], True) + branch(10, 1.0, 1140, rows[1], True)
             + branch(13, 1.5, 1140, rows[2], True))
    stitch = {"direction": "right", "match_image_size": True, "spacing_width": 0, "spacing_color": "white"}
    nodes += [
        Node(16, "ImageStitch", (2200, rows[0]), (280, 180), links={"image1": (9, 0), "image2": (12, 0)},
             widgets=stitch),
        Node(17, "ImageStitch", (2200, rows[1]), (280, 180), links={"image1": (16, 0), "image2": (15, 0)},
             widgets=stitch),
        *save(18, (17, 0), name, 2520, rows[0]),
        note(20, (
            "Strength 0.5 / 1.0 / 1.5 side by side (a real video drives a cartoon portrait). The loader and both "
            "encoders are shared: they run once. Change one strength (or mode) and queue again: only that "
            "branch's Transfer -> Decode -> Render, the stitching and the video re-run; the encoded source and "
            "motion, and the other branches, come from ComfyUI's cache.\n\n"
            + INPUT_NOTE.format(files="source_cartoon.png, driving.mp4", ckpt=CKPT)), 1100),
    ]
    groups = [("Load and encode once (cached)", [1, 2, 3, 4, 5, 6], "#3f789e"),
              ("strength 0.5", [7, 8, 9], "#8A8"), ("strength 1.0", [10, 11, 12], "#8A8"),
              ("strength 1.5", [13, 14, 15], "#8A8")]
    return Workflow(name, "Strength 0.5 / 1.0 / 1.5 side by side (shared, cached encoders)", nodes, groups)


def encoded_portrait(image: str, domain: str) -> list[Node]:
    """Nodes 1-3: loader, the portrait, Encode Source (the motion workflows need no driving video)."""
    return [
        Node(1, "ToonTalkerLoadCheckpoint", (40, TOP), (320, 130),
             widgets={"ckpt_name": CKPT, "device": "auto", "precision": "auto"}),
        Node(2, "LoadImage", (40, TOP + 190), (320, 360), widgets={"image": image}),
        Node(3, "ToonTalkerEncodeSource", (400, TOP), (320, 100), links={"model": (1, 0), "image": (2, 0)},
             widgets={"domain": domain}),
    ]


def motion_editor() -> Workflow:
    name = "f_motion_editor"
    nodes = [
        *encoded_portrait("source_cartoon.png", "cartoon"),
        Node(4, "ToonTalkerMotionEditor", (760, TOP), (360, 1000), links={"model": (1, 0), "source": (3, 0)},
             widgets={"head_yaw": 2.0, "head_roll": 2.5, "head_pitch": 0.0, "head_x": 0.0, "head_y": 0.0,
                      "head_scale": 0.0, "mouth_open": 0.0, "eyes_closed": 0.0,
                      **{f"d{i:02d}": 0.0 for i in range(20)}}),
        Node(5, "SaveImage", (1160, TOP), (400, 440), links={"images": (4, 2)},
             widgets={"filename_prefix": f"toontalker/{name}"}),
        note(6, (
            "Edit a still portrait's pose and expression with the Motion Editor. Move a slider and queue: only the "
            "editor re-runs (edit, decode and render of one frame; Encode Source comes from the cache) and shows "
            "the result on the node. The named controls were measured on this checkpoint (hover a slider for its "
            "measured effect; a checkpoint measures its own on first use, once); the raw sliders d00.. move "
            "along each learned motion base. Controls a checkpoint lacks must stay 0. Connect a MOTION or "
            "CANONICAL input to edit every frame of a video instead.\n\n"
            + INPUT_NOTE.format(files="source_cartoon.png", ckpt=CKPT)), 1100),
    ]
    return Workflow(name, "Edit a portrait's pose with the Motion Editor (fast preview)",
                    sorted(nodes, key=lambda n: n.id))


KEYFRAMES = """[
  {"time": 0.4},
  {"time": 1.2, "set": {"head_roll": 3}, "ease": "ease_in_out"},
  {"time": 2.0, "set": {"head_roll": -3}, "ease": "ease_in_out"},
  {"time": 3.0, "set": {"head_yaw": 3, "head_scale": 2}, "ease": "ease_in_out"},
  {"time": 3.8, "ease": "ease_out"}
]"""


def keyframe_animation() -> Workflow:
    name = "g_keyframe_animation"
    nodes = [
        *encoded_portrait("source_cartoon.png", "cartoon"),
        Node(4, "ToonTalkerMotionKeyframes", (400, TOP + 160), (420, 420),
             links={"model": (1, 0), "source": (3, 0)},
             widgets={"domain": "cartoon", "keyframes": KEYFRAMES, "length": 100, "fps": 25.0}),
        Node(5, "ToonTalkerCanonicalTransfer", (860, TOP), (360, 140), links={"source": (3, 0), "motion": (4, 0)},
             widgets={"strength": 1.0, "mode": "relative", "reference_frame": 0}),
        Node(6, "ToonTalkerDecodeToDomain", (1260, TOP), (280, 80),
             links={"model": (1, 0), "source": (3, 0), "canonical": (5, 0)}),
        Node(7, "ToonTalkerWarpRender", (1580, TOP), (280, 110),
             links={"model": (1, 0), "source": (3, 0), "latents": (6, 0)}, widgets={"batch_size": 8}),
        Node(8, "CreateVideo", (1580, TOP + 170), (270, 100), links={"images": (7, 0), "fps": (4, 1)},
             widgets={"fps": 25.0}),
        Node(9, "SaveVideo", (1580, TOP + 330), (360, 440), links={"video": (8, 0)},
             widgets={"filename_prefix": f"toontalker/{name}", "format": "auto", "codec": "auto"}),
        note(10, (
            "Animate the sample cartoon with no driving video: Motion Keyframes turns a few keys (time in seconds "
            "or frame, Motion Editor settings or an expression photo, easing) into a MOTION that Canonical Motion "
            "Transfer takes like an encoded video. Here: still, tilt right, tilt left, turn and lean in, back. "
            "Edit the keys and queue; the frames are written to a 4 s video at 25 fps. Save Motion keeps a "
            "motion for reuse.\n\n" + INPUT_NOTE.format(files="source_cartoon.png", ckpt=CKPT)), 1100),
    ]
    return Workflow(name, "Keyframe animation of a cartoon portrait, no driving video",
                    sorted(nodes, key=lambda n: n.id))


def workflows() -> list[Workflow]:
    return [
        all_in_one("a_real_to_real", "Real video drives a real portrait (audio kept)", "source_real.png",
                   "driving.mp4", "real video -> real portrait",
                   "Real -> real with the all-in-one node: Load Video -> Get Video Components gives the frames, "
                   "the audio and the fps; the reenacted frames are put back together with the same audio and "
                   "fps. crop auto finds the faces, reenacts the face crops and pastes them back at the "
                   "source's resolution."),
        all_in_one("b_real_drives_cartoon", "Real video drives a cartoon portrait (r2c)", "source_cartoon.png",
                   "driving.mp4", "real video -> cartoon portrait (r2c)",
                   "Cross-domain r2c: a real person's video drives a cartoon portrait (needs a cross-domain "
                   "checkpoint; the demo model is one)."),
        all_in_one("c_cartoon_drives_real", "Cartoon video drives a real portrait (c2r)", "source_real.png",
                   "driving_cartoon.mp4", "cartoon video -> real portrait (c2r)",
                   "Cross-domain c2r: a cartoon video drives a real portrait (needs a cross-domain checkpoint; "
                   "the demo model is one)."),
        staged_upscale(),
        strength_comparison(),
        motion_editor(),
        keyframe_animation(),
    ]


# ------------------------------------------------------------------------------------------------ serializers

def _check(wf: Workflow, sch: dict[str, Schema]) -> None:
    ids = [n.id for n in wf.nodes]
    assert len(ids) == len(set(ids)), f"{wf.name}: duplicate node ids"
    by_id = {n.id: n for n in wf.nodes}
    for n in wf.nodes:
        s = sch[n.type]
        names = {i.name: i for i in s.inputs}
        for k, (src, slot) in n.links.items():
            assert k in names and not names[k].ui_value, f"{wf.name} node {n.id}: no input {k}"
            want, got = names[k].type, sch[by_id[src].type].outputs[slot][1]
            assert want == got, f"{wf.name} node {n.id}.{k}: {got} into {want}"
        for k in n.widgets:
            assert k in names and names[k].widget, f"{wf.name} node {n.id}: no widget {k}"
        for i in s.inputs:
            if not i.optional and not i.ui_value:
                assert i.name in n.links or i.name in n.widgets, f"{wf.name} node {n.id}: {i.name} unset"


def ui_slots(schema: Schema) -> list[Slot]:
    """The frontend lists a node's sockets first, then one input per widget."""
    return [i for i in schema.inputs if not i.widget] + [i for i in schema.inputs if i.widget]


def ui_links(wf: Workflow, sch: dict[str, Schema]) -> list[list]:
    """[id, from node, from slot, to node, to slot, type], numbered in node-id then input-slot order."""
    by_id = {n.id: n for n in wf.nodes}
    links = []
    for n in sorted(wf.nodes, key=lambda n: n.id):
        for k, i in enumerate(ui_slots(sch[n.type])):
            if i.name in n.links:
                src, slot = n.links[i.name]
                links.append([len(links) + 1, src, slot, n.id, k, sch[by_id[src].type].outputs[slot][1]])
    return links


def execution_order(wf: Workflow, links: list[list]) -> list[int]:
    """The frontend's node `order` (LiteGraph's computeExecutionOrder): nodes without connected inputs in file
    order, then a FIFO walk that appends a node once all its input links were visited, following each output
    slot's links in link-id order."""
    ready = [n.id for n in wf.nodes if not n.links]
    remaining = {n.id: len(n.links) for n in wf.nodes}
    outgoing: dict[int, list[int]] = {}
    for _, src, slot, dst, _, _ in sorted(links, key=lambda l: (l[2], l[0])):
        outgoing.setdefault(src, []).append(dst)
    order = []
    while ready:
        nid = ready.pop(0)
        order.append(nid)
        for dst in outgoing.get(nid, []):
            remaining[dst] -= 1
            if remaining[dst] == 0:
                ready.append(dst)
    if len(order) != len(wf.nodes):
        raise ValueError(f"{wf.name}: the graph has a cycle")
    return order


def to_api(wf: Workflow, sch: dict[str, Schema]) -> dict:
    _check(wf, sch)
    api = {}
    for n in sorted(wf.nodes, key=lambda n: n.id):  # the frontend's graphToPrompt lists nodes by id
        if n.type in UI_ONLY_TYPES:
            continue
        s = sch[n.type]
        inputs = {}
        for i in [i for i in s.inputs if i.widget and i.ui_value is None] + [i for i in s.inputs if not i.widget]:
            # the frontend's graphToPrompt order: widgets (a linked one as its link), then the sockets
            if i.name in n.links:
                src, slot = n.links[i.name]
                inputs[i.name] = [str(src), slot]
            elif i.widget and i.name in n.widgets:
                inputs[i.name] = n.widgets[i.name]
        api[str(n.id)] = {"inputs": inputs, "class_type": n.type, "_meta": {"title": n.title or s.title}}
    return api


def to_ui(wf: Workflow, sch: dict[str, Schema]) -> dict:
    _check(wf, sch)
    links = ui_links(wf, sch)
    order = {nid: k for k, nid in enumerate(execution_order(wf, links))}
    by_id = {n.id: n for n in wf.nodes}
    out_links: dict[tuple[int, int], list[int]] = {}
    for lid, src, slot, *_ in links:
        out_links.setdefault((src, slot), []).append(lid)
    link_of = {(dst, k): lid for lid, _, _, dst, k, _ in links}

    nodes = []
    for n in wf.nodes:
        s = sch[n.type]
        inputs = []
        for k, i in enumerate(ui_slots(s)):
            entry = {"localized_name": i.label or i.name, "name": i.name}
            if i.optional:
                entry["shape"] = 7
            entry["type"] = i.type
            if i.widget:
                entry["widget"] = {"name": i.name}
            entry["link"] = link_of.get((n.id, k))
            inputs.append(entry)
        if n.type in UI_ONLY_TYPES:
            inputs = []
        outputs = []
        for k, (name, typ) in enumerate(s.outputs):
            out = {"localized_name": name, "name": name, "type": typ}
            got = out_links.get((n.id, k), [])
            if got:
                out["slot_index"] = k
            out["links"] = got
            outputs.append(out)
        values = [n.widgets.get(i.name) if i.ui_value is None else i.ui_value for i in s.inputs if i.widget]
        node = {"id": n.id, "type": n.type, "pos": list(n.pos), "size": list(n.size), "flags": {},
                "order": order[n.id], "mode": 0, "inputs": inputs, "outputs": outputs}
        if n.title:
            node["title"] = n.title
        node["properties"] = {} if n.type in UI_ONLY_TYPES else {"Node name for S&R": n.type}
        node["widgets_values"] = values
        node.update(NODE_COLORS.get(n.type, {}))
        nodes.append(node)

    groups = []
    for k, (title, members, color) in enumerate(wf.groups):
        boxes = [(by_id[m].pos, by_id[m].size) for m in members]
        x0 = min(p[0] for p, _ in boxes) - 20
        y0 = min(p[1] for p, _ in boxes) - 30 - 50  # the node title bar sits above pos; room for the group title
        x1 = max(p[0] + s[0] for p, s in boxes) + 20
        y1 = max(p[1] + s[1] for p, s in boxes) + 20
        groups.append({"id": k + 1, "title": title, "bounding": [x0, y0, x1 - x0, y1 - y0], "color": color,
                       "font_size": 24, "flags": {}})
    return {
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"comfyui-toontalker/{wf.name}")), "revision": 0,
        "last_node_id": max(by_id), "last_link_id": len(links), "nodes": nodes, "links": links, "groups": groups,
        "config": {}, "extra": {"ds": {"scale": 0.7, "offset": [0, 0]}, "toontalker": {"title": wf.title}},
        "version": 0.4,
    }


def js_numbers(value):
    """Floats with an integral value as ints, as the frontend (JavaScript) writes them: 1.0 -> 1."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [js_numbers(v) for v in value]
    if isinstance(value, dict):
        return {k: js_numbers(v) for k, v in value.items()}
    return value


def render_all(pack=None) -> dict[Path, str]:
    """File path -> content for every workflow in both formats."""
    sch = schemas(pack)
    files = {}
    for wf in workflows():
        files[OUT / f"{wf.name}.json"] = json.dumps(js_numbers(to_ui(wf, sch)), indent=1) + "\n"
        files[OUT / "api" / f"{wf.name}.json"] = json.dumps(js_numbers(to_api(wf, sch)), indent=1) + "\n"
    return files


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="only compare with the files on disk")
    args = ap.parse_args(argv)
    files = render_all()
    stale = [p for p, text in files.items() if not p.exists() or p.read_text() != text]
    if args.check:
        for p in stale:
            print("out of date:", p.relative_to(REPO))
        return 1 if stale else 0
    (OUT / "api").mkdir(parents=True, exist_ok=True)
    for p, text in files.items():
        p.write_text(text)
        print("wrote", p.relative_to(REPO))
    return 0


if __name__ == "__main__":
    sys.exit(main())
