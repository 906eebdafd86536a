"""Integer dense products for float-compute C (scheme ``int16x8-dynamic``).

Each dense int8 matrix-vector product quantizes its input vector once per call to int16 with
one scale (``sx = max|x| / qmax``, ``q = round(x / sx)``), sums int8 x int16 products exactly in
int32, and rescales each output once: ``y = (float)sum * (s_w * sx) + b + add``; q is x / sx
rounded to nearest, ties to even (``lrintf``; ``VCVTR`` on a Cortex-M FPU). Everything
else (sparse products, element-wise loops, nonlinearities, the dt path) is float as in
``int8-weight``.

On a core with the DSP extension (``__ARM_FEATURE_DSP``: Cortex-M4/M7/M33) the sum runs on
``SMLAD`` (two 16x16 multiply-accumulates per instruction): each 32-bit word of 4 int8 weights is
split by ``SXTB16`` / ``SXTB16 ROR #8`` into the halfword pairs (w0, w2) and (w1, w3), which is
why the quantized input is stored in the pair order x0 x2 x1 x3. Weights are stored in blocks of
4 rows, the 4 rows' words of a group of 4 inputs side by side, so one pointer walks them; rows
and columns are zero-padded to multiples of 4 and 8. Elsewhere plain C sums the same products: an
integer sum has no rounding and ``qmax`` keeps every partial sum below 2**31, so host, portable
C and the SMLAD build give the same int32, bit for bit (the float parts around it are the usual
float code: equal up to the compiler's contraction of ``a * b + c``). The loop is one inline asm
statement of 12 registers, 16 inputs a pass after an odd 8 (gcc -Os spilled the C form's
registers; 14, for all 6 loads of a group back to back, gcc allocates but clang 14 refuses:
"inline assembly requires more registers than available"). Two adjacent products over as many
rows -- the second adding the first's output in place (LSTM, RNN: W1 x + b1, then + W2 h + b2) or
each into its own output (GRU) -- run as one pass over their rows (``{p}_mv2_q15``), each input
with its own scale: the same float operations in the same order.
"""
from __future__ import annotations

import numpy as np

from .emit import FloatEmitter, flt
from .lower import MatVec
from .weights import Encoding, Stored, store_matrix

INT32_MAX = 2 ** 31 - 1


