"""The study's findings as generated Markdown: every sentence names the models, the datasets and
the test it rests on. The README quotes this text verbatim; nothing here is written by hand
about a result.

The family rule: a sentence says "LNNs" (or "RNNs") only where *every* liquid (RNN) model of the
study carries the verdict against the same opponent(s); otherwise it names the models.
"""
from __future__ import annotations

import math

from .competence import GATE_POINTS, best_published, no_figure_reason
from .metrics import get as get_metric
from .verdicts import (FAMILY_CHOICES, INCONCLUSIVE, LIQUID_BETTER, NO_VERDICT, NOT_ASSESSABLE, RNN_BETTER,
                       SHIFT_NAMES, TRAINING_FAILURE, Analysis, Claim, family_changes)

REVIEW_CLAIMS = [  # (claim of arXiv 2510.07578, question, shifts or None)
    ("LNNs are more accurate than RNNs", "accuracy", None),
    ("LNNs are more parameter-efficient", "efficiency", None),
    ("LNNs are more robust to input noise", "robustness", ("noise",)),
    ("LNNs are more robust to irregular sampling", "robustness", ("drop",)),
    ("LNNs generalize better to other sampling rates and horizons", "robustness", ("sampling-rate", "horizon")),
    ("LNNs are more robust to noisy, non-stationary data (a slow offset drift)", "robustness", ("offset-drift",)),
]
VERBS = {  # question -> (liquid-better phrase, rnn-better phrase)
    "accuracy": ("is more accurate than", "is more accurate than"),
    "efficiency": ("reaches within 1 point of the dataset's best at a smaller budget than",
                   "reaches within 1 point of the dataset's best at a smaller budget than"),
    "robustness": ("loses a smaller share of its accuracy above chance than",
                   "loses a smaller share of its accuracy above chance than"),
    "time-aug": ("is more accurate than", "is more accurate than"),
}


def join(items: list[str]) -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def fmt_p(p: float | None, bound: bool = False) -> str:
    """A p-value; ``bound``: only an upper bound is known (no resample beyond 0)."""
    if p is None:
        return "–"
    text = f"{p:.2g}" if p >= 1e-4 else "0.0001"
    return ("<= " if bound or p < 1e-4 else "") + text


def _evidence(cs: list[Claim]) -> str:
    """The numbers behind a group of claims, in the claims' units, oriented winner - loser."""
    unit = cs[0].unit
    prefix = ""
    if cs[0].question == "efficiency":
        reach = dict(sorted({(m, v) for c in cs for m, v in ((c.liquid, c.liquid_value), (c.rnn, c.rnn_value))},
                            key=lambda t: (t[1] is None, t[1] or 0, t[0])))
        prefix = "first within 1 point at: " + ", ".join(f"{m} {_budget(v)}" for m, v in reach.items()) + "; "
    if cs[0].question == "robustness" and cs[0].normalised:
        unit = get_metric(cs[0].metric).unit
        prefix = _robust_words("share of its accuracy above chance lost: ", cs[0]).replace("its ", "the clean ") + ", ".join(
            f"{m} {v:.0f} % ({pts:.1f} {unit})" for m, v, pts in _shares(cs)) + "; "
        unit = cs[0].unit
    least = "at least " if any(c.censored in ("rnn", "liquid") for c in cs) else ""
    if len(cs) == 1:
        c = cs[0]
        lo, hi = (c.lo, c.hi) if c.estimate > 0 else (-c.hi, -c.lo)
        p = fmt_p(c.p_holm, c.p_bound)
        censored = (f" (censored: {c.rnn if c.estimate > 0 else c.liquid} never came within 1 point at any budget of "
                    "the study, so the difference is a lower bound)") if least else ""
        return (f"{prefix}by {least}{_fmt(c, abs(c.estimate))} {unit}, 95 % CI [{_num(c, lo)}, {_num(c, hi)}]"
                f"{censored}, Holm p {p if p.startswith('<') else '= ' + p}")
    mags = sorted(abs(c.estimate) for c in cs)
    worst = max(c.p_holm for c in cs)
    size = (f"by {least}{_fmt(cs[0], mags[0])}" if _fmt(cs[0], mags[0]) == _fmt(cs[0], mags[-1])
            else f"by {least}{_fmt(cs[0], mags[0])} to {_fmt(cs[0], mags[-1])}")
    bound = "< 0.0001" if worst < 1e-4 else f"<= {fmt_p(worst)}"
    censored = " (censored: a side never came within 1 point at any budget; the differences are bounds)" if least else ""
    return f"{prefix}{size} {unit}{censored}, every Holm p {bound}"


