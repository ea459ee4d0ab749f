"""Write the example workflows in both ComfyUI formats from one spec, so that they cannot drift apart.

    python tools/make_workflows.py          # -> example_workflows/*.json (UI) and example_workflows/api/*.json

UI format: what the editor and its template browser load (nodes with positional `widgets_values`, links).
API format: what `POST /prompt` takes (headless runs). Sample media the workflows read from ComfyUI/input:
samples/source_real.png, samples/source_cartoon.png, samples/driving.mp4, samples/driving_cartoon.mp4.
"""
from __future__ import annotations

import json
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "example_workflows"
CKPT = "cross-domain-demo-64px.safetensors"

# Widget names, in the order the editor shows (and serializes) them, and output (name, type) per node type.
CORE = {
    "LoadImage": (["image"], [("IMAGE", "IMAGE"), ("MASK", "MASK")]),
    "LoadVideo": (["file"], [("VIDEO", "VIDEO")]),
    "GetVideoComponents": ([], [("images", "IMAGE"), ("audio", "AUDIO"), ("fps", "FLOAT")]),
    "CreateVideo": (["fps"], [("VIDEO", "VIDEO")]),
    "SaveVideo": (["filename_prefix", "format", "codec"], []),
    "ImageScaleBy": (["upscale_method", "scale_by"], [("IMAGE", "IMAGE")]),
    "ImageSharpen": (["sharpen_radius", "sigma", "alpha"], [("IMAGE", "IMAGE")]),
    "ImageStitch": (["direction", "match_image_size", "spacing_width", "spacing_color"], [("IMAGE", "IMAGE")]),
}
# Inputs fed by links, per core node type (name, type).
CORE_LINK_INPUTS = {
    "GetVideoComponents": [("video", "VIDEO")],
    "CreateVideo": [("images", "IMAGE"), ("audio", "AUDIO")],
    "SaveVideo": [("video", "VIDEO")],
    "ImageScaleBy": [("image", "IMAGE")],
    "ImageSharpen": [("image", "IMAGE")],
    "ImageStitch": [("image1", "IMAGE"), ("image2", "IMAGE")],
}
WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}


def node_schema(node_type: str, pack_nodes: dict):
    """-> (widget names, link inputs [(name, type)], outputs [(name, type)])."""
    if node_type in CORE:
        widgets, outputs = CORE[node_type]
        return widgets, CORE_LINK_INPUTS.get(node_type, []), outputs
    cls = pack_nodes[node_type]
    spec = cls.INPUT_TYPES()
    widgets, links = [], []
    for section in ("required", "optional"):
        for name, (typ, *_) in spec.get(section, {}).items():
            if isinstance(typ, list) or typ in WIDGET_TYPES:
                widgets.append(name)
            else:
                links.append((name, typ))
    return widgets, links, list(zip(cls.RETURN_NAMES, cls.RETURN_TYPES))


def common(source: str, video: str) -> list[dict]:
    return [
        {"id": 1, "type": "ToonTalkerLoadCheckpoint", "w": {"ckpt_name": CKPT, "device": "auto", "precision": "auto"}},
        {"id": 2, "type": "LoadImage", "w": {"image": source}},
        {"id": 3, "type": "LoadVideo", "w": {"file": video}},
        {"id": 4, "type": "GetVideoComponents", "in": {"video": (3, 0)}},
    ]


def all_in_one(name: str, title: str, source: str, video: str, route: str) -> dict:
    nodes = common(source, video) + [
        {"id": 5, "type": "ToonTalkerReenact",
         "in": {"model": (1, 0), "source_image": (2, 0), "driving_frames": (4, 0)},
         "w": {"route": route, "strength": 1.0, "mode": "relative", "reference_frame": 0, "batch_size": 8,
               "crop": "auto"}},
        {"id": 6, "type": "CreateVideo", "in": {"images": (5, 0), "audio": (4, 1)}, "w": {"fps": 25.0},
         "fps_from": (4, 2)},
        {"id": 7, "type": "SaveVideo", "in": {"video": (6, 0)},
         "w": {"filename_prefix": f"toontalker/{name}", "format": "auto", "codec": "auto"}},
    ]
    return {"name": name, "title": title, "nodes": nodes}


