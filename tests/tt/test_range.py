"""Right or refusing on every finite input: the TT toolkit over the whole finite range of
float32 and float64 (specs/tensor_train.md §Range, specs/tt_svd.md §Range, specs/rounding.md
§Range, specs/arithmetic.md §Range, specs/evaluate.md §Range).

Tensors are drawn at unit scale and multiplied by ``10**e`` with ``e`` uniform over the
dtype's finite range (the scale spread over the cores for tensor trains, so that every
core is representable). References are computed on the host in float64 at unit scale; the
bounds are the documented ones, with the underflow term ``eta`` (the dtype's smallest
subnormal) where results fall below the normal range.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import dense_from_cores, to_np, to_xp
from hypothesis import given
from hypothesis import strategies as st

import tt_ref
from tt_ref import TensorTrain
from tt_ref._backend import ArgumentTypeError, ArgumentValueError

C = 4.0
# log10 of the smallest subnormal and of the largest float.
RANGE = {"float64": (-323.0, 308.0), "float32": (-44.0, 38.0)}


def info(dtype):
    return np.finfo(np.dtype(dtype))


def exponents(dtype):
    low, high = RANGE[dtype]
    return st.floats(low, high, allow_nan=False)


def scaled_cores(shape, ranks, seed, exponent, dtype):
    """Unit-scale float64 cores and the same cores times 10**(exponent / d) in ``dtype``."""
    rng = np.random.default_rng(seed)
    full_ranks = (1,) + tuple(ranks) + (1,)
    unit = [rng.standard_normal((full_ranks[j], n, full_ranks[j + 1])) / math.sqrt(full_ranks[j + 1])
            for j, n in enumerate(shape)]
    factor = 10.0 ** (exponent / len(shape))
    cast = [(c * factor).astype(dtype) for c in unit]
    return cast, factor


def host_full(cores, factor):
    """Dense float64 tensor of ``cores`` divided by ``factor`` each (back to unit scale)."""
    return dense_from_cores([to_np(c).astype(np.float64) / factor for c in cores])


def frob(x) -> float:
    big = float(np.max(np.abs(x))) if x.size else 0.0
    return 0.0 if big == 0 else big * float(np.linalg.norm(x / big))


def k_truncation(shape) -> int:
    total, rows, k = math.prod(shape), 1, 10 * len(shape)
    for n in shape[:-1]:
        rows *= n
        k += rows + total // rows
    return k


specs = st.tuples(st.lists(st.integers(1, 4), min_size=2, max_size=4), st.integers(1, 3), st.integers(0, 2**31 - 1))


# --------------------------------------------------------------------------- TT-SVD
@given(spec=specs, exponent=st.data(), eps=st.sampled_from([None, 1e-3, 0.1]))
def test_tt_svd_over_the_whole_range(xp, dtype, spec, exponent, eps):
    """specs/tt_svd.md §Range: for every finite x with ||x||_F <= max, the bound
    ||x - TT|| <= (eps + c K unit) ||x|| + sqrt(N) eta holds; above, ArgumentValueError."""
    shape, rank, seed = spec
    e = exponent.draw(exponents(dtype))
    rng = np.random.default_rng(seed)
    unit_x = rng.standard_normal(shape)
    factor = 10.0 ** e
    x = (unit_x * factor).astype(dtype)
    if not np.all(np.isfinite(x)):
        return  # not a finite input
    x64 = x.astype(np.float64) / factor  # the input as stored, at unit scale
    norm_true = frob(x.astype(np.float64))
    if norm_true > float(info(dtype).max) or not math.isfinite(norm_true):
        with pytest.raises(ArgumentValueError, match="largest"):
            tt_ref.tt_svd(to_xp(x, xp), eps=eps)
        return
    tt = tt_ref.tt_svd(to_xp(x, xp), eps=eps)
    err = frob(host_full(tt.cores, factor ** (1 / len(shape))) - x64)
    eta = float(info(dtype).smallest_subnormal) / factor
    bound = ((eps or 0.0) + C * k_truncation(shape) * float(info(dtype).eps)) * frob(x64) + math.sqrt(x.size) * eta
    assert err <= bound, (err, bound, e)


def test_audit_reproductions_are_right_now():
    """specs/tt_svd.md §Range, specs/rounding.md §Range: the examples that gave silent wrong
    answers give results within the bound (or a clear error)."""
    x = np.random.default_rng(0).standard_normal((4, 5, 6))
    for data, eps in ((x * 1e-165, 1e-6), (x.astype(np.float32) * np.float32(1e19), None), (x * 1e154, 1e-6)):
        tt, err = tt_ref.tt_svd(data, eps=eps, return_error=True)
        scale = float(np.max(np.abs(data)))
        dense = np.asarray(tt_ref.full(tt)).astype(np.float64) / scale
        true = frob(dense - data.astype(np.float64) / scale) / frob(data.astype(np.float64) / scale)
        assert true <= (eps or 0.0) + 1e-4 and abs(true - err) <= 1e-4 and tt.ranks[1] > 1
    for scale in (1e-200, 1e200):
        a = tt_ref.random_tt((4, 5, 6), 3) * scale
        rounded, err = tt_ref.round(a + a, eps=1e-8, return_error=True)
        assert rounded.ranks == (1, 3, 3, 1) and err <= 1e-8
        ref = np.asarray(tt_ref.full(tt_ref.random_tt((4, 5, 6), 3))) * 2
        assert frob(np.asarray(tt_ref.full(rounded)) / scale - ref) <= 1e-8 * frob(ref)


# --------------------------------------------------------------------------- rounding, orthogonalization
@given(spec=specs, exponent=st.data())
def test_round_and_orthogonalize_over_the_whole_range(xp, dtype, spec, exponent):
    """specs/rounding.md §Range: round(a + a, eps) and orthogonalize(a) reconstruct the tensor
    within eps ||A|| + c K unit prod ||G_j||_F (plus the underflow term) at every scale; a
    tensor whose norm exceeds the dtype's range is refused."""
    shape, rank, seed = spec
    e = exponent.draw(exponents(dtype))
    cores, factor = scaled_cores(shape, (rank,) * (len(shape) - 1), seed, e, dtype)
    if not all(np.all(np.isfinite(c)) for c in cores):
        return
    tt = TensorTrain([to_xp(c, xp) for c in cores])
    ref = host_full(cores, factor)
    scale = math.prod(frob(to_np(c).astype(np.float64) / factor) for c in cores)
    unit = float(info(dtype).eps)
    eta = float(info(dtype).smallest_subnormal) / factor ** len(shape) * math.sqrt(ref.size) * 4
    norm_true_log = math.log10(frob(ref)) + e if frob(ref) > 0 else -math.inf
    if norm_true_log > math.log10(float(info(dtype).max)):
        with pytest.raises(ArgumentValueError, match="largest"):
            tt_ref.round(tt + tt, eps=1e-8)
        return
    k = k_truncation(shape) + sum(2 * rank + 1 for _ in shape)
    rounded = tt_ref.round(tt + tt, eps=1e-8)
    assert frob(host_full(rounded.cores, factor) - 2 * ref) <= 2e-8 * frob(ref) + C * k * unit * 2 * scale * 2 + eta
    for direction in ("left", "right"):
        out = tt_ref.orthogonalize(tt, direction)
        assert frob(host_full(out.cores, factor) - ref) <= C * k * unit * scale + eta


