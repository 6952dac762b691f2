"""The work of a sharded index without Dask: assignment and split, shards, the per-batch
plan, the shard scans and the merge, run in-process on every backend (specs/distributed.md)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from helpers import eps_of, to_np, to_xp

from tt_ref._backend import namespace_for, to_numpy
from tt_ref._backend._neighbors import nearest_neighbors
from tt_ref.cloud._point_cloud import TTPointCloud
from tt_ref.distributed._graphs import balanced_bounds
from tt_ref.distributed._knn import block_candidates, merge_candidates
from tt_ref.distributed._plan import (
    BucketCounts,
    Router,
    SearchState,
    assign_block,
    bucket_histogram,
    merge_results,
    plan_batch,
    scan_group,
    scan_shard,
    split_block,
)
from tt_ref.distributed._sample import sample_indices
from tt_ref.distributed._shard import (
    empty_shard,
    id_checksums,
    insert_pieces,
    present_ids,
    range_checksums,
    remove_ids,
    summarize,
)
from tt_ref.search import TTIndex
from tt_ref.search._beam import BeamTables


def _shards_in_process(cloud, X, n_shards, layout, *, blocks=3):
    """Shards built as the cluster builds them (blocks assigned, split, merged in block order)."""
    xp = cloud.xp
    router = Router(cloud, BeamTables.from_cloud(cloud), "l2", "beam", 32)
    n_buckets = cloud.n_points
    cuts = np.linspace(0, X.shape[0], blocks + 1).astype(int)
    assigned = [assign_block(router, X[a:b, :], int(a)) for a, b in zip(cuts[:-1], cuts[1:])]
    hist = sum(bucket_histogram(a, n_buckets) for a in assigned)
    bounds = balanced_bounds(hist, n_shards) if layout == "buckets" else None
    ranges = list(zip(bounds[:-1], bounds[1:])) if bounds else [(0, n_buckets)] * n_shards
    dtype = str(cloud.dtype).rsplit(".", 1)[-1]
    shards = [empty_shard(j, lo, hi, dim=cloud.dim, dtype=dtype, backend=_backend(xp)) for j, (lo, hi) in
              enumerate(ranges)]
    splits = [split_block(a, bounds, layout, len(shards), int(start)) for a, start in zip(assigned, cuts[:-1])]
    return [insert_pieces(s, *(split[j] for split in splits)) for j, s in enumerate(shards)], bounds


def _backend(xp):
    from tt_ref._backend import backend_name

    return backend_name(xp)


def _search_in_process(cloud, shards, bounds, layout, Q, k, **options):
    xp = cloud.xp
    summaries = [summarize(s) for s in shards]
    sizes = np.zeros(cloud.n_points, dtype=np.int64)
    per_shard = np.zeros((len(shards), cloud.n_points), dtype=np.int64)
    for j, s in enumerate(summaries):
        sizes[s.lo:s.hi] += s.bucket_sizes
        per_shard[j, s.lo:s.hi] = s.bucket_sizes
    tables = BeamTables.from_cloud(cloud).with_empty_leaves(xp.asarray(sizes > 0), xp)
    counts = BucketCounts(xp.asarray(sizes), int(sizes.sum()), max(1, int(np.sum(sizes > 0))))
    state = SearchState(tables, counts, layout, bounds, xp.asarray(per_shard) if layout == "rows" else None)
    scan, beam = options.pop("scan", "lists"), options.pop("beam", 4)
    works = plan_batch(state, Q, beam=beam, n_probe=options.get("n_probe"), n_candidates=options.get("n_candidates"))
    results = [scan_shard(s, w, k, scan=scan, layout=layout) for s, w in zip(shards, works)]
    dtype = str(cloud.dtype).rsplit(".", 1)[-1]
    merged = merge_results(Q.shape[0], k, _backend(xp), dtype, *results)
    # The same through per-worker groups (shards 0, 2, ... and 1, 3, ...): combined twice, same answer.
    groups = [list(range(len(shards)))[0::2], list(range(len(shards)))[1::2]]
    bundles = plan_batch(state, Q, beam=beam, n_probe=options.get("n_probe"), n_candidates=options.get("n_candidates"),
                         groups=groups)
    parts = [scan_group(bundle, k, scan, layout, Q.shape[0], *(shards[j] for j in group))
             for bundle, group in zip(bundles, groups)]
    grouped = merge_results(Q.shape[0], k, _backend(xp), dtype, *parts)
    assert np.array_equal(to_np(grouped[1]), to_np(merged[1])) and grouped[2] == merged[2]
    return merged, works


@settings(max_examples=10)  # each example builds an index and its shards twice
@given(n_shards=st.integers(1, 5), layout=st.sampled_from(["buckets", "rows"]), probe=st.integers(1, 12),
       scan=st.sampled_from(["lists", "gather"]), ties=st.booleans(), seed=st.integers(0, 1000))
def test_sharded_search_returns_the_single_index_ids(xp, dtype, n_shards, layout, probe, scan, ties, seed):
    """§Search: beam once, each shard its own buckets, merged top-k = the single index (ids; distances to rounding),
    ties included (integer data: many exactly equal distances across buckets and shards)."""
    rng = np.random.default_rng(seed)
    raw = rng.integers(-2, 3, (300, 5)) if ties else rng.standard_normal((300, 5))
    X, Q = to_xp(raw, xp, dtype), to_xp(raw[:17] + (0 if ties else 0.1), xp, dtype)
    cloud = TTPointCloud.random(5, (4, 6), (3,), seed=seed, dtype=dtype, backend=_backend(xp))
    single = TTIndex.from_point_cloud(cloud)
    single.add(X)
    shards, bounds = _shards_in_process(cloud, X, n_shards, layout)
    budget = {"n_probe": probe} if layout == "rows" or probe % 2 else {"n_candidates": 10 * probe}
    d_ref, i_ref = single.search(Q, 7, beam=4, scan=scan, **budget)
    (d, ids, n_cand), works = _search_in_process(cloud, shards, bounds, layout, Q, 7, scan=scan, **budget)
    assert np.array_equal(to_np(ids), to_np(i_ref))
    tol = 64 * eps_of(dtype) * (1 + float(np.max(np.abs(raw))) ** 2 * 5)
    finite = np.isfinite(to_np(d_ref))
    np.testing.assert_allclose(to_np(d)[finite], to_np(d_ref)[finite], rtol=tol, atol=tol)
    assert n_cand == single.last_search_stats["candidates_per_query"] * Q.shape[0]
    if layout == "buckets":  # each shard got only its buckets (local ids inside its range)
        for j, work in enumerate(works):
            if work is not None:
                live = to_np(work.take) > 0
                assert np.all((to_np(work.leaves)[live] >= 0) & (to_np(work.leaves)[live] < bounds[j + 1] - bounds[j]))


def test_shards_are_values_and_checksums_count_every_id(xp):
    """§Shards: insert and remove return new shards; counts and id checksums add up."""
    shard = empty_shard(0, 0, 4, dim=2, dtype="float64", backend=_backend(xp))
    piece = (xp.asarray(np.arange(10.0).reshape(5, 2)), xp.asarray(np.array([3, 9, 4, 7, 1])),
             xp.asarray(np.array([1, 0, 1, 3, 0])))
    grown = insert_pieces(shard, piece, None)
    assert summarize(shard).ntotal == 0 and summarize(grown).ntotal == 5
    assert to_numpy(grown.lists.ids).tolist() == [9, 1, 3, 4, 7]  # by bucket, row order inside a bucket
    assert summarize(grown).bucket_sizes.tolist() == [2, 2, 0, 1]
    assert (summarize(grown).id_sum, summarize(grown).id_sq_sum) == id_checksums(np.array([3, 9, 4, 7, 1]))
    assert present_ids(grown, np.array([1, 2, 3])).tolist() == [1, 3]
    smaller = remove_ids(grown, np.array([1, 3]))
    assert summarize(grown).ntotal == 5 and to_numpy(smaller.lists.ids).tolist() == [9, 4, 7]
    rows = grown.rows_of_ids(xp.asarray(np.array([7, 9])))
    assert to_numpy(rows).tolist() == [4, 0]


@given(start=st.integers(0, 2**62), n=st.integers(0, 50))
def test_range_checksums_match_the_ids(start, n):
    """§Faults: the closed-form checksums of running ids equal the summed ones (mod 2**64)."""
    assert range_checksums(start, n) == id_checksums(np.arange(n, dtype=np.uint64) + np.uint64(start))


@given(sizes=st.lists(st.integers(0, 50), min_size=1, max_size=40), n_shards=st.integers(1, 8))
def test_balanced_bounds_cover_every_bucket_once(sizes, n_shards):
    """§Layout: contiguous, non-empty bucket ranges covering 0..P, no shard above the mean plus a bucket."""
    hist = np.array(sizes, dtype=np.int64)
    n_shards = min(n_shards, hist.size)
    bounds = balanced_bounds(hist, n_shards)
    assert bounds[0] == 0 and bounds[-1] == hist.size and len(bounds) == n_shards + 1
    assert all(b > a for a, b in zip(bounds, bounds[1:]))
    loads = [int(hist[a:b].sum()) for a, b in zip(bounds, bounds[1:])]
    assert sum(loads) == hist.sum()
    if hist.sum() and n_shards > 1:  # the first shard's cut is the nearest to its target
        target = hist.sum() / n_shards
        assert abs(loads[0] - target) <= int(hist.max()) + 1e-9 or bounds[1] == 1 or bounds[1] == hist.size - n_shards + 1


def test_split_keeps_row_order_and_sends_every_row_once(xp):
    """§Add: every row goes to exactly one shard, with its id, in the block's order."""
    cloud = TTPointCloud.random(3, (4, 4), (2,), seed=0, backend=_backend(xp))
    router = Router(cloud, BeamTables.from_cloud(cloud), "l2", "exact", 1)
    X = to_xp(np.random.default_rng(0).standard_normal((60, 3)), xp)
    assigned = assign_block(router, X, 100)
    for layout, bounds in (("buckets", (0, 5, 11, 16)), ("rows", None)):
        pieces = split_block(assigned, bounds, layout, 3, 7)
        ids = np.concatenate([to_np(p[1]) for p in pieces if p is not None])
        assert np.array_equal(np.sort(ids), np.arange(100, 160))
        for j, p in enumerate(pieces):
            if p is not None:
                assert np.all(np.diff(to_np(p[1])) > 0)
                if layout == "rows":
                    assert np.all((to_np(p[1]) - 100 + 7) % 3 == j)


