"""The checks of test_export_kinds.py for the RNN baselines (LSTM: two state tensors)."""
from __future__ import annotations

import pytest

from edgelnn.models import MODELS
from test_export_kinds import LIQUID, check_fp32_step_artifacts, check_onnx_seq_graph

RNNS = ("lstm", "gru", "gru-d", "rnn")


@pytest.mark.parametrize("kind", RNNS)
def test_fp32_step_artifacts_reproduce_pytorch(kind, fp32_bundle, export_checkpoint):
    check_fp32_step_artifacts(kind, fp32_bundle, export_checkpoint)


@pytest.mark.parametrize("kind", RNNS)
def test_onnx_seq_graph_is_dynamic(kind, fp32_bundle, export_checkpoint):
    check_onnx_seq_graph(kind, fp32_bundle, export_checkpoint)


def test_every_model_kind_is_covered():
    assert set(LIQUID) | set(RNNS) == set(MODELS)


def test_gru_d_bundle_benches_with_its_golden_check(fp32_bundle):
    """The new kind goes the whole way: exported, parity-gated, then benched by the torch-free
    runtime with the golden check and the accuracy through the artifact."""
    from edgelnn.bench import BenchSettings, bench_bundle, check_row

    bundle, _ = fp32_bundle("gru-d")
    rows = bench_bundle(bundle, settings=BenchSettings(warmup=2, min_runs=5, min_seconds=0.0,
                                                      memory=False, max_eval_sequences=8))
    assert rows and all(r["status"] == "passed" and r["golden_ok"] for r in rows), rows
    assert all(check_row(r) == [] for r in rows)
    assert {r["format"] for r in rows} >= {"onnx"} and all(r["model"] == "gru-d" for r in rows)
