"""Least-squares refinement of a TT point cloud (specs/fit.md §Refinement): the exact core solve, the
assignment, the repair of unused slabs, the pull of empty leaves, and the sweeps, which never increase
their objective."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import eps_of, point_cloud_configs, random_point_cloud_cores, to_np, to_xp
from hypothesis import given, settings
from hypothesis import strategies as st

from tt_ref._backend import backend_name
from tt_ref.cloud._config import FitConfig
from tt_ref.cloud._fit import fit_point_cloud
from tt_ref.cloud._point_cloud import TTPointCloud
from tt_ref.cloud._refine import (
    assign_nearest,
    empty_leaf_targets,
    quantization_errors,
    refine_cores,
    repair_empty_slabs,
    solve_core,
)

problems = point_cloud_configs(max_dim=4, max_mode=4, max_levels=3, max_rank=3, max_batch=40)


def draw(config):
    dim, mode_sizes, max_rank, n_rows, seed = config
    rng = np.random.default_rng(seed)
    cores = random_point_cloud_cores(rng, dim, mode_sizes, max_rank)
    X = rng.normal(size=(n_rows, dim))
    multi = np.stack([rng.integers(0, n, size=n_rows) for n in mode_sizes], axis=1)
    return cores, X, multi


def chain(cores, row, start, stop):
    acc = np.eye(cores[start].shape[0]) if start == stop else None
    for j in range(start, stop):
        acc = cores[j][:, row[j], :] if acc is None else acc @ cores[j][:, row[j], :]
    return acc


def lstsq_error(cores, j, X, multi):
    """Smallest sum_b ||x_b - y_b||^2 over core j (others fixed): NumPy lstsq on the Kronecker design."""
    a, n, c = cores[j].shape
    k = len(cores)
    design = np.zeros((X.shape[0], X.shape[1], n, a, c))
    for b, row in enumerate(multi):
        left = chain(cores, row, 0, j)  # (D, a)
        right = chain(cores, row, j + 1, k)[:, 0] if j + 1 < k else np.ones(1)
        design[b, :, row[j], :, :] = left[:, :, None] * right[None, None, :]
    flat = design.reshape(-1, n * a * c)
    solution = np.linalg.lstsq(flat, X.reshape(-1), rcond=None)[0]
    return float(((flat @ solution - X.reshape(-1)) ** 2).sum())


def total_error(cores, X, multi, xp):
    return float(np.sum(to_np(quantization_errors(cores, X, multi, xp)).astype(np.float64)))


# --------------------------------------------------------------------------- the core solve
@settings(max_examples=15)
@given(problems)
def test_core_solve_is_the_least_squares_minimum(xp, config):
    """§Refinement: each core solve reaches the least-squares minimum over that core (float64)."""
    cores, X, multi = draw(config)
    cs, Xx, m = tuple(to_xp(c, xp, "float64") for c in cores), to_xp(X, xp, "float64"), to_xp(multi, xp)
    scale = float((X**2).sum()) + 1.0
    for j in range(len(cores)):
        new = solve_core(cs, j, Xx, m, 0.0, xp)
        trial = cs[:j] + (new,) + cs[j + 1:]
        got = total_error(trial, Xx, m, xp)
        assert got <= lstsq_error(cores, j, X, multi) + 1e-6 * scale


@settings(max_examples=15)
@given(problems, st.sampled_from([0.0, 1e-6, 1e-2]))
def test_core_solve_never_increases_the_error(xp, dtype, config, ridge):
    """§Refinement: a solve (any ridge) never raises sum ||x - y||^2, up to the dtype's rounding."""
    cores, X, multi = draw(config)
    cs, Xx, m = tuple(to_xp(c, xp, dtype) for c in cores), to_xp(X, xp, dtype), to_xp(multi, xp)
    for j in range(len(cores)):
        before = total_error(cs, Xx, m, xp)
        new = solve_core(cs, j, Xx, m, ridge, xp)
        assert new.shape == cs[j].shape and new.dtype == cs[j].dtype
        assert np.all(np.isfinite(to_np(new)))
        cs = cs[:j] + (new,) + cs[j + 1:]
        after = total_error(cs, Xx, m, xp)
        assert after <= before + 1e3 * eps_of(dtype) * (before + float((X**2).sum()))


