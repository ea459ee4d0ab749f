"""Named model sizes. `published` is the released architecture; the others train on a CPU."""
from __future__ import annotations

from toontalker_core.model.config import ModelConfig

PRESETS = {
    "published": ModelConfig(),  # 256 px, style 512, 20 motion bases
    "small128": ModelConfig(size=128, style_dim=128, motion_dim=20, channel_max=128, channel_base=4096, n_heads=8),
    "demo64": ModelConfig(size=64, style_dim=64, motion_dim=16, channel_max=64, channel_base=2048, n_heads=4),
    "tiny": ModelConfig(size=64, style_dim=32, motion_dim=4, channel_max=32, channel_base=1024, n_heads=4),
}
