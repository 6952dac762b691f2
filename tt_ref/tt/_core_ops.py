"""Core-level kernels of TT arithmetic: block sums, Kronecker products, scaling.

They take and return tuples of cores and check nothing about their arguments: the public
functions in ``_arithmetic`` and the operators of ``TensorTrain`` validate first, then call
these. Keeping them below both breaks what would otherwise be an import cycle.

Scale safety (``specs/arithmetic.md`` §Range): a product of cores (``scale``,
``hadamard``) or the sum of two single cores can leave the floating-point range while the
tensor it represents does not. The core maxima are read first (one host read); when a
product of maxima would leave the normal range, the result is computed from balanced
cores (each divided by a power of two, exact) with the total exponent spread evenly over
the result's cores, and refused when even that cannot hold the tensor.
"""

from __future__ import annotations

import math
import numbers

from .._backend import ArgumentTypeError, ArgumentValueError, array_namespace, to_floats
from .._backend._neighbors import finfo, pow2_exponent, times_pow2

__all__ = ["block_sum_cores", "kron_cores", "scale_cores", "check_real_scalar"]


def check_real_scalar(alpha, name: str = "alpha") -> float:
    """``alpha`` as a finite Python float; ``TypeError`` / ``ValueError`` naming ``name``."""
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real):
        raise ArgumentTypeError(f"{name} must be a real number, got {type(alpha).__name__}")
    alpha = float(alpha)
    if not math.isfinite(alpha):
        raise ArgumentValueError(f"{name} must be finite, got {alpha}")
    return alpha


def _window(dtype) -> tuple[float, float]:
    """Core maxima inside ``[low, high]`` keep full relative precision and cannot overflow
    in the next product of two cores."""
    info = finfo(dtype)
    return math.ldexp(1.0, info.minexp + info.nmant + 1), float(info.max) / 4.0


def _products_in_range(maxima, dtype) -> bool:
    """Every product of core maxima (each a tuple of factors) zero or inside :func:`_window`."""
    low, high = _window(dtype)
    for factors in maxima:
        log2 = 0.0
        for m in factors:
            if m == 0.0:
                break
            log2 += math.log2(m)
        else:
            if not math.log2(low) <= log2 <= math.log2(high):
                return False
    return True


def _balanced(cores, xp) -> tuple[list, int]:
    """Cores divided by powers of two (exact; largest entries in ``[1, 2)``) and the sum of
    the exponents, read to the host once."""
    exponents = [int(e) for e in to_floats(*(pow2_exponent(c, xp=xp) for c in cores))]
    # 2**e <= max|c| is representable, so the division is exact.
    return [c / xp.asarray(math.ldexp(1.0, e), dtype=c.dtype) if e else c
            for c, e in zip(cores, exponents)], sum(exponents)


def _spread(cores, total: int, xp) -> tuple:
    """Multiply ``2**total`` into ``cores`` (largest entries below 4), an equal share each;
    refuse when a share would overflow the dtype."""
    d = len(cores)
    share = total // d
    info = finfo(cores[0].dtype)
    if share + 2 > info.maxexp - 1:
        raise ArgumentValueError(
            f"the result needs cores of magnitude about 2^{share} even with the scale spread evenly over its "
            f"{d} cores, above the largest {info.dtype} ({float(info.max):.3g}); cast to float64 (astype) first"
        )
    shares = [share + (total - share * d if j == 0 else 0) for j in range(d)]
    return tuple(times_pow2(c, xp.asarray(float(s), dtype=xp.float64), xp=xp) if s else c
                 for c, s in zip(cores, shares))


def block_sum_cores(cores_a, cores_b, *, xp) -> tuple:
    """Cores of ``a + b``: ``[A_1 B_1]``, ``diag(A_j, B_j)``, ``[A_d; B_d]`` (ranks add)."""
    if len(cores_a) == 1:
        total = cores_a[0] + cores_b[0]
        if not bool(xp.all(xp.isfinite(total))):
            info = finfo(total.dtype)
            raise ArgumentValueError(
                f"a + b overflows: an entry exceeds the largest {info.dtype} ({float(info.max):.3g}); "
                "cast to float64 (astype) first"
            )
        return (total,)
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


def _kron(cores_a, cores_b, xp) -> tuple:
    cores = []
    for core_a, core_b in zip(cores_a, cores_b):
        ra, n, ra_next = core_a.shape
        rb, _, rb_next = core_b.shape
        # Broadcasting (ra, 1, n, ra', 1) * (1, rb, n, 1, rb') -> (ra, rb, n, ra', rb').
        product = xp.reshape(core_a, (ra, 1, n, ra_next, 1)) * xp.reshape(core_b, (1, rb, n, 1, rb_next))
        cores.append(xp.reshape(product, (ra * rb, n, ra_next * rb_next)))
    return tuple(cores)


def kron_cores(cores_a, cores_b, *, xp) -> tuple:
    """Cores of the elementwise product: ``C_j[(p, q), i, (p', q')] = A_j[p, i, p'] B_j[q, i, q']``."""
    d = len(cores_a)
    maxima = to_floats(*(xp.max(xp.abs(c)) for c in tuple(cores_a) + tuple(cores_b)))
    if _products_in_range(list(zip(maxima[:d], maxima[d:])), cores_a[0].dtype):
        return _kron(cores_a, cores_b, xp)
    balanced_a, total_a = _balanced(cores_a, xp)
    balanced_b, total_b = _balanced(cores_b, xp)
    return _spread(_kron(balanced_a, balanced_b, xp), total_a + total_b, xp)


def scale_cores(cores, alpha: float) -> tuple:
    """Cores of ``alpha * a``: the first core scaled, the others shared (rebalanced instead
    when the scaled first core would leave the range)."""
    cores = tuple(cores)
    if alpha in (0.0, 1.0, -1.0):
        return (cores[0] * alpha,) + cores[1:]
    xp = array_namespace(*cores)
    if _products_in_range([to_floats(xp.max(xp.abs(cores[0]))) + (abs(alpha),)], cores[0].dtype):
        return (cores[0] * alpha,) + cores[1:]
    mantissa, exponent = math.frexp(alpha)
    balanced, total = _balanced(cores, xp)
    balanced[0] = balanced[0] * mantissa
    return _spread(balanced, total + exponent, xp)
