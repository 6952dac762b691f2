"""Exact k nearest neighbours over a Dask array (specs/distributed.md §Ground truth).

Ground truth: every row block of the database gives, for all queries at once, its
``min(k, rows)`` nearest rows (one GEMM and one top-k per block); a tree reduction
(``dask.array.reduction``, ``split_every`` blocks per step) merges these short lists.
Nothing is ever sorted along the chunked axis, and no block holds more than
``split_every * k`` candidates per query. A candidate travels as ``(distance, row)`` in
float64 (rows exact up to ``2**53``).
"""

from __future__ import annotations

import functools

import numpy as np

from .._backend import ArgumentTypeError, ArgumentValueError, array_namespace, check_int, topk_smallest
from .._backend._neighbors import squared_distances
from ..search._beam import take_rows
from ._client import require_dask
from ._sample import as_dask_array, chunk_meta

__all__ = ["exact_knn", "block_candidates", "merge_candidates"]


def block_candidates(block, queries, k: int, first_row: int):
    """The ``min(k, rows)`` nearest rows of one block per query, as ``(kb, n_queries, 2)`` float64
    ``(squared distance, global row)`` pairs, nearest first (ties: the smaller row)."""
    xp = array_namespace(block)
    kb = min(k, block.shape[0])
    d = squared_distances(queries, xp.astype(block, queries.dtype), xp=xp)
    vals, cols = topk_smallest(d, kb, xp=xp)
    rows = xp.astype(cols + first_row, xp.float64)
    pairs = xp.stack([xp.astype(vals, xp.float64), rows], axis=2)  # (n_queries, kb, 2)
    return xp.permute_dims(pairs, (1, 0, 2))


def merge_candidates(pairs, k: int):
    """The ``k`` best of stacked candidate lists ``(m, n_queries, 2)``: by distance, then row."""
    xp = array_namespace(pairs)
    keep = min(k, pairs.shape[0])
    d = xp.permute_dims(pairs[:, :, 0], (1, 0))
    rows = xp.permute_dims(pairs[:, :, 1], (1, 0))
    by_row = xp.argsort(rows, axis=1, stable=True)  # ties then go to the smaller row
    vals, sel = topk_smallest(take_rows(d, by_row, xp), keep, xp=xp)
    best_rows = take_rows(take_rows(rows, by_row, xp), sel, xp)
    return xp.permute_dims(xp.stack([vals, best_rows], axis=2), (1, 0, 2))


def _as_is(x, axis, keepdims):
    return x  # each block already holds its own top-k


def _merge_step(x, axis, keepdims, k):
    return merge_candidates(x, k)


def _block_step(block, queries, k, starts, block_info=None):
    return block_candidates(block, queries, k, int(starts[block_info[0]["chunk-location"][0]]))


def exact_knn(X, queries, k: int, *, split_every: int = 8):
    """Exact ``k`` nearest rows of the Dask array ``X`` for each row of ``queries``.

    Parameters
    ----------
    X : dask.array.Array, shape (N, D)
        Database; NumPy or CuPy chunks (the queries' kind).
    queries : array, shape (n_queries, D)
        In memory (sent once to every block's task).
    k : int
        ``1 <= k <= N``.
    split_every : int
        Candidate lists merged per reduction step (the tree's fan-in).

    Returns
    -------
    sq_distances, ids : arrays of shape (n_queries, k)
        Squared L2 distances (the queries' dtype), ascending; row numbers (int64),
        ties to the smaller row, as :func:`tt_ref.nearest_neighbors` orders them.

    Examples
    --------
    >>> import numpy as np, dask.array as da
    >>> from tt_ref.distributed import exact_knn
    >>> base = np.arange(20.0).reshape(10, 2)
    >>> d, ids = exact_knn(da.from_array(base, chunks=(3, 2)), np.array([[4.2, 5.2]]), 2)
    >>> ids.tolist()
    [[2, 3]]
    """
    dask, da, _ = require_dask()
    X = as_dask_array(X, name="X")
    if not hasattr(queries, "shape") or len(queries.shape) != 2:
        raise ArgumentTypeError("queries must be a 2-D NumPy or CuPy array")
    if queries.shape[1] != X.shape[1]:
        raise ArgumentValueError(f"queries have dimension {queries.shape[1]}, X has {X.shape[1]}")
    k = check_int(k, name="k", minimum=1, maximum=max(int(X.shape[0]), 1))
    split_every = check_int(split_every, name="split_every", minimum=2)
    if X.shape[0] == 0:
        raise ArgumentValueError("X is empty: no neighbours to search")
    n_q = queries.shape[0]
    starts = np.concatenate([[0], np.cumsum(X.chunks[0])[:-1]]).astype(np.int64)
    q = dask.delayed(queries)  # one key: sent once to each worker that needs it
    blocks = X.map_blocks(_block_step, q, k, starts, chunks=(tuple(min(k, c) for c in X.chunks[0]), (n_q,), (2,)),
                          new_axis=2, dtype=np.float64, meta=chunk_meta(X, 3))
    step = functools.partial(_merge_step, k=k)
    merged = da.reduction(blocks, _as_is, step, combine=step, axis=0, keepdims=True, concatenate=True,
                          split_every=split_every, output_size=k, dtype=np.float64, meta=chunk_meta(X, 3))
    pairs = merged.compute()
    xp = array_namespace(pairs)
    d = xp.astype(xp.permute_dims(pairs[:, :, 0], (1, 0)), queries.dtype)
    ids = xp.astype(xp.permute_dims(pairs[:, :, 1], (1, 0)), xp.int64)
    return d, ids