# --------------------------------------------------------------------------- norm, dot, evaluation
@given(spec=specs, exponent=st.data())
def test_norm_dot_and_full_over_the_whole_range(xp, dtype, spec, exponent):
    """specs/arithmetic.md §Range, specs/evaluate.md §Range: norm and dot (Python floats) and
    full / get_many keep their bounds at every scale; dot(a, b) with a at 10**e and b at
    10**-e (partial products far outside the range, result of order one) included."""
    shape, rank, seed = spec
    e = exponent.draw(exponents(dtype))
    cores, factor = scaled_cores(shape, (rank,) * (len(shape) - 1), seed, e, dtype)
    inverse, inv_factor = scaled_cores(shape, (rank,) * (len(shape) - 1), seed + 1, -e, dtype)
    if not all(np.all(np.isfinite(c)) and np.any(c != 0) for c in cores + inverse):
        return
    a = TensorTrain([to_xp(c, xp) for c in cores])
    b = TensorTrain([to_xp(c, xp) for c in inverse])
    ra, rb = host_full(cores, factor), host_full(inverse, inv_factor)
    unit = float(info(dtype).eps)
    k = sum(n * 2 * (rank + 1) for n in shape) + 4 * len(shape) + sum(rank * n + rank for n in shape)
    scale_a = math.prod(frob(to_np(c).astype(np.float64) / factor) for c in cores)
    # norm: |v^2 - ||A||^2| <= c K unit prod ||G_j||^2 (in units of 10**e), plus the
    # underflow of a Python float below float64's normal range.
    if math.log10(frob(ra)) + e > math.log10(float(np.finfo(np.float64).max)):
        with pytest.raises(ArgumentValueError, match="largest float64"):
            tt_ref.norm(a)
        return
    value = tt_ref.norm(a)
    for _ in shape:
        value /= factor
    eta64 = float(np.finfo(np.float64).smallest_subnormal) / factor ** len(shape)
    assert abs(value - frob(ra)) <= C * k * unit * scale_a**2 / max(value + frob(ra), 1e-300) + eta64
    # dot of a (10**e) and b (10**-e): a number of order one.
    absdot = float(np.sum(host_full([np.abs(to_np(c)) for c in cores], factor)
                          * host_full([np.abs(to_np(c)) for c in inverse], inv_factor)))
    assert abs(tt_ref.dot(a, b) - float(np.sum(ra * rb))) <= C * k * unit * absdot + 1e-300
    # full: normwise c K unit prod ||G_j||_F, plus the underflow of entries below the range.
    eta = float(info(dtype).smallest_subnormal) / factor ** len(shape)
    dense = to_np(tt_ref.full(a)).astype(np.float64) / factor ** len(shape)
    assert np.max(np.abs(dense - ra)) <= C * k * unit * scale_a + eta * 4


