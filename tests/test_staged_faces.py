"""Several faces with the staged nodes (no ComfyUI): one chain per face, Face Crop (face 0 / face 1 of the same
still) -> Encode Source -> Transfer -> Decode -> Warp Render -> Paste Back, the second Paste Back pasting into
the first one's frames. The bundled demo model on samples/source_two_faces.png (a real face left, a cartoon
right) and the first frames of samples/driving.mp4, as template l does."""
from __future__ import annotations

import importlib

import pytest
import torch

from conftest import REPO
from toontalker_core.media import iter_driving, load_image

CKPT = "cross-domain-demo-64px.safetensors"
DOMAINS = ("real", "cartoon")  # left to right, as in templates k and l
FRAMES = 6


def as_image(x01: torch.Tensor) -> torch.Tensor:  # [N,3,H,W] -> IMAGE [N,H,W,3]
    return x01.permute(0, 2, 3, 1).contiguous()


def result(ret):
    return ret["result"] if isinstance(ret, dict) else ret


@pytest.fixture(scope="module")
def nodes(pack):
    return importlib.import_module(pack.__name__ + ".nodes")


@pytest.fixture(scope="module")
def model(nodes):
    return nodes.LoadToonTalkerCheckpoint().load(CKPT, "cpu", "fp32")[0]


@pytest.fixture(scope="module")
def still():
    return as_image(load_image(REPO / "samples" / "source_two_faces.png")[None])


@pytest.fixture(scope="module")
def driving():
    return as_image(next(iter_driving(REPO / "samples" / "driving.mp4", chunk_size=FRAMES, stop=FRAMES)))


def face_crop(nodes, model, image, crop_mode, face="largest"):
    return result(nodes.FaceCrop().crop(image, "auto", 0, 0, 256, crop_mode, model=model, fps=25.0, face=face))


def chain(nodes, model, original, still, motion, face: str, domain: str, strength: float = 1.0):
    """One face's chain; `original`: the still, or the previous chain's Paste Back output."""
    crops, crop, mask = face_crop(nodes, model, still, "fixed", face)
    source = nodes.EncodeSource().encode(model, crops, domain)[0]
    canonical = result(nodes.CanonicalMotionTransfer().transfer(source, motion, strength, "relative", 0))[0]
    latents = nodes.DecodeToDomain().decode(model, source, canonical)[0]
    rendered = nodes.WarpRender().render(model, source, latents, 8, 0)[0]
    return nodes.PasteBack().paste(original, rendered, crop, 0.1, 0.0)[0], mask[0]


@pytest.fixture(scope="module")
def motion(nodes, model, driving):
    crops, _, _ = face_crop(nodes, model, driving, "tracked")
    return result(nodes.EncodeDrivingMotion().encode(model, crops, "real", 16, 25.0))[0]


@pytest.fixture(scope="module")
def stacked(nodes, model, still, motion):
    """(frames after face 0's chain, after both chains, the two paste masks [H,W])."""
    first, left = chain(nodes, model, still, still, motion, "0", DOMAINS[0])
    both, right = chain(nodes, model, first, still, motion, "1", DOMAINS[1])
    return first, both, left, right


def test_outside_both_masks_the_still_is_kept_bit_for_bit(stacked, still):
    first, both, left, right = stacked
    assert both.shape == (FRAMES, *still.shape[1:])
    outside = (left == 0) & (right == 0)
    assert outside.float().mean() > 0.15                                  # the grey band between the faces
    assert torch.equal(both[:, outside], still[:, outside].expand(FRAMES, -1, -1))
    # the second chain leaves the first face as the first Paste Back made it
    assert torch.equal(both[:, right == 0], first[:, right == 0])


def test_each_face_is_reenacted(stacked, still):
    _, both, left, right = stacked
    for mask in (left, right):
        inside = mask > 0.99
        # the 64 px render pasted in (measured 0.032 left, 0.054 right)
        assert (both[:, inside] - still[:, inside]).abs().mean() > 0.02
        # and it moves with the driving video (the head starts to turn): the last frame is not the first
        assert (both[-1][inside] - both[0][inside]).abs().mean() > 2e-3  # measured 1.0e-2 left, 4.4e-3 right


def test_stacked_chains_equal_the_all_in_one_node(stacked, nodes, model, still, driving, caplog):
    """The two paths run the same steps: the all-in-one node with faces all finds both faces with the same
    detector and crop boxes as Face Crop face 0 / 1, encodes each in its face_domains domain, measures the
    motion of the driving face tracked from the reference frame (Face Crop tracked + Encode Driving Motion,
    reference_frame 0) and pastes face after face, left to right, with feather 0.1 (Paste Back into Paste Back).
    What differs is batching only (the all-in-one node encodes the reference frame on its own, Encode Driving
    Motion all frames at once), so the frames agree to float rounding: measured max 5e-6 on a 0..1 scale."""
    _, both, _, _ = stacked
    allin = nodes.ToonTalkerReenact().reenact(model, still, driving, "real video -> real portrait", 1.0,
                                              "relative", 0, 8, "auto", faces="all", driving_face="largest",
                                              face_domains=",".join(DOMAINS))[0]
    assert allin.shape == both.shape
    assert (allin - both).abs().max() < 1e-4
    # face_domains gives each face's domain: no warning that the picture (half cartoon) is not 'real'
    assert "looks like" not in caplog.text


def test_each_chain_has_its_own_strength(stacked, nodes, model, still, motion):
    """Strength 0 on the right face's chain: the cartoon keeps its pose through the video, the left face's
    frames are those of the first chain, bit for bit."""
    first, both, left, right = stacked
    still_right, _ = chain(nodes, model, first, still, motion, "1", DOMAINS[1], strength=0.0)
    inside = right > 0.99
    assert torch.equal(still_right[:, right == 0], first[:, right == 0])
    assert (still_right[:, inside] - still_right[:1, inside]).abs().max() < 1e-4
    assert (both[-1][inside] - still_right[-1][inside]).abs().mean() > 2e-3   # measured 4.4e-3


def test_face_crop_and_paste_back_say_how_to_chain_several_faces(nodes, model, still):
    for face in ("all", "0,1"):
        with pytest.raises(Exception, match=f"face '{face}': Face Crop crops one face; for several, give each "
                                            "face its own Face Crop"):
            face_crop(nodes, model, still, "fixed", face)
    with pytest.raises(Exception, match="face 'paired' is not understood: use largest, or one position"):
        face_crop(nodes, model, still, "fixed", "paired")
    crops, crop, _ = face_crop(nodes, model, still, "fixed", "1")
    wrong = still[:, :, :304]  # not the image Face Crop cropped
    with pytest.raises(Exception, match="'original' is 304x304 but 'crop' was made for 608x304 images"):
        nodes.PasteBack().paste(wrong, crops, crop, 0.1, 0.0)
