"""Cortex-M4 cycles per multiply-accumulate of the dense kernels, C schemes side by side (issue 19,
target <= 1.5 est. cycles/MAC for int8 weights): fp32, int8-weight (float compute) and
int16x8-dynamic (integer dense products: SMLAD).

    PYTHONPATH=$PWD python benchmarks/c_smlad.py --out benchmarks/results/c_smlad.json [--kinds cfc lstm gru]
    python benchmarks/c_smlad.py --markdown benchmarks/results/c_smlad.json    # the RESULTS.md tables

Untrained 64-unit models of the basicmotions geometry (6 inputs, 4 classes), as in
benchmarks/c_firmware.py. Each artifact runs under qemu-system-arm (mps2-an386) exactly as
``edgelnn.runtime.c.cycles.step_cost`` runs it (one untimed step, then STEPS steps between two
markers; instructions exact, cycles from the same per-instruction Cortex-M4 model); every executed
instruction's cycles are also charged to the function it lies in (arm-none-eabi-nm), so the dense
matrix-vector helpers are reported apart from the whole step:

- dense MACs: sum of n x k over the dense matrix-vector products (unpadded);
- dense kernel: the dense helpers (fp32 ``_mv_f32_dense_t``, int8-weight ``_mv_i8_dense``,
  int16x8-dynamic ``_mv_q15``, ``_mv2_q15`` (two products in one pass: LSTM) + the input quantizer ``_q15``);
- inner product only (int16x8-dynamic): ``_mv_q15`` and ``_mv2_q15`` without the quantizer;
- the dense kernel's est. cycles per dense MAC by instruction class (``mix_class``: SMLAD, SXTB16,
  loads/stores, branches, float, other);
- flash and worst-case stack of the artifact (``mcu.figures``, gcc -Os, as bench reports them).
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parent))
from c_firmware import STEPS, artifacts as firmware_artifacts  # noqa: E402

KINDS = ("cfc", "lstm", "gru")
SCHEMES = ("fp32", "int8-weight", "int16x8-dynamic")
DENSE = {"fp32": ("_mv_f32_dense_t",), "int8-weight": ("_mv_i8_dense",),
         "int16x8-dynamic": ("_mv_q15", "_mv2_q15", "_q15")}


def artifacts(kind: str, root: Path, units: int = 64, dataset: str = "basicmotions"):
    """benchmarks/c_firmware.py's artifacts (same model, calibration and STEPS + 1 samples), this
    benchmark's schemes: (files, x, dt, the fp32 file)."""
    _, out, x, dt = firmware_artifacts(kind, root, units, dataset, schemes=SCHEMES[1:])
    return out, x, dt, out["fp32"][0]


def dense_macs(fp32: Path) -> tuple[int, int]:
    """(dense MACs, all matrix-vector MACs) per step, from the lowered step graph."""
    import copy

    from edgelnn.export.c import build
    from edgelnn.export.c.lower import MatVec, lower

    g, _ = build.step_graph(fp32)
    prog = lower(copy.deepcopy(g))
    mv = [k for k in prog.kernels if isinstance(k, MatVec)]
    return sum(k.n * k.k for k in mv if not k.sparse), sum(k.n * k.k for k in mv)


def per_function(c_file: Path, prefix: str, x, dt) -> dict:
    """Instructions and est. cycles per step, in total and per function (the cycles.py model)."""
    from edgelnn.runtime.c import cycles
    from edgelnn.runtime.c.mcu import _Build
    from edgelnn.targets import load_profile
    from edgelnn.targets.mcu import core_of

    core = core_of(load_profile("cortex-m4"))
    qemu = shutil.which("qemu-system-arm")
    P = prefix.upper()
    with _Build(c_file, c_file.with_suffix(".h"), prefix, core) as b:
        (b.dir / "cycles_data.h").write_text(cycles._data(x, dt, None))
        (b.dir / "cycles_main.c").write_text(cycles.HARNESS.format(header=c_file.with_suffix(".h").name, p=prefix,
                                                                   P=P, q="", st="float"))
        objs = [b.compile(b.dir / "startup.c", "startup.o"), b.compile(b.c, "artifact.o"),
                b.compile(b.dir / "cycles_main.c", "cycles_main.o", strict=False)]
        elf = b.link(objs, "cycles.elf")
        code = cycles.disassemble(elf)
        nm = subprocess.run(["arm-none-eabi-nm", "-S", str(elf)], capture_output=True, text=True).stdout
        funcs = []
        for m in re.finditer(r"^([0-9a-f]+) ([0-9a-f]+) [tT] (\S+)$", nm, re.M):
            lo = int(m.group(1), 16) & ~1
            funcs.append((lo, lo + int(m.group(2), 16), m.group(3)))
        mark = next(f for f in funcs if f[2] == "edgelnn_mark")
        log = b.dir / "trace.log"
        subprocess.run(cycles._qemu_argv(qemu, core.emulator, elf, log), capture_output=True, timeout=1800,
                       check=True)
        pcs = cycles._trace(log, mark[0], mark[1])
    model = cycles.MODELS["cortex-m4"]
    by_fn: dict[str, list[int]] = {}
    mix: dict[str, dict[str, int]] = {}
    prev = False
    total = 0
    for i, pc in enumerate(pcs):
        ins = code.get(pc)
        nxt = pcs[i + 1] if i + 1 < len(pcs) else pc + (ins.size if ins else 2)
        c, _, prev = model(ins, nxt != pc + ins.size, prev) if ins else (1, "", False)
        total += c
        name = next((f[2] for f in funcs if f[0] <= pc < f[1]), "?")
        name = re.sub(r"\.(constprop|isra|part)\.\d+", "", name).replace(prefix, "")
        acc = by_fn.setdefault(name, [0, 0])
        acc[0] += 1
        acc[1] += c
        group = mix.setdefault(name, {})
        group[mix_class(ins)] = group.get(mix_class(ins), 0) + c
    return {"instructions": round(len(pcs) / STEPS), "cycles": round(total / STEPS),
            "functions": {k: {"instructions": round(v[0] / STEPS), "cycles": round(v[1] / STEPS),
                              "mix": {c: round(n / STEPS) for c, n in sorted(mix[k].items())}}
                          for k, v in sorted(by_fn.items(), key=lambda kv: -kv[1][1])}}


