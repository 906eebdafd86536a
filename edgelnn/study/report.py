"""``build_study_report``: a study folder -> report.md, report.html, findings.md, CSVs,
summary.json and plots, all generated from ``records/``, ``tuning/`` and ``results/``.

Torch-free: numpy, matplotlib and the report's document model.
"""
from __future__ import annotations

import csv
import json
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..report.doc import Section, Text, render_html, render_md
from . import report_plots as plots
from . import report_sections as sec
from .competence import GATE_POINTS, best_published
from .findings import cross_block, findings_markdown, memory_block, training_block
from .studydata import StudyData, load_study
from .metrics import chance
from .metrics import get as get_metric
from .verdicts import ALPHA, MIN_SEEDS, Analysis, analyse, loss_share, scale, sign_of

SUMMARY_SCHEMA = "edgelnn-study-report"
SUMMARY_VERSION = 1


@dataclass
class StudyReportFiles:
    out: Path
    markdown: Path
    html: Path
    findings: Path
    summary: Path
    csv: dict[str, Path]
    plots: list[Path]
    analysis: Analysis
    findings_text: str
    problems: list[str] = field(default_factory=list)

    @property
    def files(self) -> list[Path]:
        return [self.markdown, self.html, self.findings, self.summary, *self.csv.values(), *self.plots]


def robustness_rows(data: StudyData, a: Analysis) -> list[dict]:
    """Metric per (dataset, model, arm, shift, level) at the reference budget, over seeds."""
    out = []
    for ds in data.datasets:
        b = a.ref_budget[ds]
        for model in data.models(ds):
            for arm in data.arms():
                c = data.cell(ds, model, b, arm)
                if c is None:
                    continue
                per_seed_clean = [_metric(c.metric, np.asarray(r.test_scores) / c.divisor) for r in c.runs]
                clean = statistics.fmean(per_seed_clean)
                for shift, levels in c.shift_levels().items():
                    for lvl in levels:
                        vals = [_metric(c.metric, np.asarray(r.shifts[shift][lvl].scores) / c.divisor)
                                for r in c.runs]
                        mean = statistics.fmean(vals)
                        loss = sign_of(c.metric) * (clean - mean) * scale(c.metric)
                        share = loss_share(clean, mean, chance(c.metric, ds), c.metric)
                        out.append({"dataset": ds, "model": model, "family": c.family, "arm": arm, "budget": b,
                                    "shift": shift, "level": lvl, "metric": c.metric, "mean": mean,
                                    "std": statistics.stdev(vals) if len(vals) > 1 else 0.0, "clean": clean,
                                    "loss": loss, "share": share, "seeds": len(vals)})
    return out


def _metric(metric: str, scores) -> float:
    return float(get_metric(metric).from_mean(np.asarray(scores, dtype=np.float64).mean()))


def _write_csv(path: Path, rows: list[dict]) -> Path:
    fields: list[str] = []
    for r in rows:
        fields += [k for k in r if k not in fields]
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=fields or ["empty"])
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if v is None else json.dumps(v, sort_keys=True) if isinstance(v, (dict, list)) else v)
                        for k, v in r.items()})
    return path


def record_rows(data: StudyData) -> list[dict]:
    rows = []
    for r in sorted(data.runs, key=lambda r: (r.dataset, r.model, r.budget, r.arm, r.seed)):
        rows.append({"dataset": r.dataset, "model": r.model, "family": r.family, "budget": r.budget,
                     "arm": r.arm, "seed": r.seed, "units": r.units, "params_active": r.params_active,
                     "params_total": r.params_total, "metric": r.metric, "train_metric": r.train_metric,
                     "val_metric": r.val_metric,
                     "test_metric": r.test_metric, "test_items": len(r.test_scores),
                     "best_epoch": r.best_epoch, "epochs_run": r.epochs_run, "train_seconds": r.train_seconds,
                     "train_peak_mb": r.train_peak_mb, "stacked": r.stacked, "val_items": r.val_items,
                     "retry": r.retry, "training_failure": ";".join(r.training_failure),
                     "worker": r.worker, "hparams": r.hparams,
                     "shifts": {s: {lvl: v.metric for lvl, v in levels.items()} for s, levels in r.shifts.items()}})
    return rows


