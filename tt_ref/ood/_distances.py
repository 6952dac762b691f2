"""k-th nearest distances to a memory bank, right on every finite input.

The distances come from the GEMM form ``||q||^2 - 2 q.b + ||b||^2``, as in
:func:`tt_ref.search.nearest_neighbors`, but the squares are formed on rescaled data:
each query row ``q_i`` and the bank are divided by powers of two (exact) so that nothing
overflows near the top of the floating-point range (``1e300``: squares are ``inf``) or
underflows near the bottom (``1e-200``: squares are ``0``). With ``E_i`` the larger of the
query's and the bank's exponents, the terms are multiplied by ``4**-E_i`` and the
distance by ``2**E_i`` at the end. Data inside a safe window (``|x| <= 2**L``, ``L``
from the dtype and ``D``) is not rescaled at all, and outside it the rescaling is exact,
so the result is bitwise the same as the plain formula wherever that formula is right.
``specs/ood.md`` §Range states the window and the bound.

A distance whose true value exceeds the dtype's largest number cannot be returned:
that is refused with a clear error, never returned as ``inf``.
"""

from __future__ import annotations

import math

import numpy as np

from .._backend import ArgumentValueError, dtype_name, to_numpy, topk_smallest, work_elements

__all__ = ["row_max_abs", "safe_exponent_limit", "kth_smallest_distances", "index_kth_distances"]


def row_max_abs(x, *, xp, name: str) -> np.ndarray:
    """``max_j |x_ij|`` of each row, on the host in float64 (one read); NaN or inf is refused naming ``name``."""
    if x.shape[0] == 0 or x.shape[1] == 0:
        return np.zeros(x.shape[0])
    m = np.asarray(to_numpy(xp.max(xp.abs(x), axis=1)), dtype=np.float64)
    if not np.all(np.isfinite(m)):
        raise ArgumentValueError(f"{name} contains NaN or inf")
    return m


def safe_exponent_limit(dtype_name: str, dim: int) -> int:
    """``L``: data with ``|x| < 2**L`` (and row maxima ``>= 2**-L``) needs no rescaling.

    Below the top: ``4 D (2**L)**2`` (the largest GEMM term) must stay finite. Above the
    bottom: ``eps (2**-L)**2`` must be a normal number, so underflow costs less than
    rounding.
    """
    info = np.finfo(np.dtype(dtype_name))
    over = (info.maxexp - 4 - math.ceil(math.log2(max(dim, 1)))) // 2
    under = (-info.minexp - info.nmant) // 2 - 2
    return max(1, min(over, under))


def _exponents(maxima: np.ndarray, limit: int) -> np.ndarray:
    """Power-of-two exponent per entry: 0 inside the window ``[2**-limit, 2**limit)``, else ``frexp``'s."""
    _, e = np.frexp(maxima)
    e = e.astype(np.int64)
    return np.where((maxima == 0) | (np.abs(e) <= limit), 0, e)


def _times_power_of_two(x, exponents: np.ndarray, *, xp):
    """``x * 2**exponents`` (one exponent per row, or one for all), exactly: in two factors that never overflow."""
    if not np.any(exponents):
        return x
    half = exponents // 2
    factors = []
    for part in (half, exponents - half):
        f = np.ldexp(1.0, part).astype(_np_dtype(x.dtype))
        factors.append(float(f) if f.ndim == 0 else xp.asarray(f)[:, None] if x.ndim == 2 else xp.asarray(f))
    return (x * factors[0]) * factors[1]


def _np_dtype(dtype) -> np.dtype:
    return np.dtype(dtype_name(dtype))


