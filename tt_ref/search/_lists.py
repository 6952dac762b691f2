"""Inverted lists of the TT index in CSR layout (specs/index.md §Index layout).

The stored vectors, their ids and squared norms are sorted by bucket (stably, so
insertion order inside a bucket), and ``offsets`` (``P + 1`` entries) says where each
bucket starts: bucket ``b`` holds storage rows ``offsets[b] : offsets[b + 1]``. Each row
is stored as ``[x, ||x||^2]`` (``D + 1`` numbers; ``vectors`` is a view) and the lists
scan multiplies ``[-2 q, 1]`` against whole rows, norms included; the norms are also
kept contiguous (``sq_norms``: gathered by the other scan, a contiguous copy stays in
cache). Like
faiss's ``InvertedLists``, this part knows nothing about how buckets are chosen or
searched.
"""

from __future__ import annotations

import math

import numpy as np

from .._backend import (
    ArgumentTypeError,
    ArgumentValueError,
    array_namespace,
    backend_name,
    from_numpy,
    namespace_for,
    to_ints,
    to_numpy,
)

__all__ = ["InvertedLists", "MAX_ID", "isin_sorted", "bucket_stats"]

#: Largest id an index can hold (ids are int64; -1 marks a missing result).
MAX_ID = 2**63 - 1