def staged(n_id: int, strength: float) -> list[dict]:
    """Transfer -> Decode -> Render for one strength, sharing the encoders (ids 5, 6)."""
    return [
        {"id": n_id, "type": "ToonTalkerCanonicalTransfer", "in": {"source": (5, 0), "motion": (6, 0)},
         "w": {"strength": strength, "mode": "relative", "reference_frame": 0}},
        {"id": n_id + 1, "type": "ToonTalkerDecodeToDomain", "in": {"model": (1, 0), "source": (5, 0),
                                                                      "canonical": (n_id, 0)}},
        {"id": n_id + 2, "type": "ToonTalkerWarpRender", "in": {"model": (1, 0), "source": (5, 0),
                                                                  "latents": (n_id + 1, 0)}, "w": {"batch_size": 8}},
    ]


def encoders(source_domain: str, driving_domain: str) -> list[dict]:
    return [
        {"id": 5, "type": "ToonTalkerEncodeSource", "in": {"model": (1, 0), "image": (2, 0)},
         "w": {"domain": source_domain}},
        {"id": 6, "type": "ToonTalkerEncodeDrivingMotion", "in": {"model": (1, 0), "frames": (4, 0)},
         "w": {"domain": driving_domain, "batch_size": 16}},
    ]


def workflows() -> list[dict]:
    upscale = {"name": "d_staged_upscale", "title": "Staged graph into an upscaling chain",
               "nodes": common("source_real.png", "driving.mp4") + encoders("real", "real") + staged(7, 1.0) + [
                   {"id": 10, "type": "ImageScaleBy", "in": {"image": (9, 0)},
                    "w": {"upscale_method": "lanczos", "scale_by": 2.0}},
                   {"id": 11, "type": "ImageSharpen", "in": {"image": (10, 0)},
                    "w": {"sharpen_radius": 1, "sigma": 1.0, "alpha": 0.5}},
                   {"id": 12, "type": "CreateVideo", "in": {"images": (11, 0), "audio": (4, 1)}, "w": {"fps": 25.0},
                    "fps_from": (4, 2)},
                   {"id": 13, "type": "SaveVideo", "in": {"video": (12, 0)},
                    "w": {"filename_prefix": "toontalker/d_staged_upscale", "format": "auto", "codec": "auto"}},
               ]}
    compare = {"name": "e_strength_comparison", "title": "Strength 0.5 / 1.0 / 1.5 side by side (shared encoders)",
               "nodes": common("source_cartoon.png", "driving.mp4") + encoders("cartoon", "real")
               + staged(7, 0.5) + staged(10, 1.0) + staged(13, 1.5) + [
                   {"id": 16, "type": "ImageStitch", "in": {"image1": (9, 0), "image2": (12, 0)},
                    "w": {"direction": "right", "match_image_size": True, "spacing_width": 0, "spacing_color": "white"}},
                   {"id": 17, "type": "ImageStitch", "in": {"image1": (16, 0), "image2": (15, 0)},
                    "w": {"direction": "right", "match_image_size": True, "spacing_width": 0, "spacing_color": "white"}},
                   {"id": 18, "type": "CreateVideo", "in": {"images": (17, 0), "audio": (4, 1)}, "w": {"fps": 25.0},
                    "fps_from": (4, 2)},
                   {"id": 19, "type": "SaveVideo", "in": {"video": (18, 0)},
                    "w": {"filename_prefix": "toontalker/e_strength_comparison", "format": "auto", "codec": "auto"}},
               ]}
    return [
        all_in_one("a_real_to_real", "Real video drives a real portrait (audio kept)", "source_real.png",
                   "driving.mp4", "real video -> real portrait"),
        all_in_one("b_real_drives_cartoon", "Real video drives a cartoon portrait (r2c)", "source_cartoon.png",
                   "driving.mp4", "real video -> cartoon portrait (r2c)"),
        all_in_one("c_cartoon_drives_real", "Cartoon video drives a real portrait (c2r)", "source_real.png",
                   "driving_cartoon.mp4", "cartoon video -> real portrait (c2r)"),
        upscale, compare,
    ]


