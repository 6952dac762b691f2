"""Losses for fitting a TT point cloud as a distribution, with analytic gradients.

Each loss returns ``(value, grad_wrt_points)``: the value as a 0-d array (no host
sync) and the gradient with respect to the batch of points it was given.
:func:`cores_gradient` carries a gradient with respect to decoded points back to the
cores through the multilinear decoding (left and right partial products, a
scatter-add over the sampled indices). No autodiff framework. Definitions and
tolerances: ``specs/losses.md``.
"""

from __future__ import annotations

from .._backend import array_namespace, as_float_array, as_point_sets, scatter_add, take_along_last_axis
from .._backend._neighbors import check_squares_in_range, nearest_neighbors, sum_of_squares
from ._kernels import _cores_gradient
from ._point_cloud import TTPointCloud
from .._backend import ArgumentTypeError, ArgumentValueError

__all__ = ["sliced_wasserstein", "nn_forward", "nn_inverse", "cores_gradient"]


# --------------------------------------------------------------------------- validation
def _two_batches(a, b, names, *, same_size: bool = False):
    a, b, xp = as_point_sets(a, b, names=names)
    check_squares_in_range(a, b, names=names, xp=xp)  # values must be representable
    if same_size and a.shape[0] != b.shape[0]:
        raise ArgumentValueError(
            f"{names[0]} and {names[1]} must have the same number of rows (equal-size batches), "
            f"got {a.shape[0]} and {b.shape[0]}"
        )
    return a, b, xp


# --------------------------------------------------------------------------- kernels
def _sliced_wasserstein(data_batch, point_batch, directions, xp):
    """SW_2^2 and its gradient wrt ``point_batch`` (no validation, no host sync)."""
    batch, n_dirs = point_batch.shape[0], directions.shape[1]
    data_proj = data_batch @ directions  # (B, L)
    point_proj = point_batch @ directions
    # Work along the last axis, one row per direction.
    data_sorted = xp.sort(xp.matrix_transpose(data_proj), axis=-1)
    point_rows = xp.matrix_transpose(point_proj)
    order = xp.argsort(point_rows, axis=-1, stable=True)
    rank = xp.argsort(order, axis=-1, stable=True)  # inverse permutation
    matched = take_along_last_axis(data_sorted, rank, xp=xp)  # data order statistic matched to each point
    diff = point_rows - matched  # (L, B)
    value = sum_of_squares(diff, xp=xp) / (batch * n_dirs)
    grad = (2.0 / (batch * n_dirs)) * (xp.matrix_transpose(diff) @ xp.matrix_transpose(directions))
    return value, grad


def _nn_forward(data_batch, point_batch, xp):
    _, ids = nearest_neighbors(data_batch, point_batch, 1, check_values=False)
    ids = ids[:, 0]
    diff = xp.take(point_batch, ids, axis=0) - data_batch  # (B_data, D)
    n_data = data_batch.shape[0]
    value = sum_of_squares(diff, xp=xp) / n_data
    grad = scatter_add(point_batch.shape[0], ids, (2.0 / n_data) * diff, xp=xp)
    return value, grad


def _nn_inverse(point_batch, data_batch, xp):
    _, ids = nearest_neighbors(point_batch, data_batch, 1, check_values=False)
    diff = point_batch - xp.take(data_batch, ids[:, 0], axis=0)
    n_points = point_batch.shape[0]
    value = sum_of_squares(diff, xp=xp) / n_points
    return value, (2.0 / n_points) * diff


# --------------------------------------------------------------------------- public
def sliced_wasserstein(data_batch, point_batch, directions):
    """Sliced Wasserstein SW_2^2 between two equal-size batches, and its gradient.

    ``SW = (1/L) sum_l (1/B) sum_r (sort(X theta_l)_r - sort(Y theta_l)_r)^2``: both
    batches projected on each direction, sorted, matched order statistics compared.
    Equal to the square of POT's ``ot.sliced_wasserstein_distance(X, Y,
    projections=directions)``.

    Parameters
    ----------
    data_batch : array, shape (B, D)
    point_batch : array, shape (B, D)
        The points the gradient is taken with respect to.
    directions : array, shape (D, L)
        Projection directions as columns (POT's layout); unit length for SW proper,
        used as given.

    Returns
    -------
    value : 0-d array
    grad : array, shape (B, D)
        ``d value / d point_batch``; the sort matching is locally constant, so this is
        the exact gradient wherever no two projections tie.

    Examples
    --------
    >>> import numpy as np
    >>> from tt_ref.cloud._losses import sliced_wasserstein
    >>> X = np.array([[0.0, 0.0], [2.0, 0.0]]); Y = np.array([[1.0, 0.0], [3.0, 0.0]])
    >>> value, grad = sliced_wasserstein(X, Y, np.array([[1.0], [0.0]]))
    >>> float(value), grad.tolist()
    (1.0, [[1.0, 0.0], [1.0, 0.0]])
    """
    data_batch, point_batch, xp = _two_batches(data_batch, point_batch, ("data_batch", "point_batch"), same_size=True)
    array_namespace(directions, data_batch, names=("directions", "data_batch"))
    directions = as_float_array(directions, name="directions", xp=xp, ndim=2)
    if directions.shape[0] != data_batch.shape[1]:
        raise ArgumentValueError(
            f"directions must have shape (D, L) with D = {data_batch.shape[1]}, got {tuple(directions.shape)}"
        )
    if directions.shape[1] == 0:
        raise ArgumentValueError("directions must hold at least one direction (L >= 1)")
    directions = xp.astype(directions, data_batch.dtype)
    return _sliced_wasserstein(data_batch, point_batch, directions, xp)


