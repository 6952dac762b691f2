"""Fit a TT point cloud to a data set as a distribution (specs/fit.md).

``loss = SW_2^2 + alpha_fwd * nn_forward + alpha_inv * nn_inverse`` on a batch of data
rows and an equal batch of TT points (random multi-indices), with fresh random
directions each step; analytic gradients (:mod:`tt_ref.cloud._losses`), Adam
(:mod:`tt_ref.cloud._optim`); then, optionally, exact least-squares sweeps
(:mod:`tt_ref.cloud._refine`). The fit is three parts around a short loop: the options
(:class:`tt_ref.cloud._config.FitConfig`), a stream of batches drawn on the host
(:class:`BatchStream`) and the tracker of the best cloud (:class:`BestTracker`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .._backend import (
    ArgumentTypeError,
    ArgumentValueError,
    array_namespace,
    as_float_array,
    backend_name,
    default_rng,
    from_numpy,
    move_array,
    progress_bar,
    random_integers,
    random_normal,
    to_floats,
)
from .._backend._neighbors import squared_distances
from ._config import DEFAULTS, FitConfig
from ._init import _initial_cores, _power_of_two_scale
from ._kernels import _cores_gradient, _first_core_apply, _right_partials, _sample_multi
from ._losses import _sliced_wasserstein
from ._optim import adam_init, adam_step
from ._point_cloud import TTPointCloud, check_config

__all__ = ["FitResult", "fit_point_cloud", "DEFAULTS", "BatchStream", "BestTracker"]

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
        The fitted cloud (X's backend and dtype): the one with the lowest loss on the
        fixed evaluation batch, then refined when ``refine_sweeps > 0``.
    history : dict of list of float
        ``"step"``, ``"loss"``, ``"sw"``, ``"nn_forward"``, ``"nn_inverse"`` measured on
        the fixed evaluation batch at every evaluation step (step 0 included).
    seconds : float
        Wall-clock time of the fit (initialization and refinement included).
    interrupted : bool
        True when a KeyboardInterrupt stopped the fit (the best cloud so far is kept).
    refinement : dict
        What the least-squares sweeps did (empty without them): ``"quantization"``,
        the mean squared distance of the assigned rows to their TT points before the
        first and after each sweep (data units, never increasing), ``"rows"`` assigned,
        ``"repaired"`` slabs re-seeded, ``"rejected"`` core solves dropped for not
        lowering the error, ``"seconds"``.
    config : dict
        The options the fit ran with (weights resolved for the data's dimension).
    """

    cloud: TTPointCloud
    history: dict = field(default_factory=dict)
    seconds: float = 0.0
    interrupted: bool = False
    refinement: dict = field(default_factory=dict)
    config: dict = field(default_factory=dict)


# --------------------------------------------------------------------------- one step
def _losses_and_grad(cores, data_batch, multi, directions, alpha_fwd, alpha_inv, xp, sw_weight=1.0):
    """Loss terms (0-d arrays) and the gradient wrt the cores for one batch.

    ``loss = sw_weight * sw + alpha_fwd * nn_forward + alpha_inv * nn_inverse``.
    """
    rights = _right_partials(cores, multi, xp)
    points = _first_core_apply(cores[0], multi[:, 0], rights[0], xp)
    sw, grad = _sliced_wasserstein(data_batch, points, directions, xp)
    if sw_weight != 1.0:  # (1.0 keeps the arithmetic of the method as first released)
        grad = sw_weight * grad
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
    total = sw_weight * terms["sw"] + alpha_fwd * terms["nn_forward"] + alpha_inv * terms["nn_inverse"]
    return total, terms, _cores_gradient(cores, rows_multi, rows_grad, xp, rights=rows_rights)


def _evaluate(cores, batch, alpha_fwd, alpha_inv, xp, sw_weight=1.0):
    data_batch, multi, directions = batch
    rights = _right_partials(cores, multi, xp)
    points = _first_core_apply(cores[0], multi[:, 0], rights[0], xp)
    sw, _ = _sliced_wasserstein(data_batch, points, directions, xp)
    d2 = squared_distances(data_batch, points, xp=xp)
    fwd = xp.mean(xp.min(d2, axis=1))
    inv = xp.mean(xp.min(d2, axis=0))
    sw, fwd, inv = to_floats(sw, fwd, inv)  # one device-to-host read for the three terms
    values = {"sw": sw, "nn_forward": fwd, "nn_inverse": inv}
    values["loss"] = sw_weight * values["sw"] + alpha_fwd * values["nn_forward"] + alpha_inv * values["nn_inverse"]
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


