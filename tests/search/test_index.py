"""Tests of the TT ANN index (specs/index.md)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import eps_of, to_np, to_xp
from hypothesis import given
from hypothesis import strategies as st

from tt_ref._backend import FileFormatError
from tt_ref._backend._neighbors import nearest_neighbors, squared_distances
from tt_ref.cloud._point_cloud import TTPointCloud
from tt_ref.search._index import TTIndex


def _cloud(dim, mode_sizes, ranks, seed, xp, dtype):
    cloud = TTPointCloud.random(dim, mode_sizes, ranks, seed=seed, dtype=dtype)
    return TTPointCloud([to_xp(to_np(c), xp) for c in cloud.cores])


def _index(X, mode_sizes, ranks, xp, dtype, seed=0, **options):
    index = TTIndex.from_point_cloud(_cloud(X.shape[1], mode_sizes, ranks, seed, xp, dtype), **options)
    index.add(to_xp(X, xp, dtype))
    return index


def _check_exact(X, Q, d, ids, k, dtype, subset=None):
    """Returned neighbours are the exact ones: same distances, and each id really at that distance."""
    d, ids = to_np(d).astype(np.float64), to_np(ids)
    Xr = X.astype(dtype).astype(np.float64)
    Qr = Q.astype(dtype).astype(np.float64)
    base_ids = np.arange(X.shape[0]) if subset is None else np.asarray(subset)
    ref_d, ref_i = nearest_neighbors(Qr, Xr[base_ids, :], k)
    scale = float(np.max(np.sum(Qr**2, axis=1))) + float(np.max(np.sum(Xr**2, axis=1)))
    tol = 100 * eps_of(dtype) * scale
    assert np.all(ids >= 0)
    assert np.max(np.abs(d - ref_d)) <= tol
    true_of_found = np.sum((Qr[:, None, :] - Xr[ids, :]) ** 2, axis=2)
    assert np.max(np.abs(true_of_found - ref_d)) <= tol


@given(st.data())
def test_full_coverage_search_is_exact(xp, dtype, data):
    """specs/index.md §Guarantee: beam and probes covering everything give the brute-force neighbours."""
    n_levels = data.draw(st.integers(1, 3))
    mode_sizes = tuple(data.draw(st.integers(1, 4)) for _ in range(n_levels))
    ranks = tuple(data.draw(st.integers(1, 3)) for _ in range(n_levels - 1))
    dim = data.draw(st.integers(1, 6))
    n = data.draw(st.integers(1, 80))
    k = data.draw(st.integers(1, min(n, 8)))
    seed = data.draw(st.integers(0, 2**16))
    assign = data.draw(st.sampled_from(["exact", "beam"]))
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, dim))
    Q = rng.standard_normal((5, dim))
    index = _index(X, mode_sizes, ranks, xp, dtype, seed=seed, assign=assign)
    P = index.n_buckets
    scan = data.draw(st.sampled_from(["lists", "gather"]))
    d, ids = index.search(to_xp(Q, xp, dtype), k, beam=P, n_probe=P, scan=scan)
    _check_exact(X, Q, d, ids, k, dtype)
    d, ids = index.search(to_xp(Q, xp, dtype), k, beam=P, n_candidates=n, scan=scan, chunk_size=2)
    _check_exact(X, Q, d, ids, k, dtype)


def test_scan_paths_agree(xp, dtype, monkeypatch):
    """specs/index.md §Scans: "lists" and "gather" scans, any chunking, give the same ids and stats."""
    import tt_ref.search._config as config_module

    rng = np.random.default_rng(13)
    X = rng.standard_normal((400, 5))
    Q = to_xp(rng.standard_normal((25, 5)), xp, dtype)
    index = _index(X, (4, 4, 3), (3, 2), xp, dtype)
    for options in ({"n_candidates": 37}, {"n_probe": 5}):
        d1, i1 = index.search(Q, 6, beam=3, scan="gather", **options)
        stats = dict(index.last_search_stats)
        runs = [index.search(Q, 6, beam=3, scan="lists", **options)]
        monkeypatch.setattr(config_module, "CHUNK_ELEMENTS", 64)  # tiny blocks: every chunk loop runs
        runs.append(index.search(Q, 6, beam=3, scan="gather", **options))
        runs.append(index.search(Q, 6, beam=3, scan="lists", **options))
        monkeypatch.undo()
        runs.append(index.search(Q, 6, beam=3, scan="lists", chunk_size=7, **options))
        assert index.last_search_stats == stats
        for d2, i2 in runs:
            assert np.array_equal(to_np(i1), to_np(i2))
            assert np.max(np.abs(to_np(d1) - to_np(d2))) <= 100 * eps_of(dtype) * (1 + float(np.max(to_np(d1))))


def test_results_sorted_valid_unique(xp, dtype):
    """specs/index.md §Output: ascending distances, valid unique ids, -1/inf padding."""
    rng = np.random.default_rng(1)
    X = rng.standard_normal((300, 5))
    Q = rng.standard_normal((40, 5))
    index = _index(X, (4, 3, 3), (3, 2), xp, dtype)
    d, ids = index.search(to_xp(Q, xp, dtype), 10, beam=2, n_candidates=40)
    d, ids = to_np(d), to_np(ids)
    assert d.shape == ids.shape == (40, 10)
    assert np.all(np.diff(d, axis=1) >= 0)
    assert np.all((ids >= 0) & (ids < 300))
    assert all(len(set(row)) == 10 for row in ids.tolist())
    assert index.last_search_stats["candidates_per_query"] <= 40
    # One small bucket cannot fill k = 50: the rest is padding.
    d, ids = index.search(to_xp(Q, xp, dtype), 50, beam=1, n_probe=1)
    d, ids = to_np(d), to_np(ids)
    found = ids >= 0
    assert np.all(np.isinf(d[~found])) and np.all(np.isfinite(d[found]))
    assert (~found).any()
    assert np.all(found[:, :-1] >= found[:, 1:])  # padding only at the end of a row


def test_allow_filter(xp, dtype):
    """specs/index.md §Filtering: only allowed ids come back; full coverage gives the exact ones among them."""
    rng = np.random.default_rng(2)
    X = rng.standard_normal((200, 4))
    Q = rng.standard_normal((10, 4))
    index = _index(X, (3, 4), (2,), xp, dtype)
    allow = np.arange(0, 200, 3)
    d, ids = index.search(to_xp(Q, xp, dtype), 5, beam=12, n_probe=12, allow=to_xp(allow, xp))
    assert np.all(np.isin(to_np(ids), allow))
    _check_exact(X, Q, d, ids, 5, dtype, subset=allow)
    d, ids = index.search(to_xp(Q, xp, dtype), 5, beam=2, n_candidates=30, allow=to_xp(allow, xp))
    got = to_np(ids)
    assert np.all(np.isin(got[got >= 0], allow))


def test_remove(xp, dtype):
    """specs/index.md §Updates: removed ids never come back, the rest is still found exactly."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal((150, 4))
    Q = X[:10, :] + 0.01
    index = _index(X, (3, 3), (2,), xp, dtype)
    gone = np.arange(0, 150, 2)
    assert index.remove(to_xp(gone, xp)) == 75
    assert index.ntotal == 75
    assert index.remove(to_xp(gone, xp)) == 0
    d, ids = index.search(to_xp(Q, xp, dtype), 4, beam=9, n_probe=9)
    assert not np.any(np.isin(to_np(ids), gone))
    _check_exact(X, Q, d, ids, 4, dtype, subset=np.arange(1, 150, 2))
    assert int(np.sum(index.stats()["bucket_sizes"])) == 75


