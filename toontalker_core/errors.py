"""User-facing error types: one line that names the input and what to do."""
from __future__ import annotations


class ToonTalkerError(ValueError):
    """Base class: the message is meant for the user as it is."""


class CheckpointError(ToonTalkerError):
    """A checkpoint file that is missing, unsafe, truncated or of an unknown layout."""


class InputError(ToonTalkerError):
    """A bad argument or input tensor (strength, reference frame, image batch, domain route)."""


class MediaError(ToonTalkerError):
    """An image, video, array or output path that cannot be used as given (names the file and what to do)."""
