"""Where to crop: the source still (`locate_face`) and a streamed driving video (`FaceCropper`).

`FaceCropper` takes the driving video chunk by chunk, so a long video is never held in memory. In `tracked`
mode it detects the faces in every frame (one batched detector call per chunk) and follows one of them with a
`track.BoxTrack`: gated on the predicted box, held with decaying motion through frames without it (counted in
`.missed`, reported once through `warn`), smoothed with a one-euro filter whose state carries across chunks.
In `fixed` mode every frame uses the reference frame's box (no per-frame detection).
"""
from __future__ import annotations

import copy
import warnings
from typing import Callable

import torch

from ..errors import InputError
from ..media.common import DEFAULT_FPS
from .crop import DEFAULT_OFFSET, DEFAULT_SCALE, MAX_BOX_RATIO, CropTransform, check_box_size, crop, crop_boxes
from .detect import THRESHOLD, Face, same_face, detect_faces, detect_near, primary_face
from .select import FaceChoice
from .track import HOLD_SECONDS, BoxTrack, check_hold, hold_frames

CROP_MODES = ("tracked", "fixed")
TINY_FACE = 32  # px: smaller faces are processed with a warning
NEAR_WINDOW = 1.25  # a lost face's second look: window side / crop side (the face is then ~80 of 192 px)


class NoFaceError(InputError):
    """No face found where one is needed (suggests giving the box by hand)."""


def manual_box(box, image_hw: tuple[int, int]) -> torch.Tensor:
    """A user's crop box (x, y, size) in source pixels, checked -> [3] float64. It may extend past the image
    (the crop is padded), but must overlap it."""
    b = torch.as_tensor(box, dtype=torch.float64).reshape(-1)
    if b.numel() != 3 or not torch.isfinite(b).all():
        raise InputError(f"a crop box is X Y SIZE (three numbers, source pixels), got {list(box)}")
    x, y, s = b.tolist()
    h, w = image_hw
    if s < 2:
        raise InputError(f"crop box size must be at least 2 px, got {s:g}")
    if x >= w or y >= h or x + s <= 0 or y + s <= 0:
        raise InputError(f"crop box ({x:g}, {y:g}, {s:g}) lies outside the {w}x{h} image")
    check_box_size(s, (h, w), f"crop box ({x:g}, {y:g}, {s:g})", "give a smaller SIZE")
    return b


def locate_face(image: torch.Tensor, *, box=None, scale: float = DEFAULT_SCALE, offset: float = DEFAULT_OFFSET,
                threshold: float = THRESHOLD, what: str = "the source image",
                hint: str = "give the crop box by hand (x, y, size in pixels)",
                warn: Callable[[str], None] | None = None,
                choose: Callable[[list[Face]], Face | None] = primary_face,
                several: str | None = None, domain: str | None = None) -> tuple[torch.Tensor, Face | None]:
    """Crop box [3] (x, y, size) for a still [3,H,W] in [0,1]: the manual `box` if given, else around the
    detected face that `choose` picks (the primary one by default). Raises NoFaceError when there is none
    (InputError when `choose` is a FaceChoice whose position is not there); warns (`warn`, default
    warnings.warn) about faces under 32 px and, given the hint `several` (for the default, largest face), that
    the image has several faces."""
    h, w = image.shape[-2:]
    if box is not None:
        return manual_box(box, (h, w)), None
    found = detect_faces(image, threshold, still=True, domain=domain)[0]
    face = choose(found)
    if face is None and found and isinstance(choose, FaceChoice):
        choose.pick(found, what)  # a position that is not there: the error names the choice
    if face is None:
        raise NoFaceError(f"no face found in {what} ({w}x{h}); {hint}")
    if several is not None and len(found) > 1:
        (warn or _default_warn)(f"found {len(found)} faces in {what}, using the largest; {several}")
    return _face_box(face, (h, w), scale, offset, what, warn), face


