"""One writer per output folder, and the leftovers of killed runs removed (issue 20).

``writer_lock(folder, command)`` takes an exclusive lock on an output folder for the life of a
command: ``export --out``, ``study --out`` and ``report --out``. The lock is ``flock`` on a small
file next to the folder (``.NAME.lock``: the folder itself may not exist yet, or is replaced by a
rename), holding the writer's pid and command. The kernel releases it when the process ends, however
it ends, so a lock left by a killed process is stale by construction: the next writer takes it
(the pid in the file, no longer running, is only reported). A second live writer gets one line
naming the holder's pid. The lock file is removed on release.

``remove_leftovers(folder)`` removes ``.NAME.tmp-*`` / ``.NAME.old-*`` / ``.NAME.probe-*``
folders next to ``folder``: a run that was killed before it could clean up leaves them, and
under the lock no other writer can be using them. Standard library only.
"""
from __future__ import annotations

import contextlib
import errno
import os
import shutil
from pathlib import Path

from .errors import OutputError

LEFTOVER_KINDS = ("tmp", "old", "probe")


def lock_path(folder: str | Path) -> Path:
    folder = Path(folder).absolute()
    return folder.parent / f".{folder.name}.lock"


def _holder(path: Path) -> tuple[str, str]:
    try:
        text = path.read_text(encoding="utf-8", errors="replace").split()
    except OSError:
        return "?", "?"
    return (text[0] if text else "?"), (" ".join(text[1:2]) or "edgelnn")


@contextlib.contextmanager
def writer_lock(folder: str | Path, command: str):
    """Hold the output folder's lock for the ``with`` block (see the module docstring)."""
    import fcntl

    folder = Path(folder)
    path = lock_path(folder)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot write to {path.parent} ({exc.strerror or exc})") from None
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise OutputError(f"cannot lock {folder}: {path} ({exc.strerror or exc})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise OutputError(f"cannot lock {folder}: {path} ({exc.strerror or exc})") from None
            pid, cmd = _holder(path)
            raise OutputError(f"{folder} is being written by another edgelnn {cmd} (pid {pid}); wait for it "
                              f"to finish or stop it (one writer per folder)") from None
        try:                         # the file we locked may have been removed by its last holder
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()} {command}\n".encode())
        except OSError as exc:       # a full disk: the lock holds without the pid in it
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise OutputError(f"cannot lock {folder}: {path} ({exc.strerror or exc})") from None
        yield path
    finally:
        with contextlib.suppress(OSError):
            path.unlink()
        os.close(fd)


def remove_leftovers(folder: str | Path) -> list[Path]:
    """Remove the hidden working folders of earlier, killed runs on ``folder``; call it while
    holding ``writer_lock(folder)``. Returns what was removed."""
    folder = Path(folder).absolute()
    removed = []
    try:
        entries = list(folder.parent.iterdir())
    except OSError:
        return removed
    prefixes = tuple(f".{folder.name}.{kind}-" for kind in LEFTOVER_KINDS)
    olds = sorted((p for p in entries if p.name.startswith(f".{folder.name}.old-") and p.is_dir()),
                  key=lambda p: p.name)
    if olds and not folder.exists():      # killed between moving the old folder aside and the new in:
        try:                              # the old one is the user's; put it back
            olds[-1].rename(folder)
            entries = list(folder.parent.iterdir())
        except OSError:
            return removed
    for p in entries:
        if p.name.startswith(prefixes) and p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p)
    return removed


def replace_folder(tmp: Path, out: Path, keep_others: bool = False) -> None:
    """Rename the finished ``tmp`` folder to ``out``; an existing ``out`` is moved aside first and
    removed after (a failure puts it back). ``keep_others``: files of the old folder that the new
    one does not have are copied over first (a user's own files in a report folder stay)."""
    import time

    old = None
    if keep_others and out.is_dir():
        for p in out.iterdir():
            if not (tmp / p.name).exists():
                if p.is_dir() and not p.is_symlink():
                    shutil.copytree(p, tmp / p.name, symlinks=True)
                else:
                    shutil.copy2(p, tmp / p.name, follow_symlinks=False)
    if out.exists():
        old = out.with_name(f".{out.name}.old-{int(time.time() * 1000)}")
        out.rename(old)
    try:
        tmp.rename(out)
    except OSError:
        if old is not None:
            old.rename(out)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def first_missing(folder: Path) -> Path | None:
    """The outermost ancestor of ``folder`` (itself included) that does not exist yet."""
    folder = Path(folder).absolute()
    return next((p for p in reversed([folder, *folder.parents]) if not p.exists()), None)


def remove_created(created: Path | None, inner: Path) -> None:
    """Remove the empty folders from ``inner`` up to ``created`` (what a failed run made)."""
    if created is None:
        return
    p = Path(inner).absolute()
    while True:
        try:
            p.rmdir()
        except OSError:
            return
        if p == created:
            return
        p = p.parent


@contextlib.contextmanager
def staged_folder(out: str | Path, command: str):
    """Write a whole output folder or nothing: yields a hidden working folder next to ``out``
    (under ``writer_lock``, leftovers of killed runs removed first) that replaces ``out`` when
    the block ends normally. On any error the working folder and the parent folders this call
    created are removed and ``out`` stays as it was; an OSError becomes one OutputError line
    naming the path."""
    import tempfile

    out = Path(out)
    created = first_missing(out.parent)
    try:
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot write to {out.parent} ({exc.strerror or exc})") from None
        with writer_lock(out, command):
            remove_leftovers(out)
            try:
                tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
            except OSError as exc:
                raise OutputError(f"cannot write to {out.parent} ({exc.strerror or exc})") from None
            try:
                yield tmp
                replace_folder(tmp, out, keep_others=True)
            except OSError as exc:
                shutil.rmtree(tmp, ignore_errors=True)
                where = exc.filename or out
                raise OutputError(f"cannot write {command} output {where} ({exc.strerror or exc}); "
                                  f"{out} was left as it was") from None
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
    except BaseException:
        remove_created(created, out.parent)
        raise
