"""Point-cloud kernels: decoding, partial products and the chain rule through decoding.

The one home of the arithmetic every TT point-cloud unit shares: :class:`TTPointCloud`
decodes with it, the losses and the fit carry gradients back to the cores with it, and
the least-squares refinement builds its normal equations from it. The kernels take
validated cores (``cores[0]: (D, n_1, r_1)``, ``cores[j]: (r_{j-1}, n_j, r_j)``) and
validated ``int64`` index arrays on the cores' backend; they check nothing and read
nothing back to the host, so they can run inside a step loop. Definitions:
``specs/point_cloud.md`` (§Decoding, §Kernels).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .._backend import default_rng, random_integers, scatter_add

__all__: list[str] = []  # private module: every name here is internal


# --------------------------------------------------------------------------- indices
def _strides(mode_sizes: Sequence[int]) -> tuple[int, ...]:
    strides, acc = [], 1
    for n in reversed(mode_sizes):
        strides.append(acc)
        acc *= n
    return tuple(reversed(strides))


def _flat_to_multi(flat, mode_sizes, xp):
    """C-order flat indices (B,) -> multi-indices (B, k) by integer division."""
    cols = [(flat // s) % n for s, n in zip(_strides(mode_sizes), mode_sizes)]
    return xp.stack(cols, axis=1)


def _multi_to_flat(multi, mode_sizes, xp):
    flat = xp.zeros(multi.shape[0], dtype=multi.dtype)
    for j, s in enumerate(_strides(mode_sizes)):
        flat = flat + multi[:, j] * s
    return flat


# --------------------------------------------------------------------------- per-core products
# Per-core kernels. With ``S_j(b) = G_j[:, i_j(b), :]`` (an (a, c) slab), decoding
# and its gradient need three batched operations per core: S v, u^T S and
# sum_b [i_j(b) = i] u_b v_b^T. For mode sizes up to _ONE_HOT_MAX_MODE each runs as one
# GEMM against a one-hot-weighted (B, n_j * rank) matrix: n_j times the flops of a
# gather, but BLAS speed, measured several times faster on MNIST and GloVe shapes
# (specs/point_cloud.md §Decoding). Larger modes gather the slabs instead.
_ONE_HOT_MAX_MODE = 64


def _gather_slabs(core, idx, xp):
    """``core[:, idx[b], :]`` for every b, as (B, r_{j-1}, r_j)."""
    return xp.take(xp.permute_dims(core, (1, 0, 2)), idx, axis=0)


def _one_hot(idx, n, dtype, xp):
    return xp.astype(idx[:, None] == xp.arange(n, dtype=idx.dtype)[None, :], dtype)


def _one_hot_weights(idx, vec, n, xp):
    """``W[b, i c + s] = [idx[b] == i] vec[b, s]``, shape (B, n c)."""
    onehot = _one_hot(idx, n, vec.dtype, xp)
    return xp.reshape(onehot[:, :, None] * vec[:, None, :], (vec.shape[0], n * vec.shape[1]))


def _slab_times_vector(core, idx, vec, xp):
    """``S(b) @ vec[b]``: (B, c) -> (B, a)."""
    a, n, c = core.shape
    if n <= _ONE_HOT_MAX_MODE:
        matrix = xp.reshape(xp.permute_dims(core, (1, 2, 0)), (n * c, a))
        return _one_hot_weights(idx, vec, n, xp) @ matrix
    return xp.sum(_gather_slabs(core, idx, xp) * vec[:, None, :], axis=2)


def _vector_times_slab(core, idx, vec, xp):
    """``vec[b]^T S(b)``: (B, a) -> (B, c)."""
    a, n, c = core.shape
    if n <= _ONE_HOT_MAX_MODE:
        batch = vec.shape[0]
        projected = xp.reshape(vec @ xp.reshape(core, (a, n * c)), (batch * n * c,))  # every slab
        # Pick slab idx[b] of row b: entries b n c + idx[b] c + s, s < c.
        rows = xp.arange(batch, dtype=idx.dtype) * (n * c) + idx * c
        picks = rows[:, None] + xp.arange(c, dtype=idx.dtype)[None, :]
        return xp.reshape(xp.take(projected, xp.reshape(picks, (batch * c,))), (batch, c))
    return xp.sum(vec[:, :, None] * _gather_slabs(core, idx, xp), axis=1)


def _outer_scatter(core_shape, idx, left, right, xp):
    """``out[:, i, :] = sum_{b: idx[b] = i} left[b] right[b]^T``, shape (a, n, c).

    A scatter-add of outer products: as one GEMM (W^T left with W the one-hot weights
    of ``right``), or ``_backend.scatter_add`` of the (B, a, c) outer products.
    """
    a, n, c = core_shape
    if n <= _ONE_HOT_MAX_MODE:
        summed = xp.matrix_transpose(_one_hot_weights(idx, right, n, xp)) @ left  # (n c, a)
        return xp.permute_dims(xp.reshape(summed, (n, c, a)), (2, 0, 1))
    outer = left[:, :, None] * right[:, None, :]
    # force_standard: the same arithmetic on every backend (bitwise-equal fits).
    return xp.permute_dims(scatter_add(n, idx, outer, xp=xp, force_standard=True), (1, 0, 2))


def _right_partials(cores, multi, xp):
    """Right partial products ``R_j[b] = G_{j+1}[:, i_{j+1}, :] ... G_k[:, i_k, :]``.

    Returns a list ``rights`` of length k with ``rights[j]`` of shape (B, r_j) for the
    0-based core j (``rights[k-1]`` is all ones, shape (B, 1)). Costs O(B k r^2).
    """
    k = len(cores)
    batch = multi.shape[0]
    rights = [None] * k
    vec = xp.ones((batch, 1), dtype=cores[0].dtype)
    rights[k - 1] = vec
    for j in range(k - 1, 0, -1):
        vec = _slab_times_vector(cores[j], multi[:, j], vec, xp)
        rights[j - 1] = vec
    return rights


def _first_core_apply(core0, idx, right, xp):
    """``G_1[:, idx[b], :] @ right[b]`` for every b, as (B, D)."""
    return _slab_times_vector(core0, idx, right, xp)


# Largest intermediate (entries) a decode builds at once; bigger batches go in pieces.
_DECODE_BLOCK_ENTRIES = 1 << 22


def _decode_multi(cores, multi, xp):
    """Points for validated multi-indices (B, k): contraction from the right.

    Batches are decoded in pieces so that no intermediate (the one-hot weights
    B x n_j r_j or the gathered slabs B x r_{j-1} r_j) exceeds about 4M entries.
    """
    width = max(
        int(c.shape[1] * c.shape[2]) if c.shape[1] <= _ONE_HOT_MAX_MODE else int(c.shape[0] * c.shape[2])
        for c in cores
    )
    width = max(width, int(cores[0].shape[0]))
    piece = max(1, _DECODE_BLOCK_ENTRIES // width)
    batch = multi.shape[0]
    out = []
    for start in range(0, max(batch, 1), piece):
        part = multi[start:min(start + piece, batch), :]
        rights = _right_partials(cores, part, xp)
        out.append(_first_core_apply(cores[0], part[:, 0], rights[0], xp))
    return out[0] if len(out) == 1 else xp.concat(out, axis=0)


def _prefix_products(cores, prefix_multi, xp):
    """``G_1[:, i_1, :] ... G_m[:, i_m, :]`` for each row of (q, m) prefixes, as (q, D, r_m)."""
    acc = _gather_slabs(cores[0], prefix_multi[:, 0], xp)  # (q, D, r_1)
    for j in range(1, prefix_multi.shape[1]):
        acc = acc @ _gather_slabs(cores[j], prefix_multi[:, j], xp)
    return acc


def _dense_points(cores, xp):
    """All points as (P, D) in flat C order, contracting from the right (O(P D r))."""
    k = len(cores)
    # acc: (r_j, n_{j+1} ... n_k) flattened on the right.
    acc = xp.reshape(cores[k - 1], (cores[k - 1].shape[0], -1))
    for j in range(k - 2, -1, -1):
        core = cores[j]
        left, n, r = core.shape
        acc = xp.reshape(xp.reshape(core, (left * n, r)) @ acc, (left, -1))
    return xp.matrix_transpose(acc)


def _mean_cores(cores, xp):
    means = [xp.mean(c, axis=1) for c in cores]
    return tuple(means)


def _suffix_mean_vector(cores, level, xp):
    """``Gbar_{level+1} ... Gbar_k`` as a vector of length r_level (r_0 = D)."""
    k = len(cores)
    vec = xp.ones((1,), dtype=cores[0].dtype)
    for j in range(k - 1, level - 1, -1):
        vec = xp.mean(cores[j], axis=1) @ vec
    return vec


def _sample_multi(seed, mode_sizes, n, xp):
    """``n`` uniform multi-indices (each mode independently uniform = uniform over P)."""
    rng = default_rng(seed)
    # Drawn mode by mode on the host, moved in one transfer (a host array if xp is None).
    multi = np.stack([random_integers(rng, 0, size, (n,), xp=None) for size in mode_sizes], axis=1)
    return multi if xp is None else xp.asarray(multi)


def _left_partials(cores, multi, left, xp):
    """``left[b]^T G_1[:, i_1, :] ... G_j[:, i_j, :]`` for every j, as a list of (B, r_j).

    ``out[0]`` is ``left`` itself (B, D); ``out[j]`` has passed cores ``0 .. j-1``. The
    chain the cores gradient runs from the left (O(B (D r + k r^2))).
    """
    out = [left]
    for j in range(len(cores) - 1):
        left = _vector_times_slab(cores[j], multi[:, j], left, xp)
        out.append(left)
    return out


def _cores_gradient(cores, multi, grad_points, xp, rights=None):
    """Gradient of ``sum_b <grad_points[b], y(multi[b])>`` wrt each core.

    ``d/dG_j[:, i_j, :] = sum_{b: i_j(b) = i_j} outer(left_j[b], right_j[b])`` with
    ``left_j[b] = grad_points[b]^T G_1[:, i_1, :] ... G_{j-1}[:, i_{j-1}, :]`` and
    ``right_j[b] = G_{j+1}[:, i_{j+1}, :] ... G_k[:, i_k, :]``.
    """
    if rights is None:
        rights = _right_partials(cores, multi, xp)
    grads = []
    left = grad_points  # (B, D)
    for j, core in enumerate(cores):
        grads.append(_outer_scatter(core.shape, multi[:, j], left, rights[j], xp))
        if j + 1 < len(cores):
            left = _vector_times_slab(core, multi[:, j], left, xp)
    return tuple(grads)
