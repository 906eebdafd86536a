"""Cortex-M instructions and estimated cycles per step of every kind at 64 units, the dt range
of each C scheme, and the cost of the int16-fixed dt change (issue 19).

    PYTHONPATH=$PWD python benchmarks/c_firmware.py --out benchmarks/results/c_firmware.json \
        [--old-src DIR]   # a copy of edgelnn before the dt change (git archive <commit> edgelnn)

Untrained models of the basicmotions geometry (6 inputs, 4 classes, 64 units; the cycle count
does not depend on the weights' values except through data-dependent branches), calibrated on
basicmotions' training split. Cortex-M4: the float API of fp32, int8-weight and int16x8-dynamic
(integer dense products, SMLAD); Cortex-M0+: the integer API of int16-fixed. Instructions are exact (qemu trace); cycles are the estimate of
edgelnn.runtime.c.cycles; µs at 80 MHz (M4) / 48 MHz (M0+). ``--markdown FILE.json`` prints the
RESULTS.md tables (every row, and issue 19's per-kind summary).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

KINDS = ("cfc", "cfc-ncp", "lstm", "gru", "gru-d", "rnn", "ltc-ncp", "ltc")   # slowest to trace last
STEPS = 2           # timed steps after one untimed step (the count is deterministic)
QUANTIZED = ("int8-weight", "int16x8-dynamic", "int16-fixed")
ON = (("fp32", "cortex-m4"), ("int8-weight", "cortex-m4"), ("int16x8-dynamic", "cortex-m4"),
      ("int16-fixed", "cortex-m0plus"))          # (scheme, core) counted per kind


def artifacts(kind: str, root: Path, units: int = 64, dataset: str = "basicmotions", schemes=QUANTIZED):
    import torch

    from edgelnn import data, models
    from edgelnn.export.c import build
    from edgelnn.export.calibration import CalibrationData

    ds = data.load(dataset)
    torch.manual_seed(0)
    model = models.create(kind, ds.input_size, ds.output_size, units=units, task=ds.task,
                          label_names=ds.label_names, norm_mean=ds.norm_mean, norm_std=ds.norm_std,
                          dataset=ds.name, seed=0).eval()
    calib = CalibrationData.from_split(model, ds.train, max_sequences=8)
    fp32 = root / f"{kind}.step.fp32.c"
    out = {"fp32": (fp32, build.convert(model, "step", fp32, mcu=False))}
    for scheme in schemes:
        path = root / f"{kind}.step.{scheme}.c"
        out[scheme] = (path, build.quantize(fp32, scheme, calib, path, mcu=False))
    x = ds.test.x[0, :STEPS + 1].astype(np.float32)
    dt = ds.test.dt[0, :STEPS + 1].astype(np.float32)
    return model, out, x, dt


def macs(path: Path, model) -> int | None:
    """Multiply-accumulates per step, read from the fp32 ONNX step graph (the C generator's source)."""
    from edgelnn.export.footprint import footprint
    from edgelnn.export.onnx import convert

    onnx = path.parent / "macs.step.onnx"
    if not onnx.is_file():
        convert(model, "step", onnx)
    fp = footprint(onnx, "onnx", "step", [n for n, _ in model.state_spec])
    return None if fp is None else fp.macs_per_step


def dt_max(path: Path, prefix: str) -> str:
    m = re.search(rf"#define {prefix.upper()}_DT_MAX (\S+)", path.with_suffix(".h").read_text())
    return m.group(1).rstrip("f") if m else "?"


def cycles_table(kinds, root: Path, partial: Path | None = None) -> list[dict]:
    from edgelnn.runtime.c.cycles import step_cost
    from edgelnn.targets import load_profile
    from edgelnn.targets.mcu import core_of

    m4, m0 = (core_of(load_profile(n)) for n in ("cortex-m4", "cortex-m0plus"))
    rows = []
    for kind in kinds:
        t0 = time.time()
        (root / kind).mkdir(exist_ok=True)
        model, files, x, dt = artifacts(kind, root / kind)
        for scheme, core in ((s, {"cortex-m4": m4, "cortex-m0plus": m0}[c]) for s, c in ON):
            path, info = files[scheme]
            prefix = info["manifest"]["c_prefix"]
            cost = step_cost(path, path.with_suffix(".h"), prefix, core, x, dt, steps=STEPS, timeout=1800)
            n = macs(path, model)
            rows.append({"kind": kind, "scheme": scheme, "core": core.name, "api": cost.api,
                         "instructions": cost.instructions, "cycles": cost.cycles, "us": cost.us,
                         "clock_mhz": cost.clock_mhz, "macs": n,
                         "cycles_per_mac": round(cost.cycles / n, 2) if n else None,
                         "dt_max": dt_max(path, prefix), "by_class": cost.by_class})
            print(json.dumps(rows[-1]), flush=True)
        print(f"# {kind}: {time.time() - t0:.0f}s", file=sys.stderr, flush=True)
        if partial is not None:
            partial.write_text(json.dumps({"cycles": rows}, indent=1) + "\n")
    return rows


# -- the dt change: host step latency and flash, old generator vs new --------------------------------
TIMER = r"""#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <time.h>
#include <stdint.h>
#include "{h}"
static double now(void) {{ struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }}
int main(void)
{{
    static float x[{P}_INPUT_SIZE], s[{P}_STATE_SIZE], y[{P}_OUTPUT_SIZE];
    long i, n = {n};
    double t0, t1;
    volatile float sink;
    for (i = 0; i < {P}_INPUT_SIZE; i++) x[i] = 0.1f * (float)i;
    {p}_reset(s);
    for (i = 0; i < 1000; i++) {p}_step(x, 1.0f, s, y);
    t0 = now();
    for (i = 0; i < n; i++) {p}_step(x, 1.0f, s, y);
    t1 = now();
    sink = y[0];
    (void)sink;
    printf("%.4f\n", 1e6 * (t1 - t0) / (double)n);
    return 0;
}}
"""


def _generate_with(src: str, kind: str, out: Path) -> tuple[Path, str, dict]:
    """int16-fixed artifact of ``kind`` at 64 units generated by the edgelnn in ``src``."""
    code = f"""
import sys, json
from pathlib import Path
sys.path.insert(0, {src!r})
sys.path.insert(1, {str(Path(__file__).resolve().parent)!r})
from c_firmware import artifacts
model, files, x, dt = artifacts({kind!r}, Path({str(out)!r}))
path, info = files["int16-fixed"]
from edgelnn.runtime.c import mcu                      # this edgelnn's own harness (its API)
from edgelnn.targets import load_profile
from edgelnn.targets.mcu import core_of
prefix = info["manifest"]["c_prefix"]
fig = {{c: mcu.figures(path, path.with_suffix(".h"), prefix, core_of(load_profile(c))).to_dict()
       for c in ("cortex-m4", "cortex-m0plus")}}
print(json.dumps([str(path), prefix, fig]))
"""
    env = {**os.environ, "PYTHONPATH": src}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=900)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-2000:])
    path, prefix, fig = json.loads(proc.stdout.strip().splitlines()[-1])
    return Path(path), prefix, fig


