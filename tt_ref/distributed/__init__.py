"""Scale-out on Dask: the TT index, exact ground truth and anomaly scores over Dask arrays.

Needs the optional extra ``pip install "tt-ref[dask]"`` (``dask[array,distributed]``);
importing this package does not import Dask, every function does when called. Chunks
are NumPy arrays, or CuPy arrays on GPU workers (``dask_cuda``). One private module per job:

* ``_client``: ``local:N`` or a scheduler address (:func:`connect`), the optional import;
* ``_sample``: Dask arrays in, the training sample with the host seed contract;
* ``_shard``: a shard (inverted lists of a bucket range) and the pure functions on it;
* ``_plan``: assignment, the per-batch beam and its cut into per-shard work, the merge;
* ``_graphs``: the task graphs of add, remove and search;
* ``_index``: :class:`ShardedIndex`, the client-side facade;
* ``_persist``: one atomic file per shard plus a manifest;
* ``_knn``: exact k-nearest-neighbour ground truth (:func:`exact_knn`);
* ``_scores``: anomaly scores by blocks (:func:`kth_distances`).

See ``specs/distributed.md`` and ``docs/guide-scale-out.md``.
"""

from __future__ import annotations

from ._client import connect, parse_scheduler
from ._errors import ShardedIndexError
from ._index import ShardedIndex
from ._knn import exact_knn
from ._sample import sample_indices
from ._scores import kth_distances

__all__ = ["ShardedIndex", "ShardedIndexError", "connect", "parse_scheduler", "exact_knn", "kth_distances",
           "sample_indices"]
