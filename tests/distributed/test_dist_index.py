"""The sharded index, ground truth and anomaly scores on a LocalCluster (threads; specs/distributed.md).

Every result is compared with the in-memory path on the same rows: same cloud for the
same seed, same ids as ``TTIndex.search``, same neighbours as ``nearest_neighbors``.
"""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

pytest.importorskip("distributed", reason="tt_ref.distributed needs the dask extra")
import dask.array as da  # noqa: E402

from tt_ref import ArgumentTypeError, ArgumentValueError, FileFormatError, is_backend_available  # noqa: E402
from tt_ref._backend._neighbors import nearest_neighbors  # noqa: E402
from tt_ref.cloud._point_cloud import TTPointCloud  # noqa: E402
from tt_ref.distributed import ShardedIndex, connect, exact_knn, kth_distances, parse_scheduler  # noqa: E402
from tt_ref.ood import KNNDetector, build_bank  # noqa: E402
from tt_ref.search import TTIndex  # noqa: E402

_FIT = {"steps": 8, "batch_size": 256, "progress": False}


@pytest.fixture(scope="module")
def client():
    with connect("local:2", processes=False) as c:
        yield c


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(11)
    X = rng.standard_normal((2400, 6)).astype(np.float32)
    return X, X[::60] + np.float32(0.05)


def _both(cloud, X, client, layout, **options):
    ref = TTIndex.from_point_cloud(cloud, **options)
    index = ShardedIndex.from_point_cloud(cloud, n_shards=3, layout=layout, client=client, **options)
    return ref, index


@pytest.mark.parametrize("layout", ["buckets", "rows"])
def test_search_equals_the_in_memory_index_through_adds_and_removes(client, data, layout):
    """§Search, §Add, §Remove: same ids as TTIndex (distances to rounding) after two adds, a remove and a re-add."""
    X, Q = data
    cloud = TTPointCloud.random(6, (8, 8), (3,), seed=5, dtype="float32")
    ref, index = _both(cloud, X, client, layout)
    ref.add(X[:1500])
    ref.add(X[1500:])
    index.add(da.from_array(X[:1500], chunks=(400, 6)))
    index.add(da.from_array(X[1500:], chunks=(300, 6)))
    budgets = [{"n_probe": 6}] + ([{"n_candidates": 120}] if layout == "buckets" else [])
    gone = np.arange(0, 2400, 7)
    for step in ("added", "removed", "re-added"):
        if step == "removed":
            assert index.remove(gone) == ref.remove(gone) == gone.size
        if step == "re-added":
            ref.add(X[gone], ids=gone)
            index.add(da.from_array(X[gone], chunks=(100, 6)), ids=gone)
        assert index.ntotal == ref.ntotal
        assert np.array_equal(index.bucket_sizes(), np.asarray(ref._lists.bucket_sizes()))
        for budget in budgets:
            d_ref, i_ref = ref.search(Q, 8, beam=6, chunk_size=16, **budget)
            d, i = index.search(Q, 8, beam=6, chunk_size=16, **budget)
            assert np.array_equal(i, i_ref), (step, budget)
            np.testing.assert_allclose(d, d_ref, rtol=32 * np.finfo(np.float32).eps, atol=1e-5)
            assert index.last_search_stats["candidates_per_query"] == ref.last_search_stats["candidates_per_query"]
    assert np.array_equal(np.sort(index.gather_ids()), np.arange(2400))


@pytest.mark.parametrize("train_size", [700, None])
def test_training_from_dask_gives_the_in_memory_cloud(client, data, train_size):
    """§Training: same seed -> same sample and bitwise the same cloud as TTIndex.train on the same rows."""
    X, _ = data
    options = {"train_size": train_size, "seed": 3, "fit_options": _FIT, "metric": "cosine"}
    ref = TTIndex(6, "auto", **options).train(X)
    index = ShardedIndex(6, "auto", n_shards=2, client=client, **options).train(da.from_array(X, chunks=(500, 6)))
    assert index.mode_sizes == ref.mode_sizes and index.ranks == ref.ranks
    for a, b in zip(ref.cloud.cores, index.cloud.cores):
        assert np.array_equal(a, b)


def test_save_and_load_with_another_number_of_workers(client, data, tmp_path):
    """§Files: one atomic file per shard plus a manifest; loads onto 3 workers with the same results."""
    X, Q = data
    cloud = TTPointCloud.random(6, (8, 8), (3,), seed=6, dtype="float32")
    index = ShardedIndex.from_point_cloud(cloud, n_shards=4, client=client, metric="cosine")
    index.add(da.from_array(X, chunks=(600, 6)))
    path = tmp_path / "big.npz"
    index.save(path)
    first = sorted(os.listdir(tmp_path))
    index.save(path)  # a second save replaces the first one's shard files
    names = sorted(os.listdir(tmp_path))
    assert len(names) == 5 and names != first and "big.npz" in names
    expected = index.search(Q, 5, n_candidates=100)
    with connect("local:3", processes=False) as other:
        loaded = ShardedIndex.load(path, client=other)
        got = loaded.search(Q, 5, n_candidates=100)
        assert loaded.ntotal == 2400 and loaded.next_id == index.next_id and loaded.bounds == index.bounds
    assert np.array_equal(got[1], expected[1]) and np.array_equal(got[0], expected[0])
    shard = tmp_path / [n for n in names if "shard-00001" in n][0]
    shard.write_bytes(shard.read_bytes()[:200])
    with pytest.raises(FileFormatError, match="index shard file"):
        ShardedIndex.load(path, client=client)


