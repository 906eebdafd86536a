"""``--quant auto`` for the C format: per-tensor storage precision (int8 -> int16 -> float32
weights, float compute) over the ``int8-weight`` code, through the real generator, a real C
compiler (strict compile, then the c runtime) and the bundle's parity gate.

Model: an untrained 8-unit LSTM on BasicMotions (seeded): three weight matrices. Its
int8-weight C artifact is ~0.002 of the output range off over the parity rollouts, all three
matrices at int16 ~1e-5, two of them float and one int16 ~1e-6, the fp32 C code ~1e-7.
Untrained logits are near-tied, so the task-metric bound is left open here, as in the other
export tests (the error bounds are what these tests hold the artifacts to).
"""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from edgelnn.export import export_bundle
from edgelnn.export.manifest import sha256
from cli_inprocess import run_cli as _cli

pytestmark = [pytest.mark.usefixtures("c_cache"),   # compiled libraries in a test folder
              pytest.mark.skipif(shutil.which("gcc") is None and shutil.which("cc") is None,
                                 reason="scripts/test.sh installs a C compiler")]
OPEN_METRIC = 1.0            # untrained near-tied logits: the metric bound is not under test
FLOAT_NEEDED = 3e-6          # below all-int16 (~1e-5), above two float + one int16 (~1e-6)




def _manifest(path):
    return json.loads((path / "manifest.json").read_text())


def _entry(manifest, scheme, where=("artifacts", "rejected")):
    return next((e for key in where for e in manifest[key] if e["format"] == "c" and e["scheme"] == scheme), None)


def _export(checkpoint, out, max_error=None, target=None):
    return export_bundle(checkpoint, out, formats=["c"], schemes=["int8-weight", "auto"], graphs=["step"],
                         max_drop=100 * OPEN_METRIC, max_error=max_error, target=target,
                         tolerances={"int8-weight": {"metric_delta": OPEN_METRIC}})


CROSS = shutil.which("arm-none-eabi-gcc") is not None and shutil.which("qemu-system-arm") is not None


def test_auto_returns_int8_weight_unchanged_when_it_passes(export_checkpoint, tmp_path):
    out = tmp_path / "lstm-c"
    _export(export_checkpoint("lstm", units=8), out)
    m = _manifest(out)
    int8, auto = _entry(m, "int8-weight", ("artifacts",)), _entry(m, "auto", ("artifacts",))
    assert int8 is not None and auto is not None, m["rejected"]
    block = auto["auto"]
    assert len(block["trace"]) == 1 and block["chosen"] == 0 and block["kept"] == []
    assert set(block["precisions"].values()) == {"int8"} and "unchanged" in block["why"]
    # the same weights, stored the same way: the generator's own count, and the code itself
    assert block["weight_bytes"] == int8["c"]["stats"]["const_bytes"] == auto["c"]["stats"]["const_bytes"]
    assert auto["c"]["precision"] == int8["c"]["precision"] and auto["c"]["compute"] == "int8-weight"
    assert block["fp32_weight_bytes"] == _entry(m, "fp32", ("artifacts",))["c"]["stats"]["const_bytes"]
    # only the names differ: file, header, symbol prefix
    assert auto["file"].endswith(".step.auto.c") and auto["c_prefix"].endswith("_auto")
    src = (out / auto["file"]).read_text()
    for a, b in ((auto["c_prefix"], int8["c_prefix"]), (auto["c_prefix"].upper(), int8["c_prefix"].upper()),
                 (auto["extra_files"][0]["file"], int8["extra_files"][0]["file"])):
        src = src.replace(a, b)
    assert src == (out / int8["file"]).read_text()
    assert auto["parity"] == {**int8["parity"], "tolerance": auto["parity"]["tolerance"]}
    # its gate: int8-weight's bounds (C's int8 rung), tightened by the budget's default drop
    assert auto["parity"]["tolerance"]["rel_range"] == int8["parity"]["tolerance"]["rel_range"] == 0.1


@pytest.fixture(scope="module")
def tight(export_checkpoint, tmp_path_factory):
    """int8-weight and auto under an error bound that int16 weights alone do not meet, for the
    Cortex-M4 target (every candidate's cycles per step in the trace)."""
    out = tmp_path_factory.mktemp("auto-c") / "lstm-c-tight"
    return out, _export(export_checkpoint("lstm", units=8), out, max_error=FLOAT_NEEDED, target="cortex-m4")


