"""Sections of the study report, built from the study data and its analysis (no I/O here)."""
from __future__ import annotations

import json
import math
import statistics
from collections import Counter

from ..report.doc import Image, Section, Table, Text
from . import search
from .competence import GATE_POINTS, published
from .metrics import get as get_metric
from .findings import fmt_p, join
from .timing import measured
from .studydata import StudyData
from .verdicts import NOT_ASSESSABLE, QUESTIONS, SHIFT_NAMES, TRAINING_FAILURE, Analysis, Claim, scale

def declared_section(a: Analysis) -> Section:
    """The analysis as declared before the results (generated from the code's own constants)."""
    from .declared import markdown

    sizes = ", ".join(f"{k}: {n}" for k, n in a.families.items()) or "none"
    return Section("Analysis declared before the results", [
        Text("These rules are fixed by the code before any result is read (`edgelnn.study.declared`; "
             "docs/study-design.md holds the same generated text). Nothing below was chosen on outcomes.\n\n"
             + markdown(a.alpha, a.min_seeds)),
        Text(f"In this run: {a.family_size} claims carry a verdict (Holm families — {sizes}); the budget-reach "
             f"bootstrap draws B = {a.n_boot:,} resamples (the smallest Holm threshold alpha/m is >= 10x its p-value "
             f"resolution 2/(B+1)); smooth statistics use {a.smooth_boot:,} resamples per one-way part.")])


def pm(mean, std, digits=3, k=1.0) -> str:
    if mean is None:
        return "–"
    return f"{mean * k:.{digits}f} ± {std * k:.{digits}f}" if std is not None else f"{mean * k:.{digits}f}"


def num(v, digits=3) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


def intn(v) -> str:
    return "–" if v is None else f"{int(round(v)):,}"


def design_of(data: StudyData) -> dict:
    d = data.design
    return {"datasets": data.datasets, "liquid": data.liquid(), "rnn": data.rnn(),
            "models": data.models(), "budgets": data.budgets(), "seeds": len(data.seeds),
            "seed_list": data.seeds, "arms": data.arms(), "study": d}


def design_section(data: StudyData, a: Analysis) -> Section:
    from ..data import get_info

    ds_rows = []
    for ds in data.datasets:
        cells = [c for c in data.cells.values() if c.dataset == ds]
        try:
            info = get_info(ds)
            task, sizes, note = info.task, f"{info.n_train} / {info.n_test}", info.description
        except ValueError:
            task, sizes, note = "?", "?", "not a registered dataset"
        ds_rows.append([ds, task, cells[0].metric, sizes, str(cells[0].test_series().n_items),
                        f"{a.ref_budget[ds]:,}", note])
    notes = [Text(n) for n in (data.design.get("notes") or []) if isinstance(n, str) and n.strip()]
    if data.state.get("jobs"):
        notes.append(Text(measured(data.state, data.design).describe()))
    blocks = notes + [Text(f"Models: liquid {join(data.liquid()) or 'none'}; RNN {join(data.rnn()) or 'none'}. Seeds: "
                   f"{', '.join(map(str, data.seeds))}. Arms: {join(data.arms())} (time-aug = random drop / "
                   "resample of samples while training). Reference budget = the budget of the robustness "
                   "and time-augmentation comparisons (the time-aug arm's budget, else the middle one)."),
              Table("design-datasets", ["dataset", "task", "metric", "train / test (files)", "test items scored",
                                        "reference budget", "description"], ds_rows)]
    reasons = {(f.get("dataset"), f.get("kind"), f.get("budget")): f.get("reason")
               for f in (data.design.get("sizing") or []) if isinstance(f, dict)}
    rows = []
    for ds in data.datasets:
        for model in data.models(ds):
            cells = {b: data.cell(ds, model, b) for b in data.budgets(ds)}
            line = [ds, model, data.families[model]]
            for b, c in cells.items():
                if c is None:
                    line.append("not run")
                    continue
                act, tot = c.mean("params_active"), c.mean("params_total")
                off = (act - b) / b * 100
                why = reasons.get((ds, model, b)) or reasons.get((None, model, b)) or "no reason recorded"
                flag = "" if abs(off) <= 15 else f" **outside ±15 %**: {why}"
                line.append(f"{intn(c.mean('units'))} units: {intn(act)} active / {intn(tot)} total "
                            f"({off:+.0f} %){flag}")
            rows.append(line)
    budgets = data.budgets()
    blocks.append(Table("design-budgets", ["dataset", "model", "family"] + [f"budget {b:,}" for b in budgets],
                        rows, caption="Each model sized by active parameters (masked synapses excluded); "
                                      "both counts shown, mean over seeds."))
    blocks += tuning_blocks(data)
    return Section("Design", blocks)


