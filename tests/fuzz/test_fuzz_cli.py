"""Every ``tt-ref`` subcommand against bad option values and bad files (specs/errors.md §Command line).

The subcommands and their numeric options are read from the parser itself, so a new
command or option is fuzzed without editing this file. A bad value must end with exit 2
before any work: argparse's usage error, or one line ``tt-ref: error: ...`` naming the
option; never a traceback, a result (exit 0) or a hang. A few runs go through a real
subprocess (``python -m tt_ref``).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import subprocess
import sys

import numpy as np
import pytest

import fuzz_kit
from tt_ref.cli import build_parser, main

_ENV = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

# What each command needs besides the fuzzed option (a fast, valid base call).
_BASE = {
    ("demo",): ["--quick", "--no-progress"],
    ("compress",): ["--data", "digits", "--no-progress"],
    ("ood",): ["--data", "digits", "--no-progress"],
    ("bench", "tt"): ["--quick"],
    ("bench", "ann"): ["--data", "digits", "--quick"],
}


def _subcommands(parser, prefix=()):
    """(command words, parser) for every leaf subcommand."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _subcommands(sub, prefix + (name,))
            return
    if prefix:
        yield prefix, parser


def _numeric_options():
    """(command, option, type name) for every option that takes a number or a number list."""
    out = []
    for words, parser in _subcommands(build_parser()):
        for action in parser._actions:
            if not action.option_strings or action.nargs == 0:
                continue
            kind = action.type if action.type in (int, float) else getattr(action.type, "__name__", None)
            if kind in (int, float, "integer list", "number list"):
                out.append((words, action.option_strings[-1], getattr(kind, "__name__", kind)))
    return out


OPTIONS = _numeric_options()

# Values no numeric option of tt-ref accepts (a seed, a count, a size, a fraction, a rate). A huge
# but valid count (--steps 10**12) is a long run, not a mistake; the library's memory checks
# answer huge sizes (tests/fuzz/test_fuzz_api.py).
_BAD = {
    "int": ["abc", "-5", "2.5", "1e400"],
    "float": ["abc", "nan", "inf", "-inf", "-5"],
    "integer list": ["abc", ",", "-1", "4,0", "", "4,x"],
    "number list": ["abc", "nan", "-1", ",", "inf"],
}


def _run_main(argv):
    """Exit status of ``main(argv)`` (argparse's SystemExit included), and stderr."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code
    return code, err.getvalue()


def test_every_command_is_covered():
    """A new command gets a base call here (or runs without one)."""
    commands = [words for words, _ in _subcommands(build_parser())]
    assert ("compress",) in commands and ("bench", "tt") in commands
    assert OPTIONS, "no numeric options found"


@pytest.mark.parametrize("words, option, kind", OPTIONS, ids=lambda v: " ".join(v) if isinstance(v, tuple) else v)
def test_bad_option_values(tmp_path, words, option, kind):
    """specs/errors.md §Command line: every bad number of every option is exit 2 before any work,
    with the option named, and no traceback."""
    failures = []
    base = list(words) + _BASE.get(words, [])
    if words == ("demo",):
        base += ["--out", str(tmp_path / "rep")]
    for value in _BAD[kind]:
        if kind == "int" and value == "-5" and option in _NEGATIVE_OK:
            continue
        argv = base + [f"{option}={value}"]
        status = {}

        def call():
            status["code"], status["err"] = _run_main(argv)

        outcome, detail = fuzz_kit.judge(call, names=(), expect="either")
        if outcome == "ok":
            code, err = status["code"], status["err"]
            named = option in err or option.lstrip("-") in err
            if code == 2 and named and "Traceback" not in err:
                outcome = "clear"
            elif code == 0:
                outcome, detail = "accepted", "exit 0"
            else:
                outcome, detail = "unnamed", f"exit {code}: {err.strip()[-300:]}"
        fuzz_kit.record(f"tt-ref {' '.join(words)} {option}", value, outcome, detail)
        if outcome != "clear":
            failures.append(f"{option}={value!r}: {outcome}: {detail[:300]}")
    assert not failures, "\n".join(failures)


# Options whose negative values are meaningful (none today).
_NEGATIVE_OK: set = set()


def _bad_data(tmp_path):
    """The bad data files of specs/errors.md §Files, by name."""
    files = {}
    files["empty.npy"] = b""
    files["text.npy"] = b"hello\n"
    buffer = io.BytesIO()
    np.save(buffer, np.ones((0, 4)))
    files["zero_rows.npy"] = buffer.getvalue()
    buffer = io.BytesIO()
    np.savez(buffer, X=np.ones((50, 4)))
    files["truncated.npz"] = buffer.getvalue()[:600]
    files["empty.npz"] = b""
    paths = {}
    for name, content in files.items():
        path = tmp_path / name
        path.write_bytes(content)
        paths[name] = path
    return paths


@pytest.mark.parametrize("words", [("compress",), ("ood",), ("bench", "ann")], ids=" ".join)
def test_bad_data_files_every_command(tmp_path, words):
    """specs/errors.md §Command line: every command that reads --data answers a bad file with one line."""
    failures = []
    for name, path in _bad_data(tmp_path).items():
        argv = list(words) + [a for a in _BASE[words] if a != "digits" and a != "--data"] + ["--data", str(path)]
        code, err = _run_main(argv)
        lines = err.strip().splitlines()
        ok = code == 2 and "Traceback" not in err and lines and lines[-1].startswith("tt-ref: error:") \
            and name in lines[-1]
        fuzz_kit.record(f"tt-ref {' '.join(words)} --data", name, "clear" if ok else "unnamed", err[-300:])
        if not ok:
            failures.append(f"{name}: exit {code}: {err.strip()[-300:]}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("argv, needle", [
    (["compress", "--data", "EMPTY.npy"], "empty"),
    (["compress", "--data", "digits", "--seed", "-1"], "--seed"),
    (["ood", "--data", "digits", "--seeds", "abc"], "--seeds"),
    (["bench", "tt", "--repeat", "0"], "--repeat"),
    (["demo", "--out", "AFILE"], "--out"),
])
def test_subprocess_one_line(tmp_path, argv, needle):
    """specs/errors.md §Command line: a real ``tt-ref`` process prints one line, no traceback, exit 2."""
    (tmp_path / "EMPTY.npy").write_bytes(b"")
    (tmp_path / "AFILE").write_text("x")
    proc = subprocess.run([sys.executable, "-m", "tt_ref"] + argv, capture_output=True, text=True, env=_ENV,
                          cwd=tmp_path, timeout=120)
    fuzz_kit.record("tt-ref subprocess", " ".join(argv), "clear" if proc.returncode == 2 else "crash",
                    proc.stderr[-300:])
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and needle in proc.stderr.strip().splitlines()[-1]
