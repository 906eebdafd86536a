"""``edgelnn`` command line: a thin layer that parses arguments and calls the library.

Each stage registers its commands in its own module; importing them here wires them in.
"""
from .app import app, run_app

from . import train_cmd, export_cmd, bench_cmd, targets_cmd, report_cmd, study_cmd  # noqa: E402,F401
from . import import_cmd  # noqa: E402,F401


def main() -> None:
    run_app()


__all__ = ["app", "main"]
