"""``tt-ref bench fit``: the ablation of the TT fit (docs/results-compression.md, specs/fit.md §Configuration rule)."""

from __future__ import annotations

import json

import pytest

from tt_ref.cli import main
from tt_ref.cli._bench_fit import VARIANTS, load_vectors, variant_options


def test_bench_fit_digits_end_to_end(tmp_path, capsys):
    """specs/fit.md §Configuration rule: one table per set, gap share against k-means and the full split."""
    out = tmp_path / "fit.json"
    code = main(["bench", "fit", "--data", "digits", "--variants", "mixed,refine", "--budget", "0.05",
                 "--max-rows", "600", "--steps", "20", "--json", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "| mixed |" in printed and "| refine |" in printed
    result = json.loads(out.read_text())["results"][0]
    assert result["n_train"] + result["n_test"] == 600 and result["dim"] == 64
    assert result["full"] < result["kmeans"]
    rows = {row["variant"]: row for row in result["rows"]}
    for row in rows.values():
        gap = (row["coverage"] - result["full"]) / (result["kmeans"] - result["full"])
        assert abs(row["gap"] - gap) < 1e-12 and row["seconds"] > 0
    history = rows["refine"]["refinement"]["quantization"]
    assert len(history) == 6 and all(b <= a for a, b in zip(history, history[1:]))


def test_variants_and_data_sets():
    """specs/fit.md §Options: each variant is a valid option set; the shipped sets load as float32 rows."""
    from tt_ref.cloud._config import FitConfig

    for name in VARIANTS:
        FitConfig.from_options(variant_options(name, 8))
    assert variant_options("defaults", 8) == {}
    X, what = load_vectors("cancer", None, 0)
    assert X.shape == (569, 30) and str(X.dtype) == "float32" and "breast cancer" in what
    X, _ = load_vectors("pixels", 1000, 0)
    assert X.shape == (1000, 3) and 0.0 <= float(X.min()) and float(X.max()) <= 1.0


@pytest.mark.parametrize("argv, message", [
    (["--mode-sizes", "4,4"], "--mode-sizes and --ranks"),
    (["--budget", "2"], "--budget"),
    (["--steps", "-1"], "--steps"),
    (["--data", "nope"], "nope"),
])
def test_bad_arguments_are_one_line_errors(argv, message, capsys):
    """specs/errors.md §Command line: a user's mistake is one line and exit status 2."""
    try:
        code = main(["bench", "fit", *argv])
    except SystemExit as exc:  # argparse rejects unknown choices itself
        code = exc.code
    assert code == 2
    assert message in capsys.readouterr().err
