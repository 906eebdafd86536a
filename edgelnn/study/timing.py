"""What a study really took, from its study.json: wall time over every invocation (a study resumes
where it stopped, so one run may span several), CPU time per job kind, and the jobs' CPU against
the estimates the plan recorded for them -- the measured side of ``edgelnn study --plan``."""
from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field


@dataclass
class RunTime:
    invocations: int = 0
    wall_seconds: float = 0.0          # summed over invocations
    finished: bool = False             # the last invocation ended by itself (not killed or running)
    jobs: int = 0
    cpu_seconds: dict[str, float] = field(default_factory=dict)    # job kind -> CPU s
    estimate_seconds: float = 0.0      # the recorded estimates of those jobs (CPU s)
    plan_wall_minutes: float | None = None
    plan_workers: int | None = None

    @property
    def cpu_total(self) -> float:
        return sum(self.cpu_seconds.values())

    def describe(self) -> str:
        """One paragraph for the report (markdown)."""
        if not self.jobs:
            return "**Measured run time:** no finished job is recorded in study.json."
        kinds = ", ".join(f"{k} {v / 60:,.1f}" for k, v in self.cpu_seconds.items())
        resumed = (f" (started once, resumed {self.invocations - 1} time{'s' if self.invocations > 2 else ''}; "
                   "an invocation stopped from outside counts until its last finished job)"
                   if self.invocations > 1 else "")
        text = (f"**Measured run time** (study.json): {self.invocations} invocation(s){resumed}, "
                f"{self.wall_seconds / 60:,.0f} min of wall time in all"
                + ("" if self.finished else ", the last one not finished when this report was written")
                + f"; {self.jobs:,} finished jobs took {self.cpu_total / 60:,.0f} CPU min ({kinds})")
        if self.estimate_seconds > 0:
            text += (f", {self.cpu_total / self.estimate_seconds:.2f} of the {self.estimate_seconds / 60:,.0f} "
                     "CPU min the plan had estimated for them")
        if self.plan_wall_minutes is not None:
            text += (f". The plan estimated the design's base jobs (no grid extensions or later stages) at "
                     f"{self.plan_wall_minutes:,.0f} min of wall time on {self.plan_workers} workers")
        if self.estimate_seconds > 0 and self.plan_workers:
            planned = self.estimate_seconds / self.plan_workers / 60
            text += (f"; for the jobs that ran (later stages included), the recorded estimates over "
                     f"{self.plan_workers} workers come to {planned:,.0f} min, and the measured wall time is "
                     f"{self.wall_seconds / 60 / planned:.2f} of that (the plan's own wall formula adds the longest "
                     "job's tail, benchmarks and the report)")
        return text + "."


def _time(text) -> _dt.datetime | None:
    try:
        return _dt.datetime.fromisoformat(str(text))
    except ValueError:
        return None


def measured(state: dict, design: dict | None = None) -> RunTime:
    """The RunTime of a study from its study.json contents (``design``: the one whose plan estimate
    to show, else study.json's)."""
    jobs = state.get("jobs") or {}
    invs = [i for i in (state.get("invocations") or []) if isinstance(i, dict) and _time(i.get("started"))]
    out = RunTime(invocations=len(invs))
    ends = []
    for key, job in jobs.items():
        if not isinstance(job, dict) or job.get("cpu_seconds") is None:
            continue
        kind = str(key).split(" ", 1)[0]
        out.jobs += 1
        out.cpu_seconds[kind] = out.cpu_seconds.get(kind, 0.0) + float(job["cpu_seconds"])
        out.estimate_seconds += float(job.get("estimate") or 0.0)
        end = _time(job.get("finished"))
        if end is not None:
            ends.append(end)
    starts = [_time(i["started"]) for i in invs]
    for n, inv in enumerate(invs):
        if inv.get("seconds") is not None:
            out.wall_seconds += float(inv["seconds"])
            continue
        nxt = starts[n + 1] if n + 1 < len(starts) else None
        inside = [e for e in ends if e >= starts[n] and (nxt is None or e < nxt)]
        if inside:
            out.wall_seconds += (max(inside) - starts[n]).total_seconds()
    out.finished = bool(invs) and invs[-1].get("status") not in (None, "running")
    est = ((design if design is not None else state.get("design")) or {}).get("estimate") or {}
    if est.get("wall_minutes") is not None:
        out.plan_wall_minutes, out.plan_workers = float(est["wall_minutes"]), est.get("workers")
    return out
