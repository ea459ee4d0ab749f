"""Several faces in one picture: which faces are chosen, each reenacted in its own domain with its own crop,
pairing of driving and source faces, and the background outside every paste mask left bit for bit."""
from __future__ import annotations

import pytest
import torch

from conftest import REPO
from tiny import tiny_model
from toontalker_core.domain_check import box_pixels, pick_face_domains
from toontalker_core.errors import InputError
from toontalker_core.face import (FaceCropper, NoFaceError, locate_faces, parse_domains, parse_driving_face,
                                  parse_faces, paste_mask)
from toontalker_core.media import iter_driving, load_image
from toontalker_core.multiface import driving_croppers, prepare_sources, reenact_faces
from toontalker_core.pipeline import reenact_full_frames

REAL = load_image(REPO / "samples" / "source_real.png")
CARTOON = load_image(REPO / "samples" / "source_cartoon.png")
LEFT, RIGHT = (16, 16), (336, 16)  # (x, y) of the 256 px portraits


def two_faces(left: torch.Tensor = REAL, right: torch.Tensor = CARTOON, small_right: bool = False) -> torch.Tensor:
    """[3,288,608]: `left` and `right` portraits side by side on a light background (right one at half size)."""
    img = torch.full((3, 288, 608), 0.92)
    img[:, 16:272, 16:272] = left
    if small_right:
        img[:, 16:144, 336:464] = torch.nn.functional.interpolate(right[None], size=(128, 128), mode="area")[0]
    else:
        img[:, 16:272, 336:592] = right
    return img


def centre_x(boxes: torch.Tensor) -> list[float]:
    return (boxes[:, 0] + boxes[:, 2] / 2).tolist()


def test_faces_are_chosen_all_largest_or_by_position_left_to_right():
    img = two_faces(small_right=True)
    boxes, faces = locate_faces(img, parse_faces("all"))
    assert len(faces) == 2 and centre_x(boxes)[0] < 272 < centre_x(boxes)[1]     # left to right
    boxes, _ = locate_faces(img, parse_faces("largest"))
    assert len(boxes) == 1 and centre_x(boxes)[0] < 272                           # the 256 px face
    boxes, _ = locate_faces(img, parse_faces("1"))
    assert len(boxes) == 1 and centre_x(boxes)[0] > 336                           # the second from the left
    boxes, _ = locate_faces(img, parse_faces("1,0"))
    assert centre_x(boxes)[0] < centre_x(boxes)[1]
    with pytest.raises(InputError, match=r"--faces 0,2: the source image has 2 faces \(positions 0-1, left to "
                                         r"right\); pass positions below 2, or --faces largest"):
        locate_faces(img, parse_faces("0,2"))
    with pytest.raises(NoFaceError, match="no face found"):
        locate_faces(torch.full((3, 100, 100), 0.5), parse_faces("all"))


def test_choices_and_domains_are_checked_with_one_line_each():
    assert parse_domains("cartoon, real", 2, "real") == ["cartoon", "real"]
    assert parse_domains("cartoon", 3, "real") == ["cartoon"] * 3
    assert parse_domains("", 2, "cartoon") == ["cartoon", "cartoon"]
    with pytest.raises(InputError, match="names 3 domains for 2 chosen faces"):
        parse_domains("real,real,cartoon", 2, "real")
    with pytest.raises(InputError, match="unknown domain 'anime'; use real, cartoon or auto per face"):
        parse_domains("anime,real", 2, "real")
    with pytest.raises(InputError, match="--faces 'left' is not understood"):
        parse_faces("left")
    with pytest.raises(InputError, match="one driving face drives the sources"):
        parse_driving_face("0,1")
    assert parse_driving_face("paired").kind == "paired" and parse_driving_face(" 1 ").positions == (1,)