def dt_change_cost(old_src: str, kind: str, root: Path, rounds: int = 7) -> dict:
    new_src = str(Path(__file__).resolve().parents[1])
    built = {}
    for tag, src in (("old", old_src), ("new", new_src)):
        folder = root / f"dt-{tag}"
        folder.mkdir(exist_ok=True)
        path, prefix, fig = _generate_with(src, kind, folder)
        exe = folder / "timer"
        (folder / "timer.c").write_text(TIMER.format(h=path.with_suffix(".h").name, p=prefix, P=prefix.upper(),
                                                     n=200000))
        subprocess.run(["cc", "-std=c99", "-O2", "-I", str(folder), str(folder / "timer.c"), str(path), "-o", str(exe),
                        "-lm"], check=True)
        built[tag] = (exe, fig)
    times = {"old": [], "new": []}
    for _ in range(rounds):                      # alternating, side by side
        for tag in ("old", "new"):
            out = subprocess.run([str(built[tag][0])], capture_output=True, text=True, check=True).stdout
            times[tag].append(float(out))
    med = {t: float(np.median(v)) for t, v in times.items()}
    return {"kind": kind, "units": 64, "scheme": "int16-fixed", "host_step_us_median": med,
            "host_ratio_new_over_old": round(med["new"] / med["old"], 4), "rounds": rounds, "samples": times,
            "flash_m4_float_api": {t: built[t][1]["cortex-m4"]["flash_bytes"] for t in built},
            "flash_m0plus_integer_api": {t: built[t][1]["cortex-m0plus"]["integer_api"]["flash_bytes"]
                                         for t in built},
            "load": os.getloadavg()[0]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--kinds", nargs="*", default=list(KINDS))
    ap.add_argument("--old-src", default=None, help="edgelnn source before the dt change (for its cost)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        result = {}
        if args.old_src:                  # first: it is quick, and the cycle table is long
            result["dt_change"] = [dt_change_cost(args.old_src, k, root) for k in ("cfc", "lstm")]
            print(json.dumps(result["dt_change"], indent=1), flush=True)
        result["cycles"] = cycles_table(args.kinds, root, args.out.with_suffix(".partial.json"))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__" and "--markdown" not in sys.argv:
    main()


def summary(result: dict) -> str:
    """Issue 19's table: per kind, instructions / est. cycles per step on each (scheme, core), and
    the largest dt each scheme represents."""
    cells = {(r["kind"], r["scheme"], r["core"]): r for r in result["cycles"]}
    kinds = list(dict.fromkeys(r["kind"] for r in result["cycles"]))
    on = [(s, c) for s, c in ON if any((k, s, c) in cells for k in kinds)]
    core = {"cortex-m4": "M4", "cortex-m0plus": "M0+"}
    head = ["kind", *(f"{core[c]} {s}" for s, c in on), "largest dt: float schemes", "largest dt: int16-fixed"]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for k in kinds:
        row = [k]
        for s, c in on:
            r = cells.get((k, s, c))
            row.append(f"{r['instructions']:,} / {r['cycles']:,}" if r else "–")
        floats = {cells[(k, s, c)]["dt_max"] for s, c in on if s != "int16-fixed" and (k, s, c) in cells}
        row.append("unbounded" if floats and all(v.startswith("3.40282") for v in floats) else ", ".join(sorted(floats)))
        fixed = cells.get((k, "int16-fixed", "cortex-m0plus"))
        row.append(fixed["dt_max"] if fixed else "–")
        out.append("| " + " | ".join(row) + " |")
    return "\n".join(out)


def markdown(result: dict) -> str:
    """The RESULTS.md tables, generated from the JSON this script wrote."""
    out = ["| kind | scheme | core (API) | instructions/step | est. cycles/step | µs @ clock | MACs/step | "
           "est. cycles/MAC | largest dt |", "|---|---|---|---|---|---|---|---|---|"]
    for r in result["cycles"]:
        api = "integer" if r["api"].startswith("integer") else "float"
        out.append(f"| {r['kind']} | {r['scheme']} | {r['core']} ({api}) | {r['instructions']:,} | {r['cycles']:,} | "
                   f"{r['us']:,.0f} @ {r['clock_mhz']:g} MHz | {r['macs'] or '–'} | "
                   f"{r['cycles_per_mac'] if r['cycles_per_mac'] is not None else '–'} | "
                   f"{'unbounded (float)' if r['dt_max'].startswith('3.40282') else r['dt_max']} |")
    out += ["", summary(result)]
    for d in result.get("dt_change", []):
        med = d["host_step_us_median"]
        out += ["", f"dt change, {d['kind']}-64 int16-fixed: host step {med['old']:.3f} → {med['new']:.3f} µs "
                    f"(median of {d['rounds']} alternating runs, ratio {d['host_ratio_new_over_old']:.3f}, load "
                    f"{d['load']:.1f}); flash Cortex-M4 float API {d['flash_m4_float_api']['old']} → "
                    f"{d['flash_m4_float_api']['new']} B, Cortex-M0+ integer API "
                    f"{d['flash_m0plus_integer_api']['old']} → {d['flash_m0plus_integer_api']['new']} B."]
    return "\n".join(out) + "\n"


if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "--markdown":
    print(markdown(json.loads(Path(sys.argv[2]).read_text())))
