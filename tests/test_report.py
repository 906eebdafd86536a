"""Report from hand-made result rows: every row, statuses, deltas, the recommendation rule,
the study tables and claims, and bad input through the CLI."""
from __future__ import annotations

import copy
import csv
import json
import subprocess
import sys

import pytest

from edgelnn.report import ResultsError, build_report, load_results, recommend
from edgelnn.report.claims import CONTRADICTED, SUPPORTED, check_claims
from edgelnn.report.summary import FAMILY, summarize

ENV = {"cpu": "Test CPU", "cores": 2, "os": "Linux", "machine": "x86_64", "python": "3.11",
       "numpy": "2.0", "runtimes": {"onnxruntime": "1.31"}}
SHIFTS = [{"shift": "noise", "level": 20.0, "accuracy": 0.90, "accuracy_fp32": 0.90},
          {"shift": "noise", "level": 10.0, "accuracy": 0.80, "accuracy_fp32": 0.80},
          {"shift": "drop", "level": 0.3, "accuracy": 0.85, "accuracy_fp32": 0.85},
          {"shift": "length", "level": 0.5, "accuracy": 0.70, "accuracy_fp32": 0.70}]


def make_row(bundle="cfc-s0", model="cfc", fmt="onnx", graph="step", scheme="fp32", status="passed",
             size=20000, p50=50.0, acc=0.95, fp32=0.95, error=None, **extra) -> dict:
    """One result row following README.md, section "Result rows" (schema_version 1)."""
    passed = status == "passed"
    row = {
        "schema": "edgelnn-result", "schema_version": 1, "bundle": bundle, "model": model,
        "dataset": "basicmotions", "artifact": f"{bundle}.{graph}.{scheme}.{fmt}", "format": fmt,
        "graph": graph, "scheme": scheme, "status": status, "error": error,
        "runtime": "onnxruntime" if fmt == "onnx" else "litert", "runtime_version": "1.31.1",
        "provider": "CPUExecutionProvider", "providers_used": ["CPUExecutionProvider"], "threads": 1,
        "target": "host", "measured_on": {"hostname": "h", "on_target": False, "device": "host"},
        "golden_ok": passed if status in ("passed", "golden_failed") else None,
        "golden_max_abs": 1e-4 if passed else (0.2 if status == "golden_failed" else None),
        "golden_tolerance": 1e-3,
        "latency_us": ({"p50": p50, "p90": p50 * 1.2, "p99": p50 * 1.5, "mean": p50, "std": 1.0,
                        "n": 100, "warmup": 10, "min_runs": 100, "min_seconds": 0.1} if passed else None),
        "per_sample_us": p50 if passed else None, "chunk": None,
        "peak_rss_mb": 60.0, "baseline_rss_mb": 55.0, "model_rss_mb": 5.0 * size / 20000 if size else None,
        "size_bytes": size, "size_ratio": size / 20000 if size else None, "params": 1234,
        "metric": "accuracy", "accuracy": acc if status in ("passed", "golden_failed") else None,
        "accuracy_fp32": fp32, "accuracy_delta": (acc - fp32) if status in ("passed", "golden_failed") else None,
        "agreement": 1.0 if passed else None, "shifts": copy.deepcopy(SHIFTS) if scheme == "fp32" and passed else [],
        "parity_max_abs": 1e-5, "env": ENV, "timestamp": "2026-11-27T21:00:00Z",
    }
    row.update(extra)
    return row