@settings(max_examples=10)
@given(k=st.integers(1, 9), block=st.integers(1, 40), seed=st.integers(0, 100))
def test_block_topk_and_tree_merge_equal_exact_search(xp, k, block, seed):
    """§Ground truth: per-block top-k then merges equal the exact k nearest (ties to the smaller row)."""
    rng = np.random.default_rng(seed)
    base = rng.integers(-3, 4, (50, 3)).astype(np.float64)  # many ties
    q = to_xp(rng.integers(-3, 4, (6, 3)).astype(np.float64), xp)
    parts = [block_candidates(to_xp(base[s:s + block], xp), q, k, s) for s in range(0, 50, block)]
    while len(parts) > 1:  # a tree of fan-in 2
        parts = [merge_candidates(xp.concat(parts[i:i + 2], axis=0), k) for i in range(0, len(parts), 2)]
    pairs = to_np(merge_candidates(parts[0], k))
    d_ref, i_ref = nearest_neighbors(q, to_xp(base, xp), k)
    assert np.array_equal(pairs[:, :, 1].T.astype(np.int64), to_np(i_ref))
    np.testing.assert_allclose(pairs[:, :, 0].T, to_np(d_ref), atol=1e-9)


def test_sample_indices_follow_the_host_seed_contract():
    """§Training: the sampled rows are random_choice(seed, N, size), all rows when size >= N."""
    from tt_ref._backend import random_choice

    assert np.array_equal(sample_indices(1000, 50, 4), random_choice(4, 1000, 50, xp=namespace_for("numpy")))
    assert sample_indices(50, 50, 4) is None and sample_indices(50, None, 4) is None


