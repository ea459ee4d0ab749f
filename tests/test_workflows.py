"""Each example workflow's UI graph and its API twin describe the same graph (no ComfyUI needed)."""
from __future__ import annotations

import json

import pytest

from conftest import REPO

UI = sorted((REPO / "example_workflows").glob("*.json"))
CORE_NODES = {"LoadImage", "LoadVideo", "GetVideoComponents", "CreateVideo", "SaveVideo", "ImageScaleBy",
              "ImageSharpen", "ImageStitch"}


def test_every_workflow_has_a_twin_and_a_thumbnail():
    assert len(UI) >= 5
    for ui in UI:
        assert (ui.parent / "api" / ui.name).exists(), f"no API twin for {ui.name}"
        thumbs = [ui.with_suffix(s) for s in (".webp", ".jpg")]
        assert any(t.exists() and t.stat().st_size < 100_000 for t in thumbs), f"no small thumbnail for {ui.name}"


@pytest.mark.parametrize("ui_path", UI, ids=lambda p: p.stem)
def test_ui_and_api_agree(ui_path, pack):
    ui = json.loads(ui_path.read_text())
    api = json.loads((ui_path.parent / "api" / ui_path.name).read_text())
    nodes = {str(n["id"]): n for n in ui["nodes"]}
    assert nodes.keys() == api.keys()
    links = {link[0]: link for link in ui["links"]}
    for nid, node in nodes.items():
        entry = api[nid]
        assert entry["class_type"] == node["type"]
        assert node["type"] in pack.NODE_CLASS_MAPPINGS or node["type"] in CORE_NODES, node["type"]
        # every UI link is the same connection in the API twin
        linked = {}
        for slot, inp in enumerate(node["inputs"]):
            if inp.get("link") is not None:
                _, src, src_slot, dst, dst_slot, _ = links[inp["link"]]
                assert (str(dst), dst_slot) == (nid, slot)
                linked[inp["name"]] = [str(src), src_slot]
        api_links = {k: v for k, v in entry["inputs"].items() if isinstance(v, list)}
        assert linked == api_links, f"{ui_path.stem} node {nid}"
        # widget values: our nodes' widgets in INPUT_TYPES order
        if node["type"] in pack.NODE_CLASS_MAPPINGS:
            spec = pack.NODE_CLASS_MAPPINGS[node["type"]].INPUT_TYPES()
            widgets = [k for section in ("required", "optional") for k, (t, *_) in spec.get(section, {}).items()
                       if isinstance(t, list) or t in ("INT", "FLOAT", "STRING", "BOOLEAN")]
            assert len(widgets) == len(node["widgets_values"]), f"{ui_path.stem} node {nid}"
            for name, value in zip(widgets, node["widgets_values"]):
                assert entry["inputs"][name] == value, f"{ui_path.stem} node {nid}.{name}"
                choices = spec.get("required", {}).get(name, spec.get("optional", {}).get(name))[0]
                if isinstance(choices, list) and name != "ckpt_name":
                    assert value in choices, f"{ui_path.stem} node {nid}.{name}={value!r}"
            assert set(entry["inputs"]) <= set(widgets) | set(linked), f"{ui_path.stem} node {nid}"
        else:
            api_widgets = [v for k, v in entry["inputs"].items() if not isinstance(v, list)]
            assert [v for v in node["widgets_values"] if v is not None][:len(api_widgets)] == api_widgets or \
                set(map(str, api_widgets)) <= set(map(str, node["widgets_values"]))