def _robust_words(text: str, c: Claim) -> str:
    """Robustness wording for the claim's metric: a share of the accuracy above chance, of the gain
    over the predict-the-mean baseline (relative MSE), or a plain loss (no chance level known)."""
    if c.question != "robustness":
        return text
    if not c.normalised:
        return text.replace("loses a smaller share of its accuracy above chance than", "loses less than")
    if c.metric != "accuracy":
        return text.replace("its accuracy above chance", "its gain over the predict-the-mean baseline")
    return text


def _shares(cs: list[Claim]) -> list[tuple[str, float, float]]:
    """(model, share of clean - chance lost in %, absolute loss in points) of the claims' sides."""
    seen: dict[str, tuple[float, float]] = {}
    for c in cs:
        for m, share, pts in ((c.liquid, c.liquid_share, c.liquid_value), (c.rnn, c.rnn_share, c.rnn_value)):
            if share is not None and pts is not None:
                seen.setdefault(m, (share, pts))
    return sorted(((m, v[0], v[1]) for m, v in seen.items()), key=lambda t: (t[1], t[0]))


def _budget(v) -> str:
    return "no budget of the study (censored)" if v is None else f"{int(v):,} active parameters"


def _fmt(c: Claim, v: float) -> str:
    if c.question == "efficiency":
        return f"{v:g}"
    return f"{v:.1f}" if c.normalised else f"{v:.{get_metric(c.metric).digits}f}"


def _num(c: Claim, v: float) -> str:
    if v in (float("inf"), float("-inf")):
        return "+∞" if v > 0 else "−∞"
    return _fmt(c, v) if c.question == "efficiency" else (
        f"{v:+.1f}" if c.normalised else f"{v:+.{get_metric(c.metric).digits}f}")


def winners_statements(claims: list[Claim], liquid: list[str], rnn: list[str]) -> list[tuple]:
    """(subject, verb, target, claims) for the claims of one group that carry a verdict.

    The family rule: the subject is "LNNs" ("RNNs") only when every liquid (RNN) model of the
    study carries the verdict against the target; otherwise it is the model's name."""
    out = []
    if not claims:
        return out
    q = claims[0].question
    for verdict, winners_all, losers_all, win_name, lose_name in (
            (LIQUID_BETTER, liquid, rnn, "LNNs", "RNNs"), (RNN_BETTER, rnn, liquid, "RNNs", "LNNs")):
        won = [c for c in claims if c.verdict == verdict]
        if not won:
            continue
        side = (lambda c: (c.liquid, c.rnn)) if verdict == LIQUID_BETTER else (lambda c: (c.rnn, c.liquid))
        verb = _robust_words(VERBS[q][0 if verdict == LIQUID_BETTER else 1], won[0])
        by_loser: dict[str, set] = {}
        for c in won:
            w, lo = side(c)
            by_loser.setdefault(lo, set()).add(w)
        everyone = sorted((lo for lo, ws in by_loser.items() if ws >= set(winners_all)), key=losers_all.index)
        rest = won
        if everyone and len(winners_all) > 1:
            fam = [c for c in won if side(c)[1] in everyone]
            target = (f"every {lose_name[:-1]} model ({join(losers_all)})"
                      if set(everyone) == set(losers_all) and len(losers_all) > 1 else join(everyone))
            subject = (f"**{win_name}** (every {'liquid' if win_name == 'LNNs' else 'RNN'} model: "
                       f"{join(winners_all)})")
            out.append((subject, _plural(verb), target, fam))
            rest = [c for c in won if side(c)[1] not in everyone]
        per_winner: dict[str, list[Claim]] = {}
        for c in rest:
            per_winner.setdefault(side(c)[0], []).append(c)
        for w in sorted(per_winner, key=winners_all.index):
            cs = per_winner[w]
            out.append((f"**{w}**", verb, join([side(c)[1] for c in cs]), cs))
    return out


