"""``build_report``: results JSONL files -> report.md, report.html, results.csv (+ plots/)."""
from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError
from ..outdir import staged_folder
from . import plots
from .claims import Claim, check_claims
from .auto import auto_section
from .auto import collect as collect_auto
from .doc import Image, Section, Text, render_html, render_md
from .recommend import Recommendation, recommend
from .rows import Row, load_results
from .mcu import mcu_figures
from .sections import (environment_section, mcu_section, overview_text, plots_section, recommendation_section,
                       results_section, sensitivity_section, study_sections)
from .sensitivity import Sensitivity, analyse
from .summary import ModelSummary, summarize


@dataclass
class ReportFiles:
    out: Path
    markdown: Path
    html: Path
    csv: Path
    plots: list[Path]
    rows: list[Row]
    recommendations: list[Recommendation]  # per target (across models) first, then per model
    summaries: list[ModelSummary] = field(default_factory=list)
    claims: dict[str, list[Claim]] = field(default_factory=dict)
    sensitivity: list[Sensitivity] = field(default_factory=list)


CSV_FIELDS = ["bundle", "model", "dataset", "artifact", "format", "graph", "scheme", "runtime",
              "runtime_version", "provider", "threads", "target", "on_target", "status", "status_label",
              "error", "params", "params_active", "weight_bytes", "state_bytes", "macs_per_step",
              "elementwise_per_step", "size_bytes", "size_ratio", "file_ratio", "p50_us", "p99_us", "step_p50_us",
              "step_p99_us", "chunk", "run_per_sample_us", "peak_rss_mb", "model_rss_mb", "flash_bytes",
              "ram_bytes", "stack_bytes", "mcu_state_bytes", "metric", "accuracy",
              "accuracy_fp32", "reference", "reference_kind", "accuracy_delta", "drop", "agreement", "parity_max_abs", "golden_ok",
              "golden_max_abs", "golden_tolerance", "recommended"]


def write_csv(path: Path, rows: list[Row], picked: set[int]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=CSV_FIELDS)
        w.writeheader()
        for r in rows:
            rec = {k: getattr(r, k) for k in CSV_FIELDS if k != "recommended"}
            rec["recommended"] = id(r) in picked
            w.writerow({k: ("" if v is None else v) for k, v in rec.items()})


def find_bundle(name: str, rows: list[Row], bundle_dirs: list[Path]) -> Path | None:
    """A bundle folder by name: in --bundles dirs, next to the results file, or one level up."""
    sources = {Path(r.source).resolve().parent for r in rows if r.source}
    cands = [d / name for d in bundle_dirs]
    for s in sorted(sources):
        cands += [s / name, s / "bundles" / name, s.parent / name, s.parent / "bundles" / name]
    return next((c for c in cands if (c / "manifest.json").is_file()), None)


def run_sensitivity(rows: list[Row], bundle_dirs: list[Path]) -> list[Sensitivity]:
    """Analyse every distinct int8 step artifact that exists in a findable bundle."""
    seen, out = set(), []
    for r in rows:
        if "int8" not in r.scheme or r.graph != "step" or r.status not in ("passed", "golden_failed", "rejected"):
            continue
        if r.format not in ("onnx", "tflite"):    # the analysis reads ONNX/TFLite graphs
            continue
        if not r.artifact or (r.bundle, r.artifact) in seen:
            continue
        seen.add((r.bundle, r.artifact))
        path = find_bundle(r.bundle, rows, bundle_dirs)
        if path is None:
            s = Sensitivity(r.bundle, r.artifact, "", r.format, r.scheme, error="bundle folder not found")
        else:
            s = analyse(path, r.artifact)
        out.append(s)
    return out


def build_report(results: list[str | Path], out: str | Path, *, budget: float = 1.0,
                 bundles: list[str | Path] | None = None, sensitivity: bool = True,
                 title: str | None = None, preamble: str = "") -> ReportFiles:
    """Read result rows, write the report folder, return what was written and decided."""
    if budget < 0:
        raise InputError(f"--budget must be >= 0 points, got {budget}")
    for b in bundles or []:
        if not Path(b).is_dir():
            raise InputError(f"--bundles {b}: no such folder (a folder holding the bundles of the results)")
    rows = load_results(list(results))
    out = Path(out)
    per_model, overall = recommend(rows, budget)
    summaries = summarize(rows, budget)
    targets = sorted({s.target for s in summaries})
    claims = {t: check_claims([s for s in summaries if s.target == t]) for t in targets}
    dataset = ", ".join(sorted({r.dataset for r in rows}))
    is_study = len({r.model for r in rows}) > 1 or any(len(s.bundles) > 1 for s in summaries)

    images: dict[str, bytes | None] = {
        "accuracy_latency": plots.accuracy_latency(rows),
        "accuracy_size": plots.accuracy_size(rows),
        "robustness": plots.robustness(
            {s.model: {k: [(lvl, st.mean, st.std) for lvl, st in v] for k, v in s.curves.items()}
             for s in summaries if s.target == targets[0]},
            {s.model: (s.accuracy.mean, s.accuracy.std) for s in summaries if s.target == targets[0]},
            rows[0].metric) if targets else None,
    }
    sens = run_sensitivity(rows, [Path(b) for b in bundles or []]) if sensitivity else []
    detail: dict[str, list[Sensitivity]] = {}
    first_bundle: dict[str, str] = {}
    for s in sens:
        model = next((r.model for r in rows if r.bundle == s.bundle), "")
        first_bundle.setdefault(model, s.bundle)
        if not s.error and first_bundle[model] == s.bundle:
            detail.setdefault(model, []).append(s)

    overview = [overview_text(rows, sorted({r.source for r in rows}), budget)]
    if preamble:
        overview.append(Text(preamble))
    sections = [Section("Overview", overview),
                recommendation_section(per_model, overall, budget)]
    if is_study:
        sections += study_sections(summaries, claims, dataset, images["robustness"])
    trade = [Image(f"plots/{k}.png", v, k.replace("_", " vs ")) for k, v in images.items()
             if v and k != "robustness"]
    if not is_study and images["robustness"]:
        trade.append(Image("plots/robustness.png", images["robustness"], "robustness curves"))
    mcu = mcu_section(mcu_figures(sorted(rows, key=lambda r: r.flash_bytes is None)))
    sections += [plots_section(trade)] + ([mcu] if mcu else []) + [
        results_section(rows), sensitivity_section(sens, detail)]
    searches = collect_auto(rows, lambda name: find_bundle(name, rows, [Path(b) for b in bundles or []]))
    auto = auto_section(searches)
    if auto is not None:
        sections.append(auto)
        images["auto_frontier"] = next((b.png for b in auto.blocks if isinstance(b, Image)), None)
    sections.append(environment_section(rows))
    title = title or f"edgelnn report: {dataset}"

    written = []
    with staged_folder(out, "report") as tmp:     # the whole folder or nothing; one writer
        (tmp / "plots").mkdir(parents=True, exist_ok=True)
        for name, png in images.items():
            if png:
                (tmp / "plots" / f"{name}.png").write_bytes(png)
                written.append(out / "plots" / f"{name}.png")
        (tmp / "report.md").write_text(render_md(title, sections), encoding="utf-8")
        (tmp / "report.html").write_text(render_html(title, sections), encoding="utf-8")
        picked = {id(p.row) for p in overall + per_model if p.row is not None}
        write_csv(tmp / "results.csv", rows, picked)
    md, html_path, csv_path = out / "report.md", out / "report.html", out / "results.csv"
    return ReportFiles(out, md, html_path, csv_path, written, rows, overall + per_model, summaries,
                       claims, sens)
