"""``edgelnn export --format c --package DIR``: a self-contained example project per C artifact.

``write_packages(bundle, out)`` writes ``out/<artifact stem>/`` for every C artifact of a
bundle: the artifact (.c/.h), ``golden_data.h`` (golden inputs as raw features, expected outputs
and the tolerance from the manifest), ``main.c`` (streams the raw golden samples through
``<prefix>_normalise`` and ``<prefix>_step``, the pattern to copy; prints every output and the largest difference from golden, exits 0 when within tolerance;
a regression model's outputs also in the target's units through ``<prefix>_denormalise``),
the start-up code and linker scripts edgelnn's own emulated checks use (``firmware/``), a
``Makefile`` and a ``CMakeLists.txt`` for the host and for Cortex-M4 / Cortex-M0+
(arm-none-eabi-gcc, run under qemu-system-arm), and a README on the API, state placement, ISR
use and re-entrancy. Everything builds with ``-std=c99 -Wall -Wextra -Werror -pedantic``.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from ...errors import BundleError
from ..integrity import verify_artifact
from .api import require_current_api
from .mcu import FIRMWARE, flt

MAIN = r"""/* Example: stream the golden samples, as a sensor gives them (raw features), through
 * {p}_normalise and {p}_step, and compare with PyTorch's outputs: the pattern to copy.
 * Host: printf. Bare metal (EDGELNN_BARE_METAL, see Makefile): semihosting, as under qemu. */
#include "{header}"
#include "golden_data.h"

#ifdef EDGELNN_BARE_METAL
extern int edgelnn_sh(int op, const void *arg);
static void put(const char *s) {{ edgelnn_sh(0x04, s); }}
#else
#include <stdio.h>
static void put(const char *s) {{ fputs(s, stdout); }}
#endif

static void put_int(int v)
{{
    char t[12];
    int k = 11;
    t[k] = 0;
    do {{ t[--k] = (char)('0' + v % 10); v /= 10; }} while (v > 0 && k > 0);
    put(t + k);
}}

/* A float as text without printf's float support (newlib-nano leaves it out): sign, integer
   part and 6 decimals. */
static void put_float(float v)
{{
    char buf[32];
    int n = 0, i;
    unsigned long ip, fp;
    float a;
    if (v != v) {{ put("nan"); return; }}
    if (v < 0.0f) {{ buf[n++] = '-'; v = -v; }}
    if (v > 2.0e9f) {{ put(n ? "-inf" : "inf"); return; }}
    ip = (unsigned long)v;
    a = (v - (float)ip) * 1000000.0f + 0.5f;
    fp = (unsigned long)a;
    if (fp >= 1000000ul) {{ ip += 1; fp -= 1000000ul; }}
    {{
        char t[12];
        int k = 0;
        do {{ t[k++] = (char)('0' + ip % 10ul); ip /= 10ul; }} while (ip > 0ul);
        while (k > 0) buf[n++] = t[--k];
    }}
    buf[n++] = '.';
    for (i = 5; i >= 0; i--) {{ buf[n + i] = (char)('0' + fp % 10ul); fp /= 10ul; }}
    n += 6;
    buf[n] = 0;
    put(buf);
}}

static float state[{P}_STATE_SIZE];      /* one stream's state: see README (placement) */

