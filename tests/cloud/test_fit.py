"""Fitting a TT point cloud as a distribution (specs/fit.md), and Adam (specs/fit.md §Optimizer)."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from helpers import eps_of, rel_err, to_np, to_xp
from hypothesis import given
from hypothesis import strategies as st

import tt_ref.cloud._kernels as kernels_module
from tt_ref._backend import backend_name
from tt_ref.cloud._fit import DEFAULTS, FitResult, _losses_and_grad, fit_point_cloud
from tt_ref.cloud._losses import cores_gradient, nn_forward, nn_inverse, sliced_wasserstein
from tt_ref.cloud._optim import adam_init, adam_step
from tt_ref.cloud._point_cloud import TTPointCloud


def known_cloud_data():
    """Data drawn from a known TT cloud: every one of its 16 points, 16 times."""
    true = TTPointCloud.random(3, (4, 4), (2,), seed=5)
    return true, np.repeat(true.all_points(), 16, axis=0)


def fixed_directions(dim, n_dirs=64, seed=0):
    theta = np.random.default_rng(seed).normal(size=(dim, n_dirs))
    return theta / np.linalg.norm(theta, axis=0, keepdims=True)


# --------------------------------------------------------------------------- the fused step
@given(st.integers(1, 3), st.lists(st.integers(1, 3), min_size=1, max_size=3), st.integers(2, 6),
       st.integers(0, 2**31 - 1))
def test_step_gradient_matches_finite_differences(xp, dtype, dim, mode_sizes, batch, seed):
    """specs/fit.md §Loss: the fused step's core gradient = FD of sw + a_f nn_fwd + a_i nn_inv (float64 host)."""
    rng = np.random.default_rng(seed)
    ranks = [int(rng.integers(1, 3)) for _ in mode_sizes[1:]]
    left, right = [dim] + ranks, ranks + [1]
    cores = [rng.normal(size=(a, n, b)) for a, n, b in zip(left, mode_sizes, right)]
    data = rng.normal(size=(batch, dim))
    multi = np.stack([rng.integers(0, n, size=batch) for n in mode_sizes], axis=1)
    theta = fixed_directions(dim, 3, seed)
    alpha_fwd, alpha_inv = 0.7, 0.3

    def total(cs):
        points = TTPointCloud(cs).decode(multi)
        return (sliced_wasserstein(data, points, theta)[0] + alpha_fwd * nn_forward(data, points)[0]
                + alpha_inv * nn_inverse(points, data)[0])

    value, _, grads = _losses_and_grad(
        tuple(to_xp(c, xp, dtype) for c in cores), to_xp(data, xp, dtype), to_xp(multi, xp),
        to_xp(theta, xp, dtype), alpha_fwd, alpha_inv, xp)
    assert abs(float(value) - float(total(cores))) <= 1000 * eps_of(dtype) * max(1.0, float(total(cores)))
    for j, core in enumerate(cores):
        reference = np.zeros_like(core)
        for idx in np.ndindex(core.shape):
            bump = np.zeros_like(core)
            bump[idx] = 1e-6
            plus, minus = list(cores), list(cores)
            plus[j], minus[j] = core + bump, core - bump
            reference[idx] = (float(total(plus)) - float(total(minus))) / 2e-6
        assert rel_err(grads[j], reference) <= max(1e-6, 2000 * eps_of(dtype))


def test_flat_adam_step_is_the_per_core_step(xp, dtype):
    """specs/fit.md §Optimizer: the fit's one-vector Adam gives bitwise the per-core update."""
    from tt_ref.cloud._fit import _fit_step, _flatten

    rng = np.random.default_rng(3)
    cores = tuple(to_xp(rng.normal(size=shape), xp, dtype) for shape in [(4, 3, 2), (2, 5, 3), (3, 2, 1)])
    data = to_xp(rng.normal(size=(16, 4)), xp, dtype)
    multi = to_xp(np.stack([rng.integers(0, n, 16) for n in (3, 5, 2)], axis=1), xp)
    theta = rng.normal(size=(4, 8))
    directions = to_xp(theta / np.linalg.norm(theta, axis=0), xp, dtype)
    params, flat_state = (_flatten(cores, xp),), adam_init((_flatten(cores, xp),))
    flat_cores, per_core, state = cores, cores, adam_init(cores)
    for step in range(3):
        params, flat_state, flat_cores = _fit_step(params, flat_cores, (data, multi, directions), flat_state,
                                                   0.01, 0.25, 0.025, xp)
        _, _, grads = _losses_and_grad(per_core, data, multi, directions, 0.25, 0.025, xp)
        per_core, state = adam_step(per_core, grads, state, lr=0.01)
    for got, want in zip(flat_cores, per_core):
        assert np.array_equal(to_np(got), to_np(want))


