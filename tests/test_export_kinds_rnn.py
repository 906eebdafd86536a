"""The checks of test_export_kinds.py for the RNN baselines (LSTM: two state tensors)."""
from __future__ import annotations

import pytest

from edgelnn.models import MODELS
from test_export_kinds import LIQUID, check_fp32_step_artifacts, check_onnx_seq_graph

RNNS = ("lstm", "gru", "rnn")


@pytest.mark.parametrize("kind", RNNS)
def test_fp32_step_artifacts_reproduce_pytorch(kind, fp32_bundle, export_checkpoint):
    check_fp32_step_artifacts(kind, fp32_bundle, export_checkpoint)


@pytest.mark.parametrize("kind", RNNS)
def test_onnx_seq_graph_is_dynamic(kind, fp32_bundle, export_checkpoint):
    check_onnx_seq_graph(kind, fp32_bundle, export_checkpoint)


def test_every_model_kind_is_covered():
    assert set(LIQUID) | set(RNNS) == set(MODELS)
