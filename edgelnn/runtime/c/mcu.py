"""Microcontroller figures and the golden check on an emulated board, for one C artifact.

- ``figures(c_file, header, prefix, core)``: cross-compiles with arm-none-eabi-gcc for ``core``
  and returns flash (text + rodata + data image), static RAM (data + bss), worst-case stack
  and state bytes. Flash and RAM are what the artifact adds to a program: the same minimal
  program is linked once with the artifact and once with an empty stub of its API, and the
  difference is taken (library code it pulls in, e.g. ``expf``, counts). The worst-case stack
  sums ``-fstack-usage`` frames along the deepest call chain of ``-fcallgraph-info``; library
  functions (no .su) are sized from their prologues in the linked ELF.
- ``golden_on_emulator(...)``: a bare-metal program replays golden inputs on
  ``qemu-system-arm`` (semihosting prints each output's bits); returns the outputs and the
  stack the artifact really used (painted stack).

Standard library + numpy; needs gcc-arm-none-eabi, libnewlib-arm-none-eabi, qemu-system-arm.
"""
from __future__ import annotations

import re
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ...errors import RuntimeMissingError
from .toolchain import (CROSS_CC, QEMU, QEMU_HINT, CompileError, compiler_version, first_error,
                        require_cross, run)

STRICT = ("-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic")
MCU_FLAGS = ("-ffunction-sections", "-fdata-sections")


@dataclass(frozen=True)
class Core:
    """How to build for one microcontroller class (from a target profile's [mcu] table)."""
    name: str
    cflags: tuple[str, ...]                 # -mcpu/-mfpu/-mfloat-abi/-mthumb
    opt: str = "-Os"
    fpu: bool = True
    emulator: str | None = None             # qemu-system-arm -M machine for the golden check
    emu_flash_kb: int = 4096                # memory map of the emulated board
    emu_ram_kb: int = 4096
    stack_kb: int = 8                       # stack reserved by the harness (painted)
    flash_kb: int | None = None             # a reference part's budget (for "fits")
    ram_kb: int | None = None


