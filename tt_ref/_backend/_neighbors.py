"""Exact nearest neighbours by chunked GEMM, and the scale-safe primitives of every
norm and distance in tt_ref.

Used for ground truth (ANN evaluation), coverage / inverse errors (point clouds),
memory-bank scores (OOD) and exact bucket assignment (index). Memory stays
``O(chunk_size * n_base)`` whatever the number of queries.

Scale before squaring. A squared norm or distance of numbers near ``1e154`` (float64)
or ``1e19`` (float32) overflows, and of numbers below ``1e-154`` / ``1e-19`` underflows,
so every quantity formed here is computed on inputs divided by a power of two ``s``
(:func:`pow2_scale`, exact: it changes the exponents only) and multiplied back. In the
normal range the results are bitwise those of the unscaled formulas (scaling by a power
of two commutes with every rounding), so ``s`` is applied only where it is needed when
the decision is free (a host read that happens anyway), and always on the device
otherwise. ``specs/conformance.md`` §Range states the bounds and the supported range.
"""

from __future__ import annotations

import math

import numpy as np

from ._errors import ArgumentValueError
from ._kernels import topk_smallest
from ._namespace import array_namespace, dtype_name, to_floats, work_elements
from ._validation import as_point_sets, check_int, check_optional_int

__all__ = [
    "squared_distances",
    "nearest_neighbors",
    "nearest_neighbors_scaled",
    "pow2_scale",
    "pow2_exponent",
    "times_pow2",
    "host_pow2_scale",
    "needs_scaling",
    "row_norms",
    "normalize_rows",
    "sum_of_squares",
    "check_squares_in_range",
    "scaled_to_safe_range",
    "rescaled_value",
]


# --------------------------------------------------------------------------- powers of two
def finfo(dtype) -> np.finfo:
    """NumPy's ``finfo`` of a float dtype of any backend (float32 or float64)."""
    return np.finfo(np.dtype(dtype_name(dtype)))


def host_pow2_scale(amax: float) -> float:
    """The largest power of two ``s <= amax`` (1.0 for 0): ``amax / s`` lies in ``[1, 2)``.

    Examples
    --------
    >>> host_pow2_scale(12.0), host_pow2_scale(0.0), host_pow2_scale(3 * 2.0 ** -1070) == 2.0 ** -1069
    (8.0, 1.0, True)
    """
    if amax == 0.0 or not math.isfinite(amax):
        return 1.0
    return math.ldexp(1.0, math.frexp(amax)[1] - 1)


def pow2_exponent(x, *, xp, axis=None):
    """``floor(log2(max|x|))`` as a float64 array (0 where ``x`` is zero), computed on the
    device: the exponent of :func:`pow2_scale`.

    Examples
    --------
    >>> import numpy as np
    >>> import array_api_compat.numpy as xp
    >>> float(pow2_exponent(np.array([3.0, -12.5]), xp=xp)), float(pow2_exponent(np.zeros(2), xp=xp))
    (3.0, 0.0)
    """
    amax = xp.max(xp.abs(x), axis=axis)
    wide = xp.astype(amax, xp.float64)
    positive = wide > 0
    safe = xp.where(positive, wide, xp.ones_like(wide))
    exponent = xp.floor(xp.log2(safe))
    # log2 may round up next to a power of two: step down once so that 2**e <= max|x|.
    exponent = xp.where(xp.pow(xp.asarray(2.0, dtype=xp.float64), exponent) > safe, exponent - 1.0, exponent)
    return xp.where(positive, exponent, xp.zeros_like(exponent))


def pow2_scale(x, *, xp, axis=None):
    """The largest power of two ``s <= max|x|`` as an array of ``x``'s dtype, computed on the
    device (no host read); 1 where ``x`` is zero. ``axis`` gives one scale per slice.

    ``s`` is always representable (it is at most ``max|x|``, and at least the smallest
    subnormal), so ``x / s`` and ``y * s`` are exact unless the result underflows.

    Examples
    --------
    >>> import numpy as np
    >>> import array_api_compat.numpy as xp
    >>> float(pow2_scale(np.array([3.0, -12.5]), xp=xp))
    8.0
    >>> pow2_scale(np.array([[3 * 2.0 ** -1000], [0.0]]), xp=xp, axis=1).tolist() == [2.0 ** -999, 1.0]
    True
    """
    exponent = pow2_exponent(x, xp=xp, axis=axis)
    return xp.astype(xp.pow(xp.asarray(2.0, dtype=xp.float64), exponent), x.dtype)


