"""Check edgelnn's Cortex-M4 cycle model (edgelnn/runtime/c/cycles.py) against a published
figure: EEMBC CoreMark built with arm-none-eabi-gcc, traced on qemu mps2-an386 like a C artifact,
its estimated cycles per iteration turned into CoreMark/MHz.

    PYTHONPATH=$PWD python benchmarks/cycle_model_check.py COREMARK_DIR [-O2 -O3]

COREMARK_DIR: the files of github.com/eembc/coremark (a clone; measured at d5fad6b). Its barebones
port is patched here (a fake clock, semihosting output); the CRCs are checked as usual. Iterations
are counted between
two markers around CoreMark's main; cycles per iteration = (cycles(3 iterations) -
cycles(1 iteration)) / 2, so set-up and reporting cancel out. Printed for the taken-branch refill
P = 1, 2 (edgelnn's default) and 3.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

FILES = ["core_list_join.c", "core_main.c", "core_matrix.c", "core_state.c", "core_util.c", "coremark.h",
         "barebones/core_portme.c", "barebones/core_portme.h", "barebones/ee_printf.c", "barebones/cvt.c"]
MAIN = r"""extern int coremark_main(int argc, char *argv[]);
void edgelnn_mark(int k) __attribute__((noinline));
void edgelnn_mark(int k) { __asm__ volatile ("" : : "r"(k) : "memory"); }
int main(void) { edgelnn_mark(1); coremark_main(0, 0); edgelnn_mark(2); return 0; }
"""
M4 = ["-mcpu=cortex-m4", "-mthumb", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard"]


def port(src: Path, dst: Path) -> None:
    for f in FILES:
        shutil.copyfile(src / f, dst / Path(f).name)
    p = (dst / "core_portme.c").read_text()
    p = re.sub(r'#error \\\n\s*"You must implement a method to measure time[^\n]*\n',
               "    static CORETIMETYPE fake = 0;\n    fake += 1000;\n", p, count=1)
    p = re.sub(r'#error \\\n\s*"Call board initialization routines[^\n]*\n', "", p, count=1)
    (dst / "core_portme.c").write_text(p)
    e = (dst / "ee_printf.c").read_text().replace(
        '#error "You must implement the method uart_send_char to use this file!\\n";',
        "extern int edgelnn_sh(int, const void *); char b[2] = {c, 0}; edgelnn_sh(0x04, b);")
    (dst / "ee_printf.c").write_text(e)
    h = (dst / "core_portme.h").read_text()
    (dst / "core_portme.h").write_text("#include <stddef.h>\n" + h)
    (dst / "cm_main.c").write_text(MAIN)
    fw = Path(__file__).resolve().parents[1] / "edgelnn" / "runtime" / "c" / "firmware"
    shutil.copyfile(fw / "startup.c", dst / "startup.c")
    shutil.copyfile(fw / "mps2-an386.ld", dst / "mps2-an386.ld")


def build(d: Path, opt: str, iterations: int) -> Path:
    cm = ["core_list_join.c", "core_main.c", "core_matrix.c", "core_state.c", "core_util.c", "core_portme.c",
          "ee_printf.c", "cvt.c"]
    out = d / f"cm{opt}{iterations}"
    out.mkdir()
    objs = []
    for f in cm:
        o = out / (f[:-2] + ".o")
        subprocess.run(["arm-none-eabi-gcc", *M4, opt, f"-DITERATIONS={iterations}", "-DPERFORMANCE_RUN=1",
                        "-DCLOCKS_PER_SEC=1000", f'-DFLAGS_STR="{opt}"', "-Dmain=coremark_main", "-I", str(d),
                        "-c", str(d / f), "-o", str(o)], check=True)
        objs.append(o)
    for f in ("startup.c", "cm_main.c"):
        o = out / (f[:-2] + ".o")
        subprocess.run(["arm-none-eabi-gcc", *M4, "-O2", "-DEDGELNN_FPU=1", "-c", str(d / f), "-o", str(o)],
                       check=True)
        objs.append(o)
    elf = out / "cm.elf"
    subprocess.run(["arm-none-eabi-gcc", *M4, "-nostartfiles", "-T", str(d / "mps2-an386.ld"), "--specs=nano.specs",
                    "--specs=nosys.specs", *map(str, objs), "-o", str(elf), "-lm"], check=True, capture_output=True)
    return elf


def trace(elf: Path) -> tuple[list[int], dict]:
    from edgelnn.runtime.c import cycles
    from edgelnn.runtime.c.toolchain import run

    code = cycles.disassemble(elf)
    sym = re.search(r"^([0-9a-f]+) ([0-9a-f]+) \w edgelnn_mark$", run(["arm-none-eabi-nm", "-S", str(elf)]).stdout, re.M)
    lo = int(sym.group(1), 16) & ~1
    log = elf.with_suffix(".log")
    proc = subprocess.run(cycles._qemu_argv("qemu-system-arm", "mps2-an386", elf, log), capture_output=True,
                          text=True, timeout=1200)
    text = proc.stdout + proc.stderr
    for crc in ("seedcrc          : 0xe9f5", "[0]crclist       : 0xe714", "[0]crcmatrix     : 0x1fd7",
                "[0]crcstate      : 0x8e3a"):
        if crc not in text:
            raise SystemExit(f"CoreMark CRC check failed ({crc!r} missing): not a valid run")
    return cycles._trace(log, lo, lo + int(sym.group(2), 16)), code


def main() -> None:
    from edgelnn.runtime.c import cycles

    src = Path(sys.argv[1])
    opts = sys.argv[2:] or ["-O2"]
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        port(src, d)
        for opt in opts:
            runs = {n: trace(build(d, opt, n)) for n in (1, 3)}
            per_insn = (len(runs[3][0]) - len(runs[1][0])) / 2
            line = [f"gcc {opt}: {per_insn:,.0f} instructions per iteration"]
            for p in (1, 2, 3):
                cycles.M4_REFILL = p
                c = {n: cycles.estimate(pcs, code, "cortex-m4")[0] for n, (pcs, code) in runs.items()}
                per = (c[3] - c[1]) / 2
                line.append(f"P={p}: {per:,.0f} cycles, {1e6 / per:.2f} CoreMark/MHz")
            cycles.M4_REFILL = 2
            print("; ".join(line), flush=True)


if __name__ == "__main__":
    main()
