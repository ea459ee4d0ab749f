"""The two ComfyUI workflow formats, written from one spec (tools/make_workflows.py holds the templates' specs).

UI format: what the editor saves and its template browser loads (nodes with their input/output slots, positional
`widgets_values` including UI-only values such as the upload button of Load Image/Load Video, links, groups,
notes). It is written the way ComfyUI's frontend (1.27) serializes a graph, so that loading a file and saving it
again changes nothing but layout details. API format: what `POST /prompt` takes (headless runs).
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field

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
    control: str | None = None  # seed widgets: the frontend's control_after_generate value, stored after it


@dataclass(frozen=True)
class Schema:
    title: str
    inputs: tuple[Slot, ...]
    outputs: tuple[tuple[str, str], ...]
    list_outputs: tuple[int, ...] = ()  # output slots that are lists (OUTPUT_IS_LIST): drawn with a grid shape


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
    # chaining (templates *_chain_*): a model upscaler and Stable Diffusion img2img
    "UpscaleModelLoader": Schema("Load Upscale Model", (_w("model_name", "COMBO"),),
                                 (("UPSCALE_MODEL", "UPSCALE_MODEL"),)),
    "ImageUpscaleWithModel": Schema("Upscale Image (using Model)", (
        Slot("upscale_model", "UPSCALE_MODEL"), Slot("image", "IMAGE")), (("IMAGE", "IMAGE"),)),
    "ImageScaleToTotalPixels": Schema("Scale Image to Total Pixels", (
        Slot("image", "IMAGE"), _w("upscale_method", "COMBO"), _w("megapixels", "FLOAT")), (("IMAGE", "IMAGE"),)),
    "CheckpointLoaderSimple": Schema("Load Checkpoint", (_w("ckpt_name", "COMBO"),),
                                     (("MODEL", "MODEL"), ("CLIP", "CLIP"), ("VAE", "VAE"))),
    "CLIPTextEncode": Schema("CLIP Text Encode (Prompt)", (_w("text", "STRING"), Slot("clip", "CLIP")),
                             (("CONDITIONING", "CONDITIONING"),)),
    "VAEEncode": Schema("VAE Encode", (Slot("pixels", "IMAGE"), Slot("vae", "VAE")), (("LATENT", "LATENT"),)),
    "VAEDecode": Schema("VAE Decode", (Slot("samples", "LATENT"), Slot("vae", "VAE")), (("IMAGE", "IMAGE"),)),
    "LatentBatchSeedBehavior": Schema("LatentBatchSeedBehavior", (
        Slot("samples", "LATENT"), _w("seed_behavior", "COMBO")), (("LATENT", "LATENT"),)),
    "RebatchLatents": Schema("Rebatch Latents", (Slot("latents", "LATENT"), _w("batch_size", "INT")),
                             (("LATENT", "LATENT"),), list_outputs=(0,)),
    "RebatchImages": Schema("Rebatch Images", (Slot("images", "IMAGE"), _w("batch_size", "INT")),
                            (("IMAGE", "IMAGE"),), list_outputs=(0,)),
    "KSampler": Schema("KSampler", (
        Slot("model", "MODEL"), _w("seed", "INT", control="fixed"), _w("steps", "INT"), _w("cfg", "FLOAT"),
        _w("sampler_name", "COMBO"), _w("scheduler", "COMBO"), Slot("positive", "CONDITIONING"),
        Slot("negative", "CONDITIONING"), Slot("latent_image", "LATENT"), _w("denoise", "FLOAT")),
        (("LATENT", "LATENT"),)),
    "SaveImage": Schema("Save Image", (Slot("images", "IMAGE"), _w("filename_prefix", "STRING")), ()),
    "PreviewImage": Schema("Preview Image", (Slot("images", "IMAGE"),), ()),
}
NODE_COLORS = {"Note": {"color": "#432", "bgcolor": "#653"}}  # what the frontend gives a new Note


def pack_schema(cls, title: str) -> Schema:
    spec = cls.INPUT_TYPES()
    slots = []
    for section in ("required", "optional"):
        for name, (typ, *rest) in spec.get(section, {}).items():
            is_combo = isinstance(typ, (list, tuple))
            widget = (is_combo or typ in WIDGET_TYPES) and not (rest and rest[0].get("forceInput"))  # socket only
            slots.append(Slot(name, "COMBO" if is_combo else typ, widget=widget, optional=section == "optional"))
    return Schema(title, tuple(slots), tuple(zip(cls.RETURN_NAMES, cls.RETURN_TYPES)))


def schemas(pack) -> dict[str, Schema]:
    """The core nodes' schemas and the pack's (from its NODE_CLASS_MAPPINGS)."""
    out = dict(CORE)
    for name, cls in pack.NODE_CLASS_MAPPINGS.items():
        out[name] = pack_schema(cls, pack.NODE_DISPLAY_NAME_MAPPINGS.get(name, name))
    return out


# ------------------------------------------------------------------------------------------------ a workflow
@dataclass(frozen=True)
class ModelFile:
    """A model a node loads that the user downloads: the frontend's missing-models dialog offers `url` when no
    file `name` is in ComfyUI/models/<directory> (frontend 1.27 downloads only from huggingface.co or civitai.com,
    and only .safetensors / .sft files, unless the url is on its own short list)."""
    name: str
    url: str
    directory: str

    def as_json(self) -> dict:
        return {"name": self.name, "url": self.url, "directory": self.directory}


@dataclass
class Node:
    id: int
    type: str
    pos: tuple[float, float]
    size: tuple[float, float]
    links: dict[str, tuple[int, int]] = field(default_factory=dict)  # input name -> (source node id, output slot)
    widgets: dict[str, object] = field(default_factory=dict)
    title: str | None = None
    models: tuple[ModelFile, ...] = ()  # files its widgets name that the user must download


@dataclass
class Workflow:
    name: str
    title: str        # the template browser card's title: short enough to show whole
    nodes: list[Node]
    groups: list[tuple[str, list[int], str]] = field(default_factory=list)  # (title, member node ids, color)
    description: str = ""  # the card's one line

    @property
    def models(self) -> list[ModelFile]:
        """Every model file the workflow needs the user to download, once each, in node order."""
        seen: list[ModelFile] = []
        for n in sorted(self.nodes, key=lambda n: n.id):
            seen += [m for m in n.models if m not in seen]
        return seen


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
        for m in n.models:  # the frontend lists a node's model only when one of its widgets names the file
            assert m.name in n.widgets.values(), f"{wf.name} node {n.id}: no widget names {m.name}"
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
            if k in s.list_outputs:
                out["shape"] = 6  # LiteGraph's GRID_SHAPE
            got = out_links.get((n.id, k), [])
            if got:
                out["slot_index"] = k
            out["links"] = got
            outputs.append(out)
        values = []
        for i in s.inputs:
            if i.widget:
                values.append(n.widgets.get(i.name) if i.ui_value is None else i.ui_value)
                if i.control:
                    values.append(i.control)
        node = {"id": n.id, "type": n.type, "pos": list(n.pos), "size": list(n.size), "flags": {},
                "order": order[n.id], "mode": 0, "inputs": inputs, "outputs": outputs}
        if n.title:
            node["title"] = n.title
        node["properties"] = {} if n.type in UI_ONLY_TYPES else {"Node name for S&R": n.type}
        if n.models:  # where Comfy-Org's own templates put them (the frontend reads both places)
            node["properties"]["models"] = [m.as_json() for m in n.models]
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
    ui = {
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"comfyui-toontalker/{wf.name}")), "revision": 0,
        "last_node_id": max(by_id), "last_link_id": len(links), "nodes": nodes, "links": links, "groups": groups,
        "config": {}, "extra": {"ds": {"scale": 0.7, "offset": [0, 0]}, "toontalker": {"title": wf.title}},
        "version": 0.4,
    }
    if wf.models:  # the workflow-level list (schema 0.4 `models`) the frontend checks on load
        ui["models"] = [m.as_json() for m in wf.models]
    return ui


def js_numbers(value):
    """Floats with an integral value as ints, as the frontend (JavaScript) writes them: 1.0 -> 1."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [js_numbers(v) for v in value]
    if isinstance(value, dict):
        return {k: js_numbers(v) for k, v in value.items()}
    return value
