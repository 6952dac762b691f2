"""The sharded TT index on a Dask cluster (specs/distributed.md).

:class:`ShardedIndex` keeps on the client only what is small: the TT cloud and its beam
tables, the bucket sizes, the shard boundaries, the id counter and the shards' checksums.
The vectors live in shards on the workers (:mod:`._shard`); the task graphs are in
:mod:`._graphs`. Every change builds new shards and is committed only once all of them
exist and their counts and id checksums add up; otherwise the index keeps its previous,
whole state and the call raises.
"""

from __future__ import annotations

import time

import numpy as np

from .._backend import (
    dtype_name,
    ArgumentValueError,
    InputError,
    check_choice,
    check_optional_int,
)
from ..search._beam import BeamTables
from ..search._checks import check_search_arguments, check_vectors
from ..search._config import resolve_config
from ..search._index import TTIndex
from ..search._scan import projects_kept_prefixes, search_stats
from . import _graphs
from ._client import get_client, require_dask, worker_addresses
from ._errors import ShardedIndexError
from ._ledger import Ledger, host_ids
from ._plan import LAYOUTS, Router
from ._sample import as_dask_array, training_sample

__all__ = ["ShardedIndex"]

_SCANS = ("auto", "lists", "gather")
_SETTLE_SECONDS = 120  # how long a failed call waits for its old shards to be rebuilt