def _space(trials) -> str:
    vals: dict[str, set] = {}
    for t in trials:
        for k, v in (t.hparams or {}).items():
            vals.setdefault(k, set()).add(json.dumps(v, sort_keys=True))
    parts = []
    for k in sorted(vals):
        vs = sorted(vals[k], key=lambda s: (len(s), s))
        parts.append(f"{k} ∈ {{{', '.join(vs)}}}" if len(vs) > 1 else f"{k} = {vs[0]}")
    return "; ".join(parts)


def tuning_blocks(data: StudyData) -> list:
    if not data.trials:
        return [Text("**Tuning:** no tuning records in `tuning/`: the settings below are not the result of "
                     "a search this report can show.")]
    groups: dict[tuple, list] = {}
    for t in data.trials:
        groups.setdefault((t.dataset, t.model, t.budget), []).append(t)
    counts = Counter(len(v) for v in groups.values())
    equal = len(counts) == 1
    rows = []
    order = {m: i for i, m in enumerate(data.models())}
    dorder = {d: i for i, d in enumerate(data.datasets)}
    for (ds, model, b), ts in sorted(groups.items(), key=lambda kv: (dorder.get(kv[0][0], 99),
                                                                      order.get(kv[0][1], 99), kv[0][2])):
        # the engine's rule (edgelnn.study.search.choose): lowest mean validation loss over the tuning
        # seeds, a flagged or diverged setting never kept while another exists
        best = search.best(search.landscape(ts))
        used = [r for r in data.runs if r.dataset == ds and r.model == model and r.arm == "plain"]
        settings = {json.dumps(r.hparams, sort_keys=True) for r in used}
        same_b = {json.dumps(r.hparams, sort_keys=True) for r in used if r.budget == b}
        if same_b:
            chosen = "; ".join(sorted(same_b))
        elif len(settings) == 1:
            chosen = f"{next(iter(settings))} (used at every budget)"
        else:
            chosen = "; ".join(sorted(settings)) or "(no final run yet)"
        val = "–" if best["val_metric"] is None else f"{best['val_metric']:.4f}"
        rows.append([ds, model, f"{b:,}", str(len(ts)), _space(ts),
                     f"trial {best['trial']}: loss {best['val_loss']:.4f}, {val}", chosen,
                     f"{sum(t.seconds for t in ts):.0f}"])
    text = (f"**Tuning** on validation data only: {sum(len(v) for v in groups.values())} trials over "
            f"{len(groups)} (dataset, model, budget) groups; "
            + (f"every group got the same number of trials ({next(iter(counts))})." if equal else
               f"**unequal** trial counts per group: {dict(sorted(counts.items()))}.")
            + " Budgets without trials reuse the settings tuned at another budget of the same model "
              "(the chosen settings column shows what each final model used).")
    return [Text(text), Table("tuning", ["dataset", "model", "budget", "trials", "search (values tried)",
                                         "chosen trial (validation)", "chosen settings (final runs)",
                                         "tuning s"], rows), *landscape_blocks(data, groups)]


