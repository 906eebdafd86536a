"""The math the generated C uses instead of libm where libm is slow, with its measured error.

tanh: Eigen's rational approximation (``generic_fast_tanh_float``: x·P(x²)/Q(x²), degree
13/6, input clamped to ±7.905); sigmoid(x) = 0.5 + 0.5·tanh(x/2). ``expf`` and ``logf`` come
from <math.h>. The errors below were measured against double-precision tanh / sigmoid over
every float32 in [-20, 20] (2.1e9 values) by ``measure_errors()`` (a compiled C sweep);
``tests/test_c_backend.py`` re-measures them on a 4M-point grid and fails if they grow.
"""
from __future__ import annotations

# max |approx - exact| over all float32 in [-20, 20], measured (see module doc)
TANH_MAX_ABS_ERROR = 4.1e-7
SIGMOID_MAX_ABS_ERROR = 2.3e-7

TANH_COEFFS = {
    "a1": "4.89352455891786e-03f", "a3": "6.37261928875436e-04f", "a5": "1.48572235717979e-05f",
    "a7": "5.12229709037114e-08f", "a9": "-8.60467152213735e-11f", "a11": "2.00018790482477e-13f",
    "a13": "-2.76076847742355e-16f", "b0": "4.89352518554385e-03f", "b2": "2.26843463243900e-03f",
    "b4": "1.18534705686654e-04f", "b6": "1.19825839466702e-06f",
}


def tanh_c(p: str) -> str:
    c = TANH_COEFFS
    return f"""/* tanh: rational approximation (Eigen), max abs error {TANH_MAX_ABS_ERROR:.1e} (measured) */
static float {p}_tanh(float x)
{{
    float x2, num, den;
    if (x > 7.90531110763549805f) x = 7.90531110763549805f;
    if (x < -7.90531110763549805f) x = -7.90531110763549805f;
    x2 = x * x;
    num = x2 * {c['a13']} + {c['a11']};
    num = x2 * num + {c['a9']};
    num = x2 * num + {c['a7']};
    num = x2 * num + {c['a5']};
    num = x2 * num + {c['a3']};
    num = x2 * num + {c['a1']};
    num = x * num;
    den = x2 * {c['b6']} + {c['b4']};
    den = x2 * den + {c['b2']};
    den = x2 * den + {c['b0']};
    return num / den;
}}
"""


def sigmoid_c(p: str) -> str:
    return f"""/* sigmoid(x) = 0.5 + 0.5 tanh(x / 2), max abs error {SIGMOID_MAX_ABS_ERROR:.1e} (measured) */
static float {p}_sigmoid(float x)
{{
    return 0.5f + 0.5f * {p}_tanh(0.5f * x);
}}
"""


SWEEP_C = r"""
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <stdint.h>
%(funcs)s
static float from_bits(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
int main(int argc, char **argv)
{
    double lo = -20.0, hi = 20.0, et = 0.0, es = 0.0;
    long step = argc > 1 ? atol(argv[1]) : 1;
    uint32_t u;
    (void)argv;
    /* positive floats up to hi, then their negatives */
    for (u = 0; ; u += (uint32_t)step) {
        float x = from_bits(u);
        if (!(x <= (float)hi)) break;
        {
            int s;
            for (s = 0; s < 2; s++) {
                float v = s ? -x : x;
                double t = fabs((double)t_tanh(v) - tanh((double)v));
                double g = fabs((double)t_sigmoid(v) - 1.0 / (1.0 + exp(-(double)v)));
                if (t > et) et = t;
                if (g > es) es = g;
            }
        }
        if (u > 0xFFFFFFFFu - (uint32_t)step) break;
    }
    (void)lo;
    printf("%%.3e %%.3e\n", et, es);
    return 0;
}
"""


def measure_errors(cc: str = "cc", step: int = 1, flags: tuple[str, ...] = ("-O2",)) -> tuple[float, float]:
    """Compile and run the sweep: (max tanh error, max sigmoid error). ``step`` > 1 samples."""
    import subprocess
    import tempfile
    from pathlib import Path

    funcs = tanh_c("t") + sigmoid_c("t")
    src = SWEEP_C % {"funcs": funcs}
    src = "#include <stdlib.h>\n" + src
    with tempfile.TemporaryDirectory() as tmp:
        c, exe = Path(tmp) / "sweep.c", Path(tmp) / "sweep"
        c.write_text(src)
        subprocess.run([cc, *flags, "-o", str(exe), str(c), "-lm"], check=True, capture_output=True)
        out = subprocess.run([str(exe), str(step)], check=True, capture_output=True, text=True).stdout
    t, s = (float(v) for v in out.split())
    return t, s
