"""Dask arrays in, and the training sample with the host seed contract (specs/distributed.md §Training).

The in-memory index trains on ``X[random_choice(seed, N, train_size)]`` (indices drawn on
the host from ``numpy.random.Generator``). Here the same indices are drawn on the client,
sorted so that each block is read once, gathered from the Dask array, and put back in
the drawn order: the same seed gives the same rows in the same order, so the fit (same
seed, same rows) gives the same cloud.
"""

from __future__ import annotations

import numpy as np

from .._backend import ArgumentTypeError, ArgumentValueError, array_namespace, backend_name, namespace_for, random_choice
from ._client import require_dask

__all__ = ["as_dask_array", "sample_indices", "training_sample", "chunk_meta"]


def as_dask_array(X, *, dim: int | None = None, name: str = "X"):
    """``X`` as a 2-D Dask array with one chunk across the columns and known row chunks.

    A NumPy or CuPy array is wrapped (one block per 65,536 rows); a Dask array with
    unknown chunk sizes has them computed.
    """
    _, da, _ = require_dask()
    if not isinstance(X, da.Array):
        if not hasattr(X, "shape") or not hasattr(X, "dtype"):
            raise ArgumentTypeError(f"{name} must be a Dask array (or a NumPy / CuPy array), got {type(X).__name__}")
        X = da.from_array(X, chunks=(65536, -1))
    if X.ndim != 2:
        raise ArgumentValueError(f"{name} must be 2-D (rows are vectors), got shape {X.shape}")
    if any(c != c for c in X.chunks[0]):  # NaN: unknown sizes (after a boolean mask, for instance)
        X = X.compute_chunk_sizes()
    if dim is not None and X.shape[1] != dim:
        raise ArgumentValueError(f"{name} has dimension {X.shape[1]} but the index has dimension {dim}")
    if len(X.chunks[1]) != 1:
        X = X.rechunk({1: -1})
    return X


def sample_indices(n: int, size: int | None, seed: int) -> np.ndarray | None:
    """The rows a training sample takes, in order (None: all rows), as ``TTIndex.train`` draws them.

    Examples
    --------
    >>> sample_indices(10, 3, seed=0).tolist() == random_choice(0, 10, 3, xp=np).tolist()
    True
    >>> sample_indices(10, 20, seed=0) is None
    True
    """
    if size is None or size >= n:
        return None
    return np.asarray(random_choice(seed, n, size, xp=namespace_for("numpy")))


def training_sample(X, size: int | None, seed: int, *, client):
    """A future of the training rows of the Dask array ``X`` (chunk type kept: NumPy or CuPy)."""
    rows = sample_indices(int(X.shape[0]), size, seed)
    if rows is None:
        return client.compute(X)
    order = np.argsort(rows, kind="stable")
    picked = X[rows[order], :]  # sorted: each block read once, never a sort of the chunked axis
    return client.submit(_reorder, client.compute(picked), np.argsort(order, kind="stable"), pure=False)


def _reorder(picked, inverse):
    xp = array_namespace(picked)
    return xp.take(picked, xp.asarray(inverse), axis=0)


def chunk_meta(X, ndim: int):
    """An empty array of ``X``'s chunk type with ``ndim`` dimensions (so Dask keeps CuPy chunks CuPy)."""
    meta = getattr(X, "_meta", None)
    if meta is None or backend_name(array_namespace(meta)) == "numpy":
        return np.empty((0,) * ndim, dtype=np.float64 if ndim == 3 else X.dtype)
    xp = array_namespace(meta)
    return xp.empty((0,) * ndim, dtype=xp.float64 if ndim == 3 else meta.dtype)
