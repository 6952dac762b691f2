"""Smoke test of ``tt-ref bench ann`` (specs/index.md §Benchmark)."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from tt_ref.cli import main


def test_bench_ann_quick_on_a_path(tmp_path, capsys):
    """specs/index.md §Benchmark: --quick on a small .npy prints the table, writes JSON and PNG, < 20 s."""
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((8, 12)) * 4
    X = (centres[rng.integers(0, 8, 1200)] + rng.standard_normal((1200, 12))).astype(np.float32)
    path = tmp_path / "vectors.npy"
    np.save(path, X)
    out_json, out_png = tmp_path / "ann.json", tmp_path / "ann.png"
    start = time.perf_counter()
    code = main(["bench", "ann", "--data", str(path), "--queries", "50", "--k", "5", "--quick", "--steps", "5",
                 "--train-size", "500", "--json", str(out_json), "--plot", str(out_png)])
    seconds = time.perf_counter() - start
    assert code == 0
    assert seconds < 20
    text = capsys.readouterr().out
    assert "pinned to 1 thread" in text and "TT index" in text and "recall@5" in text
    payload = json.loads(out_json.read_text())
    assert payload["format"] == "tt_ref.bench_ann" and payload["threads"] == 1
    methods = {row["method"] for row in payload["rows"]}
    assert {"TT index", "exact (NumPy GEMM)"} <= methods
    exact = [row for row in payload["rows"] if row["method"].startswith("exact")][0]
    assert exact["recall"] == pytest.approx(1.0)
    tt_rows = [row for row in payload["rows"] if row["method"] == "TT index"]
    assert all(0.0 <= row["recall"] <= 1.0 and row["qps"] > 0 for row in tt_rows)
    assert any(row.get("pareto") for row in payload["rows"] if row["status"] == "ok")
    assert out_png.stat().st_size > 1000


def test_bench_ann_bad_input(tmp_path, capsys):
    """specs/index.md §Errors: bad arguments end with one clear error line."""
    path = tmp_path / "small.npy"
    np.save(path, np.zeros((20, 4), dtype=np.float32))
    assert main(["bench", "ann", "--data", str(path), "--queries", "20"]) == 2
    assert "--queries" in capsys.readouterr().err
    assert main(["bench", "ann", "--data", str(path), "--queries", "5", "--methods", "tt,annoy"]) == 2
    assert "--methods" in capsys.readouterr().err
    assert main(["bench", "ann", "--data", str(tmp_path / "missing.npy")]) == 2


@pytest.mark.parametrize("backend", ["array_api_strict", "cupy"])
def test_bench_ann_backend_flag(tmp_path, capsys, backend):
    """specs/index.md §Benchmark: --backend runs the TT index and exact search on that backend
    with the same recall as NumPy (cupy skipped where no GPU is visible)."""
    from tt_ref._backend import is_backend_available

    if not is_backend_available(backend):
        pytest.skip(f"backend {backend!r} not available here (CuPy needs an NVIDIA GPU)")
    rng = np.random.default_rng(1)
    X = rng.standard_normal((800, 8)).astype(np.float32)
    path = tmp_path / "vectors.npy"
    np.save(path, X)
    recalls = {}
    for name in ("numpy", backend):
        out_json = tmp_path / f"{name}.json"
        assert main(["bench", "ann", "--data", str(path), "--queries", "40", "--k", "5", "--quick", "--steps", "5",
                     "--train-size", "400", "--methods", "tt,exact", "--backend", name, "--json", str(out_json)]) == 0
        rows = json.loads(out_json.read_text())["rows"]
        recalls[name] = [row["recall"] for row in rows]
        assert any(row["method"].startswith("exact (") and row["recall"] == pytest.approx(1.0) for row in rows)
    capsys.readouterr()
    assert recalls["numpy"] == pytest.approx(recalls[backend], abs=0.03)
