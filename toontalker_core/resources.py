"""Where the pack's own files are: its root (samples/), and the bundled demo model with its measured controls."""
from __future__ import annotations

from pathlib import Path

PACK_ROOT = Path(__file__).resolve().parent.parent
BUNDLED_DIR = PACK_ROOT / "toontalker_core" / "weights"
