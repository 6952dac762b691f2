"""Search: the TT index (beam search over the TT hierarchy), its default configuration,
exact nearest neighbours, and the evaluation measures (recall, QPS).

:class:`TTIndex` is a facade over separate parts (private modules): the centre tables
and beam search (``_beam``), bucket assignment (``_assign``), the CSR inverted lists
(``_lists``), leaf selection and scans (``_scan``), the file format (``_persist``), and
the defaults and memory estimate (``_config``). See ``specs/index.md``.
"""

from __future__ import annotations

from .._backend._neighbors import nearest_neighbors, squared_distances
from ._config import default_config
from ._evaluation import ground_truth, measure_qps, one_recall_at, pareto_front, recall_at_k
from ._index import TTIndex

__all__ = [
    "TTIndex", "default_config", "nearest_neighbors", "squared_distances", "recall_at_k", "one_recall_at",
    "ground_truth", "measure_qps", "pareto_front",
]