def kth_smallest_distances(X, bank, k: int, *, xp, chunk_size: int | None, x_max: np.ndarray, bank_max: float):
    """The ``k`` smallest L2 distances (not squared) from each row of ``X`` to ``bank``, ascending.

    ``X`` ``(n, D)`` and ``bank`` ``(m, D)`` share the backend; the bank is cast to
    ``X``'s dtype after rescaling. ``x_max`` (host, per row) and ``bank_max`` (host) are
    the inputs' largest magnitudes from :func:`row_max_abs`. Returns ``(n, k)`` on
    ``X``'s backend and dtype.
    """
    n, dim = X.shape
    dtype_name = _np_dtype(X.dtype).name
    limit = safe_exponent_limit(dtype_name, dim)
    e_q = _exponents(x_max, limit)
    e_b = int(_exponents(np.asarray([bank_max]), limit)[0])
    e_row = np.maximum(e_q, e_b)
    queries = _times_power_of_two(X, -e_q, xp=xp)
    base = _times_power_of_two(bank, np.asarray(-e_b), xp=xp)
    base = xp.astype(base, X.dtype) if base.dtype != X.dtype else base
    if np.any(e_q) or e_b:
        # Term factors 4**(e_q - E), 2**(e_q + e_b - 2E), 4**(e_b - E): powers of two <= 1;
        # one that underflows multiplies a term below the rounding of the others.
        factors = tuple(np.ldexp(1.0, p).astype(dtype_name) for p in (2 * (e_q - e_row), e_q + e_b - 2 * e_row,
                                                                     2 * (e_b - e_row)))
    else:
        factors = None
    if chunk_size is None:
        chunk_size = max(1, work_elements(xp, 1 << 24) // base.shape[0])
    base_sq = xp.sum(base * base, axis=1)
    out = []
    for start in range(0, n, chunk_size):
        stop = min(start + chunk_size, n)
        d2 = _scaled_squared_distances(queries[start:stop, :], base, base_sq, factors, start, stop, xp=xp)
        out.append(topk_smallest(d2, k, xp=xp)[0])
    if not out:
        return xp.zeros((0, k), dtype=X.dtype)
    scaled = xp.sqrt(xp.concat(out, axis=0))
    _refuse_overflow(scaled, e_row, x_max, bank_max, dim, dtype_name, xp=xp)
    return _times_power_of_two(scaled, e_row, xp=xp)


def _scaled_squared_distances(queries, base, base_sq, factors, start, stop, *, xp):
    """``4**-E_i ||q_i - b_j||^2`` of a chunk of rescaled queries, clipped at 0."""
    q_sq = xp.sum(queries * queries, axis=1)
    gram = queries @ xp.matrix_transpose(base)
    if factors is None:
        d2 = q_sq[:, None] - 2.0 * gram + base_sq[None, :]
    else:
        a, c, d = (xp.asarray(f[start:stop])[:, None] for f in factors)
        d2 = a * q_sq[:, None] - 2.0 * (c * gram) + d * base_sq[None, :]
    return xp.clip(d2, 0.0, None)


def _refuse_overflow(scaled, e_row, x_max, bank_max, dim, dtype_name, *, xp) -> None:
    """A distance above the dtype's largest number is refused, never returned as ``inf``.

    ``scaled`` holds ``2**-E_i`` times the distances; checked before scaling back.
    """
    largest = float(np.finfo(dtype_name).max)
    top = float(np.max(x_max)) if x_max.size else 0.0
    # ||q - b|| <= sqrt(D) (max|q| + max|b|): only near the top can a distance overflow.
    if math.sqrt(dim) * (top + bank_max) < largest / 2:
        return
    with np.errstate(over="ignore"):  # a row whose limit is beyond float64 cannot overflow
        limits = np.ldexp(np.float64(largest), -e_row.astype(np.int64))
    if bool(xp.any(scaled > xp.asarray(limits.astype(dtype_name))[:, None])):
        raise ArgumentValueError(
            f"X is too far from the memory bank: a distance exceeds the largest {dtype_name} ({largest:.3g}); "
            f"rescale the data (entries up to {max(top, bank_max):.3g} here)"
        )


def index_kth_distances(index, X, k: int, *, xp, squared: bool, x_max: np.ndarray, bank_max: float):
    """The ``k``-th distance from each row of ``X`` through an approximate index's ``search``.

    The index forms squared distances without rescaling, so inputs outside the safe
    window are refused (with the window) instead of returning ``inf`` or ``0``.
    """
    dtype_name = _np_dtype(X.dtype).name
    limit = safe_exponent_limit(dtype_name, X.shape[1])
    values = np.concatenate([x_max, [bank_max]])
    if np.any(_exponents(values, limit)):
        raise ArgumentValueError(
            f"the index scores only data with magnitudes in [2**-{limit}, 2**{limit}) for {dtype_name} "
            f"(about {2.0 ** -limit:.3g} to {2.0 ** limit:.3g}); got entries up to {float(np.max(values)):.3g}: "
            "score without an index (index=None), which rescales, or rescale the data"
        )
    distances, _ = index.search(X, k)
    kth = xp.astype(distances[:, k - 1], X.dtype)
    return xp.sqrt(xp.clip(kth, 0.0, None)) if squared else kth
