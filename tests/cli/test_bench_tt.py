"""``tt-ref bench tt`` smoke run (specs/tt_svd.md §Benchmark, specs/rounding.md §Benchmark)."""

from __future__ import annotations

import json


from tt_ref.cli import main


def test_bench_tt_quick_writes_rows(tmp_path, capsys):
    """The quick run prints the table with the thread pinning and writes every row."""
    out = tmp_path / "rows.json"
    png = tmp_path / "chart.png"
    assert main(["bench", "tt", "--quick", "--json", str(out), "--plot", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    printed = capsys.readouterr().out
    assert "threads:" in printed and "ratio" in printed
    payload = json.loads(out.read_text())
    assert payload["format"] == "tt_ref.bench_tt" and payload["version"] == 1
    rows = payload["rows"]
    cases = {r["case"].split()[0] for r in rows}
    assert cases == {"tt_svd", "round", "dot", "norm"}
    ours = [r for r in rows if r["library"] == "tt_ref"]
    assert len(ours) == 4 and all(r["status"] == "ok" for r in ours)
    for r in ours:
        assert r["seconds"] > 0 and r["ratio"] == 1.0
    svd_row = next(r for r in ours if r["case"].startswith("tt_svd"))
    assert svd_row["rel_error"] <= 1e-4  # the eps of the case, error computed densely
    assert {r["library"] for r in rows} >= {"tt_ref", "teneva", "tensorly"}
    for r in rows:
        assert r["status"] in ("ok", "skipped")
        if r["status"] == "skipped":
            assert r["note"]


def test_bench_tt_bad_arguments(tmp_path, capsys):
    """Bad arguments end with one clean error line."""
    assert main(["bench", "tt", "--repeat", "0"]) == 2
    assert "--repeat" in capsys.readouterr().err
    (tmp_path / "file").write_text("x")
    assert main(["bench", "tt", "--quick", "--json", str(tmp_path / "file" / "x.json")]) == 2
    err = capsys.readouterr().err
    assert "--json" in err and "is a file" in err and err.startswith("tt-ref: error:")


def test_bench_tt_creates_missing_folders_and_stops_on_ctrl_c(tmp_path, capsys, monkeypatch):
    """specs/errors.md §Command line: missing parent folders are created; Ctrl-C keeps the finished
    rows, marks them interrupted in the table and the JSON, exit 130."""
    import tt_ref.cli._bench_tt as bench

    real = bench._bench_round_dot_norm

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(bench, "_bench_round_dot_norm", interrupted)
    out = tmp_path / "new" / "rows.json"
    assert main(["bench", "tt", "--quick", "--json", str(out)]) == 130
    printed = capsys.readouterr().out
    assert "INTERRUPTED" in printed and "tt_svd" in printed
    payload = json.loads(out.read_text())
    assert payload["interrupted"] is True and {r["case"].split()[0] for r in payload["rows"]} == {"tt_svd"}
    monkeypatch.setattr(bench, "_bench_round_dot_norm", real)