def landscape_blocks(data: StudyData, groups: dict) -> list:
    """Every group's tuning landscape: each setting's mean validation loss and score over its seeds,
    whether a seed was flagged as a training failure, and which extension round added it."""
    rows = []
    for (ds, model, b), ts in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2])):
        land = search.landscape(ts)
        win = search.best(land)["trial"]
        for r in land:
            extra = ", ".join(f"{k} {v:g}" for k, v in r["search"].items() if isinstance(v, (int, float)))
            rows.append([ds, model, f"{b:,}", str(r["trial"]), f"{r['lr']:g}", str(r["batch_size"] or "–"),
                         extra or "–", str(r["seeds"]), str(r.get("val_items") or "–"), f"{r['val_loss']:.4f}",
                         num(r["val_metric"], 4),
                         "flagged" if r["flagged"] else "",
                         (f"{r['extension'] or ''} {r['retry'] + ' retry' if r.get('retry') else ''}").strip(),
                         "◀" if r["trial"] == win else ""])
    extended = sorted({(ds, m, b) for (ds, m, b), ts in groups.items() if any(getattr(t, "extension", 0) for t in ts)})
    text = ("**Tuning landscape** (validation data only; mean over each setting's seeds, one validation fold each: "
            "*val items* in all). *ext*: the extension "
            "round that added the setting (the grid is extended one step past an edge its best rate lies on, "
            "the same rule for every model; *capacity retry*: added below the grid when the cell's validation "
            "score fell with capacity, edgelnn.study.stages); ◀: the chosen setting. "
            + (f"Extended: {len(extended)} of {len(groups)} group(s)." if extended else "No group was extended."))
    return [Text(text), Table("tuning-landscape", ["dataset", "model", "budget", "trial", "lr", "batch", "options",
                                                   "seeds", "val items", "val loss", "val score", "failure",
                                                   "ext", "chosen"],
                              rows)]


def _in(value: float | None, metric: str) -> str:
    """A competence figure; a metric other than accuracy says which it is."""
    text = num(value, 4)
    return text if metric == "accuracy" or value is None else f"{text} ({get_metric(metric).label or metric})"


def competence_section(a: Analysis) -> Section:
    rows = []
    for r in a.competence:
        figs = published(r.dataset)
        pub = "; ".join(f"{p.method} {p.accuracy:.3f}" for p in figs) or r.source
        status = ("–" if r.within is None else "within" if r.within
                  else f"**more than {GATE_POINTS:g} points below**")
        rows.append([r.dataset, r.model, r.family, _in(r.train, r.val_metric), _in(r.val, r.val_metric),
                     str(r.val_items or "–"),
                     _in(r.test, r.test_metric),
                     f"{r.best_budget:,} {r.best_arm}" if r.best_budget else "–", pub, status])
    sources = sorted({p.source for r in a.competence for p in published(r.dataset)})
    return Section("Competence gate", [
        Text(f"Each model's best cell chosen by *validation* accuracy (mean over seeds; any budget and arm; "
             f"training failures left out), its validation accuracy -- what the gate reads -- and the test "
             f"accuracy of the same cell beside the published figures (test accuracy on the archive's split). "
             "*train*: the same cell on the data it was trained on (its seeds' own training splits; "
             "'–' where the records predate it; a regression row's is in validation's RMSE): poor there as well "
             "as on validation means the model under-fits, good there and poor on validation that it over-fits. "
             f"A comparison where *neither* model's validation accuracy comes within {GATE_POINTS:g} points of "
             "the best published figure is **not assessable** on that dataset: it gets no verdict. *val items*: "
             "the validation items behind the gate's figure, over the cell's seeds (each seed validates on its own "
             "fold of the training set: edgelnn.study.validation). A regression dataset has no gate; its rows "
             "name their metrics: the validation RMSE the records carry (in standard deviations of the target) "
             "and the test relative MSE the comparisons use (the share of the predict-the-mean baseline's MSE), "
             "both lower-is-better. Sources:\n\n"
             + "\n".join(f"- {s}" for s in sources)),
        Table("competence", ["dataset", "model", "family", "train (same cell)", "validation (gate)", "val items",
                             "test (same cell)",
                             "at budget / arm", "published (test)", "gate"], rows)])