def winners_sentences(claims: list[Claim], liquid: list[str], rnn: list[str], where: str) -> list[str]:
    """Sentences for the claims of one (question, dataset, budget/shift) that carry a verdict."""
    return [f"{where}: {subj} {verb} {target} ({_evidence(cs)})."
            for subj, verb, target, cs in winners_statements(claims, liquid, rnn)]


def _plural(verb: str) -> str:
    return (verb.replace("is more", "are more").replace("reaches", "reach").replace("loses", "lose", 1)
            .replace(" its ", " their "))


def _where(c: Claim, budgets: list[int] | None = None) -> str:
    budgets = [b for b in (budgets or [c.budget]) if b is not None]
    at = f"{join([f'{b:,}' for b in budgets])} active parameters"
    if c.question == "accuracy":
        return f"On {c.dataset} at {at}"
    if c.question == "efficiency":
        return f"On {c.dataset}"
    if c.question == "robustness":
        return f"On {c.dataset} under {SHIFT_NAMES.get(c.shift, c.shift)} (at {at})"
    return (f"On {c.dataset} under {SHIFT_NAMES.get(c.shift, c.shift)} (at {at}; liquid {c.liquid_arm} arm "
            f"vs RNN time-aug arm)")


def _group_key(c: Claim):
    return (c.dataset, c.budget, c.shift, c.liquid_arm, c.rnn_arm)


def question_block(a: Analysis, question: str, title: str, test: str, liquid: list[str], rnn: list[str]) -> str:
    """One bullet per statement; a statement that holds at several budgets is one bullet."""
    cs = a.claims_of(question)
    if not cs:
        return ""
    groups: dict[tuple, list[Claim]] = {}
    for c in cs:
        groups.setdefault(_group_key(c), []).append(c)
    merged: dict[tuple, list] = {}  # (dataset, shift, arms, subject, verb, target) -> [(budget, claims)]
    for key, g in groups.items():
        for subj, verb, target, won in winners_statements(g, liquid, rnn):
            mkey = (key[0], key[2], key[3], key[4], subj, verb, target)
            merged.setdefault(mkey, []).append((key[1], won))
    lines = []
    for (ds, shift, la, ra, subj, verb, target), parts in merged.items():
        budgets = [b for b, _ in parts if b is not None]
        won = [c for _, w in parts for c in w]
        lines.append(f"- {_where(won[0], budgets or None)}: {subj} {verb} {target} ({_evidence(won)}).")
    counts = {v: sum(c.verdict == v for c in cs) for v in (LIQUID_BETTER, RNN_BETTER, INCONCLUSIVE,
                                                           NOT_ASSESSABLE, NO_VERDICT, TRAINING_FAILURE)}
    tail = (f"- Of {len(cs)} comparison{'s' if len(cs) != 1 else ''} ({test}): {counts[LIQUID_BETTER]} liquid better, "
            f"{counts[RNN_BETTER]} RNN better, {counts[INCONCLUSIVE]} inconclusive, "
            f"{counts[NOT_ASSESSABLE]} not assessable (competence gate), {counts[TRAINING_FAILURE]} training "
            f"failure{'s' if counts[TRAINING_FAILURE] != 1 else ''} (no verdict), "
            f"{counts[NO_VERDICT]} without a verdict.")
    return f"**{title}**\n\n" + "\n".join(lines + [tail])


def _competence_fig(r) -> str:
    """``model val (test t, train u)``: what the gate reads, then the same cell on test and on its
    own training splits (under-fitting shows as a low train figure)."""
    val = "–" if r.val is None else f"{r.val:.3f}"
    extra = ([f"test {r.test:.3f}"] if r.test is not None else []) + \
        ([f"train {r.train:.3f}"] if r.train is not None else [])
    return f"{r.model} {val} ({', '.join(extra)})" if extra else f"{r.model} {val}"


