/* The fast LTC's ODE unfolds as one C loop per sequence (forward, and the backward of
 * edgelnn.models.ltc_fast._Unfolds), so that an unfold costs its arithmetic, not ~5 (forward) and
 * ~10 (backward) tensor operations of a few microseconds each.
 *
 * States are neuron-major, (rows, B) with B contiguous; synapses are sorted by target neuron
 * (crow: CSR row pointers over the target rows, src: each synapse's source row). Per unfold:
 *   s_e    = sigmoid(sigma_e v[src_e] + nsm_e)
 *   num_j  = num_c_j + cm_j v_j + sum_{e -> j} werev_e s_e
 *   den_j  = den_c_j + sum_{e -> j} w_e s_e
 *   v'_j   = num_j / den_j
 * Compiled twice from this file: REAL float (suffix _f32) and double (_f64). */
#include <math.h>
#include <stdint.h>
#include <string.h>

#ifndef REAL
#define REAL float
#define SUFFIX(name) name##_f32
#define FLOAT_PATH 1
#endif

#if FLOAT_PATH
/* exp for float without a library call, so that the synapse loops vectorize: Cephes' expf
 * (range reduction by ln 2 split in two, degree-5 polynomial; ~1 ulp), input clamped so that
 * 2^n stays a normal float. */
static inline float SUFFIX(exp_real)(float x) {
    x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
    float n = floorf(x * 1.44269504088896341f + 0.5f);
    float r = x - n * 0.693359375f;
    r = r + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    float y = p * r * r + r + 1.0f;
    const int32_t bits = ((int32_t)n + 127) << 23;
    float two_n;
    memcpy(&two_n, &bits, sizeof two_n);
    return y * two_n;
}
#else
static inline double SUFFIX(exp_real)(double x) { return exp(x); }
#endif

static inline REAL SUFFIX(sigmoid_real)(REAL z) { return (REAL)1 / ((REAL)1 + SUFFIX(exp_real)(-z)); }

/* Forward over T steps of `unfolds` unfolds each. states (T, R, B): the state after every step.
 * With save != 0, vs (T*unfolds + 1, R, B) gets every unfold's input state (vs[0] = v0) and
 * output, ss[t] (unfolds, E, B) the synapse activations of step t's unfolds (one block a step:
 * blocks of that size come back from the heap at the next call, where one block for the sequence
 * would be fresh pages, faulted in at every training step) and dens (T*unfolds, R, B) the
 * denominators (what the backward reads); else work (2 R + 1, B) is scratch. */
void SUFFIX(ltc_forward)(int64_t T, int64_t R, int64_t B, int64_t unfolds, int save,
                         const REAL *v0, const REAL *num_c, const REAL *den_c, const REAL *cm_t,
                         const int64_t *crow, const int64_t *src,
                         const REAL *sigma, const REAL *nsm, const REAL *werev, const REAL *w,
                         REAL *states, REAL *vs, REAL *const *ss, REAL *dens, REAL *work) {
    const int64_t RB = R * B, E = crow[R];
    REAL *vin = save ? vs : work;
    memcpy(vin, v0, sizeof(REAL) * RB);
    for (int64_t i = 0; i < T * unfolds; i++) {
        const int64_t step = i / unfolds;
        REAL *vout = save ? vs + (i + 1) * RB : (vin == work ? work + RB : work);
        REAL *s_i = save ? ss[step] + (i % unfolds) * E * B : NULL;
        const REAL *nc = num_c + step * RB, *dc = den_c + step * RB, *cm = cm_t + step * RB;
        for (int64_t j = 0; j < R; j++) {
            /* the sums build up in place: the numerator in the output row, the denominator in
             * the saved one (or a scratch row) */
            REAL *restrict num = vout + j * B;
            REAL *restrict den = save ? dens + i * RB + j * B : work + 2 * RB;
            for (int64_t b = 0; b < B; b++) {
                num[b] = nc[j * B + b] + cm[j * B + b] * vin[j * B + b];
                den[b] = dc[j * B + b];
            }
            for (int64_t e = crow[j]; e < crow[j + 1]; e++) {
                const REAL *vsrc = vin + src[e] * B;
                const REAL sg = sigma[e], ns = nsm[e], we = werev[e], ww = w[e];
                if (save) {
                    REAL *restrict se = s_i + e * B;
#pragma GCC ivdep
                    for (int64_t b = 0; b < B; b++) {
                        const REAL s = SUFFIX(sigmoid_real)(sg * vsrc[b] + ns);
                        se[b] = s;
                        num[b] += we * s;
                        den[b] += ww * s;
                    }
                } else {
#pragma GCC ivdep
                    for (int64_t b = 0; b < B; b++) {
                        const REAL s = SUFFIX(sigmoid_real)(sg * vsrc[b] + ns);
                        num[b] += we * s;
                        den[b] += ww * s;
                    }
                }
            }
            for (int64_t b = 0; b < B; b++)
                num[b] /= den[b];
        }
        if ((i + 1) % unfolds == 0)
            memcpy(states + step * RB, vout, sizeof(REAL) * RB);
        vin = vout;
    }
}

