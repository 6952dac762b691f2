"""One shard of a sharded TT index and the pure functions the workers run on it
(specs/distributed.md §Shards).

A shard is the CSR inverted lists (:class:`tt_ref.search._lists.InvertedLists`) of the
leaf buckets ``lo .. hi - 1`` (layout ``"buckets"``) or of a share of the rows of every
bucket (layout ``"rows"``, ``lo = 0``, ``hi = P``). Shards are values: every change
(:func:`insert_pieces`, :func:`remove_ids`) returns a new shard and leaves its input as it
was, so Dask can recompute a shard lost with a worker from its lineage, and an index
swaps old shards for new ones only once every new one exists.
"""

from __future__ import annotations

import copy

import numpy as np

from .._backend import array_namespace, backend_name, namespace_for, to_numpy
from ..search._lists import InvertedLists

__all__ = ["Shard", "ShardSummary", "empty_shard", "insert_pieces", "remove_ids", "summarize", "present_ids",
           "shard_ids", "shard_nbytes", "id_checksums", "range_checksums"]

_MASK64 = (1 << 64) - 1


class Shard:
    """The inverted lists of shard ``number``: local buckets ``0 .. hi - lo - 1`` are leaves ``lo .. hi - 1``.

    Examples
    --------
    >>> import numpy as np
    >>> shard = empty_shard(0, 4, 8, dim=2, dtype="float64", backend="numpy")
    >>> piece = (np.ones((3, 2)), np.array([5, 6, 7]), np.array([0, 3, 0]))
    >>> grown = insert_pieces(shard, piece)
    >>> grown.lists.ids.tolist(), shard.lists.ntotal, summarize(grown).bucket_sizes.tolist()
    ([5, 7, 6], 0, [2, 0, 0, 1])
    """

    __slots__ = ("number", "lo", "hi", "lists", "_id_order")

    def __init__(self, number: int, lo: int, hi: int, lists: InvertedLists):
        self.number, self.lo, self.hi, self.lists = number, lo, hi, lists
        self._id_order = None

    def __reduce__(self):
        return (Shard, (self.number, self.lo, self.hi, self.lists))

    def __repr__(self) -> str:
        return f"Shard(number={self.number}, buckets={self.lo}..{self.hi - 1}, ntotal={self.lists.ntotal})"

    def rows_of_ids(self, ids):
        """Storage rows of ``ids`` (all held by the shard): a sorted search, the order made once per shard."""
        lists = self.lists
        xp = lists.xp
        if self._id_order is None:
            order = xp.argsort(lists.ids)
            self._id_order = (xp.take(lists.ids, order), order)
        sorted_ids, order = self._id_order
        pos = xp.clip(xp.searchsorted(sorted_ids, ids), 0, max(lists.ntotal - 1, 0))
        return xp.take(order, pos)


class ShardSummary:
    """What the driver checks of a shard: counts, bucket sizes (NumPy) and id checksums."""

    __slots__ = ("number", "lo", "hi", "ntotal", "bucket_sizes", "id_sum", "id_sq_sum", "max_id")

    def __init__(self, number, lo, hi, ntotal, bucket_sizes, id_sum, id_sq_sum, max_id):
        self.number, self.lo, self.hi, self.ntotal = number, lo, hi, ntotal
        self.bucket_sizes, self.id_sum, self.id_sq_sum, self.max_id = bucket_sizes, id_sum, id_sq_sum, max_id

    def __reduce__(self):
        return (ShardSummary, tuple(getattr(self, name) for name in self.__slots__))


def empty_shard(number: int, lo: int, hi: int, *, dim: int, dtype: str, backend: str) -> Shard:
    """A shard with no vectors for buckets ``lo .. hi - 1`` (``dtype`` a name such as ``"float32"``)."""
    xp = namespace_for(backend)
    return Shard(number, lo, hi, InvertedLists(hi - lo, dim, getattr(xp, dtype), xp=xp))


