"""Baselines at an equal parameter budget (specs/baselines.md)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import eps_of, rel_err, to_np, to_xp
from hypothesis import given
from hypothesis import strategies as st

from tt_ref._backend import array_namespace, backend_name
from tt_ref.cloud._baselines import METHODS, compress, greedy_k_center, run_method


def _blobs(n=120, dim=5, seed=0):
    rng = np.random.default_rng(seed)
    centres = 4.0 * rng.normal(size=(4, dim))
    return centres[rng.integers(0, 4, size=n)] + rng.normal(size=(n, dim))


def _naive_k_center(X, m, first):
    """Farthest-first traversal by the definition, float64 direct differences."""
    X = np.asarray(X, dtype=np.float64)
    chosen = [first]
    min_d = ((X - X[first]) ** 2).sum(axis=1)
    for _ in range(m - 1):
        nxt = int(np.argmax(min_d))
        chosen.append(nxt)
        min_d = np.minimum(min_d, ((X - X[nxt]) ** 2).sum(axis=1))
    return chosen


@pytest.mark.parametrize("method", ["random", "coreset", "kmeans"])
def test_point_sets_shape_budget_backend(xp, dtype, method):
    """specs/baselines.md §Contract: (m, D) with m = n_params // D on X's backend and dtype, params <= budget."""
    X = to_xp(_blobs(), xp, dtype)
    n_params = 5 * 7 + 3  # 7 points of dimension 5, 3 numbers left over
    result = run_method(X, method, n_params, seed=1)
    assert tuple(result.points.shape) == (7, 5)
    assert result.n_params == 35 <= n_params
    assert backend_name(array_namespace(result.points)) == backend_name(xp)
    assert result.points.dtype == X.dtype
    assert result.seconds >= 0.0 and result.config["backend"] == backend_name(xp)


def test_random_and_coreset_are_data_rows(xp):
    """specs/baselines.md §random, §coreset: the points are distinct rows of X; one seed, same rows on every backend."""
    host = _blobs()
    X = to_xp(host, xp)
    for method in ("random", "coreset"):
        pts = to_np(compress(X, method, 50, seed=3))
        rows = [int(np.flatnonzero((host == p).all(axis=1))[0]) for p in pts]
        assert len(set(rows)) == 10
        assert np.array_equal(pts, to_np(compress(host, method, 50, seed=3)))


@given(st.data())
def test_coreset_is_greedy_k_center(xp, dtype, data):
    """specs/baselines.md §coreset: same choices as the naive farthest-first traversal; chosen points are
    pairwise at least the final covering radius apart (the 2-approximation certificate)."""
    n, dim = data.draw(st.integers(2, 60)), data.draw(st.integers(1, 6))
    m = data.draw(st.integers(1, n))
    seed = data.draw(st.integers(0, 10_000))
    host = np.random.default_rng(seed).normal(size=(n, dim)).astype(dtype)
    ids = to_np(greedy_k_center(to_xp(host, xp), m, seed=seed)).tolist()
    first = int(np.random.default_rng(seed).integers(n))
    naive = _naive_k_center(host, m, first)
    # Gram-form rounding may swap near-ties; check the certificate, and equality in float64.
    if dtype == "float64":
        assert ids == naive
    assert ids[0] == first and len(set(ids)) == m
    X64 = host.astype(np.float64)
    d2 = ((X64[:, None, :] - X64[None, ids, :]) ** 2).sum(axis=2)
    radius = d2.min(axis=1).max()
    if m > 1:
        chosen = d2[ids, :]
        pairwise = chosen[~np.eye(m, dtype=bool)].min()
        assert pairwise >= radius * (1 - 1000 * eps_of(dtype)) - 1000 * eps_of(dtype)


def test_coreset_projection(xp):
    """specs/baselines.md §coreset: with a random projection, still m distinct rows of X, seeded."""
    host = _blobs(n=80, dim=12)
    ids = to_np(greedy_k_center(to_xp(host, xp), 9, seed=2, projection_dim=4)).tolist()
    assert len(set(ids)) == 9 and ids == to_np(greedy_k_center(host, 9, seed=2, projection_dim=4)).tolist()
    with pytest.raises(ValueError, match="projection_dim"):
        greedy_k_center(host, 3, projection_dim=0)
    with pytest.raises(ValueError, match="m must"):
        greedy_k_center(host, 81)


