"""Compress a vector set at an equal parameter budget: the TT cloud and its baselines.

Every method goes through one signature, :func:`compress` (specs/baselines.md):

========  =======================================================================
method    what it returns for ``n_params`` parameters
========  =======================================================================
tt        all ``P`` points of a TT point cloud fitted with
          :func:`tt_ref.cloud.fit_point_cloud`, configuration from
          :func:`tt_ref.cloud.config_for_budget` (or ``mode_sizes``/``ranks``)
tt_svd    TT-SVD of ``P <= N`` data rows reshaped to ``(n_1, ..., n_k, D)`` (D last),
          ranks as large as the budget allows, decoded to ``(P, D)``
kmeans    ``m = n_params // D`` k-means centres (scikit-learn or faiss)
coreset   ``m`` rows chosen by the greedy k-center rule (PatchCore's coreset)
random    ``m`` rows drawn uniformly without replacement
========  =======================================================================

:func:`run_method` returns the same points with the parameter count actually used,
the fit time and the fitted model.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

from .._backend import (
    ArgumentTypeError,
    ArgumentValueError,
    MissingDependencyError,
    array_namespace,
    as_float_array,
    backend_name,
    check_allocation,
    check_int,
    default_rng,
    from_numpy,
    random_choice,
    random_normal,
    synchronize,
    to_numpy,
)

__all__ = ["METHODS", "CompressionResult", "compress", "run_method", "greedy_k_center"]

#: The methods :func:`compress` knows, TT first.
METHODS = ("tt", "tt_svd", "kmeans", "coreset", "random")

_KMEANS_LIBRARIES = ("sklearn", "faiss")


@dataclass
class CompressionResult:
    """What :func:`run_method` returns.

    Attributes
    ----------
    method : str
    points : array, shape (m, D)
        On the backend and with the dtype of the input.
    n_params : int
        Numbers stored by the method (``m * D`` for point sets, the core sizes for TT).
    seconds : float
        Wall-clock time of the fit (device synchronised).
    config : dict
        Method settings actually used (mode sizes, ranks, library, ...).
    model : object or None
        The ``TTPointCloud`` (tt) or ``TensorTrain`` (tt_svd).
    fit : object or None
        The ``FitResult`` of the TT fit (loss history).
    """

    method: str
    points: Any
    n_params: int
    seconds: float
    config: dict = field(default_factory=dict)
    model: Any = None
    fit: Any = None


# --------------------------------------------------------------------------- helpers
def _n_rows_for(n_params: int, dim: int, n_data: int, method: str) -> int:
    m = n_params // dim
    if m < 1:
        raise ArgumentValueError(f"n_params={n_params} is smaller than one point of dimension {dim} (method {method!r})")
    if m > n_data:
        raise ArgumentValueError(
            f"n_params={n_params} allows {m} points of dimension {dim} but X has only {n_data} rows (method {method!r})"
        )
    return m


def _subsample(X, max_points, seed, xp):
    """A seeded uniform subset of at most ``max_points`` rows (for slow baselines on big sets)."""
    if max_points is None:
        return X
    max_points = check_int(max_points, name="max_points", minimum=1)
    if X.shape[0] <= max_points:
        return X
    rows = random_choice(seed, X.shape[0], max_points, xp=xp)
    return xp.take(X, rows, axis=0)


def greedy_k_center(X, m: int, *, seed=0, projection_dim: int | None = None):
    """Indices of ``m`` rows chosen by the greedy k-center rule (PatchCore's coreset).

    Start from one row drawn from ``seed``; then repeatedly add the row farthest (in
    squared L2) from the rows chosen so far, ties to the smaller index. The chosen set
    is a 2-approximation of the optimal k-center covering radius. With
    ``projection_dim``, distances are measured after a seeded Gaussian random projection
    to that many dimensions (as PatchCore does, to speed it up); the rows returned are
    still rows of ``X``.

    Parameters
    ----------
    X : array, shape (N, D)
    m : int
        Number of rows, ``1 <= m <= N``.
    seed : int or numpy.random.Generator
    projection_dim : int, optional

    Returns
    -------
    array of int64, shape (m,)
        Row indices in the order chosen.

    Examples
    --------
    >>> import numpy as np
    >>> from tt_ref.cloud._baselines import greedy_k_center
    >>> X = np.array([[0.0], [1.0], [10.0], [4.0]])
    >>> sorted(greedy_k_center(X, 3, seed=0).tolist())
    [0, 2, 3]
    """
    xp = array_namespace(X, names=("X",))
    X = as_float_array(X, name="X", xp=xp, ndim=2, nonempty=True)
    n_rows = X.shape[0]
    m = check_int(m, name="m", minimum=1, maximum=n_rows)
    rng = default_rng(seed)
    first = int(rng.integers(n_rows))
    Z = X
    if projection_dim is not None:
        projection_dim = check_int(projection_dim, name="projection_dim", minimum=1)
        check_allocation((X.shape[0] + X.shape[1], projection_dim), 8,
                         what=f"greedy_k_center: projection_dim={projection_dim}")
        # Johnson-Lindenstrauss: scaled Gaussian columns keep distances in expectation.
        proj = random_normal(rng, (X.shape[1], projection_dim), xp=xp, dtype=X.dtype)
        Z = (X @ proj) / math.sqrt(projection_dim)
    sq_norms = xp.sum(Z * Z, axis=1)
    positions = xp.arange(n_rows, dtype=xp.int64)

    def sq_dist_to(row):
        # row: a 0-d int64 array, kept on the device (no host sync per step).
        centre = xp.reshape(xp.take(Z, xp.reshape(row, (1,)), axis=0), (-1,))
        # Gram form (one GEMV per step). Chosen rows are marked -1, below every true
        # distance, so rounding (clipped near-duplicates at 0) can never pick one twice.
        d2 = xp.clip(sq_norms - 2.0 * (Z @ centre) + xp.sum(centre * centre), 0.0, None)
        return xp.where(positions == row, xp.full_like(d2, -1.0), d2)

    chosen = [xp.asarray(first, dtype=xp.int64)]
    min_d2 = sq_dist_to(chosen[0])
    for _ in range(m - 1):
        nxt = xp.astype(xp.argmax(min_d2), xp.int64)  # first maximum: ties to the smaller index
        chosen.append(nxt)
        min_d2 = xp.minimum(min_d2, sq_dist_to(nxt))
    return xp.stack(chosen)


# --------------------------------------------------------------------------- methods
def _random(X, n_params, seed, xp):
    m = _n_rows_for(n_params, X.shape[1], X.shape[0], "random")
    rows = random_choice(seed, X.shape[0], m, xp=xp)
    return xp.take(X, rows, axis=0), m * X.shape[1], {"n_points": m}, None


def _coreset(X, n_params, seed, xp, *, projection_dim=None, max_points=None):
    m = _n_rows_for(n_params, X.shape[1], X.shape[0], "coreset")
    pool = _subsample(X, max_points, seed, xp)
    if m > pool.shape[0]:
        raise ArgumentValueError(f"max_points={max_points} is below the {m} points the budget asks for (method 'coreset')")
    rows = greedy_k_center(pool, m, seed=seed, projection_dim=projection_dim)
    config = {"n_points": m, "projection_dim": projection_dim, "pool": int(pool.shape[0])}
    return xp.take(pool, rows, axis=0), m * X.shape[1], config, None


def _kmeans(X, n_params, seed, xp, *, library=None, n_iter=100, max_points=None):
    m = _n_rows_for(n_params, X.shape[1], X.shape[0], "kmeans")
    if library is None:
        for candidate in _KMEANS_LIBRARIES:
            try:
                __import__(candidate)
                library = candidate
                break
            except ImportError:
                continue
        else:
            raise MissingDependencyError("method 'kmeans' needs scikit-learn or faiss: pip install scikit-learn (or faiss-cpu)")
    if library not in _KMEANS_LIBRARIES:
        raise ArgumentValueError(f"library must be one of {_KMEANS_LIBRARIES}, got {library!r}")
    n_iter = check_int(n_iter, name="n_iter", minimum=1)
    pool = _subsample(X, max_points, seed, xp)
    if m > pool.shape[0]:
        raise ArgumentValueError(f"max_points={max_points} is below the {m} centres the budget asks for (method 'kmeans')")
    host = to_numpy(pool)
    seed_int = int(default_rng(seed).integers(2**31 - 1))
    if library == "sklearn":
        try:
            from sklearn.cluster import KMeans
        except ImportError as exc:
            raise MissingDependencyError("kmeans with library='sklearn' needs scikit-learn: pip install scikit-learn") from exc
        model = KMeans(n_clusters=m, n_init=1, max_iter=n_iter, random_state=seed_int, init="k-means++")
        centres = model.fit(host).cluster_centers_
    else:
        try:
            import faiss
        except ImportError as exc:
            raise MissingDependencyError("kmeans with library='faiss' needs faiss: pip install faiss-cpu") from exc
        import numpy as np  # faiss wants contiguous float32 host arrays

        data = np.ascontiguousarray(host, dtype=np.float32)
        model = faiss.Kmeans(data.shape[1], m, niter=n_iter, seed=seed_int, verbose=False,
                             max_points_per_centroid=max(256, data.shape[0] // m + 1))
        model.train(data)
        centres = model.centroids
    points = from_numpy(centres, xp, dtype=X.dtype)
    config = {"n_points": m, "library": library, "n_iter": n_iter, "pool": int(pool.shape[0])}
    return points, m * X.shape[1], config, None


def _tt_param_count(shape, rank: int) -> tuple[int, tuple[int, ...]]:
    """Parameters of a TT of ``shape`` whose ranks are ``rank`` capped by the unfoldings."""
    ranks = [1]
    for j in range(1, len(shape)):
        ranks.append(min(rank, math.prod(shape[:j]), math.prod(shape[j:])))
    ranks.append(1)
    return sum(ranks[j] * shape[j] * ranks[j + 1] for j in range(len(shape))), tuple(ranks)


def _tt_svd_modes(n_data: int, n_levels) -> tuple[int, ...]:
    """Near-equal modes with product <= n_data (as many rows as possible are used)."""
    from ._budget import MAX_MODE_SIZE

    if n_levels is None:
        k = 1
        while math.ceil(n_data ** (1.0 / k)) > MAX_MODE_SIZE:
            k += 1
    else:
        k = int(n_levels)
        if k < 1:
            raise ArgumentValueError(f"n_levels must be >= 1, got {n_levels}")
    base = max(1, int(math.floor(n_data ** (1.0 / k) + 1e-9)))
    while base ** k > n_data:
        base -= 1
    modes = [base] * k
    modes[-1] = max(1, n_data // math.prod(modes[:-1]))
    return tuple(modes)


def _tt_svd(X, n_params, seed, xp, *, n_levels=None, mode_sizes=None):
    from ..tt._svd import tt_svd

    n_data, dim = X.shape
    if mode_sizes is None:
        mode_sizes = _tt_svd_modes(n_data, n_levels)
    mode_sizes = tuple(int(n) for n in mode_sizes)
    if any(n < 1 for n in mode_sizes):
        raise ArgumentValueError(f"mode_sizes must all be >= 1, got {mode_sizes}")
    n_points = math.prod(mode_sizes)
    if n_points > n_data:
        raise ArgumentValueError(f"mode_sizes {mode_sizes} hold {n_points} points but X has only {n_data} rows")
    shape = mode_sizes + (dim,)
    if _tt_param_count(shape, 1)[0] > n_params:
        raise ArgumentValueError(
            f"n_params={n_params} is too small for TT-SVD of shape {shape}: rank 1 needs {_tt_param_count(shape, 1)[0]}"
        )
    low, high = 1, max(_tt_param_count(shape, 10**9)[1])
    while low < high:
        mid = (low + high + 1) // 2
        if _tt_param_count(shape, mid)[0] <= n_params:
            low = mid
        else:
            high = mid - 1
    # The row order is arbitrary (that is the point of the baseline): a seeded subset.
    rows = random_choice(seed, n_data, n_points, xp=xp)
    tensor = xp.reshape(xp.take(X, rows, axis=0), shape)
    train = tt_svd(tensor, max_rank=low)
    # Contract left to right: (prefix, r) @ (r, n * r') -> (prefix * n, r'); D is last.
    acc = xp.reshape(train.cores[0], (mode_sizes[0], -1))
    for core in train.cores[1:]:
        r_left, n_mode, r_right = core.shape
        acc = xp.reshape(acc @ xp.reshape(core, (r_left, n_mode * r_right)), (-1, r_right))
    points = xp.reshape(acc, (n_points, dim))
    config = {"mode_sizes": list(mode_sizes), "max_rank": low, "ranks": list(train.ranks), "n_points": n_points}
    return points, int(train.n_params), config, train


def _tt(X, n_params, seed, xp, *, mode_sizes=None, ranks=None, n_levels=None, **fit_options):
    from ._budget import config_for_budget
    from ._fit import fit_point_cloud
    from ._point_cloud import n_params_for

    n_data, dim = X.shape
    if (mode_sizes is None) != (ranks is None):
        raise ArgumentValueError("give both mode_sizes and ranks, or neither (then the budget rule picks them)")
    if mode_sizes is None:
        mode_sizes, ranks = config_for_budget(dim, n_params, n_data=n_data, n_levels=n_levels)
    needed = n_params_for(dim, mode_sizes, ranks)
    if needed > n_params:
        raise ArgumentValueError(
            f"mode_sizes {tuple(mode_sizes)} with ranks {tuple(ranks)} need {needed} parameters, "
            f"over the budget n_params={n_params}"
        )
    if "batch_size" not in fit_options:
        from ._fit import DEFAULTS

        # A small data set still fits: the batch never exceeds the number of rows.
        fit_options["batch_size"] = min(int(DEFAULTS["batch_size"]), n_data)
    result = fit_point_cloud(X, tuple(mode_sizes), tuple(ranks), seed=seed, **fit_options)
    cloud = result.cloud
    config = {"mode_sizes": list(cloud.mode_sizes), "ranks": list(cloud.ranks), "n_points": cloud.n_points,
              "steps_run": len(result.history.get("step", [])), "interrupted": bool(result.interrupted)}
    return cloud.all_points(), int(cloud.n_params), config, (cloud, result)


_DISPATCH = {"tt": _tt, "tt_svd": _tt_svd, "kmeans": _kmeans, "coreset": _coreset, "random": _random}


def run_method(X, method: str, n_params: int, *, seed=0, **options) -> CompressionResult:
    """Compress ``X`` with ``method`` at ``n_params`` parameters; points, count, time, model.

    Parameters
    ----------
    X : array, shape (N, D)
        Data, any backend; the points come back on the same backend and dtype.
    method : str
        One of ``METHODS``.
    n_params : int
        Parameter budget; the method uses at most this many numbers.
    seed : int
        Seed of every random choice (same result on every backend).
    **options
        Per method: ``tt``: ``mode_sizes``, ``ranks``, ``n_levels`` and anything
        :func:`tt_ref.cloud.fit_point_cloud` takes (``steps``, ``progress``, ...);
        ``tt_svd``: ``n_levels``, ``mode_sizes``; ``kmeans``: ``library``
        (``"sklearn"`` or ``"faiss"``), ``n_iter``, ``max_points``; ``coreset``:
        ``projection_dim``, ``max_points``; ``random``: none. ``max_points`` fits on a
        seeded subsample of that many rows (say so when you report it).

    Returns
    -------
    CompressionResult
    """
    if method not in _DISPATCH:
        raise ArgumentValueError(f"method must be one of {METHODS}, got {method!r}")
    xp = array_namespace(X, names=("X",))
    X = as_float_array(X, name="X", xp=xp, ndim=2)
    if X.shape[0] < 1 or X.shape[1] < 1:
        raise ArgumentValueError(f"X must have at least one row and one column, got shape {tuple(X.shape)}")
    n_params = check_int(n_params, name="n_params", minimum=1)
    try:
        start = time.perf_counter()
        points, used, config, model = _DISPATCH[method](X, n_params, seed, xp, **options)
        synchronize(xp)
        seconds = time.perf_counter() - start
    except TypeError as exc:
        if "unexpected keyword argument" in str(exc):
            raise ArgumentTypeError(f"method {method!r} got an option it does not take: {exc}") from exc
        raise
    fit = None
    if method == "tt":
        model, fit = model
    config["backend"] = backend_name(xp)
    return CompressionResult(method=method, points=points, n_params=used, seconds=seconds, config=config,
                             model=model, fit=fit)


def compress(X, method: str, n_params: int, *, seed=0, **options):
    """The points of ``X`` compressed by ``method`` with at most ``n_params`` numbers.

    See :func:`run_method` for the options; this returns only its ``points``:
    an ``(m, D)`` array on ``X``'s backend, with ``m = n_params // D`` for the point-set
    methods (kmeans, coreset, random) and ``m = P`` (the TT points) for tt and tt_svd.

    Examples
    --------
    >>> import numpy as np
    >>> from tt_ref.cloud._baselines import compress
    >>> X = np.random.default_rng(0).normal(size=(100, 4))
    >>> compress(X, "random", 40, seed=0).shape, compress(X, "coreset", 40, seed=0).shape
    ((10, 4), (10, 4))
    """
    return run_method(X, method, n_params, seed=seed, **options).points
