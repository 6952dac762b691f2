"""Array API k-means (specs/fit.md §Initialization, k-means)."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from helpers import eps_of, rel_err, to_np, to_xp
from hypothesis import given
from hypothesis import strategies as st

from tt_ref._backend import backend_name
from tt_ref.cloud._kmeans import kmeans


def blobs(seed, n_clusters, per_cluster, dim, spread=0.05):
    rng = np.random.default_rng(seed)
    # Centres at least ~8 apart (10 apart along the first axis, jittered), blobs of
    # spread 0.05: separated for every seed, as the tests assume.
    centres = rng.normal(size=(n_clusters, dim))
    centres[:, 0] += 10.0 * rng.permutation(n_clusters)
    X = np.concatenate([c + spread * rng.normal(size=(per_cluster, dim)) for c in centres])
    return X, centres


@given(st.integers(1, 5), st.integers(1, 4), st.integers(0, 2**31 - 1))
def test_recovers_separated_clusters(xp, dtype, n_clusters, dim, seed):
    """specs/fit.md §k-means: well separated blobs give their means and a consistent labelling."""
    X, _ = blobs(seed, n_clusters, 30, dim)
    centres, labels = kmeans(to_xp(X, xp, dtype), n_clusters, seed=seed)
    centres, labels = to_np(centres), to_np(labels)
    assert centres.shape == (n_clusters, dim) and labels.shape == (X.shape[0],)
    truth = np.repeat(np.arange(n_clusters), 30)
    for c in range(n_clusters):  # one found label per true blob, means recovered
        found = np.unique(labels[truth == c])
        assert found.size == 1
        assert rel_err(centres[found[0]], X[truth == c].mean(axis=0)) <= 1000 * eps_of(dtype)
    d2 = ((X[:, None, :] - centres[None, :, :]) ** 2).sum(-1)
    assert np.array_equal(labels, d2.argmin(axis=1))  # labels are the nearest centres


@functools.lru_cache(maxsize=1)
def best_of_many_inertia() -> float:
    """Reference objective: the best of 20 plain Lloyd runs from random data rows (NumPy)."""
    X = np.random.default_rng(0).normal(size=(300, 3))
    rng = np.random.default_rng(1)
    best = np.inf
    for _ in range(20):
        centres = X[rng.choice(300, 6, replace=False)]
        for _ in range(50):
            labels = ((X[:, None, :] - centres[None]) ** 2).sum(-1).argmin(1)
            centres = np.array([X[labels == c].mean(0) if np.any(labels == c) else centres[c] for c in range(6)])
        best = min(best, ((X - centres[labels]) ** 2).sum())
    return float(best)


def test_close_to_best_of_many_lloyd(xp, dtype):
    """specs/fit.md §k-means: one k-means++ + Lloyd run is within 10% of the best of 20 Lloyd runs."""
    X = np.random.default_rng(0).normal(size=(300, 3))
    centres, labels = kmeans(to_xp(X, xp, dtype), 6, seed=1)
    ours = ((X - to_np(centres)[to_np(labels)]) ** 2).sum()
    assert ours <= 1.1 * best_of_many_inertia()


def test_same_seed_same_centres_on_every_backend(xp, dtype):
    """specs/fit.md §Determinism: bitwise equal to the NumPy run on array_api_strict; to rounding on CuPy."""
    X, _ = blobs(3, 4, 50, 3, spread=2.0)
    ours = kmeans(to_xp(X, xp, dtype), 4, seed=7)
    ref = kmeans(X.astype(dtype), 4, seed=7)
    assert np.array_equal(to_np(ours[1]), ref[1])
    if backend_name(xp) == "cupy":  # other BLAS: equal to rounding, not bitwise
        assert rel_err(ours[0], ref[0]) <= 100 * eps_of(dtype)
    else:
        assert np.array_equal(to_np(ours[0]), ref[0])


def test_duplicate_points_do_not_break_seeding(xp, dtype):
    """specs/fit.md §k-means: all mass on one point leaves D^2 sampling at zero; a uniform pick takes over."""
    X = to_xp(np.ones((10, 2)), xp, dtype)
    centres, labels = kmeans(X, 3, seed=0)
    assert np.allclose(to_np(centres), 1.0)
    assert to_np(labels).min() >= 0


def test_bad_input(xp):
    """specs/fit.md §Validation: n_clusters range, X shape and finiteness named."""
    X = to_xp(np.zeros((5, 2)), xp)
    with pytest.raises(ValueError, match="n_clusters"):
        kmeans(X, 6)
    with pytest.raises(ValueError, match="n_clusters"):
        kmeans(X, 0)
    with pytest.raises(ValueError, match="X must have 2 dimensions"):
        kmeans(to_xp(np.zeros(5), xp), 1)
    with pytest.raises(ValueError, match="X contains NaN"):
        kmeans(to_xp(np.full((5, 2), np.inf), xp), 1)
    with pytest.raises(ValueError, match="n_iter"):
        kmeans(X, 1, n_iter=-1)