def test_auto_keeps_tensors_in_float_where_int16_is_not_enough(tight):
    from edgelnn.runtime import load_bundle

    out, report = tight
    m = _manifest(out)
    auto = _entry(m, "auto", ("artifacts",))
    assert auto is not None, report.to_json()
    block = auto["auto"]
    trace = block["trace"]
    assert trace[0]["step"] == "full int8" and not trace[0]["passed"] and "rel_range" in trace[0]["reason"]
    assert any(c["step"].startswith("all") and "int16" in c["step"] and not c["passed"] for c in trace), trace
    # a passing artifact, checked by the gate and the golden replay like every C artifact
    f = out / auto["file"]
    assert sha256(f) == auto["sha256"] and auto["parity"]["passed"]
    assert auto["parity"]["rel_range"] <= FLOAT_NEEDED == auto["parity"]["tolerance"]["rel_range"]
    header = out / auto["extra_files"][0]["file"]
    assert header.is_file() and sha256(header) == auto["extra_files"][0]["sha256"]
    assert auto["golden"]["tolerance"] > 0 and auto["c_prefix"].endswith("_auto")
    # smaller than fp32, by the generator's count of the file it wrote
    assert block["weight_bytes"] == auto["c"]["stats"]["const_bytes"] < block["fp32_weight_bytes"]
    assert block["fp32_weight_bytes"] == _entry(m, "fp32", ("artifacts",))["c"]["stats"]["const_bytes"]
    # the tensors kept in float are listed, and the C code stores them in float
    floats = [k["op"] for k in block["kept"] if k["precision"] == "float"]
    assert floats, block["kept"]
    plan = auto["c"]["precision"]["plan"]
    for k in block["kept"]:
        assert plan[k["op"]] == {"float": "fp32", "int16": "int16"}[k["precision"]], (k, plan)
        assert k["weights"] > 0 and k["type"] == "MatVec"
    assert {u: p for u, p in block["precisions"].items() if p != "int8"} == {k["op"]: k["precision"]
                                                                              for k in block["kept"]}
    assert len(block["precisions"]) == block["units"] == 3                 # the LSTM's three matrices
    assert any(p == "int8" or p == "int16" for p in block["precisions"].values())   # never all float
    chosen = trace[block["chosen"]]
    assert chosen["passed"] and chosen["weight_bytes"] == block["weight_bytes"]
    assert chosen["weight_bytes"] == min(c["weight_bytes"] for c in trace if c["passed"])
    for c in trace:                           # every candidate was built, compiled and run
        assert c["weight_bytes"] and c["rel_range"] is not None and (c["passed"] or c["reason"]), c
    assert [s["op"] for s in block["sensitivity"]] and all(s["error_added"] >= 0 for s in block["sensitivity"])
    if CROSS:                       # microcontroller figures, and each candidate's cost per step on the M4
        assert "cortex-m4" in auto["footprint"]["mcu"]
        for c in trace:
            assert c["mcu_core"] == "cortex-m4" and c["mcu_clock_mhz"] == 80.0, c
            assert 0 < c["mcu_instructions"] <= c["mcu_cycles"], c
        # float weights load without a conversion: fewer instructions than the int8 code
        assert chosen["mcu_instructions"] < trace[0]["mcu_instructions"], [c["mcu_instructions"] for c in trace]
    # the torch-free runtime opens it from the manifest and replays golden.npz within tolerance
    bundle = load_bundle(out)
    golden = bundle.golden()
    runner = bundle.open(next(a for a in bundle.artifacts if a["scheme"] == "auto"))
    try:
        y = runner.run_each(golden.x, golden.dt, golden.lengths)
    finally:
        runner.close()
    mask = np.arange(golden.x.shape[1])[None, :] < golden.lengths[:, None]
    assert np.abs(y - golden.y)[mask].max() <= auto["golden"]["tolerance"]
    # nothing of the search is left in the bundle: fp32, int8-weight and auto, each .c with its .h
    assert sorted(p.name for p in out.iterdir() if p.suffix in (".c", ".h")) == sorted(
        x for a in m["artifacts"] for x in (a["file"], a["extra_files"][0]["file"]))


@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None,
                    reason="scripts/test.sh installs gcc-arm-none-eabi and qemu-system-arm")