def known_rows() -> list[dict]:
    """cfc: the smallest artifact (int8-dynamic) loses 10 points and must not be chosen."""
    return [
        make_row(),
        make_row(scheme="int8-dynamic", size=7000, p50=40, acc=0.85),
        make_row(scheme="int8-static", status="golden_failed", size=6500, acc=0.5,
                 error="golden max_abs 0.2 > 0.001"),
        make_row(scheme="fp16", size=10500, p50=60, acc=0.95),
        make_row(fmt="tflite", scheme="int8-weight", size=10000, p50=30, acc=0.945),
        make_row(fmt="tflite", scheme="int8-static", status="rejected", size=9000, acc=None,
                 error="parity max_abs 0.3 > 0.05"),
        make_row(fmt="tflite", scheme="int16x8-static", status="rejected", size=None, acc=None,
                 error="ConversionError: quantizer crashed"),
        make_row(fmt="tflite", graph="seq", scheme="int8-static", status="unsupported", size=None,
                 acc=None, error="seq int8-static not supported by the converter"),
        make_row(graph="seq", status="failed", size=25000, acc=None, error="runtime crashed"),
        make_row(bundle="lstm-s0", model="lstm", size=30000, p50=20, acc=0.90, fp32=0.90, params_active=1234,
                 footprint={"weight_elements": 1234, "weight_bytes": 4936, "state_bytes": 64,
                            "macs_per_step": 1111, "elementwise_per_step": 300, "file_bytes": 30000,
                            "structure_bytes": 25064, "weights_by_dtype": {"float32": 1234}}),
        make_row(bundle="lstm-s0", model="lstm", scheme="int8-dynamic", size=9000, p50=15, acc=0.895, fp32=0.90),
    ]


def write_jsonl(path, rows) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    d = tmp_path_factory.mktemp("report")
    results = write_jsonl(d / "results.jsonl", known_rows())
    return build_report([results], d / "out", budget=1.0)


def test_every_row_with_status_and_delta(report):
    html = report.html.read_text()
    md = report.markdown.read_text()
    with report.csv.open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(known_rows()) == len(report.rows)
    by = {(r["bundle"], r["format"], r["graph"], r["scheme"]): r for r in rows}
    assert by[("cfc-s0", "onnx", "step", "int8-dynamic")]["status"] == "passed"
    assert float(by[("cfc-s0", "onnx", "step", "int8-dynamic")]["accuracy_delta"]) == pytest.approx(-0.10)
    assert float(by[("cfc-s0", "onnx", "step", "int8-dynamic")]["drop"]) == pytest.approx(10.0)
    assert float(by[("lstm-s0", "onnx", "step", "int8-dynamic")]["accuracy_delta"]) == pytest.approx(-0.005)
    assert by[("cfc-s0", "onnx", "step", "int8-static")]["status_label"] == "exported, failed golden check"
    assert by[("cfc-s0", "tflite", "step", "int8-static")]["status_label"] == "exported, failed parity check"
    assert by[("cfc-s0", "tflite", "step", "int16x8-static")]["status_label"] == "failed to export"
    assert by[("cfc-s0", "tflite", "seq", "int8-static")]["status_label"] == "not exported (unsupported)"
    assert by[("cfc-s0", "onnx", "seq", "fp32")]["status_label"] == "failed to run"
    # failures are shown with their reason in both documents
    for text in (html, md):
        for reason in ("parity max_abs 0.3 &gt; 0.05" if text is html else "parity max_abs 0.3 > 0.05",
                       "runtime crashed", "not supported by the converter", "quantizer crashed"):
            assert reason in text
        assert "-0.1000" in text and "-0.0050" in text
    assert html.count('<tr class="') == len(known_rows())  # the results table, one row each


def test_recommendation_skips_smallest_over_budget(report):
    overall = report.recommendations[0]
    assert overall.model == "" and overall.row.model == "cfc"
    cfc = next(r for r in report.recommendations if r.model == "cfc")
    # int8-dynamic (7000 B) drops 10 points and int8-static failed golden: neither may be chosen;
    # tflite int8-weight (10000 B) and onnx fp16 (10500 B) are within 10% -> the faster wins.
    assert (cfc.row.format, cfc.row.scheme) == ("tflite", "int8-weight")
    assert "int8-dynamic" in cfc.reason and "budget" in cfc.reason
    lstm = next(r for r in report.recommendations if r.model == "lstm")
    assert lstm.row.scheme == "int8-dynamic"
    html = report.html.read_text()
    assert 'id="recommendations"' in html and "cfc-s0/cfc-s0.step.int8-weight.tflite" in html