def times_pow2(x, exponent, *, xp):
    """``x * 2**exponent`` for a float64 0-d array ``exponent`` holding an integer, exact
    wherever the result is a normal number, on the device.

    Applied in three equal parts (each representable: at most 2**100 in float32) in the
    order that keeps every intermediate between ``x`` and the result, so only a result
    outside the range overflows (to inf) or underflows (to subnormals or 0); exponents
    beyond any representable result are clipped, which changes nothing.

    Examples
    --------
    >>> import numpy as np
    >>> import array_api_compat.numpy as xp
    >>> times_pow2(np.array([1.5, 0.0], dtype=np.float32), np.asarray(200.0), xp=xp).tolist()
    [inf, 0.0]
    >>> times_pow2(np.array([2.0 ** -140], dtype=np.float32), np.asarray(250.0), xp=xp).tolist() == [2.0 ** 110]
    True
    """
    info = finfo(x.dtype)
    part_max = float(info.maxexp - 28)
    total = xp.clip(exponent, -3.0 * part_max, 3.0 * part_max)
    first = xp.trunc(total / 3.0)
    second = xp.trunc((total - first) / 2.0)
    third = total - first - second
    two = xp.asarray(2.0, dtype=xp.float64)
    for part in (first, second, third):
        x = x * xp.astype(xp.pow(two, part), x.dtype)
    return x


def needs_scaling(amax: float, dtype, *, n_terms: int = 1) -> bool:
    """Whether sums of ``n_terms`` squares of numbers up to ``amax`` leave the safe window of
    ``dtype``: they could overflow, or the squares of entries ``eps * amax`` underflow.

    Examples
    --------
    >>> import numpy as np
    >>> needs_scaling(1.0, np.float64), needs_scaling(1e200, np.float64), needs_scaling(1e-20, np.float32)
    (False, True, True)
    """
    info = finfo(dtype)
    if amax == 0.0:
        return False
    exponent = math.frexp(amax)[1]
    low = math.ceil(info.minexp / 2) + info.nmant + 1
    high = info.maxexp // 2 - 4 - math.ceil(math.log2(max(n_terms, 1)) / 2)
    return not low <= exponent <= high


# --------------------------------------------------------------------------- norms
def sum_of_squares(x, *, xp, axis=None):
    """``sum(x * x)`` without intermediate overflow or underflow: computed on ``x / s`` and
    multiplied by ``s`` twice (``s`` = :func:`pow2_scale`); no host read. Overflows to
    ``inf`` only when the true sum exceeds the largest float.

    Examples
    --------
    >>> import numpy as np
    >>> import array_api_compat.numpy as xp
    >>> float(sum_of_squares(np.array([3e200, 4e200]), xp=xp)) == float("inf")  # 2.5e401 is not a float64
    True
    >>> float(sum_of_squares(np.array([3e-200, 4e-200]), xp=xp))
    0.0
    >>> float(sum_of_squares(np.array([3e100, 4e100]), xp=xp))
    2.5e+201
    """
    if axis is None:
        s = pow2_scale(x, xp=xp)
        y = x / s
        return (xp.sum(y * y) * s) * s
    s = pow2_scale(x, xp=xp, axis=axis)
    y = x / xp.expand_dims(s, axis=axis)
    return (xp.sum(y * y, axis=axis) * s) * s


def row_norms(x, *, xp):
    """Euclidean norms of the rows of a 2-D ``x``, each row scaled by its own power of two
    first: exact to a few ulps for every finite row (a norm overflows only above the largest
    float). Bitwise ``sqrt(sum(x * x, axis=1))`` wherever that does not overflow or underflow.

    Examples
    --------
    >>> import numpy as np
    >>> import array_api_compat.numpy as xp
    >>> row_norms(np.array([[3e300, 4e300], [3e-300, 4e-300], [0.0, 0.0]]), xp=xp).tolist()
    [5e+300, 5e-300, 0.0]
    """
    s = pow2_scale(x, xp=xp, axis=1)
    y = x / s[:, None]
    return xp.sqrt(xp.sum(y * y, axis=1)) * s


