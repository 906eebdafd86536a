"""A real Dask cluster on 127.0.0.1 for the study tests: ``dask scheduler`` and ``dask worker``
processes started from this venv's ``dask`` command (no nanny, so a killed worker stays dead and
its job must run again on another worker)."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

DASK = str(Path(sys.executable).with_name("dask"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Cluster:
    address: str
    scheduler: subprocess.Popen
    workers: list[subprocess.Popen] = field(default_factory=list)
    log_dir: Path | None = None

    def client(self):
        from distributed import Client

        return Client(self.address, timeout="10s", set_as_default=False)

    def stop(self) -> None:
        for p in [*self.workers, self.scheduler]:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in [*self.workers, self.scheduler]:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def start_cluster(tmp: Path, n_workers: int = 2, port: int | None = None) -> Cluster:
    """Scheduler on a free port of 127.0.0.1 and ``n_workers`` single-threaded workers; returns
    once every worker has registered."""
    port = port or free_port()
    address = f"tcp://127.0.0.1:{port}"
    tmp.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "DASK_DISTRIBUTED__WORKER__DAEMON": "False"}
    log = (tmp / "scheduler.log").open("w")
    sched = subprocess.Popen([DASK, "scheduler", "--host", "127.0.0.1", "--port", str(port),
                              "--no-dashboard"], stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp)
    cluster = Cluster(address, sched, log_dir=tmp)
    for i in range(n_workers):
        add_worker(cluster, f"w{i}")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with cluster.client() as c:
                if len(c.scheduler_info()["workers"]) >= n_workers:
                    return cluster
        except OSError:
            pass
        time.sleep(0.5)
    cluster.stop()
    raise RuntimeError(f"Dask cluster did not come up; logs in {tmp}")


def add_worker(cluster: Cluster, name: str) -> subprocess.Popen:
    log = (cluster.log_dir / f"{name}.log").open("w")
    local = cluster.log_dir / f"{name}-space"
    p = subprocess.Popen([DASK, "worker", cluster.address, "--nthreads", "1", "--no-nanny", "--name", name,
                          "--no-dashboard", "--local-directory", str(local), "--host", "127.0.0.1"],
                         stdout=log, stderr=subprocess.STDOUT, cwd=cluster.log_dir)
    cluster.workers.append(p)
    return p
