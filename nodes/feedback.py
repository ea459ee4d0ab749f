"""What a running node tells the artist: progress (ComfyUI's bar: value/total), the phase it is in as text on
the node (loading, detecting, encoding, rendering), and warnings (the log, kept on the node's text, and a toast
through web/notes.js).

The first update goes out when the node starts, before any model work, so a long run shows life at once
rather than after its first chunk. Without ComfyUI (tests, scripts) the bar is the stand-in and the text goes
nowhere."""
from __future__ import annotations

import logging

from .comfy import ProgressBar, progress_text, send_event

log = logging.getLogger("ComfyUI-ToonTalker")
WARNING_EVENT = "toontalker.warning"  # web/notes.js shows it as a toast


class Feedback:
    def __init__(self, total: int = 1):
        self.bar = ProgressBar(max(1, total))
        self.warnings: list[str] = []
        self.text = ""

    def phase(self, name: str, done: int = 0, total: int | None = None) -> None:
        """Enter phase `name` (e.g. "loading model") at `done` of `total` (the bar's total when None)."""
        self.bar.update_absolute(done, total)
        self._show(name)

    def step(self, name: str, done: int, total: int) -> None:
        """Progress inside a phase: `done` of `total` frames."""
        self.bar.update_absolute(done, total)
        self._show(f"{name} {done}/{total}")

    def warn(self, message: str | None) -> None:
        """A warning for the artist (None: nothing); stays on the node above the phase text."""
        if not message or message in self.warnings:
            return
        log.warning("ToonTalker: %s", message)
        self.warnings.append(message)
        send_event(WARNING_EVENT, {"message": message})
        self._show(self.text)

    def _show(self, text: str) -> None:
        self.text = text
        progress_text("\n".join([f"warning: {w}" for w in self.warnings] + [text]))
