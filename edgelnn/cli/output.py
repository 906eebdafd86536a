"""One output policy for every command.

- **Tables never cut an identifier.** Columns made with ``ident=True`` (names of models,
  datasets, targets, artifacts, files) are as wide as their longest value; only text columns
  (descriptions, reasons) wrap. Piped output is rendered at the table's natural width (one line
  per row up to 160 columns, whatever ``COLUMNS`` says; wider tables wrap their text columns);
  a terminal too narrow for the identifiers gets lines
  longer than the terminal (it wraps them) rather than a cut name.
- **JSON on request.** Every command that shows data takes ``--json`` (:data:`JsonOption`) and
  then prints one JSON document on stdout (:func:`print_json`) and nothing else there:
  progress and notes go to stderr.
- **Errors** are one ``error:`` line on stderr (:func:`fail`).
"""
from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass

import typer
from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

console = Console()
err_console = Console(stderr=True)

PIPE_WIDTH = 160          # piped tables: as wide as their rows, up to this; never cut names
JsonOption = typer.Option(False, "--json", help="print JSON on stdout instead of tables")


def fail(message: str, code: int = 1) -> None:
    """Print one red ``error:`` line on stderr and exit."""
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise SystemExit(code)


def note(message: str, *, json_mode: bool = False, style: str = "yellow", label: str = "note") -> None:
    """A ``note:`` line: on stdout with the tables, on stderr when stdout carries JSON."""
    target = err_console if json_mode else console
    target.print(f"[{style}]{label}:[/] {escape(message)}", highlight=False, soft_wrap=True)


def progress_console(json_mode: bool) -> Console:
    """Where progress goes: stderr when stdout carries JSON, else stdout."""
    return err_console if json_mode else console


# -- JSON ----------------------------------------------------------------------------------------
def _plain(value):
    """JSON has no NaN/inf: such floats become null; tuples/sets become lists; Paths strings."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_plain(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if hasattr(value, "to_dict"):
        return _plain(value.to_dict())
    return str(value)


def print_json(data) -> None:
    """One JSON document on stdout (the --json contract)."""
    sys.stdout.write(json.dumps(_plain(data), indent=1, allow_nan=False) + "\n")
    sys.stdout.flush()


# -- tables --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Col:
    """A table column: ``ident`` columns are never cut or wrapped; ``text`` columns wrap."""
    header: str
    ident: bool = False
    justify: str = "left"
    style: str | None = None


def table(title: str | None, columns: list[Col | str], *, show_header: bool = True, **kwargs) -> Table:
    """A rich Table following the policy; plain strings are ident columns when they are the
    first column, text columns otherwise."""
    t = Table(title=title, show_header=show_header, **kwargs)
    t.edgelnn_ident = []                 # indexes of identifier columns, for show()
    for i, col in enumerate(columns):
        if isinstance(col, str):
            col = Col(col, ident=(i == 0))
        if col.ident:
            t.add_column(col.header, justify=col.justify, style=col.style, no_wrap=True,
                         overflow="ignore")
            t.edgelnn_ident.append(i)
        else:
            t.add_column(col.header, justify=col.justify, style=col.style, overflow="fold")
    return t


def _fix_ident_widths(t: Table, target: Console) -> None:
    for i in getattr(t, "edgelnn_ident", []):
        column = t.columns[i]
        cells = list(column.cells)
        widest = max([Text.from_markup(c).cell_len if isinstance(c, str) else
                      Measurement.get(target, target.options, c).maximum for c in cells] + [1])
        column.min_width = max(column.min_width or 0, widest, len(column.header or ""))


def show(renderable, target: Console | None = None) -> None:
    """Print a table (or any renderable) without cutting identifiers: piped output at the
    natural width (up to PIPE_WIDTH, then text columns wrap), terminals at their width unless
    the identifiers need more."""
    target = target or console
    if isinstance(renderable, Table):
        _fix_ident_widths(renderable, target)
    measure = Measurement.get(target, target.options.update(max_width=10_000), renderable)
    if target.is_terminal:
        width = max(target.width, measure.minimum)
    else:        # logs and pipes: one line per row up to PIPE_WIDTH, then text columns wrap
        width = max(min(measure.maximum, PIPE_WIDTH), measure.minimum)
    if width == target.width:
        target.print(renderable, crop=False)
        return
    Console(file=target.file, width=width, no_color=target.no_color, color_system=target.color_system,
            force_terminal=target.is_terminal, highlight=False).print(renderable, crop=False)
