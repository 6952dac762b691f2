"""Contraction kernels of the TT-matrix linear layer: sweeps, their adjoints, and the dense
gradient's contraction with the cores.

Only ``tensordot``, ``reshape`` and ``permute_dims`` (the Array API has no ``einsum``).
Cores are ``(r_{k-1}, m_k, n_k, r_k)`` with row (output) modes ``m`` and column (input)
modes ``n``, as :class:`tt_ref.TTMatrix` defines them. Batches arrive flattened,
``(B, N)``. ``specs/ttm_layer.md`` §Forward and §Backward give the formulas.
"""

from __future__ import annotations

import math

__all__ = ["c_order", "sweep_forward", "sweep_backward", "reversed_cores", "transposed_cores", "reverse_modes",
           "dense_matrix", "dense_gradient_to_cores"]


def c_order(a, shape, xp):
    """``a`` reshaped to ``shape`` with C-order strides (a copy only where ``a`` is not laid out so).

    Kept arrays are never views with odd strides: a pickled copy (which is C order) then
    runs the same BLAS calls as the original and gives bitwise the same gradients.
    """
    return xp.reshape(xp.reshape(a, (-1,)), shape)


def reversed_cores(cores, xp) -> tuple:
    """Cores of the same matrix with the mode order reversed: ``W'_k = W_{d+1-k}`` with its
    two rank axes swapped. A right-to-left sweep of ``W`` is a left-to-right sweep of these."""
    return tuple(xp.permute_dims(core, (3, 1, 2, 0)) for core in reversed(cores))


def transposed_cores(cores, xp) -> tuple:
    """Cores of ``W^T`` (row and column modes swapped in every core)."""
    return tuple(xp.permute_dims(core, (0, 2, 1, 3)) for core in cores)


def reverse_modes(a, shape, xp):
    """``(B, prod(shape))`` with the C-order multi-index ``(i_1..i_d)`` read as ``(i_d..i_1)``."""
    d = len(shape)
    if d == 1:
        return a
    batch = a.shape[0]
    t = xp.reshape(a, (batch,) + tuple(shape))
    t = xp.permute_dims(t, (0,) + tuple(range(d, 0, -1)))
    return c_order(t, (batch, math.prod(shape)), xp)


def sweep_forward(x, cores, row_shape, col_shape, xp, *, keep_states: bool):
    """``x @ W^T`` core by core from the left; returns ``(y, states)``.

    The state before core ``k`` (0-based) is ``L_k`` of shape ``(B m_1..m_k, r_k, n_{k+1},
    n_{k+2}..n_d)``: rows done, rank, the next input mode, input modes left. Core ``k`` is
    contracted over ``(r_k, n_{k+1})`` by one ``tensordot``, costing ``B r_k r_{k+1}
    m_1..m_{k+1} n_{k+1}..n_d`` multiply-adds. ``states`` holds ``L_0 .. L_{d-1}`` when
    ``keep_states`` (``L_0`` is a reshape of ``x``), else is empty.
    """
    batch = x.shape[0]
    d = len(cores)
    state = xp.reshape(x, (batch, 1, col_shape[0], math.prod(col_shape[1:])))
    states = []
    for k, core in enumerate(cores):
        if keep_states:
            states.append(state)
        out = xp.tensordot(state, core, axes=([1, 2], [0, 2]))  # (B M_<k, N_>k, m_k, r_k)
        out = xp.permute_dims(out, (0, 2, 3, 1))  # (B M_<k, m_k, r_k, N_>k)
        if k + 1 < d:
            rows = out.shape[0] * row_shape[k]
            rest = math.prod(col_shape[k + 2 :])
            shape = (rows, core.shape[3], col_shape[k + 1], rest)
            state = c_order(out, shape, xp) if keep_states else xp.reshape(out, shape)
        else:
            state = xp.reshape(out, (batch, math.prod(row_shape)))
    return state, tuple(states)


def sweep_backward(grad_y, states, cores, row_shape, col_shape, xp, *, need_input: bool = True):
    """Adjoint of :func:`sweep_forward`: ``(dL/dx, dL/dW_k for every k)`` from its states.

    Walking back from ``G = dL/dy``, the adjoint ``A_k`` of the state after core ``k`` has
    the shape of that state; ``dL/dW_k = <L_k, A_k>`` over the batch, the rows done and
    the input modes left, and ``A_{k-1} = <A_k, W_k>`` over ``(m_k, r_k)``. Each step
    costs what its forward step did, twice. ``dL/dx`` is ``A`` before core 0 (skipped when
    ``need_input`` is false).
    """
    batch = grad_y.shape[0]
    d = len(cores)
    rows = batch * math.prod(row_shape[:-1])
    adjoint = xp.reshape(grad_y, (rows, row_shape[-1], 1, 1))  # (B M_<d, m_d, r_d, N_>d)
    grads = [None] * d
    grad_x = None
    for k in range(d - 1, -1, -1):
        core = cores[k]
        g = xp.tensordot(states[k], adjoint, axes=([0, 3], [0, 3]))  # (r_{k-1}, n_k, m_k, r_k)
        grads[k] = xp.permute_dims(g, (0, 2, 1, 3))
        if k == 0 and not need_input:
            break
        prev = xp.tensordot(adjoint, core, axes=([1, 2], [1, 3]))  # (B M_<k, N_>k, r_{k-1}, n_k)
        prev = xp.permute_dims(prev, (0, 2, 3, 1))  # the shape of L_k
        if k > 0:
            rows = prev.shape[0] // row_shape[k - 1]
            adjoint = xp.reshape(prev, (rows, row_shape[k - 1], core.shape[0], math.prod(col_shape[k:])))
        else:
            grad_x = xp.reshape(prev, (batch, math.prod(col_shape)))
    return grad_x, tuple(grads)