def test_auto_gives_each_face_the_domain_its_own_crop_looks_like():
    img = two_faces()                                                                # real left, cartoon right
    boxes, _ = locate_faces(img, parse_faces("all"))
    assert box_pixels(img, boxes[0]).shape[0] == 3 and box_pixels(img, torch.tensor([-50.0, 270.0, 100.0])).shape \
        == (3, 18, 50)                                                               # clipped to the image
    assert parse_domains("auto, cartoon", 2, "real") == ["auto", "cartoon"]
    domains, notes = pick_face_domains(parse_domains("auto", 2, "cartoon"), img, boxes, "cartoon", "--face-domains")
    assert domains == ["real", "cartoon"]                                            # not the fallback for face 0
    assert notes == ["--face-domains auto, it looks like a real photo", "--face-domains auto, it looks like a cartoon"]
    domains, notes = pick_face_domains(parse_domains("cartoon,auto", 2, "real"), img, boxes, "real", "faces")
    assert domains == ["cartoon", "cartoon"] and notes[0] is None                    # given by hand: kept
    # unsure (faint noise: neither flat fills nor photo texture): the route's source domain, said in the note
    noise = (0.5 + 0.004 * torch.randn(3, 100, 100, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    domains, notes = pick_face_domains(["auto"], noise, torch.tensor([[0.0, 0.0, 100.0]]), "cartoon", "face_domains")
    assert domains == ["cartoon"] and notes == ["face_domains auto, unsure whether real or cartoon: the route's "
                                                "source domain; set it in face_domains to choose"]
    in_domain = tiny_model(cross_domain=False)
    with pytest.raises(InputError, match=r"^--face-domains auto: face 1 from the left is cartoon \(it looks like a "
                                         r"cartoon\), but source domain 'cartoon': this in-domain checkpoint only "
                                         r"serves real faces.*; set its domain by hand in --face-domains$"):
        pick_face_domains(["auto", "auto"], img, boxes, "real", "--face-domains",
                          lambda d: in_domain.require_domain(d, "source"))


def test_several_faces_warn_once_naming_the_choice():
    notes = []
    FaceCropper(64, warn=notes.append).start(two_faces(), what="frame 0 of d.mp4",
                                             several="pass --driving-face 0 (from the left) or paired")
    assert notes == ["found 2 faces in frame 0 of d.mp4, using the largest; pass --driving-face 0 (from the left) "
                     "or paired"]


def driving_frames(n: int = 3) -> torch.Tensor:
    """n frames [n,3,288,608]: the real sample video on the left, the cartoon one on the right."""
    left = next(iter(iter_driving(REPO / "samples" / "driving.mp4", chunk_size=n)))[:n]
    right = next(iter(iter_driving(REPO / "samples" / "driving_cartoon.mp4", chunk_size=n)))[:n]
    return torch.stack([two_faces(a, b) for a, b in zip(left, right)])


def cropper_for(choose=None):
    kw = {} if choose is None else {"choose": choose}
    return lambda pick=None: FaceCropper(64, "tracked", fps=25, warn=lambda m: None,
                                         **({"choose": pick} if pick is not None else kw))


def run_faces(model, source, boxes, domains, driving, choice, mode="relative"):
    croppers = driving_croppers(driving[0], len(boxes), choice, cropper_for())
    return torch.cat(list(reenact_faces(model, source[None], boxes, domains, croppers, driving[0], [driving],
                                        "real", mode=mode)))


def run_one(model, source, box, domain, driving, choose=None, mode="relative"):
    cropper = cropper_for()(choose)
    cropper.start(driving[0])
    return torch.cat(list(reenact_full_frames(model, source[None], box, cropper, driving[0], [driving], domain,
                                              "real", mode=mode)))


def test_each_face_is_reenacted_in_its_own_domain_and_the_background_stays_bit_identical():
    model = tiny_model(cross_domain=True)
    source, driving = two_faces(), driving_frames()
    boxes, _ = locate_faces(source, parse_faces("all"))
    domains = parse_domains("real,cartoon", 2, "real")
    plans = prepare_sources(model, source[None], boxes, domains)
    assert [p.encoded.domain for p in plans] == ["real", "cartoon"]
    out = run_faces(model, source, boxes, domains, driving, parse_driving_face("largest"))
    assert out.shape == (3, 3, 288, 608)
    masks = torch.stack([paste_mask(p.transform)[0] for p in plans])                # [2,H,W]
    outside = (masks == 0).all(0)
    assert bool(outside.any())
    assert torch.equal(out[:, :, outside], source[None].expand(3, -1, -1, -1)[:, :, outside])
    # inside face i's own mask (and no other) the result is the single-face pipeline's, in face i's domain
    for i, domain in enumerate(domains):
        own = (masks[i] == 1) & (masks[1 - i] == 0)
        single = run_one(model, source, boxes[i], domain, driving)
        assert torch.allclose(out[:, :, own], single[:, :, own], atol=1e-5)
        other = run_one(model, source, boxes[i], domains[1 - i], driving)
        assert (out[:, :, own] - other[:, :, own]).abs().mean() > 1e-3             # the domain matters
    # the source faces were really animated
    assert (out - source).abs().amax() > 0.05


def test_driving_faces_pair_with_source_faces_left_to_right():
    model = tiny_model(cross_domain=True)
    source, driving = two_faces(CARTOON, CARTOON), driving_frames()
    boxes, _ = locate_faces(source, parse_faces("all"))
    paired = parse_driving_face("paired")
    # absolute mode: each output follows its driving face's own pose (relative motion over 3 frames is ~0)
    out = run_faces(model, source, boxes, ["cartoon", "cartoon"], driving, paired, "absolute")
    masks = torch.stack([paste_mask(p.transform)[0] for p in prepare_sources(model, source[None], boxes,
                                                                              ["cartoon"] * 2)])
    for i in range(2):
        own = (masks[i] == 1) & (masks[1 - i] == 0)
        mine = run_one(model, source, boxes[i], "cartoon", driving, parse_driving_face(str(i)), "absolute")
        theirs = run_one(model, source, boxes[i], "cartoon", driving, parse_driving_face(str(1 - i)),
                         "absolute")
        assert torch.allclose(out[:, :, own], mine[:, :, own], atol=1e-5)
        assert (out[:, :, own] - theirs[:, :, own]).abs().mean() > 1e-3
    with pytest.raises(InputError, match="--driving-face paired: driving frame 0 has 1 face for 2 source faces"):
        driving_croppers(REAL_ON_GREY, 2, paired, cropper_for(), what="driving frame 0", hint="pick another")


REAL_ON_GREY = torch.nn.functional.pad(REAL, (40, 40, 20, 20), value=0.5)


# -- the driving side encoded once per driving face -------------------------------------------------------------
def _count_motion_encoder(model, domain="real") -> list:
    """Calls of the domain's motion encoder (the driving side's first stage), counted from now on."""
    calls = []
    model.generator(domain).enc2.register_forward_hook(lambda m, i, o: calls.append(len(o)))
    return calls


def _three_faces(model, domains=("real", "cartoon", "real")):
    """Plans of three 64 px faces cut from one smooth random picture, each in its own domain."""
    from tiny import tiny_images

    boxes = torch.tensor([[0.0, 0.0, 64.0], [64.0, 0.0, 64.0], [128.0, 0.0, 64.0]])
    return prepare_sources(model, tiny_images(1, seed=7, size=192), boxes, list(domains))


@pytest.mark.parametrize("mode", ["relative", "absolute"])
def test_one_driving_face_is_encoded_once_for_every_source_face_with_the_per_face_result(mode):
    from tiny import tiny_images
    from toontalker_core.multiface import FacesPlan
    from toontalker_core.runtime import encode_reference, reenact_batch

    model = tiny_model(cross_domain=True)
    plans = _three_faces(model)
    crops, ref = tiny_images(4, seed=8), encode_reference(model, tiny_images(1, seed=9), "real").canon_T1
    calls = _count_motion_encoder(model)
    out = FacesPlan(plans, [None], [ref]).render(model, crops[:, None], "real", 0.8, mode)
    assert calls == [4]                                   # one driving batch of 4 frames, not 3
    for plan, face in zip(plans, out):
        assert torch.equal(face, reenact_batch(model, plan.encoded, crops, "real", 0.8, mode, ref))
    assert len(calls) == 4                                # the old per-face path: once per face


def test_paired_driving_faces_are_each_encoded_once():
    from tiny import tiny_images
    from toontalker_core.multiface import FacesPlan
    from toontalker_core.runtime import encode_reference, reenact_batch

    model = tiny_model(cross_domain=True)
    plans = _three_faces(model, ("real",) * 3)
    crops = torch.stack([tiny_images(2, seed=s) for s in (10, 11, 12)], dim=1)     # [2 frames, 3 faces, ...]
    refs = [encode_reference(model, crops[:1, d], "real").canon_T1 for d in range(3)]
    calls = _count_motion_encoder(model)
    out = FacesPlan(plans, [None] * 3, refs).render(model, crops, "real")
    assert calls == [2, 2, 2]
    for d, (plan, face) in enumerate(zip(plans, out)):
        assert torch.equal(face, reenact_batch(model, plan.encoded, crops[:, d], "real", 1.0, "relative", refs[d]))


def test_the_fp16_guard_recomputes_each_face_in_fp32_from_driving_codes_encoded_once():
    from tiny import poison_fp16, tiny_images
    from toontalker_core.multiface import FacesPlan
    from toontalker_core.runtime import encode_reference, fp32_twin, reenact_batch

    model16 = poison_fp16(tiny_model(cross_domain=True).half())
    plans = _three_faces(model16, ("cartoon",) * 3)
    crops = tiny_images(3, seed=13)
    ref = encode_reference(model16, tiny_images(1, seed=14), "real").canon_T1
    calls16, calls32 = _count_motion_encoder(model16), _count_motion_encoder(fp32_twin(model16))
    warned = []
    out = FacesPlan(plans, [None], [ref]).render(model16, crops[:, None], "real", warn=warned.append)
    assert calls16 == [3] and calls32 == [3]              # fp16 once, then fp32 once for all three faces
    assert len(warned) == 1 and "fp16 overflowed" in warned[0]
    for plan, face in zip(plans, out):
        assert torch.isfinite(face).all()
        assert torch.equal(face, reenact_batch(model16, plan.encoded, crops, "real", 1.0, "relative", ref))


def test_source_faces_are_found_as_real_only_when_every_face_is_said_real():
    """`finding_domain`: the hint that makes faces only ToonNet finds need a higher score (detect_faces)."""
    from toontalker_core.face import finding_domain
    assert finding_domain("", "real") == "real" and finding_domain(" Real , real ", "cartoon") == "real"
    assert finding_domain("", "cartoon") is None and finding_domain("real,cartoon", "real") is None
    assert finding_domain("auto", "real") is None and finding_domain("real,auto", "real") is None