def test_auto_artifact_passes_the_emulated_cortex_m4_golden_check(tight):
    """It is int8-weight code (c.compute): the Cortex-M4 target runs it like int8-weight."""
    from edgelnn.bench import BenchSettings, check_row
    from edgelnn.targets import bench_targets

    out, _ = tight
    auto = _entry(_manifest(out), "auto", ("artifacts",))
    rows = bench_targets(out, ["cortex-m4"], artifacts=[auto["file"]], settings=BenchSettings(max_eval_sequences=2))
    assert [r["status"] for r in rows] == ["passed"], [r["error"] for r in rows]
    r = rows[0]
    assert check_row(r) == [] and r["golden_ok"] and r["golden_max_abs"] <= r["golden_tolerance"]
    assert r["scheme"] == "auto" and r["measured_on"]["via"] == "emulator"
    assert r["flash_bytes"] == auto["footprint"]["mcu"]["cortex-m4"]["flash_bytes"]
    # the search counted the chosen plan's code over the same samples as bench: the same figures
    chosen = auto["auto"]["trace"][auto["auto"]["chosen"]]
    assert (chosen["mcu_instructions"], chosen["mcu_cycles"]) == (r["mcu_instructions"], r["mcu_cycles"])
    from edgelnn.report.auto import AutoSearch, auto_section
    from edgelnn.report.doc import Table

    section = auto_section([AutoSearch("b", "lstm", "basicmotions", "c", True, auto["auto"], auto["auto"]["trace"])])
    table = next(b for b in section.blocks if isinstance(b, Table) and b.id.startswith("auto-b-"))
    at = table.columns.index("est. cycles/step (cortex-m4)")
    assert [row[at] for row in table.rows] == [f"{c['mcu_cycles']:,}" for c in auto["auto"]["trace"]]




def test_nothing_meets_the_budget_keeps_fp32(monkeypatch, capsys, export_checkpoint, tmp_path):
    """--max-drop 0 and an error bound below even the fp32 C code's own: one line, the bundle
    keeps fp32, exit status 0 (as for every format; --strict makes it 1)."""
    out = tmp_path / "lstm-c-none"
    code, stdout, err = _cli(monkeypatch, capsys, "export", export_checkpoint("lstm", units=8), "--out", out,
                             "--format", "c", "--quant", "auto", "--graph", "step",
                             "--max-drop", "0", "--max-error", "1e-8")
    assert code == 0, (stdout, err)
    assert "Traceback" not in stdout + err
    lines = [ln for ln in stdout.splitlines() if ln.startswith("auto (c)")]
    assert len(lines) == 1 and "no quantized artifact meets the budget" in lines[0] \
        and "max drop 0 points, max error 1e-08" in lines[0] and "keeps fp32" in lines[0], stdout
    m = _manifest(out)
    assert [a["scheme"] for a in m["artifacts"]] == ["fp32"]
    auto = _entry(m, "auto", ("rejected",))
    assert auto["status"] == "rejected" and auto["reason"].startswith("no quantized artifact within the budget")
    assert auto["auto"]["chosen"] is None and len(auto["auto"]["trace"]) >= 2 and not any(
        c["passed"] for c in auto["auto"]["trace"])
    assert auto["auto"]["tolerance"]["rel_range"] == 1e-8 and auto["auto"]["tolerance"]["metric_delta"] == 0
    fp32 = m["artifacts"][0]
    assert sorted(p.name for p in out.iterdir() if p.suffix in (".c", ".h")) == sorted(
        [fp32["file"], fp32["extra_files"][0]["file"]])


def test_report_lists_the_c_search(export_checkpoint, tmp_path):
    """The report's --quant auto section reads the C entry like the others: every candidate."""
    from test_report import make_row

    from edgelnn.report import build_report

    path = tmp_path / "bundles" / "lstm-c-report"
    _export(export_checkpoint("lstm", units=8), path, max_error=1e-3)
    m = _manifest(path)
    block = _entry(m, "auto", ("artifacts",))["auto"]
    rows = [make_row(bundle=path.name, model="lstm", fmt="c", scheme=a["scheme"], size=a["bytes"], acc=0.95,
                     fp32=0.95, artifact=a["file"]) for a in m["artifacts"]]
    results = tmp_path / "results.jsonl"
    results.write_text("".join(json.dumps(r) + "\n" for r in rows))
    files = build_report([results], tmp_path / "report", bundles=[path.parent], sensitivity=False)
    md = files.markdown.read_text()
    assert "## Mixed-precision search (--quant auto)" in md and block["why"] in md
    html = files.html.read_text()
    table = f'id="auto-{path.name}-c"'
    assert table in html
    section = html.split(table, 1)[1].split("</table>", 1)[0]
    assert section.count("<tr") == len(block["trace"]) + 1 and "chosen" in section
