"""Instructions and estimated cycles per step of a C artifact on a Cortex-M core.

The artifact runs bare-metal on the emulated board (``qemu-system-arm``, one instruction per
translation block, ``-d exec,nochain``): every executed instruction is one trace line, so the
count between two calls of a marker function around ``steps`` calls of ``<prefix>_step`` (or
``<prefix>_step_q`` on a core without an FPU) is exact and deterministic. The estimate of
cycles walks that trace with the core's documented per-instruction timings (``MODELS``):

- Cortex-M4 (Technical Reference Manual r0p1, table 3-1 "Cortex-M4 instruction set summary",
  and the FPU's table 7-1): data processing, MUL, SMULL/UMULL/SMLAL/UMLAL, the DSP multiplies
  1; MLA/MLS 2; SDIV/UDIV 2-12, counted 12; a single LDR/STR 2, but 1 when it directly follows
  another single load or store (the TRM's address/data-phase pipelining); LDRD/STRD, LDM/STM,
  PUSH/POP 1 + N registers; a taken branch 1 + P with the pipeline refill P counted 2 (the TRM
  gives 1-3), an untaken one 1; POP {.., pc} 1 + N + P; VADD/VSUB/VMUL/VCVT/VMOV and the like 1;
  VMLA/VFMA and friends 3; VDIV/VSQRT 14; VLDR/VSTR as LDR/STR; VLDM/VSTM/VPUSH/VPOP 1 + N.
- Cortex-M0+ (TRM r0p1, table 3-1 / ARMv6-M): data processing 1; LDR/STR 2; LDM/STM/PUSH/POP
  1 + N; POP {.., pc} 3 + N; a taken B 2 (untaken 1); BL 3; BX/BLX 2; MULS 1 (the single-cycle
  multiplier option).

Assumptions: zero-wait-state flash and RAM (no flash accelerator misses, no bus contention),
no interrupts; an instruction skipped inside an IT block is counted as if executed. Real
parts with wait states (e.g. STM32L4 at 80 MHz: 4 flash wait states behind its ART cache)
take longer; the count of instructions is exact, the cycles are an estimate.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ...errors import RuntimeMissingError
from .mcu import reg_count
from .toolchain import run

CLOCK_MHZ = {"cortex-m4": 80.0, "cortex-m0plus": 48.0}   # STM32L4-class M4, SAMD21/STM32L0-class M0+
STEPS = 3               # steps timed after one untimed step from the zero state
M4_REFILL = 2           # P, the pipeline refill of a taken branch on the M4 (TRM: 1..3)
MODEL_DOC = {"cortex-m4": "Cortex-M4 TRM r0p1 table 3-1 (+ FPU table 7-1), zero wait states, "
                          "taken-branch refill P=2, SDIV/UDIV 12, single LDR/STR pipelined after a load/store",
             "cortex-m0plus": "Cortex-M0+ TRM table 3-1, zero wait states, single-cycle multiplier"}

_COND = r"(?:eq|ne|cs|hs|cc|lo|mi|pl|vs|vc|hi|ls|ge|lt|gt|le|al)?"
_LOAD1 = re.compile(rf"^(?:ldr|str)(?:b|h|sb|sh|ex|exb|exh|t|bt|ht)?{_COND}$")
_LOAD2 = re.compile(rf"^(?:ldrd|strd){_COND}$")
_MULTI = re.compile(rf"^(?:ldm|stm)(?:ia|db|fd|ea)?{_COND}$|^(?:push|pop)$")
_BRANCH = re.compile(rf"^b{_COND}$|^(?:bl|blx|bx|cbz|cbnz|tbb|tbh){_COND}$")
_VLDST = re.compile(r"^v(?:ldr|str)$")
_VMULTI = re.compile(r"^v(?:ldm|stm)(?:ia|db)?$|^v(?:push|pop)$")
_VMAC = re.compile(r"^v(?:n?mla|n?mls|fma|fms|fnma|fnms)$")
_VSLOW = re.compile(r"^v(?:div|sqrt)$")
_DIV = re.compile(rf"^[su]div{_COND}$")
_MLA = re.compile(rf"^(?:mla|mls){_COND}$")
_MUL = re.compile(rf"^muls?{_COND}$")


@dataclass
class Insn:
    size: int
    mnemonic: str           # base mnemonic, lower case, no .w/.n or type suffix (vadd.f32 -> vadd)
    operands: str


@dataclass
class StepCost:
    """Per step on one core: exact executed instructions and the estimated cycles."""
    core: str
    api: str                        # "float (<prefix>_step)" or "integer (<prefix>_step_q)"
    instructions: int
    cycles: int
    clock_mhz: float
    us: float
    steps: int
    model: str
    by_class: dict = field(default_factory=dict)     # cycles per instruction class, per step

    def to_dict(self) -> dict:
        return asdict(self)


def _regs(operands: str) -> int:
    """Registers an instruction moves: those of its {register list}, else one."""
    m = re.search(r"\{([^}]*)\}", operands)
    return reg_count(m.group(1)) if m else 1


def disassemble(elf: Path) -> dict[int, Insn]:
    """{address: instruction} of every instruction in the ELF (arm-none-eabi-objdump)."""
    objdump = shutil.which("arm-none-eabi-objdump") or "arm-none-eabi-objdump"
    text = run([objdump, "-d", str(elf)], timeout=120).stdout
    out: dict[int, Insn] = {}
    for line in text.splitlines():
        m = re.match(r"^\s*([0-9a-f]+):\s+((?:[0-9a-f]{4}\s?){1,2})\s+(\S+)\s*(.*)$", line)
        if not m:
            continue
        raw = m.group(2).split()
        if not raw or any(len(r) != 4 for r in raw):
            continue
        mnem = m.group(3).lower().split(".")[0]
        out[int(m.group(1), 16)] = Insn(2 * len(raw), mnem, m.group(4))
    return out


def _m4(ins: Insn, taken: bool, prev_mem: bool) -> tuple[int, str, bool]:
    """(cycles, class, is a single load/store) of one executed instruction on a Cortex-M4."""
    m, ops = ins.mnemonic, ins.operands
    P = M4_REFILL
    if _LOAD1.match(m) or _VLDST.match(m):
        pc_load = m.startswith("ldr") and re.match(r"\s*pc\b", ops)
        return (1 if prev_mem else 2) + (P if pc_load else 0), "load/store", True
    if _LOAD2.match(m):
        return 3, "load/store", False
    if _MULTI.match(m) or _VMULTI.match(m):
        n = _regs(ops)
        extra = P if m == "pop" and "pc" in ops else 0
        return 1 + n + extra, "push/pop/ldm/stm", False
    if _BRANCH.match(m):
        return (1 + P if taken else 1), "branch", False
    if _DIV.match(m):
        return 12, "divide", False
    if _MLA.match(m):
        return 2, "multiply", False
    if m.startswith("v"):
        if _VMAC.match(m):
            return 3, "fp multiply-accumulate", False
        if _VSLOW.match(m):
            return 14, "fp divide/sqrt", False
        return 1, "fp arithmetic", False
    if _MUL.match(m) or m.startswith(("smul", "umul", "smla", "umla", "smua", "smus", "smmu", "smml")):
        return 1, "multiply", False
    if re.match(r"^(?:mov|add)", m) and re.match(r"\s*pc\b", ops):
        return 1 + P, "branch", False
    return 1, "alu", False


def _m0plus(ins: Insn, taken: bool, prev_mem: bool) -> tuple[int, str, bool]:
    m, ops = ins.mnemonic, ins.operands
    if _LOAD1.match(m):
        return 2, "load/store", True
    if _MULTI.match(m):
        n = _regs(ops)
        return (3 + n if m == "pop" and "pc" in ops else 1 + n), "push/pop/ldm/stm", False
    if m == "bl":
        return 3, "branch", False
    if m in ("bx", "blx"):
        return 2, "branch", False
    if _BRANCH.match(m):
        return (2 if taken else 1), "branch", False
    if _MUL.match(m):
        return 1, "multiply", False
    if m in ("mrs", "msr", "isb", "dsb", "dmb"):
        return 3 if m != "msr" else 3, "system", False
    if re.match(r"^(?:mov|add)", m) and re.match(r"\s*pc\b", ops):
        return 2, "branch", False
    return 1, "alu", False


MODELS = {"cortex-m4": _m4, "cortex-m0plus": _m0plus}


def estimate(trace: list[int], code: dict[int, Insn], core: str) -> tuple[int, dict[str, int]]:
    """Cycles of an executed-instruction trace (addresses, in order) on ``core``."""
    model = MODELS[core]
    total, by = 0, {}
    prev_mem = False
    for i, pc in enumerate(trace):
        ins = code.get(pc)
        if ins is None:
            c, cls, mem = 1, "unknown", False
        else:
            nxt = trace[i + 1] if i + 1 < len(trace) else pc + ins.size
            c, cls, mem = model(ins, nxt != pc + ins.size, prev_mem)
        prev_mem = mem
        total += c
        by[cls] = by.get(cls, 0) + c
    return total, by


HARNESS = r"""#include <stdint.h>
#include "{header}"
#include "cycles_data.h"
/* edgelnn cycle harness: one untimed step from the zero state, then CYC_STEPS steps between
   two calls of edgelnn_mark (the trace is cut there) */
