"""Quality measures: sliced Wasserstein, coverage and inverse errors, compression ratio (specs/quality.md)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import eps_of, to_np, to_xp
from hypothesis import given
from hypothesis import strategies as st

import tt_ref.cloud._quality as quality
from tt_ref.cloud._quality import (
    compression_ratio,
    coverage_error,
    inverse_error,
    projection_directions,
    sliced_wasserstein_distance,
)


def _sw_reference(A, B, theta):
    """SW_2 by the definition, on the host in float64: exact 1-D W_2^2 via quantile functions."""
    A, B, theta = (np.asarray(a, dtype=np.float64) for a in (A, B, theta))
    pa, pb = np.sort(A @ theta, axis=0), np.sort(B @ theta, axis=0)
    n, m = len(A), len(B)
    # Merged breakpoints in (0, 1]; on each piece both quantile functions are constant.
    grid = np.unique(np.concatenate([np.arange(1, n + 1) / n, np.arange(1, m + 1) / m]))
    widths = np.diff(np.concatenate([[0.0], grid]))
    mids = grid - widths / 2
    ia = np.minimum(np.floor(mids * n).astype(int), n - 1)
    ib = np.minimum(np.floor(mids * m).astype(int), m - 1)
    w2 = (widths[:, None] * (pa[ia] - pb[ib]) ** 2).sum(axis=0)
    return float(np.sqrt(w2.mean()))


@given(st.data())
def test_sw_matches_reference(xp, dtype, data):
    """specs/quality.md §SW: value equals the quantile-function definition, equal and unequal sizes."""
    n = data.draw(st.integers(1, 40))
    m = data.draw(st.sampled_from([n, data.draw(st.integers(1, 40))]))
    dim = data.draw(st.integers(1, 6))
    seed = data.draw(st.integers(0, 1000))
    rng = np.random.default_rng(seed)
    A, B = rng.normal(size=(n, dim)), rng.normal(size=(m, dim)) + 0.5
    theta = to_np(projection_directions(dim, 16, seed=seed, xp=xp, dtype=dtype))
    got = sliced_wasserstein_distance(to_xp(A, xp, dtype), to_xp(B, xp, dtype), n_projections=16, seed=seed)
    ref = _sw_reference(A.astype(dtype), B.astype(dtype), theta)
    assert isinstance(got, float)
    assert abs(got - ref) <= 1000 * eps_of(dtype) * max(ref, 1.0)


@given(st.data())
def test_sw_equals_pot(data):
    """specs/quality.md §SW: equals POT's ot.sliced_wasserstein_distance with the same projections."""
    ot = pytest.importorskip("ot")
    n, m = data.draw(st.integers(2, 30)), data.draw(st.integers(2, 30))
    rng = np.random.default_rng(data.draw(st.integers(0, 1000)))
    A, B = rng.normal(size=(n, 4)), 2.0 * rng.normal(size=(m, 4))
    theta = np.asarray(projection_directions(4, 20, seed=3, xp=np))
    ours = sliced_wasserstein_distance(A, B, projections=theta)
    assert abs(ours - ot.sliced_wasserstein_distance(A, B, projections=theta)) <= 1e-10 * max(ours, 1.0)


def test_sw_self_zero_and_seeded(xp, dtype):
    """specs/quality.md §SW: SW(A, A) = 0; fixed directions: one seed gives one value on every backend."""
    A = np.random.default_rng(0).normal(size=(50, 5))
    A_xp = to_xp(A, xp, dtype)
    assert sliced_wasserstein_distance(A_xp, A_xp) == 0.0
    # A permutation of the rows is the same distribution.
    assert sliced_wasserstein_distance(A_xp, to_xp(A[::-1], xp, dtype)) <= 100 * eps_of(dtype)
    B = to_xp(A + 1.0, xp, dtype)
    one = sliced_wasserstein_distance(A_xp, B, seed=7)
    assert one == sliced_wasserstein_distance(A_xp, B, seed=7)
    host = sliced_wasserstein_distance(A.astype(dtype), (A + 1.0).astype(dtype), seed=7)
    assert abs(one - host) <= 100 * eps_of(dtype) * host
    squared = sliced_wasserstein_distance(A_xp, B, seed=7, squared=True)
    assert abs(squared - one**2) <= 100 * eps_of(dtype) * squared


