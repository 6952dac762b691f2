"""``tt-ref ood`` end to end and its error messages (specs/ood.md §Errors, §Protocols)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tt_ref.cli import main


def _run(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_ood_cli_full_and_random(tmp_path, capsys):
    """specs/ood.md §Protocols: the table, the JSON and the ROC plot on digits."""
    pytest.importorskip("tt_ref.cloud._baselines")
    out_json = tmp_path / "ood.json"
    out_png = tmp_path / "roc.png"
    code, out, err = _run(
        ["ood", "--data", "digits", "--banks", "full", "random", "--compression", "10", "1000",
         "--seeds", "2", "--json", str(out_json), "--plot", str(out_png), "--no-progress"],
        capsys,
    )
    assert code == 0, err
    assert "AUROC" in out and "P@R90" in out and "random" in out
    # 1000x of ~630 x 64 parameters is below one 64-d point: skipped with a note.
    assert "note:" in out and "1000" in out
    payload = json.loads(out_json.read_text())
    kinds = {(row["kind"], row["compression"]) for row in payload["summary"]}
    assert kinds == {("full", 1), ("random", 10)}
    full = next(row for row in payload["summary"] if row["kind"] == "full")
    assert 0.9 < full["auroc"] <= 1.0  # digits 0-4 vs 5-9 with the whole bank is easy
    assert full["n_seeds"] == 2
    assert out_png.stat().st_size > 1000


def test_ood_cli_labels_from_path(tmp_path, capsys):
    """specs/ood.md §Protocols: data and labels given by path, one-class protocol."""
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 20)
    X = np.eye(3)[labels] * 5 + rng.standard_normal((60, 3)) * 0.2
    np.save(tmp_path / "x.npy", X)
    np.save(tmp_path / "y.npy", labels)
    code, out, err = _run(
        ["ood", "--data", str(tmp_path / "x.npy"), "--labels", str(tmp_path / "y.npy"), "--banks", "full",
         "--protocol", "one-class", "--seeds", "2", "--no-progress"],
        capsys,
    )
    assert code == 0, err
    assert "1.000 ± 0.000" in out  # separable classes: perfect AUROC


@pytest.mark.parametrize(
    "make_args, message",
    [
        (lambda p: ["--data", str(p / "missing.npy")], "existing"),
        (lambda p: ["--data", "nonsense"], "unknown data set"),
        (lambda p: ["--data", str(p / "x.npy")], "no labels"),
        (lambda p: ["--data", str(p / "x.npy"), "--labels", str(p / "short.npy")], "labels must have one entry per row"),
        (lambda p: ["--data", str(p / "x.npy"), "--labels", str(p / "nofile.npy")], "labels file not found"),
        (lambda p: ["--seeds", "0"], "--seeds"),
        (lambda p: ["--compression", "0.5"], "--compression"),
        (lambda p: ["--plot", str(p / "roc.jpg")], "--plot"),
    ],
)
def test_ood_cli_errors(tmp_path, capsys, make_args, message):
    """specs/ood.md §Errors: bad paths, missing labels, length mismatch, unknown names -> one clean line."""
    np.save(tmp_path / "x.npy", np.zeros((10, 2)))
    np.save(tmp_path / "short.npy", np.zeros(9, dtype=np.int64))
    code, out, err = _run(["ood", *make_args(tmp_path), "--banks", "full", "--no-progress"], capsys)
    assert code == 2
    assert err.startswith("tt-ref: error:") and message in err
    assert "Traceback" not in err
