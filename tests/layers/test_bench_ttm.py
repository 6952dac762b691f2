"""``tt-ref bench ttm`` smoke runs (specs/ttm_layer.md §Benchmark, §Demonstration)."""

from __future__ import annotations

import json

from tt_ref.cli import main


def test_bench_ttm_quick_writes_rows(tmp_path, capsys):
    """The quick layer run prints the three tables and writes JSON, Markdown and a PNG."""
    out, md, png = tmp_path / "rows.json", tmp_path / "tables.md", tmp_path / "ratios.png"
    assert main(["bench", "ttm", "--quick", "--json", str(out), "--markdown", str(md), "--plot", str(png)]) == 0
    printed = capsys.readouterr().out
    assert "threads: pinned to 1" in printed and "Cost model" in printed
    payload = json.loads(out.read_text())
    assert payload["format"] == "tt_ref.bench_ttm" and payload["mode"] == "layers"
    rows = payload["rows"]
    assert {(r["layer"], r["n_in"], r["n_out"]) for r in rows} == {("c_fc", 768, 3072), ("c_proj", 3072, 768)}
    for r in rows:
        assert r["params"] < r["n_in"] * r["n_out"] and r["path"] in ("left_to_right", "right_to_left", "dense")
        assert r["fwd_ratio"] > 0 and r["lean_bwd_ratio"] > 0 and r["lean_saved_ratio"] == 1.0
        assert r["ttm"]["full"]["bwd_peak"] > 0
    chosen = [c for c in payload["cost_check"] if c["chosen"]]
    assert len(chosen) == 2 and all(c["predicted"] == min(o["predicted"] for o in payload["cost_check"]
                                                          if o["layer"] == c["layer"]) for c in chosen)
    assert md.read_text().count("### ") == 3 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bench_ttm_mlp_quick(tmp_path, capsys):
    """``--mlp --quick``: dense and one TT-matrix network, with accuracies and parameter counts."""
    out, png = tmp_path / "mlp.json", tmp_path / "mlp.png"
    assert main(["bench", "ttm", "--mlp", "--quick", "--json", str(out), "--plot", str(png)]) == 0
    rows = json.loads(out.read_text())["rows"]
    assert [r["rank"] for r in rows] == [None, 2]
    assert rows[0]["hidden_params"] == 64 * 256 + 256 + 256 * 256 + 256
    assert rows[1]["hidden_params"] < rows[0]["hidden_params"] / 20
    assert all(0.1 < r["test_accuracy"] <= 1.0 for r in rows)
    assert "Digits MLP" in capsys.readouterr().out and png.exists()


def test_bench_ttm_bad_arguments(tmp_path, capsys):
    """A user's mistake ends with one error line naming the option."""
    assert main(["bench", "ttm", "--repeat", "0"]) == 2
    assert "--repeat" in capsys.readouterr().err
    assert main(["bench", "ttm", "--quick", "--markdown", str(tmp_path / "t.txt")]) == 2
    assert "--markdown" in capsys.readouterr().err
