"""Candidate selection and the exact scans of the TT index (specs/index.md §Search, §Scans).

After the beam (``_beam``) each query has distances to the leaves its beam reached.
:func:`select_leaves` orders the nearest non-empty leaves and says how many of their
vectors to scan; a scan then computes exact squared distances to those vectors and
keeps the ``k`` nearest:

* :func:`scan_gather` copies every candidate vector into a ``(b, C, D)`` block and runs
  one batched product (few kernel launches: the GPU path, and the reference);
* :func:`scan_lists` groups the (query, leaf) pairs by leaf and runs one matrix product
  per probed leaf, between the queries that probe it and the leaf's stored rows (no
  copy of stored vectors: the CPU path).

Both see the candidates in the same order (query by query, leaves nearest first,
storage order inside a leaf) and break ties alike, so they return the same ids unless
two candidates' distances differ by rounding only.
"""

from __future__ import annotations

import math

from .._backend import backend_name, to_ints, to_numpy, topk_smallest
from ._beam import beam_search, projects_by_prefix, take_rows
from ._config import chunk_budget, row_chunks
from ._faiss import scan_faiss

__all__ = ["search_batches", "search_stats", "projects_kept_prefixes", "select_leaves", "scan_gather", "scan_lists", "smallest_columns"]


def search_batches(Q, tables, lists, k: int, *, beam: int, n_probe, n_candidates, scan: str, allowed, chunk_size,
                   xp, allow_ids=None):
    """Search all rows of ``Q`` in chunks; returns ``(distances, ids, stats)``.

    ``tables`` must have the empty leaves at ``inf`` (``BeamTables.with_empty_leaves``);
    ``allowed`` is None or an ``(N,)`` mask of the storage rows that may be returned
    (``allow_ids``: the sorted allowed ids, for ``scan="faiss"``).
    Without ``chunk_size`` a chunk is sized so that no temporary exceeds the work budget
    (:func:`~tt_ref.search._config.chunk_budget`).
    """
    budget = chunk_budget(xp)
    penalty = None  # the lists scan's filter: inf added to the rows not allowed
    if allowed is not None:
        penalty = xp.where(allowed, xp.zeros(allowed.shape, dtype=lists.dtype),
                           xp.full(allowed.shape, math.inf, dtype=lists.dtype))
    if chunk_size is None:
        per_row = max(tables.row_elements(beam), lists.dim)
        if scan == "gather":
            expected = n_candidates or n_probe * max(1, lists.ntotal // lists.n_nonempty())
            per_row = max(per_row, expected * lists.dim)
        else:  # the padded candidates, and each probed leaf's query row
            pairs = n_probe or 2 * n_candidates * lists.n_nonempty() // lists.ntotal + 1
            per_row = max(per_row, n_candidates or pairs * max(1, lists.ntotal // lists.n_nonempty()),
                          pairs * lists.dim)
        chunks = row_chunks(Q.shape[0], per_row, budget)
    else:
        chunks = ((s, min(s + chunk_size, Q.shape[0])) for s in range(0, Q.shape[0], chunk_size))
    by_prefix = projects_kept_prefixes(tables, beam, xp)
    out_d, out_i, n_cand = [], [], 0
    for start, stop in chunks:
        q = Q[start:stop, :]
        scores = beam_search(tables, q, beam, xp=xp, by_prefix=by_prefix)
        leaves, take = select_leaves(scores, lists, n_probe=n_probe, n_candidates=n_candidates, xp=xp)
        if scan == "gather":
            d, ids, n_c = scan_gather(q, leaves, take, lists, allowed, k, budget=budget, xp=xp)
        elif scan == "faiss":
            d, ids, n_c = scan_faiss(q, leaves, take, lists, allow_ids, k, n_candidates=n_candidates, xp=xp)
        else:
            d, ids, n_c = scan_lists(q, leaves, take, lists, penalty, k, xp=xp)
        out_d.append(d)
        out_i.append(ids)
        n_cand += n_c
    n_q = max(Q.shape[0], 1)
    stats = search_stats(tables, beam, by_prefix, n_cand / n_q)
    if not out_d:
        return xp.zeros((0, k), dtype=lists.dtype), xp.zeros((0, k), dtype=xp.int64), stats
    return xp.concat(out_d, axis=0), xp.concat(out_i, axis=0), stats


def projects_kept_prefixes(tables, beam: int, xp) -> bool:
    """Whether this search's beam projects only the kept level-1 prefixes.

    On NumPy a host read is free, so the beam groups the queries by prefix when
    :func:`~tt_ref.search._beam.projects_by_prefix` says it pays; elsewhere it keeps the
    one-product path, which reads nothing (specs/gpu.md §Sync points).
    """
    return backend_name(xp) == "numpy" and projects_by_prefix(tables.mode_sizes[0], beam)


def search_stats(tables, beam: int, by_prefix: bool, candidates: float) -> dict:
    """``last_search_stats`` of a search: the beam's work plus the vectors re-ranked.

    ``distance_computations_per_query`` is in ``D``-dimensional distances (``D``
    multiply-adds each), the unit of a flat quantizer's count: the candidates, plus the
    beam's :meth:`~tt_ref.search._beam.BeamTables.cost` equivalents.
    """
    cost = tables.cost(beam, by_prefix=by_prefix)
    return {"candidates_per_query": candidates, "centres_per_query": float(cost["centres"]),
            "projections_per_query": float(cost["projections"]),
            "distance_computations_per_query": candidates + cost["equivalents"]}


# --------------------------------------------------------------------------- leaves
def select_leaves(scores, lists, *, n_probe, n_candidates, xp):
    """The nearest leaf buckets of each query and how many of their vectors to scan.

    ``scores`` are :class:`~tt_ref.search._beam.LeafScores` whose empty leaves are at
    ``inf`` (so they come last); ``lists`` the inverted lists. Returns
    ``(leaves (b, L), take (b, L))``: bucket ids in ascending centre distance and the
    number of vectors taken from each (the whole bucket, except that ``n_candidates``
    cuts the last one and zeroes the rest).
    """
    n_leaves = scores.d.shape[1]
    sizes = lists.bucket_sizes()

    def nearest(width):
        _, sel = smallest_columns(scores.d, width, xp=xp)
        leaves = scores.leaf_ids(sel, xp)
        return leaves, xp.reshape(xp.take(sizes, xp.reshape(leaves, (-1,))), leaves.shape)

    if n_probe is not None:
        return nearest(min(n_probe, n_leaves))
    # Start from about twice the buckets a typical query needs; double while short
    # (one host read per try: the usual first try is enough).
    width = min(n_leaves, max(8, int(2 * n_candidates * lists.n_nonempty() / lists.ntotal) + 1))
    while True:
        leaves, taken = nearest(width)
        cum = xp.cumulative_sum(taken, axis=1)
        if width == n_leaves or to_ints(xp.min(cum[:, -1]))[0] >= n_candidates:
            break
        width = min(n_leaves, 2 * width)
    take = xp.clip(n_candidates - (cum - taken), 0, None)
    return leaves, xp.minimum(taken, take)


def smallest_columns(d, width: int, *, xp, method: str = "auto"):
    """``topk_smallest(d, width)``: the same values and columns, ties to the smaller column.

    ``method="threshold"`` cuts each row into ``2 width`` blocks or more and sorts the
    block minima (values only): every entry no larger than the ``r``-th smallest minimum
    is kept, at least ``r`` per row. With ``r = 3/4 width`` a row usually keeps about
    ``1.8 width`` entries; a row that keeps fewer than ``width`` makes the chunk use
    ``r = width``, which always keeps enough (one entry per such block). Only the kept
    entries are ordered: a quick sort, then equal values among the first ``width`` put
    in column order (a stable sort of all kept entries only when a tie straddles the
    cut), so a row of thousands costs a short sort. The host reads the kept counts, so
    ``"auto"`` takes it on NumPy only, for rows at least 16 times longer than ``width``;
    rows that keep half their entries (ties, ``inf``) use
    :func:`~tt_ref._backend.topk_smallest`.
    """
    n_rows, n_cols = d.shape
    if method == "auto":
        method = "threshold" if backend_name(xp) == "numpy" and n_cols >= 16 * width else "topk"
    if method == "topk" or n_rows == 0 or n_cols < 2 * width:
        return topk_smallest(d, width, xp=xp)
    block = n_cols // (2 * width)
    usable = (n_cols // block) * block
    if block >= 16:
        minima = xp.min(xp.reshape(d[:, :usable], (n_rows, usable // block, block)), axis=2)
    else:  # a reduction over a short last axis is slow: strided elementwise minima instead
        minima = d[:, 0:usable:block]
        for j in range(1, block):
            minima = xp.minimum(minima, d[:, j:usable:block])
    if usable < n_cols:  # the ragged tail as one more block
        minima = xp.concat([minima, xp.min(d[:, usable:], axis=1, keepdims=True)], axis=1)
    minima = xp.sort(minima, axis=1, stable=False)  # values only: stability is moot (and slow)
    for rank in ((3 * width + 3) // 4, width):
        below = d <= minima[:, rank - 1:rank]
        count = xp.sum(xp.astype(below, xp.int64), axis=1)
        fewest, most = to_ints(xp.min(count), xp.max(count))
        if fewest >= width:
            break
    if 2 * most > n_cols:
        return topk_smallest(d, width, xp=xp)
    # Compact each row's kept entries (column order kept), pad with inf, order them.
    cols = xp.nonzero(below)[1]
    first = xp.cumulative_sum(count) - count
    slot = xp.arange(most, dtype=xp.int64)[None, :]
    valid = slot < count[:, None]
    col = xp.take(cols, xp.reshape(xp.clip(first[:, None] + slot, 0, cols.shape[0] - 1), (-1,)))
    col = xp.reshape(col, (n_rows, most))
    col = xp.where(valid, col, xp.zeros_like(col))
    vals = take_rows(d, col, xp)
    vals = xp.where(valid, vals, xp.full_like(vals, math.inf))
    # A quick sort of the kept values, then ties put in column order among the first
    # width: equal values form runs; (run, column) keys are distinct, so any sort is exact.
    head = min(width + 1, most)
    order = xp.astype(xp.argsort(vals, axis=1, stable=False), xp.int64)[:, :head]
    head_vals, head_cols = take_rows(vals, order, xp), take_rows(col, order, xp)
    if head > width and bool(xp.any(head_vals[:, width - 1] == head_vals[:, width])):
        order = xp.astype(xp.argsort(vals, axis=1, stable=True), xp.int64)[:, :width]  # a tie across the cut
        return take_rows(vals, order, xp), take_rows(col, order, xp)
    head_vals, head_cols = head_vals[:, :width], head_cols[:, :width]
    steps = xp.astype(head_vals[:, 1:] != head_vals[:, :-1], xp.int64)
    run = xp.cumulative_sum(xp.concat([xp.zeros((n_rows, 1), dtype=xp.int64), steps], axis=1), axis=1)
    fix = xp.astype(xp.argsort(run * n_cols + head_cols, axis=1, stable=False), xp.int64)
    return take_rows(head_vals, fix, xp), take_rows(head_cols, fix, xp)


def _pairs(leaves, take, xp):
    """The (query, leaf) pairs with something to scan, in query-then-rank order."""
    n_q, width = leaves.shape
    take_flat = xp.reshape(take, (-1,))
    nz = xp.nonzero(take_flat > 0)[0]
    return nz // width, xp.take(xp.reshape(leaves, (-1,)), nz), xp.take(take_flat, nz)


def _pad_rows(flat, totals, n_cols: int, fill, xp):
    """Row-major runs of ``flat`` (``totals[b]`` for row ``b``) as an ``(b, n_cols)`` array, padded."""
    n_q = totals.shape[0]
    if flat.shape[0] == n_q * n_cols:
        return xp.reshape(flat, (n_q, n_cols))  # every row full: the usual n_candidates case
    slot = xp.arange(n_cols, dtype=xp.int64)[None, :]
    start = xp.cumulative_sum(totals) - totals
    src = xp.clip(start[:, None] + slot, 0, max(flat.shape[0] - 1, 0))
    got = xp.reshape(xp.take(flat, xp.reshape(src, (-1,))), (n_q, n_cols)) if flat.shape[0] else src
    return xp.where(slot < totals[:, None], got, xp.full_like(got, fill))


# --------------------------------------------------------------------------- gather
def scan_gather(q, leaves, take, lists, allowed, k: int, *, budget: int, xp):
    """Exact re-rank by copying the candidate vectors (one batched product per row block).

    ``allowed`` is None or an ``(N,)`` mask of storage rows that may be returned.
    Returns ``(distances (b, k), ids (b, k), candidates scanned)``, padded with
    ``inf`` / ``-1``.
    """
    pair_row, pair_leaf, pair_take = _pairs(leaves, take, xp)
    totals = xp.sum(take, axis=1)
    # The one host read of the scan: both sizes in one transfer (shapes are Python ints).
    n_cand, n_cols = to_ints(xp.sum(totals), xp.max(totals))
    n_cols = max(1, n_cols)
    # Candidate c lives at storage row pos_flat[c]: runs of consecutive rows, one run
    # per (query, leaf) pair.
    excl = xp.cumulative_sum(pair_take) - pair_take
    pos_flat = xp.arange(n_cand, dtype=xp.int64) + xp.repeat(xp.take(lists.offsets, pair_leaf) - excl, pair_take)
    row_off = xp.cumulative_sum(totals) - totals
    rows_per = max(1, budget // max(n_cols * lists.dim, 1))
    out_d, out_i = [], []
    for s in range(0, q.shape[0], rows_per):
        e = min(s + rows_per, q.shape[0])
        d, found = _rerank_rows(q[s:e, :], totals[s:e], row_off[s:e], pos_flat, n_cand, n_cols, lists,
                                allowed, k, budget, xp)
        out_d.append(d)
        out_i.append(found)
    return xp.concat(out_d, axis=0), xp.concat(out_i, axis=0), n_cand


def _rerank_rows(q, totals, row_off, pos_flat, n_cand, n_cols, lists, allowed, k, budget, xp):
    n_q = q.shape[0]
    p = xp.arange(n_cols, dtype=xp.int64)[None, :]
    valid = p < totals[:, None]
    if n_cand == 0:
        pos = xp.zeros((n_q, n_cols), dtype=xp.int64)
        dots = xp.zeros((n_q, n_cols), dtype=q.dtype)
    else:
        src = xp.clip(xp.where(valid, row_off[:, None] + p, xp.zeros_like(p)), 0, n_cand - 1)
        pos = xp.reshape(xp.take(pos_flat, xp.reshape(src, (-1,))), (n_q, n_cols))
        dots = _dots_gather(q, pos, lists.vectors, budget, xp)
    flat = xp.reshape(pos, (-1,))
    d = xp.sum(q * q, axis=1)[:, None] - 2.0 * dots + xp.reshape(xp.take(lists.sq_norms, flat), pos.shape)
    d = xp.clip(d, 0.0, None)
    ok = valid
    if allowed is not None:
        ok = xp.logical_and(ok, xp.reshape(xp.take(allowed, flat), pos.shape))
    d = xp.where(ok, d, xp.full_like(d, math.inf))
    ids = xp.reshape(xp.take(lists.ids, flat), pos.shape)
    return _top_k(d, ids, k, xp)


def _dots_gather(q, pos, vectors, budget, xp):
    n_q, n_cols = pos.shape
    dim = vectors.shape[1]
    rows_per = max(1, budget // max(n_cols * dim, 1))
    out = []
    for s in range(0, n_q, rows_per):
        e = min(s + rows_per, n_q)
        flat = xp.reshape(pos[s:e, :], (-1,))
        block = xp.reshape(xp.take(vectors, flat, axis=0), (e - s, n_cols, dim))
        out.append((block @ q[s:e, :, None])[:, :, 0])
    return xp.concat(out, axis=0)


def _top_k(d, ids, k, xp):
    """Top ``k`` of each row of ``d`` (``inf`` means nothing), ids ``-1`` where nothing."""
    n_q, n_cols = d.shape
    if n_cols < k:
        d = xp.concat([d, xp.full((n_q, k - n_cols), math.inf, dtype=d.dtype)], axis=1)
        ids = xp.concat([ids, xp.full((n_q, k - n_cols), -1, dtype=ids.dtype)], axis=1)
    vals, sel = topk_smallest(d, k, xp=xp)
    found = take_rows(ids, sel, xp)
    return vals, xp.where(xp.isinf(vals), xp.full_like(found, -1), found)


# --------------------------------------------------------------------------- lists
def scan_lists(q, leaves, take, lists, penalty, k: int, *, xp):
    """Exact re-rank with one matrix product per probed leaf (no copy of stored vectors).

    For a leaf probed by queries ``Q_l``, ``[-2 Q_l, 1] @ [x, ||x||^2]^T`` gives
    ``||x||^2 - 2 q.x`` for all its vectors in one product on the stored rows;
    ``||q||^2`` is added to the ``k`` kept only. ``penalty`` (None, or ``(N,)`` of 0 and
    ``inf``) is added per stored row: a filter. Returns what :func:`scan_gather` returns.
    """
    n_q = q.shape[0]
    pair_row, pair_leaf, pair_take = _pairs(leaves, take, xp)
    totals = xp.sum(take, axis=1)
    n_pairs = pair_leaf.shape[0]
    # Pairs grouped by leaf (any order inside a leaf: each pair's place is mapped back).
    order = xp.argsort(pair_leaf, stable=False)
    sorted_leaf = xp.take(pair_leaf, order)
    is_first = xp.concat([xp.ones((min(n_pairs, 1),), dtype=xp.bool), sorted_leaf[1:] != sorted_leaf[:-1]])
    group_first = xp.nonzero(is_first)[0]
    counts = xp.concat([group_first[1:], xp.asarray([n_pairs], dtype=xp.int64)]) - group_first
    group_leaf = xp.take(sorted_leaf, group_first)
    starts = xp.take(lists.offsets, group_leaf)
    sizes = xp.take(lists.offsets, group_leaf + 1) - starts
    # The one host read of the scan: the two sizes and each group's rows, in one transfer.
    sums = xp.stack([xp.sum(totals), xp.max(totals)])
    host = to_numpy(xp.concat([sums, starts, sizes, counts])).tolist()
    n_cand, n_cols = host[0], max(1, host[1])
    n_groups = group_first.shape[0]
    if n_cand == 0:
        return (xp.full((n_q, k), math.inf, dtype=q.dtype), xp.full((n_q, k), -1, dtype=xp.int64), 0)
    # Each pair's [-2 q, 1], gathered once in leaf order; then one product per leaf.
    q_aug = xp.concat([-2.0 * q, xp.ones((n_q, 1), dtype=q.dtype)], axis=1)
    q_pairs = xp.take(q_aug, xp.take(pair_row, order), axis=0)
    rows_t = xp.matrix_transpose(lists.rows)  # (D + 1, N), a view
    blocks, pos = [], 0
    for start, size, count in zip(*(host[2 + j * n_groups: 2 + (j + 1) * n_groups] for j in range(3))):
        block = q_pairs[pos:pos + count, :] @ rows_t[:, start:start + size]
        if penalty is not None:
            block = block + penalty[start:start + size]
        blocks.append(xp.reshape(block, (-1,)))
        pos += count
    blocks.append(xp.full((1,), math.inf, dtype=q.dtype))  # the padding entry, last
    values = xp.concat(blocks)
    # Where each pair's row of its leaf's block starts, back in pair order.
    block_len = counts * sizes
    block_base = xp.cumulative_sum(block_len) - block_len
    in_group = xp.arange(n_pairs, dtype=xp.int64) - xp.repeat(group_first, counts)
    sorted_base = xp.repeat(block_base, counts) + in_group * xp.repeat(sizes, counts)
    pair_base = xp.take(sorted_base, xp.argsort(order, stable=False))  # the inverse permutation
    excl = xp.cumulative_sum(pair_take) - pair_take
    src = xp.arange(n_cand, dtype=xp.int64) + xp.repeat(pair_base - excl, pair_take)
    src = _pad_rows(src, totals, n_cols, values.shape[0] - 1, xp)
    d = xp.reshape(xp.take(values, xp.reshape(src, (-1,))), src.shape)
    if n_cols < k:
        d = xp.concat([d, xp.full((n_q, k - n_cols), math.inf, dtype=d.dtype)], axis=1)
        src = xp.concat([src, xp.full((n_q, k - n_cols), values.shape[0] - 1, dtype=src.dtype)], axis=1)
    vals, sel = smallest_columns(d, k, xp=xp)
    # Storage row of each kept entry: its group, then its column inside the leaf.
    entry = xp.reshape(take_rows(src, sel, xp), (-1,))
    group = xp.clip(xp.searchsorted(block_base + block_len, entry, side="right"), 0, n_groups - 1)
    row = xp.take(starts, group) + (entry - xp.take(block_base, group)) % xp.take(sizes, group)
    ids = xp.reshape(xp.take(lists.ids, row), sel.shape)
    dist = xp.clip(xp.sum(q * q, axis=1)[:, None] + vals, 0.0, None)
    return dist, xp.where(xp.isinf(vals), xp.full_like(ids, -1), ids), n_cand
