"""The edgelnn CLI run in this process, as the console script runs it (run_app), for tests that
need pytest's monkeypatch/capsys rather than a subprocess."""
from __future__ import annotations

import sys


def run_cli(monkeypatch, capsys, *args) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``edgelnn ARGS``."""
    import edgelnn.cli  # noqa: F401 - registers the commands
    from edgelnn.cli.app import run_app

    monkeypatch.setattr(sys, "argv", ["edgelnn", *map(str, args)])
    code = 0
    try:
        run_app()
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err
