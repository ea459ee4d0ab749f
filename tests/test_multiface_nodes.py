"""The face inputs of Face Crop and the all-in-one node (no ComfyUI): which face, all faces, per-face domains,
and the new inputs last (saved workflows keep their widget order)."""
from __future__ import annotations

import importlib

import pytest
import torch

from conftest import REPO
from tiny import TINY, tiny_model
from toontalker_core.media import load_image

REAL = load_image(REPO / "samples" / "source_real.png")


def two_portraits() -> torch.Tensor:
    """IMAGE [1,288,608,3]: the sample portrait at 256 px on the left and at 128 px on the right."""
    img = torch.full((3, 288, 608), 0.92)
    img[:, 16:272, 16:272] = REAL
    img[:, 80:208, 400:528] = torch.nn.functional.interpolate(REAL[None], size=(128, 128), mode="area")[0]
    return img.permute(1, 2, 0)[None].contiguous()


@pytest.fixture(scope="module")
def model(pack, tmp_path_factory):
    core = importlib.import_module(pack.__name__ + ".toontalker_core.model.checkpoint")
    m = tiny_model(True)
    path = core.save_safetensors({"gen": m.gen.state_dict(), "gen_real": m.gen_real.state_dict()},
                                 tmp_path_factory.mktemp("m") / "cross-domain-t.safetensors", TINY)
    return core.load_model(path)


def test_new_face_inputs_come_last(pack):
    face = importlib.import_module(pack.__name__ + ".nodes.face").FaceCrop.INPUT_TYPES()
    assert list(face["optional"])[-2:] == ["face", "track_hold"]
    render = importlib.import_module(pack.__name__ + ".nodes.render").ToonTalkerReenact.INPUT_TYPES()
    assert list(render["optional"])[-5:] == ["crop", "faces", "driving_face", "face_domains", "track_hold"]


def test_face_crop_takes_the_face_at_a_position(pack):
    face = importlib.import_module(pack.__name__ + ".nodes.face").FaceCrop()
    args = dict(box_mode="auto", box_x=0, box_y=0, box_size=256, crop_mode="fixed", crop_size=64)
    largest = face.crop(two_portraits(), **args)["result"][1].boxes[0]
    right = face.crop(two_portraits(), **args, face="1")["result"][1].boxes[0]
    centre = lambda b: float(b[0] + b[2] / 2)  # noqa: E731
    assert centre(largest) < 272 < 400 < centre(right)
    assert float(right[2]) < float(largest[2]) * 0.7                     # the 128 px face's smaller box
    with pytest.raises(Exception, match="face 2: 'image' has 2 faces"):
        face.crop(two_portraits(), **args, face="2")


def test_all_in_one_animates_every_face_each_in_its_domain(pack, model):
    render = importlib.import_module(pack.__name__ + ".nodes.render").ToonTalkerReenact()
    src = two_portraits()
    frames = torch.cat([torch.roll(src, shifts=(2 * i, 3 * i), dims=(1, 2)) for i in range(3)])
    route = "real video -> real portrait"

    def run(**faces):
        return render.reenact(model, src, frames, route, 1.0, "relative", 0, 2, "auto", **faces)[0]

    one = run()
    both = run(faces="all", face_domains="real,real")
    mixed = run(faces="all", face_domains="real,cartoon")
    right = (slice(None), slice(80, 208), slice(400, 528))
    left = (slice(None), slice(16, 272), slice(16, 272))
    assert (one[right] - src[0][80:208, 400:528]).abs().max() == 0          # largest only: the right one untouched
    assert (both[right] - src[0][80:208, 400:528]).abs().amax() > 1e-3      # all: the right one animated too
    assert torch.allclose(both[left], one[left], atol=1e-5)                 # the left face as before
    assert (mixed[right] - both[right]).abs().mean() > 1e-3                 # its own domain
    assert torch.allclose(mixed[left], both[left], atol=1e-5)
    assert (both[:, :10, :] - src[:, :10, :]).abs().max() == 0              # the top rows: no face, untouched
    with pytest.raises(Exception, match="face_domains 'real,cartoon,real' names 3 domains for 2"):
        run(faces="all", face_domains="real,cartoon,real")


def test_all_in_one_auto_domains_are_each_faces_own_and_logged_once(pack, model, caplog):
    render = importlib.import_module(pack.__name__ + ".nodes.render").ToonTalkerReenact()
    cartoon = load_image(REPO / "samples" / "source_cartoon.png")
    src = two_portraits()
    src[0, 80:208, 400:528] = torch.nn.functional.interpolate(cartoon[None], size=(128, 128),
                                                              mode="area")[0].permute(1, 2, 0)
    frames = torch.cat([torch.roll(src, shifts=(2 * i, 3 * i), dims=(1, 2)) for i in range(3)])

    def run(domains):
        return render.reenact(model, src, frames, "real video -> real portrait", 1.0, "relative", 0, 2, "auto",
                              faces="all", face_domains=domains)[0]

    with caplog.at_level("WARNING"):
        auto = run("auto")
    lines = [r.getMessage() for r in caplog.records if "face_domains auto" in r.getMessage()]
    assert lines == ["ToonTalker: face 0 from the left: real (face_domains auto, it looks like a real photo)",
                     "ToonTalker: face 1 from the left: cartoon (face_domains auto, it looks like a cartoon)"]
    assert torch.equal(auto, run("real,cartoon"))
    assert torch.equal(run("real,auto"), auto)


def test_track_hold_sets_how_long_the_nodes_hold_a_lost_face(pack, model, caplog):
    src = two_portraits()
    frames = torch.cat([src, src, torch.full_like(src, 0.4), torch.full_like(src, 0.4), src])  # gone for 2 frames
    face = importlib.import_module(pack.__name__ + ".nodes.face").FaceCrop()
    args = dict(box_mode="auto", box_x=0, box_y=0, box_size=256, crop_mode="tracked", crop_size=64)
    ends = {0.25: "; the predicted box was held",
            0.0: "; 1 gap outlasted the 0-frame hold and the track restarted on the next face found"}
    for hold, end in ends.items():
        notes = face.crop(frames, **args, track_hold=hold)["ui"]["toontalker_crop"][0]["notes"]
        assert notes[-1].endswith(end)
    render = importlib.import_module(pack.__name__ + ".nodes.render").ToonTalkerReenact()
    with caplog.at_level("WARNING"):
        render.reenact(model, src, frames, "real video -> real portrait", 1.0, "relative", 0, 2, "auto",
                       track_hold=0.0)
    assert any(r.getMessage().endswith(ends[0.0]) for r in caplog.records)
    bad = r"^track_hold \(seconds a lost face is held\) must be >= 0 and <= 10, got "
    with pytest.raises(Exception, match=bad + "-1"):
        face.crop(frames, **args, track_hold=-1)
    with pytest.raises(Exception, match=bad + "11"):
        render.reenact(model, src, frames, "real video -> real portrait", 1.0, "relative", 0, 2, "auto", track_hold=11)
