"""Several faces in one source picture: each chosen face gets its own crop, its own encoding (once, in its own
domain: a real face and a cartoon in one picture work together) and its own paste; one driving face drives them
all, or driving faces are paired with source faces left to right (each tracked on its own).

    driving_croppers(reference01, n_sources, choice, make) -> [FaceCropper] (one, or one per source face)
    source_croppers(first01, choice, make) -> [FaceCropper] (a video source: one per chosen face, tracked)
    reenact_faces(model, source01, boxes [K,3], domains, croppers, reference01, chunks, ...) -> frames
    plan_faces(...) -> FacesPlan: .crop(model, chunk), .render(model, crops, ...), paste_faces(plans, rendered)
        the same steps one chunk at a time, for callers with their own loop (the all-in-one node)

Per driving frame the driving side (motion encoder, driving query transformer) runs once per driving face and
the source side (transfer, backward transformer, warp-render synthesis) once per source face, so time and
memory grow about linearly with the number of faces; outside the faces' paste masks the output is the source,
bit for bit.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

import torch

from . import stages as S
from .errors import InputError
from .face import THRESHOLD, FaceChoice, FaceCropper, NoFaceError, detect_faces, paste_back
from .model.toontalker import ToonTalker
from .pipeline import SourcePlan, crop_driving, paste_chunks, prepare_source, reference_code
from .runtime import DrivingBatch, Warn, rebatch, reenact_driven, to_uint8


def driving_croppers(reference01: torch.Tensor, n_sources: int, choice: FaceChoice,
                     make: Callable[[Callable], FaceCropper], *, what: str = "the driving reference frame",
                     hint: str = "choose another reference frame or give the crop box by hand",
                     several: str | None = None, threshold: float = THRESHOLD,
                     domain: str | None = None) -> list[FaceCropper]:
    """Croppers started on the driving reference frame [3,h,w]: one following the face `choice` names (it drives
    every source face), or with `choice.kind == 'paired'` one per source face, the i-th following the i-th
    driving face from the left. `make(choose)` builds a cropper with the given face picker (and the same
    `domain`, which the faces here are counted with: see detect_faces)."""
    if choice.kind != "paired":
        return [_started(make(choice), reference01, what, hint, several if choice.kind == "largest" else None)]
    found = len(detect_faces(reference01, threshold, still=True, domain=domain)[0])
    if found < n_sources:
        raise (NoFaceError if found == 0 else InputError)(
            f"{choice.flag} paired: {what} has {found} face{'s' * (found != 1)} for {n_sources} source faces; "
            f"{hint}, or let one driving face drive them all ({choice.flag} largest)")
    return [_started(make(FaceChoice("positions", (i,), choice.flag)), reference01, what, hint)
            for i in range(n_sources)]


def source_croppers(first01: torch.Tensor, choice: FaceChoice, make: Callable[[Callable], FaceCropper], *,
                    what: str = "the first source frame", hint: str = "give the crop box by hand",
                    several: str | None = None, threshold: float = THRESHOLD,
                    domain: str | None = None) -> list[FaceCropper]:
    """Croppers started on a video source's first frame [3,H,W], one per face `choice` picks there (largest:
    one; all or positions: one per face, left to right, each following the face at its position), each
    tracking its face through the source frames. `make(choose)` as for `driving_croppers`."""
    if choice.kind == "largest":
        return [_started(make(choice), first01, what, hint, several)]
    found = detect_faces(first01, threshold, still=True, domain=domain)[0]
    if not found:
        raise NoFaceError(f"no face found in {what} ({first01.shape[-1]}x{first01.shape[-2]}); {hint}")
    choice.pick(found, what)  # a position that is not there: the error names the choice
    positions = range(len(found)) if choice.kind == "all" else sorted(set(choice.positions))
    return [_started(make(FaceChoice("positions", (p,), choice.flag)), first01, what, hint) for p in positions]


def _started(cropper: FaceCropper, frame01: torch.Tensor, what: str, hint: str,
             several: str | None = None) -> FaceCropper:
    cropper.start(frame01, what=what, hint=hint, several=several)
    return cropper


def prepare_sources(model: ToonTalker, source01: torch.Tensor, boxes: torch.Tensor, domains: list[str],
                    pad_mode: str = "reflect", *, warn: Warn | None = None) -> list[SourcePlan]:
    """Each face of the source [1,3,H,W] at its box (boxes [K,3]) cropped and encoded once, in its domain."""
    if len(domains) != len(boxes):
        raise InputError(f"{len(domains)} domains for {len(boxes)} source faces")
    image = source01.to(model.device)
    return [prepare_source(model, image, box, domain, pad_mode, warn=warn) for box, domain in zip(boxes, domains)]


def paste_faces(plans: list[SourcePlan], rendered: list[torch.Tensor], feather: float = 0.1,
                color_match: float = 0.0, pad_mode: str = "reflect", per_chunk: int | None = None,
                out_dtype: torch.dtype = torch.float32) -> Iterator[torch.Tensor]:
    """Rendered crops (one [n,3,S,S] per source face) pasted into the source, face after face (left to right;
    where crops overlap the later face is on top) -> frames [k,3,H,W], k <= per_chunk."""
    if len(plans) == 1:  # one face: the pipeline's paste (an 8-bit output only blends the crop's window)
        yield from paste_chunks(plans[0], rendered[0], feather, color_match, pad_mode, per_chunk, out_dtype)
        return
    step = per_chunk or plans[0].frames_per_chunk
    n = len(rendered[0])
    for i in range(0, n, step):
        frames = plans[0].image
        for plan, faces in zip(plans, rendered):
            part = faces[i:i + step]
            frames = paste_back(frames, part, plan.transform.repeat(len(part)), feather, color_match, pad_mode)
        yield frames if out_dtype == torch.float32 else to_uint8(frames, inplace=True)


@dataclass
class FacesPlan:
    """The chosen source faces (cropped and encoded once each), the driving croppers and their reference
    codes: what every driving chunk needs."""
    plans: list[SourcePlan]
    croppers: list[FaceCropper]
    references: list[torch.Tensor]

    def crop(self, model: ToonTalker, chunk01: torch.Tensor) -> torch.Tensor:
        """Driving frames [n,3,h,w] -> crops [n, driving faces, 3, S, S] on the model's device."""
        chunk01 = chunk01.to(model.device, non_blocking=True)
        return torch.stack([crop_driving(model, c, chunk01) for c in self.croppers], dim=1)

    def render(self, model: ToonTalker, crops: torch.Tensor, driving_domain: str, strength: float = 1.0,
               mode: str = "relative", *, warn: Warn | None = None) -> list[torch.Tensor]:
        """Crops from `crop` -> one reenacted [n,3,S,S] per source face (paired, or all from driving face 0).
        Each driving face is encoded once (`DrivingBatch`), however many source faces it drives."""
        driving = [DrivingBatch(crops[:, d], driving_domain, ref) for d, ref in enumerate(self.references)]
        return [reenact_driven(model, plan.encoded, driving[i if len(driving) > 1 else 0], strength, mode,
                               warn=warn) for i, plan in enumerate(self.plans)]


