"""Losses and their analytic gradients (specs/losses.md).

Finite differences are taken on the host in float64; the analytic gradient runs on
each backend in each dtype and must match to ``tol(dtype)``: in float64 the central
difference error (about 1e-7 relative) dominates, in float32 rounding does.
"""

from __future__ import annotations

import numpy as np
import ot
import pytest
from helpers import eps_of, rel_err, to_np, to_xp
from hypothesis import given
from hypothesis import strategies as st

from tt_ref.cloud._losses import cores_gradient, nn_forward, nn_inverse, sliced_wasserstein
from tt_ref.cloud._point_cloud import TTPointCloud

STEP = 1e-6


def grad_tol(dtype) -> float:
    """FD truncation + cancellation error in float64 (~1e-8 relative); rounding in float32."""
    return max(1e-6, 2000 * eps_of(dtype))


def finite_differences(fun, x: np.ndarray) -> np.ndarray:
    """Central differences of a scalar function of a float64 array."""
    grad = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        bump = np.zeros_like(x)
        bump[idx] = STEP
        grad[idx] = (float(fun(x + bump)) - float(fun(x - bump))) / (2 * STEP)
    return grad


def unit_directions(rng, dim, n_dirs):
    theta = rng.normal(size=(dim, n_dirs))
    return theta / np.linalg.norm(theta, axis=0, keepdims=True)


batches = st.tuples(st.integers(1, 6), st.integers(1, 4), st.integers(1, 5), st.integers(0, 2**31 - 1))


# --------------------------------------------------------------------------- sliced Wasserstein
@given(batches)
def test_sliced_wasserstein_matches_pot(xp, dtype, shapes):
    """specs/losses.md §Sliced Wasserstein: value = POT's sliced_wasserstein_distance squared."""
    n_rows, dim, n_dirs, seed = shapes
    rng = np.random.default_rng(seed)
    X, Y = rng.normal(size=(n_rows, dim)), rng.normal(size=(n_rows, dim)) + 0.5
    theta = unit_directions(rng, dim, n_dirs)
    value, _ = sliced_wasserstein(to_xp(X, xp, dtype), to_xp(Y, xp, dtype), to_xp(theta, xp, dtype))
    # POT returns sqrt(mean_l W_2^2) with uniform weights; our loss is SW_2^2.
    reference = ot.sliced_wasserstein_distance(X, Y, projections=theta) ** 2
    assert value.shape == ()
    assert abs(float(value) - reference) <= 100 * eps_of(dtype) * max(reference, 1.0)


@given(batches)
def test_sliced_wasserstein_gradient(xp, dtype, shapes):
    """specs/losses.md §Sliced Wasserstein: gradient via the sort matching = finite differences."""
    n_rows, dim, n_dirs, seed = shapes
    rng = np.random.default_rng(seed)
    X, Y = rng.normal(size=(n_rows, dim)), rng.normal(size=(n_rows, dim))
    theta = unit_directions(rng, dim, n_dirs)
    _, grad = sliced_wasserstein(to_xp(X, xp, dtype), to_xp(Y, xp, dtype), to_xp(theta, xp, dtype))
    reference = finite_differences(lambda Z: sliced_wasserstein(X, Z, theta)[0], Y)
    assert rel_err(grad, reference) <= grad_tol(dtype)