def test_gemm_and_gather_kernels_agree(xp, dtype, monkeypatch):
    """specs/point_cloud.md §Decoding: the one-hot GEMM path and the gather path give the same numbers."""
    rng = np.random.default_rng(0)
    cloud = TTPointCloud.random(4, (3, 5, 2), (3, 2), seed=1, dtype=dtype, backend=backend_name(xp))
    flat = to_xp(rng.integers(0, cloud.n_points, size=20), xp)
    grad_points = to_xp(rng.normal(size=(20, 4)), xp, dtype)
    fast = (cloud.decode(flat), cores_gradient(cloud, flat, grad_points))
    monkeypatch.setattr(kernels_module, "_ONE_HOT_MAX_MODE", 0)
    slow = (cloud.decode(flat), cores_gradient(cloud, flat, grad_points))
    tol = 100 * eps_of(dtype)
    assert rel_err(fast[0], slow[0]) <= tol
    for a, b in zip(fast[1], slow[1]):
        assert rel_err(a, b) <= tol


# --------------------------------------------------------------------------- Adam
def test_adam_minimizes_a_quadratic(xp, dtype):
    """specs/fit.md §Optimizer: Adam drives ||p - target||^2 to ~0; state is functional."""
    target = to_xp(np.array([1.0, -2.0, 3.0]), xp, dtype)
    params = (to_xp(np.zeros(3), xp, dtype),)
    state = adam_init(params)
    first = state
    for step in range(600):
        params, state = adam_step(params, (2 * (params[0] - target),), state, lr=0.1 if step < 300 else 0.001)
    assert first.step == 0 and state.step == 600
    assert rel_err(params[0], target) <= 1e-3
    with pytest.raises(ValueError, match="lr"):
        adam_step(params, (target,), state, lr=0.0)
    with pytest.raises(ValueError, match="same number"):
        adam_step(params, (target, target), state, lr=0.1)


# --------------------------------------------------------------------------- quality
def test_fit_to_known_cloud_drives_sw_near_zero():
    """specs/fit.md §Guarantees: data from a known TT cloud; SW_2^2 falls below 5% of the data variance."""
    true, X = known_cloud_data()
    theta = fixed_directions(3)
    options = dict(batch_size=128, alpha_fwd=0.0, alpha_inv=0.0, seed=0, progress=False)
    result = fit_point_cloud(X, (4, 4), (2,), steps=300, **options)
    start = fit_point_cloud(X, (4, 4), (2,), steps=0, **options)
    sw_end = float(sliced_wasserstein(true.all_points(), result.cloud.all_points(), theta)[0])
    sw_start = float(sliced_wasserstein(true.all_points(), start.cloud.all_points(), theta)[0])
    variance = X.var(axis=0).sum()
    assert sw_end <= 0.05 * variance  # measured: 0.011-0.015 * variance (seeds 0-2)
    assert sw_end <= 0.2 * sw_start


