"""Exact nearest neighbours by chunked GEMM: the one brute-force search in tt_ref.

Used for ground truth (ANN evaluation), coverage / inverse errors (point clouds),
memory-bank scores (OOD) and exact bucket assignment (index). Memory stays
``O(chunk_size * n_base)`` whatever the number of queries.
"""

from __future__ import annotations

from ._kernels import topk_smallest
from ._namespace import array_namespace, work_elements
from ._validation import as_point_sets

__all__ = ["squared_distances", "nearest_neighbors"]


def squared_distances(queries, base, *, xp=None, base_sq_norms=None):
    """``||q_i - b_j||^2`` for all pairs, as a ``(n_queries, n_base)`` array.

    Computed as ``||q||^2 - 2 q.b + ||b||^2`` (one GEMM) and clipped at 0, so it is
    accurate to about ``eps * (||q||^2 + ||b||^2)``.
    """
    if xp is None:
        xp = array_namespace(queries, base, names=("queries", "base"))
    if base_sq_norms is None:
        base_sq_norms = xp.sum(base * base, axis=1)
    q_sq = xp.sum(queries * queries, axis=1)
    d2 = q_sq[:, None] - 2.0 * (queries @ xp.matrix_transpose(base)) + base_sq_norms[None, :]
    return xp.clip(d2, 0.0, None)


def nearest_neighbors(queries, base, k: int = 1, *, chunk_size: int | None = None, check_values: bool = True):
    """The ``k`` nearest rows of ``base`` to each row of ``queries`` (squared L2).

    Parameters
    ----------
    queries : array, shape (n_queries, D)
    base : array, shape (n_base, D)
    k : int
        Number of neighbours, ``1 <= k <= n_base``.
    chunk_size : int, optional
        Queries per GEMM; by default chosen so a chunk of distances holds about 2**24
        entries (more on a GPU: :func:`tt_ref._backend.work_elements`).

    Returns
    -------
    sq_distances : array, shape (n_queries, k)
        Squared distances, ascending along each row.
    ids : array of int64, shape (n_queries, k)
        Row indices into ``base``; ties go to the smaller index.

    Examples
    --------
    >>> import numpy as np
    >>> from tt_ref._backend._neighbors import nearest_neighbors
    >>> d2, ids = nearest_neighbors(np.array([[0.0, 0.0]]), np.array([[3.0, 4.0], [1.0, 0.0]]), k=2)
    >>> d2.tolist(), ids.tolist()
    ([[1.0, 25.0]], [[1, 0]])
    """
    queries, base, xp = as_point_sets(queries, base, names=("queries", "base"), check_values=check_values,
                                      allow_empty=(True, True))
    n_base = base.shape[0]
    if n_base == 0:
        raise ValueError("base is empty: no neighbours to search")
    if not isinstance(k, int) or not 1 <= k <= n_base:
        raise ValueError(f"k must be an integer in [1, {n_base}] (the size of base), got {k!r}")
    if chunk_size is None:
        chunk_size = max(1, work_elements(xp, 1 << 24) // n_base)
    base_sq = xp.sum(base * base, axis=1)
    out_d, out_i = [], []
    n_queries = queries.shape[0]
    for start in range(0, n_queries, chunk_size):
        stop = min(start + chunk_size, n_queries)
        d2 = squared_distances(queries[start:stop, :], base, xp=xp, base_sq_norms=base_sq)
        vals, ids = topk_smallest(d2, k, xp=xp)
        out_d.append(vals)
        out_i.append(ids)
    if not out_d:
        return xp.zeros((0, k), dtype=base.dtype), xp.zeros((0, k), dtype=xp.int64)
    return xp.concat(out_d, axis=0), xp.concat(out_i, axis=0)
