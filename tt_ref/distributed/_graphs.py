"""The Dask task graphs of a sharded index: add, remove, search (specs/distributed.md §Add, §Search).

Every function here submits tasks through a ``distributed.Client`` and returns futures
or gathered results; the work inside the tasks is :mod:`._plan` and :mod:`._shard`. The
index (:mod:`._index`) checks what comes back and only then swaps its shards.

Placement: shard ``j`` lives on worker ``j mod W`` of the workers sorted by address,
as a loose restriction (``allow_other_workers``), so shards spread evenly yet a shard
whose worker died is rebuilt elsewhere from its lineage.
"""

from __future__ import annotations

import operator

import numpy as np

from ._plan import assign_block, bucket_histogram, merge_results, plan_batch, scan_group, split_block
from . import _shard
from ._shard import empty_shard, insert_pieces, remove_ids, summarize

__all__ = ["balanced_bounds", "placement", "new_shards", "block_starts", "assign_graph", "histogram", "add_graph",
           "remove_graph", "present_ids", "gather_ids", "summaries", "shard_groups", "search_graph"]


def balanced_bounds(histogram: np.ndarray, n_shards: int) -> tuple[int, ...]:
    """``S + 1`` bucket boundaries cutting ``histogram`` (vectors per bucket) into contiguous,
    non-empty ranges of about equal vector counts.

    Examples
    --------
    >>> balanced_bounds(np.array([5, 0, 0, 5, 1, 1, 1, 1]), 2)
    (0, 3, 8)
    >>> balanced_bounds(np.zeros(4, dtype=np.int64), 2)
    (0, 2, 4)
    """
    n_buckets = int(histogram.shape[0])
    total = int(histogram.sum())
    cum = np.cumsum(histogram)
    bounds = [0]
    for j in range(1, n_shards):
        if total:  # the cut whose left part is nearest the target count
            target = j * total / n_shards
            idx = int(np.searchsorted(cum, target, side="left"))
            below = cum[idx - 1] if idx > 0 else 0
            cut = idx if idx < n_buckets and target - below <= cum[idx] - target else idx + 1
        else:
            cut = (j * n_buckets) // n_shards
        cut = min(max(cut, bounds[-1] + 1), n_buckets - (n_shards - j))
        bounds.append(cut)
    bounds.append(n_buckets)
    return tuple(bounds)


def placement(workers, j: int) -> dict:
    """``submit`` keywords placing shard ``j``'s task on worker ``j mod W`` (loosely)."""
    return {"workers": [workers[j % len(workers)]], "allow_other_workers": True, "pure": False}


def new_shards(client, workers, ranges, *, dim: int, dtype: str, backend: str) -> list:
    """Futures of empty shards, one per ``(lo, hi)`` in ``ranges``, spread over ``workers``."""
    return [client.submit(empty_shard, j, lo, hi, dim=dim, dtype=dtype, backend=backend, **placement(workers, j))
            for j, (lo, hi) in enumerate(ranges)]


def block_starts(chunks) -> list[int]:
    """First row of every row block (``chunks``: the block lengths)."""
    return [0] + list(np.cumsum(chunks[:-1]).tolist()) if chunks else []


def assign_graph(client, X, router_future, *, first_id: int, ids):
    """Futures of the assigned blocks of the Dask array ``X`` (rows numbered from ``first_id`` or by ``ids``)."""
    blocks = client.compute(list(X.to_delayed().ravel()))
    starts = block_starts(X.chunks[0])
    assigned = []
    for block, start, size in zip(blocks, starts, X.chunks[0]):
        block_ids = None if ids is None else ids[start:start + size]
        assigned.append(client.submit(assign_block, router_future, block, first_id + start, block_ids, pure=False))
    return assigned


def histogram(client, assigned, n_buckets: int) -> np.ndarray:
    """Vectors per bucket over all assigned blocks (host; small)."""
    parts = client.gather([client.submit(bucket_histogram, a, n_buckets, pure=False) for a in assigned])
    return np.sum(parts, axis=0) if parts else np.zeros(n_buckets, dtype=np.int64)