def test_empty_merge_pads_with_inf_and_minus_one():
    """§Search: a batch no shard has work for gives inf distances and -1 ids."""
    d, ids, n = merge_results(3, 2, "numpy", "float32", None, None)
    assert d.dtype == np.float32 and np.all(np.isinf(d)) and np.all(ids == -1) and n == 0
    assert math.isinf(float(d[0, 0]))


@pytest.mark.parametrize("method", ["exact", "beam"])
def test_assignment_matches_the_single_index(xp, dtype, method):
    """§Add: a block's buckets are the single index's (same rule, same cloud)."""
    cloud = TTPointCloud.random(4, (3, 5), (2,), seed=3, dtype=dtype, backend=_backend(xp))
    X = to_xp(np.random.default_rng(1).standard_normal((80, 4)), xp, dtype)
    single = TTIndex.from_point_cloud(cloud, assign=method, assign_beam=2)
    single.add(X)
    router = Router(cloud, BeamTables.from_cloud(cloud), "l2", method, 2)
    buckets = to_np(assign_block(router, X, 0)[2])
    lists = single._lists
    by_id = np.empty(80, dtype=np.int64)
    by_id[to_np(lists.ids)] = to_np(lists.bucket_of_rows())
    assert np.array_equal(buckets, by_id)
