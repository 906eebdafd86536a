"""int8-weight dense products on x86-64 hosts with AVX2 + FMA: C text for the emitter.

Plain C leaves them 3-4x slower than the fp32 kernels there (gcc vectorizes a row's int8 dot
product and widens the bytes through three shuffles per 8). On such a host the matrix is stored
column-major instead, its outputs padded to a multiple of 8 with zeros (``host_layout``; the
``#else`` side of the array keeps the row-major layout the microcontroller kernels read), so a
pass is the fp32 kernel's shape: 8 outputs of one input column widened per load (vpmovsxbd +
vcvtdq2ps) into one register, one FMA per stream with that input broadcast. There are no
horizontal sums, and in the batched kernel each widened weight vector feeds ``BATCH_STREAMS``
streams, so the conversion is paid once per weight per group of streams. Where the compiler also
targets AVX-512 (-march=native on such a CPU), passes of 16 outputs per register come first: the
conversion then costs half the uops per weight. Every output lane is
the same FMA chain over the inputs in order, then the same epilogue (``<p>_i8_out``: the
per-row scale, bias and addend, one vector at a time), whichever pass or batch computed it: a
stream's result does not depend on the batch it ran in.
"""
from __future__ import annotations

import numpy as np

LANES = 8
# vectors of outputs per pass (8 lanes; 16 with AVX-512): 128 or 64 outputs at once for one
# stream, then 16 (AVX-512) or 8 at a time; AVX2 only: 8 x 8, then 8 at a time
SINGLE_PASSES = (8, 1)
WIDE_SINGLE_PASSES = (8, 4, 1)
# the batched kernel: groups of BATCH_STREAMS streams, each widened weight vector feeding all
# the streams of a pass. AVX-512 (32 registers): 8 streams x 2 vectors of 16, then 8 x 1 of 16
# and of 8; AVX2 only (16 registers): twice 4 streams x 2 vectors of 8, then 4 x 1.
# Measured (CfC/LSTM/GRU-64, 256 streams, this host, int8 / fp32 per stream-step): 8 x 2 of 16
# 0.78-0.88; AVX2 only 4 x 3 of 8 1.16-1.22, 8 x 1 of 8 1.21-1.34.
BATCH_STREAMS = 8
AVX2_BATCH_STREAMS = 4
BATCH_PASSES = (2, 1)
WIDE_BATCH_PASSES = (2, 1)


def macro(P: str) -> str:
    """``<P>_I8_AVX2``: 1 where the compiler targets AVX2 and FMA (the host build's
    -march=native on a recent x86-64), else 0; a build may set it to 0."""
    return (f"/* int8 weights on x86-64 with AVX2 + FMA: stored column-major, 8 outputs widened to floats per load (hostsimd). */\n"
            f"#ifndef {P}_I8_AVX2\n#if defined(__AVX2__) && defined(__FMA__) && (defined(__x86_64__) || defined(_M_X64))\n"
            f"#define {P}_I8_AVX2 1\n#else\n#define {P}_I8_AVX2 0\n#endif\n#endif\n"
            f"#if {P}_I8_AVX2\n#include <immintrin.h>\n#endif\n")


