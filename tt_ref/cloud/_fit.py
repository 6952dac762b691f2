"""Fit a TT point cloud to a data set as a distribution (METHOD.md §3).

``loss = SW_2^2 + alpha_fwd * nn_forward + alpha_inv * nn_inverse`` on a batch of data
rows and an equal batch of TT points (random multi-indices), with fresh random
directions each step; analytic gradients (:mod:`tt_ref.cloud._losses`), Adam
(:mod:`tt_ref.cloud._optim`). Spec, defaults and the measurements behind them:
``specs/fit.md`` and ``docs/guide-point-clouds.md``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .._backend import (
    array_namespace,
    as_float_array,
    backend_name,
    default_rng,
    from_numpy,
    move_array,
    random_integers,
    random_normal,
    to_floats,
    to_scalar,
)
from ._kmeans import kmeans
from ._losses import _cores_gradient, _sliced_wasserstein
from .._backend._neighbors import squared_distances
from ._optim import adam_init, adam_step
from ._point_cloud import TTPointCloud, _first_core_apply, _right_partials, _sample_multi, check_config

__all__ = ["FitResult", "fit_point_cloud", "DEFAULTS"]

#: Default hyperparameters, chosen from the measurements in docs/guide-point-clouds.md.
DEFAULTS = {
    "alpha_fwd": None,  # 1 / D
    "alpha_inv": None,  # 0.1 / D
    "n_projections": 64,
    "batch_size": 1024,
    "steps": 1000,
    "lr": 0.03,
    "init": "kmeans",
}

# Evaluations of the fixed evaluation batch per fit (best-cloud tracking, history,
# progress bar and callback all happen at these steps only: they are the host syncs).
_N_EVALS = 50
# Final learning rate as a fraction of lr (cosine decay).
_LR_FLOOR = 0.05
# Steps whose random draws are made on the host together and moved in one transfer per
# array (a transfer from pageable host memory can stall the device queue on a GPU).
# The draws are made in the same order as step by step, so the numbers do not change.
_DRAW_BLOCK = 32
# The data rows of a block are gathered together too (one gather per block is also much
# faster on NumPy when X is in Fortran order), at most this many entries at once.
_BLOCK_ENTRIES = 1 << 22


@dataclass
class FitResult:
    """What :func:`fit_point_cloud` returns.

    Attributes
    ----------
    cloud : TTPointCloud
        The cloud with the lowest loss on the fixed evaluation batch (X's backend and dtype).
    history : dict of list of float
        ``"step"``, ``"loss"``, ``"sw"``, ``"nn_forward"``, ``"nn_inverse"`` measured on
        the fixed evaluation batch at every evaluation step (step 0 included).
    seconds : float
        Wall-clock time of the fit (initialization included).
    interrupted : bool
        True when a KeyboardInterrupt stopped the fit (the best cloud so far is kept).
    """

    cloud: TTPointCloud
    history: dict = field(default_factory=dict)
    seconds: float = 0.0
    interrupted: bool = False


# --------------------------------------------------------------------------- helpers
def _power_of_two_scale(X, xp) -> float:
    """RMS deviation of X from its mean, rounded to a power of two (exact rescaling)."""
    centred = X - xp.mean(X, axis=0, keepdims=True)
    rms = math.sqrt(to_scalar(xp.mean(centred * centred)))
    if not rms > 0:
        return 1.0
    return 2.0 ** round(math.log2(rms))


def _unit_columns(theta, xp):
    """Scale each column (axis -2 holds the coordinates) to unit length."""
    return theta / xp.sqrt(xp.sum(theta * theta, axis=-2, keepdims=True))


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


def _losses_and_grad(cores, data_batch, multi, directions, alpha_fwd, alpha_inv, xp):
    """Loss terms (0-d arrays) and the gradient wrt the cores for one batch."""
    rights = _right_partials(cores, multi, xp)
    points = _first_core_apply(cores[0], multi[:, 0], rights[0], xp)
    sw, grad = _sliced_wasserstein(data_batch, points, directions, xp)
    terms = {"sw": sw}
    rows_multi, rows_rights, rows_grad = multi, rights, grad
    if alpha_fwd > 0 or alpha_inv > 0:
        # One distance matrix serves both nearest-neighbour terms.
        d2 = squared_distances(data_batch, points, xp=xp)  # (B_data, B_points)
        if alpha_inv > 0:
            nearest_data = xp.argmin(d2, axis=0)
            diff = points - xp.take(data_batch, nearest_data, axis=0)
            n_points = points.shape[0]
            terms["nn_inverse"] = xp.sum(diff * diff) / n_points
            rows_grad = rows_grad + (alpha_inv * 2.0 / n_points) * diff
        if alpha_fwd > 0:
            nearest_point = xp.argmin(d2, axis=1)
            diff = xp.take(points, nearest_point, axis=0) - data_batch
            n_data = data_batch.shape[0]
            terms["nn_forward"] = xp.sum(diff * diff) / n_data
            # Each data row pulls its nearest TT point. The cores gradient is linear in
            # the point gradients, so instead of scattering the pulls onto the points
            # (a B x B one-hot product), append them as extra rows carrying the nearest
            # point's multi-index: the cores see the same sum, for O(B D r) more work.
            rows_multi = xp.concat([multi, xp.take(multi, nearest_point, axis=0)], axis=0)
            rows_rights = [xp.concat([r, xp.take(r, nearest_point, axis=0)], axis=0) for r in rights]
            rows_grad = xp.concat([rows_grad, (alpha_fwd * 2.0 / n_data) * diff], axis=0)
    zero = xp.zeros((), dtype=points.dtype)
    terms.setdefault("nn_forward", zero)
    terms.setdefault("nn_inverse", zero)
    total = terms["sw"] + alpha_fwd * terms["nn_forward"] + alpha_inv * terms["nn_inverse"]
    return total, terms, _cores_gradient(cores, rows_multi, rows_grad, xp, rights=rows_rights)


def _evaluate(cores, batch, alpha_fwd, alpha_inv, xp):
    data_batch, multi, directions = batch
    rights = _right_partials(cores, multi, xp)
    points = _first_core_apply(cores[0], multi[:, 0], rights[0], xp)
    sw, _ = _sliced_wasserstein(data_batch, points, directions, xp)
    d2 = squared_distances(data_batch, points, xp=xp)
    fwd = xp.mean(xp.min(d2, axis=1))
    inv = xp.mean(xp.min(d2, axis=0))
    sw, fwd, inv = to_floats(sw, fwd, inv)  # one device-to-host read for the three terms
    values = {"sw": sw, "nn_forward": fwd, "nn_inverse": inv}
    values["loss"] = values["sw"] + alpha_fwd * values["nn_forward"] + alpha_inv * values["nn_inverse"]
    return values


def _flatten(arrays, xp):
    """One vector of all entries, array after array (C order inside each)."""
    return xp.concat([xp.reshape(a, (-1,)) for a in arrays])


def _unflatten(flat, shapes, xp):
    """Views of ``flat`` with ``shapes`` (the inverse of :func:`_flatten`)."""
    out, start = [], 0
    for shape in shapes:
        size = math.prod(shape)
        out.append(xp.reshape(flat[start:start + size], shape))
        start += size
    return tuple(out)


def _fit_step(params, cores, batch, state, lr, alpha_fwd, alpha_inv, xp):
    """One optimisation step of the flat parameter vector ``params[0]`` whose values
    ``cores`` hold; returns the new ``(params, state, cores)``, the cores as views.

    Adam runs on all cores as one vector: it is elementwise, so the numbers are those of
    a per-core update, with one set of kernel launches instead of one per core. No host
    reads (specs/gpu.md §Sync points).
    """
    data_batch, multi, directions = batch
    _, _, grads = _losses_and_grad(cores, data_batch, multi, directions, alpha_fwd, alpha_inv, xp)
    params, state = adam_step(params, (_flatten(grads, xp),), state, lr=lr)
    return params, state, _unflatten(params[0], [tuple(c.shape) for c in cores], xp)


def _learning_rate(lr, step, steps):
    """Cosine decay from ``lr`` to ``_LR_FLOOR * lr`` over the fit (specs/fit.md §Optimizer)."""
    progress = step / max(steps, 1)
    return lr * (_LR_FLOOR + (1.0 - _LR_FLOOR) * 0.5 * (1.0 + math.cos(math.pi * progress)))


def _check_positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _check_weight(value, name):
    value = float(value)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite non-negative number, got {value}")
    return value


def _progress_bar(total, enabled):
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # tqdm is optional: no bar without it
        return None
    return tqdm(total=total, desc="fit TT point cloud", unit="step", leave=False)


# --------------------------------------------------------------------------- public
def fit_point_cloud(
    X,
    mode_sizes,
    ranks,
    *,
    alpha_fwd: float | None = DEFAULTS["alpha_fwd"],
    alpha_inv: float | None = DEFAULTS["alpha_inv"],
    n_projections: int = DEFAULTS["n_projections"],
    batch_size: int = DEFAULTS["batch_size"],
    steps: int = DEFAULTS["steps"],
    lr: float = DEFAULTS["lr"],
    init=DEFAULTS["init"],
    seed=0,
    backend: str | None = None,
    progress: bool = True,
    callback: Callable | None = None,
) -> FitResult:
    """Fit a TT point cloud with ``mode_sizes`` and ``ranks`` to the rows of ``X``.

    Minimizes ``SW_2^2 + alpha_fwd * nn_forward + alpha_inv * nn_inverse`` with Adam
    on batches of ``batch_size`` data rows (drawn with replacement) and
    ``batch_size`` TT points (uniform multi-indices), with ``n_projections`` fresh
    unit directions each step. The work happens in units where the data's RMS
    spread is about 1 (a power-of-two rescaling, undone exactly at the end), so
    ``lr`` does not depend on the data's scale.

    Parameters
    ----------
    X : array, shape (N, D)
        Data on any backend, float32 or float64, finite; ``N >= batch_size``.
    mode_sizes : sequence of int
        ``(n_1, ..., n_k)``, each >= 1.
    ranks : sequence of int
        ``(r_1, ..., r_{k-1})``, each >= 1.
    alpha_fwd, alpha_inv : float, optional
        Weights of the forward (coverage) and inverse nearest-neighbour terms; by
        default ``1 / D`` and ``0.1 / D``: SW_2^2 is a squared distance along one
        direction, about ``1/D`` of the full squared distances the nearest-neighbour
        terms measure, so these weights keep the balance across dimensions
        (measured on MNIST, D = 784, and GloVe, D = 50: docs/guide-point-clouds.md).
    n_projections : int
        Directions L per step.
    batch_size : int
        Data rows and TT points per step.
    steps : int
        Adam steps (0 returns the initial cloud).
    lr : float
        Adam step size, in the rescaled units.
    init : "kmeans", "random" or TTPointCloud
        ``"kmeans"``: level-1 centroids start at k-means centres of the data;
        ``"random"``: Gaussian cores with the data's spread, centred on its mean; a
        cloud (e.g. loaded from disk) resumes from it.
    seed : int, SeedSequence or numpy Generator
        Seeds one host generator for every random draw: the same seed gives the
        same cores on every backend.
    backend : str, optional
        Move X there first; by default X's own backend.
    progress : bool
        Show a tqdm bar with the loss (if tqdm is installed).
    callback : callable, optional
        ``callback(step, cloud, losses)`` at every evaluation step (about 50 per fit),
        ``losses`` a dict of floats on the evaluation batch; returning True stops.

    Returns
    -------
    FitResult
        ``cloud`` is the cloud with the lowest loss on a fixed evaluation batch
        (measured at step 0 and about 50 times during the fit).

    Examples
    --------
    >>> import numpy as np
    >>> from tt_ref import fit_point_cloud
    >>> X = np.random.default_rng(0).normal(size=(256, 3))
    >>> result = fit_point_cloud(X, (4, 4), (2,), batch_size=64, steps=20, progress=False)
    >>> result.cloud.n_points, len(result.history["loss"]) > 1, result.interrupted
    (16, True, False)
    """
    start_time = time.perf_counter()
    if backend is not None:
        X = move_array(X, backend)
    try:
        xp = array_namespace(X, names=("X",))
    except TypeError as exc:
        raise TypeError(f"X must be an array (numpy, cupy or array_api_strict), got {type(X).__name__}") from exc
    X = as_float_array(X, name="X", xp=xp, ndim=2)
    n_data, dim = X.shape
    dim, mode_sizes, ranks = check_config(dim, mode_sizes, ranks)
    alpha_fwd = 1.0 / dim if alpha_fwd is None else _check_weight(alpha_fwd, "alpha_fwd")
    alpha_inv = 0.1 / dim if alpha_inv is None else _check_weight(alpha_inv, "alpha_inv")
    n_projections = _check_positive_int(n_projections, "n_projections")
    batch_size = _check_positive_int(batch_size, "batch_size")
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ValueError(f"steps must be a non-negative integer, got {steps!r}")
    steps = int(steps)
    lr = float(lr)
    if not (math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a finite positive number, got {lr}")
    if n_data < batch_size:
        raise ValueError(f"X has {n_data} rows, fewer than batch_size = {batch_size}; lower batch_size")
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable, got {type(callback).__name__}")
    if isinstance(init, TTPointCloud):
        if init.dim != dim:
            raise ValueError(f"init cloud has dimension {init.dim} but X has dimension {dim}")
        if init.mode_sizes != mode_sizes or init.ranks != ranks:
            raise ValueError(
                f"init cloud has mode_sizes {init.mode_sizes} and ranks {init.ranks}, "
                f"but mode_sizes {mode_sizes} and ranks {ranks} were asked for"
            )
    elif isinstance(init, str):
        if init not in ("kmeans", "random"):
            raise ValueError(f"init must be 'kmeans', 'random' or a TTPointCloud, got {init!r}")
    else:
        raise TypeError(f"init must be 'kmeans', 'random' or a TTPointCloud, got {type(init).__name__}")

    rng = default_rng(seed)
    scale = _power_of_two_scale(X, xp)
    work = X / scale  # exact: scale is a power of two
    if isinstance(init, TTPointCloud):
        start = init.to_backend(backend_name(xp)).astype(X.dtype).cores
        cores = (start[0] / scale,) + tuple(start[1:])
    else:
        cores = _initial_cores(work, mode_sizes, ranks, init, rng, xp)

    def draw_batches(n_steps):
        """Batches of ``n_steps`` steps: drawn on the host in step order, moved together."""
        draws = [
            (
                random_integers(rng, 0, n_data, (batch_size,), xp=None),
                _sample_multi(rng, mode_sizes, batch_size, None),
                random_normal(rng, (dim, n_projections), xp=None, dtype=X.dtype),
            )
            for _ in range(n_steps)
        ]
        rows = from_numpy(np.concatenate([d[0] for d in draws]), xp)
        multi = from_numpy(np.stack([d[1] for d in draws]), xp)
        directions = _unit_columns(from_numpy(np.stack([d[2] for d in draws]), xp), xp)
        data = xp.reshape(xp.take(work, rows, axis=0), (n_steps, batch_size, dim))
        return [(data[i, :, :], multi[i, :, :], directions[i, :, :]) for i in range(n_steps)]

    eval_batch = draw_batches(1)[0]
    eval_every = max(1, steps // _N_EVALS)
    history = {"step": [], "loss": [], "sw": [], "nn_forward": [], "nn_inverse": []}

    def to_cloud(cs):
        return TTPointCloud._from_cores((cs[0] * scale,) + tuple(cs[1:]))

    best_cores, best_loss = cores, math.inf
    stop = False

    def record(step, cs):
        nonlocal best_cores, best_loss, stop
        values = _evaluate(cs, eval_batch, alpha_fwd, alpha_inv, xp)
        # Report in the data's units (the work happens in units rescaled by 1/scale).
        values = {key: value * scale * scale for key, value in values.items()}
        history["step"].append(step)
        for key in ("loss", "sw", "nn_forward", "nn_inverse"):
            history[key].append(values[key])
        if values["loss"] < best_loss:
            best_cores, best_loss = cs, values["loss"]
        if bar is not None:
            bar.set_postfix(loss=f"{values['loss']:.4g}", sw=f"{values['sw']:.3g}")
        if callback is not None and callback(step, to_cloud(cs), dict(values)) is True:
            stop = True

    bar = _progress_bar(steps, progress)
    interrupted = False
    try:
        record(0, cores)
        params = (_flatten(cores, xp),)
        state = adam_init(params)
        step = 0
        pending = []
        block_steps = max(1, min(_DRAW_BLOCK, _BLOCK_ENTRIES // (batch_size * dim)))
        while step < steps and not stop:
            if not pending:
                pending = draw_batches(min(block_steps, steps - step))[::-1]
            data_batch, multi, directions = pending.pop()
            params, state, cores = _fit_step(params, cores, (data_batch, multi, directions), state,
                                             _learning_rate(lr, step, steps), alpha_fwd, alpha_inv, xp)
            step += 1
            if bar is not None:
                bar.update(1)
            if step % eval_every == 0 or step == steps:
                record(step, cores)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        if bar is not None:
            bar.close()
    return FitResult(
        cloud=to_cloud(best_cores),
        history=history,
        seconds=time.perf_counter() - start_time,
        interrupted=interrupted,
    )
