"""full and get_many against a NumPy float64 reference (specs/evaluate.md)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import abs_dense_from_cores, bound, dense_from_cores, tt_specs
from helpers import eps_of, to_np, to_xp
from tt_ref._backend import backend_name
from tt_ref.tt._creation import random_tt
from tt_ref.tt._evaluate import full, get_many


@given(data=st.data())
def test_full_matches_reference(xp, dtype, data):
    """specs/evaluate.md §full: C order, error below the core-product rounding bound."""
    shape, ranks, seed = data.draw(tt_specs())
    tt = random_tt(shape, ranks, seed=seed, dtype=dtype, backend=backend_name(xp))
    dense = full(tt)
    assert tuple(dense.shape) == shape
    assert dense.dtype == tt.dtype
    ref = dense_from_cores(tt.cores)
    scale = abs_dense_from_cores(tt.cores)
    assert np.all(np.abs(to_np(dense) - ref) <= bound(eps_of(dtype), tt.cores) * scale)


@given(data=st.data())
def test_get_many_matches_full(xp, dtype, data):
    """specs/evaluate.md §get_many: multi-indices and flat C-order indices give the same elements."""
    shape, ranks, seed = data.draw(tt_specs())
    tt = random_tt(shape, ranks, seed=seed, dtype=dtype, backend=backend_name(xp))
    batch = data.draw(st.integers(1, 20))
    rng = np.random.default_rng(seed)
    multi = np.stack([rng.integers(0, n, size=batch) for n in shape], axis=1)
    values = to_np(get_many(tt, to_xp(multi, xp)))
    ref = dense_from_cores(tt.cores)[tuple(multi.T)]
    scale = abs_dense_from_cores(tt.cores)[tuple(multi.T)]
    assert values.shape == (batch,)
    assert np.all(np.abs(values - ref) <= bound(eps_of(dtype), tt.cores) * scale)
    flat = np.ravel_multi_index(tuple(multi.T), shape)
    assert np.array_equal(to_np(get_many(tt, to_xp(flat, xp))), values)
    # Chunks split the batch only: the same bound whatever the chunk size.
    chunk = data.draw(st.integers(1, batch))
    chunked = to_np(get_many(tt, to_xp(multi, xp), chunk_size=chunk))
    assert np.all(np.abs(chunked - ref) <= bound(eps_of(dtype), tt.cores) * scale)


def test_get_many_matches_getitem(xp, dtype):
    """specs/evaluate.md §get_many: one element equals TensorTrain.__getitem__."""
    tt = random_tt((3, 4, 2, 5), (2, 3, 2), seed=7, dtype=dtype, backend=backend_name(xp))
    value = float(to_np(get_many(tt, to_xp(np.array([[2, 1, 0, 4]]), xp)))[0])
    assert abs(value - float(tt[2, 1, 0, 4])) <= 10 * eps_of(dtype) * float(abs_dense_from_cores(tt.cores)[2, 1, 0, 4])


def test_get_many_accepts_lists_and_empty_batch(xp):
    """specs/evaluate.md §get_many: nested lists are converted on tt's backend; B = 0 is allowed."""
    tt = random_tt((3, 4), 2, seed=1, backend=backend_name(xp))
    ref = dense_from_cores(tt.cores)
    assert np.allclose(to_np(get_many(tt, [[1, 2], [0, 3]])), [ref[1, 2], ref[0, 3]])
    empty = get_many(tt, to_xp(np.zeros((0, 2), dtype=np.int64), xp))
    assert tuple(empty.shape) == (0,)
    with pytest.raises(TypeError, match="indices must be an integer array"):
        get_many(tt, [[0.5, 1.0]])


def test_get_many_bad_input(xp):
    """specs/evaluate.md §Errors: range, shape, dtype and backend errors name the argument."""
    tt = random_tt((3, 4, 5), 2, seed=0, backend=backend_name(xp))
    with pytest.raises(IndexError, match=r"indices\[:, 1\] holds 4.*mode 1 of size 4"):
        get_many(tt, to_xp(np.array([[0, 0, 0], [1, 4, 2]]), xp))
    with pytest.raises(IndexError, match=r"indices\[:, 2\] holds -1"):
        get_many(tt, to_xp(np.array([[0, 0, -1]]), xp))
    with pytest.raises(IndexError, match="flat index 60 is out of range"):
        get_many(tt, to_xp(np.array([0, 60]), xp))
    with pytest.raises(ValueError, match=r"indices must have shape \(B, 3\)"):
        get_many(tt, to_xp(np.zeros((2, 2), dtype=np.int64), xp))
    with pytest.raises(TypeError, match="indices must be an integer array"):
        get_many(tt, to_xp(np.zeros((2, 3)), xp))
    with pytest.raises(TypeError, match="tt must be a TensorTrain"):
        get_many(np.zeros((3, 4, 5)), np.zeros((1, 3), dtype=np.int64))
    with pytest.raises(TypeError, match="tt must be a TensorTrain"):
        full(np.zeros((3, 4)))
    with pytest.raises(ValueError, match="chunk_size must be"):
        get_many(tt, to_xp(np.zeros((1, 3), dtype=np.int64), xp), chunk_size=0)


def test_get_many_rejects_other_backend():
    """specs/evaluate.md §Errors: indices from another backend are a TypeError naming both."""
    pytest.importorskip("array_api_strict")
    tt = random_tt((3, 4), 2, seed=0, backend="array_api_strict")
    with pytest.raises(TypeError, match="tt: .*indices: numpy"):
        get_many(tt, np.zeros((1, 2), dtype=np.int64))


def test_get_many_on_huge_tensor():
    """specs/evaluate.md §get_many: elements of a tensor with 10**40 entries, never formed."""
    tt = random_tt((10,) * 40, 3, seed=2)
    rng = np.random.default_rng(0)
    multi = rng.integers(0, 10, size=(5, 40))
    values = get_many(tt, multi)
    for row, value in zip(multi, values):
        assert abs(float(value) - float(tt[tuple(int(i) for i in row)])) <= 1e-12 * max(1.0, abs(float(value)))
    with pytest.raises(ValueError, match="flat indices cannot address"):
        get_many(tt, np.array([0, 1]))