def normalize_rows(x, *, xp):
    """``(x / ||x_i||, ||x_i||)`` row by row, scale-safe (:func:`row_norms`); zero rows stay zero.

    Examples
    --------
    >>> import numpy as np
    >>> import array_api_compat.numpy as xp
    >>> unit, norms = normalize_rows(np.array([[3e300, 4e300], [0.0, 0.0], [3e-310, 4e-310]]), xp=xp)
    >>> unit.tolist(), norms.tolist()
    ([[0.6, 0.8], [0.0, 0.0], [0.6, 0.8]], [5e+300, 0.0, 5e-310])
    """
    s = pow2_scale(x, xp=xp, axis=1)
    y = x / s[:, None]
    scaled_norms = xp.sqrt(xp.sum(y * y, axis=1))
    divisor = xp.where(scaled_norms > 0, scaled_norms, xp.ones_like(scaled_norms))
    return y / divisor[:, None], scaled_norms * s


def check_squares_in_range(*arrays, names, xp, factor: float = 1.0) -> float:
    """Refuse inputs whose squared distances could exceed the largest float.

    For rows in ``R^D`` with entries up to ``m = max|x|``, every squared distance is at most
    ``4 D m^2`` (times ``factor^2`` when the rows are further multiplied by vectors of norm
    up to ``factor``). Raises :class:`ArgumentValueError` naming the arguments and the
    supported range when that exceeds ``finfo(dtype).max``; returns ``m``. One host read.

    Examples
    --------
    >>> import numpy as np
    >>> import array_api_compat.numpy as xp
    >>> check_squares_in_range(np.ones((2, 3)), names=("X",), xp=xp)
    1.0
    >>> check_squares_in_range(np.full((2, 3), 1e160), names=("X",), xp=xp)
    Traceback (most recent call last):
    ...
    tt_ref.ArgumentValueError: X: entries up to 1e+160 give squared distances up to ...
    """
    present = [a for a in arrays if a.size > 0]
    if not present:
        return 0.0
    amax = max(to_floats(*(xp.max(xp.abs(a)) for a in present)))
    dim = int(present[0].shape[-1]) if present[0].ndim > 1 else 1
    info = finfo(present[0].dtype)
    limit = math.sqrt(float(info.max) / (4.0 * dim)) / max(factor, 1e-300)
    if not amax <= limit:
        label = ", ".join(names)
        raise ArgumentValueError(
            f"{label}: entries up to {amax:.3g} give squared distances up to 4 D max|x|^2, above the largest "
            f"{info.dtype} ({float(info.max):.3g}); supported: max|x| <= sqrt(max / (4 D)) = {limit:.3g} "
            f"for D = {dim} (rescale the data, or use float64)"
        )
    return amax


def scaled_to_safe_range(*arrays, xp, n_terms: int | None = None):
    """``(*[a / s for a in arrays], s)`` with ``s`` a power of two (a Python float) chosen on
    the arrays' largest entry so that sums of ``n_terms`` squares (default: the row length
    times 4) neither overflow nor underflow; ``s = 1`` and the arrays unchanged when they
    already sit in the safe window (:func:`needs_scaling`). One host read.

    Examples
    --------
    >>> import numpy as np
    >>> import array_api_compat.numpy as xp
    >>> y, s = scaled_to_safe_range(np.array([[3e300, 4e300]]), xp=xp)
    >>> y.tolist(), s == 2.0 ** 998
    ([[1.1199..., 1.4932...]], True)
    """
    present = [a for a in arrays if a.size > 0]
    amax = max(to_floats(*(xp.max(xp.abs(a)) for a in present)), default=0.0) if present else 0.0
    if n_terms is None:
        n_terms = 4 * (int(present[0].shape[-1]) if present and present[0].ndim > 1 else 1)
    if not math.isfinite(amax) or not needs_scaling(amax, arrays[0].dtype, n_terms=n_terms):
        return (*arrays, 1.0)
    scale = host_pow2_scale(amax)
    return (*(a / scale for a in arrays), scale)