void edgelnn_mark(int k) __attribute__((noinline));
void edgelnn_mark(int k) {{ __asm__ volatile ("" : : "r"(k) : "memory"); }}
static {st} state[{P}_STATE_SIZE];
static {st} y[{P}_OUTPUT_SIZE];
volatile {st} edgelnn_sink;
int main(void)
{{
    int t;
    {p}_reset{q}(state);
    {p}_step{q}(cyc_x, cyc_dt[0], state, y);
    edgelnn_mark(1);
    for (t = 1; t <= CYC_STEPS; t++)
        {p}_step{q}(cyc_x + (long)t * {P}_INPUT_SIZE, cyc_dt[t], state, y);
    edgelnn_mark(2);
    edgelnn_sink = y[0];
    return 0;
}}
"""


def _data(x: np.ndarray, dt: np.ndarray, q: dict | None) -> str:
    if q is None:
        from .mcu import flt
        xs = ", ".join(flt(v) for v in x.reshape(-1))
        ds = ", ".join(flt(v) for v in dt.reshape(-1))
        return (f"#define CYC_STEPS {len(dt) - 1}\nstatic const float cyc_x[{x.size}] = {{{xs}}};\n"
                f"static const float cyc_dt[{dt.size}] = {{{ds}}};\n")
    xq = np.clip(np.round(x * 2.0 ** q["x"]), -32768, 32767).astype(np.int64).reshape(-1)
    dq = np.clip(np.round(dt * 2.0 ** q["dt"]), 1, 32767).astype(np.int64).reshape(-1)
    return (f"#define CYC_STEPS {len(dt) - 1}\n"
            f"static const int16_t cyc_x[{xq.size}] = {{{', '.join(map(str, xq))}}};\n"
            f"static const int32_t cyc_dt[{dq.size}] = {{{', '.join(map(str, dq))}}};\n")


def _qemu_argv(qemu: str, machine: str, elf: Path, log: Path) -> list[str]:
    ver = run([qemu, "--version"]).stdout
    m = re.search(r"version (\d+)\.(\d+)", ver)
    one = (["-accel", "tcg,one-insn-per-tb=on"] if m and (int(m.group(1)), int(m.group(2))) >= (8, 1)
           else ["-singlestep"])
    return [qemu, "-M", machine, *one, "-d", "exec,nochain", "-D", str(log), "-nographic",
            "-monitor", "none", "-serial", "none", "-semihosting-config", "enable=on,target=native",
            "-kernel", str(elf)]


def _trace(log: Path, lo: int, hi: int) -> list[int]:
    """Executed addresses between the two edgelnn_mark calls (mark at ``lo``..``hi``)."""
    pcs: list[int] = []
    marks = 0
    pat = re.compile(rb"Trace \d+: 0x[0-9a-f]+ \[[0-9a-f]+/([0-9a-f]+)/")
    with open(log, "rb") as fh:
        for line in fh:
            m = pat.match(line)
            if not m:
                continue
            pc = int(m.group(1), 16)
            if lo <= pc < hi:
                if pc == lo:
                    marks += 1
                    if marks == 2:
                        break
                continue
            if marks == 1:
                pcs.append(pc)
    if marks < 2:
        raise RuntimeError("cycle trace: the step markers were not both reached")
    return pcs


def golden_samples(x, dt, lengths, steps: int = STEPS) -> tuple[np.ndarray, np.ndarray]:
    """The ``steps + 1`` samples a cost is counted over: the first golden sequence's first
    samples (repeated when it is shorter), as bench and ``--quant auto`` both count them."""
    n = max(int(np.asarray(lengths)[0]), 1)
    idx = np.arange(steps + 1) % n
    return np.asarray(x)[0][idx], np.asarray(dt)[0][idx]


def step_cost(c_file, header, prefix: str, core, x, dt, *, steps: int = STEPS,
              timeout: float = 300) -> StepCost:
    """Instructions and estimated cycles per step of the artifact on ``core`` (its emulator)."""
    from .mcu import _Build, emulator_for

    qemu = emulator_for(core, "counting cycles")
    if core.name not in MODELS:
        raise RuntimeMissingError(f"{core.name}: no cycle model (known: {', '.join(MODELS)})")
    c_file, header = Path(c_file), Path(header)
    P = prefix.upper()
    text = header.read_text()
    integer = (not core.fpu) and f"{prefix}_step_q" in text
    q = None
    if integer:
        q = {k: int(re.search(rf"#define {P}_{k.upper()}_FRAC (-?\d+)", text).group(1)) for k in ("x", "dt")}
    n_in = int(re.search(rf"#define {P}_INPUT_SIZE (\d+)", text).group(1))
    x = np.asarray(x, np.float32).reshape(-1, n_in)[: steps + 1]
    dt = np.asarray(dt, np.float32).reshape(-1)[: steps + 1]
    if len(dt) < steps + 1 or len(x) < steps + 1:
        raise ValueError(f"cycle counts need {steps + 1} samples")
    with _Build(c_file, header, prefix, core) as b:
        (b.dir / "cycles_data.h").write_text(_data(x, dt, q))
        (b.dir / "cycles_main.c").write_text(HARNESS.format(header=header.name, p=prefix, P=P,
                                                            q="_q" if integer else "",
                                                            st="int16_t" if integer else "float"))
        objs = [b.compile(b.dir / "startup.c", "startup.o"), b.compile(b.c, "artifact.o"),
                b.compile(b.dir / "cycles_main.c", "cycles_main.o", strict=False)]
        elf = b.link(objs, "cycles.elf")
        code = disassemble(elf)
        nm = shutil.which("arm-none-eabi-nm") or "arm-none-eabi-nm"
        sym = re.search(r"^([0-9a-f]+) ([0-9a-f]+) \w edgelnn_mark$", run([nm, "-S", str(elf)]).stdout, re.M)
        lo = int(sym.group(1), 16) & ~1
        hi = lo + int(sym.group(2), 16)
        log = b.dir / "trace.log"
        proc = subprocess.run(_qemu_argv(qemu, core.emulator, elf, log), capture_output=True, text=True,
                              timeout=timeout)
        if proc.returncode != 0:
            raise RuntimeError(f"{core.emulator} cycle run failed (exit {proc.returncode})")
        pcs = _trace(log, lo, hi)
    # the two calls of the marker and the loop around the steps are part of the trace: a few
    # instructions, not subtracted (they are the caller's loop)
    cycles, by = estimate(pcs, code, core.name)
    clock = CLOCK_MHZ.get(core.name, 0.0)
    per = cycles / steps
    return StepCost(core.name, "integer (<prefix>_step_q)" if integer else "float (<prefix>_step)",
                    int(round(len(pcs) / steps)), int(round(per)), clock,
                    round(per / clock, 2) if clock else 0.0, steps, MODEL_DOC[core.name],
                    {k: int(round(v / steps)) for k, v in sorted(by.items())})


__all__ = ["CLOCK_MHZ", "MODELS", "StepCost", "disassemble", "estimate", "golden_samples", "step_cost"]
