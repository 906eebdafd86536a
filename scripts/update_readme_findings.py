#!/usr/bin/env python3
"""Put a study's generated findings into README.md, between the study-findings markers.

    python scripts/update_readme_findings.py export/study            # rewrite README.md
    python scripts/update_readme_findings.py export/study --check    # exit 1 if README differs

The text between ``<!-- study-findings:start -->`` and ``<!-- study-findings:end -->`` is
replaced by ``<study>/report/findings.md`` -- the report's own generated text, never edited by
hand -- preceded by one line saying which study run produced it. Nothing else in the README changes.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

START, END = "<!-- study-findings:start -->", "<!-- study-findings:end -->"
ROOT = Path(__file__).resolve().parents[1]


def provenance(study: Path) -> str:
    """One line: the run that produced the findings (from study.json), or just the folder. The time
    is edgelnn.study.timing's: every invocation counts (a study resumed after a kill spans several)."""
    try:
        from edgelnn.study.timing import measured
        state = json.loads((study / "study.json").read_text(encoding="utf-8"))
        last = [r for r in state.get("invocations", []) if r.get("status") == "finished"][-1]
        run = measured(state)
        quick = " (quick look)" if state.get("design", {}).get("quick") else ""
        times = (f"{run.invocations} invocations (resumed where it stopped), " if run.invocations > 1 else "")
        return (f"*Generated from the report of `edgelnn study`{quick}, finished {last.get('finished', '?')} on "
                f"{last.get('executor', '?')}; {times}{run.wall_seconds / 60:,.0f} min of study time "
                f"and {run.cpu_total / 60:,.0f} CPU min in all.*")
    except (OSError, ValueError, IndexError, KeyError, AttributeError, ImportError):
        return f"*Generated from the report in `{study}`.*"


def split_block(text: str, start: str, end: str, *, required: bool = True) -> tuple[str, str] | None:
    """(what comes before ``start``, what comes after ``end``) of the text's one marker block; None
    when it has none and none is required. Markers out of order or repeated are an error."""
    if not required and start not in text and end not in text:
        return None
    if text.count(start) != 1 or text.count(end) != 1 or text.index(start) > text.index(end):
        raise ValueError(f"README must hold {'one' if required else 'at most one'} {start} ... {end} pair")
    head, rest = text.split(start, 1)
    return head, rest.split(end, 1)[1]


def updated(readme: str, findings: str, line: str) -> str:
    head, tail = split_block(readme, START, END)
    return f"{head}{START}\n{line}\n\n{findings.strip()}\n{END}{tail}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("study", type=Path, help="study folder (holds report/findings.md)")
    ap.add_argument("--readme", type=Path, default=ROOT / "README.md")
    ap.add_argument("--check", action="store_true", help="exit 1 when the README is not up to date")
    args = ap.parse_args(argv)
    findings = args.study / "report" / "findings.md"
    try:
        text = findings.read_text(encoding="utf-8")
        readme = args.readme.read_text(encoding="utf-8")
        new = updated(readme, text, provenance(args.study))
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.check:
        if new != readme:
            print(f"error: {args.readme} does not hold the findings of {findings}", file=sys.stderr)
            return 1
        return 0
    if new != readme:
        args.readme.write_text(new, encoding="utf-8")
    print(f"{args.readme}: findings from {findings}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