def build_study_report(folder: str | Path, out: str | Path | None = None, *, quick: bool = False,
                       design: dict | None = None, alpha: float = ALPHA, min_seeds: int = MIN_SEEDS,
                       n_boot: int | None = None, title: str | None = None) -> StudyReportFiles:
    """Read a study folder, analyse it and write the report folder (default ``folder/report``).

    ``design``: the engine's design dict (else ``study.json``'s ``design``), shown in the report.
    ``quick``: a quick look; no verdicts. ``n_boot``: override the resample count (tests).
    """
    import scipy.stats  # noqa: F401 -- the `stats` extra: missing, fail before anything is written

    folder = Path(folder)
    data = load_study(folder)
    if design is not None:
        data.design = dict(design)
    if not data.cells:
        raise InputError(f"{folder}: no usable final-run records under records/ "
                         + (f"({len(data.problems)} unreadable)" if data.problems else "(none found)"))
    quick = quick or bool(data.design.get("quick"))
    out = Path(out) if out is not None else folder / "report"
    (out / "plots").mkdir(parents=True, exist_ok=True)

    a = analyse(data, alpha=alpha, min_seeds=min_seeds, quick=quick, n_boot=n_boot)
    d = sec.design_of(data)
    rob = robustness_rows(data, a)
    foot = sec.footprint_rows(data)
    extra = [b for b in (memory_block(foot, a, d["liquid"], d["rnn"]), training_block(list(data.cells.values()), a),
                         cross_block(a)) if b]
    findings = findings_markdown(a, d, extra)

    images: dict[str, bytes | None] = {}
    models = data.models()
    for ds in data.datasets:
        pub = best_published(ds)
        images[f"curves-{ds}"] = plots.curves(ds, a.curves, models, a.best.get(ds),
                                              (pub.accuracy, pub.method) if pub and data.metric(ds) == "accuracy"
                                              else None)
        images[f"robustness-{ds}"] = plots.robustness(ds, rob, models, a.ref_budget[ds])
    images["cd"] = plots.cd_diagram(a.cross.get("friedman"))

    kind = "quick look" if quick else "study"
    title = title or f"edgelnn {kind}: {', '.join(d['liquid'])} vs {', '.join(d['rnn'])} on {', '.join(d['datasets'])}"
    overview = [Text(f"Built from `{folder.name}/records`, `tuning` and `results`: {len(data.runs)} final runs, "
                     f"{len(data.trials)} tuning trials, {len(data.bench)} bench rows. "
                     + ("**Quick look**: a first look with few seeds and short training; it issues no verdicts. "
                        if quick else "")
                     + "Every sentence of the findings is generated from the results below.")]
    if a.cannot_carry:
        overview.append(Text("**What this run cannot carry.** " + " ".join(a.cannot_carry)))
    sections = [Section("Overview", overview),
                sec.declared_section(a),
                Section("Findings", [Text(findings)]),
                sec.design_section(data, a),
                sec.competence_section(a),
                sec.curves_section(data, a, images),
                sec.pairs_section(a, d),
                sec.robustness_section(data, a, rob, images),
                sec.time_aug_section(data, a, rob),
                sec.cross_section(a, images),
                sec.memory_section(data, foot),
                sec.training_section(data)]
    problems = sec.problems_section(data)
    if problems:
        sections.append(problems)

    written = []
    for name, png in images.items():
        if png:
            path = out / "plots" / f"{name}.png"
            path.write_bytes(png)
            written.append(path)
    md, html_path, fnd = out / "report.md", out / "report.html", out / "findings.md"
    md.write_text(render_md(title, sections), encoding="utf-8")
    html_path.write_text(render_html(title, sections), encoding="utf-8")
    fnd.write_text(findings, encoding="utf-8")
    curve_rows = [{"dataset": c.dataset, "model": c.model, "family": c.family, "arm": c.arm, "metric": c.metric,
                   **asdict(p), "reach_budget": c.reach, "reach_censored": c.censored}
                  for c in a.curves for p in c.points]
    csvs = {
        "records": _write_csv(out / "records.csv", record_rows(data)),
        "pairs": _write_csv(out / "pairs.csv", [c.to_dict() for c in a.claims]),
        "competence": _write_csv(out / "competence.csv", [asdict(r) for r in a.competence]),
        "footprint": _write_csv(out / "footprint.csv", foot),
        "curves": _write_csv(out / "curves.csv", curve_rows),
        "robustness": _write_csv(out / "robustness.csv", rob),
    }
    summary = {
        "schema": SUMMARY_SCHEMA, "schema_version": SUMMARY_VERSION, "quick": quick,
        "design": d, "alpha": a.alpha, "min_seeds": a.min_seeds, "n_boot": a.n_boot, "boot_seed": a.boot_seed,
        "family_size": a.family_size, "gate_points": GATE_POINTS, "reference_budget": a.ref_budget,
        "holm_family": a.holm_family, "families": a.families, "alt_family": a.alt_family,
        "alt_families": a.alt_families, "gate_reads": "validation",
        "cannot_carry": a.cannot_carry, "best": a.best,
        "competence": [asdict(r) for r in a.competence],
        "curves": [{**{k: v for k, v in asdict(c).items() if k != "points"},
                    "points": [asdict(p) for p in c.points]} for c in a.curves],
        "claims": [c.to_dict() for c in a.claims], "cross_dataset": a.cross,
        "findings": findings, "problems": data.problems,
    }
    sj = out / "summary.json"
    sj.write_text(json.dumps(_finite(summary), indent=1, default=_jsonable, allow_nan=False), encoding="utf-8")
    return StudyReportFiles(out, md, html_path, fnd, sj, csvs, written, a, findings, list(data.problems))


def _finite(v):
    """NaN / inf -> None, recursively (JSON has no NaN; a missing figure is null)."""
    if isinstance(v, dict):
        return {k: _finite(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_finite(x) for x in v]
    if isinstance(v, (float, np.floating)):
        return float(v) if np.isfinite(v) else None
    return v


def _jsonable(v):
    if isinstance(v, (np.floating, np.integer)):
        return v.item()
    raise TypeError(f"not JSON serializable: {type(v).__name__}")
