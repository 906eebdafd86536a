"""Where a study's jobs run: in this process, on a Dask ``LocalCluster`` (the default: one
single-threaded worker process per core), or on an existing Dask cluster by scheduler address.

Both executors take jobs with a priority (higher first), hand back finished ones as
``(job, payload, error)``, and say which jobs are running now. Results come back through the
Dask client as bytes, so workers need no shared file system -- only edgelnn installed, the same
version as here (checked when the study connects).
"""
from __future__ import annotations

import heapq
import itertools
import logging
import os
import time
from typing import Callable

from ..errors import EdgeLNNError

CONNECT_TIMEOUT = "10s"
POLL_SECONDS = 0.5
LARGE_ARGUMENT = 256 * 1024  # bytes: scattered to the cluster instead of embedded in the task


class StudyExecutorError(EdgeLNNError):
    """The executor cannot start or has lost its cluster (one line, no traceback)."""


class SchedulerLost(StudyExecutorError):
    """The Dask scheduler went away while the study was running."""


class InProcess:
    """Runs jobs one after another in this process (``--workers 0``; tests; no Dask needed)."""

    name = "in-process"
    address = None
    dashboard = None

    def __init__(self):
        self._queue: list = []
        self._count = itertools.count()
        self._running: str | None = None
        self.workers = 1
        self.on_start: Callable[[str], None] | None = None

    def submit(self, job, fn, args: tuple, priority: float, pin: bool = False) -> None:
        heapq.heappush(self._queue, (-priority, next(self._count), job, fn, args))

    def queued(self) -> int:
        return len(self._queue)

    def running(self) -> set[str]:
        return {self._running} if self._running else set()

    def poll(self, timeout: float = POLL_SECONDS) -> list[tuple]:
        if not self._queue:
            return []
        _, _, job, fn, args = heapq.heappop(self._queue)
        self._running = job.key
        if self.on_start:
            self.on_start(job.key)
        try:
            return [(job, fn(*args), None)]
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:  # noqa: BLE001 - a failed job is a reported result
            return [(job, None, exc)]
        finally:
            self._running = None

    def where(self) -> str:
        return "this process"

    def close(self) -> None:
        self._queue.clear()