MIX = ("smlad", "sxtb16", "load/store", "branch", "float", "other")


def mix_class(ins) -> str:
    """Where an instruction's cycles go: the SIMD multiply-accumulate, the sign extension of the int8
    weights, memory (LDR/STR/LDM/PUSH/POP and their VFP forms), branches, other float instructions
    (the rescale and the input quantizer), the rest (integer ALU: loop counters, max |x|, set-up)."""
    m = ins.mnemonic if ins else ""
    if m == "smlad" or m == "sxtb16":
        return m
    if re.match(r"^v?(ldr|str|ldm|stm|push|pop)", m):
        return "load/store"
    if re.match(r"^(b|bl|blx|bx|cbz|cbnz|tbb|tbh)(eq|ne|cs|hs|cc|lo|mi|pl|vs|vc|hi|ls|ge|lt|gt|le|al)?$", m):
        return "branch"
    return "float" if m.startswith("v") else "other"


def markdown(path: Path) -> str:
    """RESULTS.md's two tables from a results file: per kind and scheme, and the instruction mix."""
    rows = json.loads(path.read_text())["rows"]
    out = ["| kind | scheme | instructions/step | est. cycles/step | µs @ 80 MHz | dense MACs/step | "
           "est. cycles/MAC (step) | dense-kernel est. cycles/MAC | SMLAD helper only | flash B | stack B |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        inner = "-" if r["inner_cycles_per_mac"] is None else f"{r['inner_cycles_per_mac']:.2f}"
        out.append(f"| {r['kind']} | {r['scheme']} | {r['instructions']:,} | {r['cycles']:,} | "
                   f"{r['cycles'] / 80:,.0f} | {r['dense_macs']:,} | {r['cycles_per_mac_step']:.2f} | "
                   f"{r['dense_cycles_per_mac']:.2f} | {inner} | {r['flash_bytes']:,} | {r['stack_bytes']:,} |")
    out += ["", "| kind | " + " | ".join(MIX) + " | dense kernel |", "|---|" + "---|" * (len(MIX) + 1)]
    for r in rows:
        if r["scheme"] == "int16x8-dynamic":
            m = r["dense_mix_per_mac"]
            out.append(f"| {r['kind']} | " + " | ".join(f"{m[c]:.3f}" for c in MIX) +
                       f" | {sum(m.values()):.2f} |")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/c_smlad.json"))
    ap.add_argument("--kinds", nargs="*", default=list(KINDS))
    ap.add_argument("--markdown", type=Path, help="print RESULTS.md's tables from this results file and stop")
    args = ap.parse_args()
    if args.markdown:
        print(markdown(args.markdown))
        return
    from edgelnn.runtime.c import mcu
    from edgelnn.targets import load_profile
    from edgelnn.targets.mcu import core_of

    core = core_of(load_profile("cortex-m4"))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.kinds:
            files, x, dt, fp32 = artifacts(kind, Path(tmp))
            dense, all_mv = dense_macs(fp32)
            for scheme in SCHEMES:
                path, info = files[scheme]
                prefix = info["manifest"]["c_prefix"]
                r = per_function(path, prefix, x, dt)
                fig = mcu.figures(path, path.with_suffix(".h"), prefix, core)
                fn = r["functions"]
                dk = sum(v["cycles"] for k, v in fn.items() if k in DENSE[scheme])
                inner = (sum(fn.get(f, {}).get("cycles", 0) for f in ("_mv_q15", "_mv2_q15"))
                         if scheme == "int16x8-dynamic" else None)
                mix = {c: round(sum(v["mix"].get(c, 0) for k, v in fn.items() if k in DENSE[scheme]) / dense, 3)
                       for c in MIX}
                row = {"kind": kind, "scheme": scheme, "core": "cortex-m4", "instructions": r["instructions"],
                       "cycles": r["cycles"], "dense_macs": dense, "matvec_macs": all_mv,
                       "cycles_per_mac_step": round(r["cycles"] / all_mv, 2),
                       "dense_kernel_cycles": dk, "dense_cycles_per_mac": round(dk / dense, 2),
                       "inner_cycles_per_mac": round(inner / dense, 2) if inner else None,
                       "dense_mix_per_mac": mix,
                       "flash_bytes": fig.flash_bytes, "stack_bytes": fig.stack_bytes,
                       "functions": fn}
                rows.append(row)
                print(json.dumps({k: v for k, v in row.items() if k != "functions"}), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"steps": STEPS, "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    sys.exit(main())
