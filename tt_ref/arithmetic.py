"""Exact arithmetic on TT tensors: add, sub, scale, hadamard, dot, norm.

None of these forms the full tensor. Definitions, ranks of the results and test
tolerances are in ``specs/arithmetic.md``.
"""

from __future__ import annotations

import math
import numbers

from ._backend import array_namespace
from .tensor_train import TensorTrain

__all__ = ["add", "sub", "scale", "hadamard", "dot", "norm"]


def _require_tt(tt, name: str) -> TensorTrain:
    if not isinstance(tt, TensorTrain):
        raise TypeError(f"{name} must be a TensorTrain, got {type(tt).__name__}")
    return tt


def _check_pair(a, b):
    """Both TensorTrains of one backend, one dtype and one shape; returns ``xp``."""
    _require_tt(a, "a")
    _require_tt(b, "b")
    xp = array_namespace(a.cores[0], b.cores[0], names=("a", "b"))
    if a.dtype != b.dtype:
        raise TypeError(f"a has dtype {a.dtype} but b has {b.dtype}; cast one with .astype(...)")
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got a.shape = {a.shape} and b.shape = {b.shape}")
    return xp


def add(a: TensorTrain, b: TensorTrain) -> TensorTrain:
    """``a + b`` with block cores; the inner ranks add (``r_j(a) + r_j(b)``).

    ``G_1 = [A_1  B_1]``, ``G_j = [[A_j, 0], [0, B_j]]``, ``G_d = [[A_d], [B_d]]``; for
    ``d = 1`` the single cores are added. Exact (one rounding in the ``d = 1`` case
    only); call :func:`tt_ref.round` to bring the ranks back down.

    Examples
    --------
    >>> import numpy as np
    >>> from tt_ref import add, full, random_tt
    >>> a, b = random_tt((3, 4, 5), 2, seed=0), random_tt((3, 4, 5), 3, seed=1)
    >>> c = add(a, b)
    >>> c.ranks
    (1, 5, 5, 1)
    >>> bool(np.allclose(full(c), full(a) + full(b)))
    True
    """
    xp = _check_pair(a, b)
    if a.ndim == 1:
        return TensorTrain._from_cores((a.cores[0] + b.cores[0],))
    device = a.device
    dtype = a.dtype
    cores = []
    last = a.ndim - 1
    for j, (core_a, core_b) in enumerate(zip(a.cores, b.cores)):
        ra, n, ra_next = core_a.shape
        rb, _, rb_next = core_b.shape
        if j == 0:
            cores.append(xp.concat([core_a, core_b], axis=2))
        elif j == last:
            cores.append(xp.concat([core_a, core_b], axis=0))
        else:
            top = xp.concat([core_a, xp.zeros((ra, n, rb_next), dtype=dtype, device=device)], axis=2)
            bottom = xp.concat([xp.zeros((rb, n, ra_next), dtype=dtype, device=device), core_b], axis=2)
            cores.append(xp.concat([top, bottom], axis=0))
    return TensorTrain._from_cores(tuple(cores))


def scale(a: TensorTrain, alpha) -> TensorTrain:
    """``alpha * a``: the first core times ``alpha``, the other cores shared.

    Exact up to one rounding per entry of the first core; ranks unchanged.

    Parameters
    ----------
    a : TensorTrain
    alpha : real number (Python or NumPy scalar), finite

    Examples
    --------
    >>> from tt_ref import norm, random_tt, scale
    >>> a = random_tt((3, 4), 2, seed=0)
    >>> round(norm(scale(a, -2.0)) / norm(a), 12)
    2.0
    """
    _require_tt(a, "a")
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real):
        raise TypeError(f"alpha must be a real number, got {type(alpha).__name__}")
    alpha = float(alpha)
    if not math.isfinite(alpha):
        raise ValueError(f"alpha must be finite, got {alpha}")
    cores = a.cores
    return TensorTrain._from_cores((cores[0] * alpha,) + tuple(cores[1:]))


