"""TTMatrix, ttm_svd, to_dense, matvec against dense references (specs/tt_matrix.md)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import dense_from_cores
from helpers import eps_of, rel_err, to_np, to_xp
from tt_ref._backend import backend_name
from tt_ref.tt._creation import random_tt
from tt_ref.tt._evaluate import full
from tt_ref.tt._tt_matrix import TTMatrix, matvec, to_dense, ttm_svd


@st.composite
def ttm_specs(draw, max_ndim: int = 3, max_size: int = 3, max_rank: int = 3):
    d = draw(st.integers(1, max_ndim))
    row_shape = tuple(draw(st.lists(st.integers(1, max_size), min_size=d, max_size=d)))
    col_shape = tuple(draw(st.lists(st.integers(1, max_size), min_size=d, max_size=d)))
    ranks = (1,) + tuple(draw(st.lists(st.integers(1, max_rank), min_size=d - 1, max_size=d - 1))) + (1,)
    seed = draw(st.integers(0, 2**31 - 1))
    return row_shape, col_shape, ranks, seed


def _random_ttm(row_shape, col_shape, ranks, seed, xp, dtype):
    rng = np.random.default_rng(seed)
    cores = [
        to_xp(rng.standard_normal((ranks[k], m, n, ranks[k + 1])), xp, dtype)
        for k, (m, n) in enumerate(zip(row_shape, col_shape))
    ]
    return TTMatrix(cores)


def _dense_by_loops(ttm) -> np.ndarray:
    """Element by element from the definition, float64 on the host."""
    cores = [to_np(c).astype(np.float64) for c in ttm.cores]
    M, N = ttm.shape
    out = np.zeros((M, N))
    for i in np.ndindex(*ttm.row_shape):
        for j in np.ndindex(*ttm.col_shape):
            value = np.ones((1, 1))
            for k, core in enumerate(cores):
                value = value @ core[:, i[k], j[k], :]
            out[np.ravel_multi_index(i, ttm.row_shape), np.ravel_multi_index(j, ttm.col_shape)] = value[0, 0]
    return out


@given(data=st.data())
def test_to_dense_matches_definition(xp, dtype, data):
    """specs/tt_matrix.md §Format: C-order row and column multi-indices."""
    row_shape, col_shape, ranks, seed = data.draw(ttm_specs())
    ttm = _random_ttm(row_shape, col_shape, ranks, seed, xp, dtype)
    dense = to_dense(ttm)
    assert tuple(dense.shape) == ttm.shape
    assert rel_err(dense, _dense_by_loops(ttm)) <= 100 * eps_of(dtype)


@given(data=st.data())
def test_matvec_dense_batch(xp, dtype, data):
    """specs/tt_matrix.md §matvec: a (B, N) batch and a single (N,) vector vs the dense product."""
    row_shape, col_shape, ranks, seed = data.draw(ttm_specs())
    ttm = _random_ttm(row_shape, col_shape, ranks, seed, xp, dtype)
    dense = _dense_by_loops(ttm)
    batch = data.draw(st.integers(1, 5))
    x = np.random.default_rng(seed + 1).standard_normal((batch, ttm.shape[1]))
    y = matvec(ttm, to_xp(x, xp, dtype))
    assert tuple(y.shape) == (batch, ttm.shape[0])
    assert rel_err(y, x @ dense.T) <= 100 * eps_of(dtype) * ttm.ndim * ttm.max_rank
    # specs/tt_matrix.md §Test tolerances: the element-wise contract c K unit (|W| |x|).
    abs_dense = _dense_by_loops(TTMatrix([xp.abs(c) for c in ttm.cores]))
    k = sum(int(c.shape[0]) * int(c.shape[2]) + 1 for c in ttm.cores) + 2
    x_used = to_np(to_xp(x, xp, dtype)).astype(np.float64)
    assert np.all(np.abs(to_np(y) - x_used @ dense.T) <= 4 * k * eps_of(dtype) * (np.abs(x_used) @ abs_dense.T))
    y1 = matvec(ttm, to_xp(x[0, :], xp, dtype))
    assert tuple(y1.shape) == (ttm.shape[0],)
    assert rel_err(y1, dense @ x[0, :]) <= 100 * eps_of(dtype) * ttm.ndim * ttm.max_rank


@given(data=st.data())
def test_matvec_tt_vector(xp, dtype, data):
    """specs/tt_matrix.md §matvec: TT vector in, TT vector out with ranks r(ttm) * r(x)."""
    row_shape, col_shape, ranks, seed = data.draw(ttm_specs())
    ttm = _random_ttm(row_shape, col_shape, ranks, seed, xp, dtype)
    vector = random_tt(col_shape, 2, seed=seed, dtype=dtype, backend=backend_name(xp))
    result = matvec(ttm, vector)
    assert result.shape == row_shape
    assert result.ranks == tuple(a * b for a, b in zip(ttm.ranks, vector.ranks))
    ref = _dense_by_loops(ttm) @ dense_from_cores(vector.cores).reshape(-1)
    assert rel_err(to_np(full(result)).reshape(-1), ref) <= 100 * eps_of(dtype) * ttm.ndim * ttm.max_rank


@given(data=st.data())
def test_ttm_svd_bound_and_round_trip(xp, dtype, data):
    """specs/tt_matrix.md §ttm_svd: ||A - TTM||_F <= eps ||A||_F; exact ranks of a TT-matrix are recovered."""
    row_shape, col_shape, ranks, seed = data.draw(ttm_specs())
    ttm = _random_ttm(row_shape, col_shape, ranks, seed, xp, dtype)
    dense = to_dense(ttm)
    eps = data.draw(st.sampled_from([0.3, 0.1, 1e-2]))
    approx, error = ttm_svd(dense, row_shape, col_shape, eps=eps, return_error=True)
    assert approx.row_shape == row_shape and approx.col_shape == col_shape
    actual = rel_err(to_dense(approx), dense)
    assert actual <= eps * (1 + 10 * eps_of(dtype)) + 100 * eps_of(dtype)
    assert abs(actual - error) <= 100 * eps_of(dtype) + 1e-3 * error
    # eps near the working precision: reconstruct, with ranks no larger than the generating ones.
    exact = ttm_svd(dense, row_shape, col_shape, eps=float(np.sqrt(eps_of(dtype))))
    assert rel_err(to_dense(exact), dense) <= float(np.sqrt(eps_of(dtype))) * 1.01
    assert all(r <= g for r, g in zip(exact.ranks, ttm.ranks))


def test_ttm_svd_max_rank(xp):
    """specs/tt_matrix.md §ttm_svd: max_rank caps the ranks; the achieved error is reported."""
    rng = np.random.default_rng(3)
    dense = to_xp(rng.standard_normal((12, 12)), xp)
    approx, error = ttm_svd(dense, (3, 4), (4, 3), max_rank=2, return_error=True)
    assert approx.max_rank <= 2
    assert abs(rel_err(to_dense(approx), dense) - error) <= 1e-10


def test_properties_and_immutability(xp):
    """specs/tt_matrix.md §Format: shapes, ranks, n_params, backend moves, immutability."""
    ttm = _random_ttm((2, 3), (4, 5), (1, 3, 1), 0, xp, "float64")
    assert ttm.shape == (6, 20) and ttm.ndim == 2 and ttm.ranks == (1, 3, 1) and ttm.max_rank == 3
    assert ttm.n_params == 2 * 4 * 3 + 3 * 3 * 5
    assert ttm.backend == backend_name(xp)
    assert "TTMatrix(row_shape=(2, 3)" in repr(ttm)
    moved = ttm.to_backend("numpy")
    assert moved.backend == "numpy"
    assert all(np.array_equal(to_np(a), to_np(b)) for a, b in zip(moved.cores, ttm.cores))
    assert ttm.astype("float32").dtype == xp.float32
    with pytest.raises(AttributeError, match="immutable"):
        ttm.cores = ()


def test_bad_input(xp):
    """specs/tt_matrix.md §Errors: every clear error names its argument."""
    ttm = _random_ttm((2, 3), (4, 5), (1, 3, 1), 0, xp, "float64")
    with pytest.raises(ValueError, match="must have 4 dimensions"):
        TTMatrix([to_xp(np.ones((1, 2, 1)), xp)])
    with pytest.raises(ValueError, match="rank mismatch between cores"):
        TTMatrix([to_xp(np.ones((1, 2, 2, 2)), xp), to_xp(np.ones((3, 2, 2, 1)), xp)])
    with pytest.raises(ValueError, match=r"x must have shape \(20,\) or \(B, 20\)"):
        matvec(ttm, to_xp(np.ones((2, 19)), xp))
    with pytest.raises(TypeError, match="x has dtype"):
        matvec(ttm, to_xp(np.ones(20), xp, "float32"))
    with pytest.raises(ValueError, match="x.shape = .* must equal ttm.col_shape"):
        matvec(ttm, random_tt((5, 4), 2, backend=backend_name(xp)))
    with pytest.raises(TypeError, match="ttm must be a TTMatrix"):
        to_dense(np.ones((2, 2)))
    dense = to_xp(np.ones((6, 20)), xp)
    with pytest.raises(ValueError, match=r"prod\(row_shape\) = 8 must equal matrix.shape\[0\] = 6"):
        ttm_svd(dense, (2, 4), (4, 5))
    with pytest.raises(ValueError, match="same number d >= 1 of modes"):
        ttm_svd(dense, (6,), (4, 5))
    with pytest.raises(ValueError, match="matrix must have 2 dimensions"):
        ttm_svd(to_xp(np.ones(6), xp), (6,), (1,))
    with pytest.raises(ValueError, match="matrix contains NaN"):
        ttm_svd(to_xp(np.full((6, 20), np.nan), xp), (2, 3), (4, 5))
    other = "numpy" if backend_name(xp) != "numpy" else "array_api_strict"
    with pytest.raises(TypeError, match="one array backend"):
        matvec(ttm, random_tt((4, 5), 2, backend=other))