def add_graph(client, workers, shards, assigned, starts, *, bounds, layout: str, first_row: int) -> list:
    """Futures of the new shards: each block split into one piece per shard, each shard's
    pieces merged (in block order) into a copy of the shard."""
    n_shards = len(shards)
    pieces = [[] for _ in range(n_shards)]
    for block, start in zip(assigned, starts):
        split = client.submit(split_block, block, bounds, layout, n_shards, first_row + start, pure=False)
        for j in range(n_shards):
            pieces[j].append(client.submit(operator.getitem, split, j, pure=False))
    return [client.submit(insert_pieces, shard, *pieces[j], **placement(workers, j)) for j, shard in enumerate(shards)]


def remove_graph(client, workers, shards, sorted_ids) -> list:
    """Futures of the shards without ``sorted_ids`` (sent once, to every shard)."""
    ids_future = client.submit(_same, sorted_ids, pure=False)
    return [client.submit(remove_ids, shard, ids_future, **placement(workers, j)) for j, shard in enumerate(shards)]


def present_ids(client, shards, sorted_ids) -> np.ndarray:
    """Which of the sorted host ids ``sorted_ids`` the shards hold (host int64)."""
    if not shards or sorted_ids.size == 0:
        return np.zeros(0, dtype=np.int64)
    return np.concatenate(client.gather([client.submit(_shard.present_ids, s, sorted_ids, pure=False)
                                         for s in shards]))


def gather_ids(client, shards) -> np.ndarray:
    """Every id the shards hold (host int64)."""
    parts = client.gather([client.submit(_shard.shard_ids, s, pure=False) for s in shards])
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def summaries(client, shards) -> list:
    """The :class:`~._shard.ShardSummary` of every shard (gathered)."""
    return client.gather([client.submit(summarize, s, pure=False) for s in shards])


def shard_groups(client, shards, workers) -> list[tuple[str, list[int]]]:
    """The shards grouped by the worker that holds them now (placement order where unknown)."""
    where = client.who_has(shards)
    groups: dict[str, list[int]] = {}
    for j, shard in enumerate(shards):
        holders = sorted(where.get(shard.key, ()))
        groups.setdefault(holders[0] if holders else workers[j % len(workers)], []).append(j)
    return sorted(groups.items())


def search_graph(client, state_future, shards, Q, k: int, *, batch: int, beam: int, n_probe, n_candidates,
                 scan: str, layout: str, backend: str, dtype: str):
    """Every query batch through the cluster: one beam task (on any worker), and per worker
    holding shards one task fetching that worker's part of the plan and one scanning its
    shards; the client merges the workers' top-k lists. All batches are submitted at once
    (the scheduler overlaps them). Returns ``(distances, ids, candidates)`` per batch."""
    groups = shard_groups(client, shards, sorted(client.scheduler_info(n_workers=-1)["workers"]))
    members = [group for _, group in groups]
    pending = []
    for start in range(0, Q.shape[0], batch):
        q = Q[start:start + batch, :]
        plan = client.submit(plan_batch, state_future, q, beam=beam, n_probe=n_probe, n_candidates=n_candidates,
                             groups=members, pure=False)
        parts = []
        for g, (worker, group) in enumerate(groups):
            works = client.submit(_work_of, plan, g, pure=False)
            parts.append(client.submit(scan_group, works, k, scan, layout, q.shape[0], *(shards[j] for j in group),
                                       workers=[worker], allow_other_workers=True, pure=False))
        pending.append((q.shape[0], parts))
    gathered = client.gather([parts for _, parts in pending])
    return [merge_results(n_q, k, backend, dtype, *parts) for (n_q, _), parts in zip(pending, gathered)]


def _work_of(works, j: int):
    return works[j]


def _same(value):
    return value
