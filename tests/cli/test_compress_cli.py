"""``tt-ref compress`` end to end (specs/baselines.md §Command line)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tt_ref.cli import main


def test_compress_digits_end_to_end(tmp_path, capsys):
    """specs/baselines.md §Command line: table with every method, JSON with every number, PNG plot."""
    pytest.importorskip("matplotlib")
    out_json, out_png = tmp_path / "r.json", tmp_path / "r.png"
    code = main(["compress", "--data", "digits", "--budget", "0.05", "--steps", "20", "--batch-size", "256",
                 "--no-progress", "--json", str(out_json), "--plot", str(out_png)])
    assert code == 0
    printed = capsys.readouterr().out
    for method in ("tt", "tt_svd", "kmeans", "coreset", "random"):
        assert method in printed
    payload = json.loads(out_json.read_text())
    assert payload["format"] == "tt_ref.compress" and payload["n_train"] == 1500 and payload["n_test"] == 297
    rows = {row["method"]: row for row in payload["rows"]}
    assert set(rows) == {"tt", "tt_svd", "kmeans", "coreset", "random", "full"}
    # The reference row is the whole train split: ratio 1, the held-out coverage of all rows.
    assert rows["full"]["ratio"] == 1.0 and rows["full"]["n_points"] == 1500
    assert rows["full"]["coverage"] < rows["random"]["coverage"]
    for row in (r for name, r in rows.items() if name != "full"):
        assert row["n_params"] <= payload["n_params_budget"] == int(0.05 * 1500 * 64)
        assert row["coverage"] > 0 and row["sw"] > 0
        assert abs(row["ratio"] - 1500 * 64 / row["n_params"]) < 1e-9
    assert rows["kmeans"]["cov_vs_kmeans"] == 1.0
    assert payload["tt_history"]["step"][-1] == 20
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_compress_path_and_methods(tmp_path, capsys):
    """specs/baselines.md §Command line: a .npy path, a subset of methods, explicit TT configuration."""
    X = np.random.default_rng(0).normal(size=(300, 6)).astype(np.float32)
    np.save(tmp_path / "x.npy", X)
    code = main(["compress", "--data", str(tmp_path / "x.npy"), "--budget", "0.2", "--methods", "tt,random",
                 "--mode-sizes", "4,4", "--ranks", "3", "--steps", "3", "--batch-size", "32", "--no-progress",
                 "--no-reference",
                 "--json", str(tmp_path / "o.json")])
    assert code == 0
    payload = json.loads((tmp_path / "o.json").read_text())
    assert payload["n_test"] == 30 and [r["method"] for r in payload["rows"]] == ["tt", "random"]
    assert payload["rows"][0]["config"]["mode_sizes"] == [4, 4]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--budget", "0"], "--budget must be a fraction"),
        (["--budget", "1.5"], "--budget must be a fraction"),
        (["--budget", "0.0001"], "fewer than one point"),
        (["--data", "/no/such/file.npy"], "existing .npy/.npz/.fvecs"),
        (["--data", "nonsense"], "unknown data set"),
        (["--mode-sizes", "4,4"], "--mode-sizes and --ranks go together"),
        (["--steps", "0"], "--steps must be at least 1"),
        (["--plot", "out.jpg"], "--plot must end in .png"),
        (["--lr", "nan"], "--lr must be a positive number"),
        (["--n-test", "5000"], "--n-test"),
    ],
)
def test_bad_inputs_one_line(argv, message, capsys, tmp_path):
    """specs/baselines.md §Command line: bad path / budget / options end with one clear error line, nothing written."""
    out_json = tmp_path / "never.json"
    code = main(["compress", "--no-progress", "--json", str(out_json)] + argv)
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and err.strip().splitlines()[-1].startswith("tt-ref: error:")
    assert not out_json.exists()
