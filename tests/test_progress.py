"""Progress from the start (issue 23.6): the first update comes before any model work, and the phases are named
in the order they run. ComfyUI's progress bar and progress text are replaced by recording stand-ins."""
from __future__ import annotations

import importlib

import pytest
import torch

from conftest import REPO
from toontalker_core.media import load_image, read_frame


@pytest.fixture()
def recorded(pack, monkeypatch):
    """-> (modules, events): events gets ("progress", value, total), ("text", last line) and ("work", what)."""
    mods = {n: importlib.import_module(f"{pack.__name__}.nodes.{n}") for n in ("feedback", "render", "memory", "motion")}
    events = []

    class Bar:  # ComfyUI's ProgressBar contract: update_absolute(value, total)
        def __init__(self, total):
            self.total = total

        def update_absolute(self, value, total=None, preview=None):
            self.total = total if total is not None else self.total
            events.append(("progress", value, self.total))

    monkeypatch.setattr(mods["feedback"], "ProgressBar", Bar)
    monkeypatch.setattr(mods["feedback"], "progress_text", lambda text: events.append(("text", text.splitlines()[-1])))

    def work(module, name):
        original = getattr(module, name)

        def recorded_work(*args, **kwargs):
            events.append(("work", name))
            return original(*args, **kwargs)
        monkeypatch.setattr(module, name, recorded_work)

    for name in ("prepare", "locate_node_faces", "plan_faces", "reference_code", "reenact_batch", "encode_source"):
        work(mods["render"], name)
    # crop auto renders each face through the core's multi-face plan
    work(importlib.import_module(f"{pack.__name__}.toontalker_core.multiface"), "reenact_driven")
    return mods, events


def _phase(text: str) -> str:
    return text.rsplit(" ", 1)[0] if text[-1].isdigit() else text


def test_all_in_one_reports_first_and_names_its_phases(recorded):
    from tiny import tiny_model

    mods, events = recorded
    source = load_image(REPO / "samples" / "source_real.png").permute(1, 2, 0)[None]
    frames = torch.stack([read_frame(REPO / "samples" / "driving.mp4", i) for i in range(5)]).permute(0, 2, 3, 1)
    out = mods["render"].ToonTalkerReenact().reenact(tiny_model(True), source, frames, "real video -> real portrait",
                                                     1.0, "relative", 0, 2, "auto")[0]
    assert out.shape == (5, 256, 256, 3)
    first_work = next(i for i, e in enumerate(events) if e[0] == "work")
    assert ("progress", 0, 5) in events[:first_work] and ("text", "loading model") in events[:first_work]
    texts = [e[1] for e in events if e[0] == "text"]
    phases = list(dict.fromkeys(_phase(t) for t in texts))
    assert phases == ["loading model", "detecting faces", "encoding source", "rendering"]
    # each phase is announced before its work starts
    at = {e: i for i, e in reversed(list(enumerate(events)))}
    assert at[("text", "detecting faces")] < at[("work", "locate_node_faces")]
    assert at[("text", "encoding source")] < at[("work", "plan_faces")]
    assert at[("text", "rendering 0/5")] < at[("work", "reenact_driven")]
    assert [e for e in events if e[0] == "progress"][-1] == ("progress", 5, 5)
    assert [t for t in texts if t.startswith("rendering")] == ["rendering 0/5", "rendering 2/5", "rendering 4/5",
                                                               "rendering 5/5"]


def test_crop_none_and_staged_loops(recorded):
    from tiny import tiny_images, tiny_model

    mods, events = recorded
    model = tiny_model(True)
    image = tiny_images(1, seed=3).permute(0, 2, 3, 1)
    frames = tiny_images(3, seed=4).permute(0, 2, 3, 1)
    mods["render"].ToonTalkerReenact().reenact(model, image, frames, "real video -> real portrait", 1.0, "relative",
                                               0, 2, "none")
    first_work = next(i for i, e in enumerate(events) if e[0] == "work")
    assert events[0] == ("progress", 0, 3) and ("text", "loading model") in events[:first_work]
    assert list(dict.fromkeys(_phase(e[1]) for e in events if e[0] == "text")) == \
        ["loading model", "encoding source", "rendering"]
    events.clear()
    mods["motion"].EncodeDrivingMotion().encode(model, frames, "real", 2)
    texts = [e[1] for e in events if e[0] == "text"]
    assert texts == ["loading model", "encoding driving frames 0/3", "encoding driving frames 2/3",
                     "encoding driving frames 3/3"]


def test_run_chunks_reports_zero_before_the_first_chunk(recorded):
    mods, events = recorded

    def compute(frames):
        events.append(("work", frames.start))
        return frames.stop - frames.start

    assert [n for _, n in mods["memory"].run_chunks(5, 2, compute, phase="decoding")] == [2, 2, 1]
    assert events[:3] == [("progress", 0, 5), ("text", "decoding 0/5"), ("work", 0)]
    assert events[-2:] == [("progress", 5, 5), ("text", "decoding 5/5")]


def test_text_goes_to_comfyuis_server_where_it_can(pack, monkeypatch):
    """Through PromptServer.send_progress_text to the executing node (stand-ins of both ComfyUI modules); a server
    without send_progress_text (older ComfyUI) is skipped silently, and so is a run with no node executing."""
    import sys
    import types

    comfy = importlib.import_module(pack.__name__ + ".nodes.comfy")
    sent = []

    class Server:
        def send_progress_text(self, text, node_id):
            sent.append((node_id, text))

        def send_sync(self, event, data, sid=None):
            sent.append((event, data["message"]))

    class PromptServer:
        instance = Server()

    context = types.SimpleNamespace(node_id="17", prompt_id="p", list_index=None)
    monkeypatch.setitem(sys.modules, "server", types.SimpleNamespace(PromptServer=PromptServer))
    monkeypatch.setitem(sys.modules, "comfy_execution.utils",
                        types.SimpleNamespace(get_executing_context=lambda: context))
    comfy.progress_text("rendering 3/10")
    comfy.send_event("toontalker.warning", {"message": "m"})
    assert sent == [("17", "rendering 3/10"), ("toontalker.warning", "m")]
    context = None
    comfy.progress_text("nothing runs")
    PromptServer.instance = types.SimpleNamespace(send_sync=lambda *a: None)  # no progress text in this version
    context = types.SimpleNamespace(node_id="18")
    comfy.progress_text("older server")
    assert sent == [("17", "rendering 3/10"), ("toontalker.warning", "m")]
