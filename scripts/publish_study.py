#!/usr/bin/env python3
"""Publish a study: its report replaces docs/example-report and README.md's findings are regenerated.

    python scripts/publish_study.py export/study            # copy the report, rewrite the findings
    python scripts/publish_study.py export/study --check    # exit 1 if either is not up to date

``<study>/report`` (what ``edgelnn study`` / ``edgelnn report <study>`` wrote) is copied over
docs/example-report whole -- files of an older report that this one lacks are removed -- and the
README's study-findings block is rewritten from ``<study>/report/findings.md`` by
scripts/update_readme_findings.py; a hand-written warning about the findings it replaces (between
``<!-- study-caveat:start -->`` and ``<!-- study-caveat:end -->``) is removed with its markers.
A quick look is refused unless --allow-quick: the published report is the full study's. The new
folder is written beside the old one and swapped in only when complete, so a failed copy leaves
docs/example-report as it was.
"""
from __future__ import annotations

import argparse
import filecmp
import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

import update_readme_findings as findings_block  # noqa: E402

REQUIRED = ("report.md", "findings.md", "summary.json")
CAVEAT = ("<!-- study-caveat:start -->", "<!-- study-caveat:end -->")


def without_caveat(readme: str) -> str:
    """README without its caveat block (markers, text and the blank line after it): the warning was
    about the findings being replaced."""
    parts = findings_block.split_block(readme, *CAVEAT, required=False)
    if parts is None:
        return readme
    head, tail = parts
    return head + tail.lstrip("\n")


def report_folder(study: Path, allow_quick: bool) -> Path:
    """The study's report folder, checked: it holds the report's files and is not a quick look."""
    report = study / "report"
    missing = [f for f in REQUIRED if not (report / f).is_file()]
    if missing:
        raise ValueError(f"{report}: no {', '.join(missing)} (run `edgelnn report {study}` first)")
    try:
        summary = json.loads((report / "summary.json").read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ValueError(f"{report / 'summary.json'}: not JSON ({exc})") from None
    if summary.get("quick") and not allow_quick:
        raise ValueError(f"{study} is a quick look (no verdicts): publish the full study's report "
                         "(or pass --allow-quick)")
    return report


def differs(a: Path, b: Path) -> list[str]:
    """Relative paths that differ between two folders (missing on either side or other bytes)."""
    if not b.is_dir():
        return ["(whole folder)"]
    names = lambda root: {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}  # noqa: E731
    left, right = names(a), names(b)
    changed = [n for n in sorted(left & right) if not filecmp.cmp(a / n, b / n, shallow=False)]
    return sorted(left ^ right) + changed


def replace_folder(src: Path, dest: Path) -> None:
    """dest becomes a copy of src; written beside it first, then swapped in (never half-copied)."""
    new, old = dest.with_name(dest.name + ".new"), dest.with_name(dest.name + ".old")
    for leftover in (new, old):
        if leftover.exists():
            shutil.rmtree(leftover)
    shutil.copytree(src, new)
    if dest.exists():
        dest.rename(old)
    new.rename(dest)
    if old.exists():
        shutil.rmtree(old)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("study", type=Path, help="study folder (holds report/)")
    ap.add_argument("--root", type=Path, default=ROOT, help="repository root (holds README.md and docs/)")
    ap.add_argument("--check", action="store_true", help="exit 1 when docs/example-report or README differ")
    ap.add_argument("--allow-quick", action="store_true", help="publish a quick look's report too")
    args = ap.parse_args(argv)
    dest, readme = args.root / "docs" / "example-report", args.root / "README.md"
    try:
        report = report_folder(args.study, args.allow_quick)
        old_readme = readme.read_text(encoding="utf-8")
        new_readme = findings_block.updated(without_caveat(old_readme),
                                            (report / "findings.md").read_text(encoding="utf-8"),
                                            findings_block.provenance(args.study))
        if args.check:
            stale = differs(report, dest)
            if stale or new_readme != old_readme:
                what = ([f"{dest} ({len(stale)} file(s) differ: {', '.join(stale[:3])})"] if stale else []) \
                    + ([f"{readme} findings"] if new_readme != old_readme else [])
                print(f"error: not the published state of {args.study}: {'; '.join(what)}", file=sys.stderr)
                return 1
            return 0
        replace_folder(report, dest)
        if new_readme != old_readme:
            readme.write_text(new_readme, encoding="utf-8")
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{dest}: the report of {args.study}")
    print(f"{readme}: findings from {report / 'findings.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