def curves_section(data: StudyData, a: Analysis, images: dict) -> Section:
    blocks = [Text("Mean test metric over seeds at each budget, plotted against the mean *active* parameter "
                   "count. Per model: the smallest budget at which its curve comes within 1 point (relative MSE: 0.01, 1 % of "
                   "the predict-the-mean baseline's MSE; a dataset left on RMSE: 1 % of the best) "
                   "of the dataset's best (any model, any budget, plain arm) -- the basis of the parameter-"
                   "efficiency comparisons; never one pair.")]
    for ds in data.datasets:
        if images.get(f"curves-{ds}"):
            blocks.append(Image(f"plots/curves-{ds}.png", images[f"curves-{ds}"], f"{ds} curves"))
    budgets = data.budgets()
    rows = []
    for c in a.curves:
        by_b = {p.budget: p for p in c.points}
        line = [c.dataset, c.model, c.arm]
        for b in budgets:
            p = by_b.get(b)
            line.append("–" if p is None else f"{pm(p.mean, p.std)} ({intn(p.params_active)} p, n={p.seeds})")
        line.append(("–" if c.arm != "plain" else f"{c.reach:,}" if c.reach
                     else "censored: not within at any budget"))
        rows.append(line)
    blocks.append(Table("curves", ["dataset", "model", "arm"] + [f"budget {b:,}" for b in budgets]
                        + ["smallest budget within 1 point of the best"], rows))
    return Section("Accuracy vs active parameters", blocks)


def claim_row(c: Claim) -> list[str]:
    k = scale(c.metric)

    def side(v, share=None):
        if v is None:
            return "censored: not within at any budget" if c.question == "efficiency" else "–"
        if c.question == "efficiency":
            return f"{int(v):,}"
        if c.question == "robustness":
            pts = f"{v:.1f} points" if c.metric == "accuracy" else f"{v:.3g} {get_metric(c.metric).unit}"
            return f"loses {share:.0f} % ({pts})" if share is not None else f"loses {pts}"
        return f"{v:.4f}"

    def n(v):
        if v in (math.inf, -math.inf):
            return "+∞" if v > 0 else "−∞"
        return f"{v:+.2f}" if (k == 100 or c.question == "efficiency" or c.normalised) else f"{v:+.3g}"

    where = (f"{c.budget:,}" if c.budget else "all") + (f", {c.shift}" if c.shift else "")
    ci = "–" if c.n_boot == 0 else f"{'≥ ' if c.censored == 'rnn' else '≤ ' if c.censored == 'liquid' else ''}" \
        f"{n(c.estimate)} [{n(c.lo)}, {n(c.hi)}]"
    if c.normalised and c.abs_estimate is not None:
        ci += f"; points {n(c.abs_estimate)} [{n(c.abs_lo)}, {n(c.abs_hi)}]"
    alt = "–" if c.p_holm_alt is None else fmt_p(c.p_holm_alt, c.p_bound) + (
        f" → {c.verdict_alt}" if c.verdict_alt != c.verdict else "")
    return [c.dataset, where, f"{c.liquid} ({c.liquid_arm})", f"{c.rnn} ({c.rnn_arm})",
            side(c.liquid_value, c.liquid_share), side(c.rnn_value, c.rnn_share), ci, c.unit, str(c.seeds),
            "–" if c.df is None else f"{c.df:.1f}", fmt_p(c.p, c.p_bound),
            fmt_p(c.p_holm, c.p_bound) if c.p_holm is not None else "–", alt,
            f"**{c.verdict}**" if c.verdict not in (NOT_ASSESSABLE, TRAINING_FAILURE) else c.verdict, c.why]


CLAIM_COLUMNS = ["dataset", "budget, shift", "liquid", "RNN", "liquid figure", "RNN figure",
                 "liquid − RNN [95 % CI]", "unit", "seeds", "ν", "p", "Holm p", "Holm p, other family (sensitivity)",
                 "verdict", "why"]


def pairs_section(a: Analysis, design: dict) -> Section:
    rows = [claim_row(c) for c in a.claims if c.question in ("accuracy", "efficiency")]
    return Section("Pairs: accuracy and parameter efficiency", [
        Text("The claims, their family, the test and the gates are the ones declared in *Analysis declared before "
             f"the results*. Here m = {a.family_size} claims carry a verdict at alpha = {a.alpha:g}. CIs are not "
             "adjusted for multiplicity; the sensitivity column gives the Holm p under the other family choice "
             "(an arrow: the verdict it would give), which decides nothing."),
        Table("pairs", CLAIM_COLUMNS, rows, caption="Efficiency figures: the budget at which each curve comes "
                                                      "within 1 point of the best; difference in budget steps "
                                                      "(> 0: the liquid model gets there at a smaller budget; "
                                                      "≥ / ≤: a side is censored, the difference is a bound).")])


