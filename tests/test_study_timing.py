"""The study's measured run time (edgelnn.study.timing) over invocations that were stopped from
outside and resumed: wall time per invocation up to its last finished job, CPU per job kind."""
from edgelnn.study.timing import measured


def _job(finished, cpu, est):
    return {"finished": finished, "cpu_seconds": cpu, "estimate": est}


def test_a_killed_invocation_counts_until_its_last_finished_job():
    state = {
        "invocations": [
            {"started": "2026-12-07T03:00:00+00:00", "status": "running"},                 # killed
            {"started": "2026-12-07T05:00:00+00:00", "status": "done", "seconds": 1800.0},   # ran to the end
        ],
        "jobs": {
            "tune a/gru-b250-t0-s0": _job("2026-12-07T03:10:00+00:00", 60.0, 100.0),
            "tune a/gru-b250-t1-s0": _job("2026-12-07T03:40:00+00:00", 120.0, 100.0),       # last of the first
            "final a/gru-b250-plain-s0": _job("2026-12-07T05:20:00+00:00", 300.0, 400.0),
            "export a/gru-b250": _job("2026-12-07T05:25:00+00:00", 6.0, 0.0),
        },
        "design": {"estimate": {"wall_minutes": 12.5, "workers": 2}},
    }
    t = measured(state)
    assert t.invocations == 2 and t.finished and t.jobs == 4
    assert t.wall_seconds == 40 * 60 + 1800                  # 03:00 -> 03:40, then the recorded 1,800 s
    assert t.cpu_seconds == {"tune": 180.0, "final": 300.0, "export": 6.0}
    assert t.estimate_seconds == 600.0
    text = t.describe()
    assert "2 invocation(s)" in text and "resumed 1 time;" in text and "70 min of wall time" in text
    assert "0.81 of the 10 CPU min" in text and "12 min of wall time on 2 workers" in text
    # the wall side of the plan for the jobs that ran: 600 CPU s / 2 workers = 5 min, measured 70
    assert "come to 5 min, and the measured wall time is 14.00 of that" in text
    assert "not finished" not in text


def test_a_study_still_running_says_so_and_an_empty_one_has_no_figures():
    running = measured({"invocations": [{"started": "2026-12-07T03:00:00+00:00", "status": "running"}],
                        "jobs": {"tune x": _job("2026-12-07T03:30:00+00:00", 10.0, 20.0)}})
    assert not running.finished and running.wall_seconds == 1800
    assert "not finished when this report was written" in running.describe()
    assert "no finished job" in measured({}).describe()
