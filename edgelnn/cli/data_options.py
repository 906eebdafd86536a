"""The options every ``--data`` command shares (train, import, bench, predict), in one place."""
from __future__ import annotations

from typing import Optional

import typer

LABEL = typer.Option(None, "--label", help="CSV: the class label column (classification)")
TARGET = typer.Option(None, "--target", help="CSV: the target column (regression)")
FEATURES = typer.Option(None, "--features", help="CSV: feature columns, comma-separated (default: every other column)")
TIME = typer.Option("t", "--time", help="CSV: the timestamp column")
SEQ_ID = typer.Option("seq_id", "--seq-id", help="CSV: the sequence id column")
TASK = typer.Option(None, "--task", help="classification or regression (default: from the label/target)")
VAL = typer.Option(0.2, "--val-fraction", help="share of sequences for validation (seeded split)")
TEST = typer.Option(0.2, "--test-fraction", help="share of sequences for test (seeded split)")


def data_kwargs(label: Optional[str], target: Optional[str], features: Optional[str], time: str, seq_id: str) -> dict:
    return {"label": label, "target": target, "features": features, "time": time, "seq_id": seq_id}
