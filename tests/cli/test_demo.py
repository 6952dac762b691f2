"""``tt-ref demo`` end to end on the reduced setting (specs/ood.md §Protocols, specs/errors.md §Command line)."""

from __future__ import annotations

import json

import pytest

from tt_ref._backend import is_backend_available
from tt_ref.cli import main


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "report"
    code = main(["demo", "--quick", "--out", str(out), "--no-progress"])
    return code, out


def test_demo_writes_report(demo_run, capsys):
    """The report, its plots and the JSON exist; the report links every plot."""
    code, out = demo_run
    assert code == 0
    report = (out / "report.md").read_text()
    for image in ("compression.png", "index.png", "ood_roc.png"):
        assert (out / image).stat().st_size > 5000, image
        assert f"]({image})" in report
    for heading in ("1. Compression", "2. Search", "3. Anomaly detection"):
        assert heading in report


def test_demo_numbers_are_sane(demo_run):
    """Budgets respected, recalls and AUROCs in range, the full bank detects well."""
    _, out = demo_run
    results = json.loads((out / "results.json").read_text())
    rows = {row["method"]: row for row in results["compression"]}
    assert set(rows) == {"tt", "tt_svd", "kmeans", "coreset", "random"}
    budget = 1500 * 64 // 10
    for row in rows.values():
        assert 0 < row["n_params"] <= budget
        assert row["sw"] >= 0 and row["coverage"] >= 0 and row["inverse"] >= 0
    # Inverse error is measured against the held-out digits (specs/quality.md), so even
    # data rows (random subset) have a positive one, of the order of the coverage error.
    assert 0 < rows["random"]["inverse"] < 10 * rows["random"]["coverage"]
    recalls = [row["recall_at_10"] for row in results["index"]["rows"]]
    assert all(0.0 <= r <= 1.0 for r in recalls)
    assert recalls == sorted(recalls)  # more candidates never lower recall
    assert results["index"]["exact_qps"] > 0
    summary = {(row["kind"], row["compression"]): row for row in results["ood"]["summary"]}
    assert summary[("full", 1)]["auroc"] > 0.95
    for row in summary.values():
        assert 0.0 <= row["auroc"] <= 1.0 and 0.0 <= row["fpr_at_95"] <= 1.0
    # Equal budgets: every compressed bank holds at most full / 100 parameters.
    full_params = summary[("full", 1)]["n_params"]
    for (kind, compression), row in summary.items():
        if kind != "full":
            assert row["n_params"] <= full_params // compression


def test_demo_cupy_without_gpu(tmp_path, capsys):
    """--backend cupy where no GPU exists fails with one clear line."""
    if is_backend_available("cupy"):
        pytest.skip("a GPU is present here; the error path is not reachable")
    code = main(["demo", "--quick", "--backend", "cupy", "--out", str(tmp_path / "r"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("tt-ref: error:") and "CuPy" in err
