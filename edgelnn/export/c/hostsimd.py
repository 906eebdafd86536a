"""int8-weight dense products on x86-64 hosts with AVX2 + FMA: C text for the emitter.

Plain C leaves them 3-4x slower than the fp32 kernels there: gcc vectorizes a row's int8 dot
product 32 weights wide (2 iterations at k = 64, a long scalar tail at k = 70) and widens the
bytes through three shuffles per 8. These read 8 weights at a time straight into 8 floats
(vpmovsxbd + vcvtdq2ps), keep 8 rows (one stream) or 4 rows x 4 streams of accumulators in
registers, and reduce each accumulator with the same add tree, so a stream's result does not
depend on the batch it ran in. The per-row scale is applied once per output, as in the plain
kernel. The weights keep their row-major layout (the microcontroller kernels read the same
arrays); every other build compiles the plain C kernel (``#else``), unchanged.
"""
from __future__ import annotations


def macro(P: str) -> str:
    """``<P>_I8_AVX2``: 1 where the compiler targets AVX2 and FMA (the host build's
    -march=native on a recent x86-64), else 0; a build may set it to 0."""
    return (f"/* int8 weights on x86-64 with AVX2 + FMA: 8 weights widened to floats per load (hostsimd). */\n"
            f"#ifndef {P}_I8_AVX2\n#if defined(__AVX2__) && defined(__FMA__) && (defined(__x86_64__) || defined(_M_X64))\n"
            f"#define {P}_I8_AVX2 1\n#else\n#define {P}_I8_AVX2 0\n#endif\n#endif\n"
            f"#if {P}_I8_AVX2\n#include <immintrin.h>\n#endif\n")


def helpers(p: str) -> str:
    """Load 8 int8 weights as floats; reduce 8 accumulators to their 8 sums (one add tree)."""
    P = p.upper()
    return f"""#if {P}_I8_AVX2
static __m256 {p}_i8x8(const int8_t *q)
{{
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)q)));
}}

/* lane j of the result = the sum of the 8 lanes of a[j] */
static __m256 {p}_sum8(const __m256 *a)
{{
    const __m256 t0 = _mm256_hadd_ps(a[0], a[1]), t1 = _mm256_hadd_ps(a[2], a[3]);
    const __m256 t2 = _mm256_hadd_ps(a[4], a[5]), t3 = _mm256_hadd_ps(a[6], a[7]);
    const __m256 u0 = _mm256_hadd_ps(t0, t1), u1 = _mm256_hadd_ps(t2, t3);
    return _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20), _mm256_permute2f128_ps(u0, u1, 0x31));
}}

/* x's entries from the last whole 8 (kt) to k in the top lanes of an 8-lane window ending at k,
   zeros below: the window's weights (in bounds, k >= 8) are read once, those below kt count 0 */
static __m256 {p}_xtail(const float *x, int kt, int k)
{{
    float t[8];
    int l;
    for (l = 0; l < 8; l++) t[l] = k - 8 + l >= kt ? x[k - 8 + l] : 0.0f;
    return _mm256_loadu_ps(t);
}}
#endif
"""


def _rows(p: str, m: int) -> str:
    """One pass over ``m`` rows (8 or 4: a constant trip count keeps the accumulators in registers)."""
    return f"""    for (; k >= 8 && j + {m} <= n; j += {m}) {{
        const int8_t *wj = w + (long)j * k;
        __m256 a[8];
        float out[8];
        for (r = 0; r < 8; r++) a[r] = _mm256_setzero_ps();
        for (i = 0; i < kt; i += 8) {{
            const __m256 xv = _mm256_loadu_ps(x + i);
            for (r = 0; r < {m}; r++) a[r] = _mm256_fmadd_ps({p}_i8x8(wj + (long)r * k + i), xv, a[r]);
        }}
        if (kt < k)
            for (r = 0; r < {m}; r++) a[r] = _mm256_fmadd_ps({p}_i8x8(wj + (long)r * k + k - 8), xt, a[r]);
        _mm256_storeu_ps(out, {p}_sum8(a));
        for (r = 0; r < {m}; r += 4) {{
            __m128 v = _mm_mul_ps(_mm_loadu_ps(out + r), ss ? _mm_loadu_ps(s + j + r) : _mm_set1_ps(s[0]));
            if (b) v = _mm_add_ps(v, _mm_loadu_ps(b + j + r));
            if (add) v = _mm_add_ps(v, _mm_loadu_ps(add + j + r));
            _mm_storeu_ps(y + j + r, v);
        }}
    }}
"""


