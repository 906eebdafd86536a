"""The report's sections, each built from rows / summaries into doc blocks (no I/O here)."""
from __future__ import annotations

import math
from collections import Counter

from .claims import Claim, statement
from .doc import Image, Section, Table, Text
from .recommend import RULE, Recommendation, points
from .rows import STATUSES, Row
from .sensitivity import Sensitivity
from .summary import ModelSummary


def num(v, digits: int = 3) -> str:
    if v is None:
        return "–"
    if isinstance(v, float) and math.isinf(v):
        return "inf"
    return f"{v:.{digits}f}"


def kib(b) -> str:
    return "–" if b is None else f"{b / 1024:.1f}"


def delta(r: Row) -> str:
    d = r.accuracy_delta
    return "–" if d is None else f"{d:+.4f}"


def art(r: Row) -> str:
    return f"{r.format} {r.graph} {r.scheme}"


STATUS_LEGEND = ("Status legend: **passed** = exported, golden check passed, measured; "
                 "**exported, failed golden/parity check** = the artifact exists but disagrees with "
                 "PyTorch beyond tolerance (parity failures are kept out of the bundle); "
                 "**failed to export / not exported (unsupported) / failed to run** = no usable artifact, "
                 "reason given; **not applicable to this target** (grey) = an artifact of a format the "
                 "target does not run (e.g. ONNX on a microcontroller), not a failure. "
                 "*file grew* = a quantized artifact whose file is larger than fp32's: never recommended "
                 "for its size. An artifact byte-identical to another (same sha256) is listed once, its "
                 "aliases after `=`. "
                 "Δ = accuracy − the fp32 reference: PyTorch on the test split, or the fp32 artifact when "
                 "only a subset was scored; for RMSE a positive Δ is worse.")

RESULT_COLUMNS = ["model", "bundle", "artifact", "runtime", "target", "status", "params",
                  "active params", "size KiB", "weight KiB", "state B", "MACs/step", "× fp32", "file × fp32",
                  "p50 µs/step", "p99 µs/step", "p50 µs/call (chunk)",
                  "runtime peak RSS MB", "runtime RSS for the model MB", "flash KiB", "MCU RAM B",
                  "metric", "accuracy", "Δ vs fp32", "agreement", "parity max|err|",
                  "golden max|err| / tol", "reason"]
MEMORY_NOTE = ("*weight KiB*, *state B* and *MACs/step* are the model's own cost, read from the "
               "artifact (weights as stored, recurrent state, multiply-accumulates of one step's "
               "matrix products); the *runtime RSS* columns are the runtime's cost: resident memory "
               "of a process running it, mostly the runtime itself whatever the model. *flash KiB* "
               "and *MCU RAM B* (static RAM + worst-case stack + state) are a C artifact's on a "
               "microcontroller target's core. *size KiB* is the file on a host, except C: the compiled "
               "object's text + rodata on the host (its source's bytes in brackets) and flash on a "
               "microcontroller. *× fp32* compares what quantization shrinks with the fp32 artifact of the same "
               "bundle, format and target: weight bytes on a host (a C artifact's: the generator's stored "
               "constants), flash on a microcontroller (the rows' `weight_ratio` / `flash_ratio`); *file × fp32* "
               "compares the files (`file_ratio`; a quantized file can "
               "grow: QDQ structure; **file grew** flags it).")


def aliases(rows: list[Row]) -> tuple[list[Row], dict[int, list[Row]]]:
    """Rows with byte-identical artifacts (same sha256, target and runtime) collapsed to the first:
    (kept rows, {id(kept row): the rows it stands for})."""
    kept, alias, first = [], {}, {}
    for r in rows:
        key = (r.sha256, r.target, r.runtime, r.bundle) if r.sha256 else None
        if key is not None and key in first:
            alias.setdefault(id(first[key]), []).append(r)
            continue
        if key is not None:
            first[key] = r
        kept.append(r)
    return kept, alias