def competence_block(a: Analysis) -> str:
    lines = []
    for ds in dict.fromkeys(r.dataset for r in a.competence):
        rows = [r for r in a.competence if r.dataset == ds]
        ref = best_published(ds)
        if ref is None or rows[0].within is None:
            line = f"- {ds}: {no_figure_reason(ds)}; the gate is not applied."
            if rows[0].val_metric == "accuracy" and any(r.val is not None for r in rows):
                ranked = sorted(rows, key=lambda r: -math.inf if r.val is None else -r.val)
                line += f" Best validation accuracy: {join([_competence_fig(r) for r in ranked])}."
            lines.append(line)
            continue

        fig = _competence_fig
        ok = [fig(r) for r in rows if r.within]
        bad = [fig(r) for r in rows if not r.within]
        n_na = sum(c.dataset == ds and c.verdict == NOT_ASSESSABLE and c.gate.startswith("not assessable: neither")
                   for c in a.claims)
        lines.append(f"- {ds} (published best {ref.accuracy:.3f}, {ref.method}): validation accuracy within "
                     f"{GATE_POINTS:g} points: {join(ok) or 'no model'}; not within: {join(bad) or 'none'}"
                     + (f"; {n_na} comparisons where neither side is within are not assessable." if n_na else "."))
    n_rob = sum(c.question == "robustness" and c.verdict == NOT_ASSESSABLE and "competent on clean data" in c.gate
                for c in a.claims)
    if n_rob:
        lines.append(f"- Robustness: {n_rob} comparisons are not assessable because a side is not competent on clean "
                     f"data at the reference budget (validation accuracy more than {GATE_POINTS:g} points below the "
                     "published figure, else the study's best); what a model loses under the shift plays no part.")
    fails = [c for c in a.claims if c.verdict == TRAINING_FAILURE]
    if fails:
        cells = sorted({part.split(":")[0].strip() + f" on {c.dataset}"
                        for c in fails for part in c.why.split(": ", 1)[1].split("; ")})
        lines.append(f"- Training failures (flagged by the trainer, never a verdict): {join(cells)}; "
                     f"{len(fails)} comparison{'s' if len(fails) != 1 else ''} with a failed side.")
    return ("**Competence gate** (each model's best cell by validation accuracy, mean over seeds; its test "
            "accuracy and, where recorded, its accuracy on its own training splits in brackets, beside the best "
            "published figure; the gate reads validation only)\n\n"
            + "\n".join(lines))


def review_block(a: Analysis, liquid: list[str]) -> str:
    """Which of the review's claims hold, for which models, on which datasets."""
    lines = []
    for claim, question, shifts in REVIEW_CLAIMS:
        cs = [c for c in a.claims_of(question) if shifts is None or c.shift in shifts]
        if not cs:
            lines.append(f"- *{claim}*: not tested (no data).")
            continue
        found: dict[str, dict[tuple, list]] = {"family": {}, "named": {}, "contra": {}}
        groups: dict[tuple, list[Claim]] = {}
        for c in cs:
            groups.setdefault(_group_key(c), []).append(c)
        for key, g in groups.items():
            won = [c for c in g if c.verdict == LIQUID_BETTER]
            lost = [c for c in g if c.verdict == RNN_BETTER]
            loc = _short_where(g[0])
            if won and {c.liquid for c in won} >= set(liquid) and len(liquid) > 1:
                beaten = sorted({c.rnn for c in won if all(any(w.liquid == m and w.rnn == c.rnn for w in won)
                                                           for m in liquid)})
                rest = {c.rnn for c in g} - set(beaten)
                text = f"every liquid model vs {join(beaten)}" + (f", not vs {join(sorted(rest))}" if rest else "")
                found["family"].setdefault((loc, text), []).append(g[0].budget)
            elif won:
                text = join(sorted({f"{c.liquid} vs {c.rnn}" for c in won}))
                found["named"].setdefault((loc, text), []).append(g[0].budget)
            if lost:
                text = join(sorted({f"{c.rnn} better than {c.liquid}" for c in lost}))
                found["contra"].setdefault((loc, text), []).append(g[0].budget)

        def listing(kind: str) -> str:
            out = []
            for (loc, text), budgets in found[kind].items():
                at = ([b for b in budgets if b is not None] if question == "accuracy" else [])
                where = loc + (f" at {join([f'{b:,}' for b in at])}" if at else "")
                out.append(f"{where}: {text}")
            return "; ".join(out)

        n_inc = sum(c.verdict == INCONCLUSIVE for c in cs)
        n_na = sum(c.verdict == NOT_ASSESSABLE for c in cs)
        n_nv = sum(c.verdict == NO_VERDICT for c in cs)
        n_tf = sum(c.verdict == TRAINING_FAILURE for c in cs)
        parts = []
        if found["family"]:
            parts.append("holds for LNNs as a family on " + listing("family"))
        if found["named"]:
            parts.append("holds only for the named models (" + listing("named") + ")")
        if not found["family"] and not found["named"]:
            parts.append("holds nowhere as a verdict")
        if found["contra"]:
            parts.append("contradicted (" + listing("contra") + ")")
        parts.append(f"{n_inc} inconclusive, {n_na} not assessable, {n_tf} training failure{'s' if n_tf != 1 else ''}, "
                     f"{n_nv} without a verdict")
        lines.append(f"- *{claim}*: " + " — ".join(parts) + ".")
    return ("**The review's claims** (arXiv 2510.07578; verdicts of the tests above, "
            "Holm-corrected)\n\n" + "\n".join(lines))


