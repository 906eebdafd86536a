"""Ctrl-C and SIGTERM: stop at once, clean up, exit 130 with ``error: interrupted``.

The CLI calls :func:`install` once. Then SIGINT and SIGTERM both raise :class:`Interrupted` in
the main thread (a ``KeyboardInterrupt``, so the library's ``except Exception`` blocks that turn
errors into result rows never swallow it), after two kinds of registered actions:

- **stoppers** (:func:`stopper`) run inside the signal handler, before anything unwinds: they
  must be quick and must not block, e.g. killing a child process (an ``ssh`` a worker thread is
  waiting on), so that threads and ``with`` blocks waiting on that work can finish unwinding;
- **cleanups** (:func:`cleanup`) run after the stack has unwound, last registered first, e.g.
  removing a temporary folder or stopping a run on a device over a second connection.

Library code uses the context managers (``with stopper(proc.kill): ...``) so the action is
registered only while the work it undoes is in flight. A second signal while cleaning up is
ignored (the cleanups have their own timeouts); a third ends the process at once (exit 130).

Python drops an exception raised where it cannot propagate (a signal landing in an import
lock's weakref callback prints "Exception ignored in ..." and goes on). So long loops call
:func:`check` (training checks once a batch), and a second signal that arrives before the
cleanups started raises again instead of being ignored.

Standard library only; safe to import on devices.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
import tempfile
import threading
from pathlib import Path
from typing import Callable, Iterator

EXIT_CODE = 130
SIGNALS = ("SIGINT", "SIGTERM")


class Interrupted(KeyboardInterrupt):
    """Raised in the main thread on SIGINT or SIGTERM (after the stoppers ran)."""

    def __init__(self, signame: str = "SIGINT"):
        super().__init__(signame)
        self.signame = signame


_lock = threading.RLock()
_stoppers: dict[int, Callable[[], object]] = {}
_cleanups: dict[int, Callable[[], object]] = {}
_next = 0
_event = threading.Event()
_signals_seen = 0
_signame = "SIGINT"
_cleaning = False


def is_set() -> bool:
    """True once an interrupt arrived: worker threads check it to stop early."""
    return _event.is_set()


def check() -> None:
    """Raise :class:`Interrupted` if an interrupt arrived (main thread, not yet cleaning up).

    Long loops call this so an interrupt whose exception Python dropped still stops them."""
    if _event.is_set() and not _cleaning and threading.current_thread() is threading.main_thread():
        raise Interrupted(_signame)


def _register(table: dict, fn: Callable[[], object]) -> int:
    global _next
    with _lock:
        _next += 1
        table[_next] = fn
        return _next


@contextlib.contextmanager
def stopper(fn: Callable[[], object]) -> Iterator[None]:
    """Run ``fn`` from the signal handler if an interrupt arrives inside this block."""
    key = _register(_stoppers, fn)
    try:
        yield
    finally:
        with _lock:
            _stoppers.pop(key, None)


@contextlib.contextmanager
def cleanup(fn: Callable[[], object]) -> Iterator[None]:
    """Run ``fn`` after an interrupt that arrived inside this block has unwound the stack
    (it is dropped when the block ends normally or with another error)."""
    key = _register(_cleanups, fn)
    try:
        yield
    except KeyboardInterrupt:
        raise                      # keep it registered: run_cleanups() runs it
    except BaseException:
        with _lock:
            _cleanups.pop(key, None)
        raise
    else:
        with _lock:
            _cleanups.pop(key, None)


@contextlib.contextmanager
def temporary_folder(parent: str | Path, prefix: str) -> Iterator[Path]:
    """A ``prefix*`` folder in ``parent`` that is removed when the block ends, whatever the
    reason (an error, Ctrl-C, SIGTERM). Move it into place before leaving to keep it."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    remove = lambda: shutil.rmtree(path, ignore_errors=True)   # noqa: E731
    try:
        with cleanup(remove):
            yield path
    finally:
        remove()


def run_cleanups() -> list[str]:
    """Run (and forget) every pending cleanup, last registered first; returns the errors as
    one line each (a cleanup that fails must not hide the others)."""
    errors = []
    while True:
        with _lock:
            if not _cleanups:
                return errors
            key = max(_cleanups)
            fn = _cleanups.pop(key)
        try:
            fn()
        except Exception as exc:  # noqa: BLE001 - best effort, reported by the caller
            errors.append(f"{type(exc).__name__}: {exc}".splitlines()[0])


def _run_stoppers() -> None:
    with _lock:
        fns = list(_stoppers.values())[::-1]
    for fn in fns:
        try:
            fn()
        except Exception:  # noqa: BLE001 - stopping is best effort
            pass


def _handler(signum, frame) -> None:
    global _signals_seen, _signame
    _signals_seen += 1
    if _signals_seen > 2:
        os.write(2, b"error: interrupted\n")
        os._exit(EXIT_CODE)
    if _signals_seen == 2 and _cleaning:
        return                     # cleaning up: their timeouts bound it
    # first signal, or a second one while the first's exception was dropped somewhere
    _signame = signal.Signals(signum).name
    _event.set()
    _run_stoppers()
    raise Interrupted(_signame)


def install() -> None:
    """SIGINT and SIGTERM -> :class:`Interrupted` (main thread only; no-op elsewhere)."""
    if threading.current_thread() is not threading.main_thread():
        return
    for name in SIGNALS:
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), _handler)


def reset() -> None:
    """Forget a previous interrupt (tests calling the CLI in-process)."""
    global _signals_seen, _cleaning
    _signals_seen = 0
    _cleaning = False
    _event.clear()
    with _lock:
        _stoppers.clear()
        _cleanups.clear()


def exit_interrupted(print_line: Callable[[str], None] | None = None) -> None:
    """Run the cleanups, print ``error: interrupted`` (one line) and exit 130."""
    global _cleaning
    _cleaning = True
    problems = run_cleanups()
    line = "interrupted" + (f" (cleanup: {problems[0]})" if problems else "")
    if print_line is not None:
        print_line(line)
    else:
        sys.stderr.write(f"error: {line}\n")
    raise SystemExit(EXIT_CODE)
