"""Tests of the leaf selection and the two scans, alone (specs/index.md §Search, §Scans)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import eps_of, to_np, to_xp
from hypothesis import given
from hypothesis import strategies as st

from tt_ref._backend import topk_smallest
from tt_ref.cloud._point_cloud import TTPointCloud
from tt_ref.search._beam import BeamTables, beam_search
from tt_ref.search._config import chunk_budget
from tt_ref.search._index import TTIndex
from tt_ref.search._lists import InvertedLists
from tt_ref.search._scan import scan_gather, scan_lists, select_leaves, smallest_columns


@given(st.integers(1, 6), st.integers(1, 200), st.integers(1, 40), st.sampled_from([0.0, 0.3, 1.0]),
       st.integers(0, 2**16))
def test_threshold_top_k_equals_top_k(xp, dtype, n_rows, n_cols, width, inf_share, seed):
    """§Search (step 4): the threshold method returns topk_smallest's values and columns (ties, inf)."""
    width = min(width, n_cols)
    rng = np.random.default_rng(seed)
    values = rng.integers(0, 6 if seed % 2 else 10**6, (n_rows, n_cols)).astype(dtype)  # many ties or few
    values[rng.random(values.shape) < inf_share * rng.random()] = math.inf
    d = to_xp(values, xp, dtype)
    ref_v, ref_i = topk_smallest(d, width, xp=xp)
    got_v, got_i = smallest_columns(d, width, xp=xp, method="threshold")
    assert np.array_equal(to_np(got_i), to_np(ref_i))
    assert np.array_equal(to_np(got_v), to_np(ref_v))


