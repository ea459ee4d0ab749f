"""MediaPipe BlazeFace detectors run in PyTorch, from the bundled `.tflite` files (see models/NOTICE.md).

The graph read by `tflite.read_tflite` is executed op by op with torch functions (NCHW inside; the TFLite
graph is NHWC, so 4-D tensors are permuted only where the layout matters: RESHAPE and axis arguments).
No TFLite runtime and no download: the weights ship in the package and run on any torch device.

`BlazeFace(name)(images)` takes letterboxed square images [B,3,S,S] in [0,1] (S = the model's input size) and
returns, per anchor, a score in [0,1] and the decoded box and 6 keypoints in units of the input image
(0..1): boxes [B,A,4] as (cx, cy, w, h), keypoints [B,A,6,2] (right eye, left eye, nose, mouth, right ear,
left ear, as seen in the image from the subject's side).
"""
from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .tflite import Graph, read_tflite

MODELS_DIR = Path(__file__).resolve().parent / "models"


@dataclass(frozen=True)
class BlazeFaceSpec:
    file: str
    size: int                       # input size (square)
    strides: tuple[int, ...]        # anchor grid strides, one per output layer group
    anchors_per_cell: tuple[int, ...]


# Anchor layouts of MediaPipe's SSD anchor calculator for these models (fixed anchor size, offset 0.5):
# short range / back: 4 layers at strides 8,16,16,16 -> 2 anchors per 16x16 cell + 6 per 8x8 cell (896);
# full range: one layer at stride 4 -> 1 anchor per 48x48 cell (2304).
SPECS = {
    "short": BlazeFaceSpec("face_detection_short_range.tflite", 128, (8, 16), (2, 6)),
    "full": BlazeFaceSpec("face_detection_full_range.tflite", 192, (4,), (1,)),
}


