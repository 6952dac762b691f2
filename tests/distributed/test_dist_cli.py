"""``tt-ref bench dask`` and ``tt-ref index build --scheduler`` against a running scheduler
(an in-process LocalCluster's address; specs/distributed.md §Cluster)."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("distributed", reason="tt_ref.distributed needs the dask extra")
from distributed import LocalCluster  # noqa: E402

from tt_ref.cli import main  # noqa: E402
from tt_ref.distributed import ShardedIndex, connect  # noqa: E402


@pytest.fixture(scope="module")
def address():
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0") as cluster:
        yield cluster.scheduler_address


def test_bench_dask_reports_identical_results(address, tmp_path, capsys):
    """§Search: the bench's sharded search gives the in-memory ids; its JSON has every number."""
    out = tmp_path / "bench.json"
    code = main(["bench", "dask", "--scheduler", address, "--data", "random", "--rows", "3000", "--dim", "8",
                 "--queries", "100", "--steps", "5", "--train-size", "1500", "--n-shards", "3", "--batch", "50",
                 "--block-rows", "1000", "--repeat", "1", "--beam", "8", "--n-candidates", "100",
                 "--layout", "buckets,rows", "--n-probe", "4", "--json", str(out)])
    assert code == 0
    report = json.loads(out.read_text())
    assert [row["layout"] for row in report["rows"]] == ["buckets", "rows"]
    for row in report["rows"]:
        assert row["identical_ids"] == 1.0 and row["max_abs_diff"] < 1e-4
        assert row["bytes_per_batch"] > 0 and row["model_shard_bytes"] > 0 and sum(row["shard_vectors"]) == 2900
    assert "sizing model" in capsys.readouterr().out


def test_index_build_on_a_scheduler_writes_a_loadable_index(address, tmp_path):
    """§Files: the build command trains, adds and saves shard files plus a manifest."""
    out = tmp_path / "digits.npz"
    assert main(["index", "build", "--data", "digits", "--out", str(out), "--scheduler", address, "--steps", "5",
                 "--train-size", "1500", "--n-shards", "2"]) == 0
    assert len(list(tmp_path.glob("digits.shard-*.npz"))) == 2
    with connect(address) as client:
        index = ShardedIndex.load(out, client=client)
        assert index.ntotal == 1797 and np.array_equal(np.sort(index.gather_ids()), np.arange(1797))


@pytest.mark.parametrize("argv, message", [
    (["bench", "dask", "--scheduler", "local:0"], "at least one worker"),
    (["bench", "dask", "--layout", "rows"], "needs --n-probe"),
    (["index", "build", "--data", "digits", "--out", "x.txt"], "must end in .npz"),
])
def test_mistakes_are_one_line_errors(argv, message, capsys):
    """§Errors: a user's mistake is one line and exit status 2 (argparse's or the command's)."""
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse refuses the option itself
        code = exc.code
    assert code == 2
    assert message in capsys.readouterr().err
