"""The all-in-one node's face inputs (several faces in one source image or video): their widgets, and where the
chosen faces are. The work itself is toontalker_core/multiface.py's and video_source.py's."""
from __future__ import annotations

import logging

import torch

from ..toontalker_core.domain_check import pick_face_domains
from ..toontalker_core.face import (HOLD_SECONDS, FaceCropper, finding_domain, locate_faces, parse_domains,
                                    parse_driving_face, parse_faces)
from ..toontalker_core.face.track import MAX_HOLD_SECONDS
from ..toontalker_core.multiface import driving_croppers, source_croppers
from .payloads import NO_FACE_TEMPLATE

FACE_INPUTS = {
    "faces": ("STRING", {"default": "largest", "advanced": True,
                         "tooltip": "Source faces to animate (crop auto): largest, all, or positions counted from 0 "
                                    "at the left, e.g. 0,2. Each is cropped, encoded and pasted back (in a video "
                                    "source: tracked through its frames)."}),
    "driving_face": ("STRING", {"default": "largest", "advanced": True,
                                "tooltip": "The driving face that drives every source face: largest, or a "
                                           "position from the left (0 = leftmost); paired: the i-th driving face "
                                           "from the left drives the i-th source face."}),
    "face_domains": ("STRING", {"default": "", "advanced": True,
                                "tooltip": "Domain of each chosen source face, left to right, e.g. cartoon,real "
                                           "(a real face and a cartoon in one picture); auto: told from each "
                                           "face's own pixels (the route's source domain when unsure), also for "
                                           "one face, e.g. auto,cartoon; empty: the route's source domain for "
                                           "all."}),
}

# the nodes that track faces through frames (Face Crop, the all-in-one node): its own input, last on each
TRACK_HOLD_INPUT = {
    "track_hold": ("FLOAT", {"default": HOLD_SECONDS, "min": 0.0, "max": MAX_HOLD_SECONDS, "step": 0.05,
                             "advanced": True,
                             "tooltip": "Seconds to wait for a tracked face that went missing (hidden, turned "
                                        "away) before the crop moves to another face in view. 0 = move at once. "
                                        "Longer keeps the crop on the person through short gaps."}),
}


SEVERAL = "set faces to all, or to positions from the left such as 0,2"


def locate_node_faces(model, source: torch.Tensor, reference: torch.Tensor, ref: int, source_domain: str,
                      driving_domain: str, faces: str, driving_face: str, face_domains: str, track_hold: float = HOLD_SECONDS
                      ) -> tuple[torch.Tensor, list[str], list[FaceCropper]]:
    """(crop boxes [K,3] of the chosen faces in source [1,3,H,W], their domains, the driving croppers started
    on the reference frame [3,h,w], each holding a lost face `track_hold` seconds)."""
    choice, driving = parse_faces(faces, "faces"), parse_driving_face(driving_face, "driving_face")
    hint = ("give the box by hand: open the pack's template "
            f"{NO_FACE_TEMPLATE} (Face Crop manual -> staged nodes -> Paste Back)")
    boxes, _ = locate_faces(source[0], choice, what="'source_image'", hint=hint, warn=_log, several=SEVERAL,
                            domain=finding_domain(face_domains, source_domain))
    return (boxes, _domains(model, source[0], boxes, source_domain, face_domains),
            _drivers(model, reference, ref, len(boxes), driving, track_hold, driving_domain))


def locate_video_faces(model, first: torch.Tensor, reference: torch.Tensor, ref: int, source_domain: str,
                       driving_domain: str, faces: str, driving_face: str, face_domains: str, track_hold: float = HOLD_SECONDS
                       ) -> tuple[list[FaceCropper], list[str], list[FaceCropper]]:
    """A video source: (croppers started on its first frame [3,H,W], one per chosen face, their domains, the
    driving croppers started on the reference frame [3,h,w])."""
    choice, driving = parse_faces(faces, "faces"), parse_driving_face(driving_face, "driving_face")
    domain = finding_domain(face_domains, source_domain)
    sources = source_croppers(first, choice, lambda choose: _cropper(model, choose, track_hold, domain),
                              what="the first source frame", several=SEVERAL, domain=domain,
                              hint=f"give the box by hand as in the pack's template {NO_FACE_TEMPLATE}")
    boxes = torch.stack([c.reference_box for c in sources])
    return (sources, _domains(model, first, boxes, source_domain, face_domains),
            _drivers(model, reference, ref, len(sources), driving, track_hold, driving_domain))


def _domains(model, image: torch.Tensor, boxes: torch.Tensor, source_domain: str, face_domains: str) -> list[str]:
    """Each face's domain (face_domains; auto: from its pixels in image [3,H,W]), a log line per auto face."""
    domains, notes = pick_face_domains(parse_domains(face_domains, len(boxes), source_domain, "face_domains"),
                                       image, boxes, source_domain, "face_domains",
                                       lambda d: model.require_domain(d, "source"))
    for i, (domain, note) in enumerate(zip(domains, notes)):
        if note:
            _log(f"face {i} from the left: {domain} ({note})")
    return domains


def _drivers(model, reference: torch.Tensor, ref: int, n_sources: int, driving, track_hold: float,
             domain: str) -> list[FaceCropper]:
    return driving_croppers(reference, n_sources, driving, lambda choose: _cropper(model, choose, track_hold, domain),
                            domain=domain,
                            what=f"driving frame {ref}",
                            hint="pick another reference_frame, or give the box by hand as in the pack's "
                                 f"template {NO_FACE_TEMPLATE}",
                            several="set driving_face to a position from the left (0 = leftmost) or paired")


def _cropper(model, choose, track_hold: float, domain: str | None) -> FaceCropper:
    return FaceCropper(model.cfg.size, "tracked", choose=choose, warn=_log, hold_seconds=track_hold, domain=domain)


def report_tracking(croppers: list[FaceCropper]) -> None:
    """One log line per tracker that lost its face on some frames."""
    for cropper in croppers:
        line = cropper.report()
        if line:
            _log(line)


def _log(msg: str) -> None:
    logging.warning("ToonTalker: %s", msg)
