"""``run_study``: run (or resume) a study's job graph on an executor, then the report.

Order: every tuning trial first (longest first); when a (dataset, model)'s trials are all in, its
settings are chosen on validation loss and its final runs go out (longest first); the chosen
point of each (dataset, model, budget) -- seed 0, plain arm -- is exported as soon as it is
trained. Benchmarks wait until every training and export job has finished and then run one at a
time, so timing never shares the CPU with training. Every result is written into the study
folder as it arrives and ``study.json`` records it: an interrupted or failed study resumes where
it stopped, and a changed setting redoes only the jobs whose inputs it changes.
"""
from __future__ import annotations

import datetime as _dt
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from . import plan, records, search
from .design import StudyDesign
from .executors import DaskExecutor, InProcess, SchedulerLost, StudyExecutorError
from .stages import RETRY, ladder_text, retry_settings, still_improving
from .state import TMP_MARK, StudyState, clear_stale, now

Log = Callable[[str], None]


@dataclass
class Status:
    """What the progress display shows."""

    phase: str
    done: int
    total: int
    running: int
    queued: int
    waiting: int
    failed: int
    eta_seconds: float | None


@dataclass
class StudyResult:
    design: StudyDesign
    folder: Path
    report: object            # edgelnn.study.report.StudyReportFiles
    seconds: float
    ran: int
    resumed: int
    failed: list[tuple[str, str]] = field(default_factory=list)
    executor: str = ""
    deferred: list[dict] = field(default_factory=list)
    superseded: str | None = None


class _Quiet:
    def log(self, line: str) -> None:
        pass

    def update(self, status: Status) -> None:
        pass


def open_executor(scheduler: str | None, workers: int | None):
    """``--scheduler`` address, else a LocalCluster of ``workers`` (default: one per core); 0: in-process."""
    if scheduler is not None:
        ex = DaskExecutor.connect(scheduler)
    elif workers == 0:
        return InProcess()
    else:
        ex = DaskExecutor.local(workers)
    try:
        ex.check_workers(_facts())
    except StudyExecutorError:
        ex.close()
        raise
    return ex


def _facts() -> dict:
    from .jobs import worker_facts

    return worker_facts()


def run_study(design: StudyDesign, out: str | Path, *, scheduler: str | None = None, workers: int | None = None,
              fresh: bool = False, progress=None, executor=None) -> StudyResult:
    """Run or resume the study ``design`` in folder ``out``. ``progress``: an object with
    ``log(line)`` and ``update(Status)`` (the CLI's progress display).

    Nothing is written before the design is checked, study.json is read and the executor is up:
    a bad name, a damaged state file or an unreachable scheduler leaves the folder as it was.
    """
    from ..outdir import first_missing, remove_created, writer_lock

    start = time.perf_counter()
    progress = progress or _Quiet()
    design.check_names()
    folder = Path(out)
    created = first_missing(folder.parent)
    try:
        with writer_lock(folder, "study"):      # one writer per study folder
            return _run_locked(design, folder, start, progress, scheduler, workers, fresh, executor)
    except BaseException:
        if not folder.exists():
            remove_created(created, folder.parent)
        raise


def _run_locked(design, folder: Path, start: float, progress, scheduler, workers, fresh, executor) -> StudyResult:
    state = StudyState(folder) if fresh else StudyState.read(folder)
    executor = executor or open_executor(scheduler, workers)
    engine = None
    try:
        if executor.dashboard:
            progress.log(f"Dask dashboard: {executor.dashboard}")
        progress.log(f"running on {executor.where()}" if executor.name != "in-process" else "running in this process (no Dask)")
        folder.mkdir(parents=True, exist_ok=True)
        for path in clear_stale(folder):
            progress.log(f"removed {path.relative_to(folder)} (left by an interrupted run)")
        engine = _Engine(design, folder, state, executor, progress)
        engine.start()
        engine.run()          # supersedes a previous design's outputs once the finished jobs are replayed
        superseded = engine.superseded
        report = engine.report()
        seconds = time.perf_counter() - start
        engine.finish_invocation("finished", seconds)
        return StudyResult(design, folder, report, seconds, engine.ran, engine.resumed, engine.failures,
                           executor.where(), plan.deferred_cells(design), superseded)
    except BaseException as exc:
        if engine is not None:
            status = "interrupted" if isinstance(exc, KeyboardInterrupt) else (
                "scheduler lost" if isinstance(exc, SchedulerLost) else "failed")
            engine.finish_invocation(status, time.perf_counter() - start)
        if isinstance(exc, SchedulerLost) and engine is not None:
            raise SchedulerLost(f"{exc}; {engine.done_count} finished job(s) are saved in {state.path} -- "
                                "run the same command again to resume") from None
        raise
    finally:
        executor.close()
        clear_stale(folder)