def results_section(rows: list[Row]) -> Section:
    order = sorted(rows, key=lambda r: (r.target, r.model, r.bundle, r.format, r.graph, r.scheme, r.runtime or ""))
    order, same = aliases(order)
    body, classes = [], []
    for r in order:
        call = f"{num(r.p50_us, 1)} ({r.chunk})" if r.graph == "seq" and r.p50_us is not None else "–"
        if r.run_per_sample_us is not None and r.raw.get("run_latency_us"):
            call = f"{num(r.raw['run_latency_us'].get('p50'), 1)} ({r.raw.get('run_chunk')}, run)"
        golden = (f"{num(r.golden_max_abs, 5)} / {num(r.golden_tolerance, 5)}"
                  if r.golden_max_abs is not None else "–")
        name = art(r) + "".join(f" = {a.scheme}" for a in same.get(id(r), []))
        size = kib(r.size_bytes) + (f" (source {kib(r.source_bytes)})" if r.source_bytes is not None else "") \
            + (" **file grew**" if r.file_grew else "")
        body.append([r.model, r.bundle, name, r.runtime or "–", r.target, r.status_label,
                     str(r.params) if r.params is not None else "–",
                     str(r.params_active) if r.params_active is not None else "–", size,
                     kib(r.weight_bytes), str(r.state_bytes) if r.state_bytes is not None else "–",
                     str(r.macs_per_step) if r.macs_per_step is not None else "–",
                     num(r.size_ratio, 2), num(r.file_ratio, 2), num(r.step_p50_us, 1), num(r.step_p99_us, 1), call,
                     num(r.peak_rss_mb, 1), num(r.model_rss_mb, 1), kib(r.flash_bytes),
                     str(r.mcu_ram_bytes) if r.mcu_ram_bytes is not None else "–", r.metric, num(r.accuracy, 4),
                     delta(r), num(r.agreement, 3), num(r.parity_max_abs, 5), golden, r.error or ""])
        classes.append(r.status_group)
    counts = Counter(r.status_label for r in rows)
    summary = ", ".join(f"{n} {label}" for label, n in counts.most_common())
    return Section("All results", [
        Text(f"{len(rows)} rows: {summary}. Every artifact × runtime × target is listed, failures "
             "included.\n\n" + STATUS_LEGEND + "\n\n" + MEMORY_NOTE),
        Table("results", RESULT_COLUMNS, body, row_classes=classes, css="nowrap")])


def mcu_section(figures) -> Section | None:
    """Flash / RAM of every C artifact on every microcontroller core it was built for."""
    if not figures:
        return None
    body = []
    for f in figures:
        fits = {True: "yes", False: "**no**", None: "–"}[f.fits]
        body.append([f.model, f.bundle, f.artifact, f.scheme, f.core, f.api, kib(f.flash_bytes),
                     str(f.ram_static_bytes), str(f.stack_bytes), str(f.state_bytes),
                     str(f.ram_static_bytes + f.stack_bytes + f.state_bytes), fits,
                     str(f.instructions) if f.instructions is not None else "–",
                     str(f.cycles) if f.cycles is not None else "–",
                     f"{num(f.us, 1)} @ {f.clock_mhz:g} MHz" if f.us is not None and f.clock_mhz else "–"])
    return Section("Microcontroller footprint", [
        Text("C artifacts cross-compiled with arm-none-eabi-gcc for each microcontroller target profile "
             "(`targets/cortex-*.toml`). Flash = text + rodata (+ data image) the artifact adds to a program, "
             "library code included; static RAM = its data + bss (no mutable globals: 0); stack = worst case "
             "from `-fstack-usage` along the call chain; state = the caller-owned state. RAM = static + stack "
             "+ state. *fits* compares with the profile's reference part. *instr/step*: instructions one "
             "step executes on the emulated board (qemu instruction trace: exact); *est. cycles/step*: that "
             "trace costed with the core's documented per-instruction timings at zero wait states "
             "(`edgelnn.runtime.c.cycles` states the model), an estimate; *µs*: those cycles at the stated "
             "clock. Only `bench --target cortex-*` rows carry them."),
        Table("mcu", ["model", "bundle", "artifact", "scheme", "core", "API", "flash KiB", "static RAM B",
                      "stack B", "state B", "RAM B", "fits", "instr/step", "est. cycles/step", "µs/step"],
              body)])


