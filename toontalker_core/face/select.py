"""Which faces to use when an image has several: all, the largest, or some by position (left to right).

    parse_faces("all" | "largest" | "0,2", flag)     -> FaceChoice   (source faces)
    parse_driving_face("largest" | "1" | "paired")    -> FaceChoice   (the driving face; paired: one per source)
    parse_one_face("largest" | "1", flag, several)     -> FaceChoice   (one face: Face Crop's)
    choice.pick(faces, what) -> list[Face], left to right      choice.one(faces) -> Face | None
    parse_domains("cartoon,real", n, default)         -> one domain per chosen face

Positions count from 0 at the left (by the face box's centre), the order a person reads a picture in; the
detector's own order (best score first) means nothing to a user.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import InputError
from .detect import Face, primary_face

DOMAINS = ("real", "cartoon", "auto")  # auto: from the face's own pixels (domain_check.pick_face_domains)


def left_to_right(faces: list[Face]) -> list[Face]:
    return sorted(faces, key=lambda f: (f.center[0], f.center[1]))


@dataclass(frozen=True)
class FaceChoice:
    """kind: 'largest', 'all', 'paired' (driving only: the i-th driving face drives the i-th source face) or
    'positions' (`positions`, left to right from 0)."""
    kind: str
    positions: tuple[int, ...] = ()
    flag: str = "--faces"

    def pick(self, faces: list[Face], what: str = "the image") -> list[Face]:
        """The chosen faces, left to right; InputError naming the flag when a position is not there."""
        if self.kind == "largest":
            face = primary_face(faces)
            return [] if face is None else [face]
        ordered = left_to_right(faces)
        if self.kind in ("all", "paired"):
            return ordered
        missing = [p for p in self.positions if p >= len(ordered)]
        if missing:
            raise InputError(f"{self.flag} {','.join(map(str, self.positions))}: {what} has {len(ordered)} "
                             f"face{'s' * (len(ordered) != 1)} (positions 0-{max(0, len(ordered) - 1)}, left to "
                             f"right); pass positions below {len(ordered)}, or {self.flag} largest")
        return [ordered[p] for p in sorted(set(self.positions))]

    def one(self, faces: list[Face]) -> Face | None:
        """The one face this choice names in a frame, or None when it is not there (a tracker then holds)."""
        if self.kind in ("largest", "all", "paired"):
            return primary_face(faces)
        ordered = left_to_right(faces)
        return ordered[self.positions[0]] if self.positions[0] < len(ordered) else None

    __call__ = one  # a FaceChoice is a face picker (FaceCropper's and locate_face's `choose`)


def _positions(text: str, flag: str, allowed: str) -> tuple[int, ...]:
    try:
        values = tuple(int(p) for p in text.split(","))
    except ValueError:
        values = ()
    if not values or any(v < 0 for v in values):
        raise InputError(f"{flag} '{text}' is not understood: use {allowed}")
    return values


def parse_faces(spec: str, flag: str = "--faces") -> FaceChoice:
    """Source faces: 'all', 'largest' or positions '0,2' (left to right from 0)."""
    text = str(spec).strip().lower().replace(" ", "")
    if text in ("all", "largest"):
        return FaceChoice(text, flag=flag)
    return FaceChoice("positions", _positions(text, flag, "all, largest, or positions from the left such as 0 "
                                                           "or 0,2"), flag)


def parse_one_face(spec: str, flag: str, several: str,
                   allowed: str = "largest, or one position from the left such as 0") -> FaceChoice:
    """One face: 'largest' or one position ('1'). `several` ends the line for 'all' or several positions (what
    to do instead); `allowed` lists what the flag takes."""
    text = str(spec).strip().lower().replace(" ", "")
    if text == "largest":
        return FaceChoice(text, flag=flag)
    positions = None if text == "all" else _positions(text, flag, allowed)
    if positions is None or len(positions) != 1:
        raise InputError(f"{flag} '{spec}': {several}")
    return FaceChoice("positions", positions, flag)


def parse_driving_face(spec: str, flag: str = "--driving-face") -> FaceChoice:
    """The driving face: 'largest', one position ('1'), or 'paired' (the i-th from the left drives the i-th
    source face)."""
    if str(spec).strip().lower().replace(" ", "") == "paired":
        return FaceChoice("paired", flag=flag)
    return parse_one_face(spec, flag, "one driving face drives the sources; give one position, or paired to pair "
                                      "driving and source faces left to right",
                          "largest, paired, or one position from the left such as 0")


def finding_domain(spec: str | None, default: str) -> str | None:
    """The domain the face finder is told for a source picture (`detect_faces(domain=)`): real only when every
    chosen face is said to be real (--face-domains, or the route's source domain when empty); None when any
    may be a cartoon or is auto."""
    text = (spec or "").strip().lower().replace(" ", "")
    return "real" if (set(text.split(",")) if text else {default}) == {"real"} else None


def parse_domains(spec: str | None, n: int, default: str, flag: str = "--face-domains") -> list[str]:
    """Per-face domains ('cartoon,real', left to right, one per chosen face; one value applies to all; 'auto'
    for a face is resolved from its pixels by `domain_check.pick_face_domains`) -> list of n domains; empty or
    None: `default` for every face."""
    text = (spec or "").strip().lower().replace(" ", "")
    if not text:
        return [default] * n
    domains = text.split(",")
    bad = [d for d in domains if d not in DOMAINS]
    if bad:
        raise InputError(f"{flag} '{spec}': unknown domain {bad[0]!r}; use {', '.join(DOMAINS[:-1])} or "
                         f"{DOMAINS[-1]} per face, e.g. cartoon,real or auto")
    if len(domains) == 1:
        return domains * n
    if len(domains) != n:
        raise InputError(f"{flag} '{spec}' names {len(domains)} domains for {n} chosen face{'s' * (n != 1)}: "
                         "give one per face (left to right) or one for all")
    return domains
