"""random_tt, zeros, ones (specs/backend.md §Random numbers, specs/tensor_train.md §Creation)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import dense_from_cores, tt_specs
from helpers import to_np
from tt_ref.tt._creation import ones, random_tt, zeros


@given(data=st.data())
def test_seed_gives_same_cores_on_every_backend(backend, dtype, data):
    """specs/backend.md §Random numbers: bitwise equal on numpy and array_api_strict, 1e-12 on cupy."""
    shape, ranks, seed = data.draw(tt_specs())
    reference = random_tt(shape, ranks, seed=seed, dtype=dtype, backend="numpy")
    other = random_tt(shape, ranks, seed=seed, dtype=dtype, backend=backend)
    assert other.backend == backend
    for core_ref, core in zip(reference.cores, other.cores):
        core_ref, core = to_np(core_ref), to_np(core)
        assert core.dtype == np.dtype(dtype)
        if backend == "cupy":
            assert np.linalg.norm(core - core_ref) <= 1e-12 * np.linalg.norm(core_ref)
        else:
            assert np.array_equal(core, core_ref)


def test_seed_changes_cores_and_generator_streams():
    """specs/backend.md §Random numbers: other seeds differ; a Generator is consumed as a stream."""
    a = random_tt((3, 4, 5), 2, seed=0)
    b = random_tt((3, 4, 5), 2, seed=1)
    assert not np.array_equal(to_np(a.cores[1]), to_np(b.cores[1]))
    rng = np.random.default_rng(0)
    first, second = random_tt((3, 4), 2, seed=rng), random_tt((3, 4), 2, seed=rng)
    same = random_tt((3, 4), 2, seed=0)
    assert all(np.array_equal(to_np(c), to_np(r)) for c, r in zip(first.cores, same.cores))
    assert not np.array_equal(to_np(first.cores[0]), to_np(second.cores[0]))


def test_draw_order_is_core_one_first():
    """specs/backend.md §Random numbers: core 1 is drawn first, each scaled by 1/sqrt(r_j) on the host."""
    tt = random_tt((3, 4, 5), (2, 3), seed=11, scale=2.0)
    rng = np.random.default_rng(11)
    expected = [
        rng.standard_normal((1, 3, 2)) * (1.0 / np.sqrt(2)) * 2.0,
        rng.standard_normal((2, 4, 3)) * (1.0 / np.sqrt(3)),
        rng.standard_normal((3, 5, 1)) * 1.0,
    ]
    for core, ref in zip(tt.cores, expected):
        assert np.array_equal(to_np(core), ref)


def test_ranks_forms_and_entry_scale():
    """specs/tensor_train.md §Creation: int, d-1 and d+1 rank forms; entries have variance scale**2."""
    assert random_tt((2, 3, 4), 2).ranks == (1, 2, 2, 1)
    assert random_tt((2, 3, 4), (3, 5)).ranks == (1, 3, 5, 1)
    assert random_tt((2, 3, 4), [1, 3, 5, 1]).ranks == (1, 3, 5, 1)
    assert random_tt((7,), 4).ranks == (1, 1)
    # E[A_i^2] = scale^2 whatever the ranks; averaged over seeds to tame the sampling noise.
    for ranks in (1, 8):
        mean_square = np.mean([np.mean(dense_from_cores(random_tt((6,) * 4, ranks, seed=s, scale=3.0).cores) ** 2) for s in range(40)])
        assert 9.0 / 2 < mean_square < 9.0 * 2


def test_bad_input():
    """specs/tensor_train.md §Creation: ranks, shape, dtype, backend and scale errors name the argument."""
    with pytest.raises(ValueError, match="ranks must be >= 1"):
        random_tt((2, 3, 4), (2, 0))
    with pytest.raises(ValueError, match="ranks must be >= 1"):
        random_tt((2, 3), -1)
    with pytest.raises(ValueError, match="ranks must be an int, d - 1 = 2"):
        random_tt((2, 3, 4), (2, 2, 2))
    with pytest.raises(ValueError, match="must start and end with 1"):
        random_tt((2, 3, 4), (2, 2, 2, 2))
    with pytest.raises(TypeError, match=r"ranks\[0\] must be an int"):
        random_tt((2, 3), [1.5])
    with pytest.raises(ValueError, match=r"shape\[1\] must be >= 1"):
        random_tt((2, 0, 4), 2)
    with pytest.raises(ValueError, match="shape must have at least one mode"):
        random_tt((), 2)
    with pytest.raises(TypeError, match="dtype must be float32 or float64"):
        random_tt((2, 3), 2, dtype="int32")
    with pytest.raises(ValueError, match="backend must be one of"):
        random_tt((2, 3), 2, backend="torch")
    with pytest.raises(ValueError, match="scale must be finite"):
        random_tt((2, 3), 2, scale=float("inf"))


def test_zeros_and_ones(xp, dtype):
    """specs/tensor_train.md §Creation: rank-1 constant tensors on any backend."""
    from tt_ref._backend import backend_name

    backend = backend_name(xp)
    z, o = zeros((2, 3, 4), dtype=dtype, backend=backend), ones((2, 3, 4), dtype=dtype, backend=backend)
    assert z.ranks == o.ranks == (1, 1, 1, 1)
    assert z.backend == o.backend == backend
    assert np.array_equal(dense_from_cores(z.cores), np.zeros((2, 3, 4)))
    assert np.array_equal(dense_from_cores(o.cores), np.ones((2, 3, 4)))
