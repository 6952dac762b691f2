"""TT ANN index: a TT point cloud as a tree of bucket centres (specs/index.md).

:class:`TTIndex` is a short facade over separate parts, as faiss's ``IndexIVF`` is over
its quantizer, ``InvertedLists`` and scanners: the centre tables and the beam search
(``_beam``), the bucket assignment (``_assign``), the CSR inverted lists (``_lists``),
the leaf selection and scans (``_scan``), the file format (``_persist``) and the
defaults and memory estimate (``_config``).
"""

from __future__ import annotations

import math
import time

from .._backend import (
    BACKENDS,
    ArgumentTypeError,
    ArgumentValueError,
    array_namespace,
    backend_name,
    check_allocation,
    check_choice,
    check_int,
    check_int_sequence,
    check_optional_int,
    random_choice,
)
from ._assign import assign_buckets
from ._beam import BeamTables, centre_sq_distances
from ._checks import check_fit_options, check_ranks, check_search_arguments, check_vectors, is_auto, itemsize
from ._config import INDEX_FIT_DEFAULTS, check_index_memory, chunk_budget, resolve_config
from ._faiss import check_faiss_scan
from ._lists import InvertedLists, bucket_stats
from ._persist import FORMAT_TAG, FORMAT_VERSION, load_index, save_index
from ._scan import search_batches

__all__ = ["TTIndex", "FORMAT_TAG", "FORMAT_VERSION"]

_METRICS = ("l2", "cosine")
_ASSIGN = ("exact", "beam")
_SCANS = ("auto", "lists", "gather", "faiss")


