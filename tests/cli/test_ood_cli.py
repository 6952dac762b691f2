"""``tt-ref ood`` end to end, its error messages and Ctrl-C (specs/ood.md §Command line, §Errors, §Protocols)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from tt_ref.cli import main

_ENV = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _run(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_ood_cli_full_and_random(tmp_path, capsys):
    """specs/ood.md §Protocols: the table, the JSON and the ROC plot on digits (comma-separated lists)."""
    pytest.importorskip("matplotlib")
    out_json = tmp_path / "ood.json"
    out_png = tmp_path / "roc.png"
    code, out, err = _run(
        ["ood", "--data", "digits", "--banks", "full,random", "--compression", "10,1000",
         "--seeds", "2", "--json", str(out_json), "--plot", str(out_png), "--no-progress"],
        capsys,
    )
    assert code == 0, err
    assert "AUROC" in out and "P@R90" in out and "random" in out and "INTERRUPTED" not in out
    # 1000x of ~630 x 64 parameters is below one 64-d point: skipped with a note.
    assert "note:" in out and "1000" in out
    payload = json.loads(out_json.read_text())
    kinds = {(row["kind"], row["compression"]) for row in payload["summary"]}
    assert kinds == {("full", 1), ("random", 10)}
    full = next(row for row in payload["summary"] if row["kind"] == "full")
    assert 0.9 < full["auroc"] <= 1.0  # digits 0-4 vs 5-9 with the whole bank is easy
    assert full["n_seeds"] == 2 and "interrupted" not in payload
    assert out_png.stat().st_size > 1000


def test_ood_cli_labels_from_path(tmp_path, capsys):
    """specs/ood.md §Protocols: data and labels given by path (whole-number float labels), one-class protocol, k = 2."""
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 20)
    X = np.eye(3)[labels] * 5 + rng.standard_normal((60, 3)) * 0.2
    np.save(tmp_path / "x.npy", X)
    np.save(tmp_path / "y.npy", labels.astype(np.float64))
    code, out, err = _run(
        ["ood", "--data", str(tmp_path / "x.npy"), "--labels", str(tmp_path / "y.npy"), "--banks", "full",
         "--protocol", "one-class", "--seeds", "2", "--k", "2", "--no-progress"],
        capsys,
    )
    assert code == 0, err
    assert "1.000 ± 0.000" in out  # separable classes: perfect AUROC


@pytest.mark.parametrize(
    "make_args, message",
    [
        (lambda p: ["--data", str(p / "missing.npy")], "missing.npy"),
        (lambda p: ["--data", "nonsense"], "unknown data set"),
        (lambda p: ["--data", str(p / "x.npy")], "no labels"),
        (lambda p: ["--data", str(p / "x.npy"), "--labels", str(p / "short.npy")], "labels must have one entry per row"),
        (lambda p: ["--data", str(p / "x.npy"), "--labels", str(p / "nofile.npy")], "nofile.npy"),
        (lambda p: ["--data", str(p / "x.npy"), "--labels", str(p / "strings.npy")], "labels must be integers"),
        (lambda p: ["--data", str(p / "x.npy"), "--labels", str(p / "halves.npy")], "non-integral"),
        (lambda p: ["--data", str(p / "x.npy"), "--labels", str(p / "one_class.npy")], "at least two classes"),
        (lambda p: ["--seeds", "0"], "--seeds"),
        (lambda p: ["--k", "0"], "--k must be at least 1"),
        (lambda p: ["--test-fraction", "1"], "--test-fraction"),
        (lambda p: ["--steps", "0"], "--steps"),
        (lambda p: ["--plot", str(p / "roc.jpg")], "--plot"),
        (lambda p: ["--json", str(p / "afile" / "r.json")], "--json"),
    ],
)
def test_ood_cli_errors(tmp_path, capsys, make_args, message):
    """specs/ood.md §Errors: bad paths, labels (missing, short, strings, fractions, one class), options and
    output destinations -> one clean line, exit 2."""
    np.save(tmp_path / "x.npy", np.zeros((10, 2)))
    np.save(tmp_path / "short.npy", np.zeros(9, dtype=np.int64))
    np.save(tmp_path / "strings.npy", np.array(["a", "b"] * 5))
    np.save(tmp_path / "halves.npy", np.arange(10) / 2)
    np.save(tmp_path / "one_class.npy", np.zeros(10, dtype=np.int64))
    (tmp_path / "afile").write_text("x")
    code, out, err = _run(["ood", *make_args(tmp_path), "--banks", "full", "--no-progress"], capsys)
    assert code == 2
    assert err.startswith("tt-ref: error:") and message in err, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("argv, message", [
    (["--compression", "0.5"], "expected numbers >= 1"),
    (["--compression", "10", "100"], "unrecognized arguments: 100"),
    (["--banks", "full,nope"], "unknown 'nope'"),
])
def test_ood_cli_list_syntax(capsys, argv, message):
    """specs/ood.md §Command line: lists are comma-separated; a malformed one is argparse's usage error (exit 2)."""
    with pytest.raises(SystemExit) as info:
        main(["ood", *argv])
    assert info.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.slow
def test_ood_cli_ctrl_c_keeps_finished_rows(tmp_path):
    """specs/ood.md §Command line: SIGINT during a real process's TT fit: the full-bank row and the TT bank
    (its best cloud, marked) are summarised; table and JSON say interrupted; exit 130."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tt_ref", "ood", "--data", "digits", "--banks", "full,tt", "--compression", "10",
         "--seeds", "3", "--steps", "100000", "--no-progress", "--json", "r.json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_ENV, cwd=tmp_path,
    )
    first = proc.stdout.readline()  # printed once the data is loaded, before any bank is built
    assert first.startswith("tt-ref ood:"), first + proc.stderr.read()
    time.sleep(2.0)  # the full bank is scored in well under a second; the TT fit is running
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "INTERRUPTED" in out and "Traceback" not in err
    payload = json.loads((tmp_path / "r.json").read_text())
    assert payload["interrupted"] is True
    kinds = [row["kind"] for row in payload["rows"]]
    assert kinds == ["full", "tt"]  # seed 0 only: the run stopped after the TT bank in progress
    assert payload["rows"][1]["interrupted"] is True and 0.0 <= payload["rows"][1]["auroc"] <= 1.0
