"""Shared pieces of the TT-matrix layer tests: a strategy for layers and float64 host references
written independently of tt_ref (``numpy.einsum``), as ``specs/ttm_layer.md`` §Tests asks."""

from __future__ import annotations

import string

import numpy as np
from hypothesis import strategies as st

from helpers import to_np, to_xp
from tt_ref import TTMatrix


@st.composite
def layer_specs(draw, max_ndim: int = 3, max_size: int = 3, max_rank: int = 3, max_batch_dims: int = 2):
    """(row_shape, col_shape, ranks, batch_shape, seed) of a small layer and batch."""
    d = draw(st.integers(1, max_ndim))
    row_shape = tuple(draw(st.lists(st.integers(1, max_size), min_size=d, max_size=d)))
    col_shape = tuple(draw(st.lists(st.integers(1, max_size), min_size=d, max_size=d)))
    ranks = (1,) + tuple(draw(st.lists(st.integers(1, max_rank), min_size=d - 1, max_size=d - 1))) + (1,)
    batch_shape = tuple(draw(st.lists(st.integers(1, 4), min_size=0, max_size=max_batch_dims)))
    seed = draw(st.integers(0, 2**31 - 1))
    return row_shape, col_shape, ranks, batch_shape, seed


def random_layer(row_shape, col_shape, ranks, batch_shape, seed, xp, dtype):
    """Host float64 draws cast to ``dtype``: ``(weight, x, bias, grad_output)`` on ``xp``."""
    rng = np.random.default_rng(seed)
    cores = [to_xp(rng.standard_normal((ranks[k], m, n, ranks[k + 1])), xp, dtype)
             for k, (m, n) in enumerate(zip(row_shape, col_shape))]
    n_out, n_in = int(np.prod(row_shape)), int(np.prod(col_shape))
    x = to_xp(rng.standard_normal(batch_shape + (n_in,)), xp, dtype)
    bias = to_xp(rng.standard_normal(n_out), xp, dtype)
    grad = to_xp(rng.standard_normal(batch_shape + (n_out,)), xp, dtype)
    return TTMatrix(cores), x, bias, grad


def _core_subscripts(d):
    letters = iter(string.ascii_letters)
    rows = [next(letters) for _ in range(d)]
    cols = [next(letters) for _ in range(d)]
    ranks = [next(letters) for _ in range(d + 1)]
    cores = [ranks[k] + rows[k] + cols[k] + ranks[k + 1] for k in range(d)]
    return rows, cols, ranks, cores, next(letters)


def dense_reference(cores) -> np.ndarray:
    """``W[(i), (j)]`` of host cores ``(r, m, n, r')`` by one einsum, float64, shape (M, N)."""
    cores = [to_np(c).astype(np.float64) for c in cores]
    d = len(cores)
    rows, cols, ranks, subs, _ = _core_subscripts(d)
    tensor = np.einsum(",".join(subs) + "->" + ranks[0] + "".join(rows) + "".join(cols) + ranks[d], *cores)
    return tensor.reshape(int(np.prod([c.shape[1] for c in cores])), -1)


def core_gradients_reference(cores, x, grad) -> list[np.ndarray]:
    """``dL/dW_k = sum_{b, other indices} G[b, (i)] x[b, (j)] prod_{l != k} W_l`` by einsum, float64."""
    cores = [to_np(c).astype(np.float64) for c in cores]
    d = len(cores)
    row_shape = tuple(c.shape[1] for c in cores)
    col_shape = tuple(c.shape[2] for c in cores)
    g = to_np(grad).astype(np.float64).reshape((-1,) + row_shape)
    xx = to_np(x).astype(np.float64).reshape((-1,) + col_shape)
    rows, cols, ranks, subs, batch = _core_subscripts(d)
    out = []
    for k in range(d):
        # The boundary ranks (size 1) enter as ones, so they exist when their core is left out.
        operands = [g, xx, np.ones(1), np.ones(1)] + [c for j, c in enumerate(cores) if j != k]
        spec = [batch + "".join(rows), batch + "".join(cols), ranks[0], ranks[d]]
        spec += [s for j, s in enumerate(subs) if j != k]
        out.append(np.einsum(",".join(spec) + "->" + subs[k], *operands))
    return out
