"""Kernels + memory plan -> a C99 source and header (float compute: fp32 and int8-weight).

The source holds: weights as ``static const`` arrays (rodata), the math helpers it uses, one
``static`` function per matrix-vector variant, the step body (``<p>_core``) with one stack
arena for temporaries, and the public API. ``<p>_step`` is ``<p>_run`` with n = 1, so step and
run execute the very same code. No malloc, no mutable globals, every symbol prefixed.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from ..errors import UnsupportedError
from . import cmath, hostsimd
from .lower import Concat, Copy, Fused, Loc, MatVec, Program, numel, strip
from .ops import OPS
from .weights import Stored, store_loop_const, store_matrix

FLOAT_EXPR = {
    "Add": "({0} + {1})", "Sub": "({0} - {1})", "Mul": "({0} * {1})", "Div": "({0} / {1})",
    "Max": "({0} > {1} ? {0} : {1})", "Min": "({0} < {1} ? {0} : {1})",
    "Sigmoid": "{p}_sigmoid({0})", "Tanh": "{p}_tanh({0})", "Exp": "expf({0})", "Log": "logf({0})",
    "Neg": "(-{0})", "Abs": "({0} < 0.0f ? -{0} : {0})", "Reciprocal": "(1.0f / {0})",
    "Relu": "({0} > 0.0f ? {0} : 0.0f)", "Identity": "{0}", "Unsqueeze": "{0}", "Squeeze": "{0}",
    "Reshape": "{0}", "Flatten": "{0}", "Sqrt": "expf(0.5f * logf({0}))",
    "Softplus": "({0} > 20.0f ? {0} : logf(1.0f + expf({0})))",
}
HELPERS_OF = {"Sigmoid": ("tanh", "sigmoid"), "Tanh": ("tanh",)}
USES_LIBM = {"Exp", "Log", "Sqrt", "Softplus", "Pow"}


def _digest(a) -> str:
    import hashlib

    a = np.ascontiguousarray(a)
    return hashlib.sha256(a.tobytes() + str(a.dtype).encode() + str(a.shape).encode()).hexdigest()


def flt(v: float) -> str:
    """A float32 as a C literal that reads back exactly."""
    v = float(np.float32(v))
    if not np.isfinite(v):
        raise UnsupportedError(f"non-finite constant {v} in the step graph")
    s = "%.9g" % v
    if not any(ch in s for ch in ".en"):
        s += ".0"
    return s + "f"


@dataclass
class Emitted:
    source: str
    header: str
    stats: dict = field(default_factory=dict)
    tensors: dict = field(default_factory=dict)     # constant name -> how it is stored (``FloatEmitter.tensors``)


# bytes of one element of a ``static const`` array, by C type
_CTYPE_BYTES = {"float": 4, "int8_t": 1, "int16_t": 2, "unsigned char": 1, "unsigned short": 2}
_TENSOR_COUNT = {"float": "fp32_tensors", "int8_t": "int8_tensors", "int16_t": "int16_tensors"}


def by4_macro(P: str) -> str:
    """``<P>_BY4``: 1 on 32-bit Arm (Cortex-M), where gcc -Os leaves inner products rolled and
    unrolling them by 4 cuts the cycles; 0 elsewhere, where the compiler vectorizes the rolled
    loop (unrolled by hand, the integer product ran 2x slower on x86-64)."""
    return (f"#ifndef {P}_BY4\n#if defined(__arm__) && !defined(__aarch64__)\n#define {P}_BY4 1\n"
            f"#else\n#define {P}_BY4 0\n#endif\n#endif\n")


class FloatEmitter:
    """fp32 compute; weights stored as the precision plan says (fp32 or int8 + scales)."""

    scheme_name = ""          # the header's <P>_SCHEME (generate sets it)

    def __init__(self, prog: Program, prefix: str, precision: dict[str, str], banner: str):
        self.prog, self.p, self.precision, self.banner = prog, prefix, precision, banner
        self.arrays: list[str] = []
        self.helpers: dict[str, str] = {}
        self.stored: dict[tuple, Stored] = {}
        self.libm = False
        self.stats = {"weights_stored": 0, "weight_bytes": 0, "index_bytes": 0, "scale_bytes": 0,
                      "int8_tensors": 0, "fp32_tensors": 0, "const_bytes": 0}
        # every plan-driven constant the kernels read: {name: {"precision", "elements", "bytes",
        # "kernel", "shared_with"}} -- what a per-tensor precision search can set, and its cost
        self.tensors: dict[str, dict] = {}
        self._n = 0
        self.loop_vars: set[str] = set()
        self.block_macro = False
        self.flat_macro = False
        self.by4 = False              # a helper reads <P>_BY4 (by4_macro)
        self.i8_avx2 = False          # an int8 dense helper has an AVX2 path (hostsimd)

    # -- names and places ----------------------------------------------------------------
    def fresh(self, what: str) -> str:
        self._n += 1
        return f"{self.p}_{what}{self._n}"

    def ptr(self, name: str) -> str:
        loc = self.prog.locs[name]
        return self._ptr(loc)

    def _ptr(self, loc: Loc) -> str:
        base = {"x": "x", "dt": "(&dt)", "state": "state", "y": "y", "tmp": "tmp"}[loc.base]
        return base if loc.offset == 0 else f"({base} + {loc.offset})"

    def at(self, name: str, idx: str) -> str:
        loc = self.prog.locs[name]
        if loc.base == "dt":
            return "dt"
        base = {"x": "x", "state": "state", "y": "y", "tmp": "tmp"}[loc.base]
        if loc.offset == 0:
            return f"{base}[{idx}]"
        return f"{base}[{loc.offset} + {idx}]" if idx != "0" else f"{base}[{loc.offset}]"

    def array(self, ctype: str, values, comment: str = "", align: str = "", host=None) -> str:
        """A ``static const`` array; ``align``: an attribute macro placed after the declarator.
        ``host``: (macro, values, comment) stored instead where the macro is true (an x86-64
        host's layout of the same weights; the stats count ``values``)."""
        name = self.fresh("c")
        text = self._array_text(ctype, name, values, comment, align)
        self.stats["const_bytes"] += max(np.size(values), 1) * _CTYPE_BYTES.get(ctype, 4)
        if host is not None:
            macro, hvals, hcomment = host
            text = (f"#if {macro}\n{self._array_text(ctype, name, hvals, hcomment, align)}#else\n"
                    f"{text}#endif\n")
        self.arrays.append(text)
        return name

    @staticmethod
    def _array_text(ctype: str, name: str, values, comment: str, align: str) -> str:
        vals = np.asarray(values).reshape(-1)
        if ctype == "float":
            items = [flt(v) for v in vals]
        else:
            items = [str(int(v)) for v in vals]
        lines, line = [], "    "
        for it in items:
            if len(line) + len(it) + 2 > 100:
                lines.append(line.rstrip())
                line = "    "
            line += it + ", "
        lines.append(line.rstrip().rstrip(","))
        note = f" /* {comment} */" if comment else ""
        return (f"static const {ctype} {name}[{max(len(items), 1)}]{' ' + align if align else ''} ={note}\n{{\n"
                + "\n".join(lines) + "\n};\n")

    # -- weights ---------------------------------------------------------------------------
    def matrix(self, name: str, k: MatVec) -> Stored:
        w = np.asarray(self.prog.consts[name], np.float32).reshape(k.n, k.k)
        key = ("m", self.precision.get(name, "fp32"), k.sparse, w.shape, _digest(w))
        if key not in self.stored:
            st = store_matrix(w, self.precision.get(name, "fp32"), sparse=k.sparse)
            host = None
            if st.ctype == "int8_t" and st.encoding == "dense":     # the AVX2 kernels' layout
                host = (f"{self.p.upper()}_I8_AVX2", hostsimd.host_layout(st.data, k.n, k.k),
                        f"{name} {st.describe()}; x86-64 AVX2 host: column-major, outputs padded to "
                        f"{hostsimd.padded(k.n)}")
            self._emit_stored(st, name, host)
            self.stored[key] = st
        self._note_tensor(name, key, "MatVec")
        return self.stored[key]

    def loop_const(self, name: str, values: np.ndarray, active, outer: int, channel_axis_ok: bool) -> Stored:
        """A constant read in a loop; identical constants (an unrolled solver repeats its
        parameters) are stored once."""
        values = np.asarray(values, np.float32)
        key = ("l", self.precision.get(name, "fp32"), values.shape, _digest(values),
               None if active is None else _digest(active), outer, channel_axis_ok)
        if key not in self.stored:
            st = store_loop_const(values, self.precision.get(name, "fp32"), active, outer, channel_axis_ok)
            self._emit_stored(st, name)
            self.stored[key] = st
        self._note_tensor(name, key, "Fused")
        return self.stored[key]

    def _note_tensor(self, name: str, key: tuple, kernel: str) -> None:
        """Record ``name`` as stored (or as sharing the storage of an identical constant)."""
        if name in self.tensors:
            return
        st = self.stored[key]
        owner = next((n for n, t in self.tensors.items() if t["key"] == key), None)
        scale = 0 if st.scale is None or np.size(st.scale) <= 1 else 4 * int(np.size(st.scale))
        self.tensors[name] = {"precision": st.precision, "elements": int(np.size(st.data)),
                              "bytes": 0 if owner else int(np.size(st.data)) * st.itemsize + scale,
                              "kernel": kernel, "shared_with": owner, "key": key}

    def _emit_stored(self, st: Stored, name: str, host=None) -> None:
        st.cname = self.array(st.ctype, st.data, f"{name} {st.describe()}", host=host)
        if st.scale is not None and np.size(st.scale) > 1:
            st.scale_name = self.array("float", st.scale, f"{name} scales")
            self.stats["scale_bytes"] += 4 * np.size(st.scale)
        if st.mask is not None:
            st.mask_name = self.array(st.mask_ctype, st.mask, f"{name} active entries ({st.encoding})")
            st.count_name = (self.array(st.count_ctype, st.counts, f"{name} active per row")
                             if st.counts is not None else None)
            self.stats["index_bytes"] += st.index_bytes()
        self.stats["weights_stored"] += int(np.size(st.data))
        self.stats["weight_bytes"] += int(np.size(st.data)) * st.itemsize
        self.stats[_TENSOR_COUNT[st.ctype]] = self.stats.get(_TENSOR_COUNT[st.ctype], 0) + 1

    def tensor_table(self) -> dict[str, dict]:
        return {n: {k: v for k, v in t.items() if k != "key"} for n, t in self.tensors.items()}

    # -- kernels ---------------------------------------------------------------------------
    def kernel(self, k) -> list[str]:
        if isinstance(k, Fused):
            return self.fused(k)
        if isinstance(k, MatVec):
            return self.matvec(k)
        if isinstance(k, Concat):
            return self.concat(k)
        if isinstance(k, Copy):
            return self.copy(k)
        raise UnsupportedError(f"kernel {type(k).__name__}")

    def copy_from(self, src: str, dst_ptr: str, n: int) -> list[str]:
        g = self.prog.graph
        if src in g.consts:
            v = np.asarray(g.consts[src], np.float32).reshape(-1)
            arr = self.array("float", v, src)
            return [f"    for (i = 0; i < {n}; i++) {dst_ptr}[i] = {arr}[i];"]
        if self.prog.locs[src].base == "dt":
            return [f"    {dst_ptr}[0] = dt;"]
        return [f"    for (i = 0; i < {n}; i++) {dst_ptr}[i] = {self.ptr(src)}[i];"]

    def concat(self, k: Concat) -> list[str]:
        out, off, lines = self.ptr(k.out), 0, [f"    /* concat -> {k.out} */"]
        for part in k.parts:
            n = self.prog.sizes[part]
            dst = out if off == 0 else f"({out} + {off})"
            lines += self.copy_from(part, dst, n)
            off += n
        return lines

    def copy(self, k: Copy) -> list[str]:
        return [f"    /* {k.src} -> caller's buffer */"] + self.copy_from(k.src, self._ptr(k.dst), k.n)

    def matvec(self, k: MatVec) -> list[str]:
        st = self.matrix(k.weight, k)
        bias = "(const float *)0"
        if k.bias is not None:
            bias = self.array("float", self.prog.consts[k.bias], k.bias)
        add = self.ptr(k.addend) if k.addend else "(const float *)0"
        helper = self._mv_helper(st)
        args = [st.cname]
        if st.mask is not None:
            args = [st.mask_name] + ([st.count_name] if st.count_name else []) + args
        if st.ctype != "float":
            scale = st.scale_name if np.size(st.scale) > 1 else self.array("float", [float(np.reshape(st.scale, -1)[0])], "scale")
            args += [scale, "1" if np.size(st.scale) > 1 else "0"]
        self._mv_call = (st, list(args), bias, k)
        args += [bias, add, self.ptr(k.x), self.ptr(k.out), str(k.n), str(k.k)]
        return [f"    {helper}({', '.join(args)}); /* {k.out} = {k.weight} x {k.x}"
                f"{' + ' + k.addend if k.addend else ''} */"]

    # -- many streams: the batched core --------------------------------------------------------
    _BATCH_BASE = {"x": ("xb", "INPUT_SIZE"), "dt": ("dtb", None), "state": ("sb", "STATE_SIZE"),
                   "y": ("yb", "OUTPUT_SIZE"), "tmp": ("tb", "ARENA")}

    def _ptr_b(self, name: str) -> tuple[str, str]:
        """(pointer to stream 0's copy, stride between streams) of a value in the batched core."""
        loc = self.prog.locs[name]
        base, size = self._BATCH_BASE[loc.base]
        stride = "1" if size is None else f"{self.p.upper()}_{size}" if size != "ARENA" else str(self.prog.arena)
        return (base if loc.offset == 0 else f"({base} + {loc.offset})"), stride

    def batch_lines(self, k, lines: list[str]) -> list[str]:
        """``k`` over the ``ns`` streams of a tile. A matrix-vector product walks its weights once
        for all streams (each weight block in the outer loop, the streams inside); any other
        kernel runs its single-stream code once per stream, on that stream's slices."""
        if isinstance(k, MatVec):
            st, wargs, bias, _ = self._mv_call
            helper = self._mv_batch_helper(st)
            add, astr = self._ptr_b(k.addend) if k.addend else ("(const float *)0", "0")
            x, xs = self._ptr_b(k.x)
            y, ys = self._ptr_b(k.out)
            if helper is None:           # no batched variant: the single helper, stream by stream
                single = self._mv_helper(st)
                aexp = f"{add} + (long)s * {astr}" if k.addend else add
                return [f"    for (s = 0; s < ns; s++)",
                        f"        {single}({', '.join(wargs + [bias, aexp, f'{x} + (long)s * {xs}', f'{y} + (long)s * {ys}', str(k.n), str(k.k)])});"]
            return [f"    {helper}(ns, {', '.join(wargs + [bias, add, astr, x, xs, y, ys, str(k.n), str(k.k)])});"]
        P = self.p.upper()
        head = [f"    for (s = 0; s < ns; s++) {{",
                f"        const float *x = xb + (long)s * {P}_INPUT_SIZE;",
                f"        const float dt = dtb[s];",
                f"        float *state = sb + (long)s * {P}_STATE_SIZE;",
                f"        float *y = yb + (long)s * {P}_OUTPUT_SIZE;"]
        if self.prog.arena:
            head.append(f"        float *tmp = tb + (long)s * {self.prog.arena};")
        head.append("        (void)x; (void)dt; (void)state; (void)y;" + (" (void)tmp;" if self.prog.arena else ""))
        return head + ["    " + ln if ln.strip() and not ln.startswith("#") else ln for ln in lines] + ["    }"]

    def _mv_batch_helper(self, st: Stored) -> str | None:
        """The batched variant of a dense matrix-vector helper (None: sparse encodings run the
        single helper per stream). Each output sums the same terms in the same source order as the
        single helper, and never reads another stream's values; the host build's -fassociative-math
        may vectorize the two loops differently (measured: <= 2e-7 apart)."""
        if st.encoding not in ("dense_t", "dense"):
            return None
        single = self._mv_helper(st)
        name = single + "_b"
        if name in self.helpers:
            return name
        q = st.ctype != "float"
        wt = st.ctype
        sargs = ", const float *s, int ss" if q else ""
        tail = "const float *b, const float *add, long as, const float *x, long xs, float *y, long ys, int n, int k"
        if st.encoding == "dense_t":
            P = self.p.upper()
            sig = f"int ns, const float *w, {tail}"
            # a register block: MVB_STREAMS streams x MVB_BLOCK outputs of accumulators, so each
            # weight load feeds MVB_STREAMS FMAs (one stream per pass is load-bound at half the FMA
            # rate). x86-64: 4 x 32 = 16 AVX accumulators, measured 1.6x the two-stream pass at 256
            # streams (CfC-64); 4 x 16 and 8 x 16 ran 10-25x slower with gcc 12.2 (avoid them).
            body = f"""    int j0, i, t, s, r;
    for (s = 0; s < ns; s += {P}_MVB_STREAMS) {{
        const float *xp[{P}_MVB_STREAMS];
        for (r = 0; r < {P}_MVB_STREAMS; r++)      /* past the last stream: repeat stream s, never stored */
            xp[r] = x + (long)(s + r < ns ? s + r : s) * xs;
        for (j0 = 0; j0 < n; j0 += {P}_MVB_BLOCK) {{
            float a[{P}_MVB_STREAMS][{P}_MVB_BLOCK];
            const int m = n - j0 < {P}_MVB_BLOCK ? n - j0 : {P}_MVB_BLOCK;
            const float *wc = w + j0;
            for (r = 0; r < {P}_MVB_STREAMS; r++)
                for (t = 0; t < {P}_MVB_BLOCK; t++) a[r][t] = 0.0f;
            if (m == {P}_MVB_BLOCK) {{
                for (i = 0; i < k; i++) {{
                    const float *wi = wc + (long)i * n;
                    for (r = 0; r < {P}_MVB_STREAMS; r++) {{
                        const float u = xp[r][i];
                        for (t = 0; t < {P}_MVB_BLOCK; t++) a[r][t] += wi[t] * u;
                    }}
                }}
            }} else {{
                for (i = 0; i < k; i++) {{
                    const float *wi = wc + (long)i * n;
                    for (r = 0; r < {P}_MVB_STREAMS; r++) {{
                        const float u = xp[r][i];
                        for (t = 0; t < m; t++) a[r][t] += wi[t] * u;
                    }}
                }}
            }}
            for (r = 0; r < {P}_MVB_STREAMS && s + r < ns; r++) {{
                float *yr = y + (long)(s + r) * ys + j0;
                const float *ar = add ? add + (long)(s + r) * as + j0 : (const float *)0;
                for (t = 0; t < m; t++) yr[t] = a[r][t] + (b ? b[j0 + t] : 0.0f) + (ar ? ar[t] : 0.0f);
            }}
        }}
    }}
"""
        else:
            w = "(float)wj[i]" if q else "wj[i]"
            fin = "            acc *= s[j * ss];\n" if q else ""
            sig = f"int ns, const {wt} *w{sargs}, {tail}"
            simd = self._i8_host(hostsimd.batch_body(self.p, single)) if wt == "int8_t" else ""
            body = simd + f"""    int j, i, r;
    for (j = 0; j < n; j++) {{
        const {wt} *wj = w + (long)j * k;
        for (r = 0; r < ns; r++) {{
            const float *xv = x + (long)r * xs;
            float acc = 0.0f;
            for (i = 0; i < k; i++) acc += {w} * xv[i];
{fin}            if (b) acc += b[j];
            if (add) acc += add[(long)r * as + j];
            y[(long)r * ys + j] = acc;
        }}
    }}
""" + ("#endif\n" if simd else "")
        self.helpers[name] = f"static void {name}({sig})\n{{\n{body}}}\n"
        return name

    def _i8_host(self, body: str) -> str:
        """``body``, the AVX2 int8 path's opening (``#if``) of a dense helper; the helpers it
        shares are emitted once, before the first helper that uses them."""
        if not self.i8_avx2:
            self.i8_avx2 = True
            self.helpers[f"{self.p}_i8_avx2"] = hostsimd.helpers(self.p)
        return body

    def _mv_helper(self, st: Stored) -> str:
        p = self.p
        wt = st.ctype
        q = wt != "float"
        name = f"{p}_mv_{ {'float': 'f32', 'int8_t': 'i8', 'int16_t': 'i16'}[wt]}_{st.encoding}"
        if name in self.helpers:
            return name
        sargs = ", const float *s, int ss" if q else ""
        w = "(float)wj[i]" if q else "wj[i]"
        fin = "        acc *= s[j * ss];\n" if q else ""
        head = f"static void {name}("
        if st.encoding == "dense_t":         # float, column-major, outputs in register blocks
            P = p.upper()
            sig = "const float *w, const float *b, const float *add, const float *x, float *y, int n, int k"
            body = f"""    int j0, i, t;
    for (j0 = 0; j0 < n; j0 += {P}_MV_BLOCK) {{
        float acc[{P}_MV_BLOCK];
        const int m = n - j0 < {P}_MV_BLOCK ? n - j0 : {P}_MV_BLOCK;
        const float *wc = w + j0;
        for (t = 0; t < {P}_MV_BLOCK; t++) acc[t] = 0.0f;
        if (m == {P}_MV_BLOCK) {{
            for (i = 0; i < k; i++) {{
                const float xi = x[i];
                const float *wi = wc + (long)i * n;
                {P}_UNROLL for (t = 0; t < {P}_MV_BLOCK; t++) acc[t] += wi[t] * xi;
            }}
        }} else {{
            for (i = 0; i < k; i++) {{
                const float xi = x[i];
                const float *wi = wc + (long)i * n;
                for (t = 0; t < m; t++) acc[t] += wi[t] * xi;
            }}
        }}
        for (t = 0; t < m; t++) y[j0 + t] = acc[t] + (b ? b[j0 + t] : 0.0f) + (add ? add[j0 + t] : 0.0f);
    }}
"""
            self.block_macro = True
        elif st.encoding == "dense":
            self.by4 = True
            sig = f"const {wt} *w{sargs}, const float *b, const float *add, const float *x, float *y, int n, int k"
            simd = self._i8_host(hostsimd.single_body(p)) if wt == "int8_t" else ""
            body = simd + f"""    int j, i;
    for (j = 0; j < n; j++) {{
        const {wt} *wj = w + (long)j * k;
        float acc = 0.0f;
        i = 0;
#if {p.upper()}_BY4
        for (; i + 4 <= k; i += 4) {{          /* the same sums in the same order, fewer branches */
            acc += {w} * x[i];
            acc += {w.replace("[i]", "[i + 1]")} * x[i + 1];
            acc += {w.replace("[i]", "[i + 2]")} * x[i + 2];
            acc += {w.replace("[i]", "[i + 3]")} * x[i + 3];
        }}
#endif
        for (; i < k; i++) acc += {w} * x[i];
{fin}        if (b) acc += b[j];
        if (add) acc += add[j];
        y[j] = acc;
    }}
""" + ("#endif\n" if simd else "")
        elif st.encoding == "bitmask":
            sig = (f"const unsigned char *m, const {wt} *w{sargs}, const float *b, const float *add, "
                   "const float *x, float *y, int n, int k")
            wv = "(float)*w++" if q else "*w++"
            body = f"""    int j, q, t, rb = (k + 7) / 8;
    for (j = 0; j < n; j++) {{
        const unsigned char *mj = m + (long)j * rb;
        float acc = 0.0f;
        for (q = 0; q < rb; q++) {{
            unsigned bits = mj[q];
            const float *xq = x + 8 * q;
            for (t = 0; bits; t++, bits >>= 1)
                if (bits & 1u) acc += {wv} * xq[t];
        }}
{fin}        if (b) acc += b[j];
        if (add) acc += add[j];
        y[j] = acc;
    }}
"""
        else:  # index list
            it = st.mask_ctype
            ct = st.count_ctype
            sig = (f"const {it} *idx, const {ct} *cnt, const {wt} *w{sargs}, const float *b, "
                   "const float *add, const float *x, float *y, int n, int k")
            wv = "(float)*w++" if q else "*w++"
            body = f"""    int j, c;
    (void)k;
    for (j = 0; j < n; j++) {{
        float acc = 0.0f;
        for (c = cnt[j]; c > 0; c--) acc += {wv} * x[*idx++];
{fin}        if (b) acc += b[j];
        if (add) acc += add[j];
        y[j] = acc;
    }}
"""
        self.helpers[name] = f"{head}{sig})\n{{\n{body}}}\n"
        return name

    # -- hooks the fixed-point emitter overrides --------------------------------------------
    vtype = "float"

    def preamble(self) -> str:
        """Macros and includes a subclass's helpers need (before the constant arrays)."""
        return ""

    def core_decls(self, batch: bool) -> list[str]:
        """Extra local declarations of ``<p>_core`` (``batch``: of ``<p>_core_batch``)."""
        return []

    def scalar(self, name: str, value: float) -> str:
        return flt(value)

    def reduction(self, m, a: str, src: str, rn: int) -> tuple[str, str, str]:
        """(declaration, per-entry update, final value) of one reduction's accumulator."""
        if m.op == "ReduceMax":
            return f"float {a} = -3.402823466e+38f;", f"{a} = {src} > {a} ? {src} : {a};", a
        fin = f"({a} * {flt(1.0 / rn)})" if m.op == "ReduceMean" else a
        return f"float {a} = 0.0f;", f"{a} += {src};", fin

    def store(self, name: str, idx: str, value: str) -> str:
        return f"{self.at(name, idx)} = {value};"

    # -- fused loops -------------------------------------------------------------------------
    def fused(self, k: Fused) -> list[str]:
        g = self.prog.graph
        I = k.iter_shape or (1,)
        R = [d for d in range(len(I)) if d in k.reduce_axes]
        O = [d for d in range(len(I)) if d not in k.reduce_axes]
        on = int(np.prod([I[d] for d in O])) if O else 1
        rn = int(np.prod([I[d] for d in R])) if R else 1
        coord = {}
        for dims, var in ((O, "o"), (R, "r")):
            stride = 1
            for d in reversed(dims):
                e = var if stride == 1 else f"({var} / {stride})"
                if d != dims[0]:
                    e = f"({e} % {I[d]})"
                coord[d] = e
                stride *= I[d]
        istride = {d: int(np.prod(I[d + 1:])) for d in range(len(I))}
        flat = " + ".join(f"{coord[d]} * {istride[d]}" if istride[d] != 1 else coord[d]
                          for d in range(len(I)) if I[d] != 1) or "0"
        identity = "o" if not R else flat
        outer_shape = tuple(I[d] for d in O)
        sparse = k.active is not None
        local: dict[str, str] = {}
        level: dict[str, str] = {}          # "outer" | "inner" | "epi"
        pre, inner, epi = [], [], []
        stores = {"outer": [], "inner": [], "epi": []}
        accs = []

        def index_in(shape, dims_shape, dims, default_identity) -> tuple[str, bool]:
            s_ = strip(shape)
            al = (1,) * (len(dims_shape) - len(s_)) + s_
            if len(al) != len(dims_shape):
                raise UnsupportedError(f"cannot broadcast {shape} into the loop {dims_shape}")
            if al == tuple(dims_shape):
                return default_identity, any(d in R for d in dims)
            st, terms, dep = 1, [], False
            for pos in reversed(range(len(dims_shape))):
                d = dims[pos]
                if al[pos] != 1:
                    terms.append(coord[d] if st == 1 else f"{coord[d]} * {st}")
                    dep = dep or d in R
                st *= al[pos]
            return (" + ".join(reversed(terms)) or "0"), dep

        def to_or(arr) -> np.ndarray:
            """(outer, inner) matrix of a loop-shaped array: outer dims first."""
            return np.transpose(np.broadcast_to(np.asarray(arr).reshape(I), I), O + R).reshape(on, rn)

        def operand(name: str, at_epi: bool) -> tuple[str, str]:
            if name in local:
                return local[name], level[name]
            if name in g.consts:
                v = np.asarray(g.consts[name], np.float32)
                if v.size == 1:
                    return self.scalar(name, float(v.reshape(-1)[0])), "outer"
                if at_epi:
                    idx, _ = index_in(v.shape, outer_shape, O, "o")
                    st = self.loop_const(name, v.reshape(-1), None, 1, False)
                    return st.read(idx, "0"), "epi"
                full = v.size == numel(I)
                if sparse and full:
                    vals = to_or(v)[to_or(k.active)]
                    if vals.size and np.all(vals == vals[0]):      # e.g. a wiring mask: all 1 where active
                        return self.scalar(name, float(vals[0])), "outer"
                    st = self.loop_const(name, to_or(v), to_or(k.active), on, True)
                    return st.read("kk", "o"), "inner"
                if full and R:
                    st = self.loop_const(name, to_or(v), None, on, True)
                    return st.read(f"o * {rn} + r", "o"), "inner"
                idx, dep = index_in(v.shape, I, list(range(len(I))), identity)
                st = self.loop_const(name, v.reshape(-1), None, 1, False)
                return st.read(idx, "0"), ("inner" if dep else "outer")
            if at_epi:
                idx, _ = index_in(g.shapes[name], outer_shape, O, "o")
                return self.at(name, idx), "epi"
            idx, dep = index_in(g.shapes[name], I, list(range(len(I))), identity)
            return self.at(name, idx), ("inner" if dep else "outer")

        rank = {"outer": 0, "inner": 1, "epi": 2}
        for m in k.nodes:
            out = m.outputs[0]
            if OPS[m.op].kind == "reduce":
                src, _ = operand(m.inputs[0], False)
                a = f"a{len(accs)}"
                init, upd, fin = self.reduction(m, a, src, rn)
                accs.append((a, init, upd, src, m.op))
                local[out], level[out] = fin, "epi"
                if out in k.outputs:
                    stores["epi"].append(self.store(out, "o", fin))
                continue
            at_epi = out in k.epilogue
            args, lv = [], "epi" if at_epi else "outer"
            for i in m.inputs:
                if not i:
                    continue
                e, l_ = operand(i, at_epi)
                args.append(e)
                if rank[l_] > rank[lv]:
                    lv = l_
            v = f"v{len(local)}"
            local[out], level[out] = v, lv
            {"outer": pre, "inner": inner, "epi": epi}[lv].append(f"{self.vtype} {v} = {self._expr(m, args)};")
            if out in k.outputs:
                idx = "o" if lv == "epi" or not R else flat
                stores[lv].append(self.store(out, idx, v))
        self.loop_vars.add("o")
        if R or sparse:
            self.loop_vars.add("r")
        lines = [f"    /* {', '.join(m.op for m in k.nodes)} -> {', '.join(k.outputs)} */", "    {"]
        if sparse:
            enc = self._active_encoding(k, on, rn)
            flat = self._flat(enc, on, pre, inner, accs, stores, epi)
            if flat:
                P = self.p.upper()
                lines += [f"#if {P}_FLAT_LOOPS", *flat, "#else"]
            lines.append("        int kk = 0;")
        b = "            "
        lines.append(f"        for (o = 0; o < {on}; o++) {{")
        lines += [b + ln for ln in pre]
        lines += [f"{b}{init}" for a, init, *_ in accs]
        body = inner + [u for _, _, u, *_ in accs] + stores["inner"]
        if sparse:
            # the active entries of row o, also when the reduced axis has length 1 (one input
            # channel: each row has 0 or 1 active entries, and the constants hold active ones only)
            lines += self._sparse_inner(enc, body)
        elif R:
            lines.append(f"{b}for (r = 0; r < {rn}; r++) {{")
            lines += [b + "    " + ln for ln in body]
            lines.append(b + "}")
        else:
            lines += [b + ln for ln in body]
        lines += [b + ln for ln in epi + stores["outer"] + stores["epi"]]
        lines += ["        }"]
        if sparse and flat:
            lines.append("#endif")
        lines.append("    }")
        return lines

    # most active entries per flat chunk: a float temporary per sum, at most this long, on the
    # stack (64-bit hosts only). One chunk per kernel vectorizes best: LTC-64's 512 recurrent
    # synapses run 6.8 us per sample in 64-entry chunks, 6.0 in 128, 4.6 in one.
    FLAT_CHUNK = 1024

    def _flat(self, enc, on: int, pre, inner, accs, stores, epi) -> list[str] | None:
        """The same sparse reduction with the active entries of whole rows in flat chunks (a
        loop the compiler vectorizes), then each row's sum in the same order and its epilogue:
        equal results, more speed where there is stack (the host); None when it does not apply."""
        if (self.vtype != "float" or enc.encoding != "index" or pre or stores["inner"]
                or any(op != "ReduceSum" for *_, op in accs)
                or any(re.search(r"\bo\b", ln) for ln in inner)):
            return None
        counts = [int(c) for c in enc.counts]
        ch = max(self.FLAT_CHUNK, max(counts, default=0))
        rows, starts, n, start = [0], [0], 0, 0
        for o, c in enumerate(counts):            # chunks of whole rows, at most ch entries each
            if n + c > ch and n > 0:
                rows.append(o)
                starts.append(start)
                n = 0
            n += c
            start += c
        rows.append(on)
        starts.append(start)
        self.flat_macro = True
        b = "        "
        nch = len(rows) - 1
        longest = max(1, max(e - a for a, e in zip(starts, starts[1:])))   # temporaries' length
        t = [f"f_t{j}" for j in range(len(accs))]
        return [f"{b}static const unsigned short f_rows[{nch + 1}] = {{{', '.join(map(str, rows))}}};",
                f"{b}static const unsigned short f_starts[{nch + 1}] = {{{', '.join(map(str, starts))}}};",
                f"{b}float {', '.join(f'{v}[{longest}]' for v in t)};",
                f"{b}int f_c, f_q, f_n, c;",
                f"{b}for (f_c = 0; f_c < {nch}; f_c++) {{",
                f"{b}    f_n = f_starts[f_c + 1] - f_starts[f_c];",
                f"{b}    for (f_q = 0; f_q < f_n; f_q++) {{",
                f"{b}        const int kk = f_starts[f_c] + f_q;",
                f"{b}        r = {enc.mask_name}[kk];",
                *[f"{b}        {ln}" for ln in inner],
                *[f"{b}        {v}[f_q] = {src};" for v, (_, _, _, src, _) in zip(t, accs)],
                f"{b}    }}",
                f"{b}    f_q = 0;",
                f"{b}    for (o = f_rows[f_c]; o < f_rows[f_c + 1]; o++) {{",
                *[f"{b}        {init}" for _, init, *_ in accs],
                f"{b}        for (c = {enc.count_name}[o]; c > 0; c--, f_q++) {{",
                *[f"{b}            {a} += {v}[f_q];" for v, (a, *_) in zip(t, accs)],
                f"{b}        }}",
                *[f"{b}        {ln}" for ln in epi + stores["outer"] + stores["epi"]],
                f"{b}    }}",
                f"{b}}}"]

    def _active_encoding(self, k: Fused, on: int, rn: int):
        from .weights import encode_active
        I = k.iter_shape
        R = [d for d in range(len(I)) if d in k.reduce_axes]
        O = [d for d in range(len(I)) if d not in k.reduce_axes]
        act = np.transpose(k.active, O + R).reshape(on, rn)
        key = ("a", act.tobytes())
        if key not in self.stored:
            enc = encode_active(act)
            enc.mask_name = self.array(enc.mask_ctype, enc.mask, f"active entries ({enc.encoding})")
            enc.count_name = (self.array(enc.count_ctype, enc.counts, "active per row")
                              if enc.counts is not None else None)
            self.stats["index_bytes"] += enc.index_bytes()
            self.stored[key] = enc
        return self.stored[key]

    def _sparse_inner(self, enc, inner: list[str]) -> list[str]:
        b = "            "
        body = [b + "        " + ln for ln in inner] + [b + "        kk++;"]
        if enc.encoding == "bitmask":
            rb = enc.row_bytes
            return [f"{b}{{",
                    f"{b}    int q;",
                    f"{b}    for (q = 0; q < {rb}; q++) {{",
                    f"{b}        unsigned bits = {enc.mask_name}[o * {rb} + q];",
                    f"{b}        for (r = 8 * q; bits; r++, bits >>= 1) {{",
                    f"{b}            if (!(bits & 1u)) continue;",
                    *["    " + ln for ln in body],
                    f"{b}        }}",
                    f"{b}    }}",
                    f"{b}}}"]
        return [f"{b}{{",
                f"{b}    int c;",
                f"{b}    for (c = {enc.count_name}[o]; c > 0; c--) {{",
                f"{b}        r = {enc.mask_name}[kk];",
                *body,
                f"{b}    }}",
                f"{b}}}"]

    def _expr(self, m, args: list[str]) -> str:
        op = m.op
        for h in HELPERS_OF.get(op, ()):
            self._math(h)
        if op in USES_LIBM:
            self.libm = True
        if op == "Pow":
            e = self.prog.graph.consts.get(m.inputs[1])
            if e is not None and np.size(e) == 1:
                ev = float(np.asarray(e).reshape(-1)[0])
                if ev == 2.0:
                    return f"({args[0]} * {args[0]})"
                if ev == 1.0:
                    return args[0]
                if ev == -1.0:
                    return f"(1.0f / {args[0]})"
            self.libm = True
            return f"expf({args[1]} * logf({args[0]}))"
        if op == "Clip":
            lo = args[1] if len(args) > 1 else flt(m.attrs.get("min", -3.4e38))
            hi = args[2] if len(args) > 2 else flt(m.attrs.get("max", 3.4e38))
            a = args[0]
            return f"({a} < {lo} ? {lo} : ({a} > {hi} ? {hi} : {a}))"
        if op == "LeakyRelu":
            return f"({args[0]} >= 0.0f ? {args[0]} : {flt(m.attrs.get('alpha', 0.01))} * {args[0]})"
        if op == "HardSigmoid":
            a, al, be = args[0], flt(m.attrs.get("alpha", 0.2)), flt(m.attrs.get("beta", 0.5))
            return f"({al} * {a} + {be} < 0.0f ? 0.0f : ({al} * {a} + {be} > 1.0f ? 1.0f : {al} * {a} + {be}))"
        tmpl = FLOAT_EXPR.get(op)
        if tmpl is None:
            raise UnsupportedError(f"op {op} has no C expression")
        return tmpl.format(*args, p=self.p)

    def _math(self, h: str) -> None:
        name = f"{self.p}_{h}"
        if name not in self.helpers:
            self.helpers[name] = {"tanh": cmath.tanh_c, "sigmoid": cmath.sigmoid_c}[h](self.p)

    # -- whole file --------------------------------------------------------------------------
    def emit(self, header_name: str) -> Emitted:
        prog, p = self.prog, self.p
        body: list[str] = []
        bbody: list[str] = []
        for k in prog.kernels:
            lines = self.kernel(k)
            body += lines
            bbody += self.batch_lines(k, lines)
        P = p.upper()
        if any("for (i = 0" in ln for ln in body):
            self.loop_vars.add("i")
        decl = []
        if self.loop_vars:
            decl.append("    int " + ", ".join(sorted(self.loop_vars)) + ";")
        if prog.arena:
            decl.append(f"    float tmp[{prog.arena}];")
        decl += self.core_decls(batch=False)
        core = (f"static void {p}_core(const float *x, float dt, float *state, float *y)\n{{\n"
                + "\n".join(decl) + ("\n" if decl else "")
                + "    (void)x; (void)dt; (void)state;\n"
                + "\n".join(body) + "\n}\n")
        bdecl = ["    int " + ", ".join(sorted(self.loop_vars | {"s"})) + ";"]
        if prog.arena:
            bdecl.append(f"    float tb[{P}_BATCH_TILE * {prog.arena}];")
        bdecl += self.core_decls(batch=True)
        core_b = (f"/* The step of ns <= {P}_BATCH_TILE streams: kernel by kernel, each over every stream. */\n"
                  f"static void {p}_core_batch(int ns, const float *xb, const float *dtb, float *sb, float *yb)\n{{\n"
                  + "\n".join(bdecl) + "\n" + "\n".join(bbody) + "\n}\n")
        includes = ["#include <stdint.h>" if any("int8_t" in a or "int16_t" in a for a in self.arrays) else None,
                    "#include <math.h>" if self.libm else None, f'#include "{header_name}"']
        order = [h for h in self.helpers if h.endswith(("_tanh",))] + \
                [h for h in self.helpers if not h.endswith(("_tanh",))]
        block = (f"/* Outputs a dense matrix-vector product keeps in registers at once: each output still sums\n"
                 f"   its terms in the same order, so the block size never changes a result. */\n"
                 f"#ifndef {P}_MV_BLOCK\n#if defined(__arm__) && !defined(__aarch64__)\n"
                 f"#define {P}_MV_BLOCK 8     /* 32-bit Arm (Cortex-M): little stack, no float SIMD */\n"
                 f"#else\n#define {P}_MV_BLOCK 64\n#endif\n#endif\n"
                 f"/* Cortex-M: gcc keeps -Os loops rolled; unrolling the inner product loops halves the cycles\n"
                 f"   per step (same operations in the same order: same results). */\n"
                 f"#ifndef {P}_UNROLL\n#if defined(__arm__) && !defined(__aarch64__) && defined(__GNUC__) && !defined(__clang__)\n"
                 f"#define {P}_UNROLL _Pragma(\"GCC unroll 8\")\n#else\n#define {P}_UNROLL\n#endif\n#endif\n"
                 ) if self.block_macro else ""
        block += batch_tile_macro(P)
        block += self.preamble()
        if self.i8_avx2:
            block += hostsimd.macro(P)
        if self.by4:
            block += by4_macro(P)
        if self.flat_macro:
            kib = 4 * self.FLAT_CHUNK // 1024
            block += (f"/* Sparse sums over all active entries at once (vectorizes; up to {kib} KiB of stack\n"
                      f"   per sum, so only on 64-bit x86 and Arm hosts) or row by row (microcontrollers): the same\n"
                      f"   terms in the same order in the source, so the two are bit-identical unless the compiler\n"
                      f"   may reassociate (-fassociative-math). */\n"
                      f"#ifndef {P}_FLAT_LOOPS\n"
                      f"#if defined(__x86_64__) || defined(__aarch64__) || defined(_M_X64) || defined(_M_ARM64)\n"
                      f"#define {P}_FLAT_LOOPS 1\n#else\n#define {P}_FLAT_LOOPS 0\n#endif\n#endif\n")
        source = "\n".join([
            self.banner, *[i for i in includes if i], "", block,
            *self.arrays, *[self.helpers[h] for h in order], core, core_b,
            f"void {p}_reset(float *state)\n{{\n    int i;\n    for (i = 0; i < {P}_STATE_SIZE; i++) state[i] = 0.0f;\n}}\n",
            f"int {p}_step_batch(int n, const float *x, const float *dt, float *state, float *y)\n{{\n"
            f"    int s0;\n    for (s0 = 0; s0 < n; s0 += {P}_BATCH_TILE)\n"
            f"        {p}_core_batch(n - s0 < {P}_BATCH_TILE ? n - s0 : {P}_BATCH_TILE, x + (long)s0 * {P}_INPUT_SIZE,\n"
            f"                       dt + s0, state + (long)s0 * {P}_STATE_SIZE, y + (long)s0 * {P}_OUTPUT_SIZE);\n"
            f"    return 0;      /* a float dt is never saturated */\n}}\n",
            f"int {p}_run(const float *x, const float *dt, int n, float *state, float *y)\n{{\n"
            f"    int t;\n    for (t = 0; t < n; t++)\n"
            f"        {p}_core(x + (long)t * {P}_INPUT_SIZE, dt[t], state, y + (long)t * {P}_OUTPUT_SIZE);\n"
            f"    return 0;      /* a float dt is never saturated */\n}}\n",
            f"int {p}_step(const float *x, float dt, float *state, float *y)\n{{\n"
            f"    return {p}_run(x, &dt, 1, state, y);\n}}\n"])
        header = make_header(p, prog, self.banner, meta=prog.graph.meta, scheme=self.scheme_name)
        self.stats["arena_floats"] = prog.arena
        return Emitted(source, header, dict(self.stats), self.tensor_table())


def batch_tile_macro(P: str) -> str:
    return (f"/* A batched dense product keeps {P}_MVB_STREAMS streams x {P}_MVB_BLOCK outputs in registers:\n"
            f"   4 x 32 fills 16 AVX registers on x86-64; 2 x 32 elsewhere (NEON, and little stack). */\n"
            f"#ifndef {P}_MVB_BLOCK\n#define {P}_MVB_BLOCK 32\n#endif\n"
            f"#ifndef {P}_MVB_STREAMS\n#if defined(__x86_64__) || defined(_M_X64)\n#define {P}_MVB_STREAMS 4\n"
            f"#else\n#define {P}_MVB_STREAMS 2\n#endif\n#endif\n"
            f"/* Streams one pass of {P.lower()}_step_batch carries through every kernel: the weights are read once\n"
            f"   per tile, and each stream's temporaries of a tile live on the stack at once. */\n"
            f"#ifndef {P}_BATCH_TILE\n#if defined(__x86_64__) || defined(__aarch64__) || defined(_M_X64) || defined(_M_ARM64)\n"
            f"#define {P}_BATCH_TILE 16\n#else\n#define {P}_BATCH_TILE 2\n#endif\n#endif\n")


FLT_MAX_LITERAL = "3.40282347e+38f"
ERROR_PENDING = "-1.0f  /* not yet measured: the parity gate writes it */"


def c_string(text: str) -> str:
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'


def _initialiser(values, fmt=flt) -> str:
    return "{" + ", ".join(fmt(v) for v in values) + "}"


def target_stats(meta: dict) -> tuple[float, float] | None:
    """(target_mean, target_std) of a regression model whose statistics are known (the header's
    ``<P>_TARGET_MEAN/_STD`` and ``<p>_denormalise`` exist), else None."""
    if (meta or {}).get("task") != "regression" or meta.get("target_std") is None:
        return None
    return float(meta["target_mean"]), float(meta["target_std"])


def make_header(p: str, prog: Program, banner: str, extra: str = "", *, meta: dict | None = None,
                dt_range: tuple[float, float, str] | None = None, scheme: str = "",
                state_ctype: str = "float") -> str:
    """The artifact's header: sizes, what the input and output mean (normalisation, labels),
    the dt range it represents, the state's layout, the scheme and its measured error bound."""
    P = p.upper()
    guard = f"{P}_H"
    meta = meta or {}
    mean, std = meta.get("norm_mean") or [], meta.get("norm_std") or []
    labels = meta.get("label_names") or []
    task = meta.get("task") or ""
    states = prog.graph.inputs[2:]
    layout = "\n".join(f"#define {P}_STATE_{s.upper()}_OFFSET {prog.state_offsets[s]}   /* {s}[{prog.sizes[s]}] */"
                       for s in states)
    if dt_range is None:
        dt_lines = (f"#define {P}_DT_MIN 0.0f   /* exclusive: any finite dt > 0 is represented (float) */\n"
                    f"#define {P}_DT_MAX {FLT_MAX_LITERAL}   /* unbounded (FLT_MAX) */")
        dt_doc = "float dt: unbounded; the return value of step/run is always 0"
    else:
        lo, hi, how = dt_range
        dt_lines = (f"#define {P}_DT_MIN {float(lo)!r}f   /* exactly; smaller dt (and dt <= 0, NaN) saturates to this */\n"
                    f"#define {P}_DT_MAX {float(hi)!r}f   /* exactly; larger dt saturates to this */")
        dt_doc = how
    if len(mean) == prog.input_size and len(std) == prog.input_size:
        norm = (f"/* Inputs are normalised features: x[i] = (raw[i] - {P}_NORM_MEAN[i]) / {P}_NORM_STD[i]\n"
                f"   ({p}_normalise does it), statistics of the training data. */\n"
                f"#define {P}_NORMALISED 1\n#define {P}_NORM_MEAN {_initialiser(mean)}\n"
                f"#define {P}_NORM_STD {_initialiser(std)}\n")
    else:
        norm = (f"/* The model takes raw features: it was trained on the features as they come (no\n"
                f"   normalisation); {p}_normalise copies raw to x. */\n#define {P}_NORMALISED 0\n")
    if task == "classification" and labels:
        out_doc = (f"class scores (logits, argmax = predicted class) in {P}_LABELS order")
        out = (f"#define {P}_N_LABELS {len(labels)}\n"
               f"#define {P}_LABELS {{{', '.join(c_string(v) for v in labels)}}}\n")
    elif target_stats(meta) is not None:
        t_mean, t_std = target_stats(meta)
        if (t_mean, t_std) == (0.0, 1.0):
            out_doc = "the regression target in its own units (trained on unstandardised targets)"
        else:
            out_doc = f"the standardised regression target: target = y * {P}_TARGET_STD + {P}_TARGET_MEAN"
        out = (f"/* Regression target statistics of the training data: in the target's units,\n"
               f"   target = y * {P}_TARGET_STD + {P}_TARGET_MEAN. */\n"
               f"#define {P}_TARGET_MEAN {flt(t_mean)}\n#define {P}_TARGET_STD {flt(t_std)}\n")
        denorm = (f"/* y[{P}_OUTPUT_SIZE] as {p}_step gives it -> target[{P}_OUTPUT_SIZE] in the target's units:\n"
                  f"   target = y * {P}_TARGET_STD + {P}_TARGET_MEAN in float, product and sum rounded\n"
                  f"   separately (never fused into an FMA), so every core and compiler gives the same bits as\n"
                  f"   the host runtime's Bundle.denormalise. Regression models only: it exists where\n"
                  f"   {P}_TARGET_MEAN is defined. */\n"
                  f"void {p}_denormalise(const float *y_norm, float *target);\n")
    elif task == "regression":
        out_doc = ("the standardised regression target: target = y * target_std + target_mean "
                   "(the manifest's dataset.target_mean / target_std)")
        out = ""
        denorm = (f"/* No {p}_denormalise: this model's target statistics were not recorded in it; take\n"
                  f"   them from the manifest (dataset.target_mean / target_std). */\n")
    else:
        out_doc = "the model's outputs (no label names recorded)"
        out = ""
        denorm = ""
    if task == "classification":
        denorm = (f"/* No {p}_denormalise: the outputs are class scores, not a quantity in units\n"
                  f"   (regression models have one). */\n")
    unit = (f"the time units of the training data ({meta['dataset']})" if meta.get("dataset")
            else "the time units of the training data")
    return f"""{banner}
#ifndef {guard}
#define {guard}

#ifdef __cplusplus
extern "C" {{
#endif

#define {P}_INPUT_SIZE {prog.input_size}   /* floats per sample ({'raw' if not mean else 'normalised'} features) */
#define {P}_OUTPUT_SIZE {prog.output_size}   /* {out_doc} */
#define {P}_STATE_SIZE {prog.state_size}   /* {', '.join(f'{s}[{prog.sizes[s]}]' for s in states)} */
#define {P}_SCHEME {c_string(scheme)}
/* Parity gate: max |y - y_pytorch| over whole rollouts (incl. dt gaps up to 100x the median dt). */
#define {P}_MAX_ABS_ERROR {ERROR_PENDING}

{norm}{out}
/* dt: time since the previous sample, in {unit}; {dt_doc}. */
{dt_lines}

/* State: all state tensors concatenated in manifest order, {state_ctype} elements (alignment of
   {state_ctype}, {4 if state_ctype == 'float' else 2} B); the caller owns it: one per stream, no globals, so
   the functions are re-entrant. Offsets in elements: */
{layout}

void {p}_reset(float *state);
/* One sample: x[{P}_INPUT_SIZE], dt = time since the previous sample (> 0). Returns the number of
   samples whose dt lay outside [{P}_DT_MIN, {P}_DT_MAX] and was saturated (0: all represented). */
int {p}_step(const float *x, float dt, float *state, float *y);
/* n samples, row-major: x[n][{P}_INPUT_SIZE], dt[n] -> y[n][{P}_OUTPUT_SIZE]; returns as step. */
int {p}_run(const float *x, const float *dt, int n, float *state, float *y);
/* raw[{P}_INPUT_SIZE] sensor features -> x[{P}_INPUT_SIZE] as the model takes them. */
void {p}_normalise(const float *raw, float *x);
{denorm}/* n streams, one sample each, row-major: x[n][{P}_INPUT_SIZE], dt[n] (each stream's own),
   state[n][{P}_STATE_SIZE], y[n][{P}_OUTPUT_SIZE]. Each stream's result equals {p}_step on it alone;
   returns the number of streams whose dt was saturated, as step. */
int {p}_step_batch(int n, const float *x, const float *dt, float *state, float *y);
{extra}
#ifdef __cplusplus
}}
#endif

#endif /* {guard} */
"""