@pytest.mark.parametrize("library", ["sklearn", "faiss"])
def test_kmeans_libraries(library):
    """specs/baselines.md §kmeans: centres from either library beat a random subset on coverage; seeded."""
    pytest.importorskip(library if library != "sklearn" else "sklearn.cluster")
    from tt_ref.cloud._quality import coverage_error

    X = _blobs(n=400, dim=4).astype(np.float32)
    centres = compress(X, "kmeans", 4 * 8, seed=0, library=library)
    assert centres.shape == (8, 4) and centres.dtype == np.float32
    assert np.array_equal(centres, compress(X, "kmeans", 32, seed=0, library=library))
    assert coverage_error(X, centres) < coverage_error(X, compress(X, "random", 32, seed=0))


def test_kmeans_subsample_reported():
    """specs/baselines.md §Large sets: max_points fits on a seeded subsample and says so in config."""
    X = _blobs(n=300, dim=3)
    result = run_method(X, "kmeans", 3 * 5, seed=0, max_points=100)
    assert result.config["pool"] == 100 and result.points.shape == (5, 3)
    with pytest.raises(ValueError, match="max_points"):
        run_method(X, "coreset", 3 * 50, max_points=20)


def test_tt_svd_exact_at_full_rank(xp, dtype):
    """specs/baselines.md §tt_svd: with a budget above full rank, the decoded points (D last) are the
    chosen data rows themselves; below it, params stay within budget."""
    host = _blobs(n=64, dim=3)
    X = to_xp(host, xp, dtype)
    result = run_method(X, "tt_svd", 10**6, seed=0, mode_sizes=(4, 4, 4))
    pts = to_np(result.points)
    assert pts.shape == (64, 3)
    from tt_ref._backend import random_choice

    rows = random_choice(0, 64, 64, xp=np)
    assert rel_err(pts, host[rows].astype(dtype)) <= 1000 * eps_of(dtype)
    small = run_method(X, "tt_svd", 60, seed=0)
    assert small.n_params <= 60 and tuple(small.points.shape)[1] == 3
    assert small.config["max_rank"] >= 1


def test_tt_method(xp):
    """specs/baselines.md §tt: fits a TT cloud via config_for_budget; returns its P points; params <= budget."""
    X = to_xp(_blobs(n=200, dim=4), xp)
    result = run_method(X, "tt", 150, seed=0, steps=5, batch_size=32, progress=False)
    cloud = result.model
    assert result.n_params == cloud.n_params <= 150
    assert tuple(result.points.shape) == (cloud.n_points, 4)
    assert result.fit is not None and len(result.fit.history["loss"]) >= 2
    fixed = run_method(X, "tt", 150, seed=0, steps=2, batch_size=32, progress=False, mode_sizes=(4, 4), ranks=(2,))
    assert fixed.model.mode_sizes == (4, 4)
    # Fewer rows than the fit's default batch: the batch is capped at N.
    small = run_method(to_xp(_blobs(n=40, dim=4), xp), "tt", 150, seed=0, steps=2, progress=False)
    assert small.model.dim == 4
    with pytest.raises(ValueError, match="over the budget"):
        run_method(X, "tt", 20, mode_sizes=(4, 4), ranks=(2,), steps=1, progress=False)
    with pytest.raises(ValueError, match="both"):
        run_method(X, "tt", 150, mode_sizes=(4, 4), steps=1, progress=False)


def test_bad_inputs(xp):
    """specs/baselines.md §Errors: unknown method, budget below one point or above N points, bad options, NaN."""
    X = to_xp(_blobs(n=20, dim=4), xp)
    with pytest.raises(ValueError, match="method must be one of"):
        compress(X, "pca", 40)
    with pytest.raises(ValueError, match="smaller than one point"):
        compress(X, "random", 3)
    with pytest.raises(ValueError, match="only 20 rows"):
        compress(X, "coreset", 4 * 21)
    with pytest.raises(ValueError, match="n_params"):
        compress(X, "random", 0)
    with pytest.raises(TypeError, match="option"):
        compress(X, "random", 8, projection_dim=3)
    with pytest.raises(ValueError, match="library"):
        compress(X, "kmeans", 8, library="torch")
    bad = to_np(X).copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="X contains NaN"):
        compress(to_xp(bad, xp), "random", 8)
    with pytest.raises(ValueError, match="too small for TT-SVD"):
        compress(X, "tt_svd", 2)
    assert METHODS[0] == "tt"