@settings(max_examples=15)
@given(problems, st.integers(0, 2**31))
def test_weighted_solve_equals_the_solve_on_repeated_rows(xp, config, weight_seed):
    """§Empty leaves: a row of weight w counts as w copies of itself (integer weights, float64)."""
    cores, X, multi = draw(config)
    weights = np.random.default_rng(weight_seed).integers(1, 4, size=X.shape[0])
    repeat = np.repeat(np.arange(X.shape[0]), weights)
    cs = tuple(to_xp(c, xp, "float64") for c in cores)
    for j in range(len(cores)):
        weighted = solve_core(cs, j, to_xp(X, xp, "float64"), to_xp(multi, xp), 1e-6, xp,
                              weights=to_xp(weights, xp, "float64"))
        repeated = solve_core(cs, j, to_xp(X[repeat], xp, "float64"), to_xp(multi[repeat], xp), 1e-6, xp)
        if weighted is None:
            assert repeated is None
            continue
        # Both minimize the same quadratic (the same proximal term too): compare its values, which
        # are well conditioned, not the solutions, which are not when a slab's system is near-singular.
        Xr, mr = to_xp(X[repeat], xp, "float64"), to_xp(multi[repeat], xp)
        at_weighted = total_error(cs[:j] + (weighted,) + cs[j + 1:], Xr, mr, xp)
        at_repeated = total_error(cs[:j] + (repeated,) + cs[j + 1:], Xr, mr, xp)
        scale = float((X[repeat] ** 2).sum()) + total_error(cs, Xr, mr, xp) + 1.0
        assert abs(at_weighted - at_repeated) <= 1e4 * eps_of("float64") * scale


@settings(max_examples=15)
@given(problems)
def test_empty_leaf_targets_are_the_unused_leaves_and_their_nearest_rows(xp, dtype, config):
    """§Empty leaves: exactly the leaves no row is assigned to, each with its exact nearest row."""
    cores, X, multi = draw(config)
    mode_sizes = tuple(c.shape[1] for c in cores)
    cs, Xx = tuple(to_xp(c, xp, dtype) for c in cores), to_xp(X, xp, dtype)
    leaves, targets = empty_leaf_targets(cs, Xx, to_xp(multi, xp), xp)
    used = set(np.ravel_multi_index(tuple(multi.T), mode_sizes).tolist())
    expected = sorted(set(range(int(np.prod(mode_sizes)))) - used)
    got = np.ravel_multi_index(tuple(to_np(leaves).T), mode_sizes).tolist() if expected else []
    assert got == expected and to_np(targets).shape == (len(expected), X.shape[1])
    if expected:
        points = to_np(TTPointCloud._from_cores(cs).all_points()).astype(np.float64)[expected]
        d2 = ((points[:, None, :] - to_np(Xx).astype(np.float64)[None, :, :]) ** 2).sum(-1)
        chosen = ((points - to_np(targets).astype(np.float64)) ** 2).sum(-1)
        assert np.all(chosen <= d2.min(axis=1) + 1e3 * eps_of(dtype) * (1 + d2.max()))


def test_unused_slab_stays_where_it_is(xp, dtype):
    """§Refinement: a slab no row uses is kept (the proximal term with A_i = 0)."""
    rng = np.random.default_rng(0)
    cores = [rng.normal(size=(3, 4, 2)), rng.normal(size=(2, 3, 1))]
    multi = np.array([[0, 0], [0, 1], [1, 2], [1, 0]] * 3)  # indices 2, 3 of the first core unused
    X = rng.normal(size=(12, 3))
    cs = tuple(to_xp(c, xp, dtype) for c in cores)
    new = to_np(solve_core(cs, 0, to_xp(X, xp, dtype), to_xp(multi, xp), 1e-6, xp))
    assert np.array_equal(new[:, 2:, :], to_np(cs[0])[:, 2:, :])
    assert not np.allclose(new[:, :2, :], to_np(cs[0])[:, :2, :])


