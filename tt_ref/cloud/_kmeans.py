"""k-means on any Array API backend: k-means++ seeding from a seed, then Lloyd.

Used by :func:`tt_ref.cloud.fit_point_cloud` for its k-means-informed initialization,
and usable on its own. Nearest centres come from :func:`tt_ref.search.nearest_neighbors`
(chunked GEMM), cluster sums from ``_backend.scatter_add``. Spec: ``specs/fit.md``
§Initialization.
"""

from __future__ import annotations

import numpy as np

from .._backend import array_namespace, as_float_array, check_int, default_rng, random_choice, scatter_add
from .._backend._neighbors import nearest_neighbors, scaled_to_safe_range, squared_distances
from .._backend import ArgumentTypeError, ArgumentValueError

__all__ = ["kmeans"]

# k-means++ seeding looks at a random subsample of at most this many points (and at
# least 10 per cluster): seeding is one pass over the sample per centre.
_SEED_SAMPLE = 20_000


def _kmeans_pp(X, n_clusters, rng, xp):
    """k-means++ (D^2 sampling) on the rows of X; returns (n_clusters, D) centres.

    The uniform draws come from the host generator; the cumulative sums and the
    search run on X's backend, so no host round trip is needed per centre.
    """
    n = X.shape[0]
    first = random_choice(rng, n, 1, xp=xp)
    centres = [xp.take(X, first, axis=0)]
    d2 = squared_distances(X, centres[0], xp=xp)[:, 0]
    for _ in range(1, n_clusters):
        cum = xp.cumulative_sum(d2)
        total = cum[-1:]
        u = xp.asarray(rng.uniform(0.0, 1.0, size=(1,)), dtype=X.dtype)
        # All remaining mass zero (duplicates): fall back to a uniform pick.
        target = u * total
        pick = xp.searchsorted(cum, target, side="right")
        pick = xp.clip(pick, 0, n - 1)
        uniform_pick = xp.asarray(rng.integers(0, n, size=(1,)), dtype=pick.dtype)
        pick = xp.where(total > 0, pick, uniform_pick)
        centre = xp.take(X, xp.astype(pick, xp.int64), axis=0)
        centres.append(centre)
        d2 = xp.minimum(d2, squared_distances(X, centre, xp=xp)[:, 0])
    return xp.concat(centres, axis=0)


def kmeans(X, n_clusters: int, *, n_iter: int = 20, seed=0):
    """Cluster the rows of X into ``n_clusters`` groups (squared L2).

    Parameters
    ----------
    X : array, shape (N, D)
        Data on any supported backend, float32 or float64, finite.
    n_clusters : int
        Number of centres, ``1 <= n_clusters <= N``.
    n_iter : int, default 20
        Maximum number of Lloyd iterations (stops earlier when no label changes).
    seed : int, SeedSequence or numpy Generator
        Seeds the k-means++ draws (host generator): one seed, the same centres on
        every backend.

    Returns
    -------
    centres : array, shape (n_clusters, D)
        On X's backend, X's dtype. A cluster that empties keeps its previous centre.
    labels : array of int64, shape (N,)
        Index of each point's nearest centre.

    Examples
    --------
    >>> import numpy as np
    >>> from tt_ref.cloud._kmeans import kmeans
    >>> X = np.array([[0.0, 0.0], [0.0, 1.0], [10.0, 0.0], [10.0, 1.0]])
    >>> centres, labels = kmeans(X, 2, seed=0)
    >>> sorted(centres.tolist())
    [[0.0, 0.5], [10.0, 0.5]]
    >>> bool(labels[0] == labels[1] and labels[2] == labels[3] and labels[0] != labels[2])
    True
    """
    xp = array_namespace(X, names=("X",))
    X = as_float_array(X, name="X", xp=xp, ndim=2, nonempty=True)
    # Divide by a power of two when squared distances would overflow or underflow
    # (exact; a no-op in the normal range): k-means++ weights and Lloyd see the same data.
    X, scale = scaled_to_safe_range(X, xp=xp)
    n = X.shape[0]
    if isinstance(n_clusters, bool) or not isinstance(n_clusters, (int, np.integer)):
        raise ArgumentTypeError(f"n_clusters must be an integer, got {n_clusters!r}")
    n_clusters = int(n_clusters)
    if not 1 <= n_clusters <= n:
        raise ArgumentValueError(f"n_clusters must be in [1, {n}] (the number of rows of X), got {n_clusters}")
    n_iter = check_int(n_iter, name="n_iter", minimum=0)
    rng = default_rng(seed)
    sample_size = min(n, max(_SEED_SAMPLE, 10 * n_clusters))
    if sample_size < n:
        rows = xp.sort(random_choice(rng, n, sample_size, xp=xp))
        seed_set = xp.take(X, rows, axis=0)
    else:
        seed_set = X
    centres = _kmeans_pp(seed_set, n_clusters, rng, xp)
    labels = nearest_neighbors(X, centres, 1, check_values=False)[1][:, 0]
    ones = xp.ones((n, 1), dtype=X.dtype)
    for _ in range(int(n_iter)):
        # One-hot GEMM sums on every backend: the same arithmetic everywhere, so a seed
        # gives bitwise the same centres on NumPy and array_api_strict.
        sums = scatter_add(n_clusters, labels, X, xp=xp, force_standard=True)
        counts = scatter_add(n_clusters, labels, ones, xp=xp, force_standard=True)
        centres = xp.where(counts > 0, sums / xp.maximum(counts, 1.0), centres)
        new_labels = nearest_neighbors(X, centres, 1, check_values=False)[1][:, 0]
        changed = bool(xp.any(new_labels != labels))
        labels = new_labels
        if not changed:
            break
    return (centres * scale if scale != 1.0 else centres), labels