def test_save_load_then_add(xp, dtype, tmp_path, backend):
    """specs/index.md §File format: add after save/load equals add without the round trip."""
    rng = np.random.default_rng(4)
    X = rng.standard_normal((220, 6))
    Q = rng.standard_normal((15, 6))
    index = _index(X[:150, :], (4, 4), (3,), xp, dtype)
    path = tmp_path / "index.npz"
    index.save(path)
    loaded = TTIndex.load(path, backend=backend)
    assert loaded.ntotal == 150 and loaded.metric == "l2"
    index.add(to_xp(X[150:, :], xp, dtype))
    loaded.add(to_xp(X[150:, :], xp, dtype))
    a = index.search(to_xp(Q, xp, dtype), 7, beam=3, n_candidates=60)
    b = loaded.search(to_xp(Q, xp, dtype), 7, beam=3, n_candidates=60)
    assert np.array_equal(to_np(a[1]), to_np(b[1]))
    assert np.array_equal(to_np(a[0]), to_np(b[0]))
    # An untrained index round-trips too.
    TTIndex(6, (4, 4), (3,)).save(tmp_path / "empty.npz")
    assert not TTIndex.load(tmp_path / "empty.npz").is_trained


def test_stats_agree_with_direct_count(xp, dtype):
    """specs/index.md §Stats: bucket sizes equal a count of each vector's nearest TT point."""
    rng = np.random.default_rng(5)
    X = rng.standard_normal((400, 5))
    index = _index(X, (3, 4, 2), (3, 2), xp, dtype, assign="exact")
    cloud = index.cloud
    _, nearest = nearest_neighbors(to_xp(X, xp, dtype), cloud.all_points(), 1)
    counts = np.bincount(to_np(nearest)[:, 0], minlength=24)
    stats = index.stats()
    assert np.array_equal(stats["bucket_sizes"], counts)
    assert stats["empty_buckets"] == int(np.sum(counts == 0))
    assert stats["expected_bucket_size"] == pytest.approx(float(np.sum(counts**2)) / 400)
    assert stats["ntotal"] == 400 and stats["max_bucket_size"] == counts.max()
    item = 8 if dtype == "float64" else 4
    assert stats["bytes_per_vector"] - stats["overhead_bytes_per_vector"] == pytest.approx(5 * item)


