"""Architecture hyper-parameters of one ToonTalker generator, and how to read them off a state dict."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from ..errors import CheckpointError


@dataclass(frozen=True)
class ModelConfig:
    """Published checkpoints: size 256, style 512, 20 motion bases, channel multiplier 1.

    Channel widths follow StyleGAN2: `min(channel_max, channel_base / resolution)`; the synthesis multiplies
    the widths from 64 px up by `channel_multiplier`. Smaller `channel_max`/`channel_base`/`style_dim` give
    the narrow configs that train on a CPU.
    """

    size: int = 256
    style_dim: int = 512
    motion_dim: int = 20
    channel_multiplier: int = 1
    channel_max: int = 512
    channel_base: int = 16384
    n_heads: int = 8

    def __post_init__(self):
        if self.size < 64 or self.size & (self.size - 1):
            raise ValueError(f"model size must be a power of two >= 64, got {self.size}")
        if self.style_dim % self.n_heads:
            raise ValueError(f"style_dim {self.style_dim} is not divisible by n_heads {self.n_heads}")

    @property
    def log_size(self) -> int:
        return int(math.log2(self.size))

    @property
    def n_latent(self) -> int:
        """Style latents the synthesis consumes: 14 at 256 px."""
        return self.log_size * 2 - 2

    def enc_channels(self, res: int) -> int:
        return min(self.channel_max, self.channel_base // res)

    def dec_channels(self, res: int) -> int:
        if res <= 32:
            return self.enc_channels(res)
        return self.channel_base * self.channel_multiplier // res

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        """From a stored config (untrusted): whole numbers only; ValueError/TypeError name what is wrong."""
        if not isinstance(d, dict):
            raise TypeError(f"a config is a JSON object, got {type(d).__name__}")
        known = {}
        for k, v in d.items():
            if k not in cls.__dataclass_fields__:
                continue
            if isinstance(v, bool) or not isinstance(v, (int, float, str)) or float(v) != int(float(v)) \
                    or not 1 <= int(float(v)) <= 1 << 20:
                raise ValueError(f"{k} must be a whole number from 1 to {1 << 20}, got {v!r}")
            known[k] = int(float(v))
        return cls(**known)


def infer_config(state: dict, prefix: str = "") -> ModelConfig:
    """Read the architecture off a generator's state dict (keys as in the published checkpoints)."""

    def shape(key):
        t = state.get(prefix + key)
        if t is None:
            raise CheckpointError(f"missing key '{prefix + key}'")
        return tuple(t.shape)

    motion_dim, style_dim = shape("dec.direction.weight")
    n_trunk = sum(1 for k in state if k.startswith(prefix + "enc.convs.") and k.endswith(".conv1.0.weight"))
    if n_trunk < 4:
        raise CheckpointError(f"appearance encoder has {n_trunk} residual blocks; expected >= 4")
    size = 2 ** (n_trunk + 2)
    full_res_ch = shape("enc.convs.0.0.weight")[0]
    channel_max = shape(f"enc.convs.{n_trunk}.conv2.1.weight")[0]
    channel_base = full_res_ch * size
    dec64 = shape("dec.to_rgbs.3.conv.0.weight")[1]  # synthesis width at 64 px (levels: 8,16,32,64,...)
    multiplier = max(1, dec64 * 64 // channel_base)
    n_heads = 8
    return ModelConfig(size=size, style_dim=style_dim, motion_dim=motion_dim, channel_multiplier=multiplier,
                       channel_max=channel_max, channel_base=channel_base, n_heads=n_heads)