def padded(n: int) -> int:
    return -(-n // LANES) * LANES


def host_layout(data: np.ndarray, n: int, k: int) -> np.ndarray:
    """The row-major (n, k) int8 matrix as the AVX2 kernels read it: (k, padded(n)), zeros in
    the padding."""
    t = np.zeros((k, padded(n)), np.int8)
    t[:, :n] = np.asarray(data, np.int8).reshape(n, k).T
    return t.reshape(-1)


def helpers(p: str) -> str:
    """Load 8 int8 weights as floats; the epilogue of 8 outputs (a partial last vector through
    zero-padded copies, so every output goes through the same vector operations)."""
    P = p.upper()
    return f"""#if {P}_I8_AVX2
#if defined(__GNUC__)
#define {P}_I8_INLINE static inline __attribute__((always_inline))
#else
#define {P}_I8_INLINE static inline
#endif
{P}_I8_INLINE __m256 {p}_i8x8(const int8_t *q)
{{
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)q)));
}}

#if defined(__AVX512F__)
{P}_I8_INLINE __m512 {p}_i8x16(const int8_t *q)
{{
    return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(const void *)q)));
}}

{P}_I8_INLINE __m256 {p}_hi8(__m512 a)
{{
    return _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a), 1));
}}
#endif

/* v = a * scale (+ b) (+ add): explicit FMAs, no multiply left for the compiler to contract
   differently in different callers. Every function taking or returning a vector is inlined:
   gcc leaves out the vzeroupper at the end of one that takes a __m256, and the caller's code
   (the Python runtime's, say) then runs with a dirty upper state, measured 0.5 us slower a call. */
{P}_I8_INLINE __m256 {p}_i8_epi(__m256 a, __m256 sv, const float *b, __m256 bv, const float *add, __m256 av)
{{
    if (b) return add ? _mm256_add_ps(_mm256_fmadd_ps(a, sv, bv), av) : _mm256_fmadd_ps(a, sv, bv);
    return add ? _mm256_fmadd_ps(a, sv, av) : _mm256_mul_ps(a, sv);
}}

/* the last, partial vector of outputs (sums in a8): through zero-padded copies, the same operations */
static void {p}_i8_part(const float *a8, int j, int n, const float *s, int ss, const float *b, const float *add, float *y)
{{
    float t[4][8] = {{{{0.0f}}}};
    int l;
    for (l = 0; j + l < n; l++) {{
        t[0][l] = s[(j + l) * ss];
        if (b) t[1][l] = b[j + l];
        if (add) t[2][l] = add[j + l];
    }}
    _mm256_storeu_ps(t[3], {p}_i8_epi(_mm256_loadu_ps(a8), _mm256_loadu_ps(t[0]), b, _mm256_loadu_ps(t[1]), add,
                                      _mm256_loadu_ps(t[2])));
    for (l = 0; j + l < n; l++) y[j + l] = t[3][l];
}}

/* y[j..j+8) (those below n) from the 8 sums in a */
{P}_I8_INLINE void {p}_i8_out(__m256 a, int j, int n, const float *s, int ss, const float *b, const float *add, float *y)
{{
    if (j + 8 <= n) {{
        _mm256_storeu_ps(y + j, {p}_i8_epi(a, ss ? _mm256_loadu_ps(s + j) : _mm256_set1_ps(s[0]),
                                          b, b ? _mm256_loadu_ps(b + j) : a, add, add ? _mm256_loadu_ps(add + j) : a));
    }} else {{
        float a8[8];
        _mm256_storeu_ps(a8, a);
        {p}_i8_part(a8, j, n, s, ss, b, add, y);
    }}
}}
#endif
"""


def _pass(p: str, streams: int, vecs: int, batch: bool, wide: bool = False, q0: str = "0") -> str:
    """Outputs [j0, j0 + lanes vecs) of streams q0 .. q0 + ``streams`` - 1 of a group (one
    stream: x): vecs x streams accumulators of 8 lanes (16 where ``wide``: AVX-512, its halves
    through the same epilogue). Loops of constant trip counts: gcc unrolls them and keeps the
    accumulators in registers."""
    ind = "        " if batch else "    "
    L = 2 * LANES if wide else LANES
    V, ld, fma, zero = (("__m512", f"{p}_i8x16", "_mm512_fmadd_ps", "_mm512_setzero_ps()") if wide else
                        ("__m256", f"{p}_i8x8", "_mm256_fmadd_ps", "_mm256_setzero_ps()"))
    bc = "_mm512_set1_ps({}[i])" if wide else "_mm256_broadcast_ss({} + i)"
    S = streams if batch else 1
    xq = f"xp[{q0} + q]" if batch else "x"
    if wide:
        out = [f"{p}_i8_out(_mm512_castps512_ps256(a[q][v]), j0 + {L} * v, n, s, ss, b, ADD, Y);",
               f"{p}_i8_out({p}_hi8(a[q][v]), j0 + {L} * v + 8, n, s, ss, b, ADD, Y);"]
    else:
        out = [f"{p}_i8_out(a[q][v], j0 + {L} * v, n, s, ss, b, ADD, Y);"]
    if batch:
        out = [o.replace("ADD", f"add ? add + (long)(g + {q0} + q) * as : add").replace("Y", f"y + (long)(g + {q0} + q) * ys")
               for o in out]
    else:
        out = [o.replace("ADD", "add").replace("Y", "y") for o in out]
    lines = [f"for (; j0 + {L * vecs} <= n8; j0 += {L * vecs}) {{",
             "    const int8_t *wc = w + j0;",
             f"    {V} a[{S}][{vecs}];",
             f"    for (q = 0; q < {S}; q++) for (v = 0; v < {vecs}; v++) a[q][v] = {zero};",
             "    for (i = 0; i < k; i++) {",
             "        const int8_t *wi = wc + (long)i * n8;",
             f"        {V} wv[{vecs}];",
             f"        for (v = 0; v < {vecs}; v++) wv[v] = {ld}(wi + {L} * v);",
             f"        for (q = 0; q < {S}; q++) {{",
             f"            const {V} xv = {bc.format(xq)};",
             f"            for (v = 0; v < {vecs}; v++) a[q][v] = {fma}(wv[v], xv, a[q][v]);",
             "        }",
             "    }",
             f"    for (q = 0; q < {S}; q++)",
             f"        for (v = 0; v < {vecs}; v++) {{",
             *[f"            {o}" for o in out],
             "        }",
             "}"]
    return "".join(ind + ln + "\n" for ln in lines)


def single_body(p: str) -> str:
    """One stream: passes of 128 or 64 outputs (8 or 4 FMA chains of 16; 64 with AVX2), then 16 or 8."""
    P = p.upper()
    return (f"#if {P}_I8_AVX2\n    /* w: column-major, outputs padded to a multiple of 8 (hostsimd.host_layout) */\n"
            f"    const int n8 = (n + 7) & ~7;\n    int j0 = 0, i, q, v;\n"
            + "#if defined(__AVX512F__)\n" + "".join(_pass(p, 1, v, False, True) for v in WIDE_SINGLE_PASSES) + "#endif\n"
            + "".join(_pass(p, 1, v, False) for v in SINGLE_PASSES) + "#else\n")


def batch_body(p: str, single: str) -> str:
    """ns streams in groups of BATCH_STREAMS, each widened weight vector feeding every stream of
    a pass; the streams past the last whole group through the single-stream helper. Every
    output lane is the same FMA chain and epilogue as in ``single_body``."""
    P = p.upper()
    S = BATCH_STREAMS
    narrow = (f"        for (h = 0; h < {S}; h += {AVX2_BATCH_STREAMS}) {{\n            j0 = 0;\n"
              + "".join("    " + ln + "\n" for v in BATCH_PASSES
                        for ln in _pass(p, AVX2_BATCH_STREAMS, v, True, False, "h").splitlines())
              + "        }\n")
    return (f"#if {P}_I8_AVX2\n    const int n8 = (n + 7) & ~7;\n    int j0, i, g, q, v, h;\n"
            f"    for (g = 0; g + {S} <= ns; g += {S}) {{\n"
            f"        const float *xp[{S}];\n"
            f"        for (q = 0; q < {S}; q++) xp[q] = x + (long)(g + q) * xs;\n"
            + "#if defined(__AVX512F__)\n        j0 = 0;\n"
            + "".join(_pass(p, S, v, True, True) for v in WIDE_BATCH_PASSES) + _pass(p, S, 1, True)
            + "    (void)h;\n#else\n" + narrow + "#endif\n    }\n"
            f"    for (; g < ns; g++)\n"
            f"        {single}(w, s, ss, b, add ? add + (long)g * as : add, x + (long)g * xs, y + (long)g * ys, n, k);\n"
            "#else\n")
