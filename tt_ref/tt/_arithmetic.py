"""Exact arithmetic on TT tensors: add, sub, scale, hadamard, dot, norm.

None of these forms the full tensor. Definitions, ranks of the results and test
tolerances are in ``specs/arithmetic.md``.
"""

from __future__ import annotations

import math

from .._backend import to_floats
from ._core_ops import block_sum_cores, check_real_scalar, kron_cores, scale_cores
from ._scaling import balance_cores, check_result_in_range, renormalize
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

    Keeps an ``(r_j(a), r_j(b))`` matrix; cost ``O(d n r^3)``, never the full tensor. The
    cores are balanced and the running matrix renormalized by powers of two at every step
    (exact), so no partial product overflows or underflows; the exponent is applied once,
    to the Python float. Accurate to ``gamma * dot(|a|, |b|)`` (``specs/arithmetic.md``
    §dot), not relative to the result, which may cancel.

    Raises
    ------
    ArgumentValueError
        The inner product exceeds the largest float64 (about ``1.8e308``).

    Examples
    --------
    >>> import numpy as np
    >>> from tt_ref import dot, full, random_tt
    >>> a, b = random_tt((3, 4, 5), 2, seed=0), random_tt((3, 4, 5), 3, seed=1)
    >>> bool(np.isclose(dot(a, b), np.sum(full(a) * full(b))))
    True
    >>> dot(a * 1e200, b * 1e-200) / dot(a, b)   # partial products near 1e200, result of order 1
    1.0
    """
    xp = check_pair(a, b)
    cores_a, exp_a = balance_cores(a.cores, xp)
    cores_b, exp_b = balance_cores(b.cores, xp)
    total = exp_a + exp_b
    # (r_j(a), r_j(b)); starts as the 1 x 1 boundary.
    state = None
    for core_a, core_b in zip(cores_a, cores_b):
        if state is None:
            state = xp.tensordot(core_a[0, :, :], core_b[0, :, :], axes=([0], [0]))  # (ra', rb')
        else:
            partial = xp.tensordot(state, core_a, axes=([0], [0]))  # (rb, n, ra')
            state = xp.tensordot(partial, core_b, axes=([0, 1], [0, 1]))  # (ra', rb')
        state, exponent = renormalize(state, xp)
        total = total + exponent
    value, exponent = to_floats(xp.reshape(state, ()), total)
    return _ldexp(value, exponent, "dot(a, b)")


def _ldexp(value: float, exponent: float, what: str) -> float:
    """``value * 2**exponent`` as a Python float; refuse a result beyond float64's range."""
    try:
        return math.ldexp(value, int(exponent))
    except OverflowError:
        check_result_in_range(math.log2(abs(value)) + exponent, "float64", what)
        raise


def norm(a: TensorTrain) -> float:
    """Frobenius norm ``||a||_F`` as a Python float, via left orthogonalization.

    After :func:`tt_ref.orthogonalize` (``"left"``) every core but the last has
    orthonormal left unfoldings, so the norm is the Frobenius norm of the last core:
    accurate to a few ulps relative to ``prod_j ||G_j||_F`` (``specs/arithmetic.md``
    §norm), where ``sqrt(dot(a, a))`` loses accuracy (and half the exponent range) by
    squaring. The sweep runs on cores renormalized by powers of two, so a float32 tensor
    whose norm exceeds float32's range still gets its (float64) norm. Never forms the full
    tensor.

    Raises
    ------
    ArgumentValueError
        The norm exceeds the largest float64 (about ``1.8e308``).

    Examples
    --------
    >>> from tt_ref import norm
    >>> from tt_ref.tt._creation import ones
    >>> norm(ones((2, 2, 2, 2)))
    4.0
    >>> norm(ones((2, 2, 2, 2)) * 1e300)
    4e+300
    """
    _require_tt(a, "a")
    # Imported here: rounding sits beside this module in the algorithm layer.
    from ._rounding import _orthogonalize_left

    xp = a.xp
    cores, total = _orthogonalize_left(list(a.cores), xp)
    last = xp.reshape(cores[-1], (-1,))  # largest entry in [1, 2): its norm cannot overflow
    value, exponent = to_floats(xp.linalg.vector_norm(last), total)
    return _ldexp(value, exponent, "norm(a)")
