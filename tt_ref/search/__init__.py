"""Search: the TT index (beam search over the TT hierarchy), exact nearest neighbours,
and the evaluation measures (recall, QPS).

See ``specs/index.md``.
"""

from __future__ import annotations

from .._backend._neighbors import nearest_neighbors, squared_distances
from ._evaluation import ground_truth, measure_qps, one_recall_at, pareto_front, recall_at_k
from ._index import TTIndex

__all__ = [
    "TTIndex", "nearest_neighbors", "squared_distances", "recall_at_k", "one_recall_at",
    "ground_truth", "measure_qps", "pareto_front",
]