class DaskExecutor:
    """Jobs as Dask futures on a ``distributed.Client``."""

    def __init__(self, client, cluster=None, address: str | None = None):
        self.client, self.cluster, self.address = client, cluster, address
        self.name = "local-cluster" if cluster is not None else "scheduler"
        self._futures: dict = {}  # future -> job
        self._lost_since: float | None = None

    # -- start ---------------------------------------------------------------------------
    @classmethod
    def local(cls, workers: int | None = None) -> "DaskExecutor":
        """A LocalCluster of single-threaded worker processes, one per core (or ``workers``)."""
        client_cls, cluster_cls = _distributed("LocalCluster")
        import dask

        silence_dask_teardown()
        n = workers or os.cpu_count() or 1
        try:
            # no statistical profiler in the workers: it samples the training thread's stack 100
            # times a second for a dashboard page a study does not show, on the cores it trains on
            with dask.config.set({"distributed.worker.profile.enabled": False}):
                cluster = cluster_cls(n_workers=n, threads_per_worker=1, processes=True,
                                      dashboard_address=":0",
                                      silence_logs=logging.ERROR)
            client = client_cls(cluster, set_as_default=False)
        except Exception as exc:  # noqa: BLE001 - e.g. no free port, cannot spawn processes
            raise StudyExecutorError(f"cannot start a local Dask cluster of {n} worker(s): {_short(exc)}") from None
        return cls(client, cluster)

    @classmethod
    def connect(cls, address: str) -> "DaskExecutor":
        """An existing cluster (``tcp://HOST:8786``); fails in one line when the address is
        malformed (at once) or nothing listens there (within PROBE_SECONDS), before any work."""
        host, port = check_scheduler_address(address)
        client_cls, _ = _distributed()
        _quiet_dask_logs()
        silence_dask_teardown()
        probe_scheduler(address, host, port)
        try:
            client = client_cls(address, timeout=CONNECT_TIMEOUT, set_as_default=False)
        except Exception as exc:  # noqa: BLE001 - OSError, TimeoutError, ValueError, CommClosedError...
            import gc

            gc.collect()                  # the half-made Client's __del__ runs now, silenced
            raise StudyExecutorError(f"cannot reach the Dask scheduler at {address} ({_short(exc)}); "
                                     "start one with `dask scheduler` (README, section Studies on Dask)") from None
        ex = cls(client, None, address)
        if not ex.worker_addresses():
            ex.wait_for_workers()
        return ex

    def wait_for_workers(self, timeout: float = 30.0) -> None:
        try:
            self.client.wait_for_workers(1, timeout=timeout)
        except (TimeoutError, OSError) as exc:
            self.close()
            raise StudyExecutorError(f"the Dask scheduler at {self.address} has no workers "
                                     f"(waited {timeout:.0f} s; start some with `dask worker {self.address}`)"
                                     ) from None

    def check_workers(self, expected: dict) -> None:
        """Every worker must run the edgelnn and torch of this process: same inputs, same results."""
        from .jobs import worker_facts

        try:
            facts = self.client.run(worker_facts)
        except Exception as exc:  # noqa: BLE001 - a worker without edgelnn cannot unpickle the call
            raise StudyExecutorError(f"the Dask workers cannot run edgelnn ({_short(exc)}); install the same "
                                     f"edgelnn ({expected.get('edgelnn')}) on every worker") from None
        for addr, f in sorted(facts.items()):
            for key in ("edgelnn", "torch"):
                if f.get(key) != expected.get(key):
                    raise StudyExecutorError(f"Dask worker {addr} has {key} {f.get(key)}, this client has "
                                             f"{expected.get(key)}: results would differ; install the same versions")

    # -- facts -----------------------------------------------------------------------------
    @property
    def workers(self) -> int:
        return max(1, len(self.worker_addresses()))

    def worker_addresses(self) -> list[str]:
        try:
            return sorted(self.client.scheduler_info(n_workers=-1)["workers"])
        except TypeError:  # older distributed: no n_workers argument
            return sorted(self.client.scheduler_info()["workers"])
        except Exception:  # noqa: BLE001 - the scheduler is gone: the poll loop reports it
            return []

    @property
    def dashboard(self) -> str | None:
        try:
            info = self.client.scheduler_info()
            if "dashboard" not in (info.get("services") or {}):
                return None
            if self.cluster is not None and not _has_bokeh():  # distributed serves a "needs bokeh" page
                return None
            return self.client.dashboard_link
        except Exception:  # noqa: BLE001
            return None

    def where(self) -> str:
        if self.cluster is not None:
            return f"a local Dask cluster of {self.workers} single-threaded worker process(es)"
        return f"the Dask cluster at {self.address} ({self.workers} worker(s))"

    # -- jobs --------------------------------------------------------------------------------
    def submit(self, job, fn, args: tuple, priority: float, pin: bool = False) -> None:
        args = tuple(self.client.scatter(a, hash=False) if isinstance(a, (bytes, dict)) and _size(a) > LARGE_ARGUMENT
                     else a for a in args)
        workers = self.worker_addresses()[:1] if pin else None
        fut = self.client.submit(fn, *args, key=f"{job.key}|{job.fingerprint}", priority=priority, pure=False,
                                 workers=workers, allow_other_workers=bool(workers), retries=0)
        self._futures[fut] = job

    def queued(self) -> int:
        return len(self._futures) - len(self.running())

    def running(self) -> set[str]:
        try:
            processing = self.client.processing()
        except Exception:  # noqa: BLE001
            return set()
        keys = {str(k) for tasks in processing.values() for k in tasks}
        return {job.key for fut, job in self._futures.items() if fut.key in keys}

    def poll(self, timeout: float = POLL_SECONDS) -> list[tuple]:
        if not self._futures:
            return []
        deadline = time.monotonic() + timeout
        while True:
            self._check_scheduler()
            done = [f for f in self._futures if f.done()]
            if done or time.monotonic() >= deadline:
                break
            time.sleep(0.05)
        out = []
        for fut in done:
            job = self._futures.pop(fut)
            if fut.status == "finished":
                try:
                    out.append((job, fut.result(), None))
                except OSError as exc:
                    raise SchedulerLost(self._lost_message(exc)) from None
            elif fut.status == "cancelled":
                self._futures[fut] = job
                self._check_scheduler(force=True)
            else:
                exc = fut.exception()
                out.append((job, None, exc))
            fut.release()
        return out

    def _check_scheduler(self, force: bool = False) -> None:
        """The client reconnects for a while after losing the scheduler; give up after 10 s."""
        status = getattr(self.client, "status", "running")
        if status == "running" and not force:
            self._lost_since = None
            return
        self._lost_since = self._lost_since or time.monotonic()
        if status in ("closed", "closing", "failed") or time.monotonic() - self._lost_since > 10.0:
            raise SchedulerLost(self._lost_message(None))

    def _lost_message(self, exc) -> str:
        where = self.address or "the local cluster"
        return f"lost the Dask scheduler at {where}" + (f" ({_short(exc)})" if exc else "")

    def close(self) -> None:
        for fut in list(self._futures):
            try:
                fut.cancel()
            except Exception:  # noqa: BLE001
                pass
        self._futures.clear()
        for thing in (self.client, self.cluster):
            if thing is None:
                continue
            try:
                thing.close(timeout=5) if thing is self.client else thing.close()
            except Exception:  # noqa: BLE001 - closing after a lost scheduler may fail; nothing to save
                pass


