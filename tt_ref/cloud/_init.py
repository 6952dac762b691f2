"""Initial cores of a TT point-cloud fit (specs/fit.md §Initialization, §Units).

Both built-in initializations build cores whose level-1 centroids are chosen centres
and whose points spread around them by a chosen amount: ``"kmeans"`` (k-means centres
of the data) and ``"random"`` (every centre at the data mean).
"""

from __future__ import annotations

import math

from .._backend import random_integers, random_normal, to_scalar
from ._kmeans import kmeans

__all__: list[str] = []  # private helpers of the fit


def _power_of_two_scale(X, xp) -> float:
    """RMS deviation of X from its mean, rounded to a power of two (exact rescaling)."""
    centred = X - xp.mean(X, axis=0, keepdims=True)
    rms = math.sqrt(to_scalar(xp.mean(centred * centred)))
    if not math.isfinite(rms):  # squares overflow (values near 1e300): the same RMS, scaled first
        peak = to_scalar(xp.max(xp.abs(centred)))
        if not math.isfinite(peak):
            return 1.0  # the mean overflowed too; the fit's own range checks refuse such data
        rms = peak * math.sqrt(to_scalar(xp.mean((centred / peak) * (centred / peak))))
    if not rms > 0:
        return 1.0
    return 2.0 ** round(math.log2(rms))


def _structured_cores(rng, dim, mode_sizes, ranks, centres, spread, xp, dtype):
    """Initial cores whose level-1 centroids are exactly ``centres`` (n_1, D).

    Rank channel 0 of every bond carries a constant 1 (``G_j[0, i, 0] = 1``,
    ``G_j[0, i, 1:] = 0``), so ``G_1[:, i, 0]`` is the offset of branch i. The other
    channels carry a zero-mean random variation built from the right,
    ``v_{j-1} = a_j(i_j) + M_j(i_j) v_j`` (entries of ``a`` with variance 1/2, of ``M``
    with variance 1/(2 (r_j - 1)), so each entry of ``v`` has variance about 1), and
    ``G_1[:, i, 1:]`` maps it to R^D with per-coordinate spread ``spread``. The mean
    over the suffix of the variation is exactly zero (its cores have zero mean over
    each mode), so ``centroids(1) == centres``. See specs/fit.md §Initialization.
    """
    k = len(mode_sizes)
    left = (dim,) + tuple(ranks)
    right = tuple(ranks) + (1,)
    cores = []
    for j in range(k - 1, 0, -1):
        a, n, b = left[j], mode_sizes[j], right[j]
        draws = random_normal(rng, (a, n, b), xp=xp, dtype=dtype)
        # Zero mean over the mode: the suffix means then carry only the constant channel.
        draws = draws - xp.mean(draws, axis=1, keepdims=True)
        col = xp.reshape(xp.arange(b), (1, 1, b))
        row = xp.reshape(xp.arange(a), (a, 1, 1))
        offsets = math.sqrt(0.5) if b > 1 else 1.0  # the last core has no M part
        mixing = math.sqrt(0.5 / max(b - 1, 1))
        scale = xp.where(col == 0, xp.asarray(offsets, dtype=dtype), xp.asarray(mixing, dtype=dtype))
        core = xp.where(row == 0, xp.asarray(0.0, dtype=dtype), draws * scale)
        core = xp.where((row == 0) & (col == 0), xp.asarray(1.0, dtype=dtype), core)
        cores.append(core)
    cores.reverse()
    r1 = right[0]
    variation = random_normal(rng, (dim, mode_sizes[0], r1), xp=xp, dtype=dtype) * (spread / math.sqrt(max(r1 - 1, 1)))
    col = xp.reshape(xp.arange(r1), (1, 1, r1))
    offset = xp.permute_dims(centres, (1, 0))[:, :, None]  # (D, n_1, 1)
    first = xp.where(col == 0, offset, variation)
    return (first,) + tuple(cores)


def _initial_cores(X, mode_sizes, ranks, init, rng, xp):
    """Initial cores in the working (rescaled) units; see specs/fit.md §Initialization."""
    dim = X.shape[1]
    n_first = mode_sizes[0]
    mean = xp.mean(X, axis=0, keepdims=True)
    if init == "random":
        # Every level-1 centroid at the data mean; random variation with the data's spread.
        centred = X - mean
        spread = math.sqrt(max(to_scalar(xp.mean(centred * centred)), 1e-24))
        centres = xp.broadcast_to(mean, (n_first, dim))
        return _structured_cores(rng, dim, mode_sizes, ranks, centres, spread, xp, X.dtype)
    # "kmeans": level-1 centroids = k-means centres with n_1 clusters; variation with
    # the within-cluster spread.
    n_sample = min(X.shape[0], max(20_000, 50 * n_first))
    rows = random_integers(rng, 0, X.shape[0], (n_sample,), xp=xp) if n_sample < X.shape[0] else None
    sample = X if rows is None else xp.take(X, rows, axis=0)
    n_clusters = min(n_first, sample.shape[0])
    centres, labels = kmeans(sample, n_clusters, n_iter=20, seed=rng)
    if n_clusters < n_first:
        extra = xp.take(centres, xp.asarray(rng.integers(0, n_clusters, size=(n_first - n_clusters,))), axis=0)
        centres = xp.concat([centres, extra], axis=0)
    resid = sample - xp.take(centres, labels, axis=0)
    spread = math.sqrt(max(to_scalar(xp.mean(resid * resid)), 1e-24))
    return _structured_cores(rng, dim, mode_sizes, ranks, centres, spread, xp, X.dtype)
