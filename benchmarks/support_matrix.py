"""The export support matrix, measured: model kind x format x scheme -> what the exporter did.

Trains each model kind briefly (or reuses the checkpoints in --work), runs the real exporter
(``edgelnn.export.export_bundle``: every format, every scheme, step and seq graphs, parity gate
in the real runtimes) and writes the table with parity errors and size ratios to
benchmarks/support_matrix.md (and, with --readme, into the marked section of README.md).

    .venv/bin/python benchmarks/support_matrix.py --work /tmp/support --readme README.md
"""
from __future__ import annotations

import argparse
import json
import platform
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

KINDS = ("cfc", "cfc-ncp", "ltc", "lstm", "gru", "gru-d", "rnn")
START, END = "<!-- support-matrix:start -->", "<!-- support-matrix:end -->"
ICON = {"passed": "✅", "rejected": "❌", "unsupported": "—", "failed": "💥"}


def _checkpoint(kind: str, args, work: Path) -> Path:
    from edgelnn.train import TrainConfig, train

    path = work / f"{kind}-{args.dataset}-{args.units}.pt"
    if not path.is_file() or not args.reuse:
        train(TrainConfig(model=kind, dataset=args.dataset, units=args.units, epochs=args.epochs, seed=0), path)
    return path


def _cell(r) -> str:
    if r["status"] == "unsupported":
        return "—"
    if r["status"] == "failed":
        return "💥 failed"
    text = f"{ICON[r['status']]} {r['size_ratio']:.2f}×"
    if r["scheme"] != "fp32" and not r["quantized"]:
        text += " float"
    return text


def _cpu() -> str:
    try:
        info = Path("/proc/cpuinfo").read_text()
        model = re.search(r"model name\s*:\s*(.+)", info)
        vnni = "VNNI" if ("avx512_vnni" in info or "avx_vnni" in info) else "no VNNI"
        return f"{model.group(1).strip() if model else platform.processor()} ({vnni})"
    except OSError:
        return platform.machine()


