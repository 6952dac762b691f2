"""Core-level kernels of TT arithmetic: block sums, Kronecker products, scaling.

They take and return tuples of cores and check nothing: the public functions in
``_arithmetic`` and the operators of ``TensorTrain`` validate first, then call these.
Keeping them below both breaks what would otherwise be an import cycle.
"""

from __future__ import annotations

import math
import numbers

__all__ = ["block_sum_cores", "kron_cores", "scale_cores", "check_real_scalar"]


def check_real_scalar(alpha, name: str = "alpha") -> float:
    """``alpha`` as a finite Python float; ``TypeError`` / ``ValueError`` naming ``name``."""
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(alpha).__name__}")
    alpha = float(alpha)
    if not math.isfinite(alpha):
        raise ValueError(f"{name} must be finite, got {alpha}")
    return alpha


def block_sum_cores(cores_a, cores_b, *, xp) -> tuple:
    """Cores of ``a + b``: ``[A_1 B_1]``, ``diag(A_j, B_j)``, ``[A_d; B_d]`` (ranks add)."""
    if len(cores_a) == 1:
        return (cores_a[0] + cores_b[0],)
    dtype = cores_a[0].dtype
    device = getattr(cores_a[0], "device", None)
    last = len(cores_a) - 1
    cores = []
    for j, (core_a, core_b) in enumerate(zip(cores_a, cores_b)):
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
    return tuple(cores)


def kron_cores(cores_a, cores_b, *, xp) -> tuple:
    """Cores of the elementwise product: ``C_j[(p, q), i, (p', q')] = A_j[p, i, p'] B_j[q, i, q']``."""
    cores = []
    for core_a, core_b in zip(cores_a, cores_b):
        ra, n, ra_next = core_a.shape
        rb, _, rb_next = core_b.shape
        # Broadcasting (ra, 1, n, ra', 1) * (1, rb, n, 1, rb') -> (ra, rb, n, ra', rb').
        product = xp.reshape(core_a, (ra, 1, n, ra_next, 1)) * xp.reshape(core_b, (1, rb, n, 1, rb_next))
        cores.append(xp.reshape(product, (ra * rb, n, ra_next * rb_next)))
    return tuple(cores)


def scale_cores(cores, alpha: float) -> tuple:
    """Cores of ``alpha * a``: the first core scaled, the others shared."""
    return (cores[0] * alpha,) + tuple(cores[1:])