def _fit_step(params, cores, batch, state, lr, alpha_fwd, alpha_inv, xp, sw_weight=1.0):
    """One optimisation step of the flat parameter vector ``params[0]`` whose values
    ``cores`` hold; returns the new ``(params, state, cores)``, the cores as views.

    Adam runs on all cores as one vector: it is elementwise, so the numbers are those of
    a per-core update, with one set of kernel launches instead of one per core. No host
    reads (specs/gpu.md §Sync points).
    """
    data_batch, multi, directions = batch
    _, _, grads = _losses_and_grad(cores, data_batch, multi, directions, alpha_fwd, alpha_inv, xp, sw_weight)
    params, state = adam_step(params, (_flatten(grads, xp),), state, lr=lr)
    return params, state, _unflatten(params[0], [tuple(c.shape) for c in cores], xp)


def _learning_rate(lr, step, steps):
    """Cosine decay from ``lr`` to ``_LR_FLOOR * lr`` over the fit (specs/fit.md §Optimizer)."""
    progress = step / max(steps, 1)
    return lr * (_LR_FLOOR + (1.0 - _LR_FLOOR) * 0.5 * (1.0 + math.cos(math.pi * progress)))


def _unit_columns(theta, xp):
    """Scale each column (axis -2 holds the coordinates) to unit length."""
    return theta / xp.sqrt(xp.sum(theta * theta, axis=-2, keepdims=True))