# --------------------------------------------------------------------------- assignment
@settings(max_examples=15)
@given(problems)
def test_assignment_is_the_exact_nearest_point(xp, config):
    """§Refinement: rows go to their nearest TT point (brute force over all points)."""
    cores, X, _ = draw(config)
    cs = tuple(to_xp(c, xp, "float64") for c in cores)
    multi = to_np(assign_nearest(cs, to_xp(X, xp, "float64"), xp))
    points = TTPointCloud([np.asarray(c) for c in cores]).all_points()
    d2 = ((X[:, None, :] - points[None, :, :]) ** 2).sum(-1)
    flat = np.ravel_multi_index(tuple(multi.T), [c.shape[1] for c in cores])
    assert np.all(d2[np.arange(len(X)), flat] <= d2.min(axis=1) * (1 + 1e-9) + 1e-12)


# --------------------------------------------------------------------------- repair
@settings(max_examples=15)
@given(st.integers(1, 4), st.integers(2, 8), st.integers(0, 2**31 - 1))
def test_repair_fills_every_leaf_of_a_one_core_cloud(xp, dtype, dim, n_points, seed):
    """§Repair: with one core every leaf is a slab; with N >= P distinct rows each gets a row, no error grows."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_points + int(rng.integers(0, 10)), dim))
    start = np.repeat(X[:1].T[:, :, None], n_points, axis=1) + 1e-3 * rng.normal(size=(dim, n_points, 1))
    cs = (to_xp(start, xp, dtype),)  # every point next to row 0: most leaves empty
    Xx = to_xp(X, xp, dtype)
    multi = assign_nearest(cs, Xx, xp)
    errors = quantization_errors(cs, Xx, multi, xp)
    new, multi2, errors2, repaired = repair_empty_slabs(cs, Xx, multi, errors, xp)
    assert new[0].shape == cs[0].shape and np.all(np.isfinite(to_np(new[0])))
    assert np.all(to_np(errors2) <= to_np(errors))  # no row's error grows
    assert np.allclose(to_np(errors2), to_np(quantization_errors(new, Xx, multi2, xp)))
    assert len(np.unique(to_np(multi2)[:, 0])) == n_points  # every leaf holds a row of the data
    assert repaired == n_points - len(np.unique(to_np(multi)[:, 0]))


@settings(max_examples=15)
@given(problems)
def test_repair_keeps_the_cloud_valid_and_uses_every_slab(xp, dtype, config):
    """§Repair: shapes, dtype and finiteness kept; every unused slab gets a row when enough rows can move."""
    cores, X, multi = draw(config)
    cs, Xx = tuple(to_xp(c, xp, dtype) for c in cores), to_xp(X, xp, dtype)
    m = assign_nearest(cs, Xx, xp)
    errors = quantization_errors(cs, Xx, m, xp)
    new, m2, errors2, _ = repair_empty_slabs(cs, Xx, m, errors, xp)
    for a, b in zip(new, cs):
        assert a.shape == b.shape and a.dtype == b.dtype and np.all(np.isfinite(to_np(a)))
    assert np.all(to_np(errors2) <= to_np(errors))
    m2 = to_np(m2)
    for j, core in enumerate(cores):
        n = core.shape[1]
        counts = np.bincount(to_np(m)[:, j], minlength=n)
        movable = sum(int(c) - 1 for c in counts if c >= 2)  # rows that can leave without emptying a slab
        if movable >= n:
            # Each chosen row lands on its new slab unless that is not strictly nearer.
            assert len(np.unique(m2[:, j])) >= len(np.unique(to_np(m)[:, j]))


# --------------------------------------------------------------------------- the sweeps
@pytest.mark.parametrize("repair", [False, True])
def test_sweeps_never_increase_the_quantization_error(xp, dtype, repair):
    """§Refinement: without the pull, the mean squared distance to the assigned point never grows."""
    rng = np.random.default_rng(1)
    X = np.concatenate([c + 0.3 * rng.normal(size=(60, 3)) for c in rng.normal(size=(6, 3)) * 3])
    cloud = TTPointCloud.random(3, (4, 3, 2), (3, 2), seed=2, dtype=dtype, backend=backend_name(xp))
    config = FitConfig(repair=repair, empty_pull=0.0)
    cores, info = refine_cores(cloud.cores, to_xp(X, xp, dtype), 4, config, np.random.default_rng(0), xp)
    history = info["quantization"]
    assert len(history) == 5 and all(b <= a for a, b in zip(history, history[1:]))
    assert history[-1] < 0.5 * history[0]
    assert all(np.all(np.isfinite(to_np(c))) for c in cores)


@pytest.mark.parametrize("pull", [0.5, 1.0, 4.0])
def test_pull_never_increases_a_sweeps_objective_and_empties_fewer_leaves(xp, dtype, pull):
    """§Empty leaves: each sweep's weighted objective never grows; fewer leaves end empty than without."""
    rng = np.random.default_rng(3)
    X = np.concatenate([c + 0.2 * rng.normal(size=(40, 4)) for c in rng.normal(size=(12, 4)) * 3])
    cloud = TTPointCloud.random(4, (8, 8), (3,), seed=4, dtype=dtype, backend=backend_name(xp))
    runs = {}
    for weight in (0.0, pull):
        cores, info = refine_cores(cloud.cores, to_xp(X, xp, dtype), 4, FitConfig(empty_pull=weight),
                                   np.random.default_rng(0), xp)
        assert all(np.all(np.isfinite(to_np(c))) for c in cores)
        assert len(info["objective"]) == 4 and len(info["empty_leaves"]) == 5
        tolerance = 1e3 * eps_of(dtype)
        assert all(after <= before * (1 + tolerance) for before, after in info["objective"])
        runs[weight] = info
    assert runs[0.0]["empty_leaves"][0] == runs[pull]["empty_leaves"][0] > 0
    assert runs[pull]["empty_leaves"][-1] < runs[0.0]["empty_leaves"][-1]


