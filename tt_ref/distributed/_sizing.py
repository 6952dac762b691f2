"""A sizing model of a sharded TT index: memory per shard, bytes per query batch, expected QPS
(specs/distributed.md §Sizing; docs/guide-scale-out.md applies it to 10^9 vectors).

Counts, per stored vector: its row ``[x, ||x||^2]`` (``D + 1`` numbers), its int64 id,
and the sorted ids with their storage order that a shard builds at its first search
(16 bytes); per shard: the ``P / S + 1`` int64 offsets; an insert holds the old and the
merged shard at once (twice the shard). A query batch sends each shard it touches the
queries (``D`` numbers) and, per probed bucket, three int64 (bucket, count, rank), and
gets back ``k`` results of 28 bytes (float32 distance, id, two tie keys). Time: the
measured seconds per distance computation of the in-memory index (candidates plus centre
distances, as ``last_search_stats`` counts them), spread over the workers, plus a fixed
cost per shard visited and the measured per-batch overhead.
"""

from __future__ import annotations

import math

from .._backend import check_int, check_real

__all__ = ["sizing_model", "centres_per_query"]

_RESULT_BYTES = 4 + 8 + 8 + 8
_ENTRY_BYTES = 3 * 8


def centres_per_query(mode_sizes, beam: int) -> int:
    """Centre distances the beam evaluates per query (as ``beam_search`` counts them).

    Examples
    --------
    >>> centres_per_query((4096, 128, 80), 64)
    17408
    """
    n_centres, width = mode_sizes[0], min(beam, mode_sizes[0])
    for n_m in mode_sizes[1:]:
        n_centres += width * n_m
        width = min(beam, width * n_m)
    return n_centres


def sizing_model(n_vectors: int, dim: int, *, n_shards: int, n_buckets: int, n_candidates: int, centres: int,
                 seconds_per_distance: float, n_workers: int, itemsize: int = 4, k: int = 10, batch: int = 1000,
                 shards_per_query: float | None = None, buckets_per_query: float | None = None,
                 scheduler_seconds_per_batch: float = 0.0, seconds_per_shard: float = 0.0) -> dict:
    """Memory, traffic and throughput of a sharded index (the module docstring says what is counted).

    Parameters
    ----------
    n_vectors, dim : int
        Vectors stored and their dimension.
    n_shards, n_buckets : int
        Shards ``S`` and leaf buckets ``P``.
    n_candidates, centres : int
        Vectors re-ranked and the beam's work per query, in distances (the search's
        ``distance_computations_per_query`` less its candidates).
    seconds_per_distance : float
        Measured in memory, one thread (search seconds / distance computations).
    n_workers : int
        Worker processes of one thread each.
    itemsize, k, batch : int
        Bytes per number, neighbours per query, queries per batch.
    shards_per_query : float, optional
        Shards one query touches (measured; default ``min(S, probed buckets)``, the bound).
    buckets_per_query : float, optional
        (bucket, count, rank) entries one query sends: the buckets it probes (``n_probe``, or
        measured; times the shards with layout ``"rows"``); default ``n_candidates / (N / P)
        + 1`` (buckets of the mean size).
    scheduler_seconds_per_batch : float
        Time a batch spends outside the scans and the beam (scheduling, transfers; the
        measured per-batch overhead), added to each batch without overlap: the QPS is
        then a lower bound.
    seconds_per_shard : float
        Fixed cost of one shard's scan task part per batch, whatever its work (measured
        about 13 ms on the 2-core machine of docs/results-scale-out.md); each worker pays
        it for every shard it holds that the batch touches.

    Returns
    -------
    dict
        ``bytes_per_vector``, ``shard_bytes``, ``insert_peak_bytes``, ``state_bytes`` (the
        search state each planning worker receives once per change), ``buckets_per_query``,
        ``bytes_per_batch``, ``seconds_per_query`` (one core), ``qps``.

    Examples
    --------
    >>> m = sizing_model(10**9, 96, n_shards=64, n_buckets=4096 * 128 * 80, n_candidates=8000, centres=17408,
    ...                  seconds_per_distance=80e-9, n_workers=64)
    >>> round(m["shard_bytes"] / 2**30, 2), round(m["qps"])
    (6.0, 31486)
    """
    n_vectors = check_int(n_vectors, name="n_vectors", minimum=0)
    dim = check_int(dim, name="dim", minimum=1)
    n_shards = check_int(n_shards, name="n_shards", minimum=1)
    n_buckets = check_int(n_buckets, name="n_buckets", minimum=1)
    seconds = check_real(seconds_per_distance, name="seconds_per_distance", minimum=0.0)
    n_workers = check_int(n_workers, name="n_workers", minimum=1)
    per_vector = (dim + 1) * itemsize + 8 + 16
    shard = math.ceil(n_vectors / n_shards) * per_vector + (math.ceil(n_buckets / n_shards) + 1) * 8
    per_bucket = max(n_vectors / n_buckets, 1e-12)
    buckets = n_candidates / per_bucket + 1 if buckets_per_query is None else buckets_per_query
    touched = min(n_shards, buckets) if shards_per_query is None else shards_per_query
    out = batch * (touched * (dim * itemsize + 8) + buckets * _ENTRY_BYTES)
    back = batch * touched * k * _RESULT_BYTES
    per_query = (n_candidates + centres) * seconds
    visits = min(n_shards, batch * touched) / n_workers
    batch_seconds = (batch * per_query / n_workers
                     + visits * check_real(seconds_per_shard, name="seconds_per_shard", minimum=0.0)
                     + check_real(scheduler_seconds_per_batch, name="scheduler_seconds_per_batch", minimum=0.0))
    qps = batch / batch_seconds if batch_seconds > 0 else math.inf
    return {"bytes_per_vector": per_vector, "shard_bytes": shard, "insert_peak_bytes": 2 * shard,
            "state_bytes": n_buckets * (itemsize + 8), "buckets_per_query": buckets,
            "shards_per_query": touched, "bytes_per_batch": out + back, "seconds_per_query": per_query, "qps": qps}