# --------------------------------------------------------------------------- the parts
class BatchStream:
    """The random batches of a fit, drawn on the host in step order from one generator.

    Each step draws ``batch_size`` data rows (with replacement), ``batch_size`` TT
    multi-indices and ``n_projections`` directions, in that order. Draws for up to
    ``_DRAW_BLOCK`` steps are made together and moved in one transfer per array; the
    numbers are those of one draw per step (specs/fit.md §Batches).
    """

    def __init__(self, work, config: FitConfig, mode_sizes, rng, xp):
        self.work, self.config, self.mode_sizes, self.rng, self.xp = work, config, mode_sizes, rng, xp
        self.n_data, self.dim = int(work.shape[0]), int(work.shape[1])
        self.block_steps = max(1, min(_DRAW_BLOCK, _BLOCK_ENTRIES // (config.batch_size * self.dim)))
        self._pending: list = []

    def draw(self, n_steps: int) -> list:
        """Batches ``(data, multi, directions)`` of the next ``n_steps`` steps."""
        xp, batch, rng = self.xp, self.config.batch_size, self.rng
        draws = [
            (
                random_integers(rng, 0, self.n_data, (batch,), xp=None),
                _sample_multi(rng, self.mode_sizes, batch, None),
                random_normal(rng, (self.dim, self.config.n_projections), xp=None, dtype=self.work.dtype),
            )
            for _ in range(n_steps)
        ]
        rows = from_numpy(np.concatenate([d[0] for d in draws]), xp)
        multi = from_numpy(np.stack([d[1] for d in draws]), xp)
        directions = _unit_columns(from_numpy(np.stack([d[2] for d in draws]), xp), xp)
        data = xp.reshape(xp.take(self.work, rows, axis=0), (n_steps, batch, self.dim))
        return [(data[i, :, :], multi[i, :, :], directions[i, :, :]) for i in range(n_steps)]

    def next_batch(self, steps_left: int):
        """The batch of the next step (a new block is drawn when the last one is used)."""
        if not self._pending:
            self._pending = self.draw(min(self.block_steps, steps_left))[::-1]
        return self._pending.pop()


class BestTracker:
    """Evaluates a fixed batch at chosen steps; keeps the history and the best cores.

    Each evaluation is the only host read of the loop (the three loss terms together);
    values are reported in the data's units (the work is in units rescaled by
    ``1 / scale``). The callback and the progress bar are served here too.
    """

    def __init__(self, eval_batch, config: FitConfig, scale: float, *, callback=None, bar=None, to_cloud=None):
        self.eval_batch, self.config, self.scale = eval_batch, config, scale
        self.callback, self.bar, self.to_cloud = callback, bar, to_cloud
        self.history = {"step": [], "loss": [], "sw": [], "nn_forward": [], "nn_inverse": []}
        self.best_cores, self.best_loss, self._best_raw = None, math.inf, math.inf

    def record(self, step: int, cores, xp) -> bool:
        """Evaluate ``cores`` at ``step``; True when the callback asks to stop."""
        config = self.config
        raw = _evaluate(cores, self.eval_batch, config.alpha_fwd, config.alpha_inv, xp, config.sw_weight)
        values = {key: value * self.scale * self.scale for key, value in raw.items()}
        self.history["step"].append(step)
        for key in ("loss", "sw", "nn_forward", "nn_inverse"):
            self.history[key].append(values[key])
        # Compared in fit units: for data near the float range the loss in data units
        # overflows, and scale is a power of two, so the order is the same.
        if raw["loss"] < self._best_raw:
            self.best_cores, self.best_loss, self._best_raw = cores, values["loss"], raw["loss"]
        if self.bar is not None:
            self.bar.set_postfix(loss=f"{values['loss']:.4g}", sw=f"{values['sw']:.3g}")
        return self.callback is not None and self.callback(step, self.to_cloud(cores), dict(values)) is True


def _run_adam(cores, stream: BatchStream, tracker: BestTracker, config: FitConfig, xp, bar) -> bool:
    """The Adam loop; returns whether a KeyboardInterrupt ended it (best cores in ``tracker``)."""
    steps = config.steps
    eval_every = max(1, steps // _N_EVALS)
    try:
        if tracker.record(0, cores, xp):
            return False
        params = (_flatten(cores, xp),)
        state = adam_init(params)
        for step in range(1, steps + 1):
            batch = stream.next_batch(steps - step + 1)
            lr = _learning_rate(config.lr, step - 1, steps)
            params, state, cores = _fit_step(params, cores, batch, state, lr, config.alpha_fwd, config.alpha_inv, xp,
                                             config.sw_weight)
            bar.update(1)
            if (step % eval_every == 0 or step == steps) and tracker.record(step, cores, xp):
                break
    except KeyboardInterrupt:
        return True
    return False


# --------------------------------------------------------------------------- public
def _as_data(X, backend):
    if backend is not None:
        X = move_array(X, backend)
    try:
        xp = array_namespace(X, names=("X",))
    except TypeError as exc:
        raise ArgumentTypeError(
            f"X must be an array (numpy, cupy or array_api_strict), got {type(X).__name__}"
        ) from exc
    return as_float_array(X, name="X", xp=xp, ndim=2, nonempty=True), xp


def _check_init_cloud(init, dim, mode_sizes, ranks) -> None:
    if not isinstance(init, TTPointCloud):
        return
    if init.dim != dim:
        raise ArgumentValueError(f"init cloud has dimension {init.dim} but X has dimension {dim}")
    if init.mode_sizes != mode_sizes or init.ranks != ranks:
        raise ArgumentValueError(
            f"init cloud has mode_sizes {init.mode_sizes} and ranks {init.ranks}, "
            f"but mode_sizes {mode_sizes} and ranks {ranks} were asked for"
        )


def fit_point_cloud(X, mode_sizes, ranks, *, seed=0, backend: str | None = None, progress: bool = True,
                    callback: Callable | None = None, **options) -> FitResult:
    """Fit a TT point cloud with ``mode_sizes`` and ``ranks`` to the rows of ``X``.

    Minimizes ``SW_2^2 + alpha_fwd * nn_forward + alpha_inv * nn_inverse`` with Adam
    on batches of ``batch_size`` data rows (drawn with replacement) and
    ``batch_size`` TT points (uniform multi-indices), with ``n_projections`` fresh
    unit directions each step; then, with ``refine_sweeps > 0``, refines the cores by
    exact least squares on the assignment of rows to their nearest TT points (never
    increasing the quantization error). The work happens in units where the data's
    RMS spread is about 1 (a power-of-two rescaling, undone exactly at the end), so
    ``lr`` does not depend on the data's scale.

    Parameters
    ----------
    X : array, shape (N, D)
        Data on any backend, float32 or float64, finite; ``N >= batch_size``.
    mode_sizes : sequence of int
        ``(n_1, ..., n_k)``, each >= 1.
    ranks : sequence of int
        ``(r_1, ..., r_{k-1})``, each >= 1.
    seed : int, SeedSequence or numpy Generator
        Seeds one host generator for every random draw: the same seed gives the
        same cores on every backend.
    backend : str, optional
        Move X there first; by default X's own backend.
    progress : bool
        Show a tqdm bar with the loss (when tqdm is installed and stderr is a terminal).
    callback : callable, optional
        ``callback(step, cloud, losses)`` at every evaluation step (about 50 per fit),
        ``losses`` a dict of floats on the evaluation batch; returning True stops.
    **options
        The fit's options, validated by ``tt_ref.cloud._config.FitConfig`` (defaults in
        ``tt_ref.cloud._fit.DEFAULTS``; an unknown name is a ``TypeError``):
        ``alpha_fwd``, ``alpha_inv`` (weights of the forward and inverse
        nearest-neighbour terms; by default ``1 / D`` and ``0.1 / D``: SW_2^2 is a
        squared distance along one direction, about ``1/D`` of the full squared
        distances the nearest-neighbour terms measure), ``n_projections`` (directions
        per step), ``batch_size``, ``steps`` (0 returns the initial cloud), ``lr``,
        ``init`` (``"kmeans"``: level-1 centroids at k-means centres of the data;
        ``"random"``: centred on the data mean; a ``TTPointCloud`` resumes from it),
        ``refine_sweeps`` (least-squares sweeps after Adam), ``refine_rows`` (rows the
        sweeps assign), ``repair`` (re-seed slabs no row uses) and ``refine_ridge``.

    Returns
    -------
    FitResult
        ``cloud`` is the cloud with the lowest loss on a fixed evaluation batch
        (measured at step 0 and about 50 times during the fit), refined if asked.

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
    X, xp = _as_data(X, backend)
    n_data, dim = X.shape
    dim, mode_sizes, ranks = check_config(dim, mode_sizes, ranks)
    config = FitConfig.from_options(options).resolve(dim, n_data, math.prod(mode_sizes))
    if callback is not None and not callable(callback):
        raise ArgumentTypeError(f"callback must be callable, got {type(callback).__name__}")
    _check_init_cloud(config.init, dim, mode_sizes, ranks)

    rng = default_rng(seed)
    scale = _power_of_two_scale(X, xp)
    work = X / scale  # exact: scale is a power of two
    if isinstance(config.init, TTPointCloud):
        begin = config.init.to_backend(backend_name(xp)).astype(X.dtype).cores
        cores = (begin[0] / scale,) + tuple(begin[1:])
    else:
        cores = _initial_cores(work, mode_sizes, ranks, config.init, rng, xp)
    if config.init_sweeps > 0:
        from ._refine import refine_cores

        cores, _ = refine_cores(cores, work, config.init_sweeps, config, rng, xp)

    def to_cloud(cs):
        return TTPointCloud._from_cores((cs[0] * scale,) + tuple(cs[1:]))

    stream = BatchStream(work, config, mode_sizes, rng, xp)
    bar = progress_bar(config.steps, desc="fit TT point cloud", enabled=progress, unit="step")
    tracker = BestTracker(stream.draw(1)[0], config, scale, callback=callback, bar=bar, to_cloud=to_cloud)
    try:
        interrupted = _run_adam(cores, stream, tracker, config, xp, bar)
    finally:
        bar.close()
    best, refinement = tracker.best_cores, {}
    if config.refine_sweeps > 0 and not interrupted:
        from ._refine import refine_cores

        best, refinement = refine_cores(best, work, config.refine_sweeps, config, rng, xp)
        refinement["quantization"] = [value * scale * scale for value in refinement["quantization"]]
    return FitResult(
        cloud=to_cloud(best),
        history=tracker.history,
        seconds=time.perf_counter() - start_time,
        interrupted=interrupted,
        refinement=refinement,
        config={key: value for key, value in config.as_dict().items() if key != "init"}
        | {"init": config.init if isinstance(config.init, str) else "cloud"},
    )
