"""Reading source/driving media and writing results for ToonTalker.

Everything the model sees goes through here as float32 RGB in [0, 1]: source images come back as [3,H,W]
(`images`); driving input (a video file, a folder of frames, a single image, or a .npy array) is streamed as
[n,3,H,W] chunks so a long video never has to fit in memory (`reading`). Results go out through `FrameWriter`
(`writing`, with the per-format `sinks` and `audio`), which writes atomically (temp name + rename) so a crash
or an interrupt never leaves a half-written file where the user expects a finished one.

Errors the user can fix (missing file, corrupt video, wrong sizes ...) are raised as `MediaError` with a
one-line message that names the input.
"""
from ..errors import MediaError
from .common import DEFAULT_FPS, IMAGE_EXTS, VIDEO_EXTS
from .images import fit_longest, load_image, resize_frames, resize_to
from .reading import DrivingInfo, iter_driving, probe_driving, read_frame
from .writing import FrameWriter

__all__ = ["DEFAULT_FPS", "DrivingInfo", "FrameWriter", "IMAGE_EXTS", "MediaError", "VIDEO_EXTS", "fit_longest",
           "iter_driving", "load_image", "probe_driving", "read_frame", "resize_frames", "resize_to"]
