"""The example workflows: each UI graph and its API twin describe the same graph, use only our nodes and core
nodes, feed our nodes valid inputs, read sample files that exist, and have a small thumbnail. No ComfyUI needed
(tests/integration/test_comfyui_server.py runs them in a real server and loads them in the real editor)."""
from __future__ import annotations

import importlib.util
import json
import sys

import pytest
from PIL import Image

from conftest import REPO

WF_DIR = REPO / "example_workflows"
UI = sorted(WF_DIR.glob("*.json"))
NAMES = [p.stem for p in UI]
CKPT = "cross-domain-demo-64px.safetensors"
# Core ComfyUI (0.3.6x) node types the examples may use; the integration test checks them against /object_info.
CORE_NODES = {"LoadImage", "LoadVideo", "GetVideoComponents", "CreateVideo", "SaveVideo", "ImageScaleBy",
              "ImageScale", "ImageSharpen", "ImageStitch", "ImageBatch", "UpscaleModelLoader",
              "ImageUpscaleWithModel", "PreviewImage", "SaveImage", "RepeatImageBatch",
              # chaining into Stable Diffusion img2img
              "ImageScaleToTotalPixels", "CheckpointLoaderSimple", "CLIPTextEncode", "VAEEncode", "VAEDecode",
              "KSampler", "LatentBatchSeedBehavior", "RebatchLatents", "RebatchImages"}
UI_ONLY_NODES = {"Note", "MarkdownNote"}      # frontend-only: never in the API format
UI_ONLY_WIDGETS = {"IMAGEUPLOAD"}             # upload buttons: a widgets_values entry, not a server input
OUTPUT_NODES = {"SaveVideo", "SaveImage", "PreviewImage"}
WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}
SAMPLE_INPUTS = {"LoadImage": "image", "LoadVideo": "file"}
SEED_WIDGETS = {"seed", "noise_seed"}  # the frontend stores their control_after_generate value right after them


def widget_values(node) -> list:
    """widgets_values without the UI-only control_after_generate entries (one after each seed widget)."""
    values, it = [], iter(node["widgets_values"])
    for inp in node["inputs"]:
        if "widget" in inp:
            values.append(next(it))
            if inp["name"] in SEED_WIDGETS:
                assert next(it) in ("fixed", "increment", "decrement", "randomize"), node["id"]
    assert next(it, None) is None, f"node {node['id']}: more widgets_values than widgets"
    return values


def load(path):
    return json.loads(path.read_text())


def api_of(ui_path):
    return load(ui_path.parent / "api" / ui_path.name)