def render(rows: list[dict], meta: dict) -> str:
    from edgelnn.export.formats import FORMATS

    lines = [f"# Export support matrix ({meta['dataset']}, {meta['units']} units, {meta['epochs']} training epochs)",
             "",
             f"Measured by `benchmarks/support_matrix.py` on {meta['date']}: {meta['cpu']}, "
             f"{meta['tools']}. Each cell is the step graph (the artifact a device streams) unless the "
             "column says seq; the number is the file size relative to fp32 of the same format.",
             "",
             "✅ passed the parity gate · ❌ exported but failed parity (kept out of the bundle) · "
             "float = the scheme left the weights in float (`quantized: false`) · — not produced · "
             "💥 exporter/quantizer error", ""]
    for fmt in FORMATS.values():
        cols = [(g, s) for g in ("step",) for s in fmt.schemes] + [("seq", "fp32")]
        lines += [f"## {fmt.name}", "",
                  "| model | " + " | ".join(s if g == "step" else f"seq {s}" for g, s in cols) + " |",
                  "|---" * (len(cols) + 1) + "|"]
        for kind in meta["kinds"]:
            by = {(r["graph"], r["scheme"]): r for r in rows if r["kind"] == kind and r["format"] == fmt.name}
            lines.append(f"| {kind} | " + " | ".join(_cell(by[c]) if c in by else "" for c in cols) + " |")
        lines.append("")
    lines += ["## Parity figures", "",
              f"Whole validation sequences stepped from the zero state in the real runtime (onnxruntime, "
              f"LiteRT) vs PyTorch fp32. max err = max |y - y_torch|; err/range = max err / range of the "
              f"PyTorch outputs; Δ{meta['metric']} = PyTorch - artifact on the same sequences "
              "(positive = worse).", "",
              f"| model | format | graph | scheme | status | quantized | KiB | size ratio | max err | err/range | "
              f"{meta['metric']} | Δ{meta['metric']} |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if r["status"] in ("unsupported",):
            continue
        f = lambda v, spec=".2g": "" if v is None else format(v, spec)  # noqa: E731
        lines.append(f"| {r['kind']} | {r['format']} | {r['graph']} | {r['scheme']} | {ICON[r['status']]} {r['status']} | "
                     f"{'' if r['quantized'] is None else ('yes' if r['quantized'] else 'no')} | "
                     f"{f(r['bytes'] / 1024 if r['bytes'] else None, '.1f')} | {f(r['size_ratio'], '.2f')} | "
                     f"{f(r['max_abs'])} | {f(r['rel_range'])} | {f(r['metric'], '.3f')} | "
                     f"{f(r['metric_delta'], '+.3f')} |")
    bad = [r for r in rows if r["status"] in ("rejected", "failed")]
    if bad:
        lines += ["", "Rejected or failed:", ""]
        lines += [f"- {r['kind']} {r['format']} {r['graph']} {r['scheme']}: {r['reason']}" for r in bad]
    notes = sorted({(r["kind"], r["format"], r["scheme"], r["note"]) for r in rows
                    if r["status"] == "passed" and r["scheme"] != "fp32" and not r["quantized"]})
    if notes:
        lines += ["", "Not quantized (what the file says):", ""]
        lines += [f"- {k} {fm} {s}: {n}" for k, fm, s, n in notes]
    lines += ["", "## Time", "",
              "| model | params | PyTorch test " + meta["metric"] + " | full export (s) |", "|---|---|---|---|"]
    for kind in meta["kinds"]:
        t = meta["timing"][kind]
        lines.append(f"| {kind} | {t['params']} | {t['reference']:.3f} | {t['seconds']:.0f} |")
    lines += ["", f"A full export = both formats, every scheme, step and seq graphs, parity gate, golden "
              f"and eval data; on a shared 2-core machine ({meta['cpu']}).", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="basicmotions")
    parser.add_argument("--units", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--work", type=Path, default=Path("/tmp/edgelnn-support-matrix"))
    parser.add_argument("--reuse", action="store_true", help="reuse checkpoints already in --work")
    parser.add_argument("--write", type=Path, default=ROOT / "benchmarks" / "support_matrix.md")
    parser.add_argument("--readme", type=Path, default=None, help="also replace the marked section of this file")
    parser.add_argument("--render-only", action="store_true",
                        help="re-render from --work/support_matrix.json without exporting")
    args = parser.parse_args()
    if args.render_only:
        saved = json.loads((args.work / "support_matrix.json").read_text())
        _write(render(saved["rows"], saved["meta"]), args)
        return

    from importlib.metadata import version

    from edgelnn.export import export_bundle
    from edgelnn.models import load

    args.work.mkdir(parents=True, exist_ok=True)
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    rows, timing = [], {}
    metric = "metric"
    for kind in kinds:
        ckpt = _checkpoint(kind, args, args.work)
        start = time.perf_counter()
        report = export_bundle(ckpt, args.work / f"{kind}-{args.dataset}",
                               progress=lambda d, t, m, k=kind: print(f"  {k}: [{d}/{t}] {m}", flush=True))
        seconds = time.perf_counter() - start
        metric = report.metric
        timing[kind] = {"seconds": seconds, "reference": report.reference,
                        "params": load(ckpt).param_count()}
        rows += [{"kind": kind, **r} for r in report.to_dict()["results"]]
        print(f"{kind}: {len(report.passed)} passed in {seconds:.0f}s", flush=True)
    tools = ", ".join(f"{d} {version(d)}" for d in ("torch", "onnxruntime", "litert-torch", "ai-edge-quantizer",
                                                     "ai-edge-litert"))
    meta = {"dataset": args.dataset, "units": args.units, "epochs": args.epochs, "kinds": kinds,
            "date": time.strftime("%Y-%m-%d"), "cpu": _cpu(), "tools": tools, "metric": metric,
            "timing": timing}
    (args.work / "support_matrix.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    _write(render(rows, meta), args)


def _write(text: str, args) -> None:
    args.write.write_text(text)
    print(f"wrote {args.write}")
    if args.readme:
        readme = args.readme.read_text()
        body = text.split("\n", 2)[2].replace("\n## ", "\n#### ")  # no top heading; nest the rest
        title = text.split("\n", 1)[0].lstrip("# ").replace("Export support matrix", "Measured")
        section = f"{START}\n### {title}\n\n{body}\n{END}"
        if START in readme and END in readme:
            readme = re.sub(re.escape(START) + ".*?" + re.escape(END), lambda _: section, readme, flags=re.S)
        else:
            readme += "\n" + section + "\n"
        args.readme.write_text(readme)
        print(f"updated {args.readme}")


if __name__ == "__main__":
    main()