CORTEX_M4 = Core("cortex-m4", ("-mcpu=cortex-m4", "-mthumb", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard"),
                 fpu=True, emulator="mps2-an386")
CORTEX_M0PLUS = Core("cortex-m0plus", ("-mcpu=cortex-m0plus", "-mthumb", "-mfloat-abi=soft"), fpu=False,
                     emulator="microbit", emu_flash_kb=256, emu_ram_kb=16, stack_kb=4)


@dataclass
class Figures:
    core: str
    flash_bytes: int            # text + rodata + data image the artifact adds
    text_bytes: int
    rodata_bytes: int
    ram_static_bytes: int       # data + bss the artifact adds (0: no globals)
    stack_bytes: int            # worst-case, deepest API entry (step or run)
    state_bytes: int            # caller-owned state of the float API
    stack_by_entry: dict = field(default_factory=dict)
    stack_note: str = ""
    cflags: list = field(default_factory=list)
    toolchain: str = ""
    integer_api: dict | None = None   # int16-fixed: the <p>_step_q API alone (flash, stack, state)

    def to_dict(self) -> dict:
        return asdict(self)


# -- the bare-metal harness ---------------------------------------------------------------------

FIRMWARE = Path(__file__).with_name("firmware")     # start-up code and linker scripts (package data)


def startup_source() -> str:
    """Minimal Cortex-M start-up: vector table, .data/.bss init, FPU on, main, semihosting exit."""
    return (FIRMWARE / "startup.c").read_text()


def linker_script(core: Core) -> str:
    """The board's linker script (firmware/<emulator>.ld) with the core's memory map and stack."""
    text = (FIRMWARE / f"{core.emulator or 'mps2-an386'}.ld").read_text()
    text = re.sub(r"(FLASH \(rx\) : ORIGIN = 0x00000000, LENGTH = )\d+K", rf"\g<1>{core.emu_flash_kb}K", text)
    text = re.sub(r"(RAM \(rwx\) : ORIGIN = 0x20000000, LENGTH = )\d+K", rf"\g<1>{core.emu_ram_kb}K", text)
    return re.sub(r"(_sstack = _estack - )\d+K;", rf"\g<1>{core.stack_kb}K;", text)


SIZE_MAIN = r"""#include "{header}"
/* references every entry point so the linker keeps them; the stub build has the same body */
static float st[{P}_STATE_SIZE], xs[2 * {P}_INPUT_SIZE], dts[2], ys[2 * {P}_OUTPUT_SIZE];
volatile float edgelnn_sink;
int main(void)
{{
    {p}_reset(st);
    {p}_step(xs, 1.0f, st, ys);
    {p}_run(xs, dts, 2, st, ys);
    edgelnn_sink = ys[0];
    return 0;
}}
"""

SIZE_Q_MAIN = r"""#include "{header}"
/* the integer API only: what an FPU-less core links */
static int16_t st[{P}_STATE_SIZE], xs[2 * {P}_INPUT_SIZE], ys[2 * {P}_OUTPUT_SIZE];
static int32_t dts[2];
volatile int16_t edgelnn_sink;
int main(void)
{{
    {p}_reset_q(st);
    {p}_step_q(xs, 1, st, ys);
    {p}_run_q(xs, dts, 2, st, ys);
    edgelnn_sink = ys[0];
    return 0;
}}
"""

STUB = r"""#include "{header}"
void {p}_reset(float *state) {{ (void)state; }}
int {p}_step(const float *x, float dt, float *state, float *y) {{ (void)x; (void)dt; (void)state; (void)y; return 0; }}
int {p}_run(const float *x, const float *dt, int n, float *state, float *y)
{{ (void)x; (void)dt; (void)n; (void)state; (void)y; return 0; }}
"""

GOLDEN_MAIN = r"""#include <stdint.h>
#include <string.h>
#include "{header}"
#include "golden_data.h"
extern int edgelnn_sh(int op, const void *arg);
extern uint32_t _sstack;
static float state[{P}_STATE_SIZE];
static float out[GOLDEN_T * {P}_OUTPUT_SIZE];
static char line[16 + 9 * {P}_OUTPUT_SIZE];
static void hex(char *p, float v)
{{
    uint32_t u;
    int i;
    memcpy(&u, &v, 4);
    for (i = 7; i >= 0; i--) {{ p[i] = "0123456789abcdef"[u & 15u]; u >>= 4; }}
}}
static void put_int(char *buf, int *pos, int v)
{{
    char tmp[12];
    int n = 0;
    do {{ tmp[n++] = (char)('0' + v % 10); v /= 10; }} while (v > 0);
    while (n > 0) buf[(*pos)++] = tmp[--n];
}}
static uint32_t __attribute__((noinline)) paint(void)
{{
    uint32_t here = (uint32_t)__builtin_frame_address(0);
    uint32_t *p = &_sstack;
    while ((uint32_t)p < here - 64u) *p++ = 0xA5A5A5A5u;
    return here - 64u;
}}
static uint32_t used_below(uint32_t top)
{{
    uint32_t *p = &_sstack;
    while ((uint32_t)p < top && *p == 0xA5A5A5A5u) p++;
    return top - (uint32_t)p;
}}
int main(void)
{{
    int g, t, j;
    uint32_t worst = 0;
    for (g = 0; g < GOLDEN_G; g++) {{
        uint32_t top, used;
        {p}_reset(state);
        top = paint();
        for (t = 0; t < golden_len[g]; t++)
            {p}_step(golden_x + ((long)g * GOLDEN_T + t) * {P}_INPUT_SIZE, golden_dt[(long)g * GOLDEN_T + t],
                     state, out + (long)t * {P}_OUTPUT_SIZE);
        used = used_below(top);
        if (used > worst) worst = used;
        for (t = 0; t < golden_len[g]; t++) {{
            int pos = 0;
            line[pos++] = 'Y'; line[pos++] = ' ';
            put_int(line, &pos, g); line[pos++] = ' ';
            put_int(line, &pos, t);
            for (j = 0; j < {P}_OUTPUT_SIZE; j++) {{
                line[pos++] = ' ';
                hex(line + pos, out[(long)t * {P}_OUTPUT_SIZE + j]);
                pos += 8;
            }}
            line[pos++] = '\n'; line[pos] = 0;
            edgelnn_sh(0x04, line);
        }}
    }}
    {{
        int pos = 0;
        memcpy(line, "STACK ", 6); pos = 6;
        put_int(line, &pos, (int)worst);
        line[pos++] = '\n'; line[pos] = 0;
        edgelnn_sh(0x04, line);
    }}
    return 0;
}}
"""


def flt(v: float) -> str:
    """A float32 as a C literal that reads back exactly."""
    s = "%.9g" % float(np.float32(v))
    return (s if any(ch in s for ch in ".en") else s + ".0") + "f"


def _golden_data(x, dt, lengths, n_in) -> str:
    g, t = dt.shape
    xs = ", ".join(flt(v) for v in np.asarray(x, np.float32).reshape(-1))
    ds = ", ".join(flt(v) for v in np.asarray(dt, np.float32).reshape(-1))
    ls = ", ".join(str(int(v)) for v in lengths)
    return (f"#define GOLDEN_G {g}\n#define GOLDEN_T {t}\n"
            f"static const int golden_len[{g}] = {{{ls}}};\n"
            f"static const float golden_x[{g * t * n_in}] = {{{xs}}};\n"
            f"static const float golden_dt[{g * t}] = {{{ds}}};\n")


class _Build:
    """One temp folder: artifact copied in, objects and ELFs built for one core."""

    def __init__(self, c_file: Path, header: Path, prefix: str, core: Core):
        self.cc = require_cross()
        self.core, self.prefix = core, prefix
        self.dir = Path(tempfile.mkdtemp(prefix="edgelnn-mcu-"))
        self.c = self.dir / c_file.name
        self.h = self.dir / header.name
        shutil.copyfile(c_file, self.c)
        shutil.copyfile(header, self.h)
        (self.dir / "startup.c").write_text(startup_source())
        (self.dir / "link.ld").write_text(linker_script(core))

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def flags(self) -> list[str]:
        return [*self.core.cflags, self.core.opt, *MCU_FLAGS]

    def compile(self, src: Path, obj: str, strict: bool = True, extra: tuple = ()) -> Path:
        out = self.dir / obj
        argv = [self.cc, *(STRICT if strict else ("-std=gnu99",)), *self.flags, *extra,
                f"-DEDGELNN_FPU={1 if self.core.fpu else 0}", "-I", str(self.dir), "-c", str(src), "-o", str(out)]
        proc = run(argv, cwd=self.dir)
        if proc.returncode != 0:
            raise CompileError(f"{CROSS_CC} ({self.core.name}) failed on {src.name}: {first_error(proc.stderr)}")
        return out

    def link(self, objs: list[Path], elf: str) -> Path:
        out = self.dir / elf
        argv = [self.cc, *self.core.cflags, "-nostartfiles", "-T", str(self.dir / "link.ld"),
                "-Wl,--gc-sections", "--specs=nano.specs", "--specs=nosys.specs",
                "-Wl,-Map=" + str(out.with_suffix(".map")), *map(str, objs), "-o", str(out), "-lm"]
        proc = run(argv, cwd=self.dir)
        if proc.returncode != 0:
            raise CompileError(f"{CROSS_CC} ({self.core.name}) link failed: {first_error(proc.stderr)}")
        return out

    def sections(self, elf: Path) -> dict[str, int]:
        size = shutil.which("arm-none-eabi-size") or "arm-none-eabi-size"
        proc = run([size, "-A", str(elf)])
        out = {}
        for line in proc.stdout.splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0].startswith(".") and parts[1].isdigit():
                out[parts[0]] = int(parts[1])
        return out