def _setup(xp, dtype, seed=0, n=300, dim=4, mode_sizes=(4, 6), ranks=(3,)):
    rng = np.random.default_rng(seed)
    cloud = TTPointCloud.random(dim, mode_sizes, ranks, seed=seed, dtype=dtype)
    cloud = TTPointCloud([to_xp(to_np(c), xp) for c in cloud.cores])
    tables = BeamTables.from_cloud(cloud)
    lists = InvertedLists(cloud.n_points, dim, cloud.dtype, xp=xp)
    X = to_xp(rng.standard_normal((n, dim)) * rng.uniform(0.5, 2.0, (n, 1)), xp, dtype)
    buckets = to_xp(rng.integers(0, cloud.n_points // 2, n) * 2, xp)  # odd buckets stay empty
    lists.insert(X, lists.new_ids(n), buckets)
    Q = to_xp(rng.standard_normal((9, dim)), xp, dtype)
    masked = tables.with_empty_leaves(lists.bucket_sizes() > 0, xp)
    return masked, lists, X, Q


@given(st.integers(1, 8), st.integers(1, 400), st.integers(0, 2**16))
def test_selected_leaves(xp, dtype, beam, n_candidates, seed):
    """§Search step 4: leaves in ascending distance, whole buckets, the last one cut at n_candidates."""
    tables, lists, _, Q = _setup(xp, dtype, seed)
    scores = beam_search(tables, Q, beam, xp=xp)
    leaves, take = select_leaves(scores, lists, n_probe=None, n_candidates=n_candidates, xp=xp)
    leaves, take = to_np(leaves), to_np(take)
    sizes = to_np(lists.bucket_sizes())
    d = to_np(scores.d)
    all_leaves = to_np(scores.leaf_ids(to_xp(np.tile(np.arange(d.shape[1]), (Q.shape[0], 1)), xp), xp))
    reachable = np.array([sizes[row].sum() for row in all_leaves])
    assert np.array_equal(take.sum(axis=1), np.minimum(n_candidates, reachable))
    for b in range(Q.shape[0]):
        dist_of = dict(zip(all_leaves[b].tolist(), d[b].tolist()))
        used = take[b] > 0
        ordered = np.array([dist_of[leaf] for leaf in leaves[b]])
        assert np.all(ordered[1:] >= ordered[:-1])  # ascending (empty leaves at inf, last)
        full = take[b][used][:-1]
        assert np.array_equal(full, sizes[leaves[b][used][:-1]])  # all but the last taken whole
        assert np.all(sizes[leaves[b][used]] > 0)
    probe_leaves, probe_take = select_leaves(scores, lists, n_probe=3, n_candidates=None, xp=xp)
    assert np.array_equal(to_np(probe_take), sizes[to_np(probe_leaves)])


@given(st.integers(1, 8), st.integers(1, 400), st.integers(1, 12), st.booleans(), st.integers(0, 2**16))
def test_scans_agree(xp, dtype, beam, n_candidates, k, filtered, seed):
    """§Scans: "lists" and "gather" return the same ids and distances up to rounding, filter included."""
    tables, lists, X, Q = _setup(xp, dtype, seed)
    allowed = None
    if filtered:
        allowed = lists.contains(to_xp(np.arange(0, 300, 3), xp))
    scores = beam_search(tables, Q, beam, xp=xp)
    leaves, take = select_leaves(scores, lists, n_probe=None, n_candidates=n_candidates, xp=xp)
    d1, i1, n1 = scan_gather(Q, leaves, take, lists, allowed, k, budget=chunk_budget(xp), xp=xp)
    penalty = None
    if filtered:
        zeros = xp.zeros(allowed.shape, dtype=lists.dtype)
        penalty = xp.where(allowed, zeros, xp.full_like(zeros, math.inf))
    d2, i2, n2 = scan_lists(Q, leaves, take, lists, penalty, k, xp=xp)
    assert n1 == n2 == int(np.sum(to_np(take)))
    d1, d2, i1, i2 = to_np(d1), to_np(d2), to_np(i1), to_np(i2)
    assert np.array_equal(np.isinf(d1), np.isinf(d2)) and np.array_equal(i1 < 0, i2 < 0)
    scale = 1 + float(np.max(np.sum(to_np(X).astype(np.float64) ** 2, axis=1)))
    finite = np.isfinite(d1)
    assert np.max(np.abs(d1[finite] - d2[finite]), initial=0.0) <= 100 * eps_of(dtype) * scale
    # Same ids, except where two candidates' distances differ by rounding only.
    differ = i1 != i2
    assert np.all(np.abs(d1[differ] - d2[differ]) <= 100 * eps_of(dtype) * scale)
    if filtered:
        assert np.all(to_np(i2)[i2 >= 0] % 3 == 0)


def _faiss_index(seed=0, n=600, dim=6):
    rng = np.random.default_rng(seed)
    cloud = TTPointCloud.random(dim, (6, 5), (3,), seed=seed, dtype="float32")
    index = TTIndex.from_point_cloud(cloud)
    X = (rng.standard_normal((n, dim)) * rng.uniform(0.5, 2.0, (n, 1))).astype(np.float32)
    index.add(X)
    return index, X, (X[:12] + 0.05 * rng.standard_normal((12, dim))).astype(np.float32)


@given(st.integers(1, 8), st.integers(1, 700), st.integers(1, 10), st.integers(0, 2**16))
def test_faiss_scan_returns_the_numpy_ids(beam, n_candidates, k, seed):
    """§Scans: scan="faiss" scans the same candidates (the last bucket cut alike) and returns the same ids."""
    pytest.importorskip("faiss")
    index, X, Q = _faiss_index(seed)
    for budget in ({"n_candidates": n_candidates}, {"n_probe": 1 + n_candidates % 7}):
        d1, i1 = index.search(Q, k, beam=beam, scan="lists", **budget)
        stats = dict(index.last_search_stats)
        d2, i2 = index.search(Q, k, beam=beam, scan="faiss", **budget)
        assert index.last_search_stats == stats
        scale = 1 + 2 * float(np.max(np.sum(X.astype(np.float64) ** 2, axis=1)))
        differ = i1 != i2  # only between candidates whose distances differ by rounding
        assert np.all(np.abs(d1[differ] - d2[differ]) <= 100 * eps_of("float32") * scale)
        finite = np.isfinite(d1)
        assert np.array_equal(finite, np.isfinite(d2))
        assert np.max(np.abs(d1[finite] - d2[finite]), initial=0.0) <= 100 * eps_of("float32") * scale


def test_faiss_scan_follows_the_lists_and_refuses_what_it_cannot_do():
    """§Scans: the faiss copy follows adds and removes; float64, other backends, allow with n_candidates refused."""
    pytest.importorskip("faiss")
    from tt_ref._backend import ArgumentValueError, namespace_for

    index, X, Q = _faiss_index(3)
    index.search(Q, 3, scan="faiss")
    index.add(Q[:1], ids=[10_000])
    assert int(index.search(Q[:1], 1, beam=30, n_probe=30, scan="faiss")[1][0, 0]) == 10_000
    index.remove([10_000])
    assert int(index.search(Q[:1], 1, beam=30, n_probe=30, scan="faiss")[1][0, 0]) != 10_000
    allow = np.arange(0, 600, 5)
    d1, i1 = index.search(Q, 4, beam=30, n_probe=8, allow=allow, scan="lists")
    d2, i2 = index.search(Q, 4, beam=30, n_probe=8, allow=allow, scan="faiss")
    assert np.array_equal(i1, i2)
    with pytest.raises(ArgumentValueError, match="n_probe"):
        index.search(Q, 4, allow=allow, scan="faiss")
    with pytest.raises(ArgumentValueError, match="float32 NumPy"):
        index.to_backend("array_api_strict").search(to_xp(Q, namespace_for("array_api_strict")), 2, scan="faiss")
    wide = TTIndex.from_point_cloud(TTPointCloud.random(6, (3, 3), (2,), seed=0))
    wide.add(X.astype(np.float64))
    with pytest.raises(ArgumentValueError, match="float32 NumPy"):
        wide.search(Q.astype(np.float64), 2, scan="faiss")


@given(st.integers(1, 4), st.integers(1, 300), st.integers(0, 2**16))
def test_projection_by_prefix_on_numpy_returns_the_full_products_results(beam, n_candidates, seed):
    """§Search step 1: NumPy projects the kept prefixes only (n_1 >= 4 beam); array_api_strict projects all.

    Same ids and distances up to rounding; the stats count what each did.
    """
    strict = pytest.importorskip("array_api_strict")
    rng = np.random.default_rng(seed)
    cloud = TTPointCloud.random(5, (16, 4), (3,), seed=seed)
    index = TTIndex.from_point_cloud(cloud)
    X = rng.standard_normal((500, 5))
    index.add(X)
    Q = rng.standard_normal((40, 5))
    d1, i1 = index.search(Q, 5, beam=beam, n_candidates=n_candidates)
    on_strict = index.to_backend("array_api_strict")
    d2, i2 = on_strict.search(strict.asarray(Q), 5, beam=beam, n_candidates=n_candidates)
    assert index.last_search_stats["projections_per_query"] == min(beam, 16) * 3
    assert on_strict.last_search_stats["projections_per_query"] == 16 * 3
    d2, i2 = to_np(d2), to_np(i2)
    scale = 1 + float(np.max(np.sum(X ** 2, axis=1)))
    assert np.array_equal(np.isinf(d1), np.isinf(d2))
    finite = np.isfinite(d1)
    assert np.max(np.abs(d1[finite] - d2[finite]), initial=0.0) <= 100 * eps_of("float64") * scale
    differ = (i1 != i2) & finite
    assert np.all(np.abs(d1[differ] - d2[differ]) <= 100 * eps_of("float64") * scale)