def _short_where(c: Claim) -> str:
    if c.question == "robustness":
        return f"{c.dataset} ({c.shift})"
    return c.dataset


def findings_markdown(a: Analysis, design: dict, extra: list[str] | None = None) -> str:
    """The findings: design, what cannot be carried, competence, verdicts, facts."""
    liquid, rnn = design["liquid"], design["rnn"]
    n_ds = len(design['datasets'])
    family = (f"with Holm's correction at alpha = {a.alpha:g} over {_families(a.families)} "
              f"({FAMILY_CHOICES[a.holm_family]}; declared before the results)"
              if a.family_size else "; no claim of this run can carry a verdict (see below)")
    head = (f"{n_ds} dataset{'s' if n_ds != 1 else ''} ({join(design['datasets'])}); liquid models "
            f"{join(liquid)}; RNN models {join(rnn)}; budgets {join([f'{b:,}' for b in design['budgets']])} "
            f"active parameters; {design['seeds']} seeds; arms {join(design['arms'])}. Verdicts come from a "
            f"paired bootstrap over seeds × test items (t interval from the seed and item variance "
            f"components, {a.smooth_boot:,} resamples each; budget reach: crossed bootstrap, {a.n_boot:,} "
            f"resamples){' ' if a.family_size else ''}{family}.")
    blocks = [head]
    if a.cannot_carry:
        blocks.append("**What this run cannot carry.** " + " ".join(a.cannot_carry))
    blocks.append(competence_block(a))
    test = "paired bootstrap, Holm"
    blocks += [b for b in (
        question_block(a, "accuracy", "Accuracy at matched budget", test, liquid, rnn),
        question_block(a, "efficiency", "Parameter efficiency (accuracy-vs-active-parameter curves)",
                       "bootstrap of the budget at which each curve comes within 1 point of the best, Holm",
                       liquid, rnn),
        question_block(a, "robustness", "Robustness (loss under each shift, paired per item)", test, liquid, rnn),
        question_block(a, "time-aug", "Time augmentation (liquid vs the RNN trained with random drop / "
                       "resample)", test, liquid, rnn)) if b]
    blocks.append(review_block(a, liquid))
    if a.family_size:
        blocks.append(sensitivity_block(a))
    blocks += list(extra or [])
    return "\n\n".join(blocks) + "\n"


def _families(sizes: dict[str, int]) -> str:
    total = sum(sizes.values())
    if list(sizes) == ["all"]:
        return f"the {total} claims of the family"
    return f"{len(sizes)} families (" + ", ".join(f"{k} {v}" for k, v in sizes.items()) + f"; {total} claims)"


def sensitivity_block(a: Analysis) -> str:
    """The other reasonable Holm family choice, and which verdicts it would change (none is used)."""
    changed = family_changes(a)
    head = (f"**Sensitivity to the Holm family** (declared: {FAMILY_CHOICES[a.holm_family]}; the other choice, "
            f"{FAMILY_CHOICES[a.alt_family]} -- {_families(a.alt_families)} -- is shown here and used for no "
            "verdict)\n\n")
    if not changed:
        return head + "- No verdict changes under the other family choice."
    lines = [f"- {_where(c)}: {c.liquid} vs {c.rnn} ({c.liquid_arm} / {c.rnn_arm} arm): {c.verdict} "
             f"(Holm p {fmt_p(c.p_holm, c.p_bound)}) would be {c.verdict_alt} (Holm p {fmt_p(c.p_holm_alt, c.p_bound)})."
             for c in changed]
    return head + "\n".join(lines)