def _flash_ram(sec: dict[str, int]) -> tuple[int, int, int, int, int]:
    text = sec.get(".text", 0) + sec.get(".isr_vector", 0)
    rodata = sec.get(".rodata", 0) + sec.get(".ARM.exidx", 0) + sec.get(".ARM.extab", 0)
    data, bss = sec.get(".data", 0), sec.get(".bss", 0)
    return text + rodata + data, text, rodata, data + bss, data


def figures(c_file, header, prefix: str, core: Core) -> Figures:
    """Flash, static RAM, worst-case stack and state bytes of one artifact on ``core``."""
    c_file, header = Path(c_file), Path(header)
    P = prefix.upper()
    with _Build(c_file, header, prefix, core) as b:
        art = b.compile(b.c, "artifact.o", extra=("-fstack-usage", "-fcallgraph-info=su"))
        (b.dir / "size_main.c").write_text(SIZE_MAIN.format(header=header.name, p=prefix, P=P))
        (b.dir / "stub.c").write_text(STUB.format(header=header.name, p=prefix))
        start = b.compile(b.dir / "startup.c", "startup.o")
        main = b.compile(b.dir / "size_main.c", "size_main.o")
        stub = b.compile(b.dir / "stub.c", "stub.o")
        with_art = b.sections(b.link([start, main, art], "with.elf"))
        with_stub = b.sections(b.link([start, main, stub], "stub.elf"))
        stub_only = _object_text(b, stub)
        fa, ta, ra, rama, _ = _flash_ram(with_art)
        fs, ts, rs, rams, _ = _flash_ram(with_stub)
        stack, by_entry, note = worst_stack(b, prefix, b.dir / "with.elf")
        state = _state_floats(header, P) * 4
        fig = Figures(core.name, fa - fs + stub_only, ta - ts + stub_only, ra - rs, rama - rams, stack,
                      state, by_entry, note, [*b.flags], compiler_version(b.cc))
        if f"{prefix}_step_q" in header.read_text():
            # the integer API: int16 state; prove that no float code is reachable from it
            (b.dir / "size_q.c").write_text(SIZE_Q_MAIN.format(header=header.name, p=prefix, P=P))
            qmain = b.compile(b.dir / "size_q.c", "size_q.o")
            elf = b.link([start, qmain, art], "q.elf")
            _, q_entry, _ = worst_stack(b, prefix, elf)
            free, why = float_free(b, elf, f"{prefix}_step_q")
            fig.integer_api = {"state_bytes": state // 2, "stack_bytes": max(q_entry.get("step_q", 0),
                                                                             q_entry.get("run_q", 0)),
                               "flash_bytes": _flash_ram(b.sections(elf))[0] - fs + stub_only,
                               "float_free": free, "float_note": why}
        return fig