def rescaled_value(value: float, scale: float, *, power: int, what: str) -> float:
    """``value * scale**power`` as a Python float (float64), refusing a result beyond
    float64's range with :class:`ArgumentValueError` naming ``what``.

    Examples
    --------
    >>> rescaled_value(2.0, 2.0 ** 512, power=2, what="SW^2")
    Traceback (most recent call last):
    ...
    tt_ref.ArgumentValueError: SW^2 is about 2^1025.0, above the largest float64 (1.8e+308); ...
    """
    result = value
    for _ in range(power):
        result = result * scale
    if math.isinf(result):
        log2 = math.log2(abs(value)) + power * math.log2(scale)
        raise ArgumentValueError(
            f"{what} is about 2^{log2:.1f}, above the largest float64 (1.8e+308); "
            "rescale the inputs"
        )
    return result


# --------------------------------------------------------------------------- distances
def squared_distances(queries, base, *, xp=None, base_sq_norms=None):
    """``||q_i - b_j||^2`` for all pairs, as a ``(n_queries, n_base)`` array.

    Computed as ``||q||^2 - 2 q.b + ||b||^2`` (one GEMM) and clipped at 0, so it is
    accurate to about ``eps * (||q||^2 + ||b||^2)``. Unscaled: callers whose inputs may
    leave the safe window (``needs_scaling``) scale them first, as
    ``nearest_neighbors`` does.
    """
    if xp is None:
        xp = array_namespace(queries, base, names=("queries", "base"))
    if base_sq_norms is None:
        base_sq_norms = xp.sum(base * base, axis=1)
    q_sq = xp.sum(queries * queries, axis=1)
    d2 = q_sq[:, None] - 2.0 * (queries @ xp.matrix_transpose(base)) + base_sq_norms[None, :]
    return xp.clip(d2, 0.0, None)


def _validated_scale(queries, base, xp):
    """Finite check and the host scale decision in one read: ``s`` (a Python float, 1.0 when
    the inputs sit in the safe window) by which both are divided."""
    values = [xp.max(xp.abs(a)) for a in (queries, base) if a.size > 0]
    amaxes = to_floats(*values) if values else ()
    labels = [n for n, a in zip(("queries", "base"), (queries, base)) if a.size > 0]
    for label, amax in zip(labels, amaxes):
        if not math.isfinite(amax):
            raise ArgumentValueError(f"{label} contains NaN or inf")
    amax = max(amaxes, default=0.0)
    n_terms = 4 * int(base.shape[1])
    return host_pow2_scale(amax) if needs_scaling(amax, base.dtype, n_terms=n_terms) else 1.0