def robustness_section(data: StudyData, a: Analysis, rows: list[dict], images: dict) -> Section:
    blocks = [Text("Metric under each shift at the reference budget, mean ± std over seeds: "
                   + "; ".join(f"**{k}** = {v}" for k, v in SHIFT_NAMES.items())
                   + ". Loss = clean − shifted in accuracy points (regression: shifted − clean relative MSE, in % "
                     "of the predict-the-mean baseline's MSE), paired per item; share = loss / (clean − chance), "
                     "chance = 1 / classes (regression: the baseline's relative MSE, 1): the part of what the model "
                     "learned that the shift takes away (a model near chance cannot look robust by having little to "
                     "lose).")]
    for ds in data.datasets:
        if images.get(f"robustness-{ds}"):
            blocks.append(Image(f"plots/robustness-{ds}.png", images[f"robustness-{ds}"], f"{ds} robustness"))
    table = []
    for r in rows:
        table.append([r["dataset"], r["model"], r["arm"], r["shift"], r["level"], pm(r["mean"], r["std"]),
                      pm(r["clean"], None), num(r["loss"], get_metric(r["metric"]).digits),
                      "–" if r.get("share") is None else f"{r['share']:.0f} %"])
    blocks.append(Table("robustness-levels", ["dataset", "model", "arm", "shift", "level", "under shift",
                                              "clean", "loss", "share of clean − chance lost"], table))
    claims = [claim_row(c) for c in a.claims if c.question == "robustness"]
    blocks.append(Table("robustness-pairs", CLAIM_COLUMNS, claims,
                        caption="Liquid − RNN = RNN's share lost − liquid's share lost, in % of clean − chance "
                                "(> 0: the liquid model loses less of what it learned); the absolute loss "
                                "difference in points beside it."))
    return Section("Robustness", blocks)


def time_aug_section(data: StudyData, a: Analysis, rows: list[dict]) -> Section:
    if "time-aug" not in data.arms():
        return Section("Time augmentation", [Text("No time-aug arm in this study.")])
    side = []
    for ds in data.datasets:
        for model in data.models(ds):
            for shift in ("clean", *SHIFT_NAMES):
                vals = {}
                for arm in ("plain", "time-aug"):
                    if shift == "clean":
                        c = data.cell(ds, model, a.ref_budget[ds], arm)
                        vals[arm] = None if c is None else next(
                            (p for cv in a.curves if cv.dataset == ds and cv.model == model and cv.arm == arm
                             for p in cv.points if p.budget == a.ref_budget[ds]), None)
                    else:
                        rs = [r for r in rows if r["dataset"] == ds and r["model"] == model and r["arm"] == arm
                              and r["shift"] == shift]
                        vals[arm] = rs or None
                if vals["plain"] is None or vals["time-aug"] is None:
                    continue
                if shift == "clean":
                    fmt = {k: pm(v.mean, v.std) for k, v in vals.items()}
                else:
                    fmt = {k: pm(statistics.fmean(r["mean"] for r in v), None) for k, v in vals.items()}
                side.append([ds, model, shift, fmt["plain"], fmt["time-aug"]])
    claims = [claim_row(c) for c in a.claims if c.question == "time-aug"]
    return Section("Time augmentation beside plain training", [
        Text("Each model trained plainly and with time augmentation (random drop / resample of samples), "
             "at the reference budget: clean metric and the metric under each shift (mean over its levels). "
             "The comparisons below ask whether an RNN trained with time augmentation closes the gap to the "
             "liquid models under dropped samples and sampling-rate changes."),
        Table("time-aug", ["dataset", "model", "test set", "plain", "time-aug"], side),
        Table("time-aug-pairs", CLAIM_COLUMNS, claims)])