def _object_text(b: _Build, obj: Path) -> int:
    size = shutil.which("arm-none-eabi-size") or "arm-none-eabi-size"
    proc = run([size, "-A", str(obj)])
    total = 0
    for line in proc.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0].startswith((".text", ".rodata")) and parts[1].isdigit():
            total += int(parts[1])
    return total


def _state_floats(header: Path, P: str) -> int:
    m = re.search(rf"#define {P}_STATE_SIZE (\d+)", header.read_text())
    return int(m.group(1)) if m else 0


# -- worst-case stack ---------------------------------------------------------------------------
def _su(b: _Build) -> dict[str, int]:
    frames = {}
    for su in b.dir.glob("*.su"):
        for line in su.read_text().splitlines():
            parts = line.split("\t")
            if len(parts) >= 3:
                name = parts[0].rsplit(":", 1)[-1]
                frames[name] = int(parts[1])
    return frames


def _callgraph(b: _Build) -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for ci in b.dir.glob("*.ci"):
        for m in re.finditer(r'edge:\s*\{\s*sourcename:\s*"([^"]+)"\s*targetname:\s*"([^"]+)"', ci.read_text()):
            src = m.group(1).rsplit(":", 1)[-1]
            dst = m.group(2).rsplit(":", 1)[-1]
            edges.setdefault(src, set()).add(dst)
    return edges


_PUSH = re.compile(r"\b(push|stmdb)(?:\.w)?\s+(?:sp!,\s*)?\{([^}]*)\}")
_VPUSH = re.compile(r"\bvpush\s+\{([^}]*)\}")
_SUB = re.compile(r"\bsub(?:w|\.w)?\s+sp,\s*(?:sp,\s*)?#(\d+)")
_CALL = re.compile(r"\b(bl|blx|b\.w|b)\s+[0-9a-f]+\s+<([^>+]+)>")