def test_exact_knn_and_anomaly_scores_by_blocks(client, data):
    """§Ground truth, §Anomaly scores: tree-reduced top-k = nearest_neighbors; map_blocks scores = in memory."""
    X, Q = data
    X64, Q64 = X.astype(np.float64), Q.astype(np.float64)
    d, ids = exact_knn(da.from_array(X64, chunks=(333, 6)), Q64, 9, split_every=3)
    d_ref, i_ref = nearest_neighbors(Q64, X64, 9)
    assert np.array_equal(ids, i_ref)
    np.testing.assert_allclose(d, d_ref, rtol=1e-12, atol=1e-12)
    for bank in ("full", build_bank(X[:800], "tt", 400, seed=1, progress=False, steps=5, batch_size=128)):
        detector = KNNDetector(k=2, bank=bank).fit(X[:800])
        scores = kth_distances(detector, da.from_array(X[800:], chunks=(500, 6))).compute()
        np.testing.assert_allclose(scores, detector.kth_distance(X[800:]), rtol=1e-6)


def test_cupy_chunks(client):
    """§Backends: CuPy chunks give the NumPy results (needs a GPU)."""
    if not is_backend_available("cupy"):
        pytest.skip("CuPy chunks need an NVIDIA GPU (CuPy not available here)")
    import cupy

    rng = np.random.default_rng(2)
    X = rng.standard_normal((1200, 6))
    cloud = TTPointCloud.random(6, (8, 8), (3,), seed=1)
    host = ShardedIndex.from_point_cloud(cloud, n_shards=2, client=client)
    host.add(da.from_array(X, chunks=(300, 6)))
    gpu = ShardedIndex.from_point_cloud(cloud.to_backend("cupy"), n_shards=2, client=client)
    gpu.add(da.from_array(X, chunks=(300, 6)).map_blocks(cupy.asarray))
    d0, i0 = host.search(X[:20], 5, n_candidates=80)
    d1, i1 = gpu.search(cupy.asarray(X[:20]), 5, n_candidates=80)
    assert np.array_equal(i0, cupy.asnumpy(i1))
    d, ids = exact_knn(da.from_array(X, chunks=(300, 6)).map_blocks(cupy.asarray), cupy.asarray(X[:5]), 3)
    assert np.array_equal(cupy.asnumpy(ids), nearest_neighbors(X[:5], X, 3)[1])


def test_mistakes_get_clear_errors(client, data):
    """§Errors: each mistake names the argument; nothing changes the index."""
    X, Q = data
    cloud = TTPointCloud.random(6, (4, 4), (2,), seed=0, dtype="float32")
    index = ShardedIndex.from_point_cloud(cloud, n_shards=2, client=client)
    with pytest.raises(ArgumentValueError, match="empty"):
        index.search(Q, 3)
    with pytest.raises(ArgumentValueError, match="dimension 5"):
        index.add(da.from_array(X[:, :5]))
    index.add(da.from_array(X[:100]), ids=np.arange(100, 200))
    with pytest.raises(ArgumentValueError, match="unique and not already"):
        index.add(da.from_array(X[:2]), ids=[150, 7])
    with pytest.raises(ArgumentValueError, match="one id per row"):
        index.add(da.from_array(X[:2]), ids=[1])
    with pytest.raises(ArgumentValueError, match="X has a NaN|NaN|finite"):
        index.add(da.from_array(np.full((3, 6), np.nan, dtype=np.float32)))
    assert index.ntotal == 100 and index.next_id == 200
    rows = ShardedIndex.from_point_cloud(cloud, layout="rows", client=client)
    rows.add(da.from_array(X[:50]))
    with pytest.raises(ArgumentValueError, match="n_probe only"):
        rows.search(Q, 3)
    with pytest.raises(ArgumentValueError, match="not trained"):
        ShardedIndex(6, client=client).add(da.from_array(X))
    with pytest.raises(ArgumentValueError, match="layout"):
        ShardedIndex(6, layout="columns")
    with pytest.raises(TypeError, match="save"):
        pickle.dumps(index)
    with pytest.raises(ArgumentTypeError, match="Dask array"):
        index.add([[1.0] * 6])
    for bad in ("local:0", "local:x", "nowhere"):
        with pytest.raises(ArgumentValueError, match="scheduler"):
            parse_scheduler(bad)