def recommendation_section(per_model: list[Recommendation], overall: list[Recommendation],
                           budget: float) -> Section:
    def line(rec: Recommendation, scope: str) -> list[str]:
        r = rec.row
        if r is None:
            return [rec.target, scope, "none", "–", "–", "–", "–", "–", "–", rec.reason]
        return [rec.target, scope, f"{r.bundle}/{r.artifact or art(r)}", art(r), r.runtime or "–",
                kib(r.size_bytes), num(r.step_p50_us, 1), num(r.accuracy, 4), points(r.drop), rec.reason]

    body = [line(o, "**all models**") for o in overall] + [line(p, p.model) for p in per_model]
    cols = ["target", "model", "pick", "artifact", "runtime", "size KiB", "p50 µs/step", "accuracy",
            "drop (pts)", "why"]
    return Section("Recommendation", [
        Text(f"Accuracy budget: **{budget:g} point(s)** of drop vs fp32 (`--budget`). Rule: {RULE}"),
        Table("recommendations", cols, body)])


def study_sections(summaries: list[ModelSummary], claims_by_target: dict[str, list[Claim]],
                   dataset: str, robustness_png: bytes | None) -> list[Section]:
    out = []
    for target, claims in claims_by_target.items():
        seeds = max((len(s.bundles) for s in summaries if s.target == target), default=0)
        out.append(Section(f"The review's claims on {dataset} ({target})", [
            Text(statement(claims, dataset, seeds, target) +
                 "\n\nEach verdict follows the rule beside it; the figures are the study tables below."),
            Table(f"claims-{target}", ["claim (arXiv 2510.07578)", "liquid", "RNN", "verdict", "rule"],
                  [[c.claim, c.liquid, c.rnn, f"**{c.verdict}**", c.rule] for c in claims])]))
    body = []
    for s in summaries:
        deployed = Counter(s.deployed).most_common(1)[0][0] if s.deployed else "–"
        body.append([s.target, s.model, s.family, str(len(s.bundles)), s.params.fmt(0),
                     s.accuracy_torch.fmt(3), s.accuracy.fmt(3), deployed, s.accuracy_deployed.fmt(3),
                     s.size_bytes.fmt(1, 1 / 1024), s.fp32_size_bytes.fmt(1, 1 / 1024),
                     s.latency_us.fmt(1), s.ram_mb.fmt(2)])
    cols = ["target", "model", "family", "seeds", "params", "PyTorch acc.", "fp32 artifact acc.",
            "deployed artifact", "deployed acc.", "deployed KiB", "fp32 KiB", "p50 µs/step",
            "runtime RSS for the model MB (runtime's cost)"]
    robust = []
    for s in summaries:
        for shift, pts in sorted(s.curves.items()):
            robust.append([s.target, s.model, shift, s.accuracy.fmt(3),
                           "  ".join(f"{lvl:g}: {st.fmt(3)}" for lvl, st in pts),
                           s.drop_under[shift].fmt(1) if shift in s.drop_under else "–"])
    keep = [i for i, c in enumerate(cols) if any(row[i] != "–" for row in body)]  # drop empty columns
    blocks = [Text("Mean ± std over seeds (one bundle per seed). *fp32 artifact* = the fp32 ONNX step "
                   "graph on the target's runtime; *deployed* = the artifact the recommendation rule "
                   "picks for each seed."),
              Table("study-models", [cols[i] for i in keep], [[row[i] for i in keep] for row in body]),
              Table("robustness", ["target", "model", "shift", "clean", "level: accuracy", "mean loss (pts)"],
                    robust, caption="Accuracy of the fp32 artifact on shifted test sets: noise = SNR in dB, "
                                    "drop = fraction of samples removed (irregular sampling), sampling-rate = "
                                    "rate factor over the same span, horizon = length factor beyond the "
                                    "training length.")]
    if robustness_png:
        blocks.append(Image("plots/robustness.png", robustness_png, "robustness curves"))
    out.append(Section("Study: models compared", blocks))
    return out


