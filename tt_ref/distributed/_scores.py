"""Anomaly scores of a large test set against a memory bank, by blocks (specs/distributed.md §Anomaly scores).

The fitted detector (its memory bank: an array or a TT cloud) becomes one key of the
graph, so each worker receives it once; every row block is then scored by
``map_blocks`` with the detector's own ``kth_distance``.
"""

from __future__ import annotations

from .._backend import ArgumentTypeError
from ._client import require_dask
from ._sample import as_dask_array, chunk_meta

__all__ = ["kth_distances"]


def kth_distances(detector, X):
    """The anomaly detector's ``kth_distance`` of every row of the Dask array ``X``, by blocks.

    ``detector`` is a fitted :class:`tt_ref.KNNDetector` (its memory bank, array or TT
    cloud, goes to each worker once); returns a lazy 1-D Dask array (``compute()`` it),
    equal block by block to ``detector.kth_distance`` in memory.

    Examples
    --------
    >>> import numpy as np, dask.array as da
    >>> from tt_ref.ood import KNNDetector
    >>> from tt_ref.distributed import kth_distances
    >>> bank = np.array([[0.0, 0.0], [1.0, 0.0]])
    >>> detector = KNNDetector(k=1).fit(bank)
    >>> kth_distances(detector, da.from_array(np.array([[0.0, 3.0], [1.0, 0.0]]), chunks=(1, 2))).compute().tolist()
    [3.0, 0.0]
    """
    dask, _, _ = require_dask()
    if not callable(getattr(detector, "kth_distance", None)) or not hasattr(detector, "offset_"):
        raise ArgumentTypeError(f"detector must be a fitted KNNDetector, got {type(detector).__name__}")
    X = as_dask_array(X, name="X")
    fitted = dask.delayed(detector)
    return X.map_blocks(_score_block, fitted, drop_axis=1, dtype=X.dtype, meta=chunk_meta(X, 1))


def _score_block(block, detector):
    return detector.kth_distance(block)
