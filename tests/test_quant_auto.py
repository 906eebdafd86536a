"""``--quant auto``: the smallest quantized artifact within a budget, with the real quantizers
(onnxruntime, ai-edge-quantizer), runtimes (onnxruntime, LiteRT) and parity gate.

Model: an untrained 32-unit LSTM on BasicMotions (seeded). Its full int8-static artifact is
~0.16 of the output range off over the parity rollouts (states the calibration rollouts never
reached are clipped); int16 activations with headroom bring that to ~0.01. Untrained logits
are near-tied, so the task-metric bound is left open here (as the other export tests do); the
error bounds are what these tests hold the artifacts to.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from edgelnn.export import export_bundle
from edgelnn.export.formats import FORMATS
from edgelnn.export.manifest import sha256
from edgelnn.export.mixed.plan import Plan, Unit
from edgelnn.export.mixed.search import Budget, search
from edgelnn.export.validate import Tolerance
from edgelnn.export.footprint import weight_bytes
from cli_inprocess import run_cli as _cli
from format_checks import assert_artifacts_valid

AVAILABLE = [f for f in ("onnx", "tflite") if FORMATS[f].available() is None]
TIGHT = 0.05                 # full int8 misses this error bound; int16 with headroom meets it
OPEN_METRIC = 1.0            # untrained near-tied logits: the metric bound is not under test
SUFFIX = {"onnx": ".onnx", "tflite": ".tflite"}


def _manifest(path):
    return json.loads((path / "manifest.json").read_text())


def _entry(manifest, fmt, scheme, where=("artifacts", "rejected")):
    return next((e for key in where for e in manifest[key] if e["format"] == fmt and e["scheme"] == scheme), None)


@pytest.fixture(scope="module")
def int8_fails(export_checkpoint, tmp_path_factory):
    """int8-static and auto under the same tight error bound: int8-static is rejected."""
    out = tmp_path_factory.mktemp("auto") / "lstm-tight"
    report = export_bundle(export_checkpoint("lstm", units=32), out, formats=AVAILABLE,
                           schemes=["int8-static", "auto"], graphs=["step"], max_drop=100 * OPEN_METRIC,
                           tolerances={"int8-static": {"rel_range": TIGHT, "metric_delta": OPEN_METRIC}})
    return out, report


@pytest.mark.parametrize("fmt", AVAILABLE)
def test_auto_passes_where_full_int8_fails(fmt, int8_fails):
    path, report = int8_fails
    m = _manifest(path)
    int8 = _entry(m, fmt, "int8-static")
    assert int8 in m["rejected"] and "rel_range" in int8["reason"], int8
    auto = _entry(m, fmt, "auto", ("artifacts",))
    assert auto is not None, report.to_json()
    f = path / auto["file"]
    assert auto["file"].endswith(f".step.auto{SUFFIX[fmt]}") and sha256(f) == auto["sha256"]
    assert auto["parity"]["passed"] and auto["parity"]["rel_range"] <= TIGHT
    assert_artifacts_valid(path)                              # mixed precision: the format's checker
    assert auto["parity"]["tolerance"]["rel_range"] == TIGHT and auto["golden"]["tolerance"] > 0
    block = auto["auto"]
    fp32 = _entry(m, fmt, "fp32", ("artifacts",))
    assert block["fp32_weight_bytes"] == weight_bytes(path / fp32["file"], fmt)
    assert block["weight_bytes"] == weight_bytes(f, fmt) < block["fp32_weight_bytes"]
    assert auto["footprint"]["weight_bytes"] == block["weight_bytes"]  # one definition: footprint's
    assert auto["quantized"] is True
    # the ops kept above int8 are listed, and they are the chosen plan's
    assert block["kept"], block
    raised = {k["op"]: k["precision"] for k in block["kept"]}
    assert set(raised.values()) <= {"int16", "float"}
    assert {u: p for u, p in block["precisions"].items() if p != "int8"} == raised
    assert len(block["precisions"]) == block["units"] > len(raised)
    trace = block["trace"]
    assert trace[0]["step"] == "full int8" and not trace[0]["passed"] and trace[0]["precisions"] == {}
    chosen = trace[block["chosen"]]
    assert chosen["passed"] and chosen["precisions"] == raised and chosen["weight_bytes"] == block["weight_bytes"]
    # every candidate was built and run: a failure is a bound, never a broken file
    for c in trace:
        assert c["weight_bytes"] and c["bytes"] and c["rel_range"] is not None, c
        assert c["passed"] or c["reason"], c
    # the chosen one is the smallest that passed
    passed = [c for c in trace if c["passed"]]
    assert chosen["weight_bytes"] == min(c["weight_bytes"] for c in passed)


def test_auto_artifact_runs_on_the_device_side(int8_fails):
    """The torch-free runtime loads it from the manifest and replays golden.npz within tolerance."""
    from edgelnn.runtime import load_bundle

    path, _ = int8_fails
    bundle = load_bundle(path)
    golden = bundle.golden()
    for entry in (a for a in bundle.artifacts if a["scheme"] == "auto"):
        runner = bundle.open(entry)
        try:
            out = runner.run_each(golden.x, golden.dt, golden.lengths)
        finally:
            runner.close()
        mask = np.arange(golden.x.shape[1])[None, :] < golden.lengths[:, None]
        assert np.abs(out - golden.y)[mask].max() <= entry["golden"]["tolerance"]


def test_auto_returns_full_int8_unchanged_when_it_passes(export_checkpoint, tmp_path):
    out = tmp_path / "lstm-default"
    export_bundle(export_checkpoint("lstm", units=32), out, formats=AVAILABLE, schemes=["int8-static", "auto"],
                  graphs=["step"], max_drop=100 * OPEN_METRIC,
                  tolerances={"int8-static": {"metric_delta": OPEN_METRIC}})
    m = _manifest(out)
    for fmt in AVAILABLE:
        int8, auto = _entry(m, fmt, "int8-static", ("artifacts",)), _entry(m, fmt, "auto", ("artifacts",))
        assert int8 is not None and auto is not None, m["rejected"]
        assert auto["sha256"] == int8["sha256"] and auto["bytes"] == int8["bytes"]
        block = auto["auto"]
        assert len(block["trace"]) == 1 and block["chosen"] == 0 and block["kept"] == []
        assert set(block["precisions"].values()) == {"int8"} and "unchanged" in block["why"]




def test_budget_nothing_meets_keeps_fp32(monkeypatch, capsys, export_checkpoint, tmp_path):
    """--max-drop 0 with an error bound no quantized artifact meets: one line says so, the bundle
    keeps fp32, exit status 0 (documented; --strict makes it 1 like any rejected artifact)."""
    out = tmp_path / "lstm-none"
    code, stdout, err = _cli(monkeypatch, capsys, "export", export_checkpoint("lstm", units=32), "--out", out,
                             "--format", "onnx", "--quant", "auto", "--graph", "step",
                             "--max-drop", "0", "--max-error", "1e-6")
    assert code == 0, (stdout, err)
    assert "Traceback" not in stdout + err
    lines = [ln for ln in stdout.splitlines() if ln.startswith("auto (onnx)")]
    assert len(lines) == 1 and "no quantized artifact meets the budget" in lines[0] \
        and "max drop 0 points, max error 1e-06" in lines[0] and "keeps fp32" in lines[0], stdout
    m = _manifest(out)
    assert [a["scheme"] for a in m["artifacts"]] == ["fp32"]
    auto = _entry(m, "onnx", "auto", ("rejected",))
    assert auto["status"] == "rejected" and auto["reason"].startswith("no quantized artifact within the budget")
    assert auto["auto"]["chosen"] is None and auto["auto"]["trace"] and not any(
        c["passed"] for c in auto["auto"]["trace"])
    assert auto["auto"]["tolerance"]["rel_range"] == 1e-6 and auto["auto"]["tolerance"]["metric_delta"] == 0
    assert sorted(p.suffix for p in out.iterdir() if p.suffix == ".onnx") == [".onnx"]  # fp32 only


@pytest.mark.parametrize("args,match", [
    (["--max-drop", "1"], "add --quant auto"),
    (["--quant", "auto", "--max-drop", "-1"], "--max-drop must be a finite number of points in 0..100"),
    (["--quant", "auto", "--max-error", "nan"], "--max-error must be a finite number >= 0"),
])
def test_budget_usage_errors(monkeypatch, capsys, export_checkpoint, tmp_path, args, match):
    out = tmp_path / "b"
    code, stdout, err = _cli(monkeypatch, capsys, "export", export_checkpoint("lstm", units=8), "--out", out, *args)
    assert code == 1 and "Traceback" not in stdout + err
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and match in lines[0], err
    assert not out.exists()


def test_budget_only_tightens_the_gate():
    gate = Tolerance(rel_range=0.2, metric_delta=0.05)
    assert Budget().tolerance(gate) == Tolerance(rel_range=0.2, metric_delta=0.01)
    assert Budget(max_drop=10, max_error=0.5).tolerance(gate) == gate
    assert Budget(max_drop=0, max_error=0.01).tolerance(gate) == Tolerance(rel_range=0.01, metric_delta=0.0)
    with pytest.raises(ValueError):
        Plan({"a": "int4"})


class _Ladder:
    """A toy format: unit i adds error e_i at int8, e_i/100 at int16 and 0 in float; weights
    cost 1 byte each at int8/int16 and 4 in float. Checks the search's own logic, not a format."""

    format, suffix = "toy", ".toy"

    def __init__(self, errors, weights):
        self.errors, self.weights = errors, weights
        self.plans = {}

    def units(self):
        return [Unit(f"u{i}", "Op", "", w) for i, w in enumerate(self.weights)]

    def build(self, plan, out_path):
        out_path.write_text("x")
        self.plans[out_path] = plan
        return {"quantized": True, "note": plan.describe()}

    def sensitivity(self, q_path, seqs):
        plan = self.plans[q_path]
        scale = {"int8": 1.0, "int16": 0.01, "float": 0.0}
        return {f"u{i}": e * scale[plan.level(f"u{i}")] for i, e in enumerate(self.errors)}

    def weight_bytes(self, path):
        plan = self.plans[path]
        return sum(w * (4 if plan.level(f"u{i}") == "float" else 1) for i, w in enumerate(self.weights))

    def error(self, path):
        plan = self.plans[path]
        scale = {"int8": 1.0, "int16": 0.01, "float": 0.0}
        return sum(e * scale[plan.level(f"u{i}")] for i, e in enumerate(self.errors))

    def close(self):
        pass


