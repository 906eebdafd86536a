"""The typer app and the one place that turns user errors into one clear line."""
from __future__ import annotations

import contextlib
import os
import sys
import tempfile

import typer
from rich.console import Console

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="edgelnn: liquid neural networks and RNNs, from training to the edge.")
console = Console()
err_console = Console(stderr=True)


def fail(message: str, code: int = 1) -> None:
    """Print one red line on stderr and exit."""
    from rich.markup import escape

    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise SystemExit(code)


@contextlib.contextmanager
def quiet_native_stderr():
    """TensorFlow/absl/torchao print C-level log lines on fd 2 during conversion; hide them
    (our own errors are printed after this block). EDGELNN_DEBUG=1 shows them."""
    if os.environ.get("EDGELNN_DEBUG"):
        yield
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def run_app() -> None:
    from ..errors import EdgeLNNError

    try:
        app(standalone_mode=False)
    except SystemExit:
        raise
    except (typer.Abort, KeyboardInterrupt):
        fail("interrupted", 130)
    except Exception as exc:  # noqa: BLE001 - the CLI's contract is one line, no traceback
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            raise SystemExit(exc.exit_code) from None
        if os.environ.get("EDGELNN_DEBUG"):
            raise
        if isinstance(exc, (EdgeLNNError, ValueError, OSError)):
            fail(str(exc) or type(exc).__name__)
        fail(f"internal error ({type(exc).__name__}: {exc}); rerun with EDGELNN_DEBUG=1 for the traceback", 2)