def nn_forward(data_batch, point_batch):
    """Coverage loss: mean over data of the squared distance to the nearest point.

    Returns ``(value, grad)`` with ``grad`` wrt ``point_batch`` (B_points, D): each
    data row pulls its nearest point, ``2 (y_nn - x) / B_data`` summed (scatter-add).
    Ties go to the smaller point index.

    Examples
    --------
    >>> import numpy as np
    >>> from tt_ref.cloud._losses import nn_forward
    >>> value, grad = nn_forward(np.array([[0.0], [1.0]]), np.array([[0.0], [5.0]]))
    >>> float(value), grad.tolist()
    (0.5, [[-1.0], [0.0]])
    """
    data_batch, point_batch, xp = _two_batches(data_batch, point_batch, ("data_batch", "point_batch"))
    return _nn_forward(data_batch, point_batch, xp)


def nn_inverse(point_batch, data_batch):
    """Inverse loss: mean over points of the squared distance to the nearest data row.

    Returns ``(value, grad)`` with ``grad`` wrt ``point_batch``: ``2 (y - x_nn) / B_points``.

    Examples
    --------
    >>> import numpy as np
    >>> from tt_ref.cloud._losses import nn_inverse
    >>> value, grad = nn_inverse(np.array([[0.0], [5.0]]), np.array([[0.0], [1.0]]))
    >>> float(value), grad.tolist()
    (8.0, [[0.0], [4.0]])
    """
    point_batch, data_batch, xp = _two_batches(point_batch, data_batch, ("point_batch", "data_batch"))
    return _nn_inverse(point_batch, data_batch, xp)


def cores_gradient(cloud: TTPointCloud, indices, grad_points) -> tuple:
    """Gradient wrt each core of ``sum_b <grad_points[b], cloud.decode(indices)[b]>``.

    This is the chain rule from a gradient with respect to decoded points to the
    cores: for each core, outer products of the left and right partial products
    scatter-added over the sampled indices. ``O(B (D r + k r^2))``.

    Parameters
    ----------
    cloud : TTPointCloud
    indices : integer array, shape (B,) or (B, k)
        Flat or multi-indices of the decoded points (repeats allowed: they add up).
    grad_points : array, shape (B, D)

    Returns
    -------
    tuple of arrays, shaped like ``cloud.cores``

    Examples
    --------
    >>> import numpy as np
    >>> from tt_ref import TTPointCloud
    >>> from tt_ref.cloud._losses import cores_gradient
    >>> cloud = TTPointCloud.random(2, (3,), (), seed=0)  # one core: the points are G_1[:, i, 0]
    >>> grads = cores_gradient(cloud, np.array([1, 1]), np.array([[1.0, 2.0], [1.0, 0.0]]))
    >>> grads[0][:, :, 0].tolist()
    [[0.0, 2.0, 0.0], [0.0, 2.0, 0.0]]
    """
    if not isinstance(cloud, TTPointCloud):
        raise ArgumentTypeError(f"cloud must be a TTPointCloud, got {type(cloud).__name__}")
    xp = cloud.xp
    multi = cloud._multi_indices(indices)
    grad_points = as_float_array(grad_points, name="grad_points", xp=xp, ndim=2)
    if grad_points.shape != (multi.shape[0], cloud.dim):
        raise ArgumentValueError(
            f"grad_points must have shape (B, D) = ({multi.shape[0]}, {cloud.dim}), got {tuple(grad_points.shape)}"
        )
    grad_points = xp.astype(grad_points, cloud.dtype)
    return _cores_gradient(cloud.cores, multi, grad_points, xp)
