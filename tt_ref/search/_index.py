"""TT ANN index: a TT point cloud as a tree of bucket centres (specs/index.md).

:class:`TTIndex` fits a TT point cloud to the database (``train``), puts each vector in
the bucket of its nearest TT point (``add``) and answers k-nearest-neighbour queries by
a beam search down the TT hierarchy, a scan of the nearest leaf buckets and an exact
re-rank (``search``), as ../shared/METHOD.md §4-5 describe.

Distances to centres never build D-vectors below the first level: with ``L`` the
``D x r`` prefix product and ``u`` a child's ``r``-vector,
``||q - L u||^2 = ||q||^2 - 2 (L^T q) . u + u^T (L^T L) u``; ``L^T q`` is carried down
the beam (``r`` numbers per beam entry) and ``u^T (L^T L) u`` is precomputed for every
centre when the cloud is set.

The inverted lists are a CSR layout: vectors, ids and squared norms sorted by bucket,
plus ``offsets`` (``P + 1`` entries). Everything is written against the Python Array
API standard (NumPy, CuPy, array_api_strict) and batched over query chunks.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

import numpy as np

from .._backend import (
    BACKENDS,
    array_namespace,
    as_float_array,
    backend_name,
    from_numpy,
    namespace_for,
    random_choice,
    to_ints,
    to_numpy,
    topk_smallest,
    work_elements,
)
from .._backend._io import load_npz, save_npz
from .._backend._neighbors import squared_distances

__all__ = ["TTIndex", "FORMAT_TAG", "FORMAT_VERSION"]

#: Format tag and version written into every saved index and checked on load.
FORMAT_TAG = "tt_ref.TTIndex"
FORMAT_VERSION = 2  # 2: written by tt_ref._backend._io (format, version, meta as JSON)

_METRICS = ("l2", "cosine")
_ASSIGN = ("exact", "beam")
# Largest temporary (in array elements) one query chunk may create.
_CHUNK_ELEMENTS = 1 << 22
# Target mean number of stored vectors per scan unit of the "lists" path.
_UNIT_ROWS = 256


def _as_int_tuple(values, *, name: str, minimum: int = 1) -> tuple[int, ...]:
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise TypeError(f"{name} must be a sequence of integers, got {type(values).__name__}")
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise TypeError(f"{name} must hold integers, got {v!r}")
        if int(v) < minimum:
            raise ValueError(f"{name} entries must be >= {minimum}, got {tuple(values)}")
        out.append(int(v))
    return tuple(out)


def _check_positive_int(value, *, name: str, allow_none: bool = False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or int(value) < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _isin_sorted(values, sorted_set, *, xp):
    """Boolean mask: which entries of ``values`` occur in the sorted 1-D ``sorted_set``."""
    if sorted_set.shape[0] == 0:
        return xp.zeros(values.shape, dtype=xp.bool)
    pos = xp.searchsorted(sorted_set, values)
    pos = xp.clip(pos, 0, sorted_set.shape[0] - 1)
    return xp.take(sorted_set, pos) == values


class TTIndex:
    """Approximate nearest-neighbour index on a TT point cloud (faiss-like).

    Parameters
    ----------
    dim : int
        Dimension ``D`` of the vectors.
    mode_sizes : sequence of int
        ``(n_1, ..., n_k)``: the TT point cloud has ``P = n_1 ... n_k`` points, the
        leaf buckets; level ``m`` of the tree has ``n_1 ... n_m`` centres.
    ranks : sequence of int
        ``(r_1, ..., r_{k-1})``.
    metric : {"l2", "cosine"}
        ``"cosine"`` normalises every vector (stored and queried) to unit length and
        searches by L2; distances returned are then ``2 - 2 cos``.
    assign : {"beam", "exact"}
        How ``add`` finds a vector's bucket: ``"exact"`` compares with all ``P`` TT
        points (chunked GEMM), ``"beam"`` runs the search's beam down the tree with
        ``assign_beam`` (default 32) prefixes kept per level.
    train_size : int, optional
        ``train`` fits the cloud on a random sample of this many vectors (all if None).
    seed : int
        Seed of the training sample and of the fit.
    **fit_options
        Passed to :func:`tt_ref.cloud.fit_point_cloud` (``steps``, ``lr``, ``progress`` ...).

    Attributes
    ----------
    last_search_stats : dict
        Filled by every ``search``: ``candidates_per_query`` (vectors re-ranked, mean),
        ``centres_per_query`` (centre distances evaluated, mean) and
        ``distance_computations_per_query`` (their sum).

    Examples
    --------
    >>> import numpy as np
    >>> from tt_ref.cloud._point_cloud import TTPointCloud
    >>> from tt_ref.search._index import TTIndex
    >>> X = np.random.default_rng(0).standard_normal((500, 8))
    >>> cloud = TTPointCloud.random(8, (4, 4), (3,), seed=0)
    >>> index = TTIndex.from_point_cloud(cloud)
    >>> index.add(X)
    >>> dist, ids = index.search(X[:3, :], 5, beam=4, n_probe=16)
    >>> ids[:, 0].tolist()
    [0, 1, 2]
    >>> index.ntotal, bool(np.all(np.diff(dist, axis=1) >= 0))
    (500, True)
    """

    def __init__(
        self,
        dim: int,
        mode_sizes,
        ranks,
        metric: str = "l2",
        *,
        assign: str = "beam",
        assign_beam: int = 32,
        train_size: int | None = None,
        seed: int = 0,
        **fit_options,
    ):
        self.dim = _check_positive_int(dim, name="dim")
        self.mode_sizes = _as_int_tuple(mode_sizes, name="mode_sizes")
        if len(self.mode_sizes) == 0:
            raise ValueError("mode_sizes must hold at least one mode size")
        self.ranks = _as_int_tuple(ranks, name="ranks")
        if len(self.ranks) != len(self.mode_sizes) - 1:
            raise ValueError(
                f"ranks must hold len(mode_sizes) - 1 = {len(self.mode_sizes) - 1} entries, got {len(self.ranks)}"
            )
        if metric not in _METRICS:
            raise ValueError(f"metric must be one of {_METRICS}, got {metric!r}")
        if assign not in _ASSIGN:
            raise ValueError(f"assign must be one of {_ASSIGN}, got {assign!r}")
        self.metric = metric
        self.assign = assign
        self.assign_beam = _check_positive_int(assign_beam, name="assign_beam")
        self.train_size = _check_positive_int(train_size, name="train_size", allow_none=True)
        self.seed = seed
        self.fit_options = dict(fit_options)
        self.cloud = None
        self.fit_result = None
        self.last_search_stats: dict = {}
        self._xp = None
        self._vectors = None
        self._ids = None
        self._sq_norms = None
        self._offsets = None
        self._next_id = 0
        self._lists_changed()

    # ------------------------------------------------------------------ properties
    @property
    def is_trained(self) -> bool:
        """Whether the TT point cloud (the tree of buckets) is set."""
        return self.cloud is not None

    @property
    def ntotal(self) -> int:
        """Number of vectors in the index."""
        return 0 if self._ids is None else int(self._ids.shape[0])

    @property
    def n_buckets(self) -> int:
        """``P = n_1 ... n_k``, the number of leaf buckets."""
        return math.prod(self.mode_sizes)

    @property
    def xp(self):
        """Array namespace the index lives on (None before training)."""
        return self._xp

    @property
    def backend(self) -> str | None:
        """Backend name, or None before training."""
        return None if self._xp is None else backend_name(self._xp)

    def __repr__(self) -> str:
        return (
            f"TTIndex(dim={self.dim}, mode_sizes={self.mode_sizes}, ranks={self.ranks}, "
            f"metric={self.metric!r}, ntotal={self.ntotal}, trained={self.is_trained})"
        )

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_point_cloud(cls, cloud, metric: str = "l2", **options) -> "TTIndex":
        """A trained, empty index whose buckets are the points of ``cloud``.

        Examples
        --------
        >>> from tt_ref.cloud._point_cloud import TTPointCloud
        >>> index = TTIndex.from_point_cloud(TTPointCloud.random(4, (3, 2), (2,)))
        >>> index.is_trained, index.ntotal, index.n_buckets
        (True, 0, 6)
        """
        index = cls(cloud.dim, cloud.mode_sizes, cloud.ranks, metric, **options)
        index._set_cloud(cloud)
        return index

    def train(self, X) -> "TTIndex":
        """Fit the TT point cloud on ``X`` (or a sample of ``train_size`` rows).

        Uses :func:`tt_ref.cloud.fit_point_cloud` with the index's mode sizes, ranks,
        seed and ``fit_options``; the index then lives on ``X``'s backend and dtype.
        Vectors already added are re-assigned to the new buckets.
        """
        from ..cloud._fit import fit_point_cloud

        X = self._check_vectors(X, name="X", require_same_backend=False)
        xp = array_namespace(X)
        if X.shape[0] == 0:
            raise ValueError("X is empty: training needs at least one vector")
        if self.train_size is not None and self.train_size < X.shape[0]:
            rows = random_choice(self.seed, X.shape[0], self.train_size, xp=xp)
            X = xp.take(X, rows, axis=0)
        start = time.perf_counter()
        result = fit_point_cloud(X, self.mode_sizes, self.ranks, seed=self.seed, **self.fit_options)
        self.train_seconds = time.perf_counter() - start
        self.fit_result = result
        old = self._stored_vectors_and_ids()
        self._set_cloud(result.cloud)
        if old is not None:
            self._reset_lists()
            self._insert(*old)
        return self

    # ------------------------------------------------------------------ cloud tables
    def _set_cloud(self, cloud) -> None:
        if cloud.dim != self.dim:
            raise ValueError(f"cloud has dimension {cloud.dim}, the index {self.dim}")
        if tuple(cloud.mode_sizes) != self.mode_sizes or tuple(cloud.ranks) != self.ranks:
            raise ValueError(
                f"cloud has mode sizes {tuple(cloud.mode_sizes)} and ranks {tuple(cloud.ranks)}, "
                f"the index {self.mode_sizes} and {self.ranks}"
            )
        xp = cloud.xp
        if self._xp is not None and self._ids is not None and backend_name(self._xp) != backend_name(xp):
            raise ValueError("the cloud lives on another backend than the vectors already added")
        self.cloud = cloud
        self._xp = xp
        self._build_tables()
        if self._ids is None:
            self._reset_lists()

    def _build_tables(self) -> None:
        """Per-level tables for the factorized centre distances (METHOD.md §4-5)."""
        xp = self._xp
        cores = self.cloud.cores
        k = len(cores)
        # suffix[m] = Gbar_{m+1} ... Gbar_k (an r_m vector): averaging the suffix indices.
        suffix = [None] * k
        suffix[k - 1] = xp.ones((1,), dtype=cores[0].dtype)
        for m in range(k - 2, -1, -1):
            gbar = xp.mean(cores[m + 1], axis=1)
            suffix[m] = gbar @ suffix[m + 1]
        # W[m][:, i] = u, the child's vector: G_m[:, i, :] s_m, shape (r_{m-1}, n_m).
        self._W = [xp.tensordot(core, s, axes=([2], [0])) for core, s in zip(cores, suffix)]
        # Cores as (n_m, r_{m-1}, r_m) for gathers of the children chosen by the beam.
        self._T = [xp.permute_dims(core, (1, 0, 2)) for core in cores]
        first = cores[0]
        self._G1_flat = xp.reshape(first, (first.shape[0], first.shape[1] * first.shape[2]))
        # Squared centre norms u^T (L^T L) u per level, via Gram matrices of the prefixes.
        centre_sq = [xp.sum(self._W[0] * self._W[0], axis=0)]
        gram = None
        if k > 1:
            gram = xp.matrix_transpose(self._T[0]) @ self._T[0]  # (n_1, r_1, r_1)
        for m in range(1, k):
            core = cores[m]
            r_prev, n_m, r_m = core.shape
            w = self._W[m]
            mw = gram @ w  # (P_{m-1}, r_{m-1}, n_m)
            centre_sq.append(xp.reshape(xp.sum(mw * w, axis=1), (-1,)))
            if m < k - 1:
                y = xp.reshape(gram @ xp.reshape(core, (r_prev, n_m * r_m)), (gram.shape[0], r_prev, n_m, r_m))
                y = xp.permute_dims(y, (0, 2, 1, 3))  # (P_{m-1}, n_m, r_{m-1}, r_m)
                gram = xp.matrix_transpose(self._T[m])[None, ...] @ y  # (P_{m-1}, n_m, r_m, r_m)
                gram = xp.reshape(gram, (-1, r_m, r_m))
        self._centre_sq = centre_sq

    # ------------------------------------------------------------------ inverted lists
    def _reset_lists(self) -> None:
        xp = self._xp
        dtype = self.cloud.dtype
        self._vectors = xp.zeros((0, self.dim), dtype=dtype)
        self._ids = xp.zeros((0,), dtype=xp.int64)
        self._sq_norms = xp.zeros((0,), dtype=dtype)
        self._offsets = xp.zeros((self.n_buckets + 1,), dtype=xp.int64)
        self._lists_changed()

    def _stored_vectors_and_ids(self):
        if self._ids is None or self.ntotal == 0:
            return None
        return self._vectors, self._ids

    def _bucket_of_positions(self):
        xp = self._xp
        positions = xp.arange(self.ntotal, dtype=xp.int64)
        return xp.searchsorted(self._offsets, positions, side="right") - 1

    def _insert(self, vectors, ids) -> None:
        """Merge vectors (already normalised when cosine) into the CSR lists."""
        xp = self._xp
        buckets = self._assign_buckets(vectors)
        all_buckets = xp.concat([self._bucket_of_positions(), buckets])
        order = xp.argsort(all_buckets, stable=True)
        self._vectors = xp.take(xp.concat([self._vectors, vectors], axis=0), order, axis=0)
        self._ids = xp.take(xp.concat([self._ids, ids]), order)
        self._sq_norms = xp.sum(self._vectors * self._vectors, axis=1)
        sorted_buckets = xp.take(all_buckets, order)
        self._offsets = xp.searchsorted(
            sorted_buckets, xp.arange(self.n_buckets + 1, dtype=xp.int64), side="left"
        )
        self._lists_changed()

    def _assign_buckets(self, vectors):
        """Flat index of the nearest TT point of each row (``assign`` decides how)."""
        xp = self._xp
        if vectors.shape[0] == 0:
            return xp.zeros((0,), dtype=xp.int64)
        if self.assign == "exact":
            # Chunked over vectors and TT points so memory stays bounded for large P;
            # argmin keeps the smaller flat index on ties.
            points_per = max(1, self._budget() // (4 * max(self.dim, 1)))
            rows_per = max(1, self._budget() // min(self.n_buckets, points_per))
            out = []
            for start in range(0, vectors.shape[0], rows_per):
                v = vectors[start:min(start + rows_per, vectors.shape[0]), :]
                best_d, best_b, offset = None, None, 0
                for points in self.cloud.points(chunk=points_per):
                    d2 = squared_distances(v, points, xp=xp)
                    arg = xp.argmin(d2, axis=1)
                    d_min = xp.min(d2, axis=1)
                    arg = xp.astype(arg, xp.int64) + offset
                    offset += points.shape[0]
                    if best_d is None:
                        best_d, best_b = d_min, arg
                    else:
                        better = d_min < best_d
                        best_d = xp.where(better, d_min, best_d)
                        best_b = xp.where(better, arg, best_b)
                out.append(best_b)
            return xp.concat(out)
        out = []
        for start, stop in self._chunks(vectors.shape[0], self.assign_beam):
            q = vectors[start:stop, :]
            leaf_d, leaf_ids, _ = self._beam_leaves(q, self.assign_beam)
            best = xp.astype(xp.argmin(leaf_d, axis=1), xp.int64)[:, None]
            out.append(xp.reshape(_take_rows(leaf_ids, best, xp), (-1,)))
        return xp.concat(out)

    def _lists_changed(self) -> None:
        """Drop what is cached from the lists: the scan unit and the non-empty bucket count."""
        self._unit = None
        self._nonempty = None

    def _n_nonempty(self) -> int:
        """Non-empty buckets, at least 1 (read once per change of the lists, not per search)."""
        if self._nonempty is None:
            xp = self._xp
            counts = self._offsets[1:] - self._offsets[:-1]
            self._nonempty = max(1, to_ints(xp.sum(xp.astype(counts > 0, xp.int64)))[0])
        return self._nonempty

    def _budget(self) -> int:
        """Elements one temporary may hold (larger on a GPU, where launches are the cost)."""
        return work_elements(self._xp, _CHUNK_ELEMENTS)

    def _chunks(self, n_rows: int, beam: int, *, cap: int = 1024, extra_per_row: int = 0):
        """Query chunks small enough that no temporary exceeds ``_budget()`` elements."""
        cores = self.cloud.cores
        per_row = max(
            [cores[0].shape[1] * cores[0].shape[2], self.dim, extra_per_row]
            + [beam * c.shape[1] for c in cores[1:]]
            + [beam * c.shape[0] * c.shape[2] for c in cores[1:]]
        )
        size = max(1, self._budget() // max(per_row, 1))
        size = min(size, cap)
        for start in range(0, n_rows, size):
            yield start, min(start + size, n_rows)

    # ------------------------------------------------------------------ public API
    def add(self, X, ids=None) -> None:
        """Add vectors ``X`` (``(n, D)``) with integer ``ids`` (default: running numbers).

        Each vector goes to the bucket of its nearest TT point. Ids must be unique in
        the index.
        """
        self._require_trained()
        X = self._check_vectors(X, name="X")
        xp = self._xp
        n = X.shape[0]
        if ids is None:
            ids = xp.arange(self._next_id, self._next_id + n, dtype=xp.int64)
        else:
            ids = self._check_ids(ids, name="ids")
            if ids.shape[0] != n:
                raise ValueError(f"ids must hold one id per row of X ({n}), got {ids.shape[0]}")
            if n and int(xp.min(ids)) < 0:
                raise ValueError("ids must be non-negative (-1 marks missing results)")
            merged = xp.concat([self._ids, ids])
            if xp.unique_values(merged).shape[0] != merged.shape[0]:
                raise ValueError("ids must be unique and not already in the index")
        if n == 0:
            return
        self._insert(X, ids)
        self._next_id = max(self._next_id, int(xp.max(ids)) + 1)

    def remove(self, ids) -> int:
        """Remove the vectors with these ids; returns how many were removed."""
        self._require_trained()
        xp = self._xp
        ids = self._check_ids(ids, name="ids")
        if self.ntotal == 0 or ids.shape[0] == 0:
            return 0
        gone = _isin_sorted(self._ids, xp.sort(ids), xp=xp)
        n_removed = int(xp.sum(xp.astype(gone, xp.int64)))
        if n_removed == 0:
            return 0
        keep = xp.nonzero(xp.logical_not(gone))[0]
        buckets = xp.take(self._bucket_of_positions(), keep)
        self._vectors = xp.take(self._vectors, keep, axis=0)
        self._ids = xp.take(self._ids, keep)
        self._sq_norms = xp.take(self._sq_norms, keep)
        self._offsets = xp.searchsorted(buckets, xp.arange(self.n_buckets + 1, dtype=xp.int64), side="left")
        self._lists_changed()
        return n_removed

    def search(self, Q, k: int, *, beam: int = 32, n_probe: int | None = None, n_candidates: int | None = None,
               allow=None, scan: str = "auto", chunk_size: int | None = None):
        """The ``k`` approximate nearest neighbours of each row of ``Q``.

        Parameters
        ----------
        Q : array, shape (n_queries, D)
            On the index's backend.
        k : int
            ``1 <= k <= ntotal``.
        beam : int
            Prefixes kept per level of the beam search (levels 1 .. k-1).
        n_probe : int, optional
            Scan exactly this many nearest leaf buckets (all their vectors).
        n_candidates : int, optional
            Scan the nearest leaf buckets in order until this many vectors are gathered
            (the last bucket may be cut). Default 1000 when neither is given.
        allow : int array, optional
            Only ids in ``allow`` may be returned.
        scan : {"auto", "gather", "lists"}
            How candidates are scored: ``"gather"`` (copy the candidate vectors, one
            batched product) or ``"lists"`` (one GEMM per probed run of buckets on the
            stored rows, scalars gathered). ``"auto"`` is ``"gather"``, measured the
            faster on CPU and GPU (docs/results-ann.md). Same results up to rounding.
        chunk_size : int, optional
            Queries per batch (default from a memory budget).

        Returns
        -------
        distances : array, shape (n_queries, k)
            Squared L2 distances, ascending; ``inf`` where fewer than ``k`` were found.
        ids : int64 array, shape (n_queries, k)
            ``-1`` where fewer than ``k`` were found.
        """
        self._require_trained()
        if self.ntotal == 0:
            raise ValueError("the index is empty: add vectors before searching")
        Q = self._check_vectors(Q, name="Q")
        xp = self._xp
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= int(k) <= self.ntotal:
            raise ValueError(f"k must be an integer in [1, {self.ntotal}] (the number of indexed vectors), got {k!r}")
        k = int(k)
        beam = _check_positive_int(beam, name="beam")
        if n_probe is not None and n_candidates is not None:
            raise ValueError("give n_probe or n_candidates, not both")
        n_probe = _check_positive_int(n_probe, name="n_probe", allow_none=True)
        n_candidates = _check_positive_int(n_candidates, name="n_candidates", allow_none=True)
        if n_probe is None and n_candidates is None:
            n_candidates = 1000
        chunk_size = _check_positive_int(chunk_size, name="chunk_size", allow_none=True)
        if scan not in ("auto", "lists", "gather"):
            raise ValueError(f"scan must be 'auto', 'lists' or 'gather', got {scan!r}")
        if scan == "auto":
            scan = "gather"
        allowed = None
        if allow is not None:
            allow_ids = self._check_ids(allow, name="allow")
            allowed = _isin_sorted(self._ids, xp.sort(allow_ids), xp=xp)
        out_d, out_i = [], []
        n_cand_total = 0
        n_centre_total = 0
        if chunk_size is None:
            if n_candidates is not None:
                expected = n_candidates
            else:
                expected = n_probe * max(1, self.ntotal // self._n_nonempty())
            # Bigger chunks share more buckets between queries on the "lists" path; its
            # flat per-candidate arrays get a 4x larger budget than the padded blocks.
            if scan == "lists":
                chunks = self._chunks(Q.shape[0], beam, cap=4096, extra_per_row=max(1, expected // 4))
            else:
                chunks = self._chunks(Q.shape[0], beam, cap=4096, extra_per_row=expected * self.dim)
        else:
            chunks = (
                (s, min(s + chunk_size, Q.shape[0])) for s in range(0, Q.shape[0], chunk_size)
            )
        for start, stop in chunks:
            q = Q[start:stop, :]
            leaf_d, leaf_ids, n_centres = self._beam_leaves(q, beam)
            leaves, take = self._candidates(leaf_d, leaf_ids, n_probe, n_candidates)
            d, i, n_cand = self._scan(q, leaves, take, allowed, k, scan)
            out_d.append(d)
            out_i.append(i)
            n_cand_total += n_cand
            n_centre_total += n_centres * (stop - start)
        n_q = max(Q.shape[0], 1)
        self.last_search_stats = {
            "candidates_per_query": n_cand_total / n_q,
            "centres_per_query": n_centre_total / n_q,
            "distance_computations_per_query": (n_cand_total + n_centre_total) / n_q,
        }
        if not out_d:
            return xp.zeros((0, k), dtype=self._vectors.dtype), xp.zeros((0, k), dtype=xp.int64)
        return xp.concat(out_d, axis=0), xp.concat(out_i, axis=0)

    # ------------------------------------------------------------------ search steps
    def _beam_leaves(self, q, beam: int):
        """Beam search down the levels; returns the leaves of the last beam.

        Returns ``(leaf_sq_dist (b, L), leaf_flat_ids (b, L), centres_evaluated)`` with
        ``L = beam_{k-1} * n_k`` (``n_1`` when there is one level).
        """
        xp = self._xp
        n_q = q.shape[0]
        k_levels = len(self.mode_sizes)
        q_sq = xp.sum(q * q, axis=1)[:, None]
        n_1 = self.mode_sizes[0]
        d = q_sq - 2.0 * (q @ self._W[0]) + self._centre_sq[0][None, :]
        prefix = xp.broadcast_to(xp.arange(n_1, dtype=xp.int64)[None, :], (n_q, n_1))
        n_centres = n_1
        if k_levels == 1:
            return d, prefix, n_centres
        width = min(beam, n_1)
        d, sel = topk_smallest(d, width, xp=xp)
        prefix = sel
        # a = L^T q for the kept prefixes: one GEMM over all level-1 children, then gather.
        a_all = xp.reshape(q @ self._G1_flat, (n_q * n_1, -1))
        rows = xp.reshape(sel + xp.arange(n_q, dtype=xp.int64)[:, None] * n_1, (-1,))
        a = xp.reshape(xp.take(a_all, rows, axis=0), (n_q, width, -1))
        for m in range(1, k_levels):
            n_m = self.mode_sizes[m]
            cross = xp.reshape(a @ self._W[m], (n_q, width * n_m))
            child = xp.reshape(prefix[:, :, None] * n_m + xp.arange(n_m, dtype=xp.int64)[None, None, :], (n_q, width * n_m))
            d = q_sq - 2.0 * cross + xp.reshape(xp.take(self._centre_sq[m], xp.reshape(child, (-1,))), child.shape)
            n_centres += width * n_m
            if m == k_levels - 1:
                return d, child, n_centres
            new_width = min(beam, width * n_m)
            d, sel = topk_smallest(d, new_width, xp=xp)
            prefix = _take_rows(child, sel, xp)
            slot = sel // n_m
            which = xp.reshape(sel % n_m, (-1,))
            rows = xp.reshape(slot + xp.arange(n_q, dtype=xp.int64)[:, None] * width, (-1,))
            a_par = xp.take(xp.reshape(a, (n_q * width, -1)), rows, axis=0)  # (n_q*new_width, r_{m-1})
            core = xp.take(self._T[m], which, axis=0)  # (n_q*new_width, r_{m-1}, r_m)
            a = xp.reshape(a_par[:, None, :] @ core, (n_q, new_width, -1))
            width = new_width
        raise AssertionError("unreachable")

    def _candidates(self, leaf_d, leaf_ids, n_probe, n_candidates):
        """The nearest leaf buckets of each query and how many of their vectors to scan.

        Returns ``(leaves (b, L), take (b, L))``: bucket ids in ascending centre
        distance and the number of vectors taken from each (the whole bucket, except
        that ``n_candidates`` cuts the last one and zeroes the rest).
        """
        xp = self._xp
        n_leaves = leaf_d.shape[1]
        counts = self._offsets[1:] - self._offsets[:-1]

        leaf_sizes = xp.reshape(xp.take(counts, xp.reshape(leaf_ids, (-1,))), leaf_ids.shape)
        # Empty buckets go last, so the order needs only about as many leaves as are scanned.
        leaf_d = xp.where(leaf_sizes > 0, leaf_d, xp.full_like(leaf_d, math.inf))

        def nearest(width):
            _, sel = topk_smallest(leaf_d, width, xp=xp)
            leaves = _take_rows(leaf_ids, sel, xp)
            return leaves, xp.reshape(xp.take(counts, xp.reshape(leaves, (-1,))), leaves.shape)

        if n_probe is not None:
            return nearest(min(n_probe, n_leaves))
        # Start from about twice the buckets a typical query needs; double while short
        # (one host read per try: the usual first try is enough).
        width = min(n_leaves, max(8, int(2 * n_candidates * self._n_nonempty() / self.ntotal) + 1))
        while True:
            leaves, sizes = nearest(width)
            cum = xp.cumulative_sum(sizes, axis=1)
            if width == n_leaves or to_ints(xp.min(cum[:, -1]))[0] >= n_candidates:
                break
            width = min(n_leaves, 2 * width)
        before = cum - sizes
        take = xp.clip(n_candidates - before, 0, None)
        return leaves, xp.minimum(sizes, take)

    def _scan(self, q, leaves, take, allowed, k: int, scan: str):
        """Exact squared distances to the chosen bucket members; top k, padded inf / -1.

        ``scan="gather"`` copies the candidate vectors into a ``(b, C, D)`` block
        (one gather, one batched product); ``scan="lists"`` multiplies each probed
        run of buckets' stored rows (no copy) by the queries that probe it, one GEMM
        per scan unit, and gathers only the scalar results. Both give the same
        numbers up to rounding.
        """
        xp = self._xp
        n_q, width = leaves.shape
        rows_of_pairs = xp.reshape(
            xp.broadcast_to(xp.arange(n_q, dtype=xp.int64)[:, None], (n_q, width)), (-1,)
        )
        take_flat = xp.reshape(take, (-1,))
        nz = xp.nonzero(take_flat > 0)[0]
        pair_take = xp.take(take_flat, nz)
        pair_leaf = xp.take(xp.reshape(leaves, (-1,)), nz)
        pair_start = xp.take(self._offsets, pair_leaf)
        totals = xp.sum(take, axis=1)
        # The one host read of the scan: both sizes in one transfer (shapes are Python ints).
        n_cand, n_cols = to_ints(xp.sum(totals), xp.max(totals))
        n_cols = max(1, n_cols)
        # Candidate c of the flat pair list lives at storage row pos_flat[c]: runs of
        # consecutive rows, one run per (query, bucket) pair.
        excl = xp.cumulative_sum(pair_take) - pair_take
        pos_flat = xp.arange(n_cand, dtype=xp.int64) + xp.repeat(pair_start - excl, pair_take)
        row_off = xp.cumulative_sum(totals) - totals
        dots_flat = None
        if scan == "lists" and n_cand > 0:
            dots_flat = self._dots_lists(q, xp.take(rows_of_pairs, nz), pair_leaf, pair_take, excl, n_cand)
        # The padded (rows, C) layout of the top-k step, in row blocks of bounded size.
        per_row = n_cols * (self.dim if scan == "gather" else 1)
        rows_per = max(1, self._budget() // max(per_row, 1))
        out_d, out_i = [], []
        for s in range(0, n_q, rows_per):
            e = min(s + rows_per, n_q)
            d, found = self._rerank_rows(q[s:e, :], totals[s:e], row_off[s:e], pos_flat, dots_flat,
                                         n_cand, n_cols, allowed, k)
            out_d.append(d)
            out_i.append(found)
        return xp.concat(out_d, axis=0), xp.concat(out_i, axis=0), n_cand

    def _rerank_rows(self, q, totals, row_off, pos_flat, dots_flat, n_cand, n_cols, allowed, k):
        xp = self._xp
        n_q = q.shape[0]
        p = xp.arange(n_cols, dtype=xp.int64)[None, :]
        valid = p < totals[:, None]
        if n_cand == 0:
            pos = xp.zeros((n_q, n_cols), dtype=xp.int64)
            dots = xp.zeros((n_q, n_cols), dtype=q.dtype)
        else:
            src = xp.clip(xp.where(valid, row_off[:, None] + p, xp.zeros_like(p)), 0, n_cand - 1)
            src = xp.reshape(src, (-1,))
            pos = xp.reshape(xp.take(pos_flat, src), (n_q, n_cols))
            if dots_flat is None:
                dots = self._dots_gather(q, pos)
            else:
                dots = xp.reshape(xp.take(dots_flat, src), (n_q, n_cols))
        flat = xp.reshape(pos, (-1,))
        d = xp.sum(q * q, axis=1)[:, None] - 2.0 * dots + xp.reshape(xp.take(self._sq_norms, flat), pos.shape)
        d = xp.clip(d, 0.0, None)
        ok = valid
        if allowed is not None:
            ok = xp.logical_and(ok, xp.reshape(xp.take(allowed, flat), pos.shape))
        d = xp.where(ok, d, xp.full_like(d, math.inf))
        ids = xp.reshape(xp.take(self._ids, flat), pos.shape)
        if n_cols < k:
            d = xp.concat([d, xp.full((n_q, k - n_cols), math.inf, dtype=d.dtype)], axis=1)
            ids = xp.concat([ids, xp.full((n_q, k - n_cols), -1, dtype=ids.dtype)], axis=1)
        vals, sel = topk_smallest(d, k, xp=xp)
        found = _take_rows(ids, sel, xp)
        found = xp.where(xp.isinf(vals), xp.full_like(found, -1), found)
        return vals, found

    def _dots_gather(self, q, pos):
        xp = self._xp
        n_q, n_cols = pos.shape
        rows_per = max(1, self._budget() // max(n_cols * self.dim, 1))
        out = []
        for s in range(0, n_q, rows_per):
            e = min(s + rows_per, n_q)
            flat = xp.reshape(pos[s:e, :], (-1,))
            vecs = xp.reshape(xp.take(self._vectors, flat, axis=0), (e - s, n_cols, self.dim))
            out.append((vecs @ q[s:e, :, None])[:, :, 0])
        return xp.concat(out, axis=0)

    def _scan_unit(self) -> int:
        """Leaves per scan unit of the "lists" path: all leaves under one level-m prefix.

        Their members are consecutive in storage, so one GEMM covers a unit. The
        coarsest level whose non-empty prefixes hold at most ``_UNIT_ROWS`` vectors on
        average is used: fewer, larger GEMMs, little work on unprobed neighbours.
        """
        if self._unit is not None:
            return self._unit
        xp = self._xp
        unit = 1
        sizes = self._offsets[1:] - self._offsets[:-1]
        for m in range(len(self.mode_sizes) - 1, 0, -1):
            candidate = unit * self.mode_sizes[m]
            grouped = xp.sum(xp.reshape(sizes, (-1, candidate)), axis=1)
            (nonempty,) = to_ints(xp.sum(xp.astype(grouped > 0, xp.int64)))
            if self.ntotal > _UNIT_ROWS * max(nonempty, 1):
                break
            unit = candidate
        self._unit = unit
        return unit

    def _dots_lists(self, q, pair_row, pair_leaf, pair_take, excl, n_cand):
        """``q . x`` for every candidate, in the flat pair order, one GEMM per scan unit."""
        xp = self._xp
        n_q = q.shape[0]
        unit = self._scan_unit()
        pair_unit = pair_leaf // unit
        keys = xp.unique_values(pair_unit * n_q + pair_row)  # (unit, query) pairs, by unit
        key_unit = keys // n_q
        key_row = keys % n_q
        group_unit, group_count = xp.unique_counts(key_unit)
        unit_start = xp.take(self._offsets, group_unit * unit)
        group_size = xp.take(self._offsets, (group_unit + 1) * unit) - unit_start
        group_first = xp.cumulative_sum(group_count) - group_count
        block_len = group_count * group_size
        block_base = xp.cumulative_sum(block_len) - block_len
        # Host copies of the few numbers the Python loop over units needs: one transfer.
        starts, sizes, firsts, n_rows = to_numpy(
            xp.stack([xp.astype(v, xp.int64) for v in (unit_start, group_size, group_first, group_count)])
        ).tolist()
        vectors_t = xp.matrix_transpose(self._vectors)
        blocks = []
        for start, size, first, count in zip(starts, sizes, firsts, n_rows):
            queries = xp.take(q, key_row[first:first + count], axis=0)
            blocks.append(xp.reshape(queries @ vectors_t[:, start:start + size], (-1,)))
        dots_all = xp.concat(blocks)
        # Row of key j inside its unit's block starts at key_base[j].
        n_keys = keys.shape[0]
        row_in_group = xp.arange(n_keys, dtype=xp.int64) - xp.repeat(group_first, group_count)
        key_base = xp.repeat(block_base, group_count) + row_in_group * xp.repeat(group_size, group_count)
        key_start = xp.repeat(unit_start, group_count)
        # Each (query, leaf) pair: its key, then its members' columns inside the unit.
        pair_key = xp.searchsorted(keys, pair_unit * n_q + pair_row)
        pair_first = xp.take(key_base, pair_key) + xp.take(self._offsets, pair_leaf) - xp.take(key_start, pair_key)
        src = xp.arange(n_cand, dtype=xp.int64) + xp.repeat(pair_first - excl, pair_take)
        return xp.take(dots_all, src)

    # ------------------------------------------------------------------ diagnostics
    def centre_sq_distances(self, Q, level: int):
        """Squared distances from each query to every centre of ``level`` (factorized).

        Level ``m`` (``1 <= m <= k``) has ``n_1 ... n_m`` centres in C order; level ``k``
        are the TT points. Computed with ``||q||^2 - 2 (L^T q).u + u^T (L^T L) u``,
        never forming the centres; for tests and diagnostics (cost grows with the level).
        """
        self._require_trained()
        Q = self._check_vectors(Q, name="Q")
        xp = self._xp
        k_levels = len(self.mode_sizes)
        if isinstance(level, bool) or not isinstance(level, (int, np.integer)) or not 1 <= level <= k_levels:
            raise ValueError(f"level must be an integer in [1, {k_levels}], got {level!r}")
        n_q = Q.shape[0]
        q_sq = xp.sum(Q * Q, axis=1)[:, None]
        if level == 1:
            return xp.clip(q_sq - 2.0 * (Q @ self._W[0]) + self._centre_sq[0][None, :], 0.0, None)
        a = xp.reshape(Q @ self._G1_flat, (n_q, self.mode_sizes[0], -1))  # (n_q, P_1, r_1)
        for m in range(1, level - 1):
            core = self.cloud.cores[m]
            r_prev, n_m, r_m = core.shape
            a = xp.reshape(a @ xp.reshape(core, (r_prev, n_m * r_m)), (n_q, -1, r_m))
        cross = xp.reshape(a @ self._W[level - 1], (n_q, -1))
        return xp.clip(q_sq - 2.0 * cross + self._centre_sq[level - 1][None, :], 0.0, None)

    def stats(self) -> dict:
        """Bucket statistics of the index.

        Returns a dict with ``ntotal``, ``n_buckets``, ``bucket_sizes`` (NumPy int64,
        ``(P,)``), ``empty_buckets``, ``max_bucket_size``, ``expected_bucket_size``
        (sum of squared sizes / N: the mean size of the bucket a random vector is in),
        ``bytes_per_vector`` (everything stored, raw vectors included),
        ``overhead_bytes_per_vector`` (beyond the raw vectors) and ``n_params``.
        """
        self._require_trained()
        sizes = np.diff(to_numpy(self._offsets)).astype(np.int64)
        n = self.ntotal
        itemsize = np.dtype(str(self.cloud.dtype).rsplit(".", 1)[-1]).itemsize
        n_params = int(self.cloud.n_params)
        table_entries = sum(int(c.shape[0]) for c in self._centre_sq)
        overhead = (
            n * 8  # ids
            + n * itemsize  # squared norms
            + (self.n_buckets + 1) * 8  # offsets
            + (n_params + table_entries) * itemsize  # cores and centre norms
        )
        raw = n * self.dim * itemsize
        return {
            "ntotal": n,
            "n_buckets": self.n_buckets,
            "bucket_sizes": sizes,
            "empty_buckets": int(np.sum(sizes == 0)),
            "max_bucket_size": int(sizes.max()) if sizes.size else 0,
            "expected_bucket_size": float(np.sum(sizes.astype(np.float64) ** 2) / n) if n else 0.0,
            "n_params": n_params,
            "bytes_per_vector": (raw + overhead) / n if n else math.inf,
            "overhead_bytes_per_vector": overhead / n if n else math.inf,
        }

    # ------------------------------------------------------------------ persistence
    def save(self, path) -> None:
        """Write the index to ``path`` (``.npz``, atomic, no pickle, format tag)."""
        path = Path(path)
        meta = {
            "dim": self.dim,
            "mode_sizes": list(self.mode_sizes),
            "ranks": list(self.ranks),
            "metric": self.metric,
            "assign": self.assign,
            "assign_beam": self.assign_beam,
            "train_size": self.train_size,
            "seed": self.seed if isinstance(self.seed, int) else None,
            "trained": self.is_trained,
            "next_id": self._next_id,
        }
        arrays = {}
        if self.is_trained:
            for j, core in enumerate(self.cloud.cores):
                arrays[f"core_{j}"] = to_numpy(core)
            arrays["vectors"] = to_numpy(self._vectors)
            arrays["ids"] = to_numpy(self._ids)
            arrays["offsets"] = to_numpy(self._offsets)
        save_npz(path, arrays, format_tag=FORMAT_TAG, version=FORMAT_VERSION, meta=meta)

    @classmethod
    def load(cls, path, backend: str = "numpy") -> "TTIndex":
        """Read an index written by :meth:`save` onto ``backend``."""
        from ..cloud._point_cloud import TTPointCloud

        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        data, meta = load_npz(path, format_tag=FORMAT_TAG, version=FORMAT_VERSION, what="TTIndex")
        try:
            index = cls(
                meta["dim"], meta["mode_sizes"], meta["ranks"], meta["metric"],
                assign=meta["assign"], assign_beam=meta["assign_beam"], train_size=meta["train_size"],
                seed=meta["seed"] if meta["seed"] is not None else 0,
            )
            if not meta["trained"]:
                return index
            xp = namespace_for(backend)
            cores = [from_numpy(data[f"core_{j}"], xp) for j in range(len(index.mode_sizes))]
            index._set_cloud(TTPointCloud(cores))
            index._vectors = from_numpy(data["vectors"], xp)
            index._ids = from_numpy(data["ids"], xp)
            index._offsets = from_numpy(data["offsets"], xp)
        except (KeyError, TypeError) as exc:
            raise ValueError(f"path {os.fspath(path)!r} is not a complete TTIndex file: {exc!r} missing or bad") from exc
        index._sq_norms = xp.sum(index._vectors * index._vectors, axis=1)
        index._next_id = int(meta["next_id"])
        return index

    def to_backend(self, backend: str) -> "TTIndex":
        """A copy of the index on ``backend`` (same values)."""
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        new = TTIndex(
            self.dim, self.mode_sizes, self.ranks, self.metric, assign=self.assign,
            assign_beam=self.assign_beam, train_size=self.train_size, seed=self.seed, **self.fit_options,
        )
        if not self.is_trained:
            return new
        xp = namespace_for(backend)
        new._set_cloud(self.cloud.to_backend(backend))
        new._vectors = from_numpy(to_numpy(self._vectors), xp)
        new._ids = from_numpy(to_numpy(self._ids), xp)
        new._offsets = from_numpy(to_numpy(self._offsets), xp)
        new._sq_norms = xp.sum(new._vectors * new._vectors, axis=1)
        new._next_id = self._next_id
        return new

    # ------------------------------------------------------------------ validation
    def _require_trained(self) -> None:
        if not self.is_trained:
            raise ValueError("the index is not trained: call train(X) (or build it with TTIndex.from_point_cloud)")

    def _check_vectors(self, X, *, name: str, require_same_backend: bool = True):
        try:
            xp = array_namespace(X, names=(name,))
        except TypeError as exc:
            raise TypeError(f"{name} must be an array (numpy, cupy or array_api_strict), got {type(X).__name__}") from exc
        X = as_float_array(X, name=name, xp=xp, ndim=2)
        if X.shape[1] != self.dim:
            raise ValueError(f"{name} has dimension {X.shape[1]} but the index has dimension {self.dim}")
        if require_same_backend and self._xp is not None:
            if backend_name(xp) != backend_name(self._xp):
                raise TypeError(
                    f"{name} is a {backend_name(xp)} array but the index lives on {backend_name(self._xp)}; "
                    "move it with tt_ref.to_backend"
                )
            if X.dtype != self.cloud.dtype:
                X = xp.astype(X, self.cloud.dtype)
        if self.metric == "cosine":
            norms = xp.sqrt(xp.sum(X * X, axis=1))[:, None]
            if X.shape[0] and bool(xp.any(norms == 0)):
                raise ValueError(f"{name} has a zero row: cosine metric needs non-zero vectors")
            X = X / norms
        return X

    def _check_ids(self, ids, *, name: str):
        xp = self._xp
        if isinstance(ids, (list, tuple, range)):
            ids = np.asarray(list(ids), dtype=np.int64)
        if isinstance(ids, np.ndarray) and backend_name(xp) != "numpy":
            ids = from_numpy(ids, xp)
        try:
            ids_xp = array_namespace(ids, names=(name,))
        except TypeError as exc:
            raise TypeError(f"{name} must be an integer array, got {type(ids).__name__}") from exc
        if backend_name(ids_xp) != backend_name(xp):
            raise TypeError(f"{name} is a {backend_name(ids_xp)} array but the index lives on {backend_name(xp)}")
        if not xp.isdtype(ids.dtype, "integral"):
            raise TypeError(f"{name} must be an integer array, got dtype {ids.dtype}")
        if ids.ndim != 1:
            raise ValueError(f"{name} must be 1-D, got shape {tuple(ids.shape)}")
        return xp.astype(ids, xp.int64)


def _take_rows(x, indices, xp):
    """``x[b, indices[b, j]]`` for 2-D ``x`` and ``indices`` (Array API only)."""
    n_rows, n_cols = x.shape
    offsets = xp.arange(n_rows, dtype=xp.int64)[:, None] * n_cols
    flat = xp.reshape(indices + offsets, (-1,))
    return xp.reshape(xp.take(xp.reshape(x, (-1,)), flat), indices.shape)
