"""Evaluation of approximate nearest-neighbour search (specs/index.md §Evaluation).

Ground truth comes from the one exact search in tt_ref (:func:`tt_ref.search.nearest_neighbors`,
chunked GEMM). The measures are those of specs/method.md §5: recall@k (id overlap with
the exact top k), 1-recall@R (the true nearest neighbour among the first R results),
distance computations per query and queries per second. Result ids are small, so the
scores are computed on the host whatever the backend.
"""

from __future__ import annotations

import time
from typing import Callable, Sequence

import numpy as np

from .._backend import ArgumentTypeError, ArgumentValueError, array_namespace, check_int, synchronize, to_numpy
from .._backend._neighbors import nearest_neighbors

__all__ = [
    "ONE_RECALL_AT",
    "ground_truth",
    "recall_at_k",
    "one_recall_at",
    "one_recall_curve",
    "measure_qps",
    "pareto_front",
]

#: The R values of the 1-recall@R curve (specs/method.md §5).
ONE_RECALL_AT = (1, 10, 100, 1000)


def _as_id_matrix(ids, name: str) -> np.ndarray:
    ids = np.asarray(to_numpy(ids))
    if ids.ndim == 1:
        ids = ids[:, None]
    if ids.ndim != 2:
        raise ArgumentValueError(f"{name} must be a 2-D array (n_queries, k), got shape {ids.shape}")
    if not np.issubdtype(ids.dtype, np.integer):
        raise ArgumentTypeError(f"{name} must hold integer ids, got dtype {ids.dtype}")
    return ids.astype(np.int64, copy=False)


def ground_truth(base, queries, k: int, *, chunk_size: int | None = None):
    """Exact ``k`` nearest rows of ``base`` for each query: ``(sq_distances, ids)``.

    A thin wrapper over :func:`tt_ref.search.nearest_neighbors` (chunked GEMM, ties
    to the smaller id); results stay on the inputs' backend.

    Examples
    --------
    >>> import numpy as np
    >>> d2, ids = ground_truth(np.eye(3), np.array([[0.9, 0.0, 0.1]]), 2)
    >>> ids.tolist()
    [[0, 2]]
    """
    return nearest_neighbors(queries, base, k, chunk_size=chunk_size)


def recall_at_k(found_ids, true_ids, k: int | None = None) -> float:
    """Mean over queries of ``|found[:, :k] & true[:, :k]| / k`` (recall@k, id overlap).

    ``-1`` entries (missing results) never match.

    Examples
    --------
    >>> import numpy as np
    >>> recall_at_k(np.array([[1, 2], [3, -1]]), np.array([[2, 1], [3, 4]]))
    0.75
    """
    found = _as_id_matrix(found_ids, "found_ids")
    true = _as_id_matrix(true_ids, "true_ids")
    if found.shape[0] != true.shape[0]:
        raise ArgumentValueError(f"found_ids has {found.shape[0]} queries but true_ids has {true.shape[0]}")
    if k is None:
        k = true.shape[1]
    # The columns of both id arrays bound k.
    k = check_int(k, name="k", minimum=1, maximum=min(found.shape[1], true.shape[1]))
    if found.shape[0] == 0:
        return 0.0
    f = found[:, :k]
    t = true[:, :k]
    # Ids are unique within a row, so counting pairwise equalities counts the overlap.
    hits = (f[:, :, None] == t[:, None, :]) & (f[:, :, None] >= 0)
    return float(hits.sum() / (found.shape[0] * k))


def one_recall_at(found_ids, true_ids, R: int) -> float:
    """Fraction of queries whose true nearest neighbour is among the first ``R`` results.

    ``true_ids`` is ``(n_queries,)`` or ``(n_queries, k)`` (its first column is used).

    Examples
    --------
    >>> import numpy as np
    >>> one_recall_at(np.array([[5, 7], [1, 2]]), np.array([7, 9]), 2)
    0.5
    """
    found = _as_id_matrix(found_ids, "found_ids")
    true = _as_id_matrix(true_ids, "true_ids")[:, 0]
    if found.shape[0] != true.shape[0]:
        raise ArgumentValueError(f"found_ids has {found.shape[0]} queries but true_ids has {true.shape[0]}")
    R = check_int(R, name="R", minimum=1, maximum=found.shape[1])
    if found.shape[0] == 0:
        return 0.0
    return float(np.mean(np.any(found[:, :R] == true[:, None], axis=1)))


def one_recall_curve(found_ids, true_ids, Rs: Sequence[int] = ONE_RECALL_AT) -> dict[int, float]:
    """``{R: one_recall_at(found, true, R)}`` for the ``R`` not above ``found``'s columns."""
    found = _as_id_matrix(found_ids, "found_ids")
    return {int(R): one_recall_at(found, true_ids, int(R)) for R in Rs if R <= found.shape[1]}


def measure_qps(search: Callable[[], object], n_queries: int, *, repeat: int = 1, xp=None) -> tuple[float, float]:
    """Queries per second of ``search()`` (best of ``repeat`` runs) and its seconds.

    ``xp`` (optional) is synchronised after each run so GPU timings count the work.

    Examples
    --------
    >>> qps, seconds = measure_qps(lambda: sum(range(1000)), 10)
    >>> qps > 0 and seconds > 0
    True
    """
    n_queries = check_int(n_queries, name="n_queries", minimum=1)
    repeat = check_int(repeat, name="repeat", minimum=1)
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        result = search()
        if xp is None and result is not None:
            try:
                first = result[0] if isinstance(result, tuple) else result
                xp_sync = array_namespace(first)
            except (TypeError, IndexError):
                xp_sync = None
        else:
            xp_sync = xp
        if xp_sync is not None:
            synchronize(xp_sync)
        best = min(best, time.perf_counter() - start)
    best = max(best, 1e-12)
    return n_queries / best, best


def pareto_front(recalls: Sequence[float], qps: Sequence[float]) -> np.ndarray:
    """Boolean mask of the points no other point beats in both recall and QPS.

    Examples
    --------
    >>> pareto_front([0.5, 0.9, 0.8], [100.0, 50.0, 40.0]).tolist()
    [True, True, False]
    """
    r = np.asarray(recalls, dtype=np.float64)
    q = np.asarray(qps, dtype=np.float64)
    if r.shape != q.shape or r.ndim != 1:
        raise ArgumentValueError(f"recalls and qps must be 1-D of one length, got {r.shape} and {q.shape}")
    ok = np.isfinite(r) & np.isfinite(q)
    front = np.zeros(r.shape, dtype=bool)
    for i in np.nonzero(ok)[0]:
        dominated = ok & (r >= r[i]) & (q >= q[i]) & ((r > r[i]) | (q > q[i]))
        front[i] = not dominated.any()
    return front