def cross_section(a: Analysis, images: dict) -> Section:
    cross = a.cross
    def mean_ci(w):
        if w.get("mean") is None or w["mean"] != w["mean"]:
            return "–"
        lo, hi = w.get("mean_lo"), w.get("mean_hi")
        ci = f" [{lo:+.2f}, {hi:+.2f}]" if lo is not None and lo == lo else ""
        return f"{w['mean']:+.2f}{ci}"
    rows = [[w["liquid"], w["rnn"], join(w["datasets"]) or "–",
             ", ".join(f"{d:+.2f}" for d in w["differences"]) or "–", mean_ci(w), str(w["n"]), fmt_p(w["p"]),
             fmt_p(w.get("p_holm")), fmt_p(w["p_min"])] for w in cross.get("wilcoxon", [])]
    blocks = [Text("Their own family (declared): unit = dataset where the pair is assessable and trained: the "
                   "liquid − RNN difference averaged over the budgets both ran (accuracy points; other metrics: "
                   "% of the RNN's figure). Two-sided Wilcoxon signed-rank test (scipy; exact over all sign "
                   "patterns up to 20 datasets), Holm over the pairs; with n datasets the smallest attainable p is "
                   "2/2^n, printed beside it. Mean difference with a 95 % BCa interval (scipy.stats.bootstrap, "
                   ">= 3 datasets)."),
              Table("cross-wilcoxon", ["liquid", "RNN", "datasets", "differences", "mean [95 % CI]", "n", "p",
                                       "Holm p", "smallest attainable p"], rows)]
    fr = cross.get("friedman")
    if fr:
        ranks = ", ".join(f"{m} {r:.2f}" for m, r in sorted(zip(fr["models"], fr["avg_ranks"]), key=lambda t: t[1]))
        blocks.append(Text(f"Friedman test over {fr['n_blocks']} datasets ({join(fr['blocks'])}), models ranked "
                           f"by their mean metric over the budgets all ran (1 = best): average ranks {ranks}; "
                           f"chi² = {fr['chi2']:.2f} (p = {fmt_p(fr['p_chi2'])}), Iman-Davenport F = "
                           f"{fr['f']:.2f} (p = {fmt_p(fr['p_f'])}); Nemenyi critical difference "
                           f"{fr['nemenyi_cd']:.2f} ranks at alpha {fr['alpha']:g} (Demšar 2006)."))
        if images.get("cd"):
            blocks.append(Image("plots/cd.png", images["cd"], "critical difference diagram"))
        if cross.get("friedman_left_out"):
            blocks.append(Text("Datasets left out of the Friedman test: " + join(cross["friedman_left_out"]) + "."))
    else:
        blocks.append(Text(cross.get("friedman_note") or "No Friedman test."))
    return Section("Across datasets", blocks)


FOOT_COLUMNS = ["dataset", "model", "budget", "artifact", "runtime", "status", "weight elements",
                "weight bytes", "state bytes", "MACs / step", "elementwise / step", "file bytes", "structure bytes",
                "MCU flash / RAM / stack", "p50 µs/step", "runtime RSS MB (runtime's cost)", "accuracy"]


def _mcu(raw: dict) -> dict:
    """A C row's microcontroller figures (edgelnn.report.mcu_figures), Cortex-M4 first."""
    from ..report.mcu import mcu_figures

    figs = sorted(mcu_figures([raw]), key=lambda f: f.core != "cortex-m4")
    if not figs:
        return {}
    return {"flash_bytes": figs[0].flash_bytes, "ram_bytes": figs[0].ram_bytes,
            "stack_bytes": figs[0].stack_bytes, "core": figs[0].core}


def footprint_rows(data: StudyData) -> list[dict]:
    out = []
    for r in data.bench:
        f = r.raw.get("footprint") or {}
        mcu = _mcu(r.raw)
        out.append({"dataset": r.dataset, "model": r.model, "budget": r.raw.get("budget"), "bundle": r.bundle,
                    "artifact": r.artifact, "format": r.format, "graph": r.graph, "scheme": r.scheme,
                    "runtime": r.runtime, "target": r.target, "status": r.status,
                    "weight_elements": f.get("weight_elements"), "weight_bytes": f.get("weight_bytes"),
                    "state_bytes": f.get("state_bytes"), "macs_per_step": f.get("macs_per_step"),
                    "elementwise_per_step": f.get("elementwise_per_step"),
                    "file_bytes": f.get("file_bytes", r.size_bytes), "structure_bytes": f.get("structure_bytes"),
                    "mcu_flash_bytes": mcu.get("flash_bytes"), "mcu_ram_bytes": mcu.get("ram_bytes"),
                    "mcu_stack_bytes": mcu.get("stack_bytes"), "p50_us_per_step": r.step_p50_us,
                    "p99_us_per_step": r.step_p99_us, "runtime_rss_mb": r.model_rss_mb,
                    "peak_rss_mb": r.peak_rss_mb, "accuracy": r.accuracy, "error": r.error})
    return out


