"""The work of a sharded index, as pure functions of arrays (specs/distributed.md §Add, §Search).

Each function here runs inside one Dask task and sees only NumPy or CuPy arrays (or
array_api_strict ones in the tests: Array API only); none knows about Dask.

* adding: :func:`assign_block` puts a block of rows in buckets (the cloud came once per
  worker), :func:`bucket_histogram` counts them, :func:`split_block` cuts the block into
  one piece per shard;
* searching: :func:`plan_batch` runs the beam once for a query batch and cuts its work
  into one :class:`ShardWork` per shard (only the queries and leaf buckets that shard
  owns); :func:`scan_shard` scans them (:func:`scan_group`: the shards of one worker);
  :func:`combine_results` and :func:`merge_results` merge the shards' top-k so that ids
  and ties come out as one index's search gives them.
"""

from __future__ import annotations

import math

import numpy as np

from .._backend import array_namespace, backend_name, namespace_for, to_ints, to_numpy, topk_smallest
from ..search._assign import assign_buckets
from ..search._beam import beam_search, take_rows
from ..search._checks import check_vectors
from ..search._config import chunk_budget
from ..search._scan import projects_kept_prefixes, scan_gather, scan_lists, select_leaves

__all__ = ["Router", "assign_block", "bucket_histogram", "split_block", "BucketCounts", "SearchState", "ShardWork",
           "ShardResult", "plan_batch", "scan_shard", "scan_group", "combine_results", "merge_results", "LAYOUTS"]

#: Shard layouts: contiguous ranges of leaf buckets, or a share of every bucket's rows.
LAYOUTS = ("buckets", "rows")

_LAST = 2**62  # sorts after every real leaf rank and position


# --------------------------------------------------------------------------- adding
class Router:
    """What a worker needs to put vectors in buckets: the cloud, its beam tables, the index's settings."""

    __slots__ = ("cloud", "tables", "metric", "method", "beam")

    def __init__(self, cloud, tables, metric: str, method: str, beam: int):
        self.cloud, self.tables, self.metric, self.method, self.beam = cloud, tables, metric, method, beam

    def __reduce__(self):
        return (Router, (self.cloud, self.tables, self.metric, self.method, self.beam))

    def prepare(self, block, *, name: str = "X"):
        """``block`` checked, cast to the cloud's dtype and normalised as the index's ``add`` does."""
        return check_vectors(block, name=name, dim=self.cloud.dim, metric=self.metric,
                             backend=backend_name(self.cloud.xp), dtype=self.cloud.dtype)

    def buckets(self, vectors):
        """Flat leaf bucket of each row (the index's ``assign`` rule)."""
        xp = self.cloud.xp
        return assign_buckets(vectors, method=self.method, cloud=self.cloud, tables=self.tables, beam=self.beam,
                              budget=chunk_budget(xp), xp=xp)


def assign_block(router: Router, block, first_id: int, ids=None):
    """``(vectors, ids, buckets)`` of one block of rows: checked, numbered from ``first_id`` (or
    ``ids``, host integers), and assigned to their buckets."""
    vectors = router.prepare(block)
    xp = array_namespace(vectors)
    n = vectors.shape[0]
    if ids is None:
        ids = xp.arange(first_id, first_id + n, dtype=xp.int64)
    else:
        ids = xp.asarray(np.asarray(to_numpy(ids), dtype=np.int64))
    return vectors, ids, router.buckets(vectors)


def bucket_histogram(assigned, n_buckets: int) -> np.ndarray:
    """Vectors per bucket of an assigned block (host int64, ``(P,)``)."""
    return np.bincount(to_numpy(assigned[2]).astype(np.int64), minlength=n_buckets).astype(np.int64)


