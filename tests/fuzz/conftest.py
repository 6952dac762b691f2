"""Prints the fuzz suite's counts at the end of a run (specs/errors.md §The fuzz suite)."""

from __future__ import annotations

import os


def pytest_terminal_summary(terminalreporter):
    import sys

    kit = sys.modules.get("fuzz_kit")
    if kit is None or not kit.COUNTS["tried"]:
        return
    counts = kit.COUNTS
    failures = sum(counts[k] for k in kit.FAILURE_KINDS)
    terminalreporter.write_sep("-", "tt_ref fuzz counts")
    terminalreporter.write_line(
        f"inputs tried: {counts['tried']}; clear errors: {counts['clear']}; correct results: {counts['ok']}; "
        f"failures left: {failures} ({', '.join(f'{k} {counts[k]}' for k in kit.FAILURE_KINDS)})"
    )
    for line in kit.FAILURES[:200]:
        terminalreporter.write_line("  " + line)
    report = os.environ.get("TT_REF_FUZZ_REPORT")
    if report:  # every failure, for a long run
        with open(report, "w", encoding="utf-8") as handle:
            handle.write("\n".join(kit.FAILURES) + "\n")