def memory_section(data: StudyData, foot: list[dict]) -> Section:
    if not foot:
        return Section("Memory and speed", [Text("No bench rows in `results/`: nothing measured.")])
    rows = []
    for f in sorted(foot, key=lambda f: (f["dataset"], f["model"], f["budget"] or 0, f["format"], f["graph"],
                                          f["scheme"])):
        mcu = ("–" if f["mcu_flash_bytes"] is None else
               f"{intn(f['mcu_flash_bytes'])} / {intn(f['mcu_ram_bytes'])} / {intn(f['mcu_stack_bytes'])}")
        rows.append([f["dataset"], f["model"], intn(f["budget"]), f"{f['format']} {f['graph']} {f['scheme']}",
                     f["runtime"] or "–", f["status"], intn(f["weight_elements"]), intn(f["weight_bytes"]),
                     intn(f["state_bytes"]), intn(f["macs_per_step"]), intn(f["elementwise_per_step"]),
                     intn(f["file_bytes"]),
                     intn(f["structure_bytes"]), mcu, num(f["p50_us_per_step"], 1), num(f["runtime_rss_mb"], 2),
                     num(f["accuracy"], 4)])
    lat = []
    groups: dict[tuple, list[dict]] = {}
    for f in foot:
        if f["status"] == "passed" and f["p50_us_per_step"] is not None:
            groups.setdefault((f["target"], f["runtime"], f["format"], f["graph"], f["scheme"], f["dataset"],
                               f["budget"]), []).append(f)
    for key, fs in sorted(groups.items(), key=lambda kv: (tuple(str(v) for v in kv[0][:6]), kv[0][6] or 0)):
        fastest = min(f["p50_us_per_step"] for f in fs)
        for f in sorted(fs, key=lambda f: f["p50_us_per_step"]):
            lat.append([key[0], f"{key[1]} {key[2]} {key[3]} {key[4]}", key[5], intn(key[6]), f["model"],
                        num(f["p50_us_per_step"], 2), num(f["p99_us_per_step"], 2),
                        f"{f['p50_us_per_step'] / fastest:.2f}x"])
    return Section("Memory and speed at the model's scale", [
        Text("Per exported artifact of the chosen point (seed 0, plain arm) of each (dataset, model, budget). "
             "Weight bytes = weight elements × bits; state bytes = the recurrent state carried between steps; "
             "MACs per step counted from the exported step graph's matrix products (compare within one format: "
             "the formats express some layers differently), elementwise ops per step from its other arithmetic "
             "(where LTC's synapse and ODE arithmetic lives); file bytes split into weights and structure "
             "(graph, metadata). MCU flash / RAM / stack from the C backend where present. *Runtime RSS* is the "
             "resident memory the runtime adds when it loads and runs the model: mostly the runtime's own cost, "
             "not the model's."),
        Table("footprint", FOOT_COLUMNS, rows, css="nowrap"),
        Text("Latency is compared only within one target, runtime, format, graph and scheme (and one "
             "dataset and budget): p50 per input sample, single stream, measured after training finished "
             "(never sharing the CPU with training). One model per point (seed 0): a measurement, not a "
             "tested claim."),
        Table("latency", ["target", "runtime format graph scheme", "dataset", "budget", "model", "p50 µs/step",
                          "p99 µs/step", "× fastest"], lat)])