def split_block(assigned, bounds, layout: str, n_shards: int, first_row: int):
    """One ``(vectors, ids, local buckets)`` piece per shard (None where a shard gets nothing).

    ``"buckets"``: shard ``j`` owns buckets ``bounds[j] .. bounds[j + 1] - 1`` and gets
    them with local numbers; ``"rows"``: global row ``first_row + i`` goes to shard
    ``(first_row + i) % n_shards`` with its bucket unchanged. Rows keep their order.
    """
    vectors, ids, buckets = assigned
    xp = array_namespace(vectors)
    n = ids.shape[0]
    if layout == "buckets":
        inner = xp.asarray(np.asarray(bounds[1:-1], dtype=np.int64))
        shard_of = xp.searchsorted(inner, buckets, side="right") if n_shards > 1 else xp.zeros_like(buckets)
    else:
        shard_of = (xp.arange(n, dtype=xp.int64) + first_row) % n_shards
    order = xp.argsort(shard_of, stable=True)
    cuts = to_numpy(xp.searchsorted(xp.take(shard_of, order), xp.arange(n_shards + 1, dtype=xp.int64))).tolist()
    pieces = []
    for j in range(n_shards):
        rows = order[cuts[j]:cuts[j + 1]]
        if rows.shape[0] == 0:
            pieces.append(None)
            continue
        local = xp.take(buckets, rows) - (bounds[j] if layout == "buckets" else 0)
        pieces.append((xp.take(vectors, rows, axis=0), xp.take(ids, rows), local))
    return tuple(pieces)


# --------------------------------------------------------------------------- searching
class BucketCounts:
    """The global bucket sizes, in the shape the leaf selection reads them (as an index's lists)."""

    __slots__ = ("sizes", "ntotal", "_nonempty")

    def __init__(self, sizes, ntotal: int, nonempty: int):
        self.sizes, self.ntotal, self._nonempty = sizes, ntotal, nonempty

    def __reduce__(self):
        return (BucketCounts, (self.sizes, self.ntotal, self._nonempty))

    def bucket_sizes(self):
        """``(P,)`` vectors per bucket (all shards)."""
        return self.sizes

    def n_nonempty(self) -> int:
        """Non-empty buckets (at least 1)."""
        return self._nonempty


class SearchState:
    """What the beam task needs: tables with empty leaves at ``inf``, bucket counts, the layout.

    ``bounds`` (layout ``"buckets"``) are the ``S + 1`` bucket boundaries of the shards;
    ``shard_sizes`` (layout ``"rows"``) the ``(S, P)`` array of each shard's bucket sizes.
    """

    __slots__ = ("tables", "counts", "layout", "bounds", "shard_sizes")

    def __init__(self, tables, counts: BucketCounts, layout: str, bounds, shard_sizes=None):
        self.tables, self.counts, self.layout, self.bounds, self.shard_sizes = tables, counts, layout, bounds, shard_sizes

    def __reduce__(self):
        return (SearchState, (self.tables, self.counts, self.layout, self.bounds, self.shard_sizes))


class ShardWork:
    """One shard's part of a query batch: ``rows`` (batch rows with work here), their queries
    ``q``, and per row the owned leaf buckets (local ids) nearest first, how many vectors to
    take from each (0 pads), and their ``cols`` (rank among the query's selected leaves)."""

    __slots__ = ("rows", "q", "leaves", "take", "cols")

    def __init__(self, rows, q, leaves, take, cols):
        self.rows, self.q, self.leaves, self.take, self.cols = rows, q, leaves, take, cols

    def __reduce__(self):
        return (ShardWork, (self.rows, self.q, self.leaves, self.take, self.cols))


class ShardResult:
    """A shard's top ``k`` for its rows: distances, ids, and the tie keys (leaf rank, then
    position in the bucket or id)."""

    __slots__ = ("rows", "d", "ids", "rank", "second", "n_candidates")

    def __init__(self, rows, d, ids, rank, second, n_candidates: int):
        self.rows, self.d, self.ids, self.rank, self.second = rows, d, ids, rank, second
        self.n_candidates = n_candidates

    def __reduce__(self):
        return (ShardResult, (self.rows, self.d, self.ids, self.rank, self.second, self.n_candidates))