def locate_faces(image: torch.Tensor, choice: FaceChoice, *, box=None, scale: float = DEFAULT_SCALE,
                 offset: float = DEFAULT_OFFSET, threshold: float = THRESHOLD, what: str = "the source image",
                 hint: str = "give the crop box by hand (x, y, size in pixels)",
                 warn: Callable[[str], None] | None = None,
                 several: str | None = None, domain: str | None = None) -> tuple[torch.Tensor, list[Face]]:
    """Crop boxes [K,3] for the faces of a still [3,H,W] that `choice` picks (left to right) and the faces.
    A manual `box` or `choice` largest is `locate_face`'s one face (`several`: its fix when more are found).
    Raises NoFaceError when there is none, InputError when a chosen position is not there."""
    if box is not None or choice.kind == "largest":
        one, face = locate_face(image, box=box, scale=scale, offset=offset, threshold=threshold, what=what,
                                hint=hint, warn=warn, several=several, domain=domain)
        return one[None], [] if face is None else [face]
    h, w = image.shape[-2:]
    faces = choice.pick(detect_faces(image, threshold, still=True, domain=domain)[0], what)
    if not faces:
        raise NoFaceError(f"no face found in {what} ({w}x{h}); {hint}")
    return torch.stack([_face_box(f, (h, w), scale, offset, what, warn) for f in faces]), faces


def _default_warn(msg: str) -> None:
    warnings.warn(msg, stacklevel=4)


def _face_box(face: Face, hw: tuple[int, int], scale: float, offset: float, what: str, warn) -> torch.Tensor:
    if face.size < TINY_FACE:
        (warn or _default_warn)(f"the face in {what} is only {face.size:.0f} px wide; results will be blurry "
                                f"(a face of at least {TINY_FACE} px works better)")
    box = crop_boxes([face], scale, offset)[0]
    check_box_size(float(box[2]), hw, f"the crop box around the face in {what} (crop scale {scale:g})",
                   "use a smaller crop scale")
    return box


def _clamp_box_size(boxes: torch.Tensor, image_hw: tuple[int, int]) -> torch.Tensor:
    """Tracked boxes [N,3] shrunk about their centre to the largest size a crop accepts (a face filling a
    frame at a large crop scale must not stop a video half-way)."""
    limit = MAX_BOX_RATIO * max(image_hw)
    size = boxes[:, 2].clamp(max=limit)
    shift = (boxes[:, 2] - size) / 2
    return torch.stack([boxes[:, 0] + shift, boxes[:, 1] + shift, size], dim=1)