def test_fit_with_refinement_is_deterministic_and_better(xp, dtype):
    """§Refinement: refinement inside the fit: same cores on every backend, lower quantization error."""
    rng = np.random.default_rng(0)
    X = np.concatenate([c + 0.5 * rng.normal(size=(100, 4)) for c in rng.normal(size=(8, 4)) * 4]).astype(dtype)
    options = dict(batch_size=128, steps=20, seed=1, progress=False)
    plain = fit_point_cloud(X, (4, 4), (3,), refine_sweeps=0, **options)
    refined = fit_point_cloud(to_xp(X, xp), (4, 4), (3,), refine_sweeps=3, repair=True, refine_rows=300,
                              empty_pull=0.0, **options)
    again = fit_point_cloud(X, (4, 4), (3,), refine_sweeps=3, repair=True, refine_rows=300, empty_pull=0.0,
                            **options)
    history = refined.refinement["quantization"]
    assert refined.refinement["rows"] == 300 and len(history) == 4
    assert all(b <= a for a, b in zip(history, history[1:])) and history[-1] < history[0]
    if backend_name(xp) != "cupy":
        for a, b in zip(refined.cloud.cores, again.cloud.cores):
            assert np.array_equal(to_np(a), to_np(b))
    points = lambda cloud: to_np(cloud.all_points()).astype(np.float64)  # noqa: E731

    def quantization(cloud):
        return (((X[:, None, :] - points(cloud)[None, :, :]) ** 2).sum(-1)).min(axis=1).mean()

    assert quantization(refined.cloud) < quantization(plain.cloud)
