"""The domain check (issue 23.5): its accuracy on the generated and the pack's sample sets (the shared media
when present), its one-line warnings from the CLI and the nodes, and defaults that agree with the media a
hand-built graph starts with."""
from __future__ import annotations

import importlib
import importlib.util
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import MEDIA, REPO
from toontalker_core.domain_check import domain_warning, looks_like, route_warnings
from toontalker_core.media import load_image, read_frame

sys.path.insert(0, str(REPO / "tools"))
measure = importlib.import_module("measure_domain_check")


def test_generated_held_out_set():
    """Procedural cartoons and animated public-domain stills the thresholds were not chosen on (seed 2)."""
    pytest.importorskip("skimage")
    counts = {t: measure.score([i for i in measure.generated(12, seed=2) if i.truth == t]) for t in ("real", "cartoon")}
    for truth, c in counts.items():
        assert c["fp"] == 0, (truth, c)          # a correct run is never warned
        assert c["tp"] >= 0.9 * c["n"], (truth, c)  # a mismatch is nearly always caught


def test_samples_set():
    c = measure.score(measure.samples())
    assert c["n"] == 14 and c["tp"] == 14 and c["fp"] == 0, c


def test_shared_media_never_warn_a_correct_run():
    if not MEDIA.is_dir():
        pytest.skip(f"shared media not found at {MEDIA}")
    sets = measure.shared(MEDIA)
    for name, items in sets.items():
        assert measure.score(items)["fp"] == 0, name
    assert measure.score(sets["shared-real"])["tp"] == len(sets["shared-real"])


def test_warnings_name_the_input_and_the_fix():
    cartoon = load_image(REPO / "samples" / "source_cartoon.png")
    real = load_image(REPO / "samples" / "source_real.png")
    assert looks_like(cartoon) == "cartoon" and looks_like(real) == "real"
    line = domain_warning(cartoon, "real", "source", lambda seen: f"set domain to {seen}")
    assert line == "the source looks like a cartoon but is encoded as real: set domain to cartoon"
    assert domain_warning(cartoon, "cartoon", "source", str) is None
    assert "\n" not in line
    # a route: each input that looks wrong gets its line, both naming the route the images look like
    lines = route_warnings(real, cartoon, "cartoon", "real", lambda s, d: f"route {s}<-{d}")
    assert lines == ["the source looks like a real photo but is encoded as cartoon: route real<-cartoon",
                     "the driving video looks like a cartoon but is encoded as real: route real<-cartoon"]
    assert route_warnings(cartoon, real, "cartoon", "real", lambda s, d: "unused") == []


def test_cli_warns_on_stderr(tmp_path, capsys):
    from tiny import tiny_model
    from toontalker_core.app.cli import main
    from toontalker_core.model.checkpoint import save_safetensors

    ckpt = save_safetensors(tiny_model(False), tmp_path / "in.safetensors")
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(3):
        arr = (read_frame(REPO / "samples" / "driving.mp4", i).permute(1, 2, 0).numpy() * 255).round()
        Image.fromarray(arr.astype(np.uint8)).save(frames / f"f{i}.png")
    args = ["indomain", "--source_path", str(REPO / "samples" / "source_cartoon.png"), "--driving_path",
            str(frames), "--checkpoint", str(ckpt), "--crop", "none", "--output_dir", str(tmp_path / "out.npy")]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "warning: the source looks like a cartoon but is encoded as real: run crossdomain --type r2c" in err
    assert "driving video looks" not in err  # the real driving frames are real


def test_nodes_warn_once_on_the_node_and_as_a_toast(pack, monkeypatch):
    from tiny import tiny_model

    feedback = importlib.import_module(pack.__name__ + ".nodes.feedback")
    motion = importlib.import_module(pack.__name__ + ".nodes.motion")
    render = importlib.import_module(pack.__name__ + ".nodes.render")
    texts, events = [], []
    monkeypatch.setattr(feedback, "progress_text", texts.append)
    monkeypatch.setattr(feedback, "send_event", lambda name, data: events.append((name, data["message"])))
    model = tiny_model(True)
    cartoon = load_image(REPO / "samples" / "source_cartoon.png").permute(1, 2, 0)[None]
    real_frames = torch.stack([read_frame(REPO / "samples" / "driving.mp4", i) for i in range(3)]).permute(0, 2, 3, 1)

    motion.EncodeSource().encode(model, cartoon, "real")
    expected = "the source looks like a cartoon but is encoded as real: set domain to cartoon"
    assert events == [(feedback.WARNING_EVENT, expected)]
    assert texts[-1].splitlines()[0] == f"warning: {expected}"  # kept above the phase text
    events.clear()
    motion.EncodeSource().encode(model, cartoon, "cartoon")
    motion.EncodeDrivingMotion().encode(model, real_frames, "real", 4)
    assert events == []
    render.ToonTalkerReenact().reenact(model, cartoon, real_frames, "real video -> real portrait", 1.0, "relative",
                                       0, 4, "none")
    assert events == [(feedback.WARNING_EVENT, "the source looks like a cartoon but is encoded as real: set route "
                                               "to 'real video -> cartoon portrait (r2c)'")]


def test_defaults_agree_with_the_media_a_graph_starts_with(pack):
    """Load Image lists the input folder's images sorted (ComfyUI's own example.png, a cartoon drawing, sorts
    before the samples); Load Video its videos sorted: the nodes' defaults are those files' domains."""
    motion = importlib.import_module(pack.__name__ + ".nodes.motion")
    render = importlib.import_module(pack.__name__ + ".nodes.render")
    edit = importlib.import_module(pack.__name__ + ".nodes.motion_edit")
    samples = sorted(p for p in (REPO / "samples").iterdir())
    image = next(p for p in samples if p.suffix == ".png")
    video = next(p for p in samples if p.suffix == ".mp4")
    source_domain, driving_domain = looks_like(load_image(image)), looks_like(read_frame(video, 0))
    assert (source_domain, driving_domain) == ("cartoon", "real")

    def default(cls, name):
        spec = cls.INPUT_TYPES()
        return {**spec["required"], **spec.get("optional", {})}[name][1]["default"]

    assert default(motion.EncodeSource, "domain") == source_domain
    assert default(edit.MotionKeyframes, "domain") == source_domain
    assert default(motion.EncodeDrivingMotion, "domain") == driving_domain
    assert render.ROUTES[default(render.ToonTalkerReenact, "route")] == (source_domain, driving_domain)