def sub(a: TensorTrain, b: TensorTrain) -> TensorTrain:
    """``a - b``: :func:`add` of ``a`` and ``-b`` (ranks add).

    Examples
    --------
    >>> import numpy as np
    >>> from tt_ref import full, random_tt, sub
    >>> a, b = random_tt((3, 4), 2, seed=0), random_tt((3, 4), 2, seed=1)
    >>> bool(np.allclose(full(sub(a, b)), full(a) - full(b)))
    True
    """
    _check_pair(a, b)
    return add(a, scale(b, -1.0))


def hadamard(a: TensorTrain, b: TensorTrain) -> TensorTrain:
    """Elementwise product ``a * b``: Kronecker products of the cores (ranks multiply).

    ``C_j[(p, q), i, (p', q')] = A_j[p, i, p'] * B_j[q, i, q']``, with ``p`` the slower
    index of each rank pair.

    Examples
    --------
    >>> import numpy as np
    >>> from tt_ref import full, hadamard, random_tt
    >>> a, b = random_tt((3, 4, 5), 2, seed=0), random_tt((3, 4, 5), 3, seed=1)
    >>> c = hadamard(a, b)
    >>> c.ranks
    (1, 6, 6, 1)
    >>> bool(np.allclose(full(c), full(a) * full(b)))
    True
    """
    xp = _check_pair(a, b)
    cores = []
    for core_a, core_b in zip(a.cores, b.cores):
        ra, n, ra_next = core_a.shape
        rb, _, rb_next = core_b.shape
        # Broadcasting (ra, 1, n, ra', 1) * (1, rb, n, 1, rb') -> (ra, rb, n, ra', rb').
        product = xp.reshape(core_a, (ra, 1, n, ra_next, 1)) * xp.reshape(core_b, (1, rb, n, 1, rb_next))
        cores.append(xp.reshape(product, (ra * rb, n, ra_next * rb_next)))
    return TensorTrain._from_cores(tuple(cores))


def dot(a: TensorTrain, b: TensorTrain) -> float:
    """Inner product ``sum_i a[i] b[i]`` by left-to-right contraction, as a Python float.

    Keeps an ``(r_j(a), r_j(b))`` matrix; cost ``O(d n r^3)``, never the full tensor.

    Examples
    --------
    >>> import numpy as np
    >>> from tt_ref import dot, full, random_tt
    >>> a, b = random_tt((3, 4, 5), 2, seed=0), random_tt((3, 4, 5), 3, seed=1)
    >>> bool(np.isclose(dot(a, b), np.sum(full(a) * full(b))))
    True
    """
    xp = _check_pair(a, b)
    # (r_j(a), r_j(b)); starts as the 1 x 1 boundary.
    state = None
    for core_a, core_b in zip(a.cores, b.cores):
        if state is None:
            state = xp.tensordot(core_a[0, :, :], core_b[0, :, :], axes=([0], [0]))  # (ra', rb')
            continue
        partial = xp.tensordot(state, core_a, axes=([0], [0]))  # (rb, n, ra')
        state = xp.tensordot(partial, core_b, axes=([0, 1], [0, 1]))  # (ra', rb')
    return float(xp.reshape(state, ()))


def norm(a: TensorTrain) -> float:
    """Frobenius norm ``||a||_F`` as a Python float, via left orthogonalization.

    After :func:`tt_ref.orthogonalize` (``"left"``) every core but the last has
    orthonormal left unfoldings, so the norm is the Frobenius norm of the last core:
    accurate to a few ulps relative, where ``sqrt(dot(a, a))`` loses accuracy (and
    half the exponent range) by squaring. Never forms the full tensor.

    Examples
    --------
    >>> from tt_ref import norm
    >>> from tt_ref.creation import ones
    >>> norm(ones((2, 2, 2, 2)))
    4.0
    """
    _require_tt(a, "a")
    # Imported here: rounding sits beside this module in the algorithm layer.
    from .rounding import orthogonalize

    xp = a.xp
    last = xp.reshape(orthogonalize(a, "left").cores[-1], (-1,))
    # Scaled by the largest entry so the sum of squares cannot overflow (float32 norms
    # above ~1.8e19 would otherwise come back as inf).
    largest = xp.max(xp.abs(last))
    if float(largest) == 0.0:
        return 0.0
    return float(largest) * float(xp.linalg.vector_norm(last / largest))