class _Engine:
    def __init__(self, design: StudyDesign, folder: Path, state: StudyState, executor, progress):
        self.design, self.folder, self.state, self.ex, self.progress = design, folder, state, executor, progress
        self.status: dict[str, str] = {}        # key -> queued | done | failed
        self.jobs: dict[str, plan.Job] = {}
        self.failures: list[tuple[str, str]] = []
        self.ran = self.resumed = 0
        self.spent_cpu = self.spent_estimate = 0.0
        self.started = time.monotonic()
        self.tune = plan.tuning_jobs(design)
        self.groups: dict[tuple, list[plan.Job]] = {}
        for job in self.tune:
            self.groups.setdefault(job.group, []).append(job)
        self.finals = plan.final_keys(design)
        # (dataset, model, budget, arm, seed) -> its tuning group; the ladder's added cells join it
        self.cell_group = {k: (k[0], k[1], plan.tuning_budget(design, *k[:3])) for k in self.finals}
        self.retried: set[tuple] = set()        # groups re-tuned by the capacity rule (stages.py)
        self.decided: set[tuple] = set()        # stage decisions taken: ("capacity", d, m, b), ("ladder", d, k)
        self.ladder = {d: list(design.budgets) for d in design.datasets}   # budgets incl. added rungs
        self.stage_notes: list[str] = []
        self._first_choice: dict[tuple, tuple] = {}   # retried group -> (its first chosen trial, note)
        self._runs_cache: dict[str, object] = {}
        self.superseded: str | None = None
        self.export_cells = [(d, m, b) for d, m, b, arm, s in self.finals
                             if design.export and arm == "plain" and s == 0 and d in self._export_datasets()]
        self.total = len(self.tune) + len(self.finals) + 2 * len(self.export_cells)
        self.benches: list[plan.Job] = []
        self.stacked: dict[str, list[plan.Job]] = {}   # stack job key -> its members
        self.phase = "training"
        self._eta_costs = None          # the plan's estimates, computed once (see eta)
        self._eta_workers = (0.0, 1)    # (when counted, workers): a scheduler call, made every 10 s

    def _plan_costs(self) -> tuple[list, dict, float]:
        """(tuning group, estimate) of every final run, estimate of every export, of one bench:
        fixed for a design, and recomputing them at every progress update took a tenth of a core
        from the workers on a 2-core machine."""
        if self._eta_costs is None:
            from . import costs

            d = self.design
            finals = [((dd, m, plan.tuning_budget(d, dd, m, b)), plan.final_estimate(d, dd, m, b))
                      for dd, m, b, arm, s in self.finals]
            exports = {(dd, m, b): costs.export_estimate(d.formats, d.graphs, d.schemes, m,
                                                         plan.final_units(d, dd, m, b))
                       for dd, m, b in self.export_cells}
            self._eta_costs = (finals, exports, costs.bench_estimate(d.formats, d.graphs, d.schemes))
        return self._eta_costs

    def _workers_now(self) -> int:
        counted, n = self._eta_workers
        if time.monotonic() - counted > 10.0:
            n = max(1, self.ex.workers)
            self._eta_workers = (time.monotonic(), n)
        return n

    def _export_datasets(self) -> tuple:
        return self.design.export_datasets or self.design.datasets

    @property
    def done_count(self) -> int:
        return sum(v == "done" for v in self.status.values())

    # -- bookkeeping ------------------------------------------------------------------------------
    def start(self) -> None:
        d = self.design
        info = {"started": now(), "executor": self.ex.where(), "workers": self.ex.workers,
                "dashboard": self.ex.dashboard, "status": "running"}
        self.state.data["design"] = self.design_dict()
        self.state.data["invocations"].append(info)
        self.state.save()
        self.progress.log(f"{len(self.tune)} tuning trial(s), {len(self.finals)} final run(s), "
                          f"{len(self.export_cells)} export + bench job(s) -> {self.folder}"
                          + (f"; {len(plan.deferred_cells(d))} cell(s) deferred (estimated cost over "
                             f"{d.max_run_seconds:g} CPU s per run)" if plan.deferred_cells(d) else ""))

    def finish_invocation(self, status: str, seconds: float) -> None:
        if not self.state.data.get("invocations"):
            return
        inv = self.state.data["invocations"][-1]
        inv.update({"status": status, "seconds": round(seconds, 1), "ran": self.ran, "resumed": self.resumed,
                    "failed": [k for k, _ in self.failures], "finished": now()})
        try:
            self.state.save()
        except OSError:
            pass

    def design_dict(self) -> dict:
        from . import costs

        d = self.design
        estimate = costs.plan_time(d, workers=self.ex.workers)
        return {**d.to_dict(), "sizing": plan.sizing(d), "deferred": plan.deferred_cells(d),
                "estimate": {"workers": estimate.workers, "wall_minutes": round(estimate.wall / 60, 1),
                             "cpu_minutes": {"tune": round(estimate.tune / 60, 1),
                                             "final": round(estimate.final / 60, 1),
                                             "export": round(estimate.export / 60, 1),
                                             "bench": round(estimate.bench / 60, 1)}},
                "notes": notes(d)}

    def supersede(self) -> str | None:
        """Move outputs of a previous design that this one does not produce out of the folders the
        report reads (into ``superseded/<time>/``): the report then shows exactly this design, and
        nothing is deleted."""
        keep = set()
        for job in self.tune + self._finished_extensions() + list(self.jobs.values()):
            keep.update(job.outputs)
        for d, m, b, arm, s in self.finals:
            keep.update({plan.record_path(d, m, b, arm, s), plan.checkpoint_path(d, m, b, arm, s)})
        for d, m, b in self.export_cells:
            keep.update({plan.bundle_path(d, m, b), plan.results_path(d, m, b)})
        moved = []
        for top, pattern in (("tuning", "*/*.json"), ("records", "*/*.json"), ("checkpoints", "*/*.pt"),
                             ("bundles", "*/*"), ("results", "*/*.jsonl")):
            for path in sorted((self.folder / top).glob(pattern)):
                rel = path.relative_to(self.folder).as_posix()
                if rel not in keep and TMP_MARK not in path.name:
                    moved.append(rel)
        if not moved:
            return None
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        dest = self.folder / "superseded" / stamp
        for rel in moved:
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(self.folder / rel), str(target))
            self.state.data["jobs"] = {k: v for k, v in self.state.data["jobs"].items()
                                       if rel not in v.get("outputs", [])}
        self.state.save()
        self.progress.log(f"moved {len(moved)} output(s) of a previous design that this one does not "
                          f"produce to {dest.relative_to(self.folder)}/")
        return str(dest)

    def _finished_extensions(self) -> list[plan.Job]:
        """The extension trials this design has already run (their outputs are this design's, not
        a previous one's): replayed from the finished base grid, round by round."""
        out = []
        for group, jobs in self.groups.items():
            jobs = list(jobs)
            while all(self.state.done(j.key, j.fingerprint, j.outputs) for j in jobs):
                more = plan.extension_jobs(self.design, group, [records.read(self.folder / j.outputs[0]) for j in jobs])
                if not more:
                    break
                jobs += more
                out += more
        return out

    # -- the graph ----------------------------------------------------------------------------------
    def offer(self, job: plan.Job, fn, args: tuple, priority: float, pin: bool = False) -> None:
        self.jobs[job.key] = job
        if self.state.done(job.key, job.fingerprint, job.outputs):
            self.status[job.key] = "done"
            self.resumed += 1
            self.after(job)
            return
        self.status[job.key] = "queued"
        self.ex.submit(job, fn, args, priority, pin=pin)

    def offer_training(self, jobs: list[plan.Job], priority: float) -> None:
        """Offer tuning trials or final runs: those not done yet go out stacked where they can
        (plan.stacks: one job trains the members together, edgelnn.train.stacked), else alone."""
        from .jobs import run_train, run_train_stack

        todo = []
        for job in jobs:
            if self.state.done(job.key, job.fingerprint, job.outputs):
                self.offer(job, run_train, (job.spec,), priority)   # marks it done and unlocks what follows
            else:
                todo.append(job)
        for members in plan.stacks(todo):
            if len(members) == 1:
                self.offer(members[0], run_train, (members[0].spec,), priority + members[0].estimate)
                continue
            stack = plan.stack_job(members)
            for job in members:
                self.jobs[job.key] = job
                self.status[job.key] = "queued"
            self.stacked[stack.key] = members
            self.ex.submit(stack, run_train_stack, ([j.spec for j in members],), priority + stack.estimate)

    def run(self) -> None:
        # extension trials join self.tune as their groups finish: offered then
        self.offer_training(list(self.tune), 1e9)
        # finished jobs replayed (later stages included): what this design does not produce moves aside
        self.superseded = self.supersede()
        self._drain()
        self.phase = "benchmarks"
        from .jobs import run_bench

        for job in self.benches:  # one at a time, after every training and export job
            self.offer(job, run_bench, (job.spec, self._read_tree(job.spec["bundle"])), 0.0, pin=True)
            self._drain()

    def _drain(self) -> None:
        last_update = 0.0
        while any(v == "queued" for v in self.status.values()):
            for job, payload, error in self.ex.poll():
                self.collect(job, payload, error)
            if time.monotonic() - last_update > 0.5:
                self.progress.update(self.snapshot())
                last_update = time.monotonic()
        self.progress.update(self.snapshot())

    def collect(self, job: plan.Job, payload: dict | None, error: BaseException | None) -> None:
        if job.kind == "stack":   # each member is collected as its own job
            members = self.stacked.pop(job.key)
            results = payload["members"] if error is None else [None] * len(members)
            for member, result in zip(members, results):
                if error is None and "error" in result:
                    self.collect(member, None, RuntimeError(result["error"]))
                else:
                    self.collect(member, result, error)
            return
        if error is not None:
            self.status[job.key] = "failed"
            message = _one_line(error)
            self.failures.append((job.key, message))
            self.state.data.setdefault("failures", {})[job.key] = {"error": message, "at": now()}
            self.state.save()
            self.progress.log(f"FAILED {job.key}: {message}")
            return
        self.write_outputs(job, payload)
        info = {"worker": payload.get("worker", ""), "cpu_seconds": payload.get("cpu_seconds"),
                "seconds": payload.get("seconds"), "estimate": round(job.estimate, 1)}
        self.state.data.get("failures", {}).pop(job.key, None)
        self.state.record(job.key, job.fingerprint, job.outputs, **info)
        self.status[job.key] = "done"
        self.ran += 1
        self.spent_cpu += float(payload.get("cpu_seconds") or 0.0)
        self.spent_estimate += job.estimate
        self.progress.log(self.describe(job, payload))
        self.after(job)

    def write_outputs(self, job: plan.Job, payload: dict) -> None:
        if job.kind in ("tune", "final"):
            records.write(records.from_dict(payload["record"]), self.folder / job.outputs[0])
        if job.kind == "export":
            self._write_tree(job.spec["bundle"], payload["files"])
            return
        for rel, blob in payload["files"].items():
            _write_bytes(self.folder / rel, blob)

    def after(self, job: plan.Job) -> None:
        """Offer what ``job`` unlocks."""
        if job.kind == "tune":
            self._group_done(job.group)
        elif job.kind == "final":
            d, m = job.spec["dataset"], job.spec["model"]
            self._capacity(d, m)
            for b in self._budgets(d, m):
                self._export(d, m, b)
            self._ladder(d)
        elif job.kind == "export":
            self.benches.append(plan.bench_job(self.design, job))

    def _group_done(self, group: tuple) -> None:
        """When every trial of ``group`` is in: extend its grid (search.py), or choose and offer its
        final runs (the capacity retry's reruns where the group was re-tuned)."""
        jobs = self.groups[group]
        if not all(self.status.get(j.key) == "done" for j in jobs):
            return
        trials = [records.read(self.folder / j.outputs[0]) for j in jobs]
        more = [j for j in plan.extension_jobs(self.design, group, trials) if j.key not in self.jobs]
        if more:  # the best rate lies on the edge of the rates tried: extend (search.py)
            self.progress.log(f"extending the grid of {group[0]}/{group[1]} at budget "
                              f"{group[2]:,}: lr {more[0].spec['lr']:g} (round {more[0].spec['extension']})")
            self._add_trials(group, more)
            return
        chosen = plan.choose(trials)
        if group in self.retried and group in self._first_choice:
            first, why = self._first_choice.pop(group)
            if chosen["trial"] == first:   # the lower rate did not win: the first runs stand, the fall remains
                self.retried.discard(group)
                self.total -= len(self._finals_of(group))
                self.stage_notes.append(f"{why}; the choice did not change, the first runs stand")
                self._stages_after_retry(group)
                return
            self.stage_notes.append(f"{why}; trial {chosen['trial']} (lr {chosen['lr']:g}) chosen, final runs redone")
        retry = RETRY if group in self.retried else ""
        finals = [plan.final_job(self.design, *k, chosen, retry=retry, group=group) for k in self._finals_of(group)]
        finals = [f for f in finals if not (f.key in self.jobs and self.jobs[f.key].fingerprint == f.fingerprint)]
        if not finals:
            return
        self.progress.log(f"tuned {group[0]}/{group[1]} at budget {group[2]}"
                          + (" (capacity retry)" if retry else "") + f": trial {chosen['trial']} "
                          f"(lr {chosen['lr']:g}, batch {chosen['batch_size']}"
                          + "".join(f", {k} {v:g}" for k, v in chosen["search"].items()) + ")")
        self.offer_training(plan.stacked_estimates(finals), 1e6)

    def _add_trials(self, group: tuple, more: list) -> None:
        self.groups.setdefault(group, []).extend(more)
        self.tune.extend(more)
        self.total += len(more)
        self.offer_training(more, 1e9)

    # -- later stages (edgelnn.study.stages): replayed from the records on resume ---------------------
    def _finals_of(self, group: tuple) -> list[tuple]:
        return [k for k, g in self.cell_group.items() if g == group]

    def _budgets(self, d: str, m: str) -> list[int]:
        return sorted({k[2] for k in self.cell_group if k[:2] == (d, m)})

    def _final_key(self, k: tuple) -> str:
        return plan.final_key(*k, RETRY if self.cell_group[k] in self.retried else "")

    def _runs(self, d: str, m: str, b: int) -> list | None:
        """The cell's final records (every arm and seed; the reruns where it was retried), None
        until all are in."""
        keys = [self._final_key(k) for k in self.cell_group if k[:3] == (d, m, b)]
        if not keys or any(self.status.get(k) != "done" for k in keys):
            return None
        out = []
        for key in keys:
            if key not in self._runs_cache:
                self._runs_cache[key] = records.read(self.folder / self.jobs[key].outputs[0])
            out.append(self._runs_cache[key])
        return out

    def _can_retry(self, d: str, m: str, b: int) -> bool:
        """The capacity rule applies to a cell above the smallest budget, tuned at its own budget."""
        budgets = self._budgets(d, m)
        k = next((k for k in self.cell_group if k[:3] == (d, m, b)), None)
        return (self.design.capacity_retry and self.design.trials > 1 and k is not None
                and self.cell_group[k] == (d, m, b) and budgets.index(b) > 0)

    def _settled(self, d: str, m: str, b: int) -> bool:
        """The cell's final records are in and the capacity rule has decided on it (and its rerun is in)."""
        if self._can_retry(d, m, b) and ("capacity", d, m, b) not in self.decided:
            return False
        return self._runs(d, m, b) is not None

    def _capacity(self, d: str, m: str) -> None:
        """Re-tune, once, a cell whose validation score falls from the next smaller budget (stages.py)."""
        from .failures import falls_with_capacity

        budgets = self._budgets(d, m)
        for small, large in zip(budgets, budgets[1:]):
            tag = ("capacity", d, m, large)
            if tag in self.decided or not self._can_retry(d, m, large) or not self._settled(d, m, small):
                continue
            lo, hi = self._runs(d, m, small), self._runs(d, m, large)
            if hi is None:
                continue
            self.decided.add(tag)
            if not any(c[:3] == (d, m, large) for c in falls_with_capacity(lo + hi)):
                continue
            group = (d, m, large)
            trials = [records.read(self.folder / j.outputs[0]) for j in self.groups[group]]
            more = [j for j in plan.trial_jobs(self.design, group, retry_settings(trials, self.design.trials))
                    if j.key not in self.jobs]
            if not more:
                continue
            self.retried.add(group)
            self.total += len(self._finals_of(group))
            self._first_choice[group] = (plan.choose(trials)["trial"],
                                         f"{d}/{m} at {large:,}: validation score fell from {small:,} beyond seed "
                                         f"noise; re-tuned with lr {more[0].spec['lr']:g} added below its grid")
            self.progress.log(f"capacity retry of {d}/{m} at budget {large:,}: lr {more[0].spec['lr']:g} added")
            self._add_trials(group, more)

    def _stages_after_retry(self, group: tuple) -> None:
        """A retry that kept the first choice settles its cell now: what waited on it goes on."""
        d, m, _ = group
        for b in self._budgets(d, m):
            self._export(d, m, b)
        self._capacity(d, m)
        self._ladder(d)

    def _ladder(self, d: str) -> None:
        """One more budget rung on ``d`` for every model when its best model still improves at the top."""
        added = len(self.ladder[d]) - len(self.design.budgets)
        tag = ("ladder", d, added)
        if added >= self.design.extra_budgets or tag in self.decided or len(self.ladder[d]) < 2:
            return
        top2 = sorted(self.ladder[d])[-2:]
        runs = []
        for m in self.design.models:
            for b in top2:
                if not any(k[:3] == (d, m, b) for k in self.cell_group):
                    continue  # deferred for run time
                if not self._settled(d, m, b):
                    return
                runs += self._runs(d, m, b)
        self.decided.add(tag)
        why = still_improving(runs, d, top2)
        if why is None:
            return
        budget = why["budget"]
        self.ladder[d].append(budget)
        self.stage_notes.append(ladder_text(d, why))
        self.progress.log(f"budget ladder of {d}: {ladder_text(d, why)}")
        for m in self.design.models:
            if not plan.cell_runs(self.design, d, m, budget):
                self.stage_notes.append(f"{d}/{m} at {budget:,}: deferred for run time "
                                        f"(~{plan.final_estimate(self.design, d, m, budget) / 60:.0f} CPU min a run)")
                continue
            group = (d, m, budget) if self.design.tune_budget is None else (
                d, m, plan.tuning_budget(self.design, d, m, budget))
            for s in range(self.design.seeds):
                self.cell_group[(d, m, budget, "plain", s)] = group
            self.total += self.design.seeds
            if group in self.groups:   # a shared tuning budget: its choice is made already
                self._group_done(group)
                continue
            settings = search.trial_settings(m, self.design.trials, self.design.batch_size(d), self.design.batch_factors)
            self._add_trials(group, plan.trial_jobs(self.design, group, settings))

    def _export(self, d: str, m: str, b: int) -> None:
        """Export the chosen point (seed 0, plain arm) once the capacity rule has settled the cell."""
        from .jobs import run_export

        if (d, m, b) not in self.export_cells or not self._settled(d, m, b):
            return
        final = self.jobs[self._final_key((d, m, b, "plain", 0))]
        export = plan.export_job(self.design, final)
        if export.key in self.jobs and self.jobs[export.key].fingerprint == export.fingerprint:
            return
        ckpt = (self.folder / final.spec["checkpoint"]).read_bytes()
        self.offer(export, run_export, (export.spec, ckpt), export.estimate)

    # -- files --------------------------------------------------------------------------------------
    def _write_tree(self, rel: str, files: dict[str, bytes]) -> None:
        """Write a bundle into a temporary folder, then swap it into place."""
        final = self.folder / rel
        tmp = final.with_name(f".{final.name}{TMP_MARK}-{os.getpid()}")
        if tmp.exists():
            shutil.rmtree(tmp)
        for name, blob in files.items():
            path = tmp / Path(name).relative_to(rel)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(blob)
        if final.exists():
            old = final.with_name(f".{final.name}{TMP_MARK}-old-{os.getpid()}")
            final.rename(old)
            tmp.rename(final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            final.parent.mkdir(parents=True, exist_ok=True)
            tmp.rename(final)

    def _read_tree(self, rel: str) -> dict[str, bytes]:
        root = self.folder / rel
        return {f"{rel}/{p.relative_to(root).as_posix()}": p.read_bytes()
                for p in sorted(root.rglob("*")) if p.is_file()}

    # -- progress -----------------------------------------------------------------------------------
    def describe(self, job: plan.Job, payload: dict) -> str:
        where = payload.get("worker", "")
        cost = f"{payload.get('cpu_seconds', 0):.0f} CPU s"
        rec = payload.get("record") or {}
        if job.kind == "tune":
            what = f"val loss {rec.get('val_loss', float('nan')):.3f}, {rec.get('epochs_run')} epochs"
        elif job.kind == "final":
            what = f"test {rec.get('metric')} {rec.get('test_metric', float('nan')):.3f}, {rec.get('epochs_run')} epochs"
        elif job.kind == "export":
            what = f"{payload.get('artifacts')} artifact(s) passed" + (
                f", {payload['not_passed']} not" if payload.get("not_passed") else "")
        else:
            what = f"{payload.get('passed')}/{payload.get('rows')} row(s) passed"
        return f"{job.key}: {what} ({cost}, {where})"

    def snapshot(self) -> Status:
        running = self.ex.running()
        queued = sum(v == "queued" for v in self.status.values()) - len(running)
        done = self.done_count
        failed = sum(v == "failed" for v in self.status.values())
        waiting = max(0, self.total - done - failed - queued - len(running))
        return Status(self.phase, done, self.total, len(running), max(0, queued), waiting, failed, self.eta())

    def eta(self) -> float | None:
        """Remaining estimated CPU seconds / workers (benchmarks serial), scaled by how the jobs
        finished in this run compared with their estimates."""
        if self.spent_estimate <= 0:
            return None
        ratio = min(4.0, max(0.25, self.spent_cpu / self.spent_estimate))
        par = ser = 0.0
        for key, job in self.jobs.items():
            if self.status.get(key) == "queued":
                if job.kind == "bench":
                    ser += job.estimate
                else:
                    par += job.estimate
        finals, exports, bench = self._plan_costs()
        chosen_groups = {j.group for j in self.jobs.values() if j.kind == "final"}
        par += sum(cost for group, cost in finals if group not in chosen_groups)
        exported = {(j.spec["dataset"], j.spec["model"], j.spec["budget"]) for j in self.jobs.values()
                    if j.kind == "export"}
        par += sum(cost for cell, cost in exports.items() if cell not in exported)
        benched = sum(1 for j in self.jobs.values() if j.kind == "bench" and self.status.get(j.key) == "done")
        ser += (len(self.export_cells) - benched) * bench
        return (par / self._workers_now() + ser) * ratio

    def stages_note(self) -> str:
        """What the later stages did (edgelnn.study.stages), for the report's design section."""
        d = self.design
        rules = []
        if d.extra_budgets:
            rules.append(f"the budget ladder grows by x4 (at most {d.extra_budgets} rung(s)) on a dataset whose best "
                         "model still improves at the top budget beyond 2 SE, for every model there")
        if d.capacity_retry and d.trials > 1:
            rules.append("a cell whose validation score falls with capacity is re-tuned once with a lower rate")
        if not rules:
            return "**Later stages:** none in this design (no ladder growth, no capacity retry)."
        done = "; ".join(self.stage_notes) if self.stage_notes else "neither fired"
        return f"**Later stages** (edgelnn.study.stages): {'; '.join(rules)}. In this study: {done}."

    # -- report ------------------------------------------------------------------------------------
    def report(self):
        from .report import build_study_report

        self.phase = "report"
        self.progress.update(self.snapshot())
        d = self.design_dict()
        d["notes"] = d["notes"] + [where_ran(self.state), self.stages_note()]
        self.state.data["design"] = d
        self.state.save()
        return build_study_report(self.folder, self.folder / "report", quick=self.design.quick, design=d)


def notes(design: StudyDesign) -> list[str]:
    """The design's own account of itself, for the report's design section (markdown)."""
    from . import costs, search, validation

    est = costs.plan_time(design)
    deferred = plan.deferred_cells(design)
    tb = (f"tuned at budget {design.tune_budget:,} and the chosen settings reused at every budget"
          if design.tune_budget is not None else "tuned at every budget")
    aug = (("at every budget" if not design.aug_budgets else
            f"at budget{'s' if len(design.aug_budgets) > 1 else ''} {', '.join(f'{b:,}' for b in design.aug_budgets)}")
           + (f" of {', '.join(design.aug_datasets)} only (the regularly sampled datasets; irregular-sine's "
              "training data is irregular already)" if design.aug_datasets else "")
           + ", with the plain arm's tuned settings")
    lines = [
        f"**Equal tuning.** {search.describe(list(design.models), design.trials, design.tune_seeds, design.batch_factors, design.max_extensions)} "
        f"Each trial trains with the training recipe (edgelnn.train.recipe: Adam, gradient norm clipped at 1, the "
        f"rate cosine-decayed to 5 %) for at most {design.max_epochs} epochs with early stopping after "
        f"{design.patience} epochs without a lower validation loss, and is scored on validation data only. "
        f"Models are {tb}. Dataset batch size (the same for every model): "
        f"{', '.join(f'{d} {design.batch_size(d)}' for d in design.datasets)}.",
        validation.describe(design),
        f"**Training failures.** A run whose kept epoch is <= 3, whose outputs are constant or whose loss "
        f"diverges is flagged (edgelnn.train.recipe) and retried up to {design.retries} times at the rate / "
        "sqrt(10), the same rule for every model; a cell whose validation score falls from one budget to the "
        "next beyond seed noise is flagged too. A flagged run or cell is reported as a training failure and "
        "carries no verdict.",
        f"**Final runs.** {design.seeds} seeds per (dataset, model, budget) in the plain arm; the time-aug arm "
        f"(random drop / resample while training) runs {aug}. Each final model is scored once on the test "
        "split and on the dataset's shift suite (fixed shift seeds, so items pair across models and seeds).",
    ]
    if design.export:
        exp = design.export_datasets or design.datasets
        lines.append(f"**Export and bench.** Only the chosen point of each (dataset, model, budget) -- seed 0, "
                     f"plain arm -- of {', '.join(exp)}: {', '.join(design.formats)}, {', '.join(design.graphs)} "
                     f"graph, {', '.join(design.schemes)}; benchmarks run after all training, one at a time.")
    lines.append(f"**Run time.** Estimated from measured per-job costs (docs/study-design.md): "
                 f"{est.tune / 60:.0f} CPU min tuning, {est.final / 60:.0f} final runs, {est.export / 60:.0f} export, "
                 f"{est.bench / 60:.0f} bench (serial): about {est.wall / 60:.0f} min on {est.workers} workers.")
    if deferred:
        cells = "; ".join(f"{c['dataset']} {c['model']} at {c['budget']:,} (~{c['run_seconds'] / 60:.0f} CPU min "
                          "per run)" for c in deferred)
        lines.append(f"**Deferred for run time** (estimated cost over {design.max_run_seconds:g} CPU s per run; "
                     f"no claim covers them): {cells}. `edgelnn study --max-run-seconds 0` runs them too.")
    ncp = ncp_minimum(design)
    if ncp:
        lines.append(ncp)
    if design.quick:
        lines.append("**Quick look:** few seeds, one trial, short training: a first look, no verdicts.")
    return lines


def ncp_minimum(design: StudyDesign) -> str:
    """NCP's minimum size per wired kind over the design's datasets (edgelnn.models.minimum_size),
    stated so that a budget below it is never hidden in a column."""
    from ..models import minimum_size

    parts, smallest = [], min(design.budgets)
    below = []
    for m in (m for m in design.models if m.endswith("-ncp")):
        sizes = {d: minimum_size(m, *plan._sizes(d)) for d in design.datasets}
        lo, hi = min(v.params_active for v in sizes.values()), max(v.params_active for v in sizes.values())
        parts.append(f"{m} {sizes[design.datasets[0]].units} neurons, {lo:,}" + (f"-{hi:,}" if hi != lo else "")
                     + " active parameters")
        below += [f"{m} on {d}" for d, v in sizes.items() if v.params_active > smallest]
    if not parts:
        return ""
    return (f"**NCP's minimum size** (the smallest wiring ncps builds, over the datasets): {'; '.join(parts)}. "
            + (f"Above the smallest budget ({smallest:,}) for: {', '.join(below)} -- those cells are larger "
               "than their column says." if below else f"Every budget of the ladder (from {smallest:,}) is above it."))


def where_ran(state: StudyState) -> str:
    """Which worker ran how many jobs (from study.json), for the report."""
    counts: dict[str, int] = {}
    for job in state.data["jobs"].values():
        counts[job.get("worker") or "?"] = counts.get(job.get("worker") or "?", 0) + 1
    inv = state.data["invocations"][-1] if state.data.get("invocations") else {}
    parts = ", ".join(f"{w}: {n}" for w, n in sorted(counts.items()))
    return f"**Where jobs ran** (latest run on {inv.get('executor', '?')}): {parts}."


def _write_bytes(path: Path, blob: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + TMP_MARK)
    tmp.write_bytes(blob)
    os.replace(tmp, path)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}"[:300] if text else type(exc).__name__