/* Backward of the forward above (save != 0), given g_states (T, R, B). Writes g_v0 (R, B),
 * g_num_c, g_den_c, g_cm_t (T, R, B) and the per-synapse gradients g_sigma, g_nsm, g_werev, g_w
 * (E) summed over the batch. work: (4, R, B) + (4, E, B) scratch. */
void SUFFIX(ltc_backward)(int64_t T, int64_t R, int64_t B, int64_t unfolds,
                          const REAL *vs, const REAL *const *ss, const REAL *dens, const REAL *cm_t,
                          const int64_t *crow, const int64_t *src,
                          const REAL *sigma, const REAL *werev, const REAL *w, const REAL *g_states,
                          REAL *g_v0, REAL *g_num_c, REAL *g_den_c, REAL *g_cm_t,
                          REAL *g_sigma, REAL *g_nsm, REAL *g_werev, REAL *g_w, REAL *work) {
    const int64_t RB = R * B, E = crow[R];
    REAL *g = work, *gv = work + RB, *gnum = work + 2 * RB, *h = work + 3 * RB;
    REAL *a_werev = work + 4 * RB, *a_w = a_werev + E * B, *a_sigma = a_w + E * B, *a_nsm = a_sigma + E * B;
    memset(g, 0, sizeof(REAL) * RB);
    memset(a_werev, 0, sizeof(REAL) * 4 * E * B);
    memset(g_num_c, 0, sizeof(REAL) * T * RB);
    memset(g_den_c, 0, sizeof(REAL) * T * RB);
    memset(g_cm_t, 0, sizeof(REAL) * T * RB);
    for (int64_t i = T * unfolds - 1; i >= 0; i--) {
        const int64_t step = i / unfolds;
        if ((i + 1) % unfolds == 0)
            for (int64_t k = 0; k < RB; k++) g[k] += g_states[step * RB + k];
        const REAL *vin = vs + i * RB, *vout = vs + (i + 1) * RB, *den = dens + i * RB;
        const REAL *s_i = ss[step] + (i % unfolds) * E * B, *cm = cm_t + step * RB;
        REAL *gnc = g_num_c + step * RB, *gdc = g_den_c + step * RB, *gcm = g_cm_t + step * RB;
        for (int64_t k = 0; k < RB; k++) {
            const REAL gn = g[k] / den[k], hh = gn * vout[k];
            gnum[k] = gn;
            h[k] = hh;
            gnc[k] += gn;
            gdc[k] -= hh;
            gcm[k] += gn * vin[k];
            gv[k] = gn * cm[k];
        }
        for (int64_t j = 0; j < R; j++) {
            const REAL *gn = gnum + j * B, *hj = h + j * B;
            for (int64_t e = crow[j]; e < crow[j + 1]; e++) {
                const int64_t o = src[e] * B;
                const REAL *se = s_i + e * B, *vsrc = vin + o;
                const REAL sg = sigma[e], we = werev[e], ww = w[e];
                REAL *aw = a_werev + e * B, *an = a_w + e * B, *as = a_sigma + e * B, *am = a_nsm + e * B;
                REAL *gsrc = gv + o;
#pragma GCC ivdep
                for (int64_t b = 0; b < B; b++) {
                    const REAL s = se[b];
                    aw[b] += gn[b] * s;
                    an[b] -= hj[b] * s;
                    const REAL gz = (gn[b] * we - hj[b] * ww) * s * ((REAL)1 - s);
                    as[b] += gz * vsrc[b];
                    am[b] += gz;
                    gsrc[b] += sg * gz;
                }
            }
        }
        REAL *tmp = g; g = gv; gv = tmp;
    }
    memcpy(g_v0, g, sizeof(REAL) * RB);
    for (int64_t e = 0; e < E; e++) {
        REAL s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        for (int64_t b = 0; b < B; b++) {
            s0 += a_werev[e * B + b];
            s1 += a_w[e * B + b];
            s2 += a_sigma[e * B + b];
            s3 += a_nsm[e * B + b];
        }
        g_werev[e] = s0;
        g_w[e] = s1;
        g_sigma[e] = s2;
        g_nsm[e] = s3;
    }
}

#if FLOAT_PATH
#undef REAL
#undef SUFFIX
#undef FLOAT_PATH
#define REAL double
#define SUFFIX(name) name##_f64
#define FLOAT_PATH 0
#include __FILE__
#endif