def test_fit_gaussian_mixture_beats_random_subsample():
    """specs/fit.md §Guarantees: 2-D mixture, equal budget: coverage error below a random subset's."""
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [6.0, 0.0], [0.0, 6.0], [6.0, 6.0]])
    X = np.concatenate([c + rng.normal(size=(300, 2)) for c in centres])
    held_out = np.concatenate([c + rng.normal(size=(200, 2)) for c in centres])
    mode_sizes, ranks = (4, 4, 4), (2, 2)
    result = fit_point_cloud(X, mode_sizes, ranks, batch_size=256, steps=200, seed=0, progress=False)
    n_params = result.cloud.n_params
    subset = X[rng.choice(X.shape[0], n_params // 2, replace=False)]

    def coverage(points):
        return ((held_out[:, None, :] - points[None, :, :]) ** 2).sum(-1).min(axis=1).mean()

    assert coverage(result.cloud.all_points()) < coverage(subset)


# --------------------------------------------------------------------------- determinism
def test_same_seed_same_cores_on_every_backend(xp, dtype):
    """specs/fit.md §Determinism: bitwise equal to the NumPy fit on array_api_strict; to rounding on CuPy."""
    _, X = known_cloud_data()
    X = X.astype(dtype)
    ours = fit_point_cloud(to_xp(X, xp), (4, 4), (2,), batch_size=64, steps=15, seed=3, progress=False)
    ref = fit_point_cloud(X, (4, 4), (2,), batch_size=64, steps=15, seed=3, progress=False)
    assert ours.cloud.backend == backend_name(xp) and ours.cloud.dtype == getattr(xp, dtype)
    if backend_name(xp) == "cupy":  # other BLAS and reduction order: equal to rounding, not bitwise
        for a, b in zip(ours.cloud.cores, ref.cloud.cores):
            assert rel_err(a, b) <= 1e4 * eps_of(dtype)
    else:
        for a, b in zip(ours.cloud.cores, ref.cloud.cores):
            assert np.array_equal(to_np(a), to_np(b))
        assert ours.history == ref.history
    other = fit_point_cloud(X, (4, 4), (2,), batch_size=64, steps=15, seed=4, progress=False)
    assert not np.array_equal(to_np(other.cloud.cores[0]), to_np(ref.cloud.cores[0]))


def test_backend_argument_moves_data(xp):
    """specs/fit.md §Backends: backend= moves X; the cloud lives there."""
    _, X = known_cloud_data()
    result = fit_point_cloud(X, (4, 4), (2,), batch_size=32, steps=2, backend=backend_name(xp), progress=False)
    assert result.cloud.backend == backend_name(xp)


# --------------------------------------------------------------------------- control
def test_history_best_cloud_and_random_init(xp, dtype):
    """specs/fit.md §Best cloud: history in data units, cloud = the lowest evaluation loss."""
    _, X = known_cloud_data()
    X = to_xp(X, xp, dtype)
    seen = {}

    def keep(step, cloud, losses):
        seen[step] = (cloud, losses["loss"])

    assert DEFAULTS["alpha_fwd"] is None and DEFAULTS["alpha_inv"] is None
    result = fit_point_cloud(X, (4, 4), (2,), batch_size=64, steps=40, init="random", progress=False, callback=keep,
                             refine_sweeps=0)  # the best Adam cloud itself, unrefined
    assert isinstance(result, FitResult) and not result.interrupted and result.seconds > 0
    assert set(result.history) == {"step", "loss", "sw", "nn_forward", "nn_inverse"}
    assert result.history["step"][0] == 0 and result.history["step"][-1] == 40
    best_step = result.history["step"][int(np.argmin(result.history["loss"]))]
    for a, b in zip(result.cloud.cores, seen[best_step][0].cores):
        assert np.array_equal(to_np(a), to_np(b))
    h = result.history
    for total, sw, fwd, inv in zip(h["loss"], h["sw"], h["nn_forward"], h["nn_inverse"]):
        expected = sw + (1.0 / 3) * fwd + (0.1 / 3) * inv  # default weights 1/D and 0.1/D, D = 3
        assert abs(total - expected) <= 1e-6 * max(1.0, total)


def test_callback_true_stops_and_interrupt_keeps_best(xp):
    """specs/fit.md §Control: callback True stops; KeyboardInterrupt returns the best cloud so far."""
    _, X = known_cloud_data()
    X = to_xp(X, xp)
    stopped = fit_point_cloud(X, (4, 4), (2,), batch_size=32, steps=100, progress=False,
                              callback=lambda step, cloud, losses: step >= 10)
    assert stopped.history["step"][-1] == 10 and not stopped.interrupted

    def interrupt(step, cloud, losses):
        if step >= 20:
            raise KeyboardInterrupt

    interrupted = fit_point_cloud(X, (4, 4), (2,), batch_size=32, steps=100, progress=False, callback=interrupt)
    assert interrupted.interrupted
    assert interrupted.history["step"][-1] == 20
    assert isinstance(interrupted.cloud, TTPointCloud)


def test_resume_from_saved_cloud(tmp_path, xp):
    """specs/fit.md §Resuming: init=a loaded cloud starts exactly there (steps=0 returns it bitwise)."""
    _, X = known_cloud_data()
    first = fit_point_cloud(X, (4, 4), (2,), batch_size=64, steps=30, progress=False)
    first.cloud.save(tmp_path / "cloud.npz")
    legacy = {"refine_sweeps": 0}  # no sweeps: steps=0 must return the init cloud itself
    loaded = TTPointCloud.load(tmp_path / "cloud.npz", backend=backend_name(xp))
    X = to_xp(X, xp)
    same = fit_point_cloud(X, (4, 4), (2,), steps=0, batch_size=64, init=loaded, progress=False, **legacy)
    for a, b in zip(same.cloud.cores, first.cloud.cores):
        assert np.array_equal(to_np(a), to_np(b))
    resumed = fit_point_cloud(X, (4, 4), (2,), steps=30, batch_size=64, init=loaded, seed=1, progress=False, **legacy)
    fresh = fit_point_cloud(X, (4, 4), (2,), steps=0, batch_size=64, seed=1, progress=False, **legacy)
    assert resumed.history["loss"][0] < fresh.history["loss"][0]


def test_progress_bar_with_and_without_tqdm(monkeypatch, capsys):
    """specs/fit.md §Progress: a tqdm bar on a terminal when tqdm is there, no bar (and no error) otherwise."""
    import tt_ref._backend._progress as progress_module

    _, X = known_cloud_data()
    fit_point_cloud(X, (4, 4), (2,), batch_size=32, steps=3, progress=True)
    assert capsys.readouterr().err == ""  # stderr is not a terminal under pytest: no bar
    monkeypatch.setattr(progress_module, "stderr_is_terminal", lambda: True)
    fit_point_cloud(X, (4, 4), (2,), batch_size=32, steps=3, progress=True)
    assert "fit TT point cloud" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)  # import tqdm.auto now fails
    result = fit_point_cloud(X, (4, 4), (2,), batch_size=32, steps=3, progress=True)
    assert capsys.readouterr().err == "" and result.history["step"][-1] == 3


# --------------------------------------------------------------------------- bad input
def test_bad_input(xp):
    """specs/fit.md §Validation: each bad argument gives an error naming it."""
    _, X_np = known_cloud_data()
    X = to_xp(X_np, xp)

    def fit(data=X, modes=(4, 4), ranks=(2,), **kw):
        return fit_point_cloud(data, modes, ranks, **{"batch_size": 32, "steps": 1, "progress": False, **kw})

    bad = X_np.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="X contains NaN"):
        fit(to_xp(bad, xp))
    bad[3, 1] = np.inf
    with pytest.raises(ValueError, match="X contains NaN or inf"):
        fit(to_xp(bad, xp))
    with pytest.raises(ValueError, match="X must have 2 dimensions"):
        fit(to_xp(X_np[:, 0], xp))
    with pytest.raises(ValueError, match="batch_size"):
        fit(batch_size=X_np.shape[0] + 1)
    with pytest.raises(ValueError, match="mode_sizes"):
        fit(modes=(4, 0))
    with pytest.raises(ValueError, match="ranks"):
        fit(ranks=(0,))
    with pytest.raises(ValueError, match="ranks must hold"):
        fit(ranks=(2, 2))
    wrong_dim = TTPointCloud.random(5, (4, 4), (2,), backend=backend_name(xp))
    with pytest.raises(ValueError, match="init cloud has dimension 5"):
        fit(init=wrong_dim)
    wrong_modes = TTPointCloud.random(3, (4, 2), (2,), backend=backend_name(xp))
    with pytest.raises(ValueError, match="init cloud has mode_sizes"):
        fit(init=wrong_modes)
    with pytest.raises(ValueError, match="init"):
        fit(init="pca")
    with pytest.raises(ValueError, match="lr"):
        fit(lr=-1.0)
    with pytest.raises(ValueError, match="steps"):
        fit(steps=-1)
    with pytest.raises(ValueError, match="alpha_fwd"):
        fit(alpha_fwd=-0.5)
    with pytest.raises(ValueError, match="n_projections"):
        fit(n_projections=0)
    with pytest.raises(TypeError, match="callback"):
        fit(callback=3)
    with pytest.raises(TypeError, match="X must be an array"):
        fit([[0.0, 1.0, 2.0]] * 40)