def reg_count(text: str) -> int:
    """Registers named in an Arm register list's inside ("r4-r7, lr" -> 5; "d8-d9" -> 2)."""
    n = 0
    for part in text.split(","):
        part = part.strip()
        if "-" in part:
            a, c = part.split("-")
            n += int(re.sub(r"\D", "", c)) - int(re.sub(r"\D", "", a)) + 1
        elif part:
            n += 1
    return n


def _elf_functions(b: _Build, elf: Path) -> dict[str, tuple[int, set[str], bool]]:
    """{function: (frame bytes from its prologue, callees, has an indirect call)} of an ELF."""
    objdump = shutil.which("arm-none-eabi-objdump") or "arm-none-eabi-objdump"
    text = run([objdump, "-d", "--no-show-raw-insn", str(elf)], timeout=120).stdout
    out: dict[str, tuple[int, set[str], bool]] = {}
    name, frame, callees, indirect, seen_body = None, 0, set(), False, 0
    for line in text.splitlines():
        m = re.match(r"^[0-9a-f]+ <([^>]+)>:", line)
        if m:
            if name:
                out[name] = (frame, callees, indirect)
            name, frame, callees, indirect, seen_body = m.group(1), 0, set(), False, 0
            continue
        if name is None or ":" not in line:
            continue
        ins = line.split(":", 1)[1].strip()
        seen_body += 1
        if seen_body <= 8:
            p = _PUSH.search(ins)
            if p:
                frame += 4 * reg_count(p.group(2))
            v = _VPUSH.search(ins)
            if v:
                regs = v.group(1)
                frame += (8 if "d" in regs else 4) * reg_count(regs)
            s = _SUB.search(ins)
            if s:
                frame += int(s.group(1))
        c = _CALL.search(ins)
        if c and c.group(2) != name:
            callees.add(c.group(2))
        elif re.search(r"\bblx\s+r\d+", ins):
            indirect = True
    if name:
        out[name] = (frame, callees, indirect)
    return out


def worst_stack(b: _Build, prefix: str, elf: Path) -> tuple[int, dict, str]:
    """Deepest stack over the public entry points: .su frames along .ci edges for the
    artifact's own functions, ELF prologues for library functions."""
    su, edges = _su(b), _callgraph(b)
    elf_funcs = _elf_functions(b, elf)
    notes: set[str] = set()

    def depth(fn: str, path: tuple) -> int:
        if fn in path:
            notes.add(f"recursion through {fn}")
            return 0
        if fn in su:
            frame, callees = su[fn], edges.get(fn, set())
        elif fn in elf_funcs:
            frame, callees, indirect = elf_funcs[fn]
            if indirect:
                notes.add(f"{fn} makes an indirect call (not followed)")
        else:
            if fn not in ("__builtin_unreachable",):
                notes.add(f"{fn}: size unknown, counted as 0")
            return 0
        return frame + max((depth(c, path + (fn,)) for c in callees), default=0)

    entries = [e for e in ("reset", "step", "run", "reset_q", "step_q", "run_q")
               if f"{prefix}_{e}" in su or f"{prefix}_{e}" in elf_funcs]
    by_entry = {e: depth(f"{prefix}_{e}", ()) for e in entries}
    common = [by_entry[e] for e in ("reset", "step", "run") if e in by_entry]
    return max(common or [0]), by_entry, "; ".join(sorted(notes))


FLOAT_ROUTINES = re.compile(r"^(__aeabi_[fd]|__aeabi_[iul]\w*2[fd]|__(add|sub|mul|div|neg|cmp|eq|ne|lt|le|gt|ge|unord)[sd]f|"
                            r"__fix\w*[sd]f|__float\w*[sd]f|__extendsfdf|__truncdfsf|expf?$|logf?$|tanhf?$|sqrtf?$)")
VFP_INSN = re.compile(r"\bv(add|sub|mul|div|fma|fms|nmul|cvt|mov|ldr|str|cmp|abs|neg|sqrt)\.f(32|64)\b")