def _distributed(cluster: str | None = None):
    try:
        import distributed
    except ImportError:
        raise StudyExecutorError("studies on Dask need the study extra: pip install 'edgelnn[study]' "
                                 "(or run in this process with --workers 0)") from None
    return distributed.Client, (getattr(distributed, cluster) if cluster else None)


SCHEMES = ("tcp", "tls")
PROBE_SECONDS = 4.0


def check_scheduler_address(address) -> tuple[str, int]:
    """(host, port) of a ``tcp://HOST:PORT`` or ``tls://HOST:PORT`` scheduler address, else a
    StudyExecutorError saying what is wrong with it (empty, another scheme, no port...)."""
    from urllib.parse import urlsplit

    hint = "expected tcp://HOST:PORT, e.g. tcp://10.0.0.5:8786"
    text = str(address or "").strip()
    if not text:
        raise StudyExecutorError(f"--scheduler is empty; {hint}")
    if any(ord(c) < 33 for c in text):
        raise StudyExecutorError(f"--scheduler {address!r} holds spaces or control characters; {hint}")
    if "://" not in text:
        text = f"tcp://{text}"
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise StudyExecutorError(f"--scheduler {address!r} is not an address ({exc}); {hint}") from None
    if parts.scheme not in SCHEMES:
        raise StudyExecutorError(f"--scheduler {address!r}: scheme {parts.scheme!r} is not one a Dask "
                                 f"scheduler listens on ({', '.join(SCHEMES)}); {hint}")
    if not parts.hostname or port is None or not 0 < port < 65536 or parts.path not in ("", "/") \
            or parts.query or parts.fragment or parts.username:
        raise StudyExecutorError(f"--scheduler {address!r} needs a host and a port 1..65535 and nothing "
                                 f"else; {hint}")
    return parts.hostname, port


def probe_scheduler(address: str, host: str, port: int, timeout: float = PROBE_SECONDS) -> None:
    """A plain TCP connection first: nothing listening there, or something that is not a Dask
    scheduler, is one line within ~2 x ``timeout``. A Dask scheduler sends its handshake as soon as
    a connection opens (tcp comm: an 8-byte message length, then the frame count); tls:// is
    only connected to (its first bytes are TLS)."""
    import socket
    import struct

    start = "start one with `dask scheduler` (README, section Studies on Dask)"
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            if address.startswith("tls://"):
                return
            data = b""
            while len(data) < 16:
                chunk = sock.recv(16 - len(data))
                if not chunk:
                    break
                data += chunk
    except TimeoutError:
        if "data" in locals():
            raise StudyExecutorError(f"something listens at {address} but does not answer like a Dask scheduler "
                                     f"(no handshake within {timeout:g} s); {start}") from None
        raise StudyExecutorError(f"cannot reach the Dask scheduler at {address} (timed out); {start}") from None
    except (OSError, UnicodeError) as exc:
        why = getattr(exc, "strerror", None) or _short(exc)
        raise StudyExecutorError(f"cannot reach the Dask scheduler at {address} ({why}); {start}") from None
    total, frames = struct.unpack("<QQ", data) if len(data) == 16 else (0, 0)
    if not (16 <= total < (1 << 26) and 0 < frames < 1024):
        raise StudyExecutorError(f"something listens at {address} but does not answer like a Dask scheduler; "
                                 f"{start}")


def _dask_noise(unraisable) -> bool:
    obj = unraisable.object
    names = [getattr(type(obj), "__module__", "") or "", getattr(obj, "__module__", "") or "",
             getattr(obj, "__qualname__", "") or ""]
    tb = unraisable.exc_traceback
    while tb is not None:
        names.append(tb.tb_frame.f_globals.get("__name__", ""))
        tb = tb.tb_next
    return any(n.startswith(("distributed", "tornado", "dask")) or "Client.__del__" in n for n in names)


def silence_dask_teardown() -> None:
    """A Client that failed to connect, or one torn down at exit, reports its own errors as
    'Exception ignored in Client.__del__' tracebacks after edgelnn's error line: drop exactly
    those (other unraisable exceptions still go to the previous hook)."""
    import sys

    previous = sys.unraisablehook
    if getattr(previous, "_edgelnn_dask", False):
        return

    def hook(unraisable):
        if not _dask_noise(unraisable):
            previous(unraisable)

    hook._edgelnn_dask = True
    sys.unraisablehook = hook


def _quiet_dask_logs() -> None:
    for name in ("distributed", "distributed.client", "distributed.comm", "distributed.core",
                 "distributed.worker", "distributed.nanny", "distributed.scheduler"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def _has_bokeh() -> bool:
    try:
        import bokeh  # noqa: F401
        return True
    except ImportError:
        return False


def _size(a) -> int:
    if isinstance(a, bytes):
        return len(a)
    return sum(len(v) for v in a.values() if isinstance(v, bytes))


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:160]