def test_beam_assign_with_full_beam_equals_exact(xp, dtype):
    """specs/index.md §Assignment: beam assignment with a beam covering the tree is exact."""
    rng = np.random.default_rng(6)
    X = rng.standard_normal((300, 4))
    exact = _index(X, (4, 3, 3), (3, 3), xp, dtype, assign="exact")
    beam = _index(X, (4, 3, 3), (3, 3), xp, dtype, assign="beam", assign_beam=36)
    assert np.array_equal(exact.stats()["bucket_sizes"], beam.stats()["bucket_sizes"])


@pytest.mark.parametrize("mode_sizes,ranks", [((5,), ()), ((3, 4), (2,)), ((2, 3, 4), (3, 2))])
def test_factorized_centre_distances(xp, dtype, mode_sizes, ranks):
    """specs/index.md §Centres: factorized formula equals distances to cloud.centroids(level)."""
    rng = np.random.default_rng(7)
    Q = to_xp(rng.standard_normal((6, 5)), xp, dtype)
    index = TTIndex.from_point_cloud(_cloud(5, mode_sizes, ranks, 8, xp, dtype))
    for level in range(1, len(mode_sizes) + 1):
        ref = squared_distances(Q, index.cloud.centroids(level))
        got = index.centre_sq_distances(Q, level)
        scale = float(np.max(to_np(ref))) + 1.0
        assert np.max(np.abs(to_np(got) - to_np(ref))) <= 100 * eps_of(dtype) * scale


def test_numpy_and_strict_identical(dtype):
    """specs/index.md §Backends: one seed gives the same results on numpy and array_api_strict."""
    from tt_ref._backend import namespace_for

    rng = np.random.default_rng(9)
    X = rng.standard_normal((500, 6))
    Q = rng.standard_normal((30, 6))
    results = []
    for backend in ("numpy", "array_api_strict"):
        xp = namespace_for(backend)
        index = _index(X, (4, 4, 3), (3, 3), xp, dtype)
        d, ids = index.search(to_xp(Q, xp, dtype), 5, beam=3, n_candidates=50)
        results.append((to_np(d), to_np(ids), index.stats()["bucket_sizes"]))
    assert np.array_equal(results[0][1], results[1][1])
    assert np.array_equal(results[0][2], results[1][2])
    assert np.max(np.abs(results[0][0] - results[1][0])) <= 10 * eps_of(dtype) * float(np.max(results[0][0]))