# --------------------------------------------------------------------------- the options
def test_config_validates_each_option():
    """specs/fit.md §Options: one check per option; wrong type TypeError, wrong value ValueError, named."""
    from tt_ref.cloud._config import FitConfig

    config = FitConfig(steps=np.int64(5), batch_size=np.int32(8), lr=np.float32(0.5), refine_rows=np.int64(9))
    assert (config.steps, config.batch_size, config.refine_rows) == (5, 8, 9)
    assert all(type(v) is int for v in (config.steps, config.batch_size, config.refine_rows))
    bad_values = {"steps": -1, "batch_size": 0, "n_projections": 0, "lr": 0.0, "alpha_fwd": -1.0,
                  "alpha_inv": float("inf"), "sw_weight": -0.1, "refine_sweeps": -2, "refine_rows": 0,
                  "refine_ridge": -1e-3, "init_sweeps": -1, "init": "pca"}
    for name, value in bad_values.items():
        with pytest.raises(ValueError, match=name):
            FitConfig(**{name: value})
    bad_types = {"steps": 2.0, "batch_size": "8", "lr": "0.1", "repair": 1, "refine_rows": 1.5, "init": 3,
                 "n_projections": True}
    for name, value in bad_types.items():
        with pytest.raises(TypeError, match=name):
            FitConfig(**{name: value})
    with pytest.raises(TypeError, match="unknown option.*stepz"):
        FitConfig.from_options({"stepz": 3})
    resolved = FitConfig(batch_size=10).resolve(dim=4, n_data=10)
    assert (resolved.alpha_fwd, resolved.alpha_inv) == (0.25, 0.025)
    with pytest.raises(ValueError, match="batch_size"):
        FitConfig(batch_size=11).resolve(dim=4, n_data=10)
    assert DEFAULTS == FitConfig().as_dict()


