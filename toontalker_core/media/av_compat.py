"""The PyAV calls whose signature differs across the releases this pack supports (14.2 to 19.x), in one place.

Supported range: PyAV >= 14.2 (`VideoFrame.rotation` appeared in 14.2; ComfyUI itself requires 14.2), tested
with 14.2, 15.1, 16.1, 17.1, 18.1 and 19.0 (see requirements.txt). Other differences in that range need no
code here: 19's rational attributes (`time_base`, `average_rate`, ...) are `av.AVRational`, which converts
with float() and multiplies with ints like the `fractions.Fraction` of earlier releases, and is falsy when
unset as `None` was."""
from __future__ import annotations

import re
from pathlib import Path

import av
import numpy as np

PYAV_VERSION: tuple[int, int] = tuple(int(x) for x in re.findall(r"\d+", av.__version__)[:2])  # type: ignore[assignment]

# Before 19, container metadata was decoded with one codec for the whole file and a tag that is not valid
# UTF-8 raised while opening (phone and camera files have them); 19 removed the argument and always decodes
# UTF-8 with surrogateescape, which cannot fail.
_INPUT_OPTIONS = {"metadata_errors": "ignore"} if PYAV_VERSION < (19, 0) else {}


def open_input(path: str | Path) -> av.container.InputContainer:
    """av.open for reading, tolerant of undecodable metadata tags on every supported PyAV."""
    return av.open(str(path), **_INPUT_OPTIONS)


def frame_to_rgb(frame: av.VideoFrame) -> np.ndarray:
    """A decoded frame as uint8 HxWx3 RGB, converted with the frame's own YUV matrix and range.

    Before 17, PyAV applied the frame's colorspace only when the source and destination colorspace or range
    differed, so a BT.709 (HD) video was read with BT.601's matrix: a visible colour shift (mean error 0.027
    instead of 0.009 on our round trip). Naming them explicitly, with a destination that differs (RGB output
    uses no destination matrix), makes every release convert the same way."""
    if PYAV_VERSION >= (17, 0):
        return frame.to_ndarray(format="rgb24")
    space = int(frame.colorspace)
    return frame.to_ndarray(format="rgb24", src_colorspace=space, src_color_range=int(frame.color_range),
                            dst_colorspace=_OTHER_SPACE[space == _BT709], dst_color_range="JPEG")


_BT709 = 1  # AVCOL_SPC_BT709 (= SWS_CS_ITU709)
_OTHER_SPACE = {True: 5, False: _BT709}  # any destination colorspace other than the source's (5: BT.601)