def qmax_for(k4: int) -> int:
    """Largest |q| of the input: 32767, or less where k4 * 127 * qmax would pass 2**31 - 1."""
    return int(min(32767, INT32_MAX // (127 * max(k4, 1))))


def padded(k: int) -> int:
    """Inputs of a product rounded up to a multiple of 8 (two groups of 4 per SMLAD loop pass)."""
    return -(-k // 8) * 8


def blocked(q: np.ndarray, n: int, k: int) -> np.ndarray:
    """(n, k) int8 values -> the stored order: rows padded to a multiple of 4, columns to a
    multiple of 8 (zeros), then [row block][group of 4 inputs][row in block][input in group]."""
    n4, k4 = -(-n // 4) * 4, padded(k)
    pad = np.zeros((n4, k4), np.int64)
    pad[:n, :k] = q.reshape(n, k)
    return pad.reshape(n4 // 4, 4, k4 // 4, 4).transpose(0, 2, 1, 3).reshape(-1)


# One group of the SMLAD loop (4 inputs x 4 rows: 6 word loads in pairs, 8 SXTB16, 8 SMLAD); the
# loop body of {p}_mv_q15 is two of them (k4 is a multiple of 8).
_SMLAD_GROUP = """                    "ldr %[xa], [%[xq]], #4\\n\\t"
                    "ldr %[xb], [%[xq]], #4\\n\\t"
                    "ldr %[v0], [%[w]], #4\\n\\t"
                    "ldr %[v1], [%[w]], #4\\n\\t"
                    "sxtb16 %[t], %[v0]\\n\\t"
                    "smlad %[a0], %[t], %[xa], %[a0]\\n\\t"
                    "sxtb16 %[v0], %[v0], ror #8\\n\\t"
                    "smlad %[a0], %[v0], %[xb], %[a0]\\n\\t"
                    "sxtb16 %[t], %[v1]\\n\\t"
                    "smlad %[a1], %[t], %[xa], %[a1]\\n\\t"
                    "sxtb16 %[v1], %[v1], ror #8\\n\\t"
                    "smlad %[a1], %[v1], %[xb], %[a1]\\n\\t"
                    "ldr %[v0], [%[w]], #4\\n\\t"
                    "ldr %[v1], [%[w]], #4\\n\\t"
                    "sxtb16 %[t], %[v0]\\n\\t"
                    "smlad %[a2], %[t], %[xa], %[a2]\\n\\t"
                    "sxtb16 %[v0], %[v0], ror #8\\n\\t"
                    "smlad %[a2], %[v0], %[xb], %[a2]\\n\\t"
                    "sxtb16 %[t], %[v1]\\n\\t"
                    "smlad %[a3], %[t], %[xa], %[a3]\\n\\t"
                    "sxtb16 %[v1], %[v1], ror #8\\n\\t"
                    "smlad %[a3], %[v1], %[xb], %[a3]\\n\\t"
"""


# The whole SMLAD loop of {p}_mv_q15 and {p}_mv2_q15, one asm statement (gcc -Os spilled the C
# version's registers): an odd 8 inputs first (two groups), then 16 (four groups) per iteration.
_SMLAD_LOOP = f"""        __asm__("lsrs %[c], %[c], #1\\n\\t"
                "bcc 1f\\n\\t"
{_SMLAD_GROUP * 2}                "1:\\n\\t"
                "beq 3f\\n\\t"
                "2:\\n\\t"
{_SMLAD_GROUP * 4}                "subs %[c], %[c], #1\\n\\t"
                "bne 2b\\n\\t"
                "3:"
                : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [xq] "+r"(xq), [w] "+r"(w),
                  [c] "+r"(c), [xa] "=&r"(xa), [xb] "=&r"(xb), [v0] "=&r"(v0), [v1] "=&r"(v1), [t] "=&r"(t)
                :
                : "memory", "cc");
"""


def _rescale4(v: str, s: str, ss: str, sx: str, b: str, indent: str) -> str:
    """C lines: a block's 4 int32 sums a0..a3 -> floats v0..v3 = a * (s[r * ss] * sx) (+ b[j + r])."""
    at = ("0", ss, f"2 * {ss}", f"3 * {ss}")
    rows = "".join(f"{indent}{v}{r} = (float)a{r} * ({s}[{at[r]}] * {sx});\n" for r in range(4))
    return (rows + f"{indent}if ({b}) {{\n"
            + f"{indent}    {v}0 += {b}[j]; {v}1 += {b}[j + 1]; {v}2 += {b}[j + 2]; {v}3 += {b}[j + 3];\n"
            + f"{indent}}}\n")


def _pair_row(indent: str) -> str:
    """C lines: row j + r of {p}_mv2_q15 from the sums acc[r] and acc2[r], stored as the pair asks."""
    return (f"{indent}const float f = (float)acc[r] * (s1[(j + r) * ss1] * sx1) + (b1 ? b1[j + r] : 0.0f);\n"
            f"{indent}const float g = (float)acc2[r] * (s2[(j + r) * ss2] * sx2) + (b2 ? b2[j + r] : 0.0f);\n"
            f"{indent}if (y1) {{\n{indent}    y1[j + r] = f;\n{indent}    y[j + r] = g;\n"
            f"{indent}}} else\n{indent}    y[j + r] = g + f;\n")


def c_helpers(p: str) -> dict[str, str]:
    P = p.upper()
    quant = f"""/* x[0..k) -> q[0..k4) int16, |q| <= qmax, in SMLAD pair order (x0 x2 x1 x3 per group of 4,
   zeros after k); returns the scale sx (x ~= q * sx). max |x| on the float bits (a NaN or inf wins
   it: then q = 0 and sx carries the NaN/inf into every output); q = x / sx rounded to nearest, ties
   to even (lrintf in the default rounding mode; VCVTR on a Cortex-M FPU: the same). */
static float {p}_q15(const float *x, int k, int k4, float qmax, int16_t *q)
{{
    union {{ float f; uint32_t u; }} v;
    const float *const end4 = x + (k & ~3), *const end = x + k, *p;
    uint32_t m = 0;
    float inv;
    int i, g;
    p = x;
    if (p != end4) {{
        do {{                               /* one pointer, one branch per 4 inputs */
            uint32_t a0, a1, a2, a3;
            v.f = p[0];
            a0 = v.u & 0x7fffffffu;
            v.f = p[1];
            a1 = v.u & 0x7fffffffu;
            v.f = p[2];
            a2 = v.u & 0x7fffffffu;
            v.f = p[3];
            a3 = v.u & 0x7fffffffu;
            if (a0 > m) m = a0;
            if (a1 > m) m = a1;
            if (a2 > m) m = a2;
            if (a3 > m) m = a3;
        }} while ((p += 4) != end4);
    }}
    for (; p != end; p++) {{
        v.f = *p;
        if ((v.u & 0x7fffffffu) > m) m = v.u & 0x7fffffffu;
    }}
    v.u = m;
    if (m == 0 || m >= 0x7f800000u) {{
        for (i = 0; i < k4; i++) q[i] = 0;
        return m == 0 ? 0.0f : v.f;
    }}
    inv = qmax / v.f;
    p = x;
    if (p != end4) {{
        do {{
            const float f0 = p[0], f1 = p[2], f2 = p[1], f3 = p[3];
            q[0] = (int16_t){p}_rint(f0 * inv);
            q[1] = (int16_t){p}_rint(f1 * inv);
            q[2] = (int16_t){p}_rint(f2 * inv);
            q[3] = (int16_t){p}_rint(f3 * inv);
            q += 4;
        }} while ((p += 4) != end4);
    }}
    for (i = 0, g = (int)(p - x); g + i < k4; i++) {{       /* the last inputs and the zeros after k */
        const int src = g + (i & ~3) + ((i & 1) << 1) + ((i >> 1) & 1);
        q[i] = (int16_t)(src < k ? {p}_rint(x[src] * inv) : 0);
    }}
    return v.f / qmax;
}}
"""
    rows = f"""#if {P}_SMLAD
/* y[0..m) = a * (s[r * ss] * sx) + b + add for m = 1..3 rows of a block: the last, partial block of
   {p}_mv_q15 on SMLAD (kept out of its loop, which then holds its registers for whole blocks) */
static void {p}_rows_q15(int32_t a0, int32_t a1, int32_t a2, int m, const float *s, int ss, float sx,
                        const float *b, const float *add, float *y)
{{
    const int32_t acc[3] = {{a0, a1, a2}};
    int r;
    for (r = 0; r < m; r++)
        y[r] = (float)acc[r] * (s[r * ss] * sx) + (b ? b[r] : 0.0f) + (add ? add[r] : 0.0f);
}}
#endif
"""
    mv = f"""/* y[0..n) = (sum of w x q, exact in int32) * (s[j * ss] * sx) + b + add: w int8 in blocks of 4
   rows (see {p}_q15 for the pair order), k4 a multiple of 8. */
static void {p}_mv_q15(const int8_t *w, const float *s, int ss, const float *b, const float *add,
                      const int16_t *q, float sx, float *y, int n, int k4)
{{
    int j = 0, r, i;
#if {P}_SMLAD
    if (n > 0) do {{                       /* blocks of 4 rows on SMLAD, the last one perhaps partial */
        const int16_t *xq = q;
        const float *sj = s + j * ss;
        int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
        uint32_t xa, xb, v0, v1, t, c = (uint32_t)k4 >> 3;
        float f0, f1, f2, f3;
        /* the whole loop in one asm statement (gcc -Os spilled the C version's registers): per
           group of 4 inputs x 4 rows, 6 word loads in pairs (back to back: they pipeline), 8 SXTB16,
           8 SMLAD. k4 is a multiple of 8: an odd 8 inputs first (two groups), then 16 inputs
           (four groups) per iteration; SMLAD, SXTB16 and LDR leave the flags of LSRS alone */
{_SMLAD_LOOP}        if (j + 4 > n) {{                  /* a last, partial block: only its 1-3 rows (s, b, add, y hold n) */
            {p}_rows_q15(a0, a1, a2, n - j, s + j * ss, ss, sx, b ? b + j : 0, add ? add + j : 0, y + j);
            return;
        }}
{_rescale4("f", "sj", "ss", "sx", "b", "        ")}        if (add) {{
            f0 += add[j]; f1 += add[j + 1]; f2 += add[j + 2]; f3 += add[j + 3];
        }}
        y[j] = f0; y[j + 1] = f1; y[j + 2] = f2; y[j + 3] = f3;
    }} while ((j += 4) < n);              /* do-while (gcc -Os does not rotate loops) */
#endif
    for (; j < n; j += 4) {{               /* plain C where the core has no SMLAD: the same sums */
        const int16_t *xq = q;
        int32_t acc[4] = {{0, 0, 0, 0}};
        for (i = 0; i < k4; i += 4, xq += 4, w += 16)
            for (r = 0; r < 4; r++)
                acc[r] += (int32_t)w[4 * r] * xq[0] + (int32_t)w[4 * r + 2] * xq[1]
                          + (int32_t)w[4 * r + 1] * xq[2] + (int32_t)w[4 * r + 3] * xq[3];
        for (r = 0; r < 4 && j + r < n; r++)
            y[j + r] = (float)acc[r] * (s[(j + r) * ss] * sx) + (b ? b[j + r] : 0.0f) + (add ? add[j + r] : 0.0f);
    }}
}}
"""
    return {f"{p}_q15": quant, f"{p}_rows_q15": rows, f"{p}_mv_q15": mv}


def c_pair_helper(p: str) -> dict[str, str]:
    """``{p}_mv2_q15``: two products over the same rows in one pass, each input with its own scale:
    summed (an LSTM's y = W1 x + b1 then y += W2 h + b2) or into two outputs (a GRU's input and
    recurrent products); the same float operations in the same order as the two ``{p}_mv_q15``
    calls it replaces."""
    P = p.upper()
    loop = _SMLAD_LOOP
    mv2 = f"""/* f = (sum of w1 x q1) * (s1[j * ss1] * sx1) + b1, g = (sum of w2 x q2) * (s2[j * ss2] * sx2) + b2:
   y[0..n) = g + f (LSTM: y = W1 x + b1, then y += W2 h + b2), or y1 = f and y = g when y1 is given
   (GRU: the input and the recurrent product). Two products over the same rows in one pass, each
   input with its own scale, the float operations of two {p}_mv_q15 calls in their order. Each block
   of 4 rows holds its k41 inputs of w1 then its k42 of w2 (see {p}_mv_q15); q holds q1 then q2. */
static void {p}_mv2_q15(const int8_t *w, const float *s1, int ss1, const float *b1, float sx1, int k41,
                       const float *s2, int ss2, const float *b2, float sx2, int k42,
                       const int16_t *q, float *y, float *y1, int n)
{{
    int j = 0, r, i;
#if {P}_SMLAD
    if (n > 0) do {{                       /* blocks of 4 rows, the last one perhaps partial */
        const int16_t *xq = q;
        const float *sj1 = s1 + j * ss1, *sj2 = s2 + j * ss2;
        int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, acc[4];
        uint32_t xa, xb, v0, v1, t, c = (uint32_t)k41 >> 3;
        float f0 = 0.0f, f1 = 0.0f, f2 = 0.0f, f3 = 0.0f, g0, g1, g2, g3;   /* f: set where used (gcc cannot see it) */
        /* the first product: {p}_mv_q15's loop */
{loop}        acc[0] = a0; acc[1] = a1; acc[2] = a2; acc[3] = a3;
        if (j + 4 <= n) {{                 /* a partial block's rows are stored below */
{_rescale4("f", "sj1", "ss1", "sx1", "b1", "            ")}        }}
        /* the second: w and xq go on where the first left them */
        a0 = a1 = a2 = a3 = 0;
        c = (uint32_t)k42 >> 3;
{loop}        if (j + 4 > n) {{                  /* a last, partial block: only its rows (s, b and y hold n) */
            const int32_t acc2[4] = {{a0, a1, a2, a3}};
            for (r = 0; j + r < n; r++) {{
{_pair_row("                ")}            }}
            return;
        }}
{_rescale4("g", "sj2", "ss2", "sx2", "b2", "        ")}        if (y1) {{
            y1[j] = f0; y1[j + 1] = f1; y1[j + 2] = f2; y1[j + 3] = f3;
            y[j] = g0; y[j + 1] = g1; y[j + 2] = g2; y[j + 3] = g3;
        }} else {{
            y[j] = g0 + f0; y[j + 1] = g1 + f1; y[j + 2] = g2 + f2; y[j + 3] = g3 + f3;
        }}
    }} while ((j += 4) < n);
#endif
    for (; j < n; j += 4) {{               /* plain C where the core has no SMLAD: the same sums */
        const int16_t *xq = q;
        int32_t acc[4] = {{0, 0, 0, 0}}, acc2[4] = {{0, 0, 0, 0}};
        for (i = 0; i < k41; i += 4, xq += 4, w += 16)
            for (r = 0; r < 4; r++)
                acc[r] += (int32_t)w[4 * r] * xq[0] + (int32_t)w[4 * r + 2] * xq[1]
                          + (int32_t)w[4 * r + 1] * xq[2] + (int32_t)w[4 * r + 3] * xq[3];
        for (i = 0; i < k42; i += 4, xq += 4, w += 16)
            for (r = 0; r < 4; r++)
                acc2[r] += (int32_t)w[4 * r] * xq[0] + (int32_t)w[4 * r + 2] * xq[1]
                           + (int32_t)w[4 * r + 1] * xq[2] + (int32_t)w[4 * r + 3] * xq[3];
        for (r = 0; r < 4 && j + r < n; r++) {{
{_pair_row("            ")}        }}
    }}
}}
"""
    return {f"{p}_mv2_q15": mv2}


def preamble(p: str) -> str:
    P = p.upper()
    return (f"/* Dense int8 products in integers: SMLAD where the core has the DSP extension (Cortex-M4/M7/M33),\n"
            f"   plain C elsewhere -- the same int32 sums, bit for bit. */\n"
            f"#ifndef {P}_SMLAD\n#if defined(__ARM_FEATURE_DSP) && defined(__ARM_FEATURE_SIMD32) && defined(__GNUC__) && !defined(__ARM_BIG_ENDIAN)\n#define {P}_SMLAD 1\n"
            f"#else\n#define {P}_SMLAD 0\n#endif\n#endif\n"
            f"/* round to nearest, ties to even: VCVTR where the core has a single-precision FPU, lrintf elsewhere */\n"
            f"#ifndef {P}_VCVTR\n#if {P}_SMLAD && defined(__ARM_FP) && (__ARM_FP & 4)\n#define {P}_VCVTR 1\n"
            f"#else\n#define {P}_VCVTR 0\n#endif\n#endif\n"
            f"#if {P}_VCVTR\nstatic __inline int32_t {p}_rint(float v)\n{{\n    int32_t r;\n"
            f"    __asm__(\"vcvtr.s32.f32 %1, %1\\n\\tvmov %0, %1\" : \"=r\"(r), \"+t\"(v));\n    return r;\n}}\n"
            f"#else\nstatic int32_t {p}_rint(float v)\n{{\n    return (int32_t)lrintf(v);\n}}\n#endif\n"
            f"/* word alignment of the int8 weights and the int16 inputs of the integer products */\n"
            f"#ifndef {P}_ALIGN4\n#if defined(__GNUC__)\n#define {P}_ALIGN4 __attribute__((aligned(4)))\n"
            f"#else\n#define {P}_ALIGN4\n#endif\n#endif\n")


class Q15Emitter(FloatEmitter):
    """``FloatEmitter`` whose dense int8 matrix-vector products run in integers."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.q15_k4 = 0               # longest quantized input (the buffer's length)
        self.q15_calls: dict[str, tuple] = {}     # MatVec output -> (stored, call arguments)
        self._q15_have: str | None = None         # the value the core's buffer holds now
        self.q15_pairs = self._pairs()            # first product's output -> the second (one pass)
        self._q15_pending: tuple | None = None    # the first product of a pair, until its second
        self.q15_two = False                      # a pair needs the second scale variable
        self.q15_pair_arrays: dict[str, tuple] = {}   # first output -> (array, stored a, stored b[, biases])

    def _pairs(self) -> dict[str, MatVec]:
        """Adjacent integer products a, b over as many rows where b adds a's output in place
        (b.addend == a.out, b writes where a wrote: LSTM, RNN) or neither touches the other's output
        (GRU): one {p}_mv2_q15 call does both, each input quantized with its own scale first -- so
        b's input must not be a's output. Products of one input (CfC's heads) stay apart: they share
        one quantization instead."""
        ks, out, taken = self.prog.kernels, {}, set()
        for a, b in zip(ks, ks[1:]):
            if not (isinstance(a, MatVec) and isinstance(b, MatVec) and self._q15_ok(a) and self._q15_ok(b)
                    and id(a) not in taken and a.n == b.n and a.x != b.x and not self._overlaps(b.x, a.out)):
                continue
            summed = b.addend == a.out and self._same(a.out, b.out)
            apart = b.addend is None and not self._overlaps(a.out, b.out)
            if summed or apart:
                out[a.out] = b
                taken.add(id(b))
        return out

    def _same(self, a: str, b: str) -> bool:
        la, lb = self.prog.locs.get(a), self.prog.locs.get(b)
        return (la is not None and lb is not None and la.base == lb.base and la.offset == lb.offset
                and self.prog.sizes[a] == self.prog.sizes[b])

    def _q15_ok(self, k: MatVec) -> bool:
        return not k.sparse and self.precision.get(k.weight, "fp32") == "int8"

    def _q15_matrix(self, k: MatVec) -> Stored:
        from .emit import _digest

        w = np.asarray(self.prog.consts[k.weight], np.float32).reshape(k.n, k.k)
        key = ("q15", w.shape, _digest(w))
        if key not in self.stored:
            st = store_matrix(w, "int8", sparse=False)
            st.data = blocked(st.data, k.n, k.k)
            st.enc = Encoding("q15-blocked")
            P = self.p.upper()
            st.cname = self.array(st.ctype, st.data, f"{k.weight} int8, blocks of 4 rows (SMLAD order), "
                                  f"{'per-channel' if st.channels > 1 else 'per-tensor'} scale", align=f"{P}_ALIGN4")
            st.scale_name = self.array("float", np.reshape(st.scale, -1), f"{k.weight} scales")
            self.stats["scale_bytes"] += 4 * int(np.size(st.scale))
            self.stats["weights_stored"] += int(np.size(st.data))
            self.stats["weight_bytes"] += int(np.size(st.data))
            self.stats["int8_tensors"] = self.stats.get("int8_tensors", 0) + 1
            self.stored[key] = st
        self._note_tensor(k.weight, key, "MatVec")
        return self.stored[key]

    def _overlaps(self, a: str, b: str) -> bool:
        la, lb = self.prog.locs.get(a), self.prog.locs.get(b)
        if la is None or lb is None or la.base != lb.base:
            return False
        return la.offset < lb.offset + self.prog.sizes[b] and lb.offset < la.offset + self.prog.sizes[a]

    def kernel(self, k) -> list[str]:
        if isinstance(k, MatVec) and self._q15_ok(k):
            return self.matvec(k)
        have = self._q15_have          # quantize again after a kernel that may write the buffered value
        if have is not None and any(o not in self.prog.locs or have not in self.prog.locs
                                    or self._overlaps(o, have) for o in k.outputs):
            self._q15_have = None
        return super().kernel(k)

    def _pair_matrix(self, a: MatVec, b: MatVec) -> tuple[str, Stored, Stored]:
        """One int8 array for a pair: each block of 4 rows holds a's inputs, then b's (each matrix
        quantized on its own, as for {p}_mv_q15)."""
        sts = []
        for k in (a, b):
            w = np.asarray(self.prog.consts[k.weight], np.float32).reshape(k.n, k.k)
            st = store_matrix(w, "int8", sparse=False)
            st.data = blocked(st.data, k.n, k.k).reshape(-(-k.n // 4), -1)
            st.scale_name = self.array("float", np.reshape(st.scale, -1), f"{k.weight} scales")
            self.stats["scale_bytes"] += 4 * int(np.size(st.scale))
            self.stats["weights_stored"] += int(np.size(st.data))
            self.stats["weight_bytes"] += int(np.size(st.data))
            self.stats["int8_tensors"] = self.stats.get("int8_tensors", 0) + 1
            st.enc = Encoding("q15-blocked")
            self.stored[("q15-pair", k.weight)] = st
            self._note_tensor(k.weight, ("q15-pair", k.weight), "MatVec")
            sts.append(st)
        data = np.concatenate([sts[0].data, sts[1].data], axis=1).reshape(-1)
        P = self.p.upper()
        name = self.array("int8_t", data, f"{a.weight} then {b.weight}, int8, blocks of 4 rows (SMLAD order), "
                          "one product after the other in each block", align=f"{P}_ALIGN4")
        return name, sts[0], sts[1]

    def _pair(self, a: MatVec, b: MatVec, quant_a: str, quant_b: str, y: str, y1: str) -> str:
        """The {p}_mv2_q15 call of a pair (a's input already in q15x, b's after it)."""
        name, sa, sb = self.q15_pair_arrays[a.out][:3]
        if len(self.q15_pair_arrays[a.out]) == 3:      # the biases once, for the step and the batch
            self.q15_pair_arrays[a.out] += ([self.array("float", self.prog.consts[k.bias], k.bias)
                                             if k.bias is not None else "(const float *)0" for k in (a, b)],)
        bias = self.q15_pair_arrays[a.out][3]
        ss = ["1" if st.channels > 1 else "0" for st in (sa, sb)]
        return (f"{self.p}_mv2_q15({name}, {sa.scale_name}, {ss[0]}, {bias[0]}, {quant_a}, {padded(a.k)}, "
                f"{sb.scale_name}, {ss[1]}, {bias[1]}, {quant_b}, {padded(b.k)}, q15x, {y}, {y1}, {a.n});")

    def matvec(self, k: MatVec) -> list[str]:
        if not self._q15_ok(k):
            return super().matvec(k)
        p = self.p
        if k.out in self.q15_pairs:          # the first of a pair: quantize its input, wait for the second
            self.q15_pair_arrays[k.out] = self._pair_matrix(k, self.q15_pairs[k.out])
            self._q15_pending = k
            k4 = padded(k.k)
            self.q15_calls[k.out] = ("pair-first", k)
            self.q15_two = True
            self._q15_have = None
            self.helpers.update(c_helpers(p))
            self.libm = True
            return [f"    /* {k.out} = {k.weight} x {k.x} (integer), with the next product in one pass */",
                    f"    q15s1 = {p}_q15({self.ptr(k.x)}, {k.k}, {k4}, {flt(qmax_for(k4))}, q15x);"]
        a = self._q15_pending
        if a is not None and self.q15_pairs.get(a.out) is k:     # the second of a pair
            self._q15_pending = None
            ka, kb = padded(a.k), padded(k.k)
            self.q15_k4 = max(self.q15_k4, ka + kb)
            self.q15_calls[k.out] = ("pair-second", a)
            self.helpers.update(c_helpers(p))
            self.helpers.update(c_pair_helper(p))
            return [f"    /* {k.out} = {k.weight} x {k.x}{' + ' + a.out if k.addend else ''} (integer) */",
                    f"    q15s = {p}_q15({self.ptr(k.x)}, {k.k}, {kb}, {flt(qmax_for(kb))}, q15x + {ka});",
                    "    " + self._pair(a, k, "q15s1", "q15s", self.ptr(k.out),
                                   "(float *)0" if k.addend else self.ptr(a.out))]
        st = self._q15_matrix(k)
        k4 = padded(k.k)
        self.q15_k4 = max(self.q15_k4, k4)
        bias = self.array("float", self.prog.consts[k.bias], k.bias) if k.bias is not None else "(const float *)0"
        ss = "1" if st.channels > 1 else "0"
        quant = (k.x, k.k, k4, flt(qmax_for(k4)))
        self.q15_calls[k.out] = (st, quant, bias, ss)
        lines = [f"    /* {k.out} = {k.weight} x {k.x}{' + ' + k.addend if k.addend else ''} (integer) */"]
        if self._q15_have != k.x:
            lines.append(f"    q15s = {p}_q15({self.ptr(k.x)}, {k.k}, {k4}, {quant[3]}, q15x);")
            self._q15_have = k.x
        add = self.ptr(k.addend) if k.addend else "(const float *)0"
        lines.append(f"    {p}_mv_q15({st.cname}, {st.scale_name}, {ss}, {bias}, {add}, q15x, q15s, "
                     f"{self.ptr(k.out)}, {k.n}, {k4});")
        if self._overlaps(k.out, k.x):
            self._q15_have = None
        self.helpers.update(c_helpers(p))
        self.libm = True               # lrintf (the portable rounding)
        return lines

    def batch_lines(self, k, lines: list[str]) -> list[str]:
        if not (isinstance(k, MatVec) and k.out in self.q15_calls):
            return super().batch_lines(k, lines)
        p = self.p
        call = self.q15_calls[k.out]
        if call[0] == "pair-first":          # runs with the second, in its loop over the streams
            return []
        if call[0] == "pair-second":
            a = call[1]
            ka, kb = padded(a.k), padded(k.k)
            xa, xas = self._ptr_b(a.x)
            xb, xbs = self._ptr_b(k.x)
            y, ys = self._ptr_b(k.out)
            y1, y1s = self._ptr_b(a.out)
            y1 = "(float *)0" if k.addend else f"{y1} + (long)s * {y1s}"
            return [f"    for (s = 0; s < ns; s++) {{     /* {a.out}, then {k.out} (integer), stream by stream */",
                    f"        const float q15s1 = {p}_q15({xa} + (long)s * {xas}, {a.k}, {ka}, {flt(qmax_for(ka))}, "
                    "q15x);",
                    f"        const float q15s = {p}_q15({xb} + (long)s * {xbs}, {k.k}, {kb}, {flt(qmax_for(kb))}, "
                    f"q15x + {ka});",
                    "        " + self._pair(a, k, "q15s1", "q15s", f"{y} + (long)s * {ys}", y1),
                    "    }"]
        st, (x_name, kk, k4, qmax), bias, ss = call
        x, xs = self._ptr_b(x_name)
        y, ys = self._ptr_b(k.out)
        add = "(const float *)0"
        if k.addend:
            a, astr = self._ptr_b(k.addend)
            add = f"{a} + (long)s * {astr}"
        return [f"    for (s = 0; s < ns; s++) {{     /* {k.out} (integer), stream by stream */",
                f"        const float q15s = {p}_q15({x} + (long)s * {xs}, {kk}, {k4}, {qmax}, q15x);",
                f"        {p}_mv_q15({st.cname}, {st.scale_name}, {ss}, {bias}, {add}, q15x, q15s, "
                f"{y} + (long)s * {ys}, {k.n}, {k4});",
                "    }"]

    def preamble(self) -> str:
        return preamble(self.p) if self.q15_calls else ""

    def core_decls(self, batch: bool) -> list[str]:
        if not self.q15_calls:
            return []
        P = self.p.upper()
        return ([f"    int16_t q15x[{self.q15_k4}] {P}_ALIGN4;"] + ([] if batch else ["    float q15s = 0.0f;"])
                + (["    float q15s1 = 0.0f;"] if self.q15_two and not batch else []))