int main(void)
{{
    float x[{P}_INPUT_SIZE], y[{P}_OUTPUT_SIZE];{target_decl}
    float worst = 0.0f;
    int g, t, j, saturated = 0;
    for (g = 0; g < GOLDEN_G; g++) {{
        {p}_reset(state);
        for (t = 0; t < golden_len[g]; t++) {{
            const long at = (long)g * GOLDEN_T + t;
            {p}_normalise(golden_raw + at * {P}_INPUT_SIZE, x);    /* raw sensor features -> x */
            saturated += {p}_step(x, golden_dt[at], state, y);
            put("y ");
            put_int(g);
            put(" ");
            put_int(t);
            for (j = 0; j < {P}_OUTPUT_SIZE; j++) {{
                float d = y[j] - golden_y[at * {P}_OUTPUT_SIZE + j];
                if (d < 0.0f) d = -d;
                if (!(d <= worst)) worst = d;      /* NaN counts as the worst */
                put(" ");
                put_float(y[j]);
            }}
            put("\n");{target_out}
        }}
    }}
    put("max |y - golden| = ");
    put_float(worst);
    put(" (tolerance ");
    put_float(GOLDEN_TOLERANCE);
    put("), dt saturated ");
    put_int(saturated);
    put(" time(s): ");
    put(worst <= GOLDEN_TOLERANCE ? "PASS\n" : "FAIL\n");
    return worst <= GOLDEN_TOLERANCE ? 0 : 1;
}}
"""

MAKEFILE = r"""# {name}: build and run the example on this host, on Cortex-M4 (qemu mps2-an386) and on
# Cortex-M0+ (qemu microbit, a Cortex-M0 board). Plain make; CMakeLists.txt does the same.
#   make host && ./{stem}            make run-m4            make run-m0plus
STRICT   = -std=c99 -Wall -Wextra -Werror -pedantic
SRC      = {c} main.c
CC      ?= cc
ARM_CC   = arm-none-eabi-gcc
QEMU     = qemu-system-arm
M4_FLAGS = -mcpu=cortex-m4 -mthumb -mfpu=fpv4-sp-d16 -mfloat-abi=hard -DEDGELNN_FPU=1
M0_FLAGS = -mcpu=cortex-m0plus -mthumb -mfloat-abi=soft -DEDGELNN_FPU=0
BARE     = -DEDGELNN_BARE_METAL -Os -ffunction-sections -fdata-sections -nostartfiles \
           -Wl,--gc-sections --specs=nano.specs --specs=nosys.specs
QEMU_RUN = -nographic -monitor none -serial none -semihosting-config enable=on,target=native -kernel

.PHONY: all host m4 m0plus run-host run-m4 run-m0plus clean
all: host m4 m0plus

host: {stem}
{stem}: $(SRC) {h} golden_data.h
	$(CC) $(STRICT) -O2 $(SRC) -o $@ -lm

m4: {stem}-m4.elf
{stem}-m4.elf: $(SRC) {h} golden_data.h firmware/startup.c firmware/mps2-an386.ld
	$(ARM_CC) $(STRICT) $(M4_FLAGS) $(BARE) -I. $(SRC) firmware/startup.c -T firmware/mps2-an386.ld -o $@ -lm

m0plus: {stem}-m0plus.elf
{stem}-m0plus.elf: $(SRC) {h} golden_data.h firmware/startup.c firmware/microbit.ld
	$(ARM_CC) $(STRICT) $(M0_FLAGS) $(BARE) -I. $(SRC) firmware/startup.c -T firmware/microbit.ld -o $@ -lm

run-host: {stem}
	./{stem}
run-m4: {stem}-m4.elf
	$(QEMU) -M mps2-an386 $(QEMU_RUN) $<
run-m0plus: {stem}-m0plus.elf
	$(QEMU) -M microbit $(QEMU_RUN) $<

clean:
	rm -f {stem} {stem}-m4.elf {stem}-m0plus.elf
"""

CMAKE = r"""# {name}: host build by default; for a Cortex-M:
#   cmake -S . -B build-m4 -DCMAKE_TOOLCHAIN_FILE=firmware/arm-none-eabi.cmake -DEDGELNN_CORE=cortex-m4
#   (or -DEDGELNN_CORE=cortex-m0plus); then cmake --build build-m4 and run the .elf under qemu.
cmake_minimum_required(VERSION 3.13)
project({stem} C)
set(CMAKE_C_STANDARD 99)
set(CMAKE_C_STANDARD_REQUIRED ON)
set(CMAKE_C_EXTENSIONS OFF)
add_compile_options(-Wall -Wextra -Werror -pedantic)
set(EDGELNN_CORE "host" CACHE STRING "host, cortex-m4 or cortex-m0plus")
if(EDGELNN_CORE STREQUAL "host")
  add_executable({stem} {c} main.c)
  target_link_libraries({stem} m)