def _list(pairs: list[tuple[str, float]], fmt) -> str:
    return ", ".join(f"{m} {fmt(v)}" for m, v in sorted(pairs, key=lambda t: t[1]))


def _family_fact(values: dict[str, float], liquid: list[str], rnn: list[str], what: str) -> str:
    """'Every liquid model ... more/fewer ... than every RNN' only when it is true for all."""
    if not (set(liquid) <= set(values) and set(rnn) <= set(values)) or len(liquid) < 1 or len(rnn) < 1:
        return ""
    lmin, lmax = min(values[m] for m in liquid), max(values[m] for m in liquid)
    rmin, rmax = min(values[m] for m in rnn), max(values[m] for m in rnn)
    subject = f"Every liquid model ({join(liquid)}) needs" if len(liquid) > 1 else f"{liquid[0]} needs"
    obj = f"every RNN ({join(rnn)})" if len(rnn) > 1 else rnn[0]
    if lmax < rmin:
        return f" {subject} fewer {what} than {obj}."
    if lmin > rmax:
        return f" {subject} more {what} than {obj}."
    return ""


def memory_block(foot: list[dict], a: Analysis, liquid: list[str], rnn: list[str]) -> str:
    """Model-scale memory and latency facts at each dataset's reference budget (no test: counts are
    exact, latency is one measurement per model on this machine)."""
    lines = []
    for ds, b in a.ref_budget.items():
        rows = [f for f in foot if f["dataset"] == ds and f["budget"] == b and f["status"] == "passed"]
        ref = [f for f in rows if f["format"] == "onnx" and f["graph"] == "step" and f["scheme"] == "fp32"]
        macs = {f["model"]: f["macs_per_step"] for f in ref if f["macs_per_step"] is not None}
        elem = {f["model"]: f["elementwise_per_step"] for f in ref if f.get("elementwise_per_step") is not None}
        state = {f["model"]: f["state_bytes"] for f in ref if f["state_bytes"] is not None}
        weights = {f["model"]: f["weight_bytes"] for f in ref if f["weight_bytes"] is not None}
        if macs:
            lines.append(f"- On {ds} at budget {b:,} (ONNX fp32 step graph, counted from the exported graph): "
                         f"MACs per step {_list(list(macs.items()), lambda v: f'{int(v):,}')}; "
                         + (f"elementwise ops per step {_list(list(elem.items()), lambda v: f'{int(v):,}')}; "
                            if elem else "") + "state bytes "
                         f"{_list(list(state.items()), lambda v: f'{int(v):,}')}; weight bytes "
                         f"{_list(list(weights.items()), lambda v: f'{int(v):,}')}."
                         + _family_fact(macs, liquid, rnn, "MACs per step"))
        mcu: dict[str, tuple] = {}
        for f in rows:
            if f["mcu_flash_bytes"] is not None and (f["model"] not in mcu or f["scheme"] == "fp32"):
                mcu[f["model"]] = (f["mcu_flash_bytes"], f["mcu_ram_bytes"], f["scheme"])
        if mcu:
            lines.append(f"- On {ds} at budget {b:,}, microcontroller build (C backend; flash / RAM bytes): "
                         + ", ".join(f"{m} {int(v[0]):,} / {int(v[1] or 0):,} ({v[2]})"
                                     for m, v in sorted(mcu.items(), key=lambda kv: kv[1][0])) + ".")
        groups: dict[tuple, dict] = {}
        for f in rows:
            if f["graph"] == "step" and f["scheme"] == "fp32" and f["p50_us_per_step"] is not None:
                groups.setdefault((f["target"], f["runtime"], f["format"]), {})[f["model"]] = f["p50_us_per_step"]
        for (target, runtime, fmt), lat in sorted(groups.items(), key=lambda kv: tuple(map(str, kv[0]))):
            if len(lat) < 2:
                continue
            fast = min(lat, key=lat.get)
            slow = max(lat, key=lat.get)
            lines.append(f"- On {ds} at budget {b:,}, {runtime} ({fmt} step graph, fp32, target {target}; p50 per "
                         f"step, one measurement per model): {_list(list(lat.items()), lambda v: f'{v:.1f} µs')}; "
                         f"{slow} takes {lat[slow] / lat[fast]:.1f}x the time of {fast}.")
    if not lines:
        return ""
    return ("**Memory and speed at the model's scale** (measurements, not tested claims)\n\n" + "\n".join(lines))


