"""The integer-only scheme (``int16-fixed``): no float at run time inside ``<p>_step_q``.

Every run-time value v is an integer q with a power-of-two scale, v = q * 2^-f: int16 in memory
(inputs, state, outputs, temporaries), int32 in registers. ``f`` per tensor comes from the
largest magnitude the calibration rollouts reach (one bit of headroom), the state's in and out
scale being one. Matrix weights are int8 with the float per-channel scales folded into int32
multipliers and one shift per matrix (int32 accumulation, int64 only for that product);
constants read inside loops are int16 with a power-of-two scale; sigmoid and tanh read one
513-entry table (Q15, linear interpolation); any other unary op reads its own 257-entry table
over its input's int16 range. ``<p>_step`` / ``<p>_run`` / ``<p>_reset`` keep the common float
API as wrappers that convert at the edges (exactly: power-of-two scales).

Assumes ``>>`` of a negative int is arithmetic (gcc, clang, armcc); left shifts are written as
multiplications.
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import UnsupportedError
from .emit import FloatEmitter, by4_macro, flt, make_header
from .ir import Graph
from .lower import MatVec, Program
from .ops import OPS
from .weights import Encoding, Stored

# dt headroom: the int16 dt format covers at least this many times the largest and the median
# calibration dt (the parity gate's gap sequences reach 100x the median: they must fit).
DT_HEADROOM_OF_MAX = 16
DT_HEADROOM_OF_MEDIAN = 128
# A tensor read only by sigmoid (tanh) needs no range beyond where it saturates: the gap
# calibration widens such a tensor's range at most to this (never below the plain calibration's).
SATURATES_AT = {"Sigmoid": 16.0, "Tanh": 8.0}
TANH_STEPS = 32                       # table entries per unit of input; domain [-8, 8]
TANH_N = 16 * TANH_STEPS + 1
TANH_SHIFT = int(math.log2(TANH_STEPS)) + 8     # value at 2^-f -> table position at 2^-8 per entry
LUT_N = 257


def value_ranges(graph: Graph, feeds) -> dict[str, float]:
    """max |value| of every tensor of the (unlowered) graph over the calibration feeds."""
    out: dict[str, float] = {}
    for f in feeds:
        env = graph.evaluate(f, keep=True)
        for k, v in env.items():
            if k in graph.consts:
                continue
            a = np.asarray(v)
            if a.dtype.kind != "f":
                continue
            m = float(np.max(np.abs(a))) if a.size else 0.0
            if not np.isfinite(m):
                raise UnsupportedError(f"calibration reaches a non-finite value in {k}")
            out[k] = max(out.get(k, 0.0), m)
    return out


def dt_format(dts) -> tuple[int, float, float]:
    """(DT_FRAC, largest, smallest positive dt) of the int16 dt format for calibration dts
    ``dts``: the most fraction bits whose range covers DT_HEADROOM_OF_MAX x the largest and
    DT_HEADROOM_OF_MEDIAN x the median calibration dt."""
    d = np.asarray(dts, np.float64).reshape(-1)
    d = d[np.isfinite(d) & (d > 0)]
    if not d.size:
        raise UnsupportedError("calibration has no positive dt to size the fixed-point dt format on")
    need = max(DT_HEADROOM_OF_MAX * float(d.max()), DT_HEADROOM_OF_MEDIAN * float(np.median(d)))
    f = int(max(-16, min(30, math.floor(math.log2(32767.0 / need)))))
    return f, 32767.0 * 2.0 ** -f, 2.0 ** -f


def gap_ranges(graph: Graph, feeds: list, dt_top: float) -> dict[str, float]:
    """Ranges over the calibration feeds with dt = ``dt_top`` (the format's largest dt) merged
    into the plain ranges: tensors a dt gap drives (decays, interpolation gates, dt features)
    get room for it. A tensor read only by Sigmoid/Tanh widens at most to SATURATES_AT."""
    plain = value_ranges(graph, feeds)
    step = max(1, len(feeds) // 64)
    gap = value_ranges(graph, [{**f, "dt": np.full_like(np.asarray(f["dt"], np.float32), dt_top)}
                               for f in feeds[::step]])
    readers = graph.consumers()
    out = dict(plain)
    for k, v in gap.items():
        ops = {n.op for n in readers.get(k, [])}
        cap = min((SATURATES_AT[o] for o in ops), default=None) if ops and ops <= set(SATURATES_AT) else None
        wide = v if cap is None else min(v, cap)
        out[k] = max(plain.get(k, 0.0), wide)
    return out


def frac_for(maxabs: float, bits: int = 16) -> int:
    """Fractional bits so that 2 * maxabs fits a signed ``bits``-bit integer."""
    if maxabs <= 0:
        return bits - 1
    return int(max(-16, min(40, (bits - 2) - math.ceil(math.log2(maxabs)))))


def sh(expr: str, s: int) -> str:
    """expr * 2^-s, rounded (s > 0: arithmetic right shift; s < 0: multiplication)."""
    if s == 0:
        return expr
    if s > 0:
        if s >= 31:
            return "0"
        return f"((({expr}) + {1 << (s - 1)}) >> {s})"
    return f"(({expr}) * {1 << min(-s, 30)})"


class FixedEmitter(FloatEmitter):
    vtype = "int32_t"

    def __init__(self, prog: Program, prefix: str, precision: dict[str, str], banner: str, ranges: dict,
                 dt_frac: int | None = None):
        super().__init__(prog, prefix, precision, banner)
        self.cfrac: dict[str, int] = {}
        self.frac = self._fracs(ranges, dt_frac)

    # -- scales ------------------------------------------------------------------------------
    def _fracs(self, ranges: dict, dt_frac: int | None) -> dict[str, int]:
        g, prog = self.prog.graph, self.prog
        missing = [n for n in prog.sizes if n not in g.consts and n not in ranges]
        frac = {n: frac_for(ranges.get(n, 0.0)) for n in prog.sizes if n not in g.consts}
        if dt_frac is not None:       # the dt format (dt_format): its headroom, not 2x calibration
            frac["dt"] = dt_frac
        for name in missing:          # values the lowering created from others keep the source's
            frac[name] = 15
        for s_in, s_out in zip(g.inputs[2:], g.outputs[1:]):
            f = min(frac[s_in], frac[s_out])
            frac[s_in] = frac[s_out] = f
        # views share their base's scale (same memory); in place values share too
        for name, (base, _) in prog.alias.items():
            if base in frac:
                frac[name] = frac[base]
        return frac

    def f(self, name: str) -> int:
        if name in self.cfrac:
            return self.cfrac[name]
        return self.frac[name]

    # -- hooks ---------------------------------------------------------------------------------
    def scalar(self, name: str, value: float) -> str:
        fc = frac_for(abs(value))
        self.cfrac[name] = fc
        return str(int(round(value * 2.0 ** fc)))

    def loop_const(self, name, values, active, outer, channel_axis_ok) -> Stored:
        values = np.asarray(values, np.float32)
        prec = self.precision.get(name, "int16")
        bits = 8 if prec == "int8" else 16
        key = ("q", prec, values.shape, _digest(values), None if active is None else _digest(active))
        if key not in self.stored:
            flat = values[active] if active is not None else values.reshape(-1)
            fc = frac_for(float(np.max(np.abs(flat))) if flat.size else 0.0, bits)
            q = np.clip(np.round(flat * 2.0 ** fc), -(2 ** (bits - 1) - 1), 2 ** (bits - 1) - 1).astype(np.int64)
            st = Stored("int8_t" if bits == 8 else "int16_t", q, None, 1, Encoding("packed" if active is not None else "dense"),
                        prec)
            st.cname = self.array(st.ctype, q, f"{name} {prec}, 2^-{fc}")
            st.fc = fc
            self.stats["weights_stored"] += int(q.size)
            self.stats["weight_bytes"] += int(q.size) * (bits // 8)
            self.stats["int8_tensors" if bits == 8 else "int16_tensors"] = \
                self.stats.get("int8_tensors" if bits == 8 else "int16_tensors", 0) + 1
            self.stored[key] = st
        st = self.stored[key]
        self.cfrac[name] = st.fc
        return _Raw(st.cname)

    def reduction(self, m, a: str, src: str, rn: int) -> tuple[str, str, str]:
        fin_ = self.f(m.inputs[0])
        fo = self.frac[m.outputs[0]]
        acc_t = "int32_t" if rn < 32768 else "int64_t"
        if m.op == "ReduceMax":
            return f"int32_t {a} = -2147483647;", f"{a} = {src} > {a} ? {src} : {a};", sh(a, fin_ - fo)
        fin = f"(int32_t)({a} / {rn})" if m.op == "ReduceMean" else f"(int32_t){a}"
        return f"{acc_t} {a} = 0;", f"{a} += {src};", sh(fin, fin_ - fo)

    def store(self, name: str, idx: str, value: str) -> str:
        return f"{self.at(name, idx)} = {self.p}_sat16({value});"

    def at(self, name: str, idx: str) -> str:
        loc = self.prog.locs[name]
        if loc.base == "dt":
            return "(int32_t)dt"
        return super().at(name, idx)

    # -- element-wise ops ------------------------------------------------------------------------
    def _expr(self, m, args: list[str]) -> str:
        op = m.op
        ins = [i for i in m.inputs if i]
        fo = self.frac[m.outputs[0]]
        fs = [self.f(i) for i in ins]
        a = args[0]
        if op in ("Add", "Sub", "Max", "Min"):
            w = min(fs[0], fs[1])
            x, y = sh(args[0], fs[0] - w), sh(args[1], fs[1] - w)
            core = {"Add": f"({x} + {y})", "Sub": f"({x} - {y})",
                    "Max": f"({x} > {y} ? {x} : {y})", "Min": f"({x} < {y} ? {x} : {y})"}[op]
            return sh(core, w - fo)
        if op == "Mul":
            return sh(f"({args[0]} * {args[1]})", fs[0] + fs[1] - fo)
        if op == "Div":
            self._need("div")
            return f"{self.p}_qdiv({args[0]}, {args[1]}, {fo - fs[0] + fs[1]})"
        if op in ("Identity", "Unsqueeze", "Squeeze", "Reshape", "Flatten"):
            return sh(a, fs[0] - fo)
        if op == "Neg":
            return sh(f"(-{a})", fs[0] - fo)
        if op == "Relu":
            return sh(f"({a} > 0 ? {a} : 0)", fs[0] - fo)
        if op == "Abs":
            return sh(f"({a} < 0 ? -{a} : {a})", fs[0] - fo)
        if op == "Tanh":             # the table index's scale is applied here, with a constant shift
            self._need("tanh")
            return sh(f"{self.p}_qtanh({sh(a, fs[0] - TANH_SHIFT)})", 15 - fo)
        if op == "Sigmoid":
            self._need("sigmoid")
            return sh(f"{self.p}_qsigmoid({sh(a, fs[0] + 1 - TANH_SHIFT)})", 15 - fo)
        if op == "Pow":
            e = self.prog.graph.consts.get(m.inputs[1])
            if e is not None and np.size(e) == 1 and float(np.reshape(e, -1)[0]) == 2.0:
                return sh(f"({a} * {a})", 2 * fs[0] - fo)
        if op == "Clip":
            lo = float(self.prog.graph.consts[m.inputs[1]]) if len(m.inputs) > 1 and m.inputs[1] else -1e30
            hi = float(self.prog.graph.consts[m.inputs[2]]) if len(m.inputs) > 2 and m.inputs[2] else 1e30
            lo_q = max(-(2 ** 31 - 1), int(round(lo * 2.0 ** fs[0])))
            hi_q = min(2 ** 31 - 1, int(round(hi * 2.0 ** fs[0])))
            return sh(f"({a} < {lo_q} ? {lo_q} : ({a} > {hi_q} ? {hi_q} : {a}))", fs[0] - fo)
        if op in OPS and OPS[op].kind == "elementwise" and len(ins) == 1 or op == "Pow":
            return self._lut(m, a, fs[0], fo)
        raise UnsupportedError(f"op {op} has no fixed-point form in the C generator")

    def _lut(self, m, a: str, fa: int, fo: int) -> str:
        """A 257-entry table of the op over its input's int16 range (output at scale fo)."""
        from .ir import run_node

        xs = (np.arange(LUT_N, dtype=np.float64) - 128.0) * 256.0 * 2.0 ** -fa
        env = {m.inputs[0]: xs.astype(np.float32)}
        for i in m.inputs[1:]:
            if i:
                env[i] = self.prog.graph.consts[i]
        with np.errstate(all="ignore"):
            run_node(type(m)(m.op, list(m.inputs), list(m.outputs), m.attrs, m.name), env)
        ys = np.nan_to_num(np.asarray(env[m.outputs[0]], np.float64), nan=0.0, posinf=1e30, neginf=-1e30)
        q = np.clip(np.round(ys * 2.0 ** fo), -32768, 32767).astype(np.int64)
        name = self.array("int16_t", q, f"{m.op} over the int16 input range at 2^-{fa}, out 2^-{fo}")
        self._need("lut")
        return f"{self.p}_qlut({name}, {a})"

    def _need(self, what: str) -> None:
        p = self.p
        if what == "tanh" and f"{p}_qtanh" not in self.helpers:
            xs = np.linspace(-8.0, 8.0, TANH_N)
            q = np.clip(np.round(np.tanh(xs) * 32768.0), -32767, 32767).astype(np.int64)
            table = self.array("int16_t", q, f"tanh over [-8, 8] in steps of 1/{TANH_STEPS}, Q15")
            half = 8 * TANH_STEPS * 256
            self.helpers[f"{p}_qtanh"] = f"""/* tanh in Q15 from the table, linear interpolation; p = the input * {TANH_STEPS * 256}
   (the caller shifts a value at 2^-f by f - {TANH_SHIFT}: a constant shift at each call) */
static int32_t {p}_qtanh(int32_t p)
{{
    int32_t i, fr;
    if (p <= -{half}) return -32767;
    if (p >= {half}) return 32767;
    p += {half};
    i = p >> 8;
    fr = p & 255;
    return {table}[i] + ((({table}[i + 1] - {table}[i]) * fr + 128) >> 8);
}}
"""
        if what == "sigmoid" and f"{p}_qsigmoid" not in self.helpers:
            self._need("tanh")
            self.helpers[f"{p}_qsigmoid"] = f"""/* sigmoid(v) = (1 + tanh(v / 2)) / 2 in Q15; p = v / 2 as qtanh takes it */
static int32_t {p}_qsigmoid(int32_t p)
{{
    int32_t t = ({p}_qtanh(p) + 32768) >> 1;
    return t > 32767 ? 32767 : t;
}}
"""
        if what == "shv" and f"{p}_shv" not in self.helpers:
            self.helpers[f"{p}_shv"] = f"""/* v * 2^-s, rounded, for a shift known only at run time */
static int32_t {p}_shv(int32_t v, int s)
{{
    if (s > 0) return s >= 31 ? 0 : (v + (1 << (s - 1))) >> s;
    if (s < 0) return v * (1 << (-s > 30 ? 30 : -s));
    return v;
}}
"""
        if what == "div" and f"{p}_qdiv" not in self.helpers:
            self.helpers[f"{p}_qdiv"] = f"""/* a / b * 2^k, saturated; b == 0 gives the largest value of a's sign */
static int32_t {p}_qdiv(int32_t a, int32_t b, int k)
{{
    int64_t num = a, den = b, r;
    if (k > 0) num *= (int64_t)1 << (k > 40 ? 40 : k);
    if (k < 0) den *= (int64_t)1 << (-k > 40 ? 40 : -k);
    if (den == 0) return a >= 0 ? 2147483647 : -2147483647;
    r = num / den;
    return r > 2147483647 ? 2147483647 : (r < -2147483647 ? -2147483647 : (int32_t)r);
}}
"""
        if what == "lut" and f"{p}_qlut" not in self.helpers:
            self.helpers[f"{p}_qlut"] = f"""/* a 257-entry table over the int16 input range, linear interpolation */
static int32_t {p}_qlut(const int16_t *t, int32_t v)
{{
    int32_t u, i;
    if (v > 32767) v = 32767;
    if (v < -32768) v = -32768;
    u = v + 32768;
    i = u >> 8;
    return t[i] + (((t[i + 1] - t[i]) * (u & 255) + 128) >> 8);
}}
"""

    # -- matrices ------------------------------------------------------------------------------
    def matvec(self, k: MatVec) -> list[str]:
        from .weights import store_matrix

        w = np.asarray(self.prog.consts[k.weight], np.float32).reshape(k.n, k.k)
        prec = self.precision.get(k.weight, "int8")
        if prec not in ("int8", "int16"):
            prec = "int8"
        key = ("qm", prec, k.sparse, _digest(w))
        if key not in self.stored:
            st = store_matrix(w, prec, sparse=k.sparse)
            st.cname = self.array(st.ctype, st.data, f"{k.weight} {st.describe()}")
            if st.mask is not None:
                st.mask_name = self.array(st.mask_ctype, st.mask, f"{k.weight} active entries ({st.encoding})")
                st.count_name = (self.array(st.count_ctype, st.counts, f"{k.weight} active per row")
                                 if st.counts is not None else None)
                self.stats["index_bytes"] += st.index_bytes()
            self.stats["weights_stored"] += int(np.size(st.data))
            self.stats["weight_bytes"] += int(np.size(st.data)) * st.itemsize
            self.stats["int8_tensors"] += 1
            self.stored[key] = st
        st = self.stored[key]
        fx, fy = self.frac[k.x], self.frac[k.out]
        scales = np.broadcast_to(np.asarray(st.scale, np.float64).reshape(-1), (k.n,) if st.channels > 1 else (1,))
        M = scales * 2.0 ** (fy - fx)
        e = int(min(62, 30 - math.floor(math.log2(max(float(M.max()), 1e-300)))))
        mult = np.clip(np.round(M * 2.0 ** e), 0, 2 ** 31 - 1).astype(np.int64)
        mname = self.array("int32_t", mult, f"{k.weight} multipliers (scale * 2^{fy - fx}) * 2^{e}")
        bname = "(const int32_t *)0"
        if k.bias is not None:
            bq = np.round(np.asarray(self.prog.consts[k.bias], np.float64) * 2.0 ** fy)
            bname = self.array("int32_t", np.clip(bq, -(2 ** 31 - 1), 2 ** 31 - 1).astype(np.int64), f"{k.bias} at 2^-{fy}")
        add, add_sh = "(const int16_t *)0", 0
        if k.addend:
            add, add_sh = self.ptr(k.addend), self.frac[k.addend] - fy
        helper = self._qmv_helper(st, wide=(st.ctype == "int16_t" or k.k > 512))
        args = [st.cname]
        if st.mask is not None:
            args = [st.mask_name] + ([st.count_name] if st.count_name else []) + args
        args += [mname, "1" if mult.size > 1 else "0", str(e), bname, add, str(add_sh),
                 self.ptr(k.x), self.ptr(k.out), str(k.n), str(k.k)]
        return [f"    {helper}({', '.join(args)}); /* {k.out} = {k.weight} x {k.x}"
                f"{' + ' + k.addend if k.addend else ''} */"]

    def _qmv_helper(self, st: Stored, wide: bool) -> str:
        p, wt = self.p, st.ctype
        acc_t = "int64_t" if wide else "int32_t"
        name = f"{p}_qmv_{'i16' if wt == 'int16_t' else 'i8'}_{st.encoding}"
        if name in self.helpers:
            return name
        self._need("shv")
        tail = (f"        r = (int64_t)acc * m[j * ms];\n"
                f"        v = (int32_t)((r + ((int64_t)1 << (e - 1))) >> e);\n"
                f"        if (b) v += b[j];\n"
                f"        if (add) v += {p}_shv(add[j], add_sh);\n"
                f"        y[j] = {p}_sat16(v);\n")
        common = ("const int32_t *m, int ms, int e, const int32_t *b, const int16_t *add, int add_sh, "
                  "const int16_t *x, int16_t *y, int n, int k")
        if st.encoding == "dense":
            self.by4 = True
            sig = f"const {wt} *w, {common}"
            body = f"""    int j, i;
    int64_t r;
    int32_t v;
    for (j = 0; j < n; j++) {{
        const {wt} *wj = w + (long)j * k;
        {acc_t} acc = 0;
        i = 0;
#if {p.upper()}_BY4
        for (; i + 4 <= k; i += 4)           /* integer sums: exact in any order */
            acc += ({acc_t})wj[i] * x[i] + ({acc_t})wj[i + 1] * x[i + 1]
                 + ({acc_t})wj[i + 2] * x[i + 2] + ({acc_t})wj[i + 3] * x[i + 3];
#endif
        for (; i < k; i++) acc += ({acc_t})wj[i] * x[i];
{tail}    }}
"""
        elif st.encoding == "bitmask":
            sig = f"const unsigned char *mk, const {wt} *w, {common}"
            body = f"""    int j, q, t, rb = (k + 7) / 8;
    int64_t r;
    int32_t v;
    for (j = 0; j < n; j++) {{
        const unsigned char *mj = mk + (long)j * rb;
        {acc_t} acc = 0;
        for (q = 0; q < rb; q++) {{
            unsigned bits = mj[q];
            const int16_t *xq = x + 8 * q;
            for (t = 0; bits; t++, bits >>= 1)
                if (bits & 1u) acc += ({acc_t})(*w++) * xq[t];
        }}
{tail}    }}
"""
        else:
            sig = f"const {st.mask_ctype} *idx, const {st.count_ctype} *cnt, const {wt} *w, {common}"
            body = f"""    int j, c;
    int64_t r;
    int32_t v;
    (void)k;
    for (j = 0; j < n; j++) {{
        {acc_t} acc = 0;
        for (c = cnt[j]; c > 0; c--) acc += ({acc_t})(*w++) * x[*idx++];
{tail}    }}
"""
        self.helpers[name] = f"static void {name}({sig})\n{{\n{body}}}\n"
        return name

    # -- moves -----------------------------------------------------------------------------------
    def copy_from(self, src: str, dst_ptr: str, n: int, dst_frac: int | None = None) -> list[str]:
        g = self.prog.graph
        fd = dst_frac
        if src in g.consts:
            v = np.asarray(g.consts[src], np.float64).reshape(-1)
            q = np.clip(np.round(v * 2.0 ** fd), -32768, 32767).astype(np.int64)
            arr = self.array("int16_t", q, f"{src} at 2^-{fd}")
            return [f"    for (i = 0; i < {n}; i++) {dst_ptr}[i] = {arr}[i];"]
        s = self.frac[src]
        if self.prog.locs[src].base == "dt":
            return [f"    {dst_ptr}[0] = {self.p}_sat16({sh('(int32_t)dt', s - fd)});"]
        val = sh(f"(int32_t){self.ptr(src)}[i]", s - fd)
        return [f"    for (i = 0; i < {n}; i++) {dst_ptr}[i] = {self.p}_sat16({val});"]

    def concat(self, k) -> list[str]:
        out, off, lines = self.ptr(k.out), 0, [f"    /* concat -> {k.out} */"]
        for part in k.parts:
            n = self.prog.sizes[part]
            dst = out if off == 0 else f"({out} + {off})"
            lines += self.copy_from(part, dst, n, self.frac[k.out])
            off += n
        return lines

    def copy(self, k) -> list[str]:
        fd = self.frac[k.src] if k.src in self.frac else 15
        return [f"    /* {k.src} -> caller's buffer */"] + self.copy_from(k.src, self._ptr(k.dst), k.n, fd)

    # -- whole file ------------------------------------------------------------------------------
    def emit(self, header_name: str):
        from .emit import Emitted

        prog, p = self.prog, self.p
        P = p.upper()
        g = prog.graph
        body: list[str] = []
        for k in prog.kernels:
            body += self.kernel(k)
        self.helpers[f"{p}_sat16"] = (f"static int16_t {p}_sat16(int32_t v)\n{{\n"
                                      f"    return (int16_t)(v > 32767 ? 32767 : (v < -32768 ? -32768 : v));\n}}\n")
        if any("for (i = 0" in ln for ln in body):
            self.loop_vars.add("i")
        decl = []
        if self.loop_vars:
            decl.append("    int " + ", ".join(sorted(self.loop_vars)) + ";")
        if prog.arena:
            decl.append(f"    int16_t tmp[{prog.arena}];")
        core = (f"static void {p}_core(const int16_t *x, int16_t dt, int16_t *state, int16_t *y)\n{{\n"
                + "\n".join(decl) + ("\n" if decl else "")
                + "    (void)x; (void)dt; (void)state;\n" + "\n".join(body) + "\n}\n")
        fx, fdt, fy = self.frac["x"], self.frac["dt"], self.frac[g.outputs[0]]
        states = g.inputs[2:]
        seg = [(s, prog.state_offsets[s], prog.sizes[s], self.frac[s]) for s in states]
        to_q = "\n".join(f"    for (i = {o}; i < {o + n}; i++) sq[i] = {p}_q16(state[i] * {flt(2.0 ** f)});"
                         for _, o, n, f in seg)
        from_q = "\n".join(f"    for (i = {o}; i < {o + n}; i++) state[i] = (float)sq[i] * {flt(2.0 ** -f)};"
                           for _, o, n, f in seg)
        dt_max, dt_min = 32767.0 * 2.0 ** -fdt, 2.0 ** -fdt
        wrappers = f"""void {p}_reset_q(int16_t *state)
{{
    int i;
    for (i = 0; i < {P}_STATE_SIZE; i++) state[i] = 0;
}}

/* dt_q outside [1, 32767] (dt outside [{P}_DT_MIN, {P}_DT_MAX]) is saturated to that range
   and counted in the return value. */
int {p}_run_q(const int16_t *x, const int32_t *dt, int n, int16_t *state, int16_t *y)
{{
    int t, out = 0;
    for (t = 0; t < n; t++) {{
        int32_t d = dt[t];
        if (d < 1 || d > 32767) {{
            d = d < 1 ? 1 : 32767;
            out++;
        }}
        {p}_core(x + (long)t * {P}_INPUT_SIZE, (int16_t)d, state, y + (long)t * {P}_OUTPUT_SIZE);
    }}
    return out;
}}

int {p}_step_q(const int16_t *x, int32_t dt, int16_t *state, int16_t *y)
{{
    return {p}_run_q(x, &dt, 1, state, y);
}}

/* float API: converts at the edges (power-of-two scales: the state round-trips exactly) */
static int16_t {p}_q16(float v)
{{
    if (v >= 32767.0f) return 32767;
    if (v <= -32768.0f) return -32768;
    return (int16_t)(v >= 0.0f ? v + 0.5f : v - 0.5f);
}}

void {p}_reset(float *state)
{{
    int i;
    for (i = 0; i < {P}_STATE_SIZE; i++) state[i] = 0.0f;
}}

int {p}_run(const float *x, const float *dt, int n, float *state, float *y)
{{
    int16_t xq[{P}_INPUT_SIZE], sq[{P}_STATE_SIZE], yq[{P}_OUTPUT_SIZE], dq;
    int t, i, out = 0;
    float d;
{to_q}
    for (t = 0; t < n; t++) {{
        for (i = 0; i < {P}_INPUT_SIZE; i++) xq[i] = {p}_q16(x[(long)t * {P}_INPUT_SIZE + i] * {flt(2.0 ** fx)});
        d = dt[t] * {flt(2.0 ** fdt)};
        if (!(d >= 0.5f) || d > 32767.0f) {{         /* also NaN: saturated and counted */
            d = d > 32767.0f ? 32767.0f : 1.0f;
            out++;
        }}
        dq = {p}_q16(d);
        {p}_core(xq, dq, sq, yq);
        for (i = 0; i < {P}_OUTPUT_SIZE; i++) y[(long)t * {P}_OUTPUT_SIZE + i] = (float)yq[i] * {flt(2.0 ** -fy)};
    }}
{from_q}
    return out;
}}

int {p}_step(const float *x, float dt, float *state, float *y)
{{
    return {p}_run(x, &dt, 1, state, y);
}}

/* n streams: one after another (the integer kernels have no batched variant); returns the
   number of streams whose dt was saturated */
int {p}_step_batch(int n, const float *x, const float *dt, float *state, float *y)
{{
    int s, out = 0;
    for (s = 0; s < n; s++)
        out += {p}_step(x + (long)s * {P}_INPUT_SIZE, dt[s], state + (long)s * {P}_STATE_SIZE, y + (long)s * {P}_OUTPUT_SIZE);
    return out;
}}
"""
        macros = [f"#define {P}_X_FRAC {fx}      /* x_q = round(x * 2^{fx}) */",
                  f"#define {P}_DT_FRAC {fdt}     /* dt_q = round(dt * 2^{fdt}), 1 .. 32767 */",
                  f"#define {P}_Y_FRAC {fy}"]
        for s, o, n, f in seg:
            macros.append(f"#define {P}_STATE_{s.upper()}_FRAC {f}   /* offset {P}_STATE_{s.upper()}_OFFSET */")
        extra = ("\n/* Integer API (no float at run time): int16 values v * 2^FRAC, state int16 too.\n"
                 f"   dt_q is int32 so that an out-of-range dt can be seen: outside [1, 32767] it is saturated\n"
                 f"   and counted in the return value (as the float API does for dt outside [DT_MIN, DT_MAX]).\n"
                 f"   The integer API's state is int16_t[{P}_STATE_SIZE] (2-byte aligned), same layout. */\n"
                 + "\n".join(macros) + "\n"
                 f"void {p}_reset_q(int16_t *state);\n"
                 f"int {p}_step_q(const int16_t *x, int32_t dt, int16_t *state, int16_t *y);\n"
                 f"int {p}_run_q(const int16_t *x, const int32_t *dt, int n, int16_t *state, int16_t *y);\n")
        self.dt_range = (dt_min, dt_max, f"int16 Q-format dt_q = dt * 2^{fdt}: {dt_min!r} .. {dt_max!r}")
        helpers_order = sorted(self.helpers, key=lambda h: (not h.endswith("_sat16"), not h.endswith("_shv"),
                                                            not h.endswith("_qtanh"), not h.endswith("_qsigmoid"), h))
        source = "\n".join([self.banner, "#include <stdint.h>", f'#include "{header_name}"', "",
                            by4_macro(P) if self.by4 else "",
                            *self.arrays, *[self.helpers[h] for h in helpers_order], core, wrappers])
        header = make_header(p, prog, self.banner, extra, meta=g.meta, dt_range=self.dt_range,
                             scheme=self.scheme_name).replace(
            f"#define {P}_H\n", f"#define {P}_H\n\n#include <stdint.h>\n", 1)
        self.stats["arena_floats"] = prog.arena
        return Emitted(source, header, dict(self.stats))


class _Raw(str):
    """A stored constant read as its raw integers (the scale lives in cfrac)."""

    def read(self, idx: str, channel: str) -> str:
        return f"(int32_t){self}[{idx}]"


def _digest(a) -> str:
    from .emit import _digest as d
    return d(a)


__all__ = ["FixedEmitter", "frac_for", "value_ranges"]