class InvertedLists:
    """CSR inverted lists: ``P`` buckets of ``D``-vectors with int64 ids.

    Parameters
    ----------
    n_buckets : int
        Number of buckets ``P``.
    dim : int
        Dimension ``D`` of the vectors.
    dtype
        Floating dtype of the stored vectors (of namespace ``xp``).
    xp
        Array namespace the lists live on.
    next_id : int
        First running id :meth:`new_ids` hands out.

    Examples
    --------
    >>> import numpy as np
    >>> from tt_ref._backend import namespace_for
    >>> lists = InvertedLists(3, 2, np.float64, xp=namespace_for("numpy"))
    >>> ids = lists.new_ids(4)
    >>> lists.insert(np.arange(8.0).reshape(4, 2), ids, np.array([2, 0, 2, 1]))
    >>> lists.offsets.tolist(), lists.ids.tolist(), lists.next_id
    ([0, 1, 2, 4], [1, 3, 0, 2], 4)
    >>> lists.remove(np.array([0, 3])), lists.bucket_sizes().tolist()
    (2, [1, 0, 1])
    """

    def __init__(self, n_buckets: int, dim: int, dtype, *, xp, next_id: int = 0):
        self.n_buckets = n_buckets
        self.dim = dim
        self._xp = xp
        self._rows = xp.zeros((0, dim + 1), dtype=dtype)
        self._sq_norms = xp.zeros((0,), dtype=dtype)
        self._ids = xp.zeros((0,), dtype=xp.int64)
        self._offsets = xp.zeros((n_buckets + 1,), dtype=xp.int64)
        self.next_id = next_id
        self.version = 0
        self._nonempty = None
        self.cache = {}  # what other parts derive from the lists (emptied on every change)

    @classmethod
    def from_arrays(cls, vectors, ids, offsets, next_id: int, *, xp) -> "InvertedLists":
        """Lists holding ``vectors`` (already sorted by bucket), ``ids`` and ``offsets``.

        The arrays are trusted: a loader checks them first (``_persist``).
        """
        lists = cls(offsets.shape[0] - 1, vectors.shape[1], vectors.dtype, xp=xp, next_id=next_id)
        lists._set_rows(_with_norms(vectors, xp))
        lists._ids = xp.astype(ids, xp.int64)
        lists._offsets = xp.astype(offsets, xp.int64)
        return lists

    def to_backend(self, backend: str) -> "InvertedLists":
        """A copy on ``backend`` (the same values, norms included)."""
        xp = namespace_for(backend)
        lists = InvertedLists(self.n_buckets, self.dim, xp.float64, xp=xp, next_id=self.next_id)
        moved = (from_numpy(to_numpy(a), xp) for a in (self._rows, self._ids, self._offsets))
        rows, lists._ids, lists._offsets = moved
        lists._set_rows(rows)
        return lists

    # ------------------------------------------------------------------ pickling
    def __getstate__(self):
        state = dict(self.__dict__)
        state["_xp"] = backend_name(self._xp)  # the name, never the module
        state["cache"] = {}  # derived, and may hold objects that do not pickle
        return state

    def __setstate__(self, state):
        state = dict(state)
        state["_xp"] = namespace_for(state["_xp"])
        self.__dict__.update(state)

    # ------------------------------------------------------------------ views
    @property
    def xp(self):
        """Array namespace of the lists."""
        return self._xp

    @property
    def dtype(self):
        """Floating dtype of the stored vectors."""
        return self._rows.dtype

    @property
    def ntotal(self) -> int:
        """Number of stored vectors."""
        return int(self._ids.shape[0])

    @property
    def rows(self):
        """``(N, D + 1)``: each stored vector followed by its squared norm."""
        return self._rows

    @property
    def vectors(self):
        """``(N, D)`` stored vectors, sorted by bucket (a view of :attr:`rows`)."""
        return self._rows[:, :self.dim]

    @property
    def sq_norms(self):
        """``(N,)`` squared norms of the stored vectors (contiguous)."""
        return self._sq_norms

    @property
    def ids(self):
        """``(N,)`` int64 ids, in storage order."""
        return self._ids

    @property
    def offsets(self):
        """``(P + 1,)`` int64: bucket ``b`` is storage rows ``offsets[b]:offsets[b + 1]``."""
        return self._offsets

    def bucket_sizes(self):
        """``(P,)`` number of vectors per bucket."""
        return self._offsets[1:] - self._offsets[:-1]

    def bucket_of_rows(self):
        """``(N,)`` bucket of each storage row."""
        xp = self._xp
        positions = xp.arange(self.ntotal, dtype=xp.int64)
        return xp.searchsorted(self._offsets, positions, side="right") - 1

    def n_nonempty(self) -> int:
        """Non-empty buckets, at least 1 (one host read per change of the lists, then cached)."""
        if self._nonempty is None:
            xp = self._xp
            self._nonempty = max(1, to_ints(xp.sum(xp.astype(self.bucket_sizes() > 0, xp.int64)))[0])
        return self._nonempty

    # ------------------------------------------------------------------ ids
    def new_ids(self, n: int):
        """``n`` running ids from ``next_id``; an error if they would pass :data:`MAX_ID`."""
        if self.next_id + n - 1 > MAX_ID:
            raise ArgumentValueError(
                f"cannot number {n} new vectors: running ids would pass 2**63 - 1 (the next free id is "
                f"{self.next_id}); pass explicit ids to add"
            )
        return self._xp.arange(self.next_id, self.next_id + n, dtype=self._xp.int64)

    def check_ids(self, ids, n: int | None = None, *, name: str = "ids"):
        """``ids`` as a 1-D int64 array on the lists' backend (lists, tuples and NumPy accepted).

        With ``n`` given, these are new ids: exactly ``n`` of them, non-negative, at most
        :data:`MAX_ID`, unique and not already stored.
        """
        xp = self._xp
        ids = _as_id_array(ids, xp, name)
        if n is None or ids.shape[0] == 0 and n == 0:
            return xp.astype(ids, xp.int64)
        if ids.shape[0] != n:
            raise ArgumentValueError(f"{name} must hold one id per row of X ({n}), got {ids.shape[0]}")
        if ids.dtype == xp.uint64 and n and bool(xp.max(ids) > MAX_ID):
            raise ArgumentValueError(f"{name} must be at most 2**63 - 1 (ids are int64)")
        (low,) = to_ints(xp.min(ids)) if n else (0,)
        if low < 0:
            raise ArgumentValueError(f"{name} must be non-negative (-1 marks missing results), got {low}")
        ids = xp.astype(ids, xp.int64)
        merged = xp.concat([self._ids, ids])
        if xp.unique_values(merged).shape[0] != merged.shape[0]:
            raise ArgumentValueError(f"{name} must be unique and not already in the index")
        return ids

    def contains(self, sorted_ids):
        """``(N,)`` mask: which stored rows have an id in the sorted 1-D ``sorted_ids``."""
        return isin_sorted(self._ids, sorted_ids, xp=self._xp)

    # ------------------------------------------------------------------ changes
    def insert(self, vectors, ids, buckets) -> None:
        """Merge ``vectors`` with ``ids`` into ``buckets`` (checked by the caller)."""
        xp = self._xp
        if ids.shape[0] == 0:
            return
        all_buckets = xp.concat([self.bucket_of_rows(), buckets])
        order = xp.argsort(all_buckets, stable=True)
        merged = xp.concat([self.vectors, xp.astype(vectors, self.dtype)], axis=0)
        self._set_rows(_with_norms(xp.take(merged, order, axis=0), xp))
        self._ids = xp.take(xp.concat([self._ids, ids]), order)
        sorted_buckets = xp.take(all_buckets, order)
        self._offsets = xp.searchsorted(sorted_buckets, xp.arange(self.n_buckets + 1, dtype=xp.int64), side="left")
        self.next_id = max(self.next_id, to_ints(xp.max(ids))[0] + 1)
        self._changed()

    def remove(self, ids) -> int:
        """Remove the stored vectors whose id is in ``ids``; returns how many."""
        xp = self._xp
        if self.ntotal == 0 or ids.shape[0] == 0:
            return 0
        gone = self.contains(xp.sort(ids, stable=False))
        n_removed = to_ints(xp.sum(xp.astype(gone, xp.int64)))[0]
        if n_removed == 0:
            return 0
        keep = xp.nonzero(xp.logical_not(gone))[0]
        buckets = xp.take(self.bucket_of_rows(), keep)
        self._set_rows(xp.take(self._rows, keep, axis=0))
        self._ids = xp.take(self._ids, keep)
        self._offsets = xp.searchsorted(buckets, xp.arange(self.n_buckets + 1, dtype=xp.int64), side="left")
        self._changed()
        return n_removed

    def _set_rows(self, rows) -> None:
        self._rows = rows
        self._sq_norms = self._xp.asarray(rows[:, self.dim], copy=True)

    def _changed(self) -> None:
        self.version += 1
        self._nonempty = None
        self.cache = {}