def test_budget_changes_the_pick(tmp_path):
    rows = load_results([write_jsonl(tmp_path / "r.jsonl", known_rows())])
    per_model, _ = recommend(rows, budget=0.1)
    cfc = next(r for r in per_model if r.model == "cfc")
    assert (cfc.row.format, cfc.row.scheme) == ("onnx", "fp16")  # int8-weight drops 0.5
    per_model, _ = recommend(rows, budget=20)
    cfc = next(r for r in per_model if r.model == "cfc")
    assert cfc.row.scheme == "int8-dynamic"  # now within budget; the golden failure still excluded


def test_study_tables_and_claims(report):
    html = report.html.read_text()
    for table in ("recommendations", "claims-host", "study-models", "robustness", "results",
                  "sensitivity", "environment"):
        assert f'id="{table}"' in html
    assert html.count("data:image/png;base64,") == 3
    claims = {c.claim: c for c in report.claims["host"]}
    acc = claims["LNNs are more accurate than LSTM/GRU"]
    assert acc.verdict == SUPPORTED  # 0.95 vs 0.90 = 5 points > 1-point margin
    assert "supported" in report.markdown.read_text()


def test_claims_follow_the_numbers(tmp_path):
    rows = known_rows()
    for r in rows:  # make the LSTM far more accurate and more robust to noise
        if r["model"] == "lstm":
            r["accuracy_fp32"], r["accuracy"] = 0.99, 0.99
            r["shifts"] = [dict(s, accuracy=0.985) for s in r["shifts"]]
    rows = load_results([write_jsonl(tmp_path / "r.jsonl", rows)])
    claims = {c.claim: c for c in check_claims(summarize(rows))}
    assert claims["LNNs are more accurate than LSTM/GRU"].verdict == CONTRADICTED
    assert claims["LNNs are more robust to input noise"].verdict == CONTRADICTED


def test_family_map_matches_the_zoo():
    from edgelnn.models import MODELS

    assert FAMILY == {name: kind.family for name, kind in MODELS.items()}


@pytest.mark.parametrize("case, expected", [
    ("missing", "missing field 'status'"),
    ("foreign", "not supported"),
    ("empty", "empty results file"),
    ("notjson", "not JSON"),
])
def test_bad_input_is_one_line(tmp_path, case, expected):
    path = tmp_path / "bad.jsonl"
    row = make_row()
    if case == "missing":
        del row["status"]
        write_jsonl(path, [make_row(), row])
    elif case == "foreign":
        row["schema_version"] = 99
        write_jsonl(path, [row])
    elif case == "empty":
        path.write_text("\n")
    else:
        path.write_text("{not json\n")
    with pytest.raises(ResultsError, match=expected.split("'")[0]):
        load_results([path])
    proc = subprocess.run([sys.executable, "-c", "from edgelnn.cli import main; main()", "report",
                           str(path), "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and expected in lines[0]


def test_model_scale_memory_beside_the_runtimes_rss(report):
    """The results show the model's own weight bytes, state and MACs from the row's footprint,
    and call the RSS figures the runtime's cost; rows from older bundles show dashes."""
    md = report.markdown.read_text()
    with report.csv.open() as f:
        rows = {(r["bundle"], r["scheme"], r["graph"], r["format"]): r for r in csv.DictReader(f)}
    lstm = rows[("lstm-s0", "fp32", "step", "onnx")]
    assert (lstm["weight_bytes"], lstm["state_bytes"], lstm["macs_per_step"], lstm["params_active"]) == \
        ("4936", "64", "1111", "1234")
    assert rows[("cfc-s0", "fp32", "step", "onnx")]["weight_bytes"] == ""
    assert "weight KiB" in md and "MACs/step" in md and "runtime's cost" in md
    assert "| 4.8 | 64 | 1111 |" in md.replace("  ", " ")