def plots_section(images: list[Image]) -> Section:
    return Section("Trade-offs", [Text("Passed artifacts only; the dashed line is the Pareto front "
                                       "(no other artifact is both cheaper and more accurate).")] + images)


def sensitivity_section(results: list[Sensitivity], detail_per_model: dict[str, list[Sensitivity]]) -> Section:
    if not results:
        return Section("Quantization sensitivity", [Text(
            "No int8 step artifact could be analysed (none passed, or the bundles were not found: "
            "pass `--bundles DIR`).")])
    body = []
    for s in results:
        if s.error:
            body.append([s.bundle, s.artifact, "–", "–", "–", f"not analysed: {s.error}"])
            continue
        top = s.worst(3)
        enters = "; ".join(f"{t.label} ({t.op}, +{t.added:.3f})" for t in top if t.added)
        w = s.worst(1, "weight")
        body.append([s.bundle, s.artifact, num(s.output_sqnr_db, 1), enters or "–",
                     f"{w[0].label} ({num(w[0].sqnr_db, 1)} dB)" if w else "–", s.note])
    blocks = [Text("Where an int8 artifact's error enters: golden sequences replayed through the fp32 and "
                   "the quantized step graph with every intermediate tensor exposed, both fed the same "
                   "inputs and the fp32 state (teacher forcing). SQNR = 10·log10(signal/error power), "
                   "higher is better; *+x* = relative RMS error added at that op (its output's minus its "
                   "worst input's)."),
              Table("sensitivity", ["bundle", "artifact", "output SQNR dB", "most error enters at",
                                    "worst weight (SQNR)", "note"], body)]
    for model, items in detail_per_model.items():
        for s in items:
            rows = [[t.label, t.op, t.name, num(t.sqnr_db, 1), num(t.rel_err, 4), num(t.added, 4)]
                    for t in s.worst(8)]
            rows += [[t.label, "weight", t.name, num(t.sqnr_db, 1), num(t.rel_err, 4), "–"]
                     for t in s.worst(3, "weight")]
            blocks.append(Table(f"sensitivity-{s.bundle}-{s.artifact}",
                                ["layer", "op", "tensor", "SQNR dB", "rel. error", "added here"], rows,
                                caption=f"{model}: {s.artifact} vs {s.reference} ({s.steps} steps)"))
    return Section("Quantization sensitivity", blocks)


def environment_section(rows: list[Row]) -> Section:
    body, seen = [], set()
    for r in rows:
        env = r.raw.get("env") or {}
        key = (r.target, env.get("cpu"), r.runtime, r.runtime_version)
        if key in seen or not env:
            continue
        seen.add(key)
        body.append([r.target, "yes" if r.on_target else "no (host)", str(env.get("cpu", "–")),
                     str(env.get("cores", "–")), str(env.get("os", "–")),
                     f"{r.runtime or '–'} {r.runtime_version or ''}".strip(), str(r.threads or "–")])
    return Section("Environment", [Table("environment", ["target", "on target", "cpu", "cores", "os",
                                                          "runtime", "threads"], body)])


def overview_text(rows: list[Row], sources: list[str], budget: float) -> Text:
    datasets = ", ".join(sorted({r.dataset for r in rows}))
    models = ", ".join(sorted({r.model for r in rows}))
    targets = ", ".join(sorted({r.target for r in rows}))
    ok = sum(r.status == "passed" for r in rows)
    return Text(f"Dataset: **{datasets}** · models: {models} · targets: {targets} · "
                f"{len(rows)} result rows ({ok} passed, {len(rows) - ok} not) from "
                f"{len(sources)} results file(s) · accuracy budget {budget:g} point(s).")


__all__ = ["STATUSES", "environment_section", "overview_text", "plots_section", "recommendation_section",
           "results_section", "sensitivity_section", "study_sections"]
