"""Exact arithmetic on TT tensors: add, sub, scale, hadamard, dot, norm.

None of these forms the full tensor. Definitions, ranks of the results and test
tolerances are in ``specs/arithmetic.md``.
"""

from __future__ import annotations

from ._core_ops import block_sum_cores, check_real_scalar, kron_cores, scale_cores
from ._tensor_train import TensorTrain, check_pair, require_tensor_train

__all__ = ["add", "sub", "scale", "hadamard", "dot", "norm"]


_require_tt = require_tensor_train


def add(a: TensorTrain, b: TensorTrain) -> TensorTrain:
    """``a + b`` with block cores; the inner ranks add (``r_j(a) + r_j(b)``).

    ``G_1 = [A_1  B_1]``, ``G_j = [[A_j, 0], [0, B_j]]``, ``G_d = [[A_d], [B_d]]``; for
    ``d = 1`` the single cores are added. Exact (one rounding in the ``d = 1`` case
    only); call :func:`tt_ref.tt.round` to bring the ranks back down.

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
    xp = check_pair(a, b)
    return TensorTrain._from_cores(block_sum_cores(a.cores, b.cores, xp=xp))


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
    return TensorTrain._from_cores(scale_cores(a.cores, check_real_scalar(alpha)))


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
    check_pair(a, b)
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
    xp = check_pair(a, b)
    return TensorTrain._from_cores(kron_cores(a.cores, b.cores, xp=xp))


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
    xp = check_pair(a, b)
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
    >>> from tt_ref.tt._creation import ones
    >>> norm(ones((2, 2, 2, 2)))
    4.0
    """
    _require_tt(a, "a")
    # Imported here: rounding sits beside this module in the algorithm layer.
    from ._rounding import orthogonalize

    xp = a.xp
    last = xp.reshape(orthogonalize(a, "left").cores[-1], (-1,))
    # Scaled by the largest entry so the sum of squares cannot overflow (float32 norms
    # above ~1.8e19 would otherwise come back as inf).
    largest = xp.max(xp.abs(last))
    if float(largest) == 0.0:
        return 0.0
    return float(largest) * float(xp.linalg.vector_norm(last / largest))