def to_api(wf: dict) -> dict:
    api = {}
    for n in wf["nodes"]:
        inputs = {k: [str(src), slot] for k, (src, slot) in n.get("in", {}).items()}
        inputs.update(n.get("w", {}))
        if "fps_from" in n:  # CreateVideo's fps comes from the video (a widget converted to an input)
            src, slot = n["fps_from"]
            inputs["fps"] = [str(src), slot]
        api[str(n["id"])] = {"class_type": n["type"], "inputs": inputs, "_meta": {"title": n["type"]}}
    return api


def to_ui(wf: dict, pack_nodes: dict) -> dict:
    links, link_id = [], 0
    by_id = {n["id"]: n for n in wf["nodes"]}
    out_links: dict[tuple[int, int], list[int]] = {}
    ui_nodes = []
    schemas = {n["id"]: node_schema(n["type"], pack_nodes) for n in wf["nodes"]}
    for order, n in enumerate(wf["nodes"]):
        widgets, link_inputs, outputs = schemas[n["id"]]
        inputs = []
        for name, typ in link_inputs:
            entry = {"name": name, "type": typ, "link": None}
            if name in n.get("in", {}):
                src, slot = n["in"][name]
                link_id += 1
                links.append([link_id, src, slot, n["id"], len(inputs), schemas[src][2][slot][1]])
                out_links.setdefault((src, slot), []).append(link_id)
                entry["link"] = link_id
            inputs.append(entry)
        if "fps_from" in n:
            src, slot = n["fps_from"]
            link_id += 1
            links.append([link_id, src, slot, n["id"], len(inputs), "FLOAT"])
            out_links.setdefault((src, slot), []).append(link_id)
            inputs.append({"name": "fps", "type": "FLOAT", "widget": {"name": "fps"}, "link": link_id})
        values = [n.get("w", {}).get(w) for w in widgets]
        col, row = order % 4, order // 4
        ui_nodes.append({
            "id": n["id"], "type": n["type"], "pos": [40 + 380 * col, 40 + 320 * row], "size": [340, 260],
            "flags": {}, "order": order, "mode": 0, "inputs": inputs,
            "outputs": [{"name": name, "type": typ, "links": [], "slot_index": i} for i, (name, typ) in enumerate(outputs)],
            "properties": {"Node name for S&R": n["type"]},
            "widgets_values": values,
        })
    for node in ui_nodes:
        for i, out in enumerate(node["outputs"]):
            out["links"] = out_links.get((node["id"], i), [])
    assert all(by_id.get(src) for _, src, *_ in links)
    return {"last_node_id": max(by_id), "last_link_id": link_id, "nodes": ui_nodes, "links": links, "groups": [],
            "config": {}, "extra": {"toontalker": {"title": wf["title"]}}, "version": 0.4}


def load_pack_nodes() -> dict:
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location("toontalker_pack", REPO / "__init__.py",
                                                  submodule_search_locations=[str(REPO)])
    module = importlib.util.module_from_spec(spec)
    sys.modules["toontalker_pack"] = module
    spec.loader.exec_module(module)
    return module.NODE_CLASS_MAPPINGS


def main() -> None:
    pack_nodes = load_pack_nodes()
    (OUT / "api").mkdir(parents=True, exist_ok=True)
    for wf in workflows():
        (OUT / f"{wf['name']}.json").write_text(json.dumps(to_ui(wf, pack_nodes), indent=1) + "\n")
        (OUT / "api" / f"{wf['name']}.json").write_text(json.dumps(to_api(wf), indent=1) + "\n")
        print("wrote", wf["name"])


if __name__ == "__main__":
    main()
