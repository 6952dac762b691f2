"""``tt-ref bench ann``: the two regimes against their peers, on digits (specs/index.md §Benchmark)."""

from __future__ import annotations

import json
import math
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tt_ref.cli import main
from tt_ref.cli import _ann_peers as peers
from tt_ref.cli import _ann_report as report
from tt_ref.cli._ann_tt import regime_config
from tt_ref.cli._bench_ann import _peer_plan, parse_list

# A tiny digits run: 400 base vectors, 40 queries, 5 fit steps, short sweeps.
TINY = ["--data", "digits", "--quick", "--max-base", "400", "--queries", "40", "--steps", "5",
        "--beams", "4", "--candidates", "25,100", "--probes", "1,8", "--fine-probes", "4,64", "--efs", "16"]


def _installed(name):
    try:
        __import__(name)
    except ImportError:
        return False
    return True


def test_defaults_on_digits_quick(tmp_path, capsys):
    """§Benchmark: every option at its default works on ``--data digits --quick``; both regimes,
    every peer that is installed, the tables, JSON and the plot."""
    out_json, out_png = tmp_path / "ann.json", tmp_path / "ann.png"
    assert main(["bench", "ann", "--data", "digits", "--quick", "--json", str(out_json), "--plot", str(out_png)]) == 0
    text = capsys.readouterr().out
    for title in ("### Indexes", "### At recall@10", "### Targets", "### All search settings"):
        assert title in text
    assert "pinned to 1 thread" in text
    payload = json.loads(out_json.read_text())
    assert payload["format"] == "tt_ref.bench_ann" and payload["threads"] == 1 and payload["regimes"] == ["ivf", "fine"]
    n_base = payload["n_base"]
    assert payload["n_queries"] == 179 and n_base == 1797 - 179  # min(2000, N / 10) random queries
    tt = {i["regime"]: i for i in payload["indexes"] if i["method"] == "TT index"}
    assert set(tt) == {"ivf", "fine"}
    # IVF regime near 4 sqrt(N) buckets; the fine regime one to four vectors per bucket.
    assert 0.5 <= tt["ivf"]["n_buckets"] / (4 * math.sqrt(n_base)) <= 2
    assert 1 <= n_base / tt["fine"]["n_buckets"] <= 4
    for info in tt.values():
        sizes_ok = 0 <= info["empty_buckets"] < info["n_buckets"] and info["expected_bucket_size"] >= 1
        curve = [info["one_recall_at"][str(R)] for R in (1, 10, 100, 1000)]
        # 1,000 of 1,618 vectors re-ranked: nearly every true neighbour is among them, not provably all.
        assert sizes_ok and curve == sorted(curve) and curve[-1] >= 0.95
        assert info["bytes_per_vector"] > 4 * payload["dim"] and info["build_seconds"] > 0
    methods = {(i["regime"], i["method"]): i["status"] for i in payload["indexes"]}
    if _installed("faiss"):
        for key in (("ivf", "faiss IVF-Flat"), ("fine", "faiss IMI"), ("fine", "faiss RCQ-IVF"), ("fine", "faiss IVF-Flat")):
            assert methods[key] == "ok"
    if _installed("hnswlib"):
        assert methods[("ivf", "hnswlib HNSW")] == "ok"
    exact = [r for r in payload["rows"] if r["method"].startswith("exact")]
    assert exact and exact[0]["recall"] == pytest.approx(1.0)
    for row in payload["rows"]:
        if row["status"] == "ok":
            assert 0.0 <= row["recall"] <= 1.0 and row["qps"] > 0
    assert len(payload["targets"]) == 6 and all(t["met"] in (True, False, None) for t in payload["targets"])
    assert out_png.stat().st_size > 1000