def _toy_search(tmp_path, errors, weights, bound):
    toy = _Ladder(errors, weights)

    def gate(path):
        err = toy.error(path)
        return {"passed": err <= bound, "rel_range": err, "max_abs": err, "metric_delta": 0.0,
                "reason": None if err <= bound else f"rel_range {err:.3g} > {bound}"}

    return search(toy, gate, Budget(), Tolerance(rel_range=bound), sum(weights) * 4, tmp_path, [])


def test_search_logic_on_a_toy_ladder(tmp_path):
    # two ops carry the error: exactly those two go to int16, nothing to float
    r = _toy_search(tmp_path / "a", [0.5, 0.01, 0.4, 0.01, 0.0, 0.0], [10] * 6, 0.1)
    assert r.best is not None and r.plan().raised() == {"u0": "int16", "u2": "int16"}
    assert r.best.weight_bytes == 60 and r.candidates[0].step == "full int8"
    # int16 is not enough for one op: that one (only) goes to float
    r = _toy_search(tmp_path / "b", [50.0, 0.01, 0.4, 0.0], [10, 10, 10, 10], 0.1)
    assert r.best is not None and r.plan().count("float") == 1 and r.plan().level("u0") == "float"
    assert r.best.weight_bytes == 70
    # nothing below fp32's weight bytes can pass: no answer, every candidate recorded
    r = _toy_search(tmp_path / "c", [50.0, 50.0], [10, 10], 0.1)
    assert r.best is None and r.path is None and len(r.candidates) >= 2 and "no candidate" in r.why