class ShardedIndex:
    """A TT index whose vectors are sharded over the workers of a Dask cluster.

    Same tree of buckets, same assignment and same search as :class:`tt_ref.TTIndex`;
    for the same cloud and vectors, ``search`` returns the same ids (distances to
    rounding). The beam runs once per query batch; each shard gets only the queries and
    buckets it owns; the shards' top-k lists are merged with the single index's tie order.

    Parameters
    ----------
    dim, mode_sizes, ranks, metric, assign, assign_beam, train_size, seed, fit_options
        As :class:`tt_ref.TTIndex`.
    n_shards : int, optional
        Number of shards (fixed at the first ``add``; default twice the workers then).
    layout : {"buckets", "rows"}
        ``"buckets"``: each shard owns a contiguous range of leaf buckets, cut at the
        first ``add`` so the shards hold about equal numbers of vectors (a query touches
        only the shards of its buckets). ``"rows"``: each shard holds a share of every
        bucket's rows (even shards; every probed bucket touches every shard;
        ``n_probe`` searches only). docs/results-scale-out.md measures both.
    client : distributed.Client, optional
        Default: the current client.

    Examples
    --------
    >>> import numpy as np, dask.array as da
    >>> from tt_ref.cloud._point_cloud import TTPointCloud
    >>> from tt_ref.distributed import ShardedIndex, connect
    >>> X = np.random.default_rng(0).standard_normal((400, 6))
    >>> cloud = TTPointCloud.random(6, (4, 4), (2,), seed=0)
    >>> with connect("local:2", processes=False) as client:
    ...     index = ShardedIndex.from_point_cloud(cloud, n_shards=3, client=client)
    ...     index.add(da.from_array(X, chunks=(100, 6)))
    ...     dist, ids = index.search(X[:2], 3, n_probe=4)
    ...     index.ntotal, ids[:, 0].tolist()
    (400, [0, 1])
    """

    def __init__(self, dim: int, mode_sizes="auto", ranks="auto", metric: str = "l2", *, n_shards: int | None = None,
                 layout: str = "buckets", client=None, assign: str = "beam", assign_beam: int = 32,
                 train_size: int | None = None, seed: int = 0, fit_options: dict | None = None):
        self._index = TTIndex(dim, mode_sizes, ranks, metric, assign=assign, assign_beam=assign_beam,
                              train_size=train_size, seed=seed, fit_options=fit_options)
        self.n_shards = check_optional_int(n_shards, name="n_shards", minimum=1)
        self.layout = check_choice(layout, LAYOUTS, name="layout")
        self._client = None if client is None else get_client(client)
        self._shards = self._bounds = self._router = self._state = self._lost = None
        self._ledger = Ledger()
        self.last_search_stats: dict = {}

    # ------------------------------------------------------------------ properties
    dim = property(lambda self: self._index.dim, doc="Dimension ``D`` of the vectors.")
    metric = property(lambda self: self._index.metric, doc="``\"l2\"`` or ``\"cosine\"``.")
    mode_sizes = property(lambda self: self._index.mode_sizes, doc="``(n_1, ..., n_k)`` (or ``\"auto\"``).")
    ranks = property(lambda self: self._index.ranks, doc="TT ranks (or ``\"auto\"``).")
    cloud = property(lambda self: self._index.cloud, doc="The TT point cloud (None before training).")
    is_trained = property(lambda self: self._index.is_trained, doc="Whether the cloud is set.")
    bounds = property(lambda self: self._bounds, doc="Bucket boundaries of the shards (layout ``\"buckets\"``).")
    ntotal = property(lambda self: self._ledger.ntotal, doc="Number of vectors in the index.")
    next_id = property(lambda self: self._ledger.next_id, doc="The first running id the next ``add`` hands out.")

    @property
    def client(self):
        """The Dask client the index uses."""
        if self._client is None:
            self._client = get_client()
        return self._client

    @property
    def backend(self) -> str | None:
        """Backend of the cloud and the shards' arrays (None before training)."""
        return self._index.backend

    def bucket_sizes(self) -> np.ndarray:
        """Vectors per leaf bucket over all shards (host int64 ``(P,)``)."""
        self._require_trained()
        sizes = self._ledger.sizes
        return np.zeros(self._index.n_buckets, dtype=np.int64) if sizes is None else sizes.copy()

    def __repr__(self) -> str:
        return (f"ShardedIndex(dim={self.dim}, mode_sizes={self.mode_sizes}, layout={self.layout!r}, "
                f"n_shards={self.n_shards}, ntotal={self.ntotal})")

    def __reduce__(self):
        raise TypeError("a ShardedIndex lives on a Dask cluster and does not pickle: save() it and load() it")

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_point_cloud(cls, cloud, metric: str = "l2", *, n_shards=None, layout="buckets", client=None,
                         **options) -> "ShardedIndex":
        """A trained, empty sharded index whose buckets are the points of ``cloud``."""
        base = TTIndex.from_point_cloud(cloud, metric, **options)
        index = cls(base.dim, base.mode_sizes, base.ranks, metric, n_shards=n_shards, layout=layout,
                    client=client, **options)
        index._index = base
        return index

    def train(self, X) -> "ShardedIndex":
        """Fit the cloud on the Dask array ``X`` (or a seeded sample of ``train_size`` rows).

        The sample is drawn with the host seed contract (``random_choice(seed, N,
        train_size)``), gathered, and fitted on a worker: the same seed gives the same
        rows and the same cloud as ``TTIndex.train`` on the same rows in memory.
        """
        if self.ntotal:
            raise ArgumentValueError(f"the index holds {self.ntotal} vectors: train a new ShardedIndex instead")
        X = as_dask_array(X, dim=self.dim, name="X")
        base = self._index
        mode_sizes, ranks = resolve_config(base.mode_sizes, base.ranks, X.shape[0])  # "auto" from all N rows
        config = TTIndex(self.dim, mode_sizes, ranks, base.metric, assign=base.assign, assign_beam=base.assign_beam,
                         train_size=base.train_size, seed=base.seed, fit_options=base.fit_options)
        sample = training_sample(X, base.train_size, base.seed, client=self.client)
        trained = self.client.submit(_train, config, sample, pure=False).result()
        self._index, self._router, self._state = trained, None, None
        return self

    # ------------------------------------------------------------------ updates
    def add(self, X, ids=None) -> None:
        """Add the rows of the Dask array ``X`` (ids: running numbers, or host integers).

        Rows are checked and assigned on the workers (the cloud goes to each worker once)
        and merged into new shards; the index switches to them only when their counts and
        id checksums add up.
        """
        self._require_trained()
        X = as_dask_array(X, dim=self.dim, name="X")
        n = int(X.shape[0])
        client = self.client
        first_id, ids, expected = self._ledger.expect_add(ids, n)
        if ids is not None and self._present(np.unique(ids)).size:
            raise ArgumentValueError("ids must be unique and not already in the index")
        if n == 0:
            return
        workers = worker_addresses(client)
        router = self._router_future()
        assigned = _graphs.assign_graph(client, X, router, first_id=first_id, ids=ids)
        shards, bounds = self._shards, self._bounds
        try:
            if shards is None:
                n_shards, n_buckets = self.n_shards or 2 * len(workers), self._index.n_buckets
                if self.layout == "buckets":
                    bounds = _graphs.balanced_bounds(_graphs.histogram(client, assigned, n_buckets),
                                                     min(n_shards, n_buckets))
                ranges = list(zip(bounds[:-1], bounds[1:])) if bounds else [(0, n_buckets)] * n_shards
                shards = _graphs.new_shards(client, workers, ranges, dim=self.dim, dtype=self._dtype_name(),
                                            backend=self.backend)
            new = _graphs.add_graph(client, workers, shards, assigned, _graphs.block_starts(X.chunks[0]),
                                    bounds=bounds, layout=self.layout, first_row=self.ntotal)
            summaries = _graphs.summaries(client, new)
        except InputError:
            raise
        except Exception as exc:
            raise self._fault("add", exc) from exc
        self._commit(new, summaries, bounds, expected=expected)

    def remove(self, ids) -> int:
        """Remove the vectors with these ids (host integers) from every shard; returns how many."""
        self._require_trained()
        sorted_ids = np.unique(host_ids(ids, name="ids"))
        if self._shards is None or sorted_ids.size == 0:
            return 0
        try:
            present = self._present(sorted_ids)
            if present.size == 0:
                return 0
            new = _graphs.remove_graph(self.client, worker_addresses(self.client), self._shards, sorted_ids)
            summaries = _graphs.summaries(self.client, new)
        except InputError:
            raise
        except Exception as exc:
            raise self._fault("remove", exc) from exc
        self._commit(new, summaries, self._bounds, expected=self._ledger.expect_remove(present))
        return int(present.size)

    # ------------------------------------------------------------------ search
    def search(self, Q, k: int, *, beam: int = 32, n_probe: int | None = None, n_candidates: int | None = None,
               scan: str = "auto", chunk_size: int | None = None):
        """The ``k`` approximate nearest neighbours of each row of ``Q`` (an array on the index's backend).

        Arguments as :meth:`tt_ref.TTIndex.search` (``allow`` is not supported);
        ``chunk_size`` is the query batch (default 1024): one beam task, one scan task
        per shard with work, one merge task per batch. Returns ``(distances, ids)`` on
        the index's backend, and fills ``last_search_stats``.
        """
        self._require_trained()
        if self.ntotal == 0:
            raise ArgumentValueError("the index is empty: add vectors before searching")
        base = self._index
        Q = check_vectors(Q, name="Q", dim=self.dim, metric=self.metric, backend=self.backend, dtype=self.cloud.dtype)
        k, beam, n_probe, n_candidates, chunk_size = check_search_arguments(
            k, beam, n_probe, n_candidates, chunk_size, ntotal=self.ntotal)
        if self.layout == "rows" and n_probe is None:
            raise ArgumentValueError("layout='rows' searches with n_probe only: a cut by n_candidates needs the "
                                     "order of each bucket's rows across shards (use layout='buckets')")
        scan = check_choice(scan, _SCANS, name="scan")
        scan = ("gather" if self.backend == "cupy" else "lists") if scan == "auto" else scan
        start = time.perf_counter()
        try:
            batches = _graphs.search_graph(
                self.client, self._state_future(), self._shards, Q, k, batch=chunk_size or 1024, beam=beam,
                n_probe=n_probe, n_candidates=n_candidates, scan=scan, layout=self.layout, backend=self.backend,
                dtype=self._dtype_name())
        except InputError:
            raise
        except Exception as exc:
            raise self._fault("search", exc) from exc
        xp = base.xp
        n_q = max(Q.shape[0], 1)
        n_cand = sum(b[2] for b in batches)
        by_prefix = projects_kept_prefixes(base._tables, beam, base.xp)  # as plan_batch decides
        self.last_search_stats = {**search_stats(base._tables, beam, by_prefix, n_cand / n_q),
                                  "batches": len(batches), "seconds": time.perf_counter() - start}
        if not batches:
            return xp.zeros((0, k), dtype=self.cloud.dtype), xp.zeros((0, k), dtype=xp.int64)
        return xp.concat([b[0] for b in batches], axis=0), xp.concat([b[1] for b in batches], axis=0)

    # ------------------------------------------------------------------ persistence, inspection
    def save(self, path) -> None:
        """Write one atomic file per shard (by the workers) and then the manifest ``path``.

        The workers and the client must see the same file system (local disk on one
        machine, a shared one on a cluster). specs/distributed.md §Files.
        """
        from ._persist import save_sharded

        self._require_whole()
        save_sharded(self, path)

    @classmethod
    def load(cls, path, *, client=None, backend: str = "numpy") -> "ShardedIndex":
        """Read a manifest and its shard files onto the workers of ``client`` (any number of them)."""
        from ._persist import load_sharded

        return load_sharded(cls, path, client=client, backend=backend)

    def gather_ids(self) -> np.ndarray:
        """Every stored id, gathered to the client (host int64; for checks on small sets)."""
        self._require_whole()
        return _graphs.gather_ids(self.client, self._shards or [])

    # ------------------------------------------------------------------ internals
    def _dtype_name(self) -> str:
        return dtype_name(self.cloud.dtype)

    def _require_trained(self) -> None:
        if not self.is_trained:
            raise ArgumentValueError("the index is not trained: call train(X) (or ShardedIndex.from_point_cloud)")
        self._require_whole()

    def _require_whole(self) -> None:
        if self._lost is not None:
            raise ShardedIndexError(f"the index is incomplete ({self._lost}); load it again from its last save")

    def _present(self, sorted_ids) -> np.ndarray:
        """Which of the sorted host ids the shards hold (host int64)."""
        return _graphs.present_ids(self.client, self._shards or [], sorted_ids)

    def _commit(self, shards, summaries, bounds, *, expected) -> None:
        """Switch to ``shards`` if their summaries add up to ``expected`` ``(count, sum, sum of squares)``."""
        self._ledger = self._ledger.after(summaries, self._index.n_buckets, expected)
        self._shards, self._bounds, self.n_shards, self._state = list(shards), bounds, len(shards), None

    def _fault(self, what: str, exc: Exception) -> ShardedIndexError:
        """The error of a failed operation; the index is marked incomplete if one of its own
        shards cannot be rebuilt (Dask recomputes a shard lost with a worker from its lineage)."""
        _, _, distributed = require_dask()
        shards = self._shards or []
        try:
            distributed.wait(shards, timeout=_SETTLE_SECONDS)
        except Exception:  # a shard that does not settle counts as lost below
            pass
        lost = [j for j, f in enumerate(shards) if f.status != "finished"]
        if lost:
            self._lost = f"shards {lost} were lost and cannot be rebuilt"
            return ShardedIndexError(f"{what} failed: {type(exc).__name__}: {exc}; {self._lost}: the index is "
                                     "incomplete; load it again from its last save")
        return ShardedIndexError(f"{what} failed on the cluster: {type(exc).__name__}: {exc}; the index is "
                                 f"unchanged ({self.ntotal} vectors)")

    def _router_future(self):
        if self._router is None:
            base = self._index
            router = Router(base.cloud, BeamTables.from_cloud(base.cloud), base.metric, base.assign, base.assign_beam)
            self._router = self.client.submit(_same, router, pure=False)
        return self._router

    def _state_future(self):
        """The search state (tables with empty leaves at ``inf``, counts), sent once per change."""
        if self._state is None:
            state = self._ledger.search_state(self.cloud, self.layout, self._bounds)
            self._state = self.client.submit(_same, state, pure=False)
        return self._state


def _train(config: TTIndex, sample) -> TTIndex:
    return config.train(sample)


def _same(value):
    return value
