"""How a constant tensor is stored in the generated C: float or int8 with scales, dense or
only its active entries (a wiring mask's zeros are never stored).

Precision is chosen per tensor by the scheme's plan (``schemes.py``); the scale granularity
by the data: one scale per output channel when a channel has >= ``PER_CHANNEL_MIN`` stored
values on average (else the scales would cost more flash than they save error), one per
tensor otherwise. Active entries are listed either as a bitmask (numel / 8 bytes) or as
per-row counts plus indices, whichever is smaller.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PER_CHANNEL_MIN = 32
QMAX = {"int8": 127, "int16": 32767}
CTYPE = {"fp32": "float", "int8": "int8_t", "int16": "int16_t"}
ITEMSIZE = {"float": 4, "int8_t": 1, "int16_t": 2}


@dataclass
class Encoding:
    """Active entries of an (outer, inner) matrix, row by row."""
    encoding: str               # "dense" | "bitmask" | "index"
    mask: np.ndarray | None = None
    mask_ctype: str = "unsigned char"
    counts: np.ndarray | None = None
    count_ctype: str = "unsigned char"
    row_bytes: int = 0
    mask_name: str = ""
    count_name: str | None = None

    def index_bytes(self) -> int:
        if self.mask is None:
            return 0
        size = {"unsigned char": 1, "unsigned short": 2}
        return int(self.mask.size * size[self.mask_ctype]
                   + (0 if self.counts is None else self.counts.size * size[self.count_ctype]))


INDEX_SLACK = 1.5      # index lists (no wasted iterations) unless they cost this much more than a bitmask


def encode_active(active: np.ndarray) -> Encoding:
    """Per-row index lists, or a bitmask when the lists would cost more than INDEX_SLACK x its
    bytes (flash is what the sparse form is for; lists iterate only active entries)."""
    rows, cols = active.shape
    rb = (cols + 7) // 8
    bitmask_bytes = rows * rb
    counts = active.sum(axis=1)
    cnt_t = "unsigned char" if counts.max(initial=0) < 256 else "unsigned short"
    idx_t = "unsigned char" if cols <= 256 else "unsigned short"
    index_bytes = rows * (1 if cnt_t == "unsigned char" else 2) + int(active.sum()) * (1 if idx_t == "unsigned char" else 2)
    if index_bytes <= INDEX_SLACK * bitmask_bytes:
        idx = np.concatenate([np.nonzero(r)[0] for r in active]) if rows else np.zeros(0, int)
        return Encoding("index", idx.astype(np.int64), idx_t, counts.astype(np.int64), cnt_t, rb)
    bits = np.zeros((rows, rb * 8), dtype=np.uint8)
    bits[:, :cols] = active
    packed = np.packbits(bits.reshape(rows, rb, 8)[:, :, ::-1], axis=2).reshape(rows, rb)
    return Encoding("bitmask", packed.astype(np.int64), "unsigned char", None, "unsigned char", rb)


@dataclass
class Stored:
    ctype: str                  # "float" | "int8_t" | "int16_t"
    data: np.ndarray            # values in stored order (flat)
    scale: np.ndarray | None    # float scales: one per channel, or one
    channels: int               # 1 = per tensor
    enc: Encoding
    precision: str
    error: float = 0.0          # max |dequantized - original| / max |original|
    cname: str = ""
    scale_name: str = ""

    @property
    def encoding(self) -> str:
        return self.enc.encoding

    @property
    def mask(self):
        return self.enc.mask

    @property
    def mask_ctype(self):
        return self.enc.mask_ctype

    @property
    def counts(self):
        return self.enc.counts

    @property
    def count_ctype(self):
        return self.enc.count_ctype

    @property
    def mask_name(self):
        return self.enc.mask_name

    @mask_name.setter
    def mask_name(self, v):
        self.enc.mask_name = v

    @property
    def count_name(self):
        return self.enc.count_name

    @count_name.setter
    def count_name(self, v):
        self.enc.count_name = v

    @property
    def itemsize(self) -> int:
        return ITEMSIZE[self.ctype]

    def index_bytes(self) -> int:
        return self.enc.index_bytes()

    def describe(self) -> str:
        what = self.precision
        if self.scale is not None:
            what += f", {'per-channel' if self.channels > 1 else 'per-tensor'} scale"
        if self.enc.encoding != "dense":
            what += f", {self.data.size} active entries"
        return what

    def read(self, idx: str, channel: str) -> str:
        """C expression of the (dequantized) value at stored index ``idx``."""
        if self.ctype == "float":
            return f"{self.cname}[{idx}]"
        scale = f"{self.scale_name}[{channel}]" if self.channels > 1 else _flt(self.scale.reshape(-1)[0])
        return f"((float){self.cname}[{idx}] * {scale})"


def _flt(v) -> str:
    from .emit import flt
    return flt(v)


def quantize_rows(rows: list[np.ndarray], precision: str, per_channel: bool):
    """Symmetric quantization of each row (a channel) or of all rows with one scale."""
    qmax = QMAX[precision]
    if per_channel:
        scales = np.array([max(float(np.max(np.abs(r))) if r.size else 0.0, 1e-30) / qmax for r in rows],
                          dtype=np.float32)
    else:
        m = max((float(np.max(np.abs(r))) for r in rows if r.size), default=0.0)
        scales = np.array([max(m, 1e-30) / qmax], dtype=np.float32)
    q = [np.clip(np.round(r / scales[i if per_channel else 0]), -qmax, qmax).astype(np.int64)
         for i, r in enumerate(rows)]
    deq = [qi.astype(np.float32) * scales[i if per_channel else 0] for i, qi in enumerate(q)]
    ref = max((float(np.max(np.abs(r))) for r in rows if r.size), default=0.0)
    err = max((float(np.max(np.abs(d - r))) for d, r in zip(deq, rows) if r.size), default=0.0)
    return q, scales, (err / ref if ref > 0 else 0.0)


def _store(rows: list[np.ndarray], precision: str, enc: Encoding, channel_ok: bool) -> Stored:
    flat = np.concatenate(rows) if rows else np.zeros(0, np.float32)
    if precision == "fp32":
        return Stored("float", flat.astype(np.float32), None, 1, enc, precision)
    per_channel = channel_ok and len(rows) > 1 and flat.size / len(rows) >= PER_CHANNEL_MIN
    q, scales, err = quantize_rows(rows, precision, per_channel)
    return Stored(CTYPE[precision], np.concatenate(q) if q else np.zeros(0, np.int64), scales,
                  len(rows) if per_channel else 1, enc, precision, err)


def store_matrix(w: np.ndarray, precision: str, sparse: bool) -> Stored:
    """A (N, K) matrix-vector weight; rows are output channels. Dense float matrices are stored
    column-major ("dense_t": the inner loop runs over outputs, which vectorizes without
    reassociation); quantized ones row-major (a dot product per output: what an MCU does best)."""
    if sparse:
        active = w != 0
        enc = encode_active(active)
        rows = [w[j][active[j]] for j in range(w.shape[0])]
        return _store(rows, precision, enc, True)
    rows = [w[j] for j in range(w.shape[0])]
    st = _store(rows, precision, Encoding("dense"), True)
    if precision == "fp32":
        st.data = np.ascontiguousarray(w.T, dtype=np.float32).reshape(-1)
        st.enc = Encoding("dense_t")
    return st


def store_loop_const(values: np.ndarray, precision: str, active: np.ndarray | None, outer: int,
                     channel_ok: bool) -> Stored:
    """A constant read inside a fused loop: (outer, inner) values, only active ones when given."""
    v = np.asarray(values, np.float32)
    if active is not None:
        rows = [v[o][active[o]] for o in range(v.shape[0])]
        enc = Encoding("packed")
    else:
        v2 = v.reshape(outer, -1) if channel_ok else v.reshape(1, -1)
        rows = [r for r in v2]
        enc = Encoding("dense")
    return _store(rows, precision, enc, channel_ok)
