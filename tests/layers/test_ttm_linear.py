"""The TT-matrix linear layer: forward, backward, memory-lean backward, gauge invariance,
finite differences, pickling and errors (specs/ttm_layer.md)."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import eps_of, rel_err, to_np, to_xp
from ttm_test_helpers import core_gradients_reference, dense_reference, layer_specs, random_layer
from tt_ref import TTMatrix
from tt_ref.layers import (
    TTMLinearGradients,
    TTMLinearSaved,
    ttm_linear,
    ttm_linear_backward,
    ttm_linear_cost,
    ttm_linear_forward,
)

PATHS = ("auto", "left_to_right", "right_to_left", "dense")


def _tol(dtype, weight, factor=100.0) -> float:
    """specs/ttm_layer.md §Tests: ``factor eps (d + 1) max_rank``."""
    return factor * eps_of(dtype) * (weight.ndim + 1) * weight.max_rank


@given(spec=layer_specs(), path=st.sampled_from(PATHS))
def test_forward_equals_dense_product(xp, dtype, spec, path):
    """specs/ttm_layer.md §Forward: ``y = x @ to_dense(W).T + b`` on every path, any batch shape."""
    weight, x, bias, _ = random_layer(*spec, xp, dtype)
    ref = to_np(x).astype(np.float64) @ dense_reference(weight.cores).T + to_np(bias)
    y = ttm_linear(x, weight, bias, path=path)
    assert tuple(y.shape) == spec[3] + (weight.shape[0],) and y.dtype == weight.dtype
    assert rel_err(y, ref) <= _tol(dtype, weight)
    y_train, saved = ttm_linear_forward(x, weight, bias, path=path)
    assert rel_err(y_train, ref) <= _tol(dtype, weight)
    assert saved.path in PATHS[1:] and (path == "auto" or saved.path == path)
    assert rel_err(ttm_linear(x, weight, path=path), ref - to_np(bias)) <= _tol(dtype, weight)


@given(spec=layer_specs(), path=st.sampled_from(PATHS), saving=st.sampled_from(("full", "lean")))
def test_gradients_equal_dense_formulas(xp, dtype, spec, path, saving):
    """specs/ttm_layer.md §Backward: ``dx = G W``, ``db = sum G``, ``dW_k`` = the dense gradient
    ``G^T x`` contracted with the other cores (an independent einsum)."""
    weight, x, bias, grad = random_layer(*spec, xp, dtype)
    _, saved = ttm_linear_forward(x, weight, bias, path=path, saving=saving)
    grads = ttm_linear_backward(grad, saved)
    assert isinstance(grads, TTMLinearGradients)
    g64 = to_np(grad).astype(np.float64)
    tol = _tol(dtype, weight)
    assert tuple(grads.x.shape) == tuple(x.shape)
    assert rel_err(grads.x, g64 @ dense_reference(weight.cores)) <= tol
    assert rel_err(grads.bias, g64.reshape(-1, weight.shape[0]).sum(axis=0)) <= tol
    refs = core_gradients_reference(weight.cores, x, grad)
    for got, ref, core in zip(grads.cores, refs, weight.cores):
        assert tuple(got.shape) == tuple(core.shape)
        assert rel_err(got, ref) <= tol


@given(spec=layer_specs(), path=st.sampled_from(PATHS))
def test_lean_gradients_equal_full(xp, dtype, spec, path):
    """specs/ttm_layer.md §Backward: saving only ``x`` gives the same gradients as saving the states."""
    weight, x, bias, grad = random_layer(*spec, xp, dtype)
    full = ttm_linear_backward(grad, ttm_linear_forward(x, weight, bias, path=path, saving="full")[1])
    _, lean_saved = ttm_linear_forward(x, weight, bias, path=path, saving="lean")
    assert len(lean_saved.arrays) == 1 and tuple(lean_saved.arrays[0].shape) == (int(np.prod(spec[3])), weight.shape[1])
    lean = ttm_linear_backward(grad, lean_saved)
    tol = _tol(dtype, weight)
    assert rel_err(lean.x, full.x) <= tol and rel_err(lean.bias, full.bias) <= tol
    for a, b in zip(lean.cores, full.cores):
        assert rel_err(a, b) <= tol


@given(spec=layer_specs(max_batch_dims=1), path=st.sampled_from(PATHS), saving=st.sampled_from(("full", "lean")),
       direction_seed=st.integers(0, 2**31 - 1))
def test_gradients_match_central_differences(xp, spec, path, saving, direction_seed):
    """specs/ttm_layer.md §Tests: ``L = <G, y>`` is linear in each of x, b and every core, so a
    central difference along a random direction equals the directional derivative up to rounding."""
    weight, x, bias, grad = random_layer(*spec, xp, "float64")
    _, saved = ttm_linear_forward(x, weight, bias, path=path, saving=saving)
    grads = ttm_linear_backward(grad, saved)
    rng = np.random.default_rng(direction_seed)
    g = to_np(grad)

    def loss(x_, cores_, bias_):
        return float(np.sum(g * to_np(ttm_linear(x_, TTMatrix(cores_), bias_, path=path))))

    h = 1e-3
    cores = list(weight.cores)
    variables = [("x", to_np(x), grads.x), ("bias", to_np(bias), grads.bias)]
    variables += [(k, to_np(c), gk) for k, (c, gk) in enumerate(zip(cores, grads.cores))]
    for name, value, analytic in variables:
        direction = rng.standard_normal(value.shape)
        shifted = []
        for sign in (1.0, -1.0):
            moved = to_xp(value + sign * h * direction, xp)
            args = {"x": (moved, cores, bias), "bias": (x, cores, moved)}.get(name)
            if args is None:
                args = (x, cores[:name] + [moved] + cores[name + 1 :], bias)
            shifted.append(loss(*args))
        numeric = (shifted[0] - shifted[1]) / (2 * h)
        exact = float(np.sum(to_np(analytic) * direction))
        assert abs(numeric - exact) <= 1e-8 * (1.0 + abs(exact) + abs(shifted[0]) / h), name


def _gauge(cores, k, seed):
    """Insert ``A`` and ``A^{-1}`` between cores ``k`` and ``k + 1`` (host float64)."""
    host = [to_np(c).astype(np.float64) for c in cores]
    r = host[k].shape[3]
    rng = np.random.default_rng(seed)
    a = np.eye(r) + 0.5 * rng.standard_normal((r, r)) / np.sqrt(r)
    host[k] = np.tensordot(host[k], a, axes=([3], [0]))
    host[k + 1] = np.tensordot(np.linalg.inv(a), host[k + 1], axes=([1], [0]))
    return host, a


@given(spec=layer_specs(), path=st.sampled_from(PATHS), saving=st.sampled_from(("full", "lean")),
       gauge_seed=st.integers(0, 2**31 - 1), data=st.data())
def test_gauge_invariance(xp, dtype, spec, path, saving, gauge_seed, data):
    """specs/ttm_layer.md §Tests: ``W_k A``, ``A^{-1} W_{k+1}`` change neither the output nor
    ``dL/dx``; the core gradients transform as ``dW_k A^{-T}`` and ``A^T dW_{k+1}``."""
    weight, x, bias, grad = random_layer(*spec, xp, dtype)
    if weight.ndim < 2:
        return
    k = data.draw(st.integers(0, weight.ndim - 2))
    host, a = _gauge(weight.cores, k, gauge_seed)
    moved = TTMatrix([to_xp(c, xp, dtype) for c in host])
    cond = float(np.linalg.cond(a))
    tol = _tol(dtype, weight) * cond**2
    y0, s0 = ttm_linear_forward(x, weight, bias, path=path, saving=saving)
    y1, s1 = ttm_linear_forward(x, moved, bias, path=path, saving=saving)
    assert rel_err(y1, y0) <= tol
    g0, g1 = ttm_linear_backward(grad, s0), ttm_linear_backward(grad, s1)
    assert rel_err(g1.x, g0.x) <= tol
    a_inv_t = np.linalg.inv(a).T
    assert rel_err(g1.cores[k], np.tensordot(to_np(g0.cores[k]).astype(np.float64), a_inv_t, axes=([3], [0]))) <= tol
    assert rel_err(g1.cores[k + 1], np.tensordot(a.T, to_np(g0.cores[k + 1]).astype(np.float64),
                                                 axes=([1], [0]))) <= tol


@given(spec=layer_specs(), path=st.sampled_from(PATHS), saving=st.sampled_from(("full", "lean")))
def test_saved_state_pickles_and_backward_repeats(xp, spec, path, saving):
    """specs/ttm_layer.md §Saved state: pickling and deep copies give bitwise the same gradients;
    backward leaves the saved state as it was (it may run twice)."""
    weight, x, bias, grad = random_layer(*spec, xp, "float64")
    _, saved = ttm_linear_forward(x, weight, bias, path=path, saving=saving)
    first = ttm_linear_backward(grad, saved)
    for other in (pickle.loads(pickle.dumps(saved)), copy.deepcopy(saved), saved):
        again = ttm_linear_backward(grad, other)
        assert np.array_equal(to_np(again.x), to_np(first.x))
        assert all(np.array_equal(to_np(p), to_np(q)) for p, q in zip(again.cores, first.cores))
    assert "TTMLinearSaved(" in repr(saved)


def test_no_bias_gives_no_bias_gradient(xp):
    """specs/ttm_layer.md §Backward: without a bias, ``grads.bias`` is None."""
    weight, x, _, grad = random_layer((2, 3), (3, 2), (1, 2, 1), (4,), 0, xp, "float64")
    _, saved = ttm_linear_forward(x, weight)
    assert ttm_linear_backward(grad, saved).bias is None and not saved.has_bias


@given(spec=layer_specs(max_size=4, max_rank=4), batch=st.integers(0, 5000))
def test_auto_path_is_the_cheapest(spec, batch):
    """specs/ttm_layer.md §Cost model: ``path="auto"`` takes the least work (forward for
    inference, forward plus backward when the states are kept)."""
    weight, _, _, _ = random_layer(*spec, np, "float64")
    for saving in ("full", "lean"):
        cost = ttm_linear_cost(weight, batch, saving=saving)
        total = {p: cost["forward"][p] + (cost["backward"][p] if saving == "full" else 0) for p in cost["forward"]}
        assert total[cost["path"]] == min(total.values())
        assert cost["forward"][cost["inference_path"]] == min(cost["forward"].values())
        assert cost["dense_forward"] == batch * weight.shape[0] * weight.shape[1]


def test_errors_name_the_argument():
    """specs/ttm_layer.md §Errors."""
    import array_api_strict as strict

    weight, x, bias, grad = random_layer((2, 3), (3, 2), (1, 2, 1), (4,), 0, np, "float64")
    with pytest.raises(TypeError, match="weight must be a TTMatrix"):
        ttm_linear(x, np.ones((6, 6)))
    with pytest.raises(ValueError, match=r"x must have shape \(\.\.\., 6\)"):
        ttm_linear(np.ones((4, 5)), weight)
    with pytest.raises(TypeError, match="x has dtype float32"):
        ttm_linear(x.astype(np.float32), weight)
    with pytest.raises(ValueError, match=r"bias must have shape \(6,\)"):
        ttm_linear(x, weight, np.ones(5))
    with pytest.raises(ValueError, match="x contains NaN"):
        ttm_linear(np.full((2, 6), np.nan), weight)
    with pytest.raises(TypeError, match="one array backend"):
        ttm_linear(strict.asarray(x), weight)
    with pytest.raises(ValueError, match="path must be one of"):
        ttm_linear(x, weight, path="diagonal")
    with pytest.raises(ValueError, match="saving must be one of"):
        ttm_linear_forward(x, weight, saving="none")
    _, saved = ttm_linear_forward(x, weight, bias)
    with pytest.raises(ValueError, match=r"grad_output must have the output's shape \(4, 6\)"):
        ttm_linear_backward(grad[:3], saved)
    with pytest.raises(TypeError, match="grad_output has dtype float32"):
        ttm_linear_backward(grad.astype(np.float32), saved)
    with pytest.raises(TypeError, match="saved must be the TTMLinearSaved"):
        ttm_linear_backward(grad, {"x": x})
    with pytest.raises(ValueError, match="batch_size must be an integer >= 0"):
        ttm_linear_cost(weight, -1)
    assert isinstance(saved, TTMLinearSaved)
