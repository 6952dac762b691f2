"""Evaluating a TT tensor: the dense tensor and batches of elements.

Definitions, index order and tolerances are in ``specs/evaluate.md``.
"""

from __future__ import annotations

import math

from .._backend import (
    ArgumentIndexError,
    ArgumentTypeError,
    ArgumentValueError,
    array_namespace,
    check_int,
    to_floats,
    to_numpy,
)
from .._backend._neighbors import finfo
from ._tensor_train import TensorTrain

__all__ = ["full", "get_many"]

# Flat (C-order) indices are int64; a tensor with more elements cannot be addressed by them.
_INT64_MAX = 2**63 - 1
# Numbers of gathered core slabs held at once by get_many (chunk * r^2): cache-sized
# on the host, larger on a GPU where each chunk costs kernel launches.
_CHUNK_ENTRIES = {"numpy": 2**18, "array_api_strict": 2**18, "cupy": 2**24}


def _require_tt(tt, name: str = "tt") -> TensorTrain:
    if not isinstance(tt, TensorTrain):
        raise ArgumentTypeError(f"{name} must be a TensorTrain, got {type(tt).__name__}")
    return tt


def _contraction_cores(tt: TensorTrain) -> tuple:
    """The cores to contract: ``tt``'s own when no partial product can leave the normal
    range (judged on the core maxima, one host read), else those of
    ``orthogonalize(tt)``, whose partial products have orthonormal columns (entries at
    most 1) and whose last core carries the norm (``specs/evaluate.md`` §Range)."""
    xp = tt.xp
    maxima = to_floats(*(xp.max(xp.abs(core)) for core in tt.cores))
    if any(m == 0.0 for m in maxima):
        return tt.cores  # a zero core: the tensor is zero, every product is exact
    info = finfo(tt.dtype)
    low, high = info.minexp + info.nmant + 1, info.maxexp - 2
    bound = 0.0  # log2 of a bound on the entries of the partial product P_j
    for m, rank_in, rank_out in zip(maxima, tt.ranks[:-1], tt.ranks[1:]):
        bound += math.log2(m) + math.log2(rank_in)
        if not low <= math.log2(m) <= high or not low <= bound <= high - math.log2(rank_out):
            from ._rounding import orthogonalize  # the algorithm layer beside this one

            return orthogonalize(tt, "left").cores
    return tt.cores


def full(tt: TensorTrain):
    """The dense tensor ``A[i_1, ..., i_d]`` of a TT tensor (C order, ``i_1`` slowest).

    Contracts the cores left to right, keeping a ``(n_1 ... n_j, r_j)`` matrix, so the
    cost is ``O(prod(shape) * r)`` and the memory that of the result. Only for tensors
    that fit in memory; use :func:`get_many` for a few elements of a large one.

    Parameters
    ----------
    tt : TensorTrain

    Returns
    -------
    array of shape ``tt.shape``, on ``tt``'s backend and of its dtype.

    Examples
    --------
    >>> import numpy as np
    >>> from tt_ref import TensorTrain, full
    >>> tt = TensorTrain([np.ones((1, 2, 1)), np.reshape(np.arange(3.0), (1, 3, 1))])
    >>> full(tt).tolist()
    [[0.0, 1.0, 2.0], [0.0, 1.0, 2.0]]
    """
    tt = _require_tt(tt)
    xp = tt.xp
    cores = _contraction_cores(tt)
    # (prefix, r_j) matrix; the prefix index runs over i_1..i_j in C order.
    result = xp.reshape(cores[0], (cores[0].shape[1], cores[0].shape[2]))
    for core in cores[1:]:
        rank_in, size, rank_out = core.shape
        result = result @ xp.reshape(core, (rank_in, size * rank_out))
        result = xp.reshape(result, (result.shape[0] * size, rank_out))
    return xp.reshape(result, tt.shape)