else()
  if(EDGELNN_CORE STREQUAL "cortex-m4")
    set(FLAGS -mcpu=cortex-m4 -mthumb -mfpu=fpv4-sp-d16 -mfloat-abi=hard -DEDGELNN_FPU=1)
    set(LD ${{CMAKE_CURRENT_SOURCE_DIR}}/firmware/mps2-an386.ld)
  else()
    set(FLAGS -mcpu=cortex-m0plus -mthumb -mfloat-abi=soft -DEDGELNN_FPU=0)
    set(LD ${{CMAKE_CURRENT_SOURCE_DIR}}/firmware/microbit.ld)
  endif()
  add_executable({stem}-${{EDGELNN_CORE}}.elf {c} main.c firmware/startup.c)
  target_compile_options({stem}-${{EDGELNN_CORE}}.elf PRIVATE ${{FLAGS}} -DEDGELNN_BARE_METAL -Os
                         -ffunction-sections -fdata-sections)
  target_link_options({stem}-${{EDGELNN_CORE}}.elf PRIVATE ${{FLAGS}} -nostartfiles -T ${{LD}}
                      -Wl,--gc-sections --specs=nano.specs --specs=nosys.specs)
  target_link_libraries({stem}-${{EDGELNN_CORE}}.elf m)
endif()
"""

TOOLCHAIN = r"""# CMake toolchain file for arm-none-eabi-gcc (bare metal: no OS, static executables)
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR arm)
set(CMAKE_C_COMPILER arm-none-eabi-gcc)
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)
"""

README = """# {stem}: example project for `{c}`

Generated by `edgelnn export --format c --package` from bundle `{bundle}` (model {kind},
scheme `{scheme}`). Everything here builds with `-std=c99 -Wall -Wextra -Werror -pedantic`.

