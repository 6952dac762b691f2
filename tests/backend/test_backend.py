"""The backend layer: fast paths agree with the standard-only paths (specs/backend.md)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import to_np, to_xp
from tt_ref._backend import (
    array_namespace,
    as_float_array,
    backend_name,
    default_rng,
    from_numpy,
    namespace_for,
    random_choice,
    random_integers,
    random_normal,
    random_uniform,
    resolve_dtype,
    scatter_add,
    take_along_last_axis,
    to_backend,
    topk_smallest,
)
from tt_ref._backend._kernels import _topk_by_blocks

# Fast paths exist on numpy and cupy; array_api_strict only has the standard path.
_FAST = ("numpy", "cupy")


@given(data=st.data())
def test_scatter_add_fast_path_matches_standard(backend, dtype, data):
    """specs/backend.md §Scatter-add: np.add.at / cupyx.scatter_add == one-hot matmul, repeated rows included."""
    if backend not in _FAST:
        pytest.skip("no fast path on array_api_strict")
    xp = namespace_for(backend)
    n_rows = data.draw(st.integers(1, 8))
    batch = data.draw(st.integers(1, 30))
    trailing = tuple(data.draw(st.lists(st.integers(1, 3), max_size=2)))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**31 - 1)))
    indices = to_xp(rng.integers(0, n_rows, size=batch), xp)
    values = to_xp(rng.standard_normal((batch,) + trailing), xp, dtype)
    fast = to_np(scatter_add(n_rows, indices, values, xp=xp))
    standard = to_np(scatter_add(n_rows, indices, values, xp=xp, force_standard=True))
    reference = np.zeros((n_rows,) + trailing)
    np.add.at(reference, to_np(indices), to_np(values).astype(np.float64))
    assert fast.shape == standard.shape == (n_rows,) + trailing
    tol = 10 * np.finfo(dtype).eps * max(1.0, float(np.abs(to_np(values)).sum()))
    assert np.max(np.abs(fast - reference), initial=0.0) <= tol
    assert np.max(np.abs(standard - reference), initial=0.0) <= tol


def test_scatter_add_empty_batch():
    """specs/backend.md §Scatter-add: an empty batch gives zeros on every path."""
    pytest.importorskip("array_api_strict")
    xp = namespace_for("array_api_strict")
    out = scatter_add(3, xp.asarray([], dtype=xp.int64), xp.zeros((0,)), xp=xp)
    assert to_np(out).tolist() == [0.0, 0.0, 0.0]


def test_scatter_add_standard_path_on_strict():
    """specs/backend.md §Scatter-add: the standard-only path runs on array_api_strict."""
    pytest.importorskip("array_api_strict")
    xp = namespace_for("array_api_strict")
    out = scatter_add(3, xp.asarray([0, 2, 0, 2, 2]), xp.asarray([[1.0], [2.0], [3.0], [4.0], [5.0]]), xp=xp)
    assert to_np(out).ravel().tolist() == [4.0, 0.0, 11.0]


@given(data=st.data())
def test_topk_fast_path_matches_standard_with_ties(backend, data):
    """specs/backend.md §Top-k: same values and indices on every path; ties go to the smaller index."""
    if backend not in _FAST:
        pytest.skip("no fast path on array_api_strict")
    xp = namespace_for(backend)
    n_rows = data.draw(st.integers(1, 6))
    n_cols = data.draw(st.integers(8, 80))
    k = data.draw(st.integers(1, max(1, n_cols // 4 - 1)))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**31 - 1)))
    # Few distinct values make ties (also at the k-th place) common; many keep the
    # argpartition path from falling back to the full sort.
    n_distinct = data.draw(st.sampled_from([1, 3, 20, 10_000]))
    x_np = rng.integers(0, n_distinct, size=(n_rows, n_cols)).astype(np.float64)
    x = to_xp(x_np, xp)
    fast_values, fast_ids = topk_smallest(x, k, xp=xp)
    std_values, std_ids = topk_smallest(x, k, xp=xp, method="sort")
    expected_ids = np.argsort(x_np, axis=1, kind="stable")[:, :k]
    assert np.array_equal(to_np(fast_ids), expected_ids)
    assert np.array_equal(to_np(std_ids), expected_ids)
    assert np.array_equal(to_np(fast_values), np.take_along_axis(x_np, expected_ids, axis=1))
    assert np.array_equal(to_np(std_values), to_np(fast_values))


@given(data=st.data())
def test_topk_every_method_is_exact_with_ties_and_inf(backend, data):
    """specs/backend.md §Top-k: "sort", "blocks" (any block width) and "auto" give the indices
    of a stable full sort, with ties at the k-th place, +inf entries and padded last blocks."""
    xp = namespace_for(backend)
    n_rows = data.draw(st.integers(1, 5))
    n_cols = data.draw(st.integers(1, 300))
    k = data.draw(st.integers(1, max(1, n_cols // data.draw(st.sampled_from([1, 4, 64])))))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**31 - 1)))
    n_distinct = data.draw(st.sampled_from([1, 2, 5, 50, 10_000]))
    x_np = rng.integers(0, n_distinct, size=(n_rows, n_cols)).astype(np.float64)
    x_np[rng.random(x_np.shape) < data.draw(st.sampled_from([0.0, 0.3, 1.0]))] = np.inf
    x = to_xp(x_np, xp)
    expected_ids = np.argsort(x_np, axis=1, kind="stable")[:, :k]
    expected_values = np.take_along_axis(x_np, expected_ids, axis=1)
    # Any width that leaves at least k blocks (the last one padded when it does not divide).
    block = data.draw(st.integers(1, max(1, n_cols // k)))
    results = [topk_smallest(x, k, xp=xp, method=m) for m in ("auto", "sort", "blocks")]
    results.append(_topk_by_blocks(x, k, block, xp=xp))
    for values, ids in results:
        assert np.array_equal(to_np(ids), expected_ids)
        assert np.array_equal(to_np(values), expected_values)


def test_topk_on_strict_and_bad_k():
    """specs/backend.md §Top-k: ascending with index tie-break on array_api_strict; k out of range."""
    pytest.importorskip("array_api_strict")
    xp = namespace_for("array_api_strict")
    values, ids = topk_smallest(xp.asarray([[3.0, 1.0, 1.0, 0.0]]), 3, xp=xp)
    assert to_np(values).tolist() == [[0.0, 1.0, 1.0]]
    assert to_np(ids).tolist() == [[3, 1, 2]]
    assert to_np(take_along_last_axis(xp.asarray([[5.0, 6.0]]), xp.asarray([[1, 0]]), xp=xp)).tolist() == [[6.0, 5.0]]
    with pytest.raises(ValueError, match=r"k must be in \[1, 4\]"):
        topk_smallest(xp.asarray([[3.0, 1.0, 1.0, 0.0]]), 5, xp=xp)


@given(seed=st.integers(0, 2**63 - 1))
def test_random_helpers_bitwise_across_backends(backend, dtype, seed):
    """specs/backend.md §Random numbers: same seed -> bitwise the same numbers (1e-12 relative on cupy)."""
    xp = namespace_for(backend)
    ref = namespace_for("numpy")
    pairs = [
        (random_normal(seed, (4, 3), xp=xp, dtype=dtype), random_normal(seed, (4, 3), xp=ref, dtype=dtype)),
        (random_uniform(seed, (5,), xp=xp, dtype=dtype, low=-2.0, high=3.0), random_uniform(seed, (5,), xp=ref, dtype=dtype, low=-2.0, high=3.0)),
        (random_integers(seed, 0, 7, (6,), xp=xp), random_integers(seed, 0, 7, (6,), xp=ref)),
        (random_choice(seed, 20, 5, xp=xp), random_choice(seed, 20, 5, xp=ref)),
    ]
    for got, expected in pairs:
        got, expected = to_np(got), to_np(expected)
        if backend == "cupy" and got.dtype.kind == "f":
            assert np.linalg.norm(got - expected) <= 1e-12 * np.linalg.norm(expected)
        else:
            assert np.array_equal(got, expected)
    assert to_np(random_normal(seed, (3,), xp=xp, dtype=dtype)).dtype == np.dtype(dtype)
    choice = to_np(random_choice(seed, 20, 5, xp=xp))
    assert len(set(choice.tolist())) == 5 and choice.min() >= 0 and choice.max() < 20
    assert to_np(random_uniform(seed, (50,), xp=xp, low=-2.0, high=3.0)).min() >= -2.0


def test_generator_is_a_stream():
    """specs/backend.md §Random numbers: a Generator passed as seed is advanced, not reset."""
    xp = namespace_for("numpy")
    rng = default_rng(3)
    assert default_rng(rng) is rng
    first, second = random_normal(rng, (3,), xp=xp), random_normal(rng, (3,), xp=xp)
    assert not np.array_equal(first, second)
    assert np.array_equal(first, random_normal(3, (3,), xp=xp))


def test_to_backend_round_trip(backend, dtype):
    """specs/backend.md §Moving data: numpy -> backend -> numpy is bitwise the identity, for arrays and TTs."""
    from tt_ref.tt._creation import random_tt

    host = np.random.default_rng(0).standard_normal((3, 4)).astype(dtype)
    moved = to_backend(host, backend)
    assert backend_name(array_namespace(moved)) == backend
    assert np.array_equal(to_np(to_backend(moved, "numpy")), host)
    tt = random_tt((3, 4, 5), 2, seed=1, dtype=dtype)
    back = to_backend(to_backend(tt, backend), "numpy")
    assert to_backend(tt, backend).backend == backend
    assert all(np.array_equal(to_np(a), to_np(b)) for a, b in zip(back.cores, tt.cores))
    pair = to_backend((host, host), backend)
    assert isinstance(pair, tuple) and backend_name(array_namespace(*pair)) == backend
    with pytest.raises(ValueError, match="backend must be one of"):
        to_backend(host, "jax")


def test_array_namespace_mixing_error():
    """specs/backend.md §Namespaces: mixing backends is a TypeError naming each argument."""
    pytest.importorskip("array_api_strict")
    strict = namespace_for("array_api_strict")
    with pytest.raises(TypeError, match=r"queries: numpy.ndarray, base: array_api_strict"):
        array_namespace(np.ones(2), strict.ones(2), names=("queries", "base"))
    with pytest.raises(ValueError, match="backend must be one of"):
        namespace_for("torch")


def test_resolve_dtype_and_from_numpy(xp):
    """specs/backend.md §Dtypes: names, NumPy and xp dtypes resolve; others are a TypeError."""
    assert resolve_dtype("float32", xp) == xp.float32
    assert resolve_dtype(np.float64, xp) == xp.float64
    assert resolve_dtype(xp.float32, xp) == xp.float32
    assert resolve_dtype(None, xp) == xp.float64
    with pytest.raises(TypeError, match="dtype must be float32 or float64"):
        resolve_dtype("int8", xp)
    assert from_numpy(np.ones(3), xp, dtype="float32").dtype == xp.float32


def test_as_float_array_errors(xp, dtype):
    """specs/backend.md §Validation: NaN/inf, ndim and dtype errors name the argument."""
    good = to_xp(np.ones((2, 3)), xp, dtype)
    assert as_float_array(good, name="data", ndim=2) is good
    ints = as_float_array(to_xp(np.ones((2, 3), dtype=np.int64), xp), name="data")
    assert ints.dtype == xp.float64
    with pytest.raises(ValueError, match="data contains NaN or inf"):
        as_float_array(to_xp(np.array([[1.0, np.nan]]), xp, dtype), name="data")
    with pytest.raises(ValueError, match="data contains NaN or inf"):
        as_float_array(to_xp(np.array([np.inf]), xp, dtype), name="data")
    with pytest.raises(ValueError, match=r"data must have 1 dimensions, got shape \(2, 3\)"):
        as_float_array(good, name="data", ndim=1)
    with pytest.raises(TypeError, match="data must have a real floating dtype"):
        as_float_array(to_xp(np.ones(2, dtype=np.complex128), xp), name="data")
    with pytest.raises(TypeError, match="data must be an array"):
        as_float_array([1.0, 2.0], name="data")