def insert_pieces(shard: Shard, *pieces) -> Shard:
    """A new shard holding ``shard``'s vectors and the ``pieces`` (each ``(vectors, ids, local buckets)``).

    The pieces are merged in the order given (the blocks' order), so inside a bucket the
    vectors keep the order of the rows they came from, as one index's ``add`` keeps them.
    """
    pieces = [p for p in pieces if p is not None and p[1].shape[0]]
    new = Shard(shard.number, shard.lo, shard.hi, copy.copy(shard.lists))
    if not pieces:
        return new
    xp = new.lists.xp
    vectors = xp.concat([p[0] for p in pieces], axis=0)
    ids = xp.concat([p[1] for p in pieces])
    buckets = xp.concat([p[2] for p in pieces])
    new.lists.insert(vectors, ids, buckets)  # builds new arrays: the old shard's stay as they were
    return new


def remove_ids(shard: Shard, sorted_ids) -> Shard:
    """A new shard without the vectors whose id is in the sorted 1-D ``sorted_ids``."""
    new = Shard(shard.number, shard.lo, shard.hi, copy.copy(shard.lists))
    xp = new.lists.xp
    new.lists.remove(_move(sorted_ids, xp))
    return new


def present_ids(shard: Shard, sorted_ids) -> np.ndarray:
    """The ids of the sorted host array ``sorted_ids`` that the shard holds (host int64)."""
    xp = shard.lists.xp
    found = shard.lists.contains(_move(sorted_ids, xp))
    return np.sort(to_numpy(xp.take(shard.lists.ids, xp.nonzero(found)[0])).astype(np.int64))


def shard_ids(shard: Shard) -> np.ndarray:
    """Every id the shard holds, in storage order (host int64)."""
    return to_numpy(shard.lists.ids).astype(np.int64)


def summarize(shard: Shard) -> ShardSummary:
    """The shard's :class:`ShardSummary` (one host read of its ids and bucket sizes)."""
    lists = shard.lists
    ids = to_numpy(lists.ids)
    id_sum, id_sq_sum = id_checksums(ids)
    sizes = to_numpy(lists.bucket_sizes()).astype(np.int64)
    max_id = int(ids.max()) if ids.size else -1
    return ShardSummary(shard.number, shard.lo, shard.hi, lists.ntotal, sizes, id_sum, id_sq_sum, max_id)


def shard_nbytes(shard: Shard) -> int:
    """Bytes the shard holds: its rows, ids and offsets, and the id lookup once a search built it."""
    lists = shard.lists
    arrays = [lists.vectors, lists.sq_norms, lists.ids, lists.offsets] + list(shard._id_order or ())
    return int(sum(a.size * a.dtype.itemsize if hasattr(a.dtype, "itemsize") else to_numpy(a).nbytes
                   for a in arrays))


def id_checksums(ids) -> tuple[int, int]:
    """``(sum of ids, sum of squared ids)`` modulo ``2**64`` (host NumPy ids).

    Count, sum and sum of squares together tell a lost or a duplicated vector from a
    complete set (a loss and a duplicate that cancel in both sums at once would have to
    be chosen on purpose).
    """
    ids = np.asarray(ids).astype(np.uint64, copy=False)
    return int(np.sum(ids, dtype=np.uint64)), int(np.sum(ids * ids, dtype=np.uint64))


def range_checksums(start: int, n: int) -> tuple[int, int]:
    """:func:`id_checksums` of ``start, ..., start + n - 1`` in closed form.

    Examples
    --------
    >>> range_checksums(5, 4) == id_checksums(np.arange(5, 9))
    True
    """
    stop = start + n
    total = (stop * (stop - 1) - start * (start - 1)) // 2
    squares = ((stop - 1) * stop * (2 * stop - 1) - (start - 1) * start * (2 * start - 1)) // 6
    return total & _MASK64, squares & _MASK64


def _move(values, xp):
    if backend_name(array_namespace(values)) == backend_name(xp):
        return values
    return xp.asarray(np.asarray(to_numpy(values)))