def dense_matrix(cores, row_shape, col_shape, split: int, xp):
    """The dense ``(M, N)`` matrix, the cores multiplied from both ends towards ``split``.

    Cores ``0..split-1`` are multiplied left to right into ``(prod_{l<split} m_l n_l,
    r_split)``, cores ``split..d-1`` right to left into ``(r_split, prod_{l>=split} m_l
    n_l)``, and one product joins them; ``split`` = 0 or d is a one-sided sweep (what
    :func:`tt_ref.to_dense` does). ``_cost.dense_split`` picks the split of least work:
    large ranks in the middle of the train make a one-sided sweep carry huge partial
    products.
    """
    d = len(cores)
    sizes = [m * n for m, n in zip(row_shape, col_shape)]
    merged = [xp.reshape(c, (c.shape[0], s, c.shape[3])) for c, s in zip(cores, sizes)]
    left = None  # (prod_{l<=k} m_l n_l, r_{k+1})
    for k in range(split):
        rank_in, size, rank_out = merged[k].shape
        if left is None:
            left = xp.reshape(merged[k], (size, rank_out))  # r_0 = 1
        else:
            left = xp.reshape(left @ xp.reshape(merged[k], (rank_in, size * rank_out)), (left.shape[0] * size, rank_out))
    right = None  # (r_k, prod_{l>=k} m_l n_l)
    for k in range(d - 1, split - 1, -1):
        rank_in, size, rank_out = merged[k].shape
        if right is None:
            right = xp.reshape(merged[k], (rank_in, size))  # r_d = 1
        else:
            right = xp.reshape(xp.reshape(merged[k], (rank_in * size, rank_out)) @ right,
                               (rank_in, size * right.shape[1]))
    if left is None:
        product = right
    elif right is None:
        product = left
    else:
        product = left @ right
    # (m_1, n_1, ..., m_d, n_d) -> (m_1..m_d, n_1..n_d)
    tensor = xp.reshape(product, tuple(s for m, n in zip(row_shape, col_shape) for s in (m, n)))
    tensor = xp.permute_dims(tensor, tuple(range(0, 2 * d, 2)) + tuple(range(1, 2 * d, 2)))
    return xp.reshape(tensor, (math.prod(row_shape), math.prod(col_shape)))


def dense_gradient_to_cores(grad_w, cores, row_shape, col_shape, xp) -> tuple:
    """Every core's gradient from the dense ``dL/dW`` (``(M, N)``), without autograd.

    ``dL/dW_k = sum over the other indices of dL/dW[(i), (j)] prod_{l != k} W_l[i_l, j_l]``.
    The dense gradient, as a tensor of merged modes ``(m_1 n_1, ..., m_d n_d)``, is swept
    from the left through the cores (``P_k``: ``(r_k, prod_{l>k} m_l n_l)``) while the
    right partial products of the cores (``R_k``: ``(r_k, prod_{l>k} m_l n_l)``) are kept;
    the gradient of core ``k`` is ``<P_{k-1}, R_k>``. Cost and memory in
    ``specs/ttm_layer.md`` §Backward.
    """
    d = len(cores)
    sizes = [m * n for m, n in zip(row_shape, col_shape)]
    merged = [xp.reshape(c, (c.shape[0], s, c.shape[3])) for c, s in zip(cores, sizes)]
    # (m_1..m_d, n_1..n_d) -> (m_1, n_1, ..., m_d, n_d): the merged-mode order of the cores.
    tensor = xp.reshape(grad_w, tuple(row_shape) + tuple(col_shape))
    tensor = xp.permute_dims(tensor, tuple(a for k in range(d) for a in (k, d + k)))
    right = [None] * d  # right[k]: cores k+1..d-1 as (r_{k+1}, prod_{l>k} m_l n_l); None for k = d-1
    for k in range(d - 2, -1, -1):
        core = merged[k + 1]
        if right[k + 1] is None:
            right[k] = xp.reshape(core, (core.shape[0], sizes[k + 1]))
        else:
            t = xp.tensordot(core, right[k + 1], axes=([2], [0]))  # (r, s_{k+1}, prod_{l>k+1})
            right[k] = xp.reshape(t, (core.shape[0], sizes[k + 1] * right[k + 1].shape[1]))
    left = xp.reshape(tensor, (1, math.prod(sizes)))  # P_0
    grads = []
    for k in range(d):
        core = cores[k]
        p = xp.reshape(left, (core.shape[0], sizes[k], left.shape[1] // sizes[k]))
        if right[k] is None:
            g = p  # the last core: nothing to its right (r_d = 1)
        else:
            g = xp.tensordot(p, right[k], axes=([2], [1]))  # (r_{k-1}, s_k, r_k)
        grads.append(xp.reshape(g, tuple(core.shape)))
        if k + 1 < d:
            left = xp.tensordot(merged[k], p, axes=([0, 1], [0, 1]))  # (r_k, prod_{l>k})
    return tuple(grads)