def training_section(data: StudyData) -> Section:
    rows = []
    tune: dict[tuple, float] = {}
    for t in data.trials:
        tune[(t.dataset, t.model, t.budget)] = tune.get((t.dataset, t.model, t.budget), 0.0) + t.seconds
    for c in sorted(data.cells.values(), key=lambda c: (c.dataset, data.models().index(c.model), c.budget, c.arm)):
        rows.append([c.dataset, c.model, f"{c.budget:,}", c.arm, str(len(c.runs)),
                     pm(c.mean("train_seconds"), c.std("train_seconds"), 1),
                     pm(c.mean("train_peak_mb"), c.std("train_peak_mb"), 1),
                     pm(c.mean("epochs_run"), c.std("epochs_run"), 1), pm(c.mean("best_epoch"), c.std("best_epoch"), 1),
                     num(tune.get((c.dataset, c.model, c.budget)), 0) if c.arm == "plain" else "–",
                     str(max(getattr(r, "stacked", 1) for r in c.runs)) if c.runs else "–"])
    from ..train.recipe import describe as describe_failure
    from .failures import failed_cells

    failed = failed_cells(data.runs)
    fail_rows = [[ds, m, f"{b:,}", arm, describe_failure(codes),
                  str(sum(1 for r in data.runs if (r.dataset, r.model, r.budget, r.arm) == (ds, m, b, arm)
                          and r.training_failure))]
                 for (ds, m, b, arm), codes in sorted(failed.items())]
    failures = ([Text(f"**Training failures** ({len(fail_rows)} cell(s), after the retries): reported here, never "
                      "turned into a verdict."),
                 Table("training-failures", ["dataset", "model", "budget", "arm", "failure", "runs flagged"],
                       fail_rows)] if fail_rows else
                [Text("**Training failures:** none remained after the retries (rule: kept epoch <= 3, constant "
                      "output, divergence, or a validation score that falls with capacity beyond seed noise).")])
    if data.replaced:
        retried = _retried_rows(data)
        failures += [Text(f"**Capacity retries** ({len(retried)} cell(s); edgelnn.study.stages): each cell whose "
                          "validation score fell with capacity was re-tuned once with a lower rate added below its "
                          "grid, and its final runs redone; the reruns replace the first runs everywhere in this "
                          "report. *remains*: the rerun cell still falls (listed as a training failure above)."),
                     Table("capacity-retries", ["dataset", "model", "budget", "arm", "first lr", "rerun lr",
                                                "first val", "rerun val", "remains"], retried)]
    return Section("Training time and peak memory", [*failures,
        Text("Per final run (mean ± std over seeds): wall time of training, training peak memory (as recorded "
             "by the trainer; method in `edgelnn.train`), epochs run and best epoch (early stopping on "
             "validation). Tuning seconds: all trials of that (dataset, model, budget). Runs shared the "
             "machine with other jobs: compare ratios within one study, not across machines. *stacked*: runs "
             "trained together in one job (edgelnn.train.stacked): a run's seconds are its share of the stack's "
             "wall time and its peak memory is the whole stack's, so compare those only between cells with the "
             "same stack size."),
        Table("training", ["dataset", "model", "budget", "arm", "seeds", "train s", "peak MB", "epochs run",
                           "best epoch", "tuning s", "stacked"], rows)])


def _retried_rows(data: StudyData) -> list[list[str]]:
    import statistics

    rows = []
    cells = sorted({(r.dataset, r.model, r.budget, r.arm) for r in data.replaced})
    for key in cells:
        first = [r for r in data.replaced if (r.dataset, r.model, r.budget, r.arm) == key]
        cell = data.cells.get(key)
        rerun = cell.runs if cell else []
        lr = lambda rs: ", ".join(sorted({f"{r.hparams.get('lr'):g}" for r in rs})) or "–"  # noqa: E731
        val = lambda rs: num(statistics.fmean([r.val_metric for r in rs]), 4) if rs else "–"  # noqa: E731
        rows.append([key[0], key[1], f"{key[2]:,}", key[3], lr(first), lr(rerun), val(first), val(rerun),
                     "yes" if cell is not None and cell.failure else ("cell left out" if cell is None else "no")])
    return rows


def problems_section(data: StudyData) -> Section | None:
    if not data.problems:
        return None
    return Section("Problems", [Text("Records that could not be used (each cell affected shows fewer seeds):\n\n"
                                     + "\n".join(f"- `{p}`" for p in data.problems))])


def questions_legend() -> str:
    return "; ".join(f"*{k}*: {v}" for k, v in QUESTIONS.items())