def make_workflows():
    spec = importlib.util.spec_from_file_location("make_workflows", REPO / "tools" / "make_workflows.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("make_workflows", module)
    spec.loader.exec_module(module)
    return module


def pack_spec(pack, node_type):
    spec = pack.NODE_CLASS_MAPPINGS[node_type].INPUT_TYPES()
    return {name: (section, entry) for section in ("required", "optional") for name, entry in
            spec.get(section, {}).items()}


def test_the_examples_exist_with_twins_and_thumbnails():
    assert {"a_real_video_drives_a_real_portrait", "b_real_video_drives_a_cartoon_r2c",
            "c_cartoon_video_drives_a_real_face_c2r", "d_staged_nodes_into_an_upscaler",
            "e_three_strengths_side_by_side", "f_no_face_found_draw_the_box_by_hand"} <= set(NAMES)
    assert sorted(p.stem for p in (WF_DIR / "api").glob("*.json")) == NAMES, "every UI workflow needs one API twin"
    for name in NAMES:
        # the template browser (frontend 1.2x) asks for <name>.jpg beside a custom pack's template
        thumb = WF_DIR / f"{name}.jpg"
        assert thumb.exists(), f"no thumbnail {thumb.name} (tools/make_thumbnails.py writes it)"
        assert thumb.stat().st_size < 60_000, f"{thumb.name} is {thumb.stat().st_size} bytes"
        with Image.open(thumb) as img:
            assert img.format == "JPEG" and 64 <= max(img.size) <= 512, (img.format, img.size)


def test_files_match_the_generator(pack):
    """tools/make_workflows.py writes both formats from one spec: regenerate after editing it or the nodes."""
    files = make_workflows().render_all(pack)
    stale = [str(p.relative_to(REPO)) for p, text in files.items() if not p.exists() or p.read_text() != text]
    assert not stale, f"out of date (run python tools/make_workflows.py): {stale}"
    assert {p.stem for p in files if p.parent == WF_DIR} == set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_ui_workflow_is_well_formed(name):
    ui = load(WF_DIR / f"{name}.json")
    assert ui["version"] == 0.4 and isinstance(ui["links"], list)
    nodes = {n["id"]: n for n in ui["nodes"]}
    assert len(nodes) == len(ui["nodes"]) and ui["last_node_id"] >= max(nodes)
    assert ui["last_link_id"] >= max((link[0] for link in ui["links"]), default=0)
    seen = set()
    for link_id, src, src_slot, dst, dst_slot, typ in ui["links"]:
        assert link_id not in seen
        seen.add(link_id)
        out, inp = nodes[src]["outputs"][src_slot], nodes[dst]["inputs"][dst_slot]
        assert link_id in out["links"] and inp["link"] == link_id, f"link {link_id} not on both ends"
        assert typ == out["type"] == inp["type"], f"link {link_id}: {out['type']} -> {inp['type']} as {typ}"
    for n in ui["nodes"]:
        for inp in n["inputs"]:
            assert inp["link"] is None or inp["link"] in seen, f"node {n['id']}.{inp['name']}: dangling link"
        for out in n["outputs"]:
            assert all(link in seen for link in out["links"] or [])
        widgets = [inp for inp in n["inputs"] if "widget" in inp]
        if n["type"] not in UI_ONLY_NODES:
            assert len(widgets) == len(widget_values(n)), f"node {n['id']}: one value per widget input"


@pytest.mark.parametrize("name", NAMES)
def test_ui_and_api_agree(name):
    ui, api = load(WF_DIR / f"{name}.json"), api_of(WF_DIR / f"{name}.json")
    nodes = {str(n["id"]): n for n in ui["nodes"] if n["type"] not in UI_ONLY_NODES}
    assert nodes.keys() == api.keys(), "the same node ids (UI-only notes aside)"
    links = {link[0]: link for link in ui["links"]}
    for nid, node in nodes.items():
        entry = api[nid]
        assert entry["class_type"] == node["type"], nid
        assert entry["_meta"]["title"] == node.get("title", entry["_meta"]["title"])
        expected = {}
        for slot, inp in enumerate(node["inputs"]):
            if inp["link"] is not None:
                _, src, src_slot, dst, dst_slot, _ = links[inp["link"]]
                assert (str(dst), dst_slot) == (nid, slot)
                expected[inp["name"]] = [str(src), src_slot]
        widget_inputs = [inp for inp in node["inputs"] if "widget" in inp]
        for inp, value in zip(widget_inputs, widget_values(node)):
            if inp["type"] in UI_ONLY_WIDGETS:
                assert inp["name"] not in entry["inputs"]
            elif inp["link"] is None:
                expected[inp["name"]] = value
        assert entry["inputs"] == expected, f"{name} node {nid} ({node['type']})"


@pytest.mark.parametrize("name", NAMES)
def test_node_types_are_ours_or_core(name, pack):
    for path in (WF_DIR / f"{name}.json", WF_DIR / "api" / f"{name}.json"):
        data = load(path)
        types = [n["type"] for n in data["nodes"]] if "nodes" in data else [n["class_type"] for n in data.values()]
        for t in types:
            assert t in pack.NODE_CLASS_MAPPINGS or t in CORE_NODES or (t in UI_ONLY_NODES and "nodes" in data), \
                f"{path.name}: {t} is neither a ToonTalker node nor a core node"


@pytest.mark.parametrize("name", NAMES)
def test_api_workflow_is_runnable_as_far_as_we_can_tell(name, pack):
    api = api_of(WF_DIR / f"{name}.json")
    assert any(e["class_type"] in OUTPUT_NODES for e in api.values()), "no output node: nothing would run"
    for nid, entry in api.items():
        for key, value in entry["inputs"].items():
            if isinstance(value, list):
                assert value[0] in api and isinstance(value[1], int), f"node {nid}.{key}: bad link {value}"
        if entry["class_type"] in SAMPLE_INPUTS:
            file = entry["inputs"][SAMPLE_INPUTS[entry["class_type"]]]
            assert (REPO / "samples" / file).is_file(), f"node {nid} reads {file}, which samples/ lacks"
        if entry["class_type"] not in pack.NODE_CLASS_MAPPINGS:
            continue
        spec = pack_spec(pack, entry["class_type"])
        unknown = set(entry["inputs"]) - set(spec)
        assert not unknown, f"node {nid} ({entry['class_type']}): inputs {unknown} are not in INPUT_TYPES"
        missing = {k for k, (section, _) in spec.items() if section == "required"} - set(entry["inputs"])
        assert not missing, f"node {nid} ({entry['class_type']}): required inputs {missing} unset"
        for key, value in entry["inputs"].items():
            typ, *opts = spec[key][1]
            opts = opts[0] if opts else {}
            if isinstance(value, list):
                src = api[value[0]]
                if src["class_type"] in pack.NODE_CLASS_MAPPINGS:
                    out_type = pack.NODE_CLASS_MAPPINGS[src["class_type"]].RETURN_TYPES[value[1]]
                    assert out_type == typ, f"node {nid}.{key}: {out_type} into {typ}"
            elif isinstance(typ, list):
                if key == "ckpt_name":
                    assert value == CKPT
                else:
                    assert value in typ, f"node {nid}.{key}={value!r} not in {typ}"
            else:
                assert typ in ("INT", "FLOAT", "STRING", "BOOLEAN"), f"node {nid}.{key}: {typ} needs a link"
                if typ in ("INT", "FLOAT"):
                    assert isinstance(value, (int, float)) and not isinstance(value, bool)
                    assert opts.get("min", value) <= value <= opts.get("max", value), f"node {nid}.{key}={value}"
                    if typ == "INT":
                        assert float(value).is_integer()


def test_our_widget_order_matches_input_types(pack):
    """The editor maps widgets_values by position: the order must be INPUT_TYPES' (required, then optional)."""
    for path in UI:
        for node in load(path)["nodes"]:
            if node["type"] not in pack.NODE_CLASS_MAPPINGS:
                continue
            spec = pack_spec(pack, node["type"])
            widgets = [k for k, (_, (typ, *opts)) in spec.items() if (isinstance(typ, list) or typ in WIDGET_TYPES)
                       and not (opts and opts[0].get("forceInput"))]  # forceInput: a socket only
            assert [i["name"] for i in node["inputs"] if "widget" in i] == widgets, f"{path.stem} node {node['id']}"
            sockets = [k for k in spec if k not in widgets]
            assert [i["name"] for i in node["inputs"] if "widget" not in i] == sockets


def test_strength_comparison_shares_the_encoders():
    api = load(WF_DIR / "api" / "e_three_strengths_side_by_side.json")
    transfers = {nid: e for nid, e in api.items() if e["class_type"] == "ToonTalkerCanonicalTransfer"}
    assert sorted(e["inputs"]["strength"] for e in transfers.values()) == [0.5, 1, 1.5]
    assert len({tuple(e["inputs"]["source"]) for e in transfers.values()}) == 1
    assert len({tuple(e["inputs"]["motion"]) for e in transfers.values()}) == 1
    assert sum(e["class_type"] == "ToonTalkerEncodeDrivingMotion" for e in api.values()) == 1


def test_real_to_real_keeps_the_audio():
    api = load(WF_DIR / "api" / "a_real_video_drives_a_real_portrait.json")
    create = next(e for e in api.values() if e["class_type"] == "CreateVideo")
    components = next(nid for nid, e in api.items() if e["class_type"] == "GetVideoComponents")
    assert create["inputs"]["audio"] == [components, 1] and create["inputs"]["fps"] == [components, 2]


def _by_type(api: dict, class_type: str) -> tuple[str, dict]:
    found = [(nid, e) for nid, e in api.items() if e["class_type"] == class_type]
    assert len(found) == 1, f"{class_type}: {len(found)} nodes"
    return found[0]


def test_model_upscale_chain_upscales_the_face_crop_only():
    api = load(WF_DIR / "api" / "g_chain_upscale_the_face_crop_with_a_model.json")
    reenact_id, reenact = _by_type(api, "ToonTalkerReenact")
    assert reenact["inputs"]["crop"] == "none"  # the model's resolution: crops in, crops out
    crops = {tuple(reenact["inputs"][k]) for k in ("source_image", "driving_frames")}
    assert {api[src]["class_type"] for src, _ in crops} == {"ToonTalkerFaceCrop"}
    up_id, up = _by_type(api, "ImageUpscaleWithModel")
    assert up["inputs"]["image"] == [reenact_id, 0]
    # a preview of the upscaled crops: an output node two links below the upscaler's loader, which ComfyUI
    # therefore runs first (a missing upscaler stops the run before any ToonTalker node)
    _, preview = _by_type(api, "PreviewImage")
    loader_id, _ = _by_type(api, "UpscaleModelLoader")
    assert preview["inputs"]["images"] == [up_id, 0] and up["inputs"]["upscale_model"] == [loader_id, 0]
    _, paste = _by_type(api, "ToonTalkerPasteBack")
    source_crop = reenact["inputs"]["source_image"][0]
    assert paste["inputs"]["rendered"] == [up_id, 0] and paste["inputs"]["crop"] == [source_crop, 1]
    assert api[paste["inputs"]["original"][0]]["class_type"] == "LoadImage"  # back at the source resolution


def test_diffusion_chain_uses_one_noise_for_every_frame():
    api = load(WF_DIR / "api" / "h_chain_stylize_the_frames_with_stable_diffusion.json")
    _, seeds = _by_type(api, "LatentBatchSeedBehavior")
    assert seeds["inputs"]["seed_behavior"] == "fixed"
    _, sampler = _by_type(api, "KSampler")
    assert 0.2 <= sampler["inputs"]["denoise"] <= 0.5, "img2img: low denoise keeps the reenacted face"
    # samplers that draw fresh noise at every step would differ from frame to frame
    assert "ancestral" not in sampler["inputs"]["sampler_name"] and "sde" not in sampler["inputs"]["sampler_name"]
    ui = load(WF_DIR / "h_chain_stylize_the_frames_with_stable_diffusion.json")
    ks = next(n for n in ui["nodes"] if n["type"] == "KSampler")
    assert ks["widgets_values"][1] == "fixed", "control_after_generate must keep the seed"
    _, create = _by_type(api, "CreateVideo")
    components, _ = _by_type(api, "GetVideoComponents")
    assert create["inputs"]["audio"] == [components, 1] and create["inputs"]["fps"] == [components, 2]


def test_names_read_as_sentences_and_titles_hold_no_values():
    """Frontends without web/template_index.js show a pack template's file name as its title and description:
    names must read as sentences and start with their order letter; node titles and group labels must not repeat
    widget values."""
    import re

    assert NAMES == sorted(NAMES) and NAMES[0].startswith("a_")
    for name in NAMES:
        assert re.fullmatch(r"[a-z]_[a-z0-9]+(_[a-z0-9]+){3,}", name), name
        ui = load(WF_DIR / f"{name}.json")
        labels = [n.get("title", "") for n in ui["nodes"]] + [g["title"] for g in ui["groups"]]
        for label in labels:
            assert not re.search(r"\d\.\d", label), f"{name}: '{label}' hard-codes a value"


def test_no_face_error_names_the_recovery_template(pack):
    import importlib

    payloads = importlib.import_module(pack.__name__ + ".nodes.payloads")
    name = payloads.NO_FACE_TEMPLATE
    assert name in NAMES
    api = load(WF_DIR / "api" / f"{name}.json")
    crops = {nid: e for nid, e in api.items() if e["class_type"] == "ToonTalkerFaceCrop"}
    manual = [nid for nid, e in crops.items() if e["inputs"]["box_mode"] == "manual"]
    paste = next(e for e in api.values() if e["class_type"] == "ToonTalkerPasteBack")
    # Paste Back takes the SOURCE crop (the manual one) and the original source image it was cut from
    assert len(manual) == 1 and paste["inputs"]["crop"] == [manual[0], 1]
    assert paste["inputs"]["original"] == crops[manual[0]]["inputs"]["image"]
    encode = next(e for e in api.values() if e["class_type"] == "ToonTalkerEncodeSource")
    assert encode["inputs"]["image"] == [manual[0], 0]


# ------------------------------------------------------------------------------------------- template browser
INDEX = REPO / "web" / "template_index.json"


def test_template_index_gives_every_template_a_short_title_and_one_line():
    """web/template_index.js shows these in frontend 1.27's template browser: a card (16rem wide) shows a title
    in two lines of text-lg and a description in two lines of text-sm, and the frontend turns '-' and '_' in a
    custom template's description into spaces. The browser test measures that none is cut off; here the
    lengths keep them well inside (about 24 and 32 characters a line)."""
    index = load(INDEX)["templates"]
    assert [t["name"] for t in index] == NAMES, "one entry per template, in name order"
    titles = [t["title"] for t in index]
    assert len(set(titles)) == len(titles), "titles tell the templates apart"
    for t in index:
        assert 10 <= len(t["title"]) <= 32, t
        assert 20 <= len(t["description"]) <= 56 and "\n" not in t["description"], t
        assert not set("-_") & set(t["description"]), f"{t['name']}: the frontend shows '-' and '_' as spaces"
        words = lambda text: {w.strip(".,:;()'").lower() for w in text.split()}
        assert words(t["description"]) - words(t["name"].replace("_", " ")), f"{t['name']}: just the name"
        ui = load(WF_DIR / f"{t['name']}.json")
        assert ui["extra"]["toontalker"]["title"] == t["title"]


# ----------------------------------------------------------------------------------------- models to download
MODEL_WIDGETS = {"UpscaleModelLoader": ("model_name", "upscale_models"),
                 "CheckpointLoaderSimple": ("ckpt_name", "checkpoints")}


@pytest.mark.parametrize("name", NAMES)
def test_models_the_user_downloads_are_listed_with_a_url(name):
    """Every core loader names a file the workflow lists in `models` (workflow level and on the node, as
    Comfy-Org's templates do), with a url frontend 1.27's missing-models dialog will download: huggingface.co
    and a .safetensors file (it refuses others), into the loader's model folder."""
    ui, api = load(WF_DIR / f"{name}.json"), api_of(WF_DIR / f"{name}.json")
    listed = {m["name"]: m for m in ui.get("models", [])}
    wanted = {}
    for n in ui["nodes"]:
        if n["type"] in MODEL_WIDGETS:
            widget, folder = MODEL_WIDGETS[n["type"]]
            file = api[str(n["id"])]["inputs"][widget]
            assert file in n["widgets_values"]
            wanted[file] = folder
            assert n["properties"].get("models") == [listed.get(file)], f"node {n['id']}: properties.models"
    assert set(listed) == set(wanted), f"models {sorted(listed)} vs loaders {sorted(wanted)}"
    for file, m in listed.items():
        assert m["directory"] == wanted[file], m
        assert m["url"].startswith("https://huggingface.co/") and file.endswith(".safetensors"), m
        assert m["url"].split("?")[0].endswith("/" + file), f"{m['url']} does not download {file}"


def test_the_chaining_templates_need_their_models():
    assert [m["name"] for m in load(WF_DIR / "g_chain_upscale_the_face_crop_with_a_model.json")["models"]] == [
        "RealESRGAN_x4plus.safetensors"]
    assert [m["name"] for m in load(WF_DIR / "h_chain_stylize_the_frames_with_stable_diffusion.json")["models"]] == [
        "v1-5-pruned-emaonly-fp16.safetensors"]


# ---------------------------------------------------------------------------------------------------- layout
TITLE_H = 30  # LiteGraph.NODE_TITLE_HEIGHT: the title bar is drawn above a node's pos


def node_box(node) -> tuple[float, float, float, float]:
    (x, y), (w, h) = node["pos"], node["size"]
    return x, y - TITLE_H, x + w, y + h


def overlaps(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


@pytest.mark.parametrize("name", NAMES)
def test_no_two_nodes_overlap(name):
    """With the sizes stored in the file, title bars included. The stored sizes are at least what frontend 1.27
    draws (tests/integration/test_browser_templates.py compares them with the loaded graph's)."""
    nodes = load(WF_DIR / f"{name}.json")["nodes"]
    hits = [(a["id"], b["id"]) for k, a in enumerate(nodes) for b in nodes[k + 1:]
            if overlaps(node_box(a), node_box(b))]
    assert not hits, f"{name}: overlapping nodes {hits}"


def test_overlap_check_sees_an_overlap():
    a = {"pos": [400, 1010], "size": [240, 80]}  # template f's old Get Video Components and source Face Crop
    b = {"pos": [420, 590], "size": [320, 446]}
    assert overlaps(node_box(a), node_box(b)) and overlaps(node_box(b), node_box(a))
    assert not overlaps(node_box(a), node_box({"pos": [700, 590], "size": [320, 446]}))