def test_report_shows_the_frontier_and_can_recommend_auto(int8_fails, tmp_path):
    """Result rows of the bundle (hand-made, as in test_report) + the real manifest: the report
    lists every candidate, marks the frontier and the chosen one, and the rule may pick auto."""
    from test_report import make_row

    from edgelnn.report import build_report

    path, _ = int8_fails
    m = _manifest(path)
    rows = []
    for a in m["artifacts"]:
        rows.append(make_row(bundle=path.name, model="lstm", fmt=a["format"], scheme=a["scheme"], size=a["bytes"],
                             acc=0.95, fp32=0.95, artifact=a["file"]))
    results = tmp_path / "results.jsonl"
    results.write_text("".join(json.dumps(r) + "\n" for r in rows))
    files = build_report([results], tmp_path / "report", bundles=[path.parent], sensitivity=False)
    md = files.markdown.read_text()
    assert "## Mixed-precision search (--quant auto)" in md
    assert (tmp_path / "report" / "plots" / "auto_frontier.png").stat().st_size > 1000
    html = files.html.read_text()
    assert 'id="auto-searches"' in html
    for fmt in AVAILABLE:
        block = _entry(m, fmt, "auto", ("artifacts",))["auto"]
        assert block["why"] in md
        table = f'id="auto-{path.name}-{fmt}"'
        assert table in html
        section = html.split(table, 1)[1].split("</table>", 1)[0]
        assert section.count("<tr") == len(block["trace"]) + 1 and "chosen" in section and "front" in section
    picks = [r for r in files.recommendations if r.model == "lstm" and r.row is not None]
    assert picks and all(p.row.scheme == "auto" for p in picks), [(p.row.scheme, p.reason) for p in picks]
