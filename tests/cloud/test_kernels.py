"""The point-cloud kernels alone (specs/point_cloud.md §Kernels): indices, per-core products, decoding,
partial products and the chain rule, each against a plain NumPy float64 loop."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import eps_of, point_cloud_configs, random_point_cloud_cores, rel_err, to_np, to_xp
from hypothesis import given, settings
from hypothesis import strategies as st

import tt_ref.cloud._kernels as kernels

clouds = point_cloud_configs(max_dim=5, max_mode=5, max_levels=4, max_rank=3, max_batch=12)


def draw(config):
    dim, mode_sizes, max_rank, batch, seed = config
    rng = np.random.default_rng(seed)
    cores = random_point_cloud_cores(rng, dim, mode_sizes, max_rank)
    multi = np.stack([rng.integers(0, n, size=batch) for n in mode_sizes], axis=1)
    return cores, multi, rng


def slab_chain(cores, row, start, stop):
    """``G_start[:, i, :] ... G_{stop-1}[:, i, :]`` for one multi-index, float64."""
    acc = None
    for j in range(start, stop):
        slab = cores[j][:, row[j], :]
        acc = slab if acc is None else acc @ slab
    return acc


def point(cores, row):
    return slab_chain(cores, row, 0, len(cores))[:, 0]


def as_xp(arrays, xp, dtype):
    return tuple(to_xp(a, xp, dtype) for a in arrays)


@pytest.fixture(params=[64, 0], ids=["one-hot", "gather"])
def kernel_path(request, monkeypatch):
    """Both implementations of the per-core products: one-hot GEMM and gathered slabs."""
    monkeypatch.setattr(kernels, "_ONE_HOT_MAX_MODE", request.param)
    return request.param


# --------------------------------------------------------------------------- indices
@settings(max_examples=10)
@given(st.lists(st.integers(1, 6), min_size=1, max_size=4), st.integers(0, 2**31 - 1))
def test_flat_and_multi_indices_round_trip(xp, mode_sizes, seed):
    """specs/point_cloud.md §Indices: C order (i_1 slowest); flat -> multi -> flat is the identity."""
    total = int(np.prod(mode_sizes))
    flat = np.random.default_rng(seed).integers(0, total, size=10)
    multi = kernels._flat_to_multi(to_xp(flat, xp), tuple(mode_sizes), xp)
    assert np.array_equal(to_np(multi), np.stack(np.unravel_index(flat, mode_sizes), axis=1))
    assert np.array_equal(to_np(kernels._multi_to_flat(multi, tuple(mode_sizes), xp)), flat)


def test_sample_multi_is_seeded_and_in_range(xp):
    """specs/point_cloud.md §Sampling: each mode uniform in [0, n_j); one seed, one draw, any backend."""
    multi = to_np(kernels._sample_multi(7, (3, 5), 400, xp))
    again = kernels._sample_multi(7, (3, 5), 400, None)
    assert np.array_equal(multi, again)
    assert multi.min() == 0 and multi[:, 0].max() == 2 and multi[:, 1].max() == 4


# --------------------------------------------------------------------------- per-core products
@settings(max_examples=10)
@given(clouds)
def test_per_core_products_match_loops(xp, dtype, kernel_path, config):
    """specs/point_cloud.md §Decoding: S v, u^T S and the outer-product scatter, on both paths."""
    cores, multi, rng = draw(config)
    core = cores[-1] if len(cores) == 1 else cores[1]
    a, n, c = core.shape
    idx = multi[:, min(1, len(cores) - 1)]
    vec_c, vec_a = rng.normal(size=(len(idx), c)), rng.normal(size=(len(idx), a))
    want_sv = np.stack([core[:, i, :] @ v for i, v in zip(idx, vec_c)])
    want_us = np.stack([u @ core[:, i, :] for i, u in zip(idx, vec_a)])
    want_outer = np.zeros_like(core)
    for i, u, v in zip(idx, vec_a, vec_c):
        want_outer[:, i, :] += np.outer(u, v)
    g, i_x = to_xp(core, xp, dtype), to_xp(idx, xp)
    tol = 100 * eps_of(dtype)
    assert rel_err(kernels._slab_times_vector(g, i_x, to_xp(vec_c, xp, dtype), xp), want_sv) <= tol
    assert rel_err(kernels._vector_times_slab(g, i_x, to_xp(vec_a, xp, dtype), xp), want_us) <= tol
    got = kernels._outer_scatter(core.shape, i_x, to_xp(vec_a, xp, dtype), to_xp(vec_c, xp, dtype), xp)
    assert rel_err(got, want_outer) <= tol


@settings(max_examples=10)
@given(clouds)
def test_partials_decode_and_dense_points(xp, dtype, kernel_path, config):
    """specs/point_cloud.md §Decoding: right/left partial products, decode, all points, prefix products."""
    cores, multi, rng = draw(config)
    k = len(cores)
    cs, m = as_xp(cores, xp, dtype), to_xp(multi, xp)
    tol = 200 * eps_of(dtype)
    rights = kernels._right_partials(cs, m, xp)
    for j in range(k):
        want = np.stack([slab_chain(cores, row, j + 1, k)[:, 0] if j + 1 < k else np.ones(1) for row in multi])
        assert rel_err(rights[j], want) <= tol
    grad = rng.normal(size=(multi.shape[0], cores[0].shape[0]))
    lefts = kernels._left_partials(cs, m, to_xp(grad, xp, dtype), xp)
    for j in range(1, k):
        want = np.stack([g @ slab_chain(cores, row, 0, j) for g, row in zip(grad, multi)])
        assert rel_err(lefts[j], want) <= tol
    points = np.stack([point(cores, row) for row in multi])
    assert rel_err(kernels._decode_multi(cs, m, xp), points) <= tol
    every = np.stack([point(cores, row) for row in np.ndindex(*[c.shape[1] for c in cores])])
    assert rel_err(kernels._dense_points(cs, xp), every) <= tol
    prefix = multi[:, :max(1, k - 1)]
    want = np.stack([slab_chain(cores, row, 0, prefix.shape[1]) for row in prefix])
    assert rel_err(kernels._prefix_products(cs, to_xp(prefix, xp), xp), want) <= tol


@settings(max_examples=10)
@given(clouds)
def test_cores_gradient_is_the_sum_of_outer_products(xp, dtype, kernel_path, config):
    """specs/losses.md §Cores gradient: d/dG_j[:, i, :] = sum_b [i_j(b) = i] left_j[b] right_j[b]^T."""
    cores, multi, rng = draw(config)
    k = len(cores)
    grad_points = rng.normal(size=(multi.shape[0], cores[0].shape[0]))
    got = kernels._cores_gradient(as_xp(cores, xp, dtype), to_xp(multi, xp), to_xp(grad_points, xp, dtype), xp)
    for j in range(k):
        want = np.zeros_like(cores[j])
        for g, row in zip(grad_points, multi):
            left = g if j == 0 else g @ slab_chain(cores, row, 0, j)
            right = slab_chain(cores, row, j + 1, k)[:, 0] if j + 1 < k else np.ones(1)
            want[:, row[j], :] += np.outer(left, right)
        assert rel_err(got[j], want) <= 200 * eps_of(dtype)


def test_suffix_means_give_the_centroids(xp, dtype):
    """specs/point_cloud.md §Hierarchy: mean cores and suffix means factorize the averages of the points."""
    rng = np.random.default_rng(2)
    cores = [rng.normal(size=s) for s in [(3, 2, 2), (2, 3, 2), (2, 4, 1)]]
    cs = as_xp(cores, xp, dtype)
    points = np.stack([point(cores, row) for row in np.ndindex(2, 3, 4)])
    assert rel_err(kernels._suffix_mean_vector(cs, 0, xp), points.mean(axis=0)) <= 100 * eps_of(dtype)
    level1 = np.stack([points[i * 12:(i + 1) * 12].mean(axis=0) for i in range(2)])
    suffix = kernels._suffix_mean_vector(cs, 1, xp)  # (r_1,)
    got = np.stack([to_np(cs[0])[:, i, :] @ to_np(suffix) for i in range(2)])
    assert rel_err(got, level1) <= 100 * eps_of(dtype)
    means = kernels._mean_cores(cs, xp)
    assert [tuple(m.shape) for m in means] == [(3, 2), (2, 2), (2, 1)]
