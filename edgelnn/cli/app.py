"""The typer app and the one entry point that keeps the command line's contract:

- a usage error (missing or unknown option, a value of the wrong type, an unknown command)
  prints the command's usage, a hint and one ``error:`` line, and exits 2;
- an error that is the user's input (:class:`edgelnn.errors.EdgeLNNError`, a file that cannot
  be read or written) prints one ``error:`` line and exits 1;
- a command whose optional part is not installed says in one line which extra to install;
- SIGINT / SIGTERM print ``error: interrupted`` after the registered cleanups ran, exit 130;
- anything else is a bug: one line saying so, exit 2 (``EDGELNN_DEBUG=1`` shows the traceback).

New commands and options get all of this for free: they only raise typed errors.
"""
from __future__ import annotations

import contextlib
import importlib
import os
import sys
import tempfile

import typer

from .. import __version__
from .output import console, err_console, fail  # noqa: F401 - re-exported for the command modules


def new_app(**kwargs) -> typer.Typer:
    """A Typer with edgelnn's settings: no completion, no pretty tracebacks, and help text
    printed as written (rich markup would eat ``[user@]host``)."""
    return typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                       rich_markup_mode=None, **kwargs)


def _version(value: bool) -> None:
    if value:
        print(f"edgelnn {__version__}")
        raise typer.Exit()


app = new_app(help="edgelnn: liquid neural networks and RNNs, from training to the edge.")


@app.callback()
def _main(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="print the version and exit")) -> None:
    """edgelnn: liquid neural networks and RNNs, from training to the edge."""


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


# -- which optional part a missing module belongs to -------------------------------------------
EXTRA_OF = {"torch": "train", "ncps": "train", "onnx": "train", "onnxscript": "train",
            "litert_torch": "tflite", "ai_edge_quantizer": "tflite", "tensorflow": "tflite",
            "dask": "study", "distributed": "study", "scipy": "stats"}


def missing_extra_message(exc: ModuleNotFoundError) -> str | None:
    """'... needs torch: pip install "edgelnn[train]"' for a module of an extra, else None."""
    top = (exc.name or "").split(".")[0]
    extra = EXTRA_OF.get(top)
    if extra is None:
        return None
    return (f"this command needs {top}, which is not installed: pip install 'edgelnn[{extra}]' "
            "(the base package runs, benchmarks and reports bundles without it)")


def require_extra(extra: str, *modules: str) -> None:
    """Fail in one line, before any work, when ``modules`` (default: the extra's) are missing.
    Commands need not call it: a missing module of an extra is mapped the same way by run_app."""
    import importlib.util

    from ..errors import MissingExtraError

    wanted = modules or tuple(m for m, e in EXTRA_OF.items() if e == extra)
    missing = [m for m in wanted if importlib.util.find_spec(m) is None]
    if missing:
        raise MissingExtraError(f"this command needs {', '.join(missing)}, which is not installed: "
                                f"pip install 'edgelnn[{extra}]'")


def _click_exceptions():
    """The exception classes of every click that typer may use: typer >= 0.25 ships its own
    copy (``typer._click``), whose classes are not click's."""
    modules = []
    for name in ("typer._click.exceptions", "click.exceptions"):
        try:
            modules.append(importlib.import_module(name))
        except ImportError:
            continue
    pick = lambda attr: tuple({getattr(m, attr) for m in modules if hasattr(m, attr)})  # noqa: E731
    return (pick("UsageError"), pick("ClickException"), pick("Exit") + (typer.Exit,),
            pick("Abort") + (typer.Abort,))


def _show_usage_error(exc) -> None:
    ctx = getattr(exc, "ctx", None)
    no_args = type(exc).__name__ == "NoArgsIsHelpError"
    if ctx is not None:
        if no_args:
            sys.stderr.write(ctx.get_help() + "\n\n")
        else:
            sys.stderr.write(ctx.get_usage() + "\n")
            sys.stderr.write(f"Try '{ctx.command_path} --help' for help.\n")
    message = "missing command (see the list above)" if no_args else exc.format_message()
    err_console.print(f"[bold red]error:[/] {_escape(message)}", highlight=False, soft_wrap=True)


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def _warning_line(message, category, filename, lineno, file=None, line=None) -> None:
    """Python warnings as one ``warning:`` line (no source line, no file name)."""
    text = str(message).strip().splitlines()
    err_console.print(f"[yellow]warning:[/] {_escape(text[0] if text else category.__name__)}",
                      highlight=False, soft_wrap=True)


def _os_error_line(exc: OSError) -> str:
    if exc.strerror and exc.filename:
        return f"{exc.filename}: {exc.strerror}"
    return str(exc) or type(exc).__name__


def run_app(args: list[str] | None = None, prog_name: str = "edgelnn") -> None:
    """The ``edgelnn`` console script. Never returns normally: exits with the command's code."""
    import warnings

    from .. import interrupt
    from ..errors import EdgeLNNError

    usage_errors, click_errors, exits, aborts = _click_exceptions()
    interrupt.install()
    warnings.showwarning = _warning_line
    command = typer.main.get_command(app)
    args = list(sys.argv[1:] if args is None else args)
    code = 0
    try:
        with command.make_context(prog_name, args) as ctx:
            result = command.invoke(ctx)
            code = result if isinstance(result, int) and not isinstance(result, bool) else 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if isinstance(exc.code, str):
            err_console.print(exc.code, highlight=False)
    except exits as exc:
        code = exc.exit_code
    except KeyboardInterrupt:           # edgelnn.interrupt.Interrupted, or a bare Ctrl-C
        interrupt.exit_interrupted(lambda line: err_console.print(
            f"[bold red]error:[/] {line}", highlight=False, soft_wrap=True))
    except aborts:
        if interrupt.is_set():
            interrupt.exit_interrupted(lambda line: err_console.print(
                f"[bold red]error:[/] {line}", highlight=False, soft_wrap=True))
        fail("aborted", 1)
    except usage_errors as exc:
        _show_usage_error(exc)
        code = 2
    except click_errors as exc:
        err_console.print(f"[bold red]error:[/] {_escape(exc.format_message())}", highlight=False,
                          soft_wrap=True)
        code = exc.exit_code
    except Exception as exc:  # noqa: BLE001 - the CLI's contract is one line, no traceback
        if os.environ.get("EDGELNN_DEBUG"):
            raise
        if isinstance(exc, EdgeLNNError):
            fail(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
        if isinstance(exc, ModuleNotFoundError) and missing_extra_message(exc):
            fail(missing_extra_message(exc))
        if isinstance(exc, OSError):
            fail(_os_error_line(exc))
        fail(f"internal error ({type(exc).__name__}: {exc}); rerun with EDGELNN_DEBUG=1 for the "
             "traceback", 2)
    raise SystemExit(code)
