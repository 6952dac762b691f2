"""How well a compressed point set represents data: exact, chunked measures (specs/quality.md).

* :func:`sliced_wasserstein_distance` -- SW_2 between two point sets with fixed unit
  directions drawn from a seed; unequal sizes by exact quantile matching.
* :func:`coverage_error` -- mean squared distance from each data point to its nearest
  compressed point (does the compressed set cover the data?).
* :func:`inverse_error` -- mean squared distance from each compressed point to its
  nearest data point (are there stray compressed points?).
* :func:`compression_ratio` -- ``N * D / n_params``.

Nearest neighbours go through :func:`tt_ref.search.nearest_neighbors` (chunked GEMM),
so memory stays bounded for large sets.
"""

from __future__ import annotations

from .._backend import (
    ArgumentValueError,
    as_float_array,
    as_point_sets,
    check_allocation,
    check_int,
    check_optional_int,
    random_choice,
    random_normal,
)
from .._backend._neighbors import nearest_neighbors, nearest_neighbors_scaled, rescaled_value, scaled_to_safe_range  # noqa: F401

__all__ = [
    "sliced_wasserstein_distance",
    "projection_directions",
    "coverage_error",
    "inverse_error",
    "compression_ratio",
]

#: Default number of directions for :func:`sliced_wasserstein_distance`.
DEFAULT_PROJECTIONS = 128
# Entries per (points x directions) block: bounds memory for large sets.
_BLOCK_ENTRIES = 1 << 24


def projection_directions(dim: int, n_projections: int, *, seed=0, xp, dtype=None):
    """``(dim, n_projections)`` unit columns from a seed: normal draws normalised.

    The same seed gives the same directions on every backend (drawn on the host).
    """
    n_projections = check_int(n_projections, name="n_projections", minimum=1)
    check_allocation((dim, n_projections), 8, what=f"n_projections={n_projections} directions of dimension {dim}")
    theta = random_normal(seed, (dim, n_projections), xp=xp, dtype=dtype)
    return theta / xp.sqrt(xp.sum(theta * theta, axis=0, keepdims=True))


def _check_pair(A, B, names):
    A, B, xp = as_point_sets(A, B, names=names)
    return xp, A, B