def single_body(p: str) -> str:
    """One stream: 8 rows per pass (8 accumulators), then 4 (the batched kernel's block), each
    output through the same add tree and the same epilogue (4 outputs at a time) as
    ``batch_body``; the rows past the last 4, and k < 8, in plain C."""
    P = p.upper()
    return f"""#if {P}_I8_AVX2
    int j = 0, i, r;
    const int kt = k & ~7;
    const __m256 xt = kt < k && k >= 8 ? {p}_xtail(x, kt, k) : _mm256_setzero_ps();
{_rows(p, 8)}{_rows(p, 4)}    for (; j < n; j++) {{
        const int8_t *wj = w + (long)j * k;
        float acc = 0.0f;
        for (i = 0; i < k; i++) acc += (float)wj[i] * x[i];
        acc *= s[j * ss];
        if (b) acc += b[j];
        if (add) acc += add[j];
        y[j] = acc;
    }}
#else
"""


def batch_body(p: str) -> str:
    """ns streams: 4 rows x 4 streams per pass (each weight widened once, used 4 times), the same
    add tree per output as ``single_body``; leftover rows, and k < 8, in plain C."""
    P = p.upper()
    return f"""#if {P}_I8_AVX2
    int j, i, r, g, q;
    const int kt = k & ~7;
    for (g = 0; g < ns; g += 4) {{
        const float *xp[4];
        __m256 xt[4];
        for (q = 0; q < 4; q++) {{      /* past the last stream: repeat stream g, never stored */
            xp[q] = x + (long)(g + q < ns ? g + q : g) * xs;
            xt[q] = kt < k && k >= 8 ? {p}_xtail(xp[q], kt, k) : _mm256_setzero_ps();
        }}
        for (j = 0; k >= 8 && j + 4 <= n; j += 4) {{
            const int8_t *wj = w + (long)j * k;
            __m256 a[16];               /* a[4 q + r]: stream g + q, row j + r */
            float out[16];
            for (r = 0; r < 16; r++) a[r] = _mm256_setzero_ps();
            for (i = 0; i < kt; i += 8) {{
                const __m256 w0 = {p}_i8x8(wj + i), w1 = {p}_i8x8(wj + k + i);
                const __m256 w2 = {p}_i8x8(wj + 2 * (long)k + i), w3 = {p}_i8x8(wj + 3 * (long)k + i);
                for (q = 0; q < 4; q++) {{
                    const __m256 xv = _mm256_loadu_ps(xp[q] + i);
                    a[4 * q] = _mm256_fmadd_ps(w0, xv, a[4 * q]);
                    a[4 * q + 1] = _mm256_fmadd_ps(w1, xv, a[4 * q + 1]);
                    a[4 * q + 2] = _mm256_fmadd_ps(w2, xv, a[4 * q + 2]);
                    a[4 * q + 3] = _mm256_fmadd_ps(w3, xv, a[4 * q + 3]);
                }}
            }}
            if (kt < k) {{
                const __m256 w0 = {p}_i8x8(wj + k - 8), w1 = {p}_i8x8(wj + 2 * (long)k - 8);
                const __m256 w2 = {p}_i8x8(wj + 3 * (long)k - 8), w3 = {p}_i8x8(wj + 4 * (long)k - 8);
                for (q = 0; q < 4; q++) {{
                    a[4 * q] = _mm256_fmadd_ps(w0, xt[q], a[4 * q]);
                    a[4 * q + 1] = _mm256_fmadd_ps(w1, xt[q], a[4 * q + 1]);
                    a[4 * q + 2] = _mm256_fmadd_ps(w2, xt[q], a[4 * q + 2]);
                    a[4 * q + 3] = _mm256_fmadd_ps(w3, xt[q], a[4 * q + 3]);
                }}
            }}
            _mm256_storeu_ps(out, {p}_sum8(a));
            _mm256_storeu_ps(out + 8, {p}_sum8(a + 8));
            for (q = 0; q < 4 && g + q < ns; q++) {{
                __m128 v = _mm_mul_ps(_mm_loadu_ps(out + 4 * q), ss ? _mm_loadu_ps(s + j) : _mm_set1_ps(s[0]));
                if (b) v = _mm_add_ps(v, _mm_loadu_ps(b + j));
                if (add) v = _mm_add_ps(v, _mm_loadu_ps(add + (long)(g + q) * as + j));
                _mm_storeu_ps(y + (long)(g + q) * ys + j, v);
            }}
        }}
        for (; j < n; j++)
            for (q = 0; q < 4 && g + q < ns; q++) {{
                const int8_t *wj = w + (long)j * k;
                float acc = 0.0f;
                for (i = 0; i < k; i++) acc += (float)wj[i] * xp[q][i];
                acc *= s[j * ss];
                if (b) acc += b[j];
                if (add) acc += add[(long)(g + q) * as + j];
                y[(long)(g + q) * ys + j] = acc;
            }}
    }}
#else
"""