def test_sw_chunked_equals_unchunked(xp, monkeypatch):
    """specs/quality.md §Memory: splitting the directions into blocks does not change the value."""
    rng = np.random.default_rng(1)
    A, B = to_xp(rng.normal(size=(30, 3)), xp), to_xp(rng.normal(size=(17, 3)), xp)
    whole = sliced_wasserstein_distance(A, B, n_projections=10)
    monkeypatch.setattr(quality, "_BLOCK_ENTRIES", 50)  # one direction per block
    assert abs(sliced_wasserstein_distance(A, B, n_projections=10) - whole) <= 1e-12 * whole


@given(st.data())
def test_coverage_inverse_brute_force(xp, dtype, data):
    """specs/quality.md §Coverage, §Inverse: equal the brute-force mean of nearest squared distances."""
    n, m, dim = data.draw(st.integers(1, 30)), data.draw(st.integers(1, 30)), data.draw(st.integers(1, 5))
    rng = np.random.default_rng(data.draw(st.integers(0, 1000)))
    D, C = rng.normal(size=(n, dim)).astype(dtype), rng.normal(size=(m, dim)).astype(dtype)
    d2 = ((D.astype(np.float64)[:, None, :] - C.astype(np.float64)[None, :, :]) ** 2).sum(axis=2)
    cov_ref, inv_ref = d2.min(axis=1).mean(), d2.min(axis=0).mean()
    Dx, Cx = to_xp(D, xp), to_xp(C, xp)
    tol = 1000 * eps_of(dtype)
    assert abs(coverage_error(Dx, Cx) - cov_ref) <= tol * max(cov_ref, 1.0)
    assert abs(inverse_error(Cx, Dx) - inv_ref) <= tol * max(inv_ref, 1.0)
    assert abs(coverage_error(Dx, Cx, chunk_size=3) - cov_ref) <= tol * max(cov_ref, 1.0)
    # A sample as large as the set is the set: exact.
    assert abs(coverage_error(Dx, Cx, max_points=n) - cov_ref) <= tol * max(cov_ref, 1.0)


def test_coverage_subset_is_zero_and_sampling(xp):
    """specs/quality.md §Coverage: data inside the compressed set has coverage 0; sampled estimate is a mean over a subset."""
    X = to_xp(np.random.default_rng(2).normal(size=(40, 3)), xp)
    # Zero up to the rounding of the GEMM form ||q||^2 - 2 q.b + ||b||^2 (norms about 3 here).
    assert coverage_error(X[:10, :], X) <= 100 * eps_of("float64")
    est = inverse_error(X, X[:20, :], max_points=15, seed=1)
    exact_rows = to_np(quality.nearest_neighbors(X, X[:20, :], 1)[0])[:, 0]
    assert min(exact_rows) - 1e-12 <= est <= max(exact_rows) + 1e-12


def test_compression_ratio():
    """specs/quality.md §Ratio: N * D / n_params."""
    assert compression_ratio(9000, 784, 70560) == 100.0
    assert compression_ratio(np.int64(10), 2, 5) == 4.0
    with pytest.raises(ValueError, match="n_params"):
        compression_ratio(10, 2, 0)
    with pytest.raises(TypeError, match="dim"):  # a float for an integer: TypeError (specs/errors.md §Scalars)
        compression_ratio(10, 2.5, 1)


def test_bad_inputs(xp):
    """specs/quality.md §Errors: dimension or dtype mismatch, NaN, empty sets, bad directions."""
    A = to_xp(np.ones((4, 3)), xp, "float64")
    with pytest.raises(ValueError, match="dimension"):
        sliced_wasserstein_distance(A, to_xp(np.ones((4, 2)), xp, "float64"))
    with pytest.raises(TypeError, match="dtype"):
        coverage_error(A, to_xp(np.ones((4, 3)), xp, "float32"))
    with pytest.raises(ValueError, match="compressed contains NaN"):
        coverage_error(A, to_xp(np.full((2, 3), np.nan), xp, "float64"))
    with pytest.raises(ValueError, match="data is empty"):
        inverse_error(A, to_xp(np.ones((0, 3)), xp, "float64"))
    with pytest.raises(ValueError, match="n_projections"):
        sliced_wasserstein_distance(A, A, n_projections=0)
    with pytest.raises(ValueError, match="projections"):
        sliced_wasserstein_distance(A, A, projections=to_xp(np.ones((2, 5)), xp, "float64"))
    with pytest.raises(ValueError, match="2 dimensions"):
        coverage_error(to_xp(np.ones(3), xp, "float64"), A)