| file | what it is |
| --- | --- |
| `{c}`, `{h}` | the artifact (sha256 `{sha}` as in the bundle's manifest) |
| `golden_data.h` | {n_seq} golden sequences: raw features, dt, PyTorch's outputs, the tolerance ({tol:.3g}) |
| `main.c` | streams the raw golden samples through `{p}_normalise` and `{p}_step` (the pattern to copy), prints every output, exits 0 when all are within tolerance |
| `Makefile`, `CMakeLists.txt` | host, Cortex-M4 (`mps2-an386`) and Cortex-M0+ (`microbit`) builds |
| `firmware/startup.c`, `firmware/*.ld` | the start-up code and linker scripts edgelnn's own emulated checks use |

```
make run-host          # cc, runs natively
make run-m4            # arm-none-eabi-gcc, runs under qemu-system-arm -M mps2-an386
make run-m0plus        # Cortex-M0+ code on qemu's micro:bit (a Cortex-M0)
```

## The API (see `{h}`)

- `{p}_reset(state)`, then per sample `{p}_step(x, dt, state, y)`; `{p}_run` for n samples.
- `x` is the normalised feature vector: `{p}_normalise(raw, x)` applies the training data's
  mean/std (`{P}_NORM_MEAN` / `{P}_NORM_STD`; `{P}_NORMALISED` is 0 when the model takes raw features).
- `dt` is the time since the previous sample, in the training data's time units. The artifact
  represents dt in `[{P}_DT_MIN, {P}_DT_MAX]` ({dt_range}); `{p}_step` / `{p}_run` return the
  number of samples whose dt lay outside and was saturated to that range (0: all represented).
  Check it: a sensor gap longer than `{P}_DT_MAX` is not what the model was validated on.
- Outputs: {outputs}.
- `{P}_MAX_ABS_ERROR` is the largest difference from PyTorch the export's parity gate measured
  (whole rollouts, including dt gaps of 50x and 100x the median dt).

## Where the state lives

The state is `{P}_STATE_SIZE` values ({state_bytes} B{q_state}) owned by the caller; the artifact has
no mutable globals and never allocates. Put it where its lifetime belongs:
- a `static` array (`.bss`), as `main.c` does, for one stream that lives as long as the program;
- retention RAM / a `.noinit` section when the model must keep its memory across a low-power
  sleep or a warm reset (then call `{p}_reset` only on a cold start);
- one state per stream (per sensor, per channel): the same code serves any number of streams.

## Interrupts and re-entrancy

`{p}_step` is re-entrant: it touches only its arguments and its stack (worst case in the
manifest's `footprint.mcu.<core>.stack_bytes`), reads constant tables from flash, and has no
data-dependent allocation, so it may run in an interrupt handler or an RTOS task. Two contexts
must never step the *same* state concurrently (no locking inside); give each its own state, or
step in one context and hand the outputs over. On a core with an FPU, an ISR that calls the
float API needs the FPU context saved (lazy stacking, the Cortex-M4 default). Its run time per
step is data-independent up to branch outcomes: budget with `edgelnn bench --target cortex-m4`
(instructions and estimated cycles per step).
"""


# A regression model's outputs in the target's units (main.c, where the header declares
# <prefix>_denormalise): one "target g t v..." line after each "y g t v..." line.
TARGET_DECL = "\n    float target[{P}_OUTPUT_SIZE];    /* y in the target's units */"
TARGET_OUT = """
            {p}_denormalise(y, target);             /* model output -> target units */
            put("target ");
            put_int(g);
            put(" ");
            put_int(t);
            for (j = 0; j < {P}_OUTPUT_SIZE; j++) {{
                put(" ");
                put_float(target[j]);
            }}
            put("\\n");"""


def raw_inputs(x, header: str, P: str) -> np.ndarray:
    """The golden inputs as a sensor gives them: x * std + mean with the header's statistics
    (float64, rounded to float32); x itself when the model takes raw features."""
    import re

    x = np.asarray(x, np.float32)
    if not re.search(rf"#define {P}_NORMALISED 1\b", header):
        return x.copy()
    mean, std = (np.float32([float(v.strip().rstrip("f")) for v in      # the C constants (float32)
                             re.search(rf"#define {P}_NORM_{k} \{{([^}}]*)\}}", header).group(1).split(",")])
                 .astype(np.float64) for k in ("MEAN", "STD"))
    return (x.astype(np.float64) * std + mean).astype(np.float32)


def _golden_header(raw, dt, lengths, y, n_in: int, n_out: int, tol: float) -> str:
    g, t = dt.shape
    def arr(a):
        return ", ".join(flt(v) for v in np.asarray(a, np.float32).reshape(-1))
    return ("/* golden samples from the bundle's golden.npz: raw features (what <prefix>_normalise takes),\n"
            "   dt, and PyTorch's outputs */\n"
            f"#define GOLDEN_G {g}\n#define GOLDEN_T {t}\n#define GOLDEN_TOLERANCE {flt(tol)}\n"
            f"static const int golden_len[{g}] = {{{', '.join(str(int(v)) for v in lengths)}}};\n"
            f"static const float golden_raw[{g * t * n_in}] = {{{arr(raw)}}};\n"
            f"static const float golden_dt[{g * t}] = {{{arr(dt)}}};\n"
            f"static const float golden_y[{g * t * n_out}] = {{{arr(y[:, :t, :n_out])}}};\n")


def write_package(bundle, entry: dict, out: Path) -> Path:
    """The example project of one C artifact of ``bundle`` (``edgelnn.runtime.Bundle``) at ``out``."""
    import re

    used = verify_artifact(bundle.path, entry)        # every file that is compiled, sha256 checked
    src = used[0]
    header = next(p for p in used[1:] if p.suffix == ".h")
    prefix = entry["c_prefix"]
    require_current_api(header.read_text(errors="replace"), prefix, src.name)
    P = prefix.upper()
    out.mkdir(parents=True, exist_ok=True)
    (out / "firmware").mkdir(exist_ok=True)
    shutil.copyfile(src, out / src.name)
    shutil.copyfile(header, out / header.name)
    for f in ("startup.c", "mps2-an386.ld", "microbit.ld"):
        shutil.copyfile(FIRMWARE / f, out / "firmware" / f)
    (out / "firmware" / "arm-none-eabi.cmake").write_text(TOOLCHAIN)
    text = header.read_text()
    n_in = int(re.search(rf"#define {P}_INPUT_SIZE (\d+)", text).group(1))
    n_out = int(re.search(rf"#define {P}_OUTPUT_SIZE (\d+)", text).group(1))
    n_state = int(re.search(rf"#define {P}_STATE_SIZE (\d+)", text).group(1))
    golden = bundle.golden()
    tol = float((entry.get("golden") or {}).get("tolerance") or 0.0)
    (out / "golden_data.h").write_text(_golden_header(raw_inputs(golden.x, text, P), golden.dt, golden.lengths,
                                                      golden.y, n_in, n_out, tol))
    denorm = bool(re.search(rf"\b{prefix}_denormalise\s*\(", text))
    (out / "main.c").write_text(MAIN.format(
        p=prefix, P=P, header=header.name, target_decl=TARGET_DECL.format(P=P) if denorm else "",
        target_out=TARGET_OUT.format(p=prefix, P=P) if denorm else ""))
    stem = src.name[:-2].replace(".", "_")
    fmt = {"name": src.name, "stem": stem, "c": src.name, "h": header.name}
    (out / "Makefile").write_text(MAKEFILE.format(**fmt))
    (out / "CMakeLists.txt").write_text(CMAKE.format(**fmt))
    dt_min = re.search(rf"#define {P}_DT_MIN (\S+)", text).group(1)
    dt_max = re.search(rf"#define {P}_DT_MAX (\S+)", text).group(1)
    out_doc = re.search(rf"#define {P}_OUTPUT_SIZE \d+\s+/\* (.*?) \*/", text)
    q = f"; the integer API's int16 state: {n_state * 2} B" if f"{prefix}_step_q" in text else ""
    (out / "README.md").write_text(README.format(
        stem=stem, c=src.name, h=header.name, bundle=bundle.name, kind=bundle.model.get("kind", "?"),
        scheme=entry.get("scheme"), sha=entry["sha256"][:16] + "...", n_seq=len(golden.lengths), tol=tol,
        p=prefix, P=P, dt_range=f"{dt_min} .. {dt_max}",
        outputs=(out_doc.group(1) if out_doc else "see the header")
        + (f"; `{prefix}_denormalise(y, target)` turns them into the target's units (main.c prints both)"
           if denorm else ""),
        state_bytes=n_state * 4, q_state=q))
    return out


def write_packages(bundle_path, out, artifacts: list[str] | None = None) -> list[Path]:
    """Example projects of every C artifact of the bundle (or the named ones) under ``out``."""
    from ..bundle import load_bundle

    bundle = load_bundle(bundle_path)
    entries = [e for e in bundle.artifacts if e.get("format") == "c"
               and (not artifacts or e["file"] in artifacts)]
    if not entries:
        raise BundleError(f"bundle {bundle.name} has no C artifact to package (export with --format c)")
    out = Path(out)
    return [write_package(bundle, e, out / e["file"][:-2].replace(".", "_")) for e in entries]


__all__ = ["write_package", "write_packages"]