def float_free(b: _Build, elf: Path, entry: str) -> tuple[bool, str]:
    """Does ``entry`` reach any float code (soft-float routine, libm, or a VFP instruction)?"""
    objdump = shutil.which("arm-none-eabi-objdump") or "arm-none-eabi-objdump"
    text = run([objdump, "-d", "--no-show-raw-insn", str(elf)], timeout=120).stdout
    bodies: dict[str, list[str]] = {}
    name = None
    for line in text.splitlines():
        m = re.match(r"^[0-9a-f]+ <([^>]+)>:", line)
        if m:
            name = m.group(1)
            bodies[name] = []
        elif name and ":" in line:
            bodies[name].append(line.split(":", 1)[1])
    seen, todo = set(), [entry]
    while todo:
        fn = todo.pop()
        if fn in seen:
            continue
        seen.add(fn)
        if FLOAT_ROUTINES.match(fn):
            return False, f"calls {fn}"
        for ins in bodies.get(fn, []):
            if VFP_INSN.search(ins):
                return False, f"{fn} has a float instruction"
            c = _CALL.search(ins)
            if c:
                todo.append(c.group(2))
    return True, ""


# -- golden check on the emulator ---------------------------------------------------------------
def find_qemu() -> str | None:
    return shutil.which(QEMU)


def emulator_for(core: Core, what: str) -> str:
    """The qemu binary that runs ``core``'s board; one line when the core has no emulated board
    or qemu is not installed (``what`` needs it: "the emulated golden check", "cycle counts")."""
    if core.emulator is None:
        raise RuntimeMissingError(f"{core.name}: no emulator is configured for this core")
    qemu = find_qemu()
    if qemu is None:
        raise RuntimeMissingError(f"{what} needs {QEMU} (not found): {QEMU_HINT}")
    return qemu


def golden_on_emulator(c_file, header, prefix: str, core: Core, x, dt, lengths,
                       timeout: float = 300) -> tuple[np.ndarray, int]:
    """Replay golden sequences on the emulated board; (outputs (G, T, O), stack used bytes)."""
    qemu = emulator_for(core, "the emulated golden check")
    c_file, header = Path(c_file), Path(header)
    P = prefix.upper()
    n_in = int(re.search(rf"#define {P}_INPUT_SIZE (\d+)", header.read_text()).group(1))
    n_out = int(re.search(rf"#define {P}_OUTPUT_SIZE (\d+)", header.read_text()).group(1))
    lengths = np.asarray(lengths, np.int64)
    with _Build(c_file, header, prefix, core) as b:
        (b.dir / "golden_data.h").write_text(_golden_data(x, dt, lengths, n_in))
        (b.dir / "golden_main.c").write_text(GOLDEN_MAIN.format(header=header.name, p=prefix, P=P))
        objs = [b.compile(b.dir / "startup.c", "startup.o"), b.compile(b.c, "artifact.o"),
                b.compile(b.dir / "golden_main.c", "golden_main.o", strict=False)]
        elf = b.link(objs, "golden.elf")
        proc = run([qemu, "-M", core.emulator, "-nographic", "-monitor", "none", "-serial", "none",
                    "-semihosting-config", "enable=on,target=native", "-kernel", str(elf)],
                   timeout=timeout)
    out = np.zeros((len(lengths), np.shape(dt)[1], n_out), np.float32)
    stack = -1
    for line in (proc.stdout + "\n" + proc.stderr).splitlines():    # semihosting writes to either
        parts = line.split()
        if parts[:1] == ["Y"] and len(parts) == 3 + n_out:
            g, t = int(parts[1]), int(parts[2])
            out[g, t] = np.array([int(h, 16) for h in parts[3:]], dtype=np.uint32).view(np.float32)
        elif parts[:1] == ["STACK"]:
            stack = int(parts[1])
    if proc.returncode != 0 or stack < 0:
        tail = (proc.stdout.strip().splitlines() or proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"{core.emulator} run failed (exit {proc.returncode}): {tail[:200]}")
    return out, stack


def figures_for_scheme(c_file, header, prefix: str, scheme: str) -> tuple[dict, str | None]:
    """Figures on every MCU target profile that lists ``scheme`` ({core: figures}); or ({},
    the one-line reason) when the cross compiler is missing."""
    from ...targets.mcu import mcu_cores

    try:
        require_cross()
    except RuntimeMissingError as exc:
        return {}, str(exc)
    out = {}
    for core in mcu_cores(scheme):
        out[core.name] = figures(c_file, header, prefix, core).to_dict()
    return out, None