def plan_batch(state: SearchState, q, *, beam: int, n_probe, n_candidates, groups=None):
    """The beam of a query batch, once, cut into shards: ``works[j]`` is shard ``j``'s
    :class:`ShardWork` (None when no query of the batch needs that shard).

    With ``groups`` (lists of shard numbers, one per worker), the works come bundled:
    ``works[g]`` is the tuple of the works of group ``g``'s shards.
    """
    xp = array_namespace(q)
    scores = beam_search(state.tables, q, beam, xp=xp, by_prefix=projects_kept_prefixes(state.tables, beam, xp))
    leaves, take = select_leaves(scores, state.counts, n_probe=n_probe, n_candidates=n_candidates, xp=xp)
    bounds = state.bounds
    works = []
    if state.layout == "buckets":
        n_shards = len(bounds) - 1
        inner = xp.asarray(np.asarray(bounds[1:-1], dtype=np.int64))
        flat = xp.reshape(leaves, (-1,))
        shard_of = xp.reshape(xp.searchsorted(inner, flat, side="right"), leaves.shape) if n_shards > 1 \
            else xp.zeros_like(leaves)
        for j in range(n_shards):
            works.append(_shard_work(q, leaves, take, shard_of == j, bounds[j], xp))
    else:
        flat = xp.reshape(leaves, (-1,))
        for j in range(state.shard_sizes.shape[0]):
            local = xp.reshape(xp.take(state.shard_sizes[j, :], flat), leaves.shape)
            works.append(_shard_work(q, leaves, xp.minimum(take, local), local > 0, 0, xp))
    if groups is not None:
        return tuple(tuple(works[j] for j in group) for group in groups)
    return tuple(works)


def _shard_work(q, leaves, take, own, lo: int, xp):
    """The owned (leaf, take) entries of each row, kept in order and packed to the left."""
    own = xp.logical_and(own, take > 0)
    count = xp.sum(xp.astype(own, xp.int64), axis=1)
    rows = xp.nonzero(count > 0)[0]
    if rows.shape[0] == 0:
        return None
    (width,) = to_ints(xp.max(count))
    # Owned entries first, in their order (a stable sort of the 0/1 "not owned" flags).
    order = xp.argsort(xp.astype(xp.logical_not(xp.take(own, rows, axis=0)), xp.int8), axis=1, stable=True)
    cols = xp.astype(order[:, :width], xp.int64)
    valid = xp.arange(width, dtype=xp.int64)[None, :] < xp.take(count, rows)[:, None]
    sub_leaves = take_rows(xp.take(leaves, rows, axis=0), cols, xp) - lo
    sub_take = take_rows(xp.take(take, rows, axis=0), cols, xp)
    zero = xp.zeros_like(sub_leaves)
    return ShardWork(rows, xp.take(q, rows, axis=0), xp.where(valid, sub_leaves, zero),
                     xp.where(valid, sub_take, xp.zeros_like(sub_take)), cols)


def scan_shard(shard, work, k: int, *, scan: str, layout: str):
    """Exact distances to the candidates of ``work`` in ``shard``; its top ``k`` per row (None without work).

    The scans are the single index's (:func:`~tt_ref.search._scan.scan_lists`,
    :func:`~tt_ref.search._scan.scan_gather`) on the shard's lists; each result's storage
    row then gives its bucket's rank among the query's leaves and its position in the
    bucket: the keys :func:`merge_results` breaks ties by.
    """
    if work is None:
        return None
    lists = shard.lists
    xp = lists.xp
    parts, n_cand = [], 0
    # A scan pads every row to the row with the most candidates; a shard's rows differ a lot
    # (a query may have most of its buckets here or a few), so rows of similar counts go together.
    for rows in _row_chunks(to_numpy(xp.sum(work.take, axis=1)), xp):
        q, leaves, take = (xp.take(a, rows, axis=0) for a in (work.q, work.leaves, work.take))
        if scan == "gather":
            part = scan_gather(q, leaves, take, lists, None, k, budget=chunk_budget(xp), xp=xp)
        else:
            part = scan_lists(q, leaves, take, lists, None, k, xp=xp)
        parts.append((rows, part[0], part[1]))
        n_cand += part[2]
    back = xp.argsort(xp.concat([p[0] for p in parts]))
    d, ids = (xp.take(xp.concat([p[j] for p in parts], axis=0), back, axis=0) for j in (1, 2))
    found = ids >= 0
    flat = shard.rows_of_ids(xp.reshape(xp.where(found, ids, xp.zeros_like(ids)), (-1,)))
    offsets = lists.offsets
    bucket = xp.clip(xp.searchsorted(offsets, flat, side="right") - 1, 0, lists.n_buckets - 1)
    position = xp.reshape(flat - xp.take(offsets, bucket), ids.shape)
    rank = _leaf_rank(work, xp.reshape(bucket, ids.shape), lists.n_buckets, xp)
    second = position if layout == "buckets" else ids
    last = xp.full_like(ids, _LAST)
    return ShardResult(work.rows, d, ids, xp.where(found, rank, last), xp.where(found, second, last), n_cand)


