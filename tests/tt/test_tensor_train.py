"""TensorTrain: construction, validation, properties, immutability, indexing (specs/tensor_train.md)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import dense_from_cores, tt_specs
from helpers import eps_of, to_xp
from tt_ref import TensorTrain
from tt_ref._backend import backend_name
from tt_ref.tt._creation import random_tt
from tt_ref.tt._tensor_train import validate_cores


def _cores(xp, dtype, shapes):
    rng = np.random.default_rng(0)
    return [to_xp(rng.standard_normal(s), xp, dtype) for s in shapes]


def test_properties(xp, dtype):
    """specs/tensor_train.md §Format: shape, ranks incl. boundaries, n_params, dtype, backend."""
    tt = TensorTrain(_cores(xp, dtype, [(1, 2, 3), (3, 4, 5), (5, 6, 1)]))
    assert tt.shape == (2, 4, 6)
    assert tt.ranks == (1, 3, 5, 1)
    assert tt.ndim == 3 and tt.max_rank == 5
    assert tt.n_params == 6 + 60 + 30
    assert tt.dtype == getattr(xp, dtype)
    assert tt.backend == backend_name(xp)
    assert tt.xp is not None and tt.device is not None
    assert len(tt.cores) == 3 and isinstance(tt.cores, tuple)
    assert "TensorTrain(shape=(2, 4, 6)" in repr(tt)
    assert tt.astype("float32").dtype == xp.float32


def test_immutability(xp):
    """specs/tensor_train.md §Format: attributes cannot be set or deleted; operations return new objects."""
    tt = TensorTrain(_cores(xp, "float64", [(1, 2, 1)]))
    with pytest.raises(AttributeError, match="immutable"):
        tt.cores = ()
    with pytest.raises(AttributeError, match="immutable"):
        tt.extra = 1
    with pytest.raises(AttributeError, match="immutable"):
        del tt._cores
    with pytest.raises(TypeError):
        tt.cores[0] = None  # a tuple


@given(data=st.data())
def test_getitem_matches_reference(xp, dtype, data):
    """specs/tensor_train.md §Indexing: one element, negative indices from the end."""
    shape, ranks, seed = data.draw(tt_specs())
    tt = random_tt(shape, ranks, seed=seed, dtype=dtype, backend=backend_name(xp))
    dense = dense_from_cores(tt.cores)
    index = tuple(data.draw(st.integers(-n, n - 1)) for n in shape)
    value = tt[index if len(index) > 1 else index[0]]
    assert tuple(value.shape) == ()
    tol = 100 * eps_of(dtype) * max(1.0, float(np.max(np.abs(dense))))
    assert abs(float(value) - dense[index]) <= tol


def test_getitem_errors(xp):
    """specs/tensor_train.md §Indexing: IndexError naming the mode, wrong arity, non-integers."""
    tt = random_tt((3, 4), 2, backend=backend_name(xp))
    with pytest.raises(IndexError, match=r"index\[1\] = 4 is out of range for mode 1 of size 4"):
        tt[0, 4]
    with pytest.raises(IndexError, match=r"index\[0\] = -4 is out of range"):
        tt[-4, 0]
    with pytest.raises(IndexError, match="index must have 2 entries"):
        tt[0]
    with pytest.raises(IndexError, match=r"index\[0\] must be an integer"):
        tt[0.5, 1]
    assert float(tt[np.int64(1), 2]) == float(tt[1, 2])


def test_construction_errors(xp, dtype):
    """specs/tensor_train.md §Validation: ndim, ranks (both cores named), boundaries, empty, NaN."""
    with pytest.raises(ValueError, match=r"cores\[1\] must have 3 dimensions"):
        TensorTrain(_cores(xp, dtype, [(1, 2, 3), (3, 4)]))
    with pytest.raises(ValueError, match=r"rank mismatch between cores\[0\] and cores\[1\].*= 3 but.*= 2"):
        TensorTrain(_cores(xp, dtype, [(1, 2, 3), (2, 4, 1)]))
    with pytest.raises(ValueError, match="left boundary rank"):
        TensorTrain(_cores(xp, dtype, [(2, 2, 3), (3, 4, 1)]))
    with pytest.raises(ValueError, match="right boundary rank"):
        TensorTrain(_cores(xp, dtype, [(1, 2, 3), (3, 4, 2)]))
    with pytest.raises(ValueError, match="at least one core"):
        TensorTrain([])
    with pytest.raises(ValueError, match="empty dimension"):
        TensorTrain(_cores(xp, dtype, [(1, 0, 1)]))
    bad = np.ones((1, 2, 1))
    bad[0, 1, 0] = np.nan
    with pytest.raises(ValueError, match=r"cores\[1\] contains NaN or inf"):
        TensorTrain([to_xp(np.ones((1, 2, 1)), xp, dtype), to_xp(bad, xp, dtype)])
    bad[0, 1, 0] = np.inf
    with pytest.raises(ValueError, match=r"cores\[0\] contains NaN or inf"):
        TensorTrain([to_xp(bad, xp, dtype)])
    with pytest.raises(TypeError, match="must be a sequence of arrays"):
        TensorTrain("cores")


def test_dtype_and_backend_errors(xp):
    """specs/tensor_train.md §Validation: disagreeing dtypes and mixed backends are TypeErrors."""
    with pytest.raises(TypeError, match=r"cores\[1\] has dtype .*float32.* but cores\[0\] has .*float64"):
        TensorTrain([to_xp(np.ones((1, 2, 1)), xp, "float64"), to_xp(np.ones((1, 2, 1)), xp, "float32")])
    with pytest.raises(TypeError, match=r"cores\[0\] must be float32 or float64"):
        TensorTrain([to_xp(np.ones((1, 2, 1), dtype=np.int64), xp)])
    other = "numpy" if backend_name(xp) != "numpy" else "array_api_strict"
    from tt_ref._backend import namespace_for

    with pytest.raises(TypeError, match="one array backend"):
        TensorTrain([to_xp(np.ones((1, 2, 1)), xp), namespace_for(other).ones((1, 2, 1))])


def test_validate_cores_variants(xp):
    """specs/tensor_train.md §Validation: 4-D cores (TT-matrices) and a free left rank (point clouds)."""
    cores, got_xp = validate_cores(_cores(xp, "float64", [(1, 2, 3, 2), (2, 2, 2, 1)]), core_ndim=4)
    assert len(cores) == 2 and got_xp is not None
    validate_cores(_cores(xp, "float64", [(7, 2, 3), (3, 4, 1)]), left_rank=None)
    with pytest.raises(ValueError, match=r"weights\[0\] must have 4 dimensions"):
        validate_cores(_cores(xp, "float64", [(1, 2, 1)]), core_ndim=4, name="weights")