def test_cosine_metric(xp, dtype):
    """specs/index.md §Metrics: cosine is L2 on unit vectors."""
    rng = np.random.default_rng(10)
    X = rng.standard_normal((120, 4)) * rng.uniform(0.5, 3.0, (120, 1))
    Q = rng.standard_normal((8, 4))
    index = TTIndex.from_point_cloud(_cloud(4, (3, 3), (2,), 0, xp, dtype), metric="cosine")
    index.add(to_xp(X, xp, dtype))
    d, ids = index.search(to_xp(Q, xp, dtype), 3, beam=9, n_probe=9)
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    Qn = Q / np.linalg.norm(Q, axis=1, keepdims=True)
    _check_exact(Xn, Qn, d, ids, 3, dtype)


def test_custom_ids_and_train(xp, dtype):
    """specs/index.md §Training: train fits a cloud with fit_point_cloud; custom ids come back."""
    rng = np.random.default_rng(11)
    X = rng.standard_normal((200, 3))
    index = TTIndex(3, (4, 4), (2,), fit_options={"steps": 5, "batch_size": 64, "progress": False}, train_size=150)
    assert not index.is_trained
    index.train(to_xp(X, xp, dtype))
    assert index.is_trained and index.ntotal == 0 and index.fit_result is not None
    ids = np.arange(1000, 1200)
    index.add(to_xp(X, xp, dtype), ids=to_xp(ids, xp))
    d, found = index.search(to_xp(X[:5, :], xp, dtype), 1, beam=16, n_probe=16)
    assert to_np(found)[:, 0].tolist() == ids[:5].tolist()
    with pytest.raises(ValueError, match="ids"):
        index.add(to_xp(X[:2, :], xp, dtype), ids=to_xp(ids[:2], xp))


def test_bad_inputs(xp, dtype, tmp_path):
    """specs/index.md §Errors: clear errors naming what is wrong."""
    rng = np.random.default_rng(12)
    X = to_xp(rng.standard_normal((50, 4)), xp, dtype)
    with pytest.raises(ValueError, match="metric"):
        TTIndex(4, (3, 3), (2,), metric="manhattan")
    with pytest.raises(ValueError, match="ranks"):
        TTIndex(4, (3, 3), (2, 2))
    with pytest.raises(ValueError, match="assign"):
        TTIndex(4, (3, 3), (2,), assign="greedy")
    untrained = TTIndex(4, (3, 3), (2,))
    with pytest.raises(ValueError, match="not trained"):
        untrained.search(X, 1)
    with pytest.raises(ValueError, match="not trained"):
        untrained.add(X)
    index = TTIndex.from_point_cloud(_cloud(4, (3, 3), (2,), 0, xp, dtype))
    with pytest.raises(ValueError, match="empty"):
        index.search(X, 1)
    index.add(X)
    with pytest.raises(ValueError, match="dimension"):
        index.search(to_xp(np.ones((2, 5)), xp, dtype), 1)
    with pytest.raises(ValueError, match="dimension"):
        index.add(to_xp(np.ones((2, 3)), xp, dtype))
    with pytest.raises(ValueError, match="k must"):
        index.search(X, 0)
    with pytest.raises(ValueError, match="k must"):
        index.search(X, 51)
    bad = to_np(X).copy()
    bad[1, 2] = np.nan
    with pytest.raises(ValueError, match="Q contains NaN"):
        index.search(to_xp(bad, xp), 1)
    with pytest.raises(ValueError, match="n_probe or n_candidates"):
        index.search(X, 1, n_probe=2, n_candidates=5)
    with pytest.raises(ValueError, match="beam"):
        index.search(X, 1, beam=0)
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, data=np.zeros(3))
    with pytest.raises(FileFormatError, match="not a tt_ref TTIndex file"):
        TTIndex.load(foreign)
    text = tmp_path / "text.npz"
    text.write_text("hello")
    with pytest.raises(FileFormatError, match="TTIndex file .*text.npz"):
        TTIndex.load(text)
    with pytest.raises(FileNotFoundError):
        TTIndex.load(tmp_path / "missing.npz")