class FaceCropper:
    """Streams driving frames -> face crops [n,3,S,S] and their `CropTransform`.

    Call `start(reference_frame)` first (it finds the face that the video is about, and raises NoFaceError if
    the reference frame has none and no `box` was given), then call the cropper on each chunk [n,3,H,W].
    """

    def __init__(self, crop_size: int, mode: str = "tracked", *, scale: float = DEFAULT_SCALE,
                 offset: float = DEFAULT_OFFSET, smoothing: float = 1.0, fps: float = DEFAULT_FPS,
                 pad_mode: str = "reflect", threshold: float = THRESHOLD, box=None,
                 warn: Callable[[str], None] | None = None, hold_seconds: float = HOLD_SECONDS, what: str = "",
                 choose: Callable[[list[Face]], Face | None] = primary_face, domain: str | None = None) -> None:
        if mode not in CROP_MODES:
            raise InputError(f"crop mode must be one of {', '.join(CROP_MODES)}, got '{mode}'")
        self.crop_size, self.mode = int(crop_size), mode
        self.scale, self.offset, self.threshold, self.pad_mode = scale, offset, threshold, pad_mode
        crop_boxes(torch.zeros(1, 4), scale, offset)  # validates scale/offset early
        self.manual = box
        self.warn = warn
        # `what` names the video in messages (" of driving.mp4"); `choose` picks the face to follow in the
        # reference frame (and on re-acquiring), e.g. by position when a frame has several; `hold_seconds`:
        # how long a lost face is waited for before another face in view takes over
        self.track = BoxTrack(fps, smoothing, hold_frames(fps, check_hold(hold_seconds)), warn=self._warn,
                              what=what)
        self.choose = choose
        self.domain = domain  # "real": faces only ToonNet finds need a higher score (see detect_faces)
        self.reference_box: torch.Tensor | None = None
        self.frames = 0
        self.source_size: tuple[int, int] | None = None

    def start(self, reference_frame: torch.Tensor, what: str = "the driving reference frame",
              hint: str = "choose another reference frame or give the crop box by hand",
              several: str | None = None) -> torch.Tensor:
        """Find the face in the reference frame [3,H,W] -> its crop box [3]. `several`: the hint of the warning
        given when the frame has several faces."""
        self.source_size = tuple(reference_frame.shape[-2:])
        box, _ = locate_face(reference_frame, box=self.manual, scale=self.scale, offset=self.offset,
                             threshold=self.threshold, what=what, hint=hint, warn=self._warn, choose=self.choose,
                             several=several, domain=self.domain)
        self.reference_box = box
        return box

    def _warn(self, msg: str) -> None:
        (self.warn or _default_warn)(msg)

    @property
    def missed(self) -> int:
        """Frames so far in which the tracked face was not found (the predicted or last box was used)."""
        return sum(g.length for g in self.track.gaps)

    def report(self) -> str | None:
        """One line about the frames without the face (None when there were none); also reports a gap still
        open at the end of the video (through `warn`, if no gap was reported yet)."""
        self.track.finish()
        return self.track.report(self.frames)

    def reference_crop(self, reference_frame: torch.Tensor) -> torch.Tensor:
        """The reference frame cropped with its own box -> [1,3,S,S]."""
        t = CropTransform.from_boxes(self.reference_box[None], self.crop_size, tuple(reference_frame.shape[-2:]))
        return crop(reference_frame, t, self.pad_mode)

    def _track(self, frames: torch.Tensor) -> torch.Tensor:
        boxes = []
        for frame, found in zip(frames, detect_faces(frames, self.threshold, domain=self.domain)):
            found, candidates = self._look_near(frame, found)
            try:
                chosen = self.choose(found)
            except InputError:  # the chosen position is not in this frame: the track holds
                chosen = None
            primary = None if chosen is None else next(i for i, f in enumerate(found) if f is chosen)
            boxes.append(self.track.step(candidates, primary, hint=self.reference_box))
        return _clamp_box_size(torch.stack(boxes), self.source_size)

    def _look_near(self, frame: torch.Tensor, found: list[Face]) -> tuple[list[Face], torch.Tensor]:
        """-> (faces, their crop boxes [K,3]). When the whole-frame look missed the tracked face (nothing fits
        the track's gate), a second look in a window around the expected crop box, where a face too small for
        the whole frame's look is seen larger, adds the faces it finds that the first look did not have."""
        candidates = crop_boxes(found, self.scale, self.offset) if found else torch.zeros(0, 3)
        expected = self.track.expected()
        if expected is None or bool(self.track.fits(candidates).any()):
            return found, candidates
        x, y, s = expected.tolist()
        near = detect_near(frame, (x, y, x + s, y + s), self.threshold, domain=self.domain, context=NEAR_WINDOW)
        new = [f for f in near if not any(same_face(f.box, g.box) for g in found)]
        if not new:
            return found, candidates
        return found + new, torch.cat([candidates, crop_boxes(new, self.scale, self.offset)])

    def transforms(self, frames: torch.Tensor) -> CropTransform:
        """The crop transforms for the next chunk [n,3,H,W] (advances the tracker)."""
        if self.reference_box is None:
            raise RuntimeError("call FaceCropper.start(reference_frame) first")
        n = frames.shape[0]
        hw = tuple(frames.shape[-2:])
        if hw != self.source_size:
            raise InputError(f"driving frames are {hw[1]}x{hw[0]} but the reference frame is "
                             f"{self.source_size[1]}x{self.source_size[0]}")
        if self.mode == "fixed" or self.manual is not None:
            boxes = self.reference_box[None].expand(n, 3)
        else:
            boxes = self._track(frames)
        self.frames += n
        return CropTransform.from_boxes(boxes, self.crop_size, hw)

    def state(self) -> tuple:
        """The tracking state (the track, the frame count): `restore` returns the tracker to it, e.g. to redo a
        chunk after an out-of-memory error as if the failed attempt had not happened."""
        warn, self.track.warn = self.track.warn, None  # a bound method: not part of the state
        try:
            return copy.deepcopy((self.track, self.frames))
        finally:
            self.track.warn = warn

    def restore(self, state: tuple) -> None:
        track, self.frames = copy.deepcopy(state)
        track.warn = self.track.warn
        self.track = track

    def __call__(self, frames: torch.Tensor) -> tuple[torch.Tensor, CropTransform]:
        t = self.transforms(frames)
        return crop(frames, t, self.pad_mode), t
