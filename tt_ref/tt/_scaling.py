"""Scale safety of the TT algorithms: powers of two kept apart from the cores.

A tensor train can hold a finite tensor whose partial products, squared norms or Gram
matrices leave the floating-point range (cores near ``1e200`` and ``1e-200`` in float64,
near ``1e19`` in float32 for squares). The algorithms therefore work on cores divided
by powers of two, computed on the device (:func:`renormalize`; no host read), and carry
the exponents apart as float64 integers until the result is formed
(:func:`tt_ref._backend._neighbors.times_pow2`). Dividing by a power of two is exact, so
in the normal range the results are bitwise those of the unscaled algorithms.
``specs/tensor_train.md`` §Range states what this guarantees.
"""

from __future__ import annotations

import math

from .._backend import ArgumentValueError
from .._backend._neighbors import finfo, pow2_exponent

__all__ = ["renormalize", "balance_cores", "zero_exponent", "check_result_in_range"]


def zero_exponent(xp):
    """A float64 0-d zero: the start of an exponent sum."""
    return xp.asarray(0.0, dtype=xp.float64)


def renormalize(x, xp):
    """``(x / 2**e, e)`` with ``2**e`` the largest power of two not above ``max|x|`` (``e`` a
    float64 0-d array; 0 for a zero ``x``): the result's largest entry lies in ``[1, 2)``."""
    exponent = pow2_exponent(x, xp=xp)
    scale = xp.astype(xp.pow(xp.asarray(2.0, dtype=xp.float64), exponent), x.dtype)
    return x / scale, exponent


def balance_cores(cores, xp):
    """Every core renormalized: ``(cores', E)`` with ``tensor(cores) = 2**E tensor(cores')``."""
    out, total = [], zero_exponent(xp)
    for core in cores:
        scaled, exponent = renormalize(core, xp)
        out.append(scaled)
        total = total + exponent
    return out, total


def check_result_in_range(log2_value: float, dtype, what: str) -> None:
    """Refuse a result whose magnitude ``2**log2_value`` exceeds the largest float of ``dtype``."""
    info = finfo(dtype)
    if log2_value > math.log2(float(info.max)):
        raise ArgumentValueError(
            f"{what} is about 2^{log2_value:.1f}, above the largest {info.dtype} ({float(info.max):.3g}): "
            "the result cannot be represented; "
            + ("cast the cores to float64 (astype) or rescale" if info.bits == 32 else "rescale the tensor")
        )