def plan_faces(model: ToonTalker, source01: torch.Tensor, boxes: torch.Tensor, domains: list[str],
               croppers: list[FaceCropper], reference01: torch.Tensor, driving_domain: str,
               pad_mode: str = "reflect", *, warn: Warn | None = None) -> FacesPlan:
    """source01 [1,3,H,W] with the chosen faces' crop boxes [K,3] and domains; `croppers` from
    `driving_croppers` (started on `reference01` [3,h,w]) -> FacesPlan (routes checked, faces encoded)."""
    if len(croppers) not in (1, len(boxes)):
        raise InputError(f"{len(croppers)} driving faces for {len(boxes)} source faces: one drives all, or one "
                         "per source face")
    for domain in domains:
        model.check_route(domain, driving_domain)
    plans = prepare_sources(model, source01, boxes, domains, pad_mode, warn=warn)
    refs = [reference_code(model, c, reference01, driving_domain, warn=warn) for c in croppers]
    return FacesPlan(plans, croppers, refs)


def reenact_faces(model: ToonTalker, source01: torch.Tensor, boxes: torch.Tensor, domains: list[str],
                  croppers: list[FaceCropper], reference01: torch.Tensor, driving_chunks: Iterable[torch.Tensor],
                  driving_domain: str, strength: float = 1.0, mode: str = "relative", feather: float = 0.1,
                  color_match: float = 0.0, pad_mode: str = "reflect",
                  on_chunk: Callable[[int], None] | None = None, *, batch_size: int | None = None,
                  out_dtype: torch.dtype = torch.float32, warn: Warn | None = None) -> Iterator[torch.Tensor]:
    """Driving chunks [n,3,h,w] -> frames [k,3,H,W] on the model's device, every chosen source face
    reenacted (see `plan_faces` for the arguments). `pipeline.reenact_full_frames` for K faces."""
    S.check_strength(strength)
    faces = plan_faces(model, source01, boxes, domains, croppers, reference01, driving_domain, pad_mode, warn=warn)
    for batch in rebatch((faces.crop(model, chunk) for chunk in driving_chunks), batch_size):
        rendered = faces.render(model, batch, driving_domain, strength, mode, warn=warn)
        for frames in paste_faces(faces.plans, rendered, feather, color_match, pad_mode, out_dtype=out_dtype):
            yield frames
            if on_chunk is not None:
                on_chunk(len(frames))
