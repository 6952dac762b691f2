"""What the client knows of a sharded index's shards, and the check before a change is
committed (specs/distributed.md §Faults).

A :class:`Ledger` holds the count, the bucket sizes (all shards, and per shard), the id
checksums and the next running id. It is immutable: a change computes the ledger it
expects, and :meth:`Ledger.after` builds the new one from the new shards' summaries only
if they add up to it.
"""

from __future__ import annotations

import numpy as np

from .._backend import ArgumentTypeError, ArgumentValueError, from_numpy, to_numpy
from ..search._beam import BeamTables
from ..search._lists import MAX_ID
from ._errors import ShardedIndexError
from ._plan import BucketCounts, SearchState
from ._shard import id_checksums, range_checksums

__all__ = ["Ledger", "host_ids"]

_MASK64 = (1 << 64) - 1


class Ledger:
    """Count, bucket sizes (host int64), id checksums and next running id of a sharded index."""

    __slots__ = ("ntotal", "next_id", "checksums", "sizes", "shard_sizes")

    def __init__(self, ntotal: int = 0, next_id: int = 0, checksums=(0, 0), sizes=None, shard_sizes=None):
        self.ntotal, self.next_id, self.checksums = ntotal, next_id, tuple(checksums)
        self.sizes, self.shard_sizes = sizes, shard_sizes

    def expect_add(self, ids, n: int):
        """``(first running id, host ids or None, expected (count, sum, sum of squares))`` of adding ``n`` rows.

        Explicit ids are checked here for shape, sign and repeats; whether the shards hold
        them already is the caller's check (it asks the shards).
        """
        if ids is None:
            if self.next_id + n - 1 > MAX_ID:
                raise ArgumentValueError(f"cannot number {n} new vectors: running ids would pass 2**63 - 1")
            return self.next_id, None, self._plus(n, range_checksums(self.next_id, n))
        ids = host_ids(ids, name="ids")
        if ids.shape[0] != n:
            raise ArgumentValueError(f"ids must hold one id per row of X ({n}), got {ids.shape[0]}")
        if n and int(ids.min()) < 0:
            raise ArgumentValueError(f"ids must be non-negative (-1 marks missing results), got {int(ids.min())}")
        if np.unique(ids).shape[0] != n:
            raise ArgumentValueError("ids must be unique and not already in the index")
        return self.next_id, ids, self._plus(n, id_checksums(ids))

    def expect_remove(self, present: np.ndarray) -> tuple:
        """The expected ``(count, sum, sum of squares)`` once the ids ``present`` are removed."""
        gone = id_checksums(present)
        return (self.ntotal - present.size, *((a - b) & _MASK64 for a, b in zip(self.checksums, gone)))

    def _plus(self, n: int, added) -> tuple:
        return (self.ntotal + n, *((a + b) & _MASK64 for a, b in zip(self.checksums, added)))

    def after(self, summaries, n_buckets: int, expected) -> "Ledger":
        """The ledger of shards with these summaries; :class:`ShardedIndexError` unless they add up to ``expected``."""
        total = sum(s.ntotal for s in summaries)
        sums = tuple(sum(getattr(s, f) for s in summaries) & _MASK64 for f in ("id_sum", "id_sq_sum"))
        if expected is not None and (total, *sums) != tuple(expected):
            raise ShardedIndexError(
                f"the new shards hold {total} vectors (id checksums {sums}) where {expected[0]} (checksums "
                f"{tuple(expected[1:])}) were expected: a vector was lost or duplicated; the index is unchanged "
                f"({self.ntotal} vectors)")
        sizes = np.zeros(n_buckets, dtype=np.int64)
        shard_sizes = np.zeros((len(summaries), n_buckets), dtype=np.int64)
        for j, s in enumerate(summaries):
            shard_sizes[j, s.lo:s.hi] = s.bucket_sizes
            sizes[s.lo:s.hi] += s.bucket_sizes
        next_id = max([self.next_id] + [s.max_id + 1 for s in summaries])
        return Ledger(total, next_id, sums, sizes, shard_sizes)

    def with_next_id(self, next_id: int) -> "Ledger":
        """The same ledger with ``next_id`` raised to at least ``next_id``."""
        return Ledger(self.ntotal, max(self.next_id, next_id), self.checksums, self.sizes, self.shard_sizes)

    def search_state(self, cloud, layout: str, bounds) -> SearchState:
        """The beam task's state: tables with the empty leaves at ``inf``, the global counts."""
        xp = cloud.xp
        tables = BeamTables.from_cloud(cloud).with_empty_leaves(from_numpy(self.sizes > 0, xp), xp)
        counts = BucketCounts(from_numpy(self.sizes, xp), self.ntotal, max(1, int(np.sum(self.sizes > 0))))
        shard_sizes = from_numpy(self.shard_sizes, xp) if layout == "rows" else None
        return SearchState(tables, counts, layout, bounds, shard_sizes)


def host_ids(ids, *, name: str) -> np.ndarray:
    """``ids`` as a host 1-D int64 array (lists, NumPy, CuPy or Dask arrays)."""
    if hasattr(ids, "compute") and hasattr(ids, "chunks"):
        ids = ids.compute()
    if isinstance(ids, (list, tuple, range)):
        ids = np.asarray(list(ids))
    try:
        ids = np.asarray(to_numpy(ids))
    except TypeError as exc:
        raise ArgumentTypeError(f"{name} must be an integer array, got {type(ids).__name__}") from exc
    if ids.ndim != 1 or ids.size and ids.dtype.kind not in "iu":
        raise ArgumentTypeError(f"{name} must be a 1-D integer array, got dtype {ids.dtype} and shape {ids.shape}")
    if ids.dtype.kind == "u" and ids.size and int(ids.max()) > MAX_ID:
        raise ArgumentValueError(f"{name} must be at most 2**63 - 1 (ids are int64)")
    return ids.astype(np.int64)