def test_unknown_option_and_recorded_config():
    """specs/fit.md §Options: fit_point_cloud rejects an unknown option; the result records what ran."""
    _, X = known_cloud_data()
    with pytest.raises(TypeError, match="unknown option"):
        fit_point_cloud(X, (4, 4), (2,), batch_size=32, steps=1, progress=False, refine=3)
    result = fit_point_cloud(X, (4, 4), (2,), batch_size=32, steps=2, progress=False)
    assert result.config["steps"] == 2 and result.config["alpha_fwd"] == 1.0 / 3
    assert result.config["init"] == "kmeans" and result.config["refine_sweeps"] == 5
    assert len(result.refinement["quantization"]) == 6 and result.refinement["rows"] == X.shape[0]
    assert fit_point_cloud(X, (4, 4), (2,), batch_size=32, steps=2, progress=False, refine_sweeps=0).refinement == {}


def test_batch_stream_draws_the_steps_in_order(xp):
    """specs/fit.md §Batches: a block of draws equals the same draws made one step at a time."""
    from tt_ref.cloud._config import FitConfig
    from tt_ref.cloud._fit import BatchStream

    X = to_xp(np.random.default_rng(0).normal(size=(50, 3)), xp)
    config = FitConfig(batch_size=8, n_projections=4)
    block = BatchStream(X, config, (3, 2), np.random.default_rng(5), xp).draw(3)
    single = BatchStream(X, config, (3, 2), np.random.default_rng(5), xp)
    for want in block:
        got = single.draw(1)[0]
        for a, b in zip(got, want):
            assert np.array_equal(to_np(a), to_np(b))


def test_sw_weight_zero_fits_the_nearest_neighbour_terms_alone():
    """specs/fit.md §Loss: sw_weight scales the SW term; 0 leaves the nearest-neighbour terms."""
    _, X = known_cloud_data()
    options = dict(batch_size=64, steps=10, progress=False, seed=2)
    nn_only = fit_point_cloud(X, (4, 4), (2,), sw_weight=0.0, **options)
    h = nn_only.history
    for total, fwd, inv in zip(h["loss"], h["nn_forward"], h["nn_inverse"]):
        assert abs(total - (fwd / 3 + 0.1 / 3 * inv)) <= 1e-9 * max(1.0, total)
    assert not np.array_equal(nn_only.cloud.cores[0], fit_point_cloud(X, (4, 4), (2,), **options).cloud.cores[0])