def training_block(cells, a: Analysis) -> str:
    lines = []
    for ds, b in a.ref_budget.items():
        cs = [c for c in cells if c.dataset == ds and c.budget == b and c.arm == "plain"]
        secs = [(c.model, c.mean("train_seconds")) for c in cs if c.mean("train_seconds")]
        peaks = [(c.model, c.mean("train_peak_mb")) for c in cs if c.mean("train_peak_mb")]
        if not secs:
            continue
        line = (f"- On {ds} at budget {b:,} (plain arm, mean over seeds): training time per run "
                f"{_list(secs, lambda v: f'{v:.3g} s')}")
        if peaks:
            line += f"; training peak memory {_list(peaks, lambda v: f'{v:.3g} MB')}"
        stacked = sorted({c.model for c in cs for r in c.runs if getattr(r, "stacked", 1) > 1})
        if stacked:
            line += (f" ({', '.join(stacked)} trained their seeds stacked in one job: time is each run's share, "
                     "peak memory the stack's)")
        lines.append(line + ".")
    if not lines:
        return ""
    return ("**Training cost** (measured on the study's machine while it ran other jobs; ratios only)\n\n"
            + "\n".join(lines))


def cross_block(a: Analysis) -> str:
    cross = a.cross
    ws = cross.get("wilcoxon") or []
    lines = []
    if ws:
        n = max(w["n"] for w in ws)
        sig = [w for w in ws if w.get("p_holm", w["p"]) <= a.alpha]
        if sig:
            lines.append(f"- Wilcoxon signed-rank over datasets, Holm over the {len(ws)} pairs, p <= {a.alpha:g}: "
                         + "; ".join(f"{w['liquid']} vs {w['rnn']} ({'liquid' if w['mean'] > 0 else 'RNN'} better "
                                     f"by {abs(w['mean']):.1f} on average, Holm p = {fmt_p(w['p_holm'])}, "
                                     f"{len(w['datasets'])} datasets)" for w in sig) + ".")
        elif n == 0:
            lines.append("- No cross-dataset test: no liquid-vs-RNN pair is assessable on any dataset.")
        else:
            pmin = min(w["p_min"] for w in ws)
            floor = min(1.0, len(ws) * pmin)
            lines.append(f"- No liquid-vs-RNN pair differs across datasets by a Wilcoxon signed-rank test with Holm "
                         f"over the {len(ws)} pairs (at most {n} dataset{'s' if n != 1 else ''} per pair where the "
                         f"pair is assessable; the smallest attainable p is {fmt_p(pmin)}, after Holm "
                         f"{fmt_p(floor)}"
                         + (": with this many datasets the per-pair test cannot reach alpha, the Friedman / Nemenyi "
                            "test is the cross-dataset comparison)." if floor > a.alpha else ")."))
    fr = cross.get("friedman")
    if fr:
        lines.append(f"- Friedman test over {fr['n_blocks']} datasets: p = {fmt_p(fr['p_chi2'])}; Nemenyi critical "
                     f"difference {fr['nemenyi_cd']:.2f} ranks (average ranks: "
                     + ", ".join(f"{m} {r:.2f}" for m, r in sorted(zip(fr["models"], fr["avg_ranks"]),
                                                                   key=lambda t: t[1])) + ")"
                     + _nemenyi_pairs(fr, a.alpha) + ".")
    elif cross.get("friedman_note"):
        lines.append(f"- {cross['friedman_note']}")
    if not lines:
        return ""
    return ("**Across datasets** (their own family: Holm over the pairs; Friedman, then Nemenyi)\n\n"
            + "\n".join(lines))


def _nemenyi_pairs(fr: dict, alpha: float) -> str:
    """Pairs of models whose average ranks differ by more than the CD (only after a Friedman p <= alpha)."""
    if fr["p_chi2"] > alpha:
        return f"; Friedman p > {alpha:g}, so no post-hoc comparison"
    r = dict(zip(fr["models"], fr["avg_ranks"]))
    pairs = [f"{a} ranks better than {b}" for a in r for b in r if r[b] - r[a] > fr["nemenyi_cd"]]
    return "; " + (join(pairs) if pairs else "no two models differ by more than the critical difference")