def nearest_neighbors_scaled(queries, base, k: int = 1, *, chunk_size: int | None = None,
                             check_values: bool = True):
    """:func:`nearest_neighbors` in scaled units: ``(sq_distances_scaled, ids, s)`` with the
    true squared distances ``sq_distances_scaled * s * s``; ``s`` is a power of two (a 0-d
    array of the inputs' dtype). For callers that take a root or a mean before scaling back,
    so that no representable result passes through an overflowing square.

    Examples
    --------
    >>> import numpy as np
    >>> d2, ids, s = nearest_neighbors_scaled(np.array([[0.0, 0.0]]), np.array([[3e200, 4e200]]))
    >>> float(np.sqrt(d2[0, 0]) * s), ids.tolist()
    (5e+200, [[0]])
    """
    queries, base, xp = as_point_sets(queries, base, names=("queries", "base"), check_values=False,
                                      allow_empty=(True, True))
    n_base = base.shape[0]
    if n_base == 0:
        raise ArgumentValueError("base is empty: no neighbours to search")
    k = check_int(k, name="k", minimum=1, maximum=n_base)  # at most the size of base
    chunk_size = check_optional_int(chunk_size, name="chunk_size", minimum=1)
    if check_values:
        host_scale = _validated_scale(queries, base, xp)
        scale = xp.asarray(host_scale, dtype=base.dtype)
        if host_scale != 1.0:
            queries, base = queries / scale, base / scale
    else:
        # No host read allowed: scale on the device, always (bitwise the unscaled result
        # in the normal range, since the scale is a power of two).
        scale = xp.maximum(pow2_scale(queries, xp=xp), pow2_scale(base, xp=xp)) if queries.size else \
            pow2_scale(base, xp=xp)
        queries, base = queries / scale, base / scale
    if chunk_size is None:
        chunk_size = max(1, work_elements(xp, 1 << 24) // n_base)
    base_sq = xp.sum(base * base, axis=1)
    out_d, out_i = [], []
    n_queries = queries.shape[0]
    for start in range(0, n_queries, chunk_size):
        stop = min(start + chunk_size, n_queries)
        d2 = squared_distances(queries[start:stop, :], base, xp=xp, base_sq_norms=base_sq)
        vals, ids = topk_smallest(d2, k, xp=xp)
        out_d.append(vals)
        out_i.append(ids)
    if not out_d:
        return xp.zeros((0, k), dtype=base.dtype), xp.zeros((0, k), dtype=xp.int64), scale
    return xp.concat(out_d, axis=0), xp.concat(out_i, axis=0), scale


def nearest_neighbors(queries, base, k: int = 1, *, chunk_size: int | None = None, check_values: bool = True,
                      squared: bool = True):
    """The ``k`` nearest rows of ``base`` to each row of ``queries`` (squared L2).

    Parameters
    ----------
    queries : array, shape (n_queries, D)
    base : array, shape (n_base, D)
    k : int
        Number of neighbours, ``1 <= k <= n_base``.
    chunk_size : int, optional
        Queries per GEMM; by default chosen so a chunk of distances holds about 2**24
        entries (more on a GPU: :func:`tt_ref._backend.work_elements`).
    check_values : bool, default True
        Refuse NaN and inf (one host read, which also decides the scaling), and refuse a
        result that is not representable (squared distances above the largest float).
        ``False``: no host read; the inputs are scaled on the device and an unrepresentable
        squared distance comes back as ``inf``.
    squared : bool, default True
        Return squared distances; ``False`` returns distances, representable for every
        finite input up to ``max / (2 sqrt(D))``.

    Returns
    -------
    sq_distances : array, shape (n_queries, k)
        Squared distances (distances with ``squared=False``), ascending along each row.
    ids : array of int64, shape (n_queries, k)
        Row indices into ``base``; ties go to the smaller index.

    Notes
    -----
    The inputs are divided by a power of two before any square is formed (exact), so the
    ids are those of the unscaled problem at every scale, and the distances are accurate to
    ``c D eps (||q||^2 + ||b||^2)`` (the GEMM form; ``specs/conformance.md`` §Distances).

    Examples
    --------
    >>> import numpy as np
    >>> from tt_ref._backend._neighbors import nearest_neighbors
    >>> d2, ids = nearest_neighbors(np.array([[0.0, 0.0]]), np.array([[3.0, 4.0], [1.0, 0.0]]), k=2)
    >>> d2.tolist(), ids.tolist()
    ([[1.0, 25.0]], [[1, 0]])
    >>> nearest_neighbors(np.array([[0.0, 0.0]]), np.array([[3e200, 4e200]]), squared=False)[0].tolist()
    [[5e+200]]
    """
    d2, ids, scale = nearest_neighbors_scaled(queries, base, k, chunk_size=chunk_size, check_values=check_values)
    xp = array_namespace(d2)
    out = (d2 * scale) * scale if squared else xp.sqrt(d2) * scale
    if check_values and out.size and not bool(xp.all(xp.isfinite(out))):
        what = "squared distances" if squared else "distances"
        raise ArgumentValueError(
            f"the {what} exceed the largest {out.dtype} (the inputs reach {float(xp.max(xp.abs(queries))):.3g}"
            f" and {float(xp.max(xp.abs(base))):.3g}); "
            + ("call with squared=False for distances" if squared else "rescale the inputs")
            + (", or use float64" if out.dtype == xp.float32 else "")
        )
    return out, ids