def test_sliced_wasserstein_zero_for_permuted_copy(xp, dtype):
    """specs/losses.md §Sliced Wasserstein: a permutation of the data has loss and gradient 0."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(9, 3))
    theta = unit_directions(rng, 3, 4)
    value, grad = sliced_wasserstein(to_xp(X, xp, dtype), to_xp(X[::-1], xp, dtype), to_xp(theta, xp, dtype))
    assert abs(float(value)) <= 100 * eps_of(dtype)
    assert np.abs(to_np(grad)).max() <= 100 * eps_of(dtype)


# --------------------------------------------------------------------------- nearest neighbours
nn_shapes = st.tuples(st.integers(1, 6), st.integers(1, 6), st.integers(1, 4), st.integers(0, 2**31 - 1))


@given(nn_shapes)
def test_nn_forward_value_and_gradient(xp, dtype, shapes):
    """specs/losses.md §Forward NN: mean over data of the squared distance to the nearest point."""
    n_data, n_points, dim, seed = shapes
    rng = np.random.default_rng(seed)
    X, Y = rng.normal(size=(n_data, dim)), rng.normal(size=(n_points, dim))
    value, grad = nn_forward(to_xp(X, xp, dtype), to_xp(Y, xp, dtype))
    d2 = ((X[:, None, :] - Y[None, :, :]) ** 2).sum(-1)
    assert abs(float(value) - d2.min(axis=1).mean()) <= 100 * eps_of(dtype) * max(1.0, d2.max())
    assert grad.shape == (n_points, dim)
    reference = finite_differences(lambda Z: nn_forward(X, Z)[0], Y)
    assert rel_err(grad, reference) <= grad_tol(dtype)


@given(nn_shapes)
def test_nn_inverse_value_and_gradient(xp, dtype, shapes):
    """specs/losses.md §Inverse NN: mean over points of the squared distance to the nearest data row."""
    n_data, n_points, dim, seed = shapes
    rng = np.random.default_rng(seed)
    X, Y = rng.normal(size=(n_data, dim)), rng.normal(size=(n_points, dim))
    value, grad = nn_inverse(to_xp(Y, xp, dtype), to_xp(X, xp, dtype))
    d2 = ((Y[:, None, :] - X[None, :, :]) ** 2).sum(-1)
    assert abs(float(value) - d2.min(axis=1).mean()) <= 100 * eps_of(dtype) * max(1.0, d2.max())
    reference = finite_differences(lambda Z: nn_inverse(Z, X)[0], Y)
    assert rel_err(grad, reference) <= grad_tol(dtype)


def test_nn_forward_ties_go_to_smaller_index(xp, dtype):
    """specs/losses.md §Forward NN: a data row equidistant from two points pulls the first."""
    X = to_xp(np.array([[0.0, 0.0]]), xp, dtype)
    Y = to_xp(np.array([[1.0, 0.0], [-1.0, 0.0]]), xp, dtype)
    _, grad = nn_forward(X, Y)
    assert np.allclose(to_np(grad), [[2.0, 0.0], [0.0, 0.0]])


# --------------------------------------------------------------------------- to the cores
cloud_shapes = st.tuples(
    st.integers(1, 4),
    st.lists(st.integers(1, 3), min_size=1, max_size=3),
    st.integers(1, 3),
    st.integers(1, 6),
    st.integers(0, 2**31 - 1),
)


@given(cloud_shapes)
def test_cores_gradient_matches_finite_differences(xp, dtype, shapes):
    """specs/losses.md §Cores gradient: d/dG_j of sum_b <g_b, y(i_b)>, every core, repeats allowed."""
    dim, mode_sizes, max_rank, n_batch, seed = shapes
    rng = np.random.default_rng(seed)
    ranks = [int(rng.integers(1, max_rank + 1)) for _ in mode_sizes[1:]]
    left, right = [dim] + ranks, ranks + [1]
    cores = [rng.normal(size=(a, n, b)) for a, n, b in zip(left, mode_sizes, right)]
    n_points = int(np.prod(mode_sizes))
    flat = rng.integers(0, n_points, size=n_batch)
    grad_points = rng.normal(size=(n_batch, dim))
    cloud = TTPointCloud([to_xp(c, xp, dtype) for c in cores])
    grads = cores_gradient(cloud, to_xp(flat, xp), to_xp(grad_points, xp, dtype))
    assert [tuple(g.shape) for g in grads] == [c.shape for c in cores]
    multi = np.stack(np.unravel_index(flat, mode_sizes), axis=1)
    grads_multi = cores_gradient(cloud, to_xp(multi, xp), to_xp(grad_points, xp, dtype))
    for j, core in enumerate(cores):

        def objective(core_j, j=j):
            trial = list(cores)
            trial[j] = core_j
            return np.sum(TTPointCloud(trial).decode(flat) * grad_points)

        reference = finite_differences(objective, core)
        assert rel_err(grads[j], reference) <= grad_tol(dtype)
        assert np.array_equal(to_np(grads[j]), to_np(grads_multi[j]))


# --------------------------------------------------------------------------- bad input
def test_bad_loss_inputs(xp):
    """specs/losses.md §Validation: shapes, dtypes and NaN are named in the error."""
    A = to_xp(np.zeros((3, 2)), xp)
    B = to_xp(np.ones((4, 2)), xp)
    theta = to_xp(np.array([[1.0], [0.0]]), xp)
    with pytest.raises(ValueError, match="same number of rows"):
        sliced_wasserstein(A, B, theta)
    with pytest.raises(ValueError, match="directions"):
        sliced_wasserstein(A, A, to_xp(np.ones((3, 1)), xp))
    with pytest.raises(ValueError, match="point_batch has dimension 3"):
        nn_forward(A, to_xp(np.zeros((3, 3)), xp))
    with pytest.raises(ValueError, match="data_batch contains NaN"):
        nn_inverse(A, to_xp(np.full((3, 2), np.nan), xp))
    with pytest.raises(ValueError, match="point_batch must have 2 dimensions"):
        nn_forward(A, to_xp(np.zeros(3), xp))
    cloud = TTPointCloud.random(2, (2, 2), (1,), seed=0, backend="numpy").to_backend(
        "array_api_strict" if "strict" in getattr(xp, "__name__", "") else "numpy"
    )
    with pytest.raises(ValueError, match="grad_points"):
        cores_gradient(cloud, to_xp(np.array([0, 1]), xp), to_xp(np.zeros((3, 2)), xp))
    with pytest.raises(TypeError, match="cloud"):
        cores_gradient("cloud", to_xp(np.array([0]), xp), to_xp(np.zeros((1, 2)), xp))