def _same_pad(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TensorFlow 'SAME' padding (the extra pixel goes after)."""
    out = -(-size // stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


def _activation(x: torch.Tensor, name: str | None) -> torch.Tensor:
    if name == "RELU":
        return F.relu(x)
    if name == "RELU6":
        return F.relu6(x)
    return x


_NHWC_TO_NCHW_AXIS = {0: 0, 1: 2, 2: 3, 3: 1}


class TFLiteNet(nn.Module):
    """Executes a parsed TFLite graph with torch ops (the subset the BlazeFace graphs use)."""

    def __init__(self, graph: Graph) -> None:
        super().__init__()
        self.graph = graph
        consts: dict[int, np.ndarray] = {i: t.data for i, t in enumerate(graph.tensors) if t.data is not None}
        steps = []
        for op in graph.operators:
            if op.op == "DEQUANTIZE" and op.inputs[0] in consts:  # fp16 weights: fold into fp32 constants
                consts[op.outputs[0]] = consts[op.inputs[0]].astype(np.float32)
                continue
            steps.append(op)
        self.steps = steps
        self._names: dict[int, str] = {}
        for k, op in enumerate(steps):
            if op.op in ("CONV_2D", "DEPTHWISE_CONV_2D"):
                w = torch.from_numpy(consts[op.inputs[1]].astype(np.float32))
                w = w.permute(0, 3, 1, 2) if op.op == "CONV_2D" else w.permute(3, 0, 1, 2)  # OHWI / 1HWC -> OIHW
                self._add(op.inputs[1], w.contiguous())
                if len(op.inputs) > 2 and op.inputs[2] >= 0:
                    self._add(op.inputs[2], torch.from_numpy(consts[op.inputs[2]].astype(np.float32)))
        self._ints = {i: v for i, v in consts.items() if v.dtype in (np.int32, np.int64)}
        self._floats = {i: v for i, v in consts.items() if i not in self._names and v.dtype == np.float32}
        for i, v in self._floats.items():
            if any(i in op.inputs for op in steps if op.op in ("ADD", "MUL", "CONCATENATION")):
                self._add(i, torch.from_numpy(v))

    def _add(self, index: int, value: torch.Tensor) -> None:
        name = f"t{index}"
        self.register_buffer(name, value, persistent=False)
        self._names[index] = name

    def _get(self, values: dict, index: int) -> torch.Tensor:
        if index in values:
            return values[index]
        return getattr(self, self._names[index])

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        g = self.graph
        values: dict[int, torch.Tensor] = {g.inputs[0]: x}
        for op in self.steps:
            o = op.options
            a = self._get(values, op.inputs[0])
            if op.op in ("CONV_2D", "DEPTHWISE_CONV_2D"):
                w = self._get(values, op.inputs[1])
                b = self._get(values, op.inputs[2]) if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
                (sh, sw), (dh, dw) = o["stride"], o["dilation"]
                if o["padding"] == "SAME":
                    ph, pw = _same_pad(a.shape[2], w.shape[2], sh, dh), _same_pad(a.shape[3], w.shape[3], sw, dw)
                    a = F.pad(a, (*pw, *ph))
                groups = a.shape[1] if op.op == "DEPTHWISE_CONV_2D" else 1
                y = _activation(F.conv2d(a, w, b, (sh, sw), 0, (dh, dw), groups), o["activation"])
            elif op.op == "MAX_POOL_2D":
                (kh, kw), (sh, sw) = o["kernel"], o["stride"]
                if o["padding"] == "SAME":
                    a = F.pad(a, (*_same_pad(a.shape[3], kw, sw), *_same_pad(a.shape[2], kh, sh)),
                              value=float("-inf"))
                y = _activation(F.max_pool2d(a, (kh, kw), (sh, sw)), o["activation"])
            elif op.op in ("ADD", "MUL"):
                b = self._get(values, op.inputs[1])
                y = _activation(a + b if op.op == "ADD" else a * b, o["activation"])
            elif op.op == "RELU":
                y = F.relu(a)
            elif op.op == "RELU6":
                y = F.relu6(a)
            elif op.op == "LOGISTIC":
                y = torch.sigmoid(a)
            elif op.op == "PAD":
                p = self._ints[op.inputs[1]].reshape(-1, 2).tolist()
                if a.dim() == 4:  # NHWC paddings on an NCHW tensor
                    y = F.pad(a, (*p[2], *p[1], *p[3]))
                else:
                    y = F.pad(a, tuple(v for pair in reversed(p) for v in pair))
            elif op.op == "RESHAPE":
                shape = list(g.tensors[op.outputs[0]].shape)
                shape[0] = a.shape[0]
                src = a.permute(0, 2, 3, 1) if a.dim() == 4 else a
                y = src.reshape(shape)
                if len(shape) == 4:
                    y = y.permute(0, 3, 1, 2)
            elif op.op == "CONCATENATION":
                parts = [self._get(values, i) for i in op.inputs]
                axis = o["axis"] % parts[0].dim()
                axis = _NHWC_TO_NCHW_AXIS[axis] if parts[0].dim() == 4 else axis
                y = _activation(torch.cat(parts, dim=axis), o["activation"])
            elif op.op == "RESIZE_BILINEAR":
                h, w = self._ints[op.inputs[1]].tolist()
                if o["align_corners"]:
                    y = F.interpolate(a, size=(h, w), mode="bilinear", align_corners=True)
                elif o["half_pixel_centers"]:
                    y = F.interpolate(a, size=(h, w), mode="bilinear", align_corners=False)
                else:
                    raise NotImplementedError("legacy RESIZE_BILINEAR (no half-pixel centres) is not supported")
            else:
                raise NotImplementedError(f"TFLite operator {op.op}")
            values[op.outputs[0]] = y
        return [values[i] for i in g.outputs]


def _anchors(spec: BlazeFaceSpec) -> torch.Tensor:
    """Anchor centres [A,2] in 0..1, in the order of the model's outputs."""
    out = []
    for stride, per_cell in zip(spec.strides, spec.anchors_per_cell):
        n = spec.size // stride
        ys, xs = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
        centres = torch.stack([(xs + 0.5) / n, (ys + 0.5) / n], dim=-1).reshape(-1, 1, 2)
        out.append(centres.expand(-1, per_cell, 2).reshape(-1, 2))
    return torch.cat(out).float()


class BlazeFace(nn.Module):
    def __init__(self, name: str) -> None:
        super().__init__()
        self.spec = SPECS[name]
        self.net = TFLiteNet(read_tflite(MODELS_DIR / self.spec.file))
        self.register_buffer("anchors", _anchors(self.spec), persistent=False)

    @property
    def size(self) -> int:
        return self.spec.size

    @torch.no_grad()
    def forward(self, images01: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """images [B,3,S,S] in [0,1] -> scores [B,A], boxes [B,A,4] (cx,cy,w,h), keypoints [B,A,6,2]; 0..1 units."""
        if images01.shape[-2:] != (self.size, self.size):
            raise ValueError(f"BlazeFace '{self.spec.file}' takes {self.size}x{self.size} input")
        outputs = self.net(images01.float() * 2 - 1)
        reg = next(t for t in outputs if t.shape[-1] == 16)
        cls = next(t for t in outputs if t.shape[-1] == 1)
        scores = torch.sigmoid(cls[..., 0].clamp(-100, 100))
        reg = reg / self.size
        centres = self.anchors.to(reg)
        boxes = torch.cat([reg[..., :2] + centres, reg[..., 2:4]], dim=-1)
        keypoints = reg[..., 4:].reshape(*reg.shape[:-1], 6, 2) + centres[:, None, :]
        return scores, boxes, keypoints


@contextlib.contextmanager
def one_cpu_thread(device: torch.device):
    """Run detection single-threaded on the CPU. Its ~500 tiny ops per image gain nothing from intra-op threads,
    and on a busy machine every op's thread barrier waits for a descheduled worker: measured 25x slower with 2
    threads on 2 loaded cores. The previous setting is restored afterwards."""
    n = torch.get_num_threads()
    if device.type != "cpu" or n == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


_CACHE: dict[tuple[str, str], BlazeFace] = {}
_LOCK = threading.Lock()


def load_blazeface(name: str, device: torch.device | str = "cpu") -> BlazeFace:
    """The named detector on `device` (built once per process and device)."""
    key = (name, str(torch.device(device)))
    with _LOCK:
        if key not in _CACHE:
            _CACHE[key] = BlazeFace(name).to(device).eval()
        return _CACHE[key]
