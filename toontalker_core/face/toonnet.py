"""ToonNet: the pack's own small face detector, trained here for cartoon faces (and real ones; see DATA.md).

CenterNet-style and fully convolutional: a letterboxed 192 px image gives, per cell of a 24 x 24 grid
(stride 8), a face-centre score, the centre's offset in its cell and the box's width and height (log, in
cells). Depthwise-separable blocks down to stride 32, then a light top-down path back to stride 8.
About 104 k parameters; the weights (`models/toonnet.safetensors`, BatchNorm folded into the convolutions)
were trained by `python -m toontalker_train detector` on the project's procedural cartoons and public-domain
stills (toontalker_train/detector.py).

`ToonNet()(images)` takes letterboxed images [B,3,192,192] in [0,1] and returns the raw map [B,5,24,24];
`decode` turns it into (score, box) per image in letterbox pixels.
"""
from __future__ import annotations

import threading
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

MODELS_DIR = Path(__file__).resolve().parent / "models"
WEIGHTS = MODELS_DIR / "toonnet.safetensors"
SIZE = 192
STRIDE = 8


def _conv(cin: int, cout: int, k: int, stride: int = 1, groups: int = 1, norm: bool = False) -> list[nn.Module]:
    """conv [+ BatchNorm] + ReLU. The shipped model has no norm layers: they were folded into the conv."""
    conv = nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=not norm)
    return [conv, nn.BatchNorm2d(cout) if norm else nn.Identity(), nn.ReLU(inplace=True)]


def _block(cin: int, cout: int, stride: int, norm: bool) -> nn.Sequential:
    """Depthwise 3x3 (carries the stride) then pointwise 1x1."""
    return nn.Sequential(*_conv(cin, cin, 3, stride, cin, norm), *_conv(cin, cout, 1, norm=norm))


class ToonNet(nn.Module):
    def __init__(self, norm: bool = False) -> None:
        super().__init__()
        self.stem = nn.Sequential(*_conv(3, 16, 3, 2, norm=norm))                               # /2
        self.s4 = nn.Sequential(_block(16, 32, 2, norm), _block(32, 32, 1, norm))                # /4
        self.s8 = nn.Sequential(_block(32, 64, 2, norm), _block(64, 64, 1, norm))                # /8
        self.s16 = nn.Sequential(_block(64, 96, 2, norm), _block(96, 96, 1, norm))               # /16
        self.s32 = nn.Sequential(_block(96, 128, 2, norm), _block(128, 128, 1, norm),
                                 _block(128, 128, 1, norm))                                      # /32
        self.lat32 = nn.Sequential(*_conv(128, 96, 1, norm=norm))
        self.lat16 = nn.Sequential(*_conv(96, 64, 1, norm=norm))
        self.head = nn.Sequential(_block(64, 64, 1, norm), _block(64, 64, 1, norm))
        self.out = nn.Conv2d(64, 5, 1)  # score logit, offset x/y, log w/h

    def forward(self, images01: torch.Tensor) -> torch.Tensor:
        x = self.stem(images01 * 2 - 1)
        f8 = self.s8(self.s4(x))
        f16 = self.s16(f8)
        f32 = self.s32(f16)
        up = lambda t, ref: F.interpolate(t, size=ref.shape[-2:], mode="nearest")  # noqa: E731
        p16 = f16 + up(self.lat32(f32), f16)
        p8 = f8 + up(self.lat16(p16), f8)
        return self.out(self.head(p8))


def decode(raw: torch.Tensor, threshold: float, top_k: int = 20) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Raw map [B,5,h,w] -> per image (scores [k], boxes [k,4] (x0, y0, x1, y1) in letterbox pixels): local
    maxima of the score map (3x3) above `threshold`, best first."""
    heat = torch.sigmoid(raw[:, 0:1].float())
    peaks = heat * (F.max_pool2d(heat, 3, 1, 1) == heat)
    b, _, h, w = heat.shape
    scores, idx = peaks.view(b, -1).topk(min(top_k, h * w))
    out = []
    for i in range(b):
        keep = scores[i] >= threshold
        s, k = scores[i][keep], idx[i][keep]
        cy, cx = (k // w).float(), (k % w).float()
        off = raw[i, 1:3].float().view(2, -1)[:, k]
        wh = raw[i, 3:5].float().view(2, -1)[:, k].clamp(-4, 4).exp() * STRIDE
        x, y = (cx + 0.5 + off[0]) * STRIDE, (cy + 0.5 + off[1]) * STRIDE
        out.append((s.cpu(), torch.stack([x - wh[0] / 2, y - wh[1] / 2, x + wh[0] / 2, y + wh[1] / 2], 1).cpu()))
    return out


_LOCK = threading.Lock()
_CACHE: dict[str, ToonNet] = {}


def load_toonnet(device: torch.device | str = "cpu") -> ToonNet:
    """The bundled ToonNet on `device` (built once per process and device). Weights are safetensors: no pickle."""
    from safetensors.torch import load_file
    key = str(torch.device(device))
    with _LOCK:
        if key not in _CACHE:
            net = ToonNet()
            net.load_state_dict(load_file(str(WEIGHTS)))
            _CACHE[key] = net.to(device).eval()
        return _CACHE[key]


def fold_norms(trained: ToonNet) -> dict[str, torch.Tensor]:
    """State dict of a ToonNet(norm=True) with each BatchNorm folded into the conv before it, for ToonNet()."""
    state = {}
    modules = dict(trained.named_modules())
    for name, m in modules.items():
        if isinstance(m, nn.Conv2d):
            parent, _, idx = name.rpartition(".")
            bn = modules.get(f"{parent}.{int(idx) + 1}") if idx.isdigit() else None
            w = m.weight.detach()
            b = m.bias.detach() if m.bias is not None else torch.zeros(w.shape[0])
            if isinstance(bn, nn.BatchNorm2d):
                scale = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
                w = w * scale[:, None, None, None]
                b = bn.bias.detach() + (b - bn.running_mean) * scale
            state[f"{name}.weight"], state[f"{name}.bias"] = w.contiguous().clone(), b.contiguous().clone()
    return state
