"""A minimal reader for the TensorFlow Lite flatbuffer format: just enough to load the bundled BlazeFace graphs.

It reads the first subgraph of a `.tflite` file into plain Python: tensors (name, shape, type, constant data)
and operators (builtin name, inputs, outputs, options). `blazeface.py` turns that into a torch module, so no
TFLite runtime is needed. Only the builtin operators and option tables those graphs use are decoded.

Flatbuffer layout (what the code below relies on): a table starts with an int32 offset back to its vtable;
the vtable lists uint16 field offsets (0 = field absent, default value); references to sub-tables, vectors and
strings are uint32 offsets relative to where they are stored; a vector is a uint32 length followed by its items.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# TensorType -> numpy dtype (schema.fbs order)
_TYPES = {0: np.float32, 1: np.float16, 2: np.int32, 3: np.uint8, 4: np.int64, 9: np.int8}
# BuiltinOperator codes (schema.fbs) of the operators the detector graphs use.
_OPS = {0: "ADD", 2: "CONCATENATION", 3: "CONV_2D", 4: "DEPTHWISE_CONV_2D", 6: "DEQUANTIZE", 14: "LOGISTIC",
        17: "MAX_POOL_2D", 18: "MUL", 19: "RELU", 21: "RELU6", 22: "RESHAPE", 23: "RESIZE_BILINEAR", 34: "PAD"}
_ACTIVATIONS = {0: None, 1: "RELU", 3: "RELU6"}
_PADDING = {0: "SAME", 1: "VALID"}


class TFLiteError(ValueError):
    pass


@dataclass
class Tensor:
    name: str
    shape: tuple[int, ...]
    dtype: type
    data: np.ndarray | None  # constant tensors only


@dataclass
class Operator:
    op: str
    inputs: list[int]
    outputs: list[int]
    options: dict = field(default_factory=dict)


@dataclass
class Graph:
    tensors: list[Tensor]
    operators: list[Operator]
    inputs: list[int]
    outputs: list[int]


class _Table:
    def __init__(self, buf: bytes, pos: int) -> None:
        self.buf, self.pos = buf, pos
        vtable = pos - struct.unpack_from("<i", buf, pos)[0]
        size = struct.unpack_from("<H", buf, vtable)[0]
        self.slots = struct.unpack_from(f"<{(size - 4) // 2}H", buf, vtable + 4)

    def _at(self, i: int) -> int:
        return self.pos + self.slots[i] if i < len(self.slots) and self.slots[i] else 0

    def scalar(self, i: int, fmt: str, default=0):
        at = self._at(i)
        return struct.unpack_from("<" + fmt, self.buf, at)[0] if at else default

    def _ref(self, i: int) -> int:
        at = self._at(i)
        return at + struct.unpack_from("<I", self.buf, at)[0] if at else 0

    def table(self, i: int) -> "_Table | None":
        at = self._ref(i)
        return _Table(self.buf, at) if at else None

    def vector(self, i: int, fmt: str) -> tuple:
        at = self._ref(i)
        if not at:
            return ()
        n = struct.unpack_from("<I", self.buf, at)[0]
        return struct.unpack_from(f"<{n}{fmt}", self.buf, at + 4)

    def bytes(self, i: int) -> bytes:
        at = self._ref(i)
        if not at:
            return b""
        n = struct.unpack_from("<I", self.buf, at)[0]
        return self.buf[at + 4: at + 4 + n]

    def tables(self, i: int) -> list["_Table"]:
        at = self._ref(i)
        if not at:
            return []
        n = struct.unpack_from("<I", self.buf, at)[0]
        out = []
        for k in range(n):
            item = at + 4 + 4 * k
            out.append(_Table(self.buf, item + struct.unpack_from("<I", self.buf, item)[0]))
        return out


def _options(op: str, t: _Table | None) -> dict:
    if t is None:
        return {}
    if op == "CONV_2D":
        return {"padding": _PADDING[t.scalar(0, "b")], "stride": (t.scalar(2, "i"), t.scalar(1, "i")),
                "activation": _ACTIVATIONS[t.scalar(3, "b")],
                "dilation": (t.scalar(5, "i", 1), t.scalar(4, "i", 1))}
    if op == "DEPTHWISE_CONV_2D":
        return {"padding": _PADDING[t.scalar(0, "b")], "stride": (t.scalar(2, "i"), t.scalar(1, "i")),
                "multiplier": t.scalar(3, "i", 1), "activation": _ACTIVATIONS[t.scalar(4, "b")],
                "dilation": (t.scalar(6, "i", 1), t.scalar(5, "i", 1))}
    if op == "MAX_POOL_2D":
        return {"padding": _PADDING[t.scalar(0, "b")], "stride": (t.scalar(2, "i"), t.scalar(1, "i")),
                "kernel": (t.scalar(4, "i"), t.scalar(3, "i")), "activation": _ACTIVATIONS[t.scalar(5, "b")]}
    if op in ("ADD", "MUL"):
        return {"activation": _ACTIVATIONS[t.scalar(0, "b")]}
    if op == "CONCATENATION":
        return {"axis": t.scalar(0, "i"), "activation": _ACTIVATIONS[t.scalar(1, "b")]}
    if op == "RESIZE_BILINEAR":
        return {"align_corners": bool(t.scalar(2, "B")), "half_pixel_centers": bool(t.scalar(3, "B"))}
    return {}


def read_tflite(path: str | Path) -> Graph:
    """Parse the first subgraph of a .tflite file. Raises TFLiteError for anything it does not support."""
    buf = Path(path).read_bytes()
    if len(buf) < 8 or buf[4:8] != b"TFL3":
        raise TFLiteError(f"{path} is not a TensorFlow Lite model")
    model = _Table(buf, struct.unpack_from("<I", buf, 0)[0])
    codes = []
    for oc in model.tables(1):
        code = max(oc.scalar(0, "b"), oc.scalar(3, "i"))  # deprecated_builtin_code / builtin_code
        codes.append(_OPS.get(code, f"UNSUPPORTED({code})"))
    buffers = [b.bytes(0) for b in model.tables(4)]
    sub = model.tables(2)[0]
    tensors = []
    for t in sub.tables(0):
        dtype = _TYPES.get(t.scalar(1, "b"))
        shape = tuple(t.vector(0, "i"))
        raw = buffers[t.scalar(2, "I")] if t.scalar(2, "I") < len(buffers) else b""
        data = None
        if raw:
            if dtype is None:
                raise TFLiteError(f"{path}: unsupported constant tensor type {t.scalar(1, 'b')}")
            data = np.frombuffer(raw, dtype=dtype).reshape(shape).copy()
        tensors.append(Tensor(t.bytes(3).decode("utf-8", "replace"), shape, dtype, data))
    ops = []
    for o in sub.tables(3):
        name = codes[o.scalar(0, "I")]
        if name.startswith("UNSUPPORTED"):
            raise TFLiteError(f"{path}: operator {name} is not supported by this reader")
        ops.append(Operator(name, list(o.vector(1, "i")), list(o.vector(2, "i")), _options(name, o.table(4))))
    return Graph(tensors, ops, list(sub.vector(1, "i")), list(sub.vector(2, "i")))