def _multi_indices(tt: TensorTrain, indices, xp):
    """Validate ``indices`` and return them as an int64 ``(B, d)`` array on ``xp``."""
    shape = tt.shape
    d = len(shape)
    if isinstance(indices, (list, tuple)):
        # No dtype forced: a list of floats must fail the integer check below, not truncate.
        indices = xp.asarray(indices)
        if indices.size == 0:
            indices = xp.astype(indices, xp.int64)
    else:
        # Mixing backends is a TypeError naming both arguments.
        array_namespace(tt.cores[0], indices, names=("tt", "indices"))
    if not xp.isdtype(indices.dtype, "integral"):
        raise ArgumentTypeError(f"indices must be an integer array, got dtype {indices.dtype}")
    indices = xp.astype(indices, xp.int64)
    if indices.ndim == 1:
        total = math.prod(shape)
        if total > _INT64_MAX:
            raise ArgumentValueError(
                f"flat indices cannot address a tensor of {total} elements (more than int64 holds); "
                f"pass multi-indices of shape (B, {d})"
            )
        if indices.shape[0] > 0:
            low, high = int(xp.min(indices)), int(xp.max(indices))
            if low < 0 or high >= total:
                bad = low if low < 0 else high
                raise ArgumentIndexError(f"flat index {bad} is out of range for a tensor of {total} elements (shape {shape})")
        # C order: i_1 is the slowest index.
        columns = []
        stride = total
        for size in shape:
            stride //= size
            columns.append((indices // stride) % size)
        return xp.stack(columns, axis=1)
    if indices.ndim != 2 or indices.shape[1] != d:
        raise ArgumentValueError(
            f"indices must have shape (B, {d}) (one column per mode) or (B,) (flat C-order indices), "
            f"got shape {tuple(indices.shape)}"
        )
    if indices.shape[0] > 0:
        # One host transfer for the range check of every column.
        low = to_numpy(xp.min(indices, axis=0)).tolist()
        high = to_numpy(xp.max(indices, axis=0)).tolist()
        for mode, size in enumerate(shape):
            if low[mode] < 0 or high[mode] >= size:
                bad = low[mode] if low[mode] < 0 else high[mode]
                raise ArgumentIndexError(
                    f"indices[:, {mode}] holds {bad}, out of range for mode {mode} of size {size} "
                    f"(expected 0 <= index < {size})"
                )
    return indices


def get_many(tt: TensorTrain, indices, *, chunk_size: int | None = None):
    """Elements of a TT tensor at a batch of multi-indices, contracted core by core.

    For each core the slices ``G_j[:, i_j, :]`` of a chunk of the batch are gathered
    with ``take`` and multiplied into a ``(chunk, r_j)`` running product: cost
    ``O(B d r^2)``, memory ``O(chunk r^2)``; the full tensor is never formed.

    Parameters
    ----------
    tt : TensorTrain
    indices : int array of shape (B, d), or (B,)
        Multi-indices, one row per element, ``0 <= indices[:, j] < tt.shape[j]``
        (negative indices are rejected). A 1-D array holds flat indices in C order
        (``i_1`` slowest), ``0 <= index < prod(tt.shape)``. A nested list is converted on
        ``tt``'s backend; an array must come from ``tt``'s backend.
    chunk_size : int, optional
        Rows per chunk; by default ``2**18 // max_rank**2`` (at least 256) on the host,
        so the gathered slabs stay near 2 MB in float64, and ``2**24 // max_rank**2`` on
        CuPy, where each chunk costs kernel launches. Only the speed depends on it (and
        the last bits, where the backend's batched matmul changes kernels).

    Returns
    -------
    array of shape (B,)

    Raises
    ------
    IndexError
        An index out of range (the message names the mode and the value).
    ValueError
        ``indices`` of the wrong shape.
    TypeError
        Non-integer ``indices``, or ``indices`` from another backend.

    Examples
    --------
    >>> import numpy as np
    >>> from tt_ref import get_many, full, random_tt
    >>> tt = random_tt((3, 4, 5), 2, seed=0)
    >>> values = get_many(tt, np.array([[0, 1, 2], [2, 3, 4]]))
    >>> dense = full(tt)
    >>> bool(np.allclose(values, [dense[0, 1, 2], dense[2, 3, 4]]))
    True
    >>> bool(np.allclose(get_many(tt, np.array([0, 59])), [dense[0, 0, 0], dense[2, 3, 4]]))
    True
    """
    tt = _require_tt(tt)
    xp = tt.xp
    indices = _multi_indices(tt, indices, xp)
    batch = indices.shape[0]
    if batch == 0:
        return xp.zeros((0,), dtype=tt.dtype, device=tt.device)
    if chunk_size is None:
        # The gathered slabs take chunk * r^2 numbers: near 2**18 (2 MB in float64) on
        # the host measured 3-5x faster than one pass over a 100k batch (docs/guide-tt.md).
        chunk_size = max(256, _CHUNK_ENTRIES[tt.backend] // tt.max_rank**2)
    else:
        chunk_size = check_int(chunk_size, name="chunk_size", minimum=1)
    # (n_j, r_{j-1}, r_j) so that a gather along axis 0 gives (B, r_{j-1}, r_j).
    cores = _contraction_cores(tt)
    first = cores[0]
    first = xp.reshape(first, (first.shape[1], first.shape[2]))
    slab_cores = [xp.permute_dims(core, (1, 0, 2)) for core in cores[1:]]
    parts = []
    for start in range(0, batch, chunk_size):
        rows = indices[start : min(start + chunk_size, batch), :]
        size = rows.shape[0]
        result = xp.take(first, rows[:, 0], axis=0)  # (b, r_1)
        for mode, slabs_all in enumerate(slab_cores, start=1):
            _, rank_in, rank_out = slabs_all.shape
            slabs = xp.take(slabs_all, rows[:, mode], axis=0)
            result = xp.reshape(xp.reshape(result, (size, 1, rank_in)) @ slabs, (size, rank_out))
        parts.append(xp.reshape(result, (size,)))
    return parts[0] if len(parts) == 1 else xp.concat(parts)