def _row_chunks(totals: np.ndarray, xp, *, ratio: int = 4, small: int = 1 << 16):
    """Rows (as ``xp`` index arrays) in chunks of similar candidate counts: sorted by count,
    a chunk ends where a count falls below ``1 / ratio`` of its first (unless the chunk is
    still ``small`` in padded entries), so padding costs at most about ``ratio`` times."""
    order = np.argsort(-totals, kind="stable")
    chunks, start = [], 0
    for i in range(1, order.size + 1):
        if i == order.size or (totals[order[i]] * ratio < totals[order[start]]
                               and (i - start) * totals[order[start]] >= small):
            chunks.append(xp.asarray(order[start:i].astype(np.int64)))
            start = i
    return chunks


def _leaf_rank(work, bucket, n_buckets: int, xp):
    """The rank (``work.cols``) of ``bucket[b, i]`` among row ``b``'s leaves: one sorted search."""
    n_rows, width = work.leaves.shape
    span = n_buckets + 1
    base = xp.arange(n_rows, dtype=xp.int64)[:, None] * span
    keys = xp.where(work.take > 0, work.leaves, xp.full_like(work.leaves, n_buckets)) + base
    flat = xp.reshape(keys, (-1,))
    order = xp.argsort(flat)
    pos = xp.searchsorted(xp.take(flat, order), xp.reshape(bucket + base, (-1,)))
    pos = xp.clip(pos, 0, flat.shape[0] - 1)
    entry = xp.take(order, pos)
    return xp.reshape(xp.take(xp.reshape(work.cols, (-1,)), entry), bucket.shape)


def combine_results(n_queries: int, k: int, results):
    """The top ``k`` of every query over several shards' results, as one :class:`ShardResult`
    over all ``n_queries`` rows (None when none of them had work).

    Each query's entries are put in the single index's candidate order first (leaf rank,
    then position in the bucket), so the top-k's ties go where one index puts them.
    """
    results = [r for r in results if r is not None]
    if not results:
        return None
    xp = array_namespace(results[0].d)
    every = xp.arange(n_queries, dtype=xp.int64)
    parts = {"d": [], "ids": [], "rank": [], "second": []}
    for r in results:
        n_rows = r.rows.shape[0]
        pos = xp.clip(xp.searchsorted(r.rows, every), 0, n_rows - 1)
        src = xp.where(xp.take(r.rows, pos) == every, pos, xp.full_like(pos, n_rows))  # n_rows: the padding row
        for name, fill in (("d", math.inf), ("ids", -1), ("rank", _LAST), ("second", _LAST)):
            value = getattr(r, name)
            padded = xp.concat([value, xp.full((1, value.shape[1]), fill, dtype=value.dtype)], axis=0)
            parts[name].append(xp.take(padded, src, axis=0))
    d, ids, rank, second = (xp.concat(parts[name], axis=1) for name in ("d", "ids", "rank", "second"))
    by_second = xp.argsort(second, axis=1, stable=True)
    by_rank = xp.argsort(take_rows(rank, by_second, xp), axis=1, stable=True)
    order = take_rows(by_second, by_rank, xp)
    vals, sel = topk_smallest(take_rows(d, order, xp), k, xp=xp)
    keep = take_rows(order, sel, xp)
    found = take_rows(ids, keep, xp)
    found = xp.where(xp.isinf(vals), xp.full_like(found, -1), found)
    return ShardResult(every, vals, found, take_rows(rank, keep, xp), take_rows(second, keep, xp),
                       sum(r.n_candidates for r in results))


def scan_group(works, k: int, scan: str, layout: str, n_queries: int, *shards):
    """Scan several shards held by one worker and combine them (one task per worker and batch)."""
    results = [scan_shard(shard, work, k, scan=scan, layout=layout) for shard, work in zip(shards, works)]
    return combine_results(n_queries, k, results)


def merge_results(n_queries: int, k: int, backend: str, dtype: str, *results):
    """``(distances, ids, candidates scanned)`` of a batch from the shards' (or groups') results."""
    merged = combine_results(n_queries, k, results)
    if merged is None:
        xp = namespace_for(backend)
        return (xp.full((n_queries, k), math.inf, dtype=getattr(xp, dtype)),
                xp.full((n_queries, k), -1, dtype=xp.int64), 0)
    return merged.d, merged.ids, merged.n_candidates