def test_peers_missing_are_skipped_with_the_reason(monkeypatch, tmp_path, capsys):
    """§Benchmark: without faiss and hnswlib the run completes; their rows say why they were skipped."""
    monkeypatch.setitem(sys.modules, "faiss", None)  # ``import faiss`` raises ImportError
    monkeypatch.setitem(sys.modules, "hnswlib", None)
    out_json = tmp_path / "ann.json"
    assert main(["bench", "ann", *TINY, "--json", str(out_json)]) == 0
    text = capsys.readouterr().out
    assert "skipped: faiss not installed (pip install faiss-cpu)" in text
    assert "skipped: hnswlib not installed (pip install hnswlib)" in text
    payload = json.loads(out_json.read_text())
    for item in payload["rows"] + payload["indexes"]:
        if item["method"].startswith(("faiss", "hnswlib")):
            assert item["status"] == "skipped" and "not installed" in item["note"]
        elif item["method"] == "TT index":
            assert item["status"] == "ok"
    verdicts = {t["target"]: t["met"] for t in payload["targets"]}
    assert verdicts["1-recall@100 and E[bucket size] better than IMI and RCQ of equal parameters (fine)"] is None
    assert all(v is None for k, v in verdicts.items() if "IVF-Flat" in k)


@pytest.mark.parametrize("extra, option", [
    (["--queries", "1797"], "--queries"),
    (["--methods", "tt,annoy"], "--methods"),
    (["--regimes", "ivf,coarse"], "--regimes"),
    (["--beams", "8,x"], "--beams"),
    (["--candidates", "0"], "--candidates"),
    (["--ivf-modes", "64"], "--ivf-modes"),
    (["--fine-modes", "8,8", "--fine-ranks", "2,2"], "--fine-ranks"),
    (["--rcq-beam-factor", "0.5"], "--rcq-beam-factor"),
    (["--k", "0"], "--k"),
    (["--max-base", "0"], "--max-base"),
    (["--fit-options", "refine_sweeps"], "--fit-options"),
])
def test_bad_input_is_one_line(extra, option, capsys):
    """§Benchmark: a malformed option ends with one error line naming it (exit 2), before any fit."""
    assert main(["bench", "ann", "--data", "digits", "--quick", "--steps", "1", "--methods", "tt",
                 "--max-base", "300", "--queries", "20", *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tt-ref: error:") and option in err and err.count("\n") == 1


def test_missing_file_is_one_line(tmp_path, capsys):
    assert main(["bench", "ann", "--data", str(tmp_path / "missing.npy")]) == 2
    assert capsys.readouterr().err.startswith("tt-ref: error:")


def test_npy_path(tmp_path, capsys):
    """§Benchmark: a .npy path loads; one regime and only the TT index and exact search."""
    rng = np.random.default_rng(0)
    X = (rng.standard_normal((8, 12))[rng.integers(0, 8, 500)] * 4 + rng.standard_normal((500, 12)))
    np.save(tmp_path / "vectors.npy", X.astype(np.float32))
    assert main(["bench", "ann", "--data", str(tmp_path / "vectors.npy"), "--regimes", "ivf", "--methods", "tt,exact",
                 "--quick", "--steps", "5", "--queries", "50", "--k", "5"]) == 0
    text = capsys.readouterr().out
    assert "| ivf | TT index |" in text and "| fine |" not in text and "recall@5" in text


def test_summarize_earlier_runs(tmp_path, capsys):
    """§Benchmark: --summarize prints the targets of saved runs side by side; a foreign file is one error line."""
    out_json = tmp_path / "run.json"
    assert main(["bench", "ann", *TINY, "--regimes", "ivf", "--methods", "tt,exact", "--json", str(out_json)]) == 0
    capsys.readouterr()
    assert main(["bench", "ann", "--summarize", f"{out_json},{out_json}"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].count("digits (400 x 64)") == 2
    assert any(line.startswith("| empty TT leaves <= 10% (ivf) |") for line in table)
    (tmp_path / "other.json").write_text('{"format": "something else"}')
    assert main(["bench", "ann", "--summarize", str(tmp_path / "other.json")]) == 2
    assert "not a version-2 tt_ref.bench_ann file" in capsys.readouterr().err
    assert main(["bench", "ann"]) == 2
    assert "--data is required" in capsys.readouterr().err


@pytest.mark.parametrize("backend", ["array_api_strict", "cupy"])
def test_backend_flag_gives_the_same_recall(tmp_path, capsys, backend):
    """§Benchmark: --backend runs the TT index and exact search there, with NumPy's recall
    (cupy skipped where no GPU is visible)."""
    from tt_ref._backend import is_backend_available

    if not is_backend_available(backend):
        pytest.skip(f"backend {backend!r} not available here (CuPy needs an NVIDIA GPU)")
    recalls = {}
    for name in ("numpy", backend):
        out_json = tmp_path / f"{name}.json"
        assert main(["bench", "ann", *TINY, "--regimes", "ivf", "--methods", "tt,exact", "--backend", name,
                     "--json", str(out_json)]) == 0
        recalls[name] = [row["recall"] for row in json.loads(out_json.read_text())["rows"]]
    capsys.readouterr()
    assert recalls["numpy"] == pytest.approx(recalls[backend], abs=0.03)


# --------------------------------------------------------------------------- units
def test_fit_options_reach_the_fit(tmp_path, capsys):
    """§Benchmark: --fit-options are passed to the fit (and recorded); a name the fit does not know is one line."""
    out_json = tmp_path / "run.json"
    assert main(["bench", "ann", *TINY, "--regimes", "ivf", "--methods", "tt", "--fit-options",
                 "refine_sweeps=0,repair=false", "--json", str(out_json)]) == 0
    assert json.loads(out_json.read_text())["fit_options"] == {"refine_sweeps": 0, "repair": False, "steps": 5,
                                                                  "batch_size": 400}  # the whole training sample
    capsys.readouterr()
    assert main(["bench", "ann", *TINY, "--regimes", "ivf", "--methods", "tt", "--fit-options", "no_such_option=1"]) == 2
    assert "no_such_option" in capsys.readouterr().err


def test_parse_list_is_the_one_list_syntax():
    """§Benchmark: list options are comma-separated; spaces and a trailing comma are accepted."""
    assert parse_list(" 8, 32,", "--beams") == (8, 32)
    assert parse_list("fine,ivf,fine", "--regimes", kind=str, choices=("ivf", "fine")) == ("fine", "ivf")
    for bad in ("", ",", "8;32", "-1", "2.5"):
        with pytest.raises(ValueError, match="--beams"):
            parse_list(bad, "--beams")


@given(n_base=st.integers(16, 2_000_000), dim=st.integers(2, 1000))
def test_regime_configs(n_base, dim):
    """§Benchmark: the IVF regime has about 4 sqrt(N) buckets and no more parameters than
    IVF-Flat with as many lists; the fine regime has 4**b buckets, one to four vectors each,
    and its IMI / residual peers the same bucket count."""
    ivf = regime_config("ivf", n_base, dim)
    assert 2**-0.5 <= ivf.n_buckets / (4 * math.sqrt(n_base)) <= 2**0.5
    assert ivf.n_params <= dim * ivf.n_buckets and 1 <= ivf.ranks[0] <= min(dim, ivf.mode_sizes[1])
    fine = regime_config("fine", n_base, dim)
    b = round(math.log(fine.n_buckets, 4))
    assert fine.n_buckets == 4**b and 1 <= n_base / fine.n_buckets <= 4
    assert fine.ranks == (min(32, dim, 2**b),)
    plan = _peer_plan("fine", fine, dim, n_base, ("imi", "rcq", "ivf"))
    assert ("imi", b) in [(kind, size) for kind, size, match in plan if "buckets" in match]
    assert ("rcq", b) in [(kind, size) for kind, size, match in plan if "buckets" in match]
    for kind, size, match in plan:
        if kind in ("imi", "rcq"):
            assert 4**size <= max(peers.MAX_PEER_BUCKETS, fine.n_buckets)


@pytest.mark.skipif(not _installed("faiss"), reason="faiss not installed (pip install faiss-cpu)")
@pytest.mark.parametrize("kind", ["ivf", "imi", "rcq"])
def test_faiss_one_recall_matches_max_codes(kind):
    """§Benchmark: the 1-recall@R read off the list layout equals faiss's own search with
    ``max_codes = R`` (random data: no ties between distances)."""
    import faiss

    rng = np.random.default_rng(1)
    base = rng.standard_normal((1500, 8)).astype(np.float32)
    queries = rng.standard_normal((60, 8)).astype(np.float32)
    true = np.argsort(((queries[:, None, :] - base[None]) ** 2).sum(-1), axis=1)[:, :10]
    wl = peers.Workload(base, queries, 10, true, base, True)
    quantizer, nlist = {"ivf": (faiss.IndexFlatL2(8), 32), "imi": (faiss.MultiIndexQuantizer(8, 2, 3), 64),
                        "rcq": (faiss.ResidualCoarseQuantizer(8, 2, 3), 64)}[kind]
    if kind == "rcq":
        quantizer.beam_factor = -1.0  # exhaustive order, as the benchmark's 1-recall uses
    ivf, _ = peers._build_ivf(faiss, wl, quantizer, nlist, trains_alone=kind != "ivf")
    sizes, list_of, offset = peers._list_layout(faiss, ivf, base.shape[0])
    curve, covered, nprobe = peers._one_recall_curve(ivf, wl, sizes, list_of, offset,
                                                     lambda x, n: ivf.quantizer.search(x, n)[1])
    assert sizes.sum() == base.shape[0] and covered == 1.0
    for R, value in curve.items():
        ivf.nprobe, ivf.max_codes = nprobe, R
        _, ids = ivf.search(queries, 1)
        assert value == pytest.approx(float(np.mean(ids[:, 0] == true[:, 0])))


def _info(regime, method, config, match, **values):
    return peers.make_index_info(regime, method, config, match, **values)


def _row(regime, method, config, match, recall, qps, dist):
    return peers.make_row(regime, method, config, match, "s", recall=recall, qps=qps, distances_per_query=dist)


def test_targets_and_ratios():
    """§Benchmark: the targets and the ratios to faiss are read off the rows as stated."""
    infos = [
        _info("ivf", "TT index", "tt", "-", n_buckets=100, empty_buckets=5, expected_bucket_size=20.0, one_recall_at={}),
        _info("ivf", "faiss IVF-Flat", "nlist=100", "equal buckets and params"),
        _info("fine", "TT index", "ttf", "-", n_buckets=1000, empty_buckets=200, expected_bucket_size=3.0,
              one_recall_at={100: 0.8}),
        _info("fine", "faiss IMI", "IMI2x8", "equal params", expected_bucket_size=4.0, one_recall_at={100: 0.7}),
        _info("fine", "faiss RCQ-IVF", "RCQ2x7", "equal params", expected_bucket_size=2.0, one_recall_at={100: 0.75}),
    ]
    rows = [_row("ivf", "TT index", "tt", "-", 0.95, 500.0, 300.0), _row("ivf", "TT index", "tt", "-", 0.85, 900.0, 100.0),
            _row("ivf", "faiss IVF-Flat", "nlist=100", "x", 0.92, 2000.0, 400.0),
            _row("fine", "TT index", "ttf", "-", 0.80, 100.0, 50.0)]
    goals = {t["target"]: t["met"] for t in report.targets(rows, infos, 10, "numpy")}
    assert goals["empty TT leaves <= 10% (ivf)"] is True and goals["empty TT leaves <= 10% (fine)"] is False
    assert goals["recall@10 0.9 with distances <= IVF-Flat equal params (ivf)"] is True  # 300 <= 400
    assert goals["recall@10 0.9 with distances <= IVF-Flat equal params (fine)"] is None  # no such IVF here
    # Better 1-recall@100 than both, but a larger expected bucket than the residual IVF's.
    assert goals["1-recall@100 and E[bucket size] better than IMI and RCQ of equal parameters (fine)"] is False
    assert goals["QPS at recall@10 0.9 >= 0.5x faiss IVF-Flat best"] is False  # 500 / 2000
    entries = {(e["regime"], e["method"]): e for e in report.summary(rows, infos)}
    tt = entries[("ivf", "TT index")]
    assert tt["qps_vs_faiss_ivf_best"] == pytest.approx(0.25)
    assert tt["distances_vs_faiss_ivf_equal_params"] == pytest.approx(0.75)
    assert entries[("fine", "TT index")]["best_qps"] is None and entries[("fine", "TT index")]["max_recall"] == 0.8
