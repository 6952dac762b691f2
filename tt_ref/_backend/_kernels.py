"""Kernels the Array API standard lacks: scatter-add and top-k smallest.

Each has NumPy / CuPy fast paths and a standard-only path; tests check that they agree."""

from __future__ import annotations

import math

import numpy as np

from ._namespace import backend_name, work_elements

def scatter_add(n_rows: int, indices, values, *, xp, force_standard: bool = False):
    """Sum the rows of ``values`` into ``n_rows`` buckets: ``out[indices[b]] += values[b]``.

    Parameters
    ----------
    n_rows : int
        Number of output rows.
    indices : array of int, shape (B,)
        Destination row of each input row, in ``[0, n_rows)``.
    values : array, shape (B, ...)
        Rows to add.
    force_standard : bool
        Use the standard-only path (for tests of the fast paths).

    Returns
    -------
    array, shape (n_rows, ...)
    """
    trailing = tuple(values.shape[1:])
    name = backend_name(xp)
    if not force_standard and name == "numpy":
        out = np.zeros((n_rows,) + trailing, dtype=values.dtype)
        np.add.at(out, np.asarray(indices), np.asarray(values))
        return xp.asarray(out)
    if not force_standard and name == "cupy":
        import cupy
        import cupyx

        out = cupy.zeros((n_rows,) + trailing, dtype=values.dtype)
        cupyx.scatter_add(out, indices, values)
        return out
    # Standard-only: a one-hot matrix product, chunked so memory stays O(chunk * n_rows).
    width = 1
    for size in trailing:
        width *= int(size)
    flat = xp.reshape(values, (values.shape[0], width))
    out = xp.zeros((n_rows, flat.shape[1]), dtype=values.dtype)
    rows = xp.arange(n_rows, dtype=indices.dtype)
    chunk = max(1, 4_000_000 // max(n_rows, 1))
    n_in = flat.shape[0]
    for start in range(0, n_in, chunk):
        stop = min(start + chunk, n_in)
        onehot = xp.astype(indices[start:stop][:, None] == rows[None, :], values.dtype)
        out = out + xp.matrix_transpose(onehot) @ flat[start:stop, :]
    return xp.reshape(out, (n_rows,) + trailing)


# --------------------------------------------------------------------------- top-k
def take_along_last_axis(x, indices, *, xp):
    """``x[..., indices]`` row by row for 2-D ``x`` and 2-D ``indices``."""
    if hasattr(xp, "take_along_axis"):
        return xp.take_along_axis(x, indices, axis=-1)
    n_rows, n_cols = x.shape
    offsets = xp.reshape(xp.arange(n_rows, dtype=indices.dtype) * n_cols, (n_rows, 1))
    return xp.reshape(xp.take(xp.reshape(x, (-1,)), xp.reshape(indices + offsets, (-1,))), indices.shape)


def topk_smallest(x, k: int, *, xp, method: str = "auto"):
    """The ``k`` smallest entries of each row of 2-D ``x``, sorted ascending.

    Ties are broken by the smaller column index on every path, so all paths return
    the same indices (specs/backend.md §Top-k).

    Parameters
    ----------
    x : array, shape (n_rows, n_cols)
    k : int
        ``1 <= k <= n_cols``.
    method : {"auto", "sort", "blocks", "partition"}
        ``"sort"``: stable argsort of whole rows. ``"blocks"``: sort the minima of
        column blocks, then the candidates of the k best blocks (standard-only; far
        less to sort when ``k`` is small against the row). ``"partition"``: NumPy's
        ``argpartition`` (NumPy only). ``"auto"``: blocks for rows of at least
        ``64 k`` columns (measured faster than a full sort, and on long rows than
        argpartition), else partition on NumPy when ``k < n_cols / 4``, else sort.

    Returns
    -------
    values, indices : arrays of shape (n_rows, k)
    """
    n_cols = x.shape[-1]
    if not 1 <= k <= n_cols:
        raise ValueError(f"k must be in [1, {n_cols}], got {k}")
    if method not in ("auto", "sort", "blocks", "partition"):
        raise ValueError(f"method must be 'auto', 'sort', 'blocks' or 'partition', got {method!r}")
    is_numpy = backend_name(xp) == "numpy"
    if method == "partition" and not is_numpy:
        raise ValueError("method='partition' needs NumPy arrays")
    if method == "blocks" or (method == "auto" and n_cols >= 64 * k):
        return _topk_by_blocks(x, k, _topk_block_size(n_cols, k), xp=xp)
    # NumPy only: CuPy's argpartition sorts the whole row anyway (its documentation
    # says so), and the tie check below would cost a host sync there.
    if method == "partition" or (method == "auto" and is_numpy and k < n_cols // 4):
        raw = np.asarray(x)
        # Partition to k, then include every tie of the k-th value so tie-breaking by
        # index is exact: take the k+ties candidates, sort them by (value, index).
        part = np.argpartition(raw, k - 1, axis=-1)[..., :k]
        kth = np.max(np.take_along_axis(raw, part, axis=-1), axis=-1, keepdims=True)
        n_le = int(np.max(np.sum(raw <= kth, axis=-1)))
        if n_le <= 4 * k or method == "partition":
            if n_le == k:
                cand = part  # no tie straddles the k-th place (the usual case for float data)
            elif n_le < n_cols:
                cand = np.argpartition(raw, n_le - 1, axis=-1)[..., :n_le]
            else:
                cand = np.broadcast_to(np.arange(n_cols), raw.shape)
            cand = np.sort(cand, axis=-1)
            vals = np.take_along_axis(raw, cand, axis=-1)
            order = np.argsort(vals, axis=-1, kind="stable")[..., :k]
            idx = np.take_along_axis(cand, order, axis=-1)
            out_vals = np.take_along_axis(raw, idx, axis=-1)
            return xp.asarray(out_vals), xp.asarray(idx.astype(np.int64))
    order = xp.argsort(x, axis=-1, stable=True)[..., :k]
    order = xp.astype(order, xp.int64)
    return take_along_last_axis(x, order, xp=xp), order


def _topk_block_size(n_cols: int, k: int) -> int:
    """Block width for :func:`_topk_by_blocks`: ``sqrt(n_cols / k)``, at least 1.

    Sorting ``n_cols / b`` block minima and ``k b`` candidates instead of ``n_cols``
    entries; this ``b`` balances the two.
    """
    return max(1, math.isqrt(n_cols // k))


def _topk_by_blocks(x, k: int, block: int, *, xp):
    """Exact top-k through the k blocks of ``block`` columns with the smallest minima.

    Every one of the k smallest entries lies in one of the k blocks whose minima are
    smallest (each such block holds an entry no larger than the k-th block minimum).
    Ties: blocks with equal minima are taken in column order (stable sort), and the
    candidates are laid out in column order before the stable sort, so ties go to the
    smaller column index exactly as with a full sort (specs/backend.md §Top-k).
    """
    n_rows, n_cols = x.shape
    n_blocks = -(-n_cols // block)
    padded = x
    if n_blocks * block > n_cols:
        # +inf padding sits at the highest columns, so it loses every tie with real data.
        fill = xp.full((n_rows, n_blocks * block - n_cols), math.inf, dtype=x.dtype)
        padded = xp.concat([x, fill], axis=1)
    minima = xp.min(xp.reshape(padded, (n_rows, n_blocks, block)), axis=2)
    chosen = xp.argsort(minima, axis=-1, stable=True)[:, :k]
    chosen = xp.sort(xp.astype(chosen, xp.int64), axis=-1)
    columns = xp.reshape(chosen[:, :, None] * block + xp.arange(block, dtype=xp.int64)[None, None, :],
                         (n_rows, k * block))
    values = take_along_last_axis(padded, columns, xp=xp)
    order = xp.astype(xp.argsort(values, axis=-1, stable=True)[:, :k], xp.int64)
    indices = take_along_last_axis(columns, order, xp=xp)
    return take_along_last_axis(x, indices, xp=xp), indices