def bucket_stats(lists: InvertedLists, *, itemsize: int, n_params: int, table_entries: int) -> dict:
    """Bucket sizes, empty buckets, expected bucket size and bytes per vector (specs/index.md §Stats).

    ``expected_bucket_size`` is ``sum_b size_b^2 / N``: the mean size of the bucket a random
    stored vector is in. The overhead counts ids (8 bytes), norms, the ``P + 1`` offsets,
    the cores (``n_params``) and the centre tables (``table_entries``).
    """
    sizes = to_numpy(lists.bucket_sizes()).astype(np.int64)
    n = lists.ntotal
    overhead = n * (8 + itemsize) + (lists.n_buckets + 1) * 8 + (n_params + table_entries) * itemsize
    raw = n * lists.dim * itemsize
    return {
        "ntotal": n,
        "n_buckets": lists.n_buckets,
        "bucket_sizes": sizes,
        "empty_buckets": int(np.sum(sizes == 0)),
        "max_bucket_size": int(sizes.max()) if sizes.size else 0,
        "expected_bucket_size": float(np.sum(sizes.astype(np.float64) ** 2) / n) if n else 0.0,
        "n_params": n_params,
        "bytes_per_vector": (raw + overhead) / n if n else math.inf,
        "overhead_bytes_per_vector": overhead / n if n else math.inf,
    }


def _with_norms(vectors, xp):
    """``[x, ||x||^2]`` rows. The norms are summed over the contiguous ``vectors`` given (NumPy's
    float sums can depend on a row's memory alignment; this keeps them as they always were)."""
    return xp.concat([vectors, xp.sum(vectors * vectors, axis=1)[:, None]], axis=1)


def _as_id_array(ids, xp, name: str):
    if isinstance(ids, (list, tuple, range)):
        if any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) for v in ids):
            raise ArgumentTypeError(f"{name} must hold integers")
        if any(not -MAX_ID - 1 <= int(v) <= MAX_ID for v in ids):
            raise ArgumentValueError(f"{name} must hold int64 values (at most 2**63 - 1)")
        ids = np.asarray([int(v) for v in ids], dtype=np.int64)
    if isinstance(ids, np.ndarray) and backend_name(xp) != "numpy":
        ids = from_numpy(ids, xp)
    try:
        ids_xp = array_namespace(ids, names=(name,))
    except TypeError as exc:
        raise ArgumentTypeError(f"{name} must be an integer array, got {type(ids).__name__}") from exc
    if backend_name(ids_xp) != backend_name(xp):
        raise ArgumentTypeError(f"{name} is a {backend_name(ids_xp)} array but the index lives on {backend_name(xp)}")
    if not xp.isdtype(ids.dtype, "integral"):
        raise ArgumentTypeError(f"{name} must be an integer array, got dtype {ids.dtype}")
    if ids.ndim != 1:
        raise ArgumentValueError(f"{name} must be 1-D, got shape {tuple(ids.shape)}")
    return ids


def isin_sorted(values, sorted_set, *, xp):
    """Boolean mask: which entries of ``values`` occur in the sorted 1-D ``sorted_set``."""
    if sorted_set.shape[0] == 0:
        return xp.zeros(values.shape, dtype=xp.bool)
    pos = xp.searchsorted(sorted_set, values)
    pos = xp.clip(pos, 0, sorted_set.shape[0] - 1)
    return xp.take(sorted_set, pos) == values
