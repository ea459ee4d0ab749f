"""A tiny ToonTalker config (random weights) for fast tests of everything that is not parity."""
from __future__ import annotations

import torch

from toontalker_core.model.config import ModelConfig
from toontalker_core.model.toontalker import ToonTalker

TINY = ModelConfig(size=64, style_dim=32, motion_dim=4, channel_max=32, channel_base=1024, n_heads=4)


def tiny_model(cross_domain: bool = True, seed: int = 0) -> ToonTalker:
    torch.manual_seed(seed)
    model = ToonTalker(TINY, cross_domain=cross_domain)
    # Small flows/ffn like a trained model, so that outputs are smooth functions of the inputs.
    with torch.no_grad():
        for gen in filter(None, (model.gen, model.gen_real)):
            for flow in gen.dec.to_flows:
                flow.conv.weight.mul_(0.1)
    return model


def tiny_images(n: int, seed: int = 0, size: int = 64) -> torch.Tensor:
    """Smooth random images in [0,1] ([n,3,size,size])."""
    g = torch.Generator().manual_seed(seed)
    low = torch.rand(n, 3, 8, 8, generator=g)
    return torch.nn.functional.interpolate(low, size=(size, size), mode="bicubic", align_corners=False).clamp(0, 1)


def poison_fp16(model: ToonTalker) -> ToonTalker:
    """Emulate an fp16 overflow inside the synthesis: the last RGB layer yields NaN/inf, in fp16 only."""
    def hook(_module, _inputs, out):
        if out.dtype == torch.float16:
            out = out.clone()
            out[:, :, :4] = float("nan")
            out[:, :, -4:] = float("inf")
        return out
    model.gen.dec.to_rgbs[-1].register_forward_hook(hook)
    return model