def sliced_wasserstein_distance(A, B, *, n_projections: int = DEFAULT_PROJECTIONS, seed=0, projections=None,
                                squared: bool = False) -> float:
    """Sliced 2-Wasserstein distance between the uniform distributions on two point sets.

    ``SW_2(A, B) = sqrt( mean_l W_2^2(A theta_l, B theta_l) )`` over fixed unit directions
    ``theta_l`` (the definition of POT's ``ot.sliced_wasserstein_distance``). Each 1-D
    ``W_2^2`` is exact: ``integral_0^1 (F_A^{-1}(t) - F_B^{-1}(t))^2 dt`` with the
    empirical quantile functions, evaluated on the merged grid of breakpoints
    ``{i/n} U {j/m}`` where both are constant (exact rational arithmetic in int64);
    for ``n == m`` it is the mean squared difference of the sorted projections.

    Parameters
    ----------
    A : array, shape (n, D)
    B : array, shape (m, D)
        Same backend and dtype as ``A``.
    n_projections : int
        Number of directions ``L`` (ignored when ``projections`` is given).
    seed : int or numpy.random.Generator
        Seed of the directions: fixed directions make values comparable across methods.
    projections : array, shape (D, L), optional
        Explicit unit directions (columns).
    squared : bool
        Return ``SW_2^2`` instead of ``SW_2``.

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np
    >>> from tt_ref.cloud._quality import sliced_wasserstein_distance
    >>> A = np.array([[0.0, 0.0], [1.0, 1.0]])
    >>> sliced_wasserstein_distance(A, A)
    0.0
    >>> sliced_wasserstein_distance(A, A + np.array([[3.0, 0.0]]), seed=1) > 0
    True
    """
    xp, A, B = _check_pair(A, B, ("A", "B"))
    dim = A.shape[1]
    if projections is None:
        theta = projection_directions(dim, n_projections, seed=seed, xp=xp, dtype=A.dtype)
    else:
        theta = as_float_array(projections, name="projections", xp=xp, ndim=2)
        if theta.shape[0] != dim:
            raise ArgumentValueError(f"projections must have shape ({dim}, L), got {tuple(theta.shape)}")
        theta = xp.astype(theta, A.dtype)
    n, m = A.shape[0], B.shape[0]
    n_dirs = theta.shape[1]
    # A power of two out of both sets (exact) when squares would leave the range.
    A, B, scale = scaled_to_safe_range(A, B, xp=xp)
    if n != m:
        # Merged breakpoints in units of 1/(n m): A steps at i*m, B steps at j*n.
        steps = xp.sort(xp.concat([xp.arange(1, n + 1, dtype=xp.int64) * m,
                                   xp.arange(1, m + 1, dtype=xp.int64) * n]))
        previous = xp.concat([xp.zeros((1,), dtype=xp.int64), steps[:-1]])
        weights = xp.astype(steps - previous, A.dtype) / float(n * m)
        # On (previous, step] the quantile index is ceil(step / m) - 1 for A, ceil(step / n) - 1 for B.
        idx_a = (steps + (m - 1)) // m - 1
        idx_b = (steps + (n - 1)) // n - 1
    chunk = max(1, _BLOCK_ENTRIES // (n + m))
    total = 0.0
    for start in range(0, n_dirs, chunk):
        stop = min(start + chunk, n_dirs)
        proj_a = xp.sort(A @ theta[:, start:stop], axis=0)
        proj_b = xp.sort(B @ theta[:, start:stop], axis=0)
        if n == m:
            diff = proj_a - proj_b
            total += float(xp.sum(diff * diff)) / n
        else:
            diff = xp.take(proj_a, idx_a, axis=0) - xp.take(proj_b, idx_b, axis=0)
            total += float(xp.sum(weights[:, None] * (diff * diff)))
    sw2 = max(total / n_dirs, 0.0)
    if squared:
        return rescaled_value(sw2, scale, power=2, what="SW_2^2")
    return rescaled_value(sw2 ** 0.5, scale, power=1, what="SW_2")


def _mean_nearest(queries, base, chunk_size, max_queries, seed, xp):
    chunk_size = check_optional_int(chunk_size, name="chunk_size", minimum=1)
    max_queries = check_optional_int(max_queries, name="max_points", minimum=1)
    if max_queries is not None and queries.shape[0] > max_queries:
        rows = random_choice(seed, queries.shape[0], int(max_queries), xp=xp)
        queries = xp.take(queries, rows, axis=0)
    d2, _, scale = nearest_neighbors_scaled(queries, base, 1, chunk_size=chunk_size, check_values=False)
    return rescaled_value(float(xp.mean(d2)), float(scale), power=2, what="the mean squared distance")


def coverage_error(data, compressed, *, chunk_size: int | None = None, max_points: int | None = None,
                   seed=0) -> float:
    """Mean over ``data`` of the squared distance to the nearest row of ``compressed``.

    Parameters
    ----------
    data : array, shape (N, D)
        Usually held-out data.
    compressed : array, shape (m, D)
    chunk_size : int, optional
        Queries per GEMM (see :func:`tt_ref.search.nearest_neighbors`).
    max_points : int, optional
        Estimate from a seeded uniform sample of this many data rows (default: all, exact).

    Examples
    --------
    >>> import numpy as np
    >>> from tt_ref.cloud._quality import coverage_error
    >>> coverage_error(np.array([[0.0], [3.0]]), np.array([[1.0]]))
    2.5
    """
    xp, data, compressed = _check_pair(data, compressed, ("data", "compressed"))
    return _mean_nearest(data, compressed, chunk_size, max_points, seed, xp)


def inverse_error(compressed, data, *, chunk_size: int | None = None, max_points: int | None = None,
                  seed=0) -> float:
    """Mean over ``compressed`` of the squared distance to the nearest row of ``data``.

    ``max_points`` estimates it from a seeded uniform sample of compressed rows (for TT
    clouds of many points); by default every row is used (exact).

    Examples
    --------
    >>> import numpy as np
    >>> from tt_ref.cloud._quality import inverse_error
    >>> inverse_error(np.array([[1.0]]), np.array([[0.0], [3.0]]))
    1.0
    """
    xp, compressed, data = _check_pair(compressed, data, ("compressed", "data"))
    return _mean_nearest(compressed, data, chunk_size, max_points, seed, xp)


def compression_ratio(n: int, dim: int, n_params: int) -> float:
    """``n * dim / n_params``: how many times fewer numbers than the raw set.

    Examples
    --------
    >>> from tt_ref.cloud._quality import compression_ratio
    >>> compression_ratio(1000, 64, 640)
    100.0
    """
    # One rule for every integer argument (a float such as 10.5 is a TypeError naming it).
    values = [check_int(value, name=name, minimum=1) for name, value in (("n", n), ("dim", dim), ("n_params", n_params))]
    return values[0] * values[1] / values[2]
