"""add, sub, scale, hadamard, dot, norm against the dense computation (specs/arithmetic.md)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import abs_dense_from_cores, bound, dense_from_cores, tt_specs
from helpers import eps_of, to_np, to_xp
from tt_ref import TensorTrain
from tt_ref._backend import backend_name
from tt_ref.tt._arithmetic import add, dot, hadamard, norm, scale, sub
from tt_ref.tt._creation import ones, random_tt
from tt_ref.tt._evaluate import full


def _pair(xp, dtype, data):
    shape, ranks_a, seed = data.draw(tt_specs())
    ranks_b = tuple(data.draw(st.lists(st.integers(1, 3), min_size=len(shape) - 1, max_size=len(shape) - 1)))
    backend = backend_name(xp)
    a = random_tt(shape, ranks_a, seed=seed, dtype=dtype, backend=backend)
    b = random_tt(shape, ranks_b, seed=seed + 1, dtype=dtype, backend=backend)
    return a, b


@given(data=st.data())
def test_add_sub_match_dense(xp, dtype, data):
    """specs/arithmetic.md §add/sub: block cores, ranks add, values exact to rounding."""
    a, b = _pair(xp, dtype, data)
    dense_a, dense_b = dense_from_cores(a.cores), dense_from_cores(b.cores)
    scale_ab = abs_dense_from_cores(a.cores) + abs_dense_from_cores(b.cores)
    tol = bound(eps_of(dtype), a.cores) + bound(eps_of(dtype), b.cores)
    for result, ref in ((add(a, b), dense_a + dense_b), (sub(a, b), dense_a - dense_b), (a + b, dense_a + dense_b)):
        assert result.dtype == a.dtype
        if a.ndim > 1:
            assert result.ranks[1:-1] == tuple(ra + rb for ra, rb in zip(a.ranks[1:-1], b.ranks[1:-1]))
        assert np.all(np.abs(to_np(full(result)) - ref) <= tol * scale_ab)


@given(data=st.data())
def test_scale_matches_dense(xp, dtype, data):
    """specs/arithmetic.md §scale: first core times alpha, ranks unchanged."""
    shape, ranks, seed = data.draw(tt_specs())
    # |alpha| >= 1e-6 (or 0): a float64 subnormal alpha underflows in float32, which
    # is the dtype's range, not an error of scale.
    alpha = data.draw(st.floats(-10.0, 10.0, allow_nan=False).filter(lambda v: v == 0.0 or abs(v) >= 1e-6))
    a = random_tt(shape, ranks, seed=seed, dtype=dtype, backend=backend_name(xp))
    result = scale(a, alpha)
    assert result.ranks == a.ranks
    ref = alpha * dense_from_cores(a.cores)
    tol = bound(eps_of(dtype), a.cores) * abs(alpha) * abs_dense_from_cores(a.cores)
    assert np.all(np.abs(to_np(full(result)) - ref) <= tol)
    for other in (2 * a, a * 2.0, a / 0.5):
        assert np.all(np.abs(to_np(full(other)) - 2 * dense_from_cores(a.cores)) <= 2 * bound(eps_of(dtype), a.cores) * abs_dense_from_cores(a.cores))


@given(data=st.data())
def test_hadamard_matches_dense(xp, dtype, data):
    """specs/arithmetic.md §hadamard: Kronecker cores, ranks multiply."""
    a, b = _pair(xp, dtype, data)
    result = hadamard(a, b)
    assert result.ranks == tuple(ra * rb for ra, rb in zip(a.ranks, b.ranks))
    ref = dense_from_cores(a.cores) * dense_from_cores(b.cores)
    scale_ab = abs_dense_from_cores(a.cores) * abs_dense_from_cores(b.cores)
    assert np.all(np.abs(to_np(full(result)) - ref) <= bound(eps_of(dtype), result.cores) * scale_ab)
    assert np.array_equal(to_np(full(a * b)), to_np(full(result)))


@given(data=st.data())
def test_dot_and_norm_match_dense(xp, dtype, data):
    """specs/arithmetic.md §dot, §norm: Python floats equal to the dense sums."""
    a, b = _pair(xp, dtype, data)
    dense_a, dense_b = dense_from_cores(a.cores), dense_from_cores(b.cores)
    value = dot(a, b)
    assert isinstance(value, float)
    scale_ab = float(np.sum(abs_dense_from_cores(a.cores) * abs_dense_from_cores(b.cores)))
    tol = bound(eps_of(dtype), a.cores) + bound(eps_of(dtype), b.cores) + dense_a.size * eps_of(dtype)
    assert abs(value - float(np.sum(dense_a * dense_b))) <= tol * scale_ab
    value = norm(a)
    assert isinstance(value, float)
    ref = float(np.linalg.norm(dense_a))
    assert abs(value - ref) <= 100 * eps_of(dtype) * a.ndim * a.max_rank * ref
    # The contract (specs/arithmetic.md §norm): |v^2 - ||A||^2| <= c K unit prod ||G_j||_F^2.
    scale = math.prod(float(np.linalg.norm(to_np(c).astype(np.float64))) for c in a.cores)
    k = sum(2 * n * r + r * n + r2 for n, r, r2 in zip(a.shape, a.ranks[:-1], a.ranks[1:])) + 2 * a.ndim
    assert abs(value**2 - ref**2) <= 4 * k * eps_of(dtype) * scale**2


def test_dot_and_norm_bounds_are_backward_not_relative(xp):
    """specs/arithmetic.md §dot, §norm: under cancellation (a nearly orthogonal pair; a minus
    almost itself) a bound relative to the result fails while the backward bound holds."""
    a = TensorTrain([to_xp(c, xp) for c in random_tt((3, 4, 2, 3), 2, seed=3).cores])
    b = TensorTrain([to_xp(c, xp) for c in random_tt((3, 4, 2, 3), 3, seed=4).cores])
    near = sub(b, scale(a, dot(a, b) / dot(a, a) * (1 - 1e-12)))  # <a, near> cancels
    exact = float(np.sum(dense_from_cores(a.cores) * dense_from_cores(near.cores)))
    absdot = float(np.sum(abs_dense_from_cores(a.cores) * abs_dense_from_cores(near.cores)))
    err = abs(dot(a, near) - exact)
    assert err <= 4 * 60 * eps_of("float64") * absdot
    assert err > 100 * eps_of("float64") * abs(exact)  # the relative claim a guide once made is false here
    cancelling = sub(a, scale(a, 1 - 1e-9))
    ref = float(np.linalg.norm(dense_from_cores(a.cores))) * 1e-9
    scale_p = math.prod(float(np.linalg.norm(to_np(c))) for c in cancelling.cores)
    value = norm(cancelling)
    assert abs(value**2 - ref**2) <= 4 * 80 * eps_of("float64") * scale_p**2


def test_norm_never_builds_full_tensor(xp, dtype):
    """specs/arithmetic.md §norm: a (10,)*40 tensor (10**40 entries) vs sqrt(dot) and a closed form."""
    backend = backend_name(xp)
    d = 40
    a = random_tt((10,) * d, 3, seed=5, dtype=dtype, backend=backend)
    # float32 dot would overflow (||a||^2 ~ 1e40 > 3.4e38), so compare with the float64 dot of the same cores.
    a64 = a.astype("float64")
    ref = math.sqrt(dot(a64, a64))
    assert abs(norm(a) - ref) <= 100 * eps_of(dtype) * d * ref
    # Rank 1 with core j = j * ones(10) / sqrt(10): ||a|| = prod_j j = 40!
    rng = np.random.default_rng(0)
    cores = []
    for j in range(1, d + 1):
        vector = rng.standard_normal(10)
        cores.append(to_xp((j * vector / np.linalg.norm(vector)).reshape(1, 10, 1), xp, dtype))
    rank_one = TensorTrain(cores)
    if dtype == "float64":
        closed = float(math.factorial(d))
        assert abs(norm(rank_one) - closed) <= 100 * eps_of(dtype) * d * closed
    # 40! ~ 8e47 overflows float32: the closed form is checked on (10,)*20 there.
    short = TensorTrain(cores[:20])
    closed = float(math.factorial(20))
    assert abs(norm(short) - closed) <= 100 * eps_of(dtype) * 20 * closed
    assert abs(norm(ones((10,) * d, dtype=dtype, backend=backend)) - 1e20) <= 100 * eps_of(dtype) * d * 1e20


def test_norm_of_zero_and_scaled(xp):
    """specs/arithmetic.md §norm: norm(0) = 0 and norm(alpha a) = |alpha| norm(a)."""
    a = random_tt((4, 5, 6), 3, seed=3, backend=backend_name(xp))
    assert norm(scale(a, 0.0)) == 0.0
    assert abs(norm(scale(a, -3.0)) - 3.0 * norm(a)) <= 1e-13 * norm(a)


def test_bad_input(xp):
    """specs/arithmetic.md §Errors: shapes (both named), dtypes, backends, non-TT, bad alpha."""
    backend = backend_name(xp)
    a = random_tt((3, 4), 2, seed=0, backend=backend)
    with pytest.raises(ValueError, match=r"a.shape = \(3, 4\) and b.shape = \(4, 3\)"):
        add(a, random_tt((4, 3), 2, backend=backend))
    with pytest.raises(ValueError, match="same shape"):
        dot(a, random_tt((3, 4, 2), 2, backend=backend))
    with pytest.raises(TypeError, match="dtype"):
        hadamard(a, random_tt((3, 4), 2, dtype="float32", backend=backend))
    other = "numpy" if backend != "numpy" else "array_api_strict"
    with pytest.raises(TypeError, match="one array backend"):
        sub(a, random_tt((3, 4), 2, backend=other))
    with pytest.raises(TypeError, match="b must be a TensorTrain"):
        dot(a, np.zeros((3, 4)))
    with pytest.raises(TypeError, match="a must be a TensorTrain"):
        norm(np.zeros((3, 4)))
    with pytest.raises(TypeError, match="alpha must be a real number"):
        scale(a, "2")
    with pytest.raises(ValueError, match="alpha must be finite"):
        scale(a, float("nan"))
    with pytest.raises(TypeError, match="division by a TensorTrain"):
        a / a