class TTIndex:
    """Approximate nearest-neighbour index on a TT point cloud (faiss-like).

    Parameters
    ----------
    dim : int
        Dimension ``D`` of the vectors.
    mode_sizes : sequence of int or "auto"
        ``(n_1, ..., n_k)``: the cloud has ``P = n_1 ... n_k`` points, the leaf buckets;
        level ``m`` of the tree has ``n_1 ... n_m`` centres. ``"auto"``: chosen by
        :func:`tt_ref.search.default_config` from the training set's size.
    ranks : sequence of int or "auto"
        ``(r_1, ..., r_{k-1})``; ``"auto"``: ``min(32, n_{m+1} ... n_k)`` per bond.
    metric : {"l2", "cosine"}
        ``"cosine"`` normalises every vector (stored and queried) and searches by L2;
        distances returned are then ``2 - 2 cos``.
    assign : {"beam", "exact"}
        How ``add`` finds a vector's bucket: ``"exact"`` compares with all ``P`` TT
        points, ``"beam"`` runs the search's beam with ``assign_beam`` prefixes per level.
    assign_beam : int
    train_size : int, optional
        ``train`` fits the cloud on a random sample of this many vectors (all if None).
    seed : int
        Seed of the training sample and of the fit.
    fit_options : dict, optional
        Keywords of :func:`tt_ref.cloud.fit_point_cloud` (``steps``, ``lr``, ``progress``
        ...); saved with the index. They override the index's own fit defaults,
        ``INDEX_FIT_DEFAULTS`` (``empty_pull=1.0``: empty leaves pulled toward data).

    Attributes
    ----------
    last_search_stats : dict
        Filled by every ``search``: ``candidates_per_query``, ``centres_per_query``,
        ``projections_per_query`` (dot products of ``L^T q``) and
        ``distance_computations_per_query`` (in ``D``-dimensional distances; specs/index.md).

    Examples
    --------
    >>> import numpy as np
    >>> from tt_ref.cloud._point_cloud import TTPointCloud
    >>> from tt_ref.search._index import TTIndex
    >>> X = np.random.default_rng(0).standard_normal((500, 8))
    >>> index = TTIndex.from_point_cloud(TTPointCloud.random(8, (4, 4), (3,), seed=0))
    >>> index.is_trained, index.ntotal, index.n_buckets
    (True, 0, 16)
    >>> index.add(X)
    >>> dist, ids = index.search(X[:3, :], 5, beam=4, n_probe=16)
    >>> ids[:, 0].tolist(), index.ntotal, bool(np.all(np.diff(dist, axis=1) >= 0))
    ([0, 1, 2], 500, True)
    """

    def __init__(self, dim: int, mode_sizes, ranks="auto", metric: str = "l2", *, assign: str = "beam",
                 assign_beam: int = 32, train_size: int | None = None, seed: int = 0, fit_options: dict | None = None):
        self.dim = check_int(dim, name="dim", minimum=1)
        self.mode_sizes = "auto" if is_auto(mode_sizes) else check_int_sequence(mode_sizes, name="mode_sizes", minimum=1)
        self.ranks = "auto" if is_auto(ranks) else check_ranks(ranks, self.mode_sizes)
        self._requested = (self.mode_sizes, self.ranks)
        self.metric = check_choice(metric, _METRICS, name="metric")
        self.assign = check_choice(assign, _ASSIGN, name="assign")
        self.assign_beam = check_int(assign_beam, name="assign_beam", minimum=1)
        self.train_size = check_optional_int(train_size, name="train_size", minimum=1)
        self.seed = check_int(seed, name="seed", minimum=0)
        self.fit_options = check_fit_options(fit_options)
        self.cloud = self.fit_result = self._tables = self._lists = self._masked = None
        self.last_search_stats: dict = {}

    # ------------------------------------------------------------------ properties
    @property
    def is_trained(self) -> bool:
        """Whether the TT point cloud (the tree of buckets) is set."""
        return self.cloud is not None

    @property
    def ntotal(self) -> int:
        """Number of vectors in the index."""
        return 0 if self._lists is None else self._lists.ntotal

    @property
    def n_buckets(self) -> int | None:
        """``P = n_1 ... n_k``, the number of leaf buckets (None while ``mode_sizes`` is "auto")."""
        return None if self.mode_sizes == "auto" else math.prod(self.mode_sizes)

    @property
    def xp(self):
        """Array namespace the index lives on (None before training)."""
        return None if self.cloud is None else self.cloud.xp

    @property
    def backend(self) -> str | None:
        """Backend name, or None before training."""
        return None if self.cloud is None else backend_name(self.cloud.xp)

    def __repr__(self) -> str:
        return (f"TTIndex(dim={self.dim}, mode_sizes={self.mode_sizes}, ranks={self.ranks}, "
                f"metric={self.metric!r}, ntotal={self.ntotal}, trained={self.is_trained})")

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_point_cloud(cls, cloud, metric: str = "l2", **options) -> "TTIndex":
        """A trained, empty index whose buckets are the points of ``cloud`` (``options``: the constructor's)."""
        from ..cloud._point_cloud import TTPointCloud

        if not isinstance(cloud, TTPointCloud):
            raise ArgumentTypeError(f"cloud must be a TTPointCloud, got {type(cloud).__name__}")
        index = cls(cloud.dim, cloud.mode_sizes, cloud.ranks, metric, **options)
        index._check_memory(itemsize(cloud.dtype), 0, what="TTIndex.from_point_cloud")
        index._set_parts(cloud, InvertedLists(math.prod(cloud.mode_sizes), cloud.dim, cloud.dtype, xp=cloud.xp))
        return index

    def train(self, X) -> "TTIndex":
        """Fit the TT point cloud on ``X`` (or a sample of ``train_size`` rows).

        Uses :func:`tt_ref.cloud.fit_point_cloud` with the index's mode sizes, ranks, seed
        and ``fit_options``; the index then lives on ``X``'s backend and dtype. Vectors
        already added are re-assigned to the new buckets (they must be on ``X``'s backend).
        """
        from ..cloud._fit import fit_point_cloud

        X = self._check_vectors(X, name="X", require_same_backend=False)
        xp = array_namespace(X)
        if X.shape[0] == 0:
            raise ArgumentValueError("X is empty: training needs at least one vector")
        old = self._lists if self.ntotal else None
        if old is not None and backend_name(old.xp) != backend_name(xp):
            raise ArgumentTypeError(f"X is a {backend_name(xp)} array but the {self.ntotal} vectors already added "
                                    f"live on {backend_name(old.xp)}; move the index with to_backend first")
        mode_sizes, ranks = resolve_config(*self._requested, X.shape[0])
        check_index_memory(self.dim, mode_sizes, ranks, itemsize(X.dtype),
                           what="TTIndex.train", n_vectors=self.ntotal, training=True)
        self.mode_sizes, self.ranks = mode_sizes, ranks
        if self.train_size is not None and self.train_size < X.shape[0]:
            X = xp.take(X, random_choice(self.seed, X.shape[0], self.train_size, xp=xp), axis=0)
        start = time.perf_counter()
        options = {**INDEX_FIT_DEFAULTS, **self.fit_options}
        self.fit_result = fit_point_cloud(X, mode_sizes, ranks, seed=self.seed, **options)
        self.train_seconds = time.perf_counter() - start
        cloud = self.fit_result.cloud
        lists = InvertedLists(self.n_buckets, self.dim, cloud.dtype, xp=xp, next_id=old.next_id if old else 0)
        self._set_parts(cloud, lists)
        if old is not None:
            lists.insert(old.vectors, old.ids, self._assign(xp.astype(old.vectors, cloud.dtype)))
        return self

    def _set_parts(self, cloud, lists) -> None:
        if cloud.dim != self.dim or tuple(cloud.mode_sizes) != self.mode_sizes or tuple(cloud.ranks) != self.ranks:
            raise ArgumentValueError(
                f"cloud has dimension {cloud.dim}, mode sizes {tuple(cloud.mode_sizes)} and ranks "
                f"{tuple(cloud.ranks)}; the index {self.dim}, {self.mode_sizes} and {self.ranks}")
        self.cloud, self._tables, self._lists, self._masked = cloud, BeamTables.from_cloud(cloud), lists, None

    def _check_memory(self, itemsize: int, n_vectors: int, *, what: str) -> None:
        check_index_memory(self.dim, self.mode_sizes, self.ranks, itemsize, what=what, n_vectors=n_vectors)

    # ------------------------------------------------------------------ updates
    def add(self, X, ids=None) -> None:
        """Add vectors ``X`` (``(n, D)``) with integer ``ids`` (default: running numbers).

        Each vector goes to the bucket of its nearest TT point. Ids must be unique in the
        index, non-negative and at most ``2**63 - 1``.
        """
        self._require_trained()
        X = self._check_vectors(X, name="X")
        n = X.shape[0]
        ids = self._lists.new_ids(n) if ids is None else self._lists.check_ids(ids, n)
        if n == 0:
            return
        self._check_memory(itemsize(X.dtype), self.ntotal + n, what="TTIndex.add")
        self._lists.insert(X, ids, self._assign(X))

    def _assign(self, vectors):
        return assign_buckets(vectors, method=self.assign, cloud=self.cloud, tables=self._tables,
                              beam=self.assign_beam, budget=chunk_budget(self.xp), xp=self.xp)

    def remove(self, ids) -> int:
        """Remove the vectors with these ids; returns how many were removed."""
        self._require_trained()
        return self._lists.remove(self._lists.check_ids(ids))

    # ------------------------------------------------------------------ search
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
        scan : {"auto", "lists", "gather", "faiss"}
            How candidates are scored: ``"lists"`` (one matrix product per probed bucket
            on the stored rows) or ``"gather"`` (copy the candidates, one batched
            product). ``"auto"``: ``"gather"`` on CuPy, ``"lists"`` elsewhere (measured
            the faster on each; docs/guide-index.md). ``"faiss"``: the same candidates
            scanned by faiss (float32 NumPy indexes, faiss installed). Same ids up to
            rounding ties.
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
            raise ArgumentValueError("the index is empty: add vectors before searching")
        Q = self._check_vectors(Q, name="Q")
        xp, lists = self.xp, self._lists
        k, beam, n_probe, n_candidates, chunk_size = check_search_arguments(
            k, beam, n_probe, n_candidates, chunk_size, ntotal=self.ntotal)
        scan = check_choice(scan, _SCANS, name="scan")
        if scan == "auto":
            scan = "gather" if self.backend == "cupy" else "lists"
        if scan == "faiss":
            check_faiss_scan(self.backend, lists.dtype, filtered=allow is not None, n_candidates=n_candidates)
        allowed = allow_ids = None
        if allow is not None:
            allow_ids = xp.sort(lists.check_ids(allow, name="allow"), stable=False)
            allowed = lists.contains(allow_ids)
        d, ids, self.last_search_stats = search_batches(Q, self._search_tables(), lists, k, beam=beam, n_probe=n_probe,
                                                        n_candidates=n_candidates, scan=scan, allowed=allowed,
                                                        chunk_size=chunk_size, xp=xp, allow_ids=allow_ids)
        return d, ids

    def _search_tables(self) -> BeamTables:
        """The beam tables with empty leaves at ``inf``, rebuilt once per change of the lists."""
        if self._masked is None or self._masked[0] != self._lists.version:
            nonempty = self._lists.bucket_sizes() > 0
            self._masked = (self._lists.version, self._tables.with_empty_leaves(nonempty, self.xp))
        return self._masked[1]

    # ------------------------------------------------------------------ diagnostics
    def centre_sq_distances(self, Q, level: int):
        """Squared distances from each query to every centre of ``level`` (factorized).

        Level ``m`` (``1 <= m <= k``) has ``n_1 ... n_m`` centres in C order; level ``k`` are
        the TT points; for tests and diagnostics (cost grows with the level).
        """
        self._require_trained()
        Q = self._check_vectors(Q, name="Q")
        level = check_int(level, name="level", minimum=1, maximum=len(self.mode_sizes))
        check_allocation(Q.shape[0] * math.prod(self.mode_sizes[:level]) * max(self.ranks[:level] or (1,)),
                         itemsize(self.cloud.dtype), what=f"centre_sq_distances level {level}")
        return centre_sq_distances(self._tables, Q, level, xp=self.xp)

    def stats(self) -> dict:
        """Bucket statistics of the index.

        Returns a dict with ``ntotal``, ``n_buckets``, ``bucket_sizes`` (NumPy int64,
        ``(P,)``), ``empty_buckets``, ``max_bucket_size``, ``expected_bucket_size`` (sum of
        squared sizes / N: the mean size of the bucket a random vector is in),
        ``bytes_per_vector`` (everything stored, raw vectors included),
        ``overhead_bytes_per_vector`` (beyond the raw vectors) and ``n_params``.
        """
        self._require_trained()
        return bucket_stats(self._lists, itemsize=itemsize(self.cloud.dtype), n_params=int(self.cloud.n_params),
                            table_entries=self._tables.n_entries)

    # ------------------------------------------------------------------ persistence, backends
    def save(self, path) -> None:
        """Write the index to ``path`` (``.npz``, atomic, no pickle; specs/index.md §File format)."""
        save_index(self, path)

    @classmethod
    def load(cls, path, backend: str = "numpy") -> "TTIndex":
        """Read an index written by :meth:`save` onto ``backend``; the whole file is checked first."""
        return load_index(cls, path, check_choice(backend, BACKENDS, name="backend"))

    def to_backend(self, backend: str) -> "TTIndex":
        """A copy of the index on ``backend`` (same values)."""
        check_choice(backend, BACKENDS, name="backend")
        new = TTIndex(self.dim, *self._requested, self.metric, assign=self.assign, assign_beam=self.assign_beam,
                      train_size=self.train_size, seed=self.seed, fit_options=self.fit_options)
        if self.is_trained:
            new.mode_sizes, new.ranks = self.mode_sizes, self.ranks
            new._set_parts(self.cloud.to_backend(backend), self._lists.to_backend(backend))
        return new

    # ------------------------------------------------------------------ validation
    def _require_trained(self) -> None:
        if not self.is_trained:
            raise ArgumentValueError("the index is not trained: call train(X) (or build it with TTIndex.from_point_cloud)")

    def _check_vectors(self, X, *, name: str, require_same_backend: bool = True):
        same = self.is_trained and require_same_backend
        return check_vectors(X, name=name, dim=self.dim, metric=self.metric, backend=self.backend if same else None,
                             dtype=self.cloud.dtype if same else None)