# --------------------------------------------------------------------------- scale, hadamard, dtypes
@given(spec=specs, e1=st.floats(-200, 200), e2=st.floats(-200, 200))
def test_scale_and_hadamard_keep_representable_tensors(spec, e1, e2):
    """specs/arithmetic.md §Range: scale and hadamard give the tensor (normwise
    c K unit prod ||G||) whenever it is representable in some balanced gauge, even when a
    core of the plain product would overflow or underflow; otherwise ArgumentValueError."""
    shape, rank, seed = spec
    a_cores, fa = scaled_cores(shape, (rank,) * (len(shape) - 1), seed, e1, "float64")
    b_cores, fb = scaled_cores(shape, (rank,) * (len(shape) - 1), seed + 1, e2, "float64")
    a, b = TensorTrain(a_cores), TensorTrain(b_cores)
    ra, rb = host_full(a_cores, fa), host_full(b_cores, fb)
    unit = float(np.finfo(np.float64).eps)
    k = 20 * len(shape) * (rank + 1) ** 2
    product = tt_ref.hadamard(a, b)
    got = host_full(product.cores, (fa * fb))
    scale = math.prod(frob(c / fa) for c in a_cores) * math.prod(frob(c / fb) for c in b_cores)
    assert frob(got - ra * rb) <= C * k * unit * scale * 4
    alpha = 10.0 ** e2
    scaled = tt_ref.scale(a, alpha)
    assert frob(host_full(scaled.cores, fa * alpha ** (1 / len(shape))) - ra) <= C * k * unit * frob(ra) * 4 + 1e-300


def test_overflowing_results_are_refused_not_inf():
    """specs/arithmetic.md §Range: a float32 tensor whose norm exceeds float32's range has a
    float64 norm; its orthogonalization is refused with the range in the message."""
    a = tt_ref.random_tt((4, 5, 6), 3, dtype="float32") * 1e30
    big = a * 1e10  # rebalanced cores, the tensor near 1e40
    assert all(np.all(np.isfinite(c)) for c in big.cores)
    assert math.isclose(tt_ref.norm(big), tt_ref.norm(a) * 1e10, rel_tol=1e-5)
    with pytest.raises(ArgumentValueError, match="largest float32"):
        tt_ref.orthogonalize(big)
    with pytest.raises(ArgumentValueError, match="largest float64"):
        tt_ref.norm(tt_ref.random_tt((4, 5, 6), 3) * 1e300 * 1e300 * 1e300 * 1e300)


def test_float16_is_refused():
    """specs/tensor_train.md §dtypes: float16 is refused with a clear error, never half computed."""
    x = np.ones((3, 4), dtype=np.float16)
    with pytest.raises(ArgumentTypeError, match="float16 is refused"):
        tt_ref.tt_svd(x)
    with pytest.raises(ArgumentTypeError, match="float16 is refused"):
        tt_ref.nearest_neighbors(x, x, 1)
