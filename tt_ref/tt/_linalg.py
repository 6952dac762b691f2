"""The truncated-SVD kernel shared by TT-SVD and TT rounding.

:func:`truncated_svd` splits a matrix ``A`` (``m x n``) as ``A ~ left @ right`` with
``left`` (``m x k``) having orthonormal columns, ``right = left^T A`` (``k x n``), and
returns the EXACT discarded Frobenius norm squared ``||A - left @ right||_F^2``.

Two paths (``specs/tt_svd.md`` §"Which linear-algebra path runs when"):

* ``"gram"`` (fast): eigendecomposition of the Gram matrix of the short side (one small
  ``eigh``) plus GEMMs. The discarded part is measured, never estimated: either as the
  squared norms of the discarded coordinates ``Q^T A`` in the orthonormal eigenbasis
  (wide, ``2k >= m``) or as the direct residual ``||A - left @ right||_F^2``. Eigh of the
  Gram resolves singular values only down to about ``sqrt(unit) * ||A||`` (``unit`` the
  machine epsilon), so this path runs only when the threshold is well above that.
* ``"qr"`` (accurate): LAPACK's SVD directly (small matrices), or QR of ``A`` (tall) or
  of ``A^T`` (wide, i.e. an LQ of ``A``) and then ``svd(..., full_matrices=False)`` of the
  small triangular factor. Singular values are accurate to about ``unit * ||A||``.

``"auto"`` picks ``"gram"`` when ``delta >= GRAM_MARGIN * sqrt(unit) * ||A||_F`` and
``"qr"`` otherwise (so ``delta = 0``, exact reconstruction or ``max_rank`` alone, is
always ``"qr"``).

``truncated_svd(..., relative=True)`` reads ``delta`` relative to ``||A||_F`` (taken from the
spectrum it computes anyway) and returns the discarded part as a fraction of ``||A||_F^2``:
TT rounding runs on matrices divided by unknown powers of two (scale safety,
``specs/rounding.md`` §Range) and never needs their scale on the host.

``truncated_svd(..., carry=M)`` returns ``left^T M`` in place of ``left^T A``: TT rounding
truncates ``B = M F^T`` and carries ``left^T M`` into the next original core
(``specs/rounding.md`` §round). :func:`qr_r_factor` is the ``R`` of a Householder QR
without forming ``Q`` (``mode="r"`` on NumPy and CuPy, the standard reduced QR elsewhere).

Two-dimensional transposes use the standard's ``.T`` attribute: on these small matrices it
is an order of magnitude cheaper than ``xp.matrix_transpose`` (a wrapped call).

Signs are fixed so the output is deterministic: the entry of largest magnitude in each
column of ``left`` is positive (if the largest positive and negative entries tie in
magnitude, the column keeps LAPACK's sign).
"""

from __future__ import annotations

import math
import numbers

import array_api_compat
import numpy as np

from .._backend import ArgumentTypeError, ArgumentValueError, to_numpy

__all__ = ["truncated_svd", "choose_rank", "check_eps", "check_max_rank", "machine_eps", "GRAM_MARGIN", "PATHS"]

#: ``"gram"`` runs when ``delta >= GRAM_MARGIN * sqrt(unit) * ||A||_F``.
GRAM_MARGIN = 32.0
#: Accepted values of ``path``.
PATHS = ("auto", "gram", "qr")


def unfolding_rank_rtol(rows: int, cols: int, unit: float) -> float:
    """The numerical-rank tolerance of an unfolding of the whole tensor (``rows x cols``):
    ``max(rows, cols) * unit`` (numpy's ``matrix_rank`` rule), never above ``sqrt(unit)``."""
    return min(max(rows, cols) * unit, math.sqrt(unit))


def machine_eps(dtype, xp) -> float:
    """Machine epsilon of a float dtype as a Python float."""
    return float(xp.finfo(dtype).eps)


def check_eps(eps) -> float | None:
    """Validate ``eps`` (``None`` or a finite real ``>= 0``); return it as a float."""
    if eps is None:
        return None
    if isinstance(eps, bool) or not isinstance(eps, numbers.Real):
        raise ArgumentTypeError(f"eps must be a real number >= 0 or None, got {type(eps).__name__}")
    eps = float(eps)
    if math.isnan(eps) or eps < 0 or math.isinf(eps):
        raise ArgumentValueError(f"eps must be a finite number >= 0, got {eps}")
    return eps


def check_max_rank(max_rank) -> int | None:
    """Validate ``max_rank`` (``None`` or an integer ``>= 1``)."""
    if max_rank is None:
        return None
    if isinstance(max_rank, bool) or not isinstance(max_rank, numbers.Integral):
        raise ArgumentTypeError(f"max_rank must be an integer >= 1 or None, got {type(max_rank).__name__}")
    if max_rank < 1:
        raise ArgumentValueError(f"max_rank must be >= 1, got {max_rank}")
    return int(max_rank)


def choose_rank(s2_desc, delta: float, max_rank: int | None, tol_sq: float) -> int:
    """The kept rank for squared singular values ``s2_desc`` (host, descending).

    The smallest ``k >= 1`` whose discarded tail ``sum(s2_desc[k:])`` is at most
    ``delta**2``, capped by ``max_rank`` and by the numerical rank (number of entries
    above ``tol_sq``, at least 1).
    """
    # Short host vectors: plain Python floats are fastest.
    values = np.maximum(np.asarray(s2_desc, dtype=np.float64), 0.0).tolist()
    p = len(values)
    limit = delta * delta
    k_eps, tail = p, 0.0
    # Walk from the end: k_eps is the smallest k with sum(values[k:]) <= delta^2.
    for k in range(p - 1, 0, -1):
        tail += values[k]
        if tail > limit:
            break
        k_eps = k
    k = max(1, k_eps)
    if values and values[k - 1] <= tol_sq:  # the numerical rank cuts deeper
        k = max(1, sum(1 for v in values if v > tol_sq))
    if max_rank is not None:
        k = min(k, max_rank)
    return k


def _column_signs(mat, xp):
    """+-1 per column of ``mat`` so that each column's largest-magnitude entry is
    positive (when the largest and the most negative entries tie in magnitude, the
    column is left as is). Four cheap reductions, no gather."""
    largest = xp.max(mat, axis=0)
    smallest = xp.min(mat, axis=0)
    one = xp.asarray(1.0, dtype=mat.dtype)
    return xp.where(largest >= -smallest, one, -one)


def _qr_positive(a, xp):
    """Reduced QR with ``diag(R) >= 0`` (deterministic signs)."""
    q, r = xp.linalg.qr(a, mode="reduced")
    diag = xp.linalg.diagonal(r)
    one = xp.asarray(1.0, dtype=a.dtype)
    signs = xp.where(diag < 0, -one, one)
    return q * signs[None, :], r * signs[:, None]


def qr_r_factor(a, xp):
    """The ``R`` factor of the reduced Householder QR of ``a`` (``min(m, n) x n``).

    The standard's ``linalg.qr`` always forms ``Q`` too, which costs as much as ``R``
    itself; NumPy and CuPy can skip it (``mode="r"``, the same ``geqrf`` and so the same
    bits of ``R``). Other namespaces take the standard reduced QR and drop ``Q``. Only
    ``round`` uses this, where ``Q`` is never needed (``specs/rounding.md``).
    """
    if array_api_compat.is_numpy_namespace(xp):
        return np.linalg.qr(a, mode="r")
    if array_api_compat.is_cupy_namespace(xp):
        import cupy

        return cupy.linalg.qr(a, mode="r")
    return xp.linalg.qr(a, mode="reduced")[1]


def _residual_sq(a, left, right, xp, block_entries: int = 1 << 18):
    """``||A - left @ right||_F^2`` computed directly, a block of columns at a time
    (memory ``O(block_entries)``, accurate to about ``unit * ||A||`` in the norm)."""
    m, n = a.shape
    step = max(1, min(n, block_entries // max(m, 1)))
    total = None
    for start in range(0, n, step):
        stop = min(start + step, n)
        block = xp.reshape(a[:, start:stop] - left @ right[:, start:stop], (-1,))
        part = xp.vecdot(block, block)
        total = part if total is None else total + part
    return float(total)


def _descending_eigh(gram, xp):
    """Eigenpairs of a symmetric matrix, largest first; values on the host."""
    values, vecs = xp.linalg.eigh(gram)
    lam = np.maximum(to_numpy(values).astype(np.float64)[::-1], 0.0)
    return lam, xp.flip(vecs, axis=1)


def _gram_exact_rows(a, vecs, delta, max_rank, xp, carry=None, relative=False):
    """Wide ``A``: ``W = Q^T A`` for the whole eigenbasis ``Q``; the rank is chosen on the
    exact squared row norms of ``W`` (the discarded rows are the error, exactly)."""
    vecs = vecs * _column_signs(vecs, xp)[None, :]
    coords = vecs.T @ a
    s2 = to_numpy(xp.vecdot(coords, coords, axis=-1)).astype(np.float64)
    order = np.argsort(-s2, kind="stable")
    s2_sorted = s2[order]
    total = float(np.sum(s2_sorted))
    if relative:
        delta = delta * math.sqrt(total)
    # No numerical-rank cut here: s2 is measured exactly, so the eps rule alone decides.
    k = choose_rank(s2_sorted, delta, max_rank, 0.0)
    discarded = float(np.sum(s2_sorted[k:]))
    kept = order[:k]
    if np.array_equal(kept, np.arange(k)):
        left, right = vecs[:, :k], coords[:k, :]
    else:
        kept_xp = xp.asarray(kept.astype(np.int64))
        left, right = xp.take(vecs, kept_xp, axis=1), xp.take(coords, kept_xp, axis=0)
    return left, _carried(left, right, carry, xp), _as_fraction(discarded, total) if relative else discarded


def _as_fraction(discarded: float, total: float) -> float:
    """``discarded / total`` (0 for a zero matrix; NaN stays NaN)."""
    return discarded / total if total > 0 else (discarded if math.isnan(discarded) else 0.0)


def _carried(left, right, carry, xp):
    """``right`` (``left^T A``), or ``left^T carry`` when the caller passed ``carry``."""
    return right if carry is None else left.T @ carry


def _orthonormalize_columns(cols, norms, xp):
    """Scale the nearly orthogonal columns of ``cols`` by ``1 / norms`` and finish with
    one Cholesky QR step (``C = Q^T Q = L L^T``, ``Q <- Q L^{-T}``): orthonormal to
    rounding when the columns are far from dependent. ``None`` if the Cholesky fails."""
    cols = cols / norms[None, :]
    k = cols.shape[1]
    try:
        chol = xp.linalg.cholesky(cols.T @ cols)
    except ValueError:  # numpy / array_api_strict: LinAlgError (a ValueError)
        return None
    # Backends that return NaN instead of raising: a failed pivot poisons the last one.
    if not math.isfinite(float(chol[k - 1, k - 1])):
        return None
    return cols @ xp.linalg.inv(chol).T


def _gram_path(a, delta, max_rank, unit, xp, capped: bool = False, need_error: bool = True, carry=None,
               relative: bool = False):
    """The fast path. With ``capped=True`` (no usable ``delta``, a binding ``max_rank``)
    it runs only if every kept singular value is resolvable from the Gram matrix
    (``s_k >= GRAM_MARGIN * sqrt(unit) * s_1``) and returns ``None`` otherwise.
    ``relative=True``: ``delta`` and the returned discarded part are relative to
    ``||A||_F`` (the trace of the Gram matrix, from its eigenvalues)."""
    m, n = a.shape
    wide = m <= n
    gram = a @ a.T if wide else a.T @ a
    lam, vecs = _descending_eigh(gram, xp)
    if relative:
        total = float(np.sum(lam))
        result = _gram_path_absolute(a, delta * math.sqrt(total), max_rank, unit, xp, capped, need_error, carry,
                                     lam, vecs)
        if result is None:
            return None
        left, right, discarded = result
        return left, right, _as_fraction(discarded, total)
    return _gram_path_absolute(a, delta, max_rank, unit, xp, capped, need_error, carry, lam, vecs)


def _gram_path_absolute(a, delta, max_rank, unit, xp, capped, need_error, carry, lam, vecs):
    """:func:`_gram_path` once the eigenpairs are known and ``delta`` is absolute."""
    m, n = a.shape
    wide = m <= n
    k = choose_rank(lam, delta, max_rank, 0.0)
    resolvable = lam[k - 1] >= GRAM_MARGIN**2 * unit * lam[0]
    if capped and not resolvable:
        return None
    if wide and 2 * k >= m:
        # Projecting on the whole basis costs no more than kept rows plus a residual.
        return _gram_exact_rows(a, vecs, delta, max_rank, xp, carry)
    left = None
    if wide:
        left = vecs[:, :k]
    elif resolvable:
        # Tall: A V_k has orthogonal columns of norms ~ sqrt(lam) up to unit * s_1^2 / s_k^2.
        norms = xp.asarray(np.sqrt(lam[:k]), dtype=a.dtype)
        left = _orthonormalize_columns(a @ vecs[:, :k], norms, xp)
    if left is None:
        return _qr_path(a, delta, max_rank, unit, xp, carry=carry)
    left = left * _column_signs(left, xp)[None, :]
    binding = max_rank is not None and k >= max_rank
    if binding and not need_error:
        # Nothing to check, nobody asked for the error: skip the residual (and, with a
        # carry, the product left^T A).
        right = left.T @ (a if carry is None else carry)
        return left, right, math.nan
    right = left.T @ a
    discarded = _residual_sq(a, left, right, xp)
    if discarded <= delta * delta or k == min(m, n) or binding:
        return left, _carried(left, right, carry, xp), discarded
    # The eigenvalue tail under-estimated the discarded part: decide on exact numbers.
    if wide:
        return _gram_exact_rows(a, vecs, delta, max_rank, xp, carry)
    return _qr_path(a, delta, max_rank, unit, xp, carry=carry)


def _qr_path(a, delta, max_rank, unit, xp, rank_rtol=None, carry=None, relative=False):
    m, n = a.shape
    tall = m > n
    if m * n <= (1 << 16) or (min(m, n) <= 64 and m * n <= (1 << 20)):
        q, small = None, a  # small: LAPACK's SVD directly
    elif tall:
        q, small = xp.linalg.qr(a, mode="reduced")  # A = Q R, R: n x n
    else:
        # LQ of A from the QR of A^T: A = L Q^T with L = R^T (m x m).
        _, r = xp.linalg.qr(a.T, mode="reduced")
        q, small = None, r.T
    u, s, vt = xp.linalg.svd(small, full_matrices=False)
    s_host = to_numpy(s).astype(np.float64)
    s2 = s_host * s_host
    if rank_rtol is None:
        rank_rtol = max(m, n) * unit
    tol = (float(s_host[0]) if s_host.size else 0.0) * rank_rtol
    total = float(np.sum(s2))
    if relative:
        delta = delta * math.sqrt(total)
    k = choose_rank(s2, delta, max_rank, tol * tol)
    discarded = float(np.sum(s2[k:]))
    u_k = u[:, :k]
    if q is not None:
        u_k = q @ u_k
    signs = _column_signs(u_k, xp)
    left = u_k * signs[None, :]
    if carry is not None:
        right = left.T @ carry
    elif q is not None or small is a:
        # right = S_k V_k^T (= left^T A up to rounding), signs folded in.
        right = (s[:k] * signs)[:, None] * vt[:k, :]
    else:
        # right = left^T A: one GEMM, no n x m orthogonal factor kept.
        right = left.T @ a
    return left, right, _as_fraction(discarded, total) if relative else discarded


def truncated_svd(a, *, delta: float = 0.0, max_rank: int | None = None, xp, unit: float | None = None,
                  path: str = "auto", norm_sq: float | None = None, rank_rtol: float | None = None,
                  need_error: bool = True, carry=None, relative: bool = False):
    """Truncate a matrix to the smallest rank whose discarded part is within ``delta``.

    Parameters
    ----------
    a : array, shape (m, n)
        Real float matrix (any aspect ratio).
    delta : float
        Absolute Frobenius threshold: the kept rank ``k`` is the smallest with
        ``||A - left @ right||_F <= delta`` (up to the numerical rank and ``max_rank``).
    max_rank : int, optional
        Cap on ``k``.
    xp : namespace
        Array namespace of ``a``.
    unit : float, optional
        Machine epsilon of ``a``'s dtype (computed when omitted).
    path : {"auto", "gram", "qr"}
        Force a path (tests).
    norm_sq : float, optional
        ``||A||_F^2`` if the caller knows it (saves a pass for the ``"auto"`` rule).
    rank_rtol : float, optional
        On the ``"qr"`` path, singular values ``<= rank_rtol * s_max`` count as zero
        (the numerical rank). Default ``max(m, n) * unit`` (numpy's ``matrix_rank``
        rule); TT callers pass the rule for the unfolding of the whole tensor.
    need_error : bool, default True
        ``False`` lets the Gram path skip measuring the residual when nothing depends on
        it (a binding ``max_rank``); ``discarded_sq`` is then NaN.
    carry : array, shape (m, p), optional
        If given, ``right`` is ``left^T carry`` instead of ``left^T A`` (``round``
        passes the unprojected step matrix: ``A = carry @ F^T``, ``specs/rounding.md``).
    relative : bool, default False
        ``delta`` is relative to ``||A||_F`` (``||A - left @ right||_F <= delta ||A||_F``)
        and ``discarded_sq`` comes back as a fraction of ``||A||_F^2``; the norm is taken
        from the spectrum the kernel computes anyway (no extra pass, no host read).

    Returns
    -------
    left : array, shape (m, k)
        Orthonormal columns, sign-fixed.
    right : array, shape (k, n)
        ``left^T A`` (shape ``(k, p)``, ``left^T carry``, when ``carry`` is given).
    discarded_sq : float
        ``||A - left @ right||_F^2``, exact to rounding (NaN only with
        ``need_error=False``).

    Examples
    --------
    >>> import numpy as np
    >>> import array_api_compat.numpy as xp
    >>> from tt_ref.tt._linalg import truncated_svd
    >>> a = np.outer([1.0, 2.0], [3.0, 4.0, 5.0]) + 1e-3 * np.eye(2, 3)
    >>> left, right, disc = truncated_svd(a, delta=0.01, xp=xp)
    >>> left.shape, right.shape, bool(np.isclose(disc, np.linalg.norm(a - left @ right) ** 2))
    ((2, 1), (1, 3), True)
    """
    if path not in PATHS:
        raise ArgumentValueError(f"path must be one of {PATHS}, got {path!r}")
    if unit is None:
        unit = machine_eps(a.dtype, xp)
    m, n = a.shape
    if relative:
        norm_sq = 1.0  # delta is already in units of ||A||_F
    if path == "auto":
        if delta > 0:
            if norm_sq is None:
                norm_sq = float(xp.vecdot(xp.reshape(a, (-1,)), xp.reshape(a, (-1,))))
            if delta * delta >= GRAM_MARGIN**2 * unit * norm_sq:
                return _gram_path(a, delta, max_rank, unit, xp, carry=carry, relative=relative)
        if max_rank is not None and max_rank < min(m, n):
            # A binding rank cap: the Gram path if the kept spectrum is resolvable.
            result = _gram_path(a, delta, max_rank, unit, xp, capped=True, need_error=need_error, carry=carry,
                                relative=relative)
            if result is not None:
                return result
        path = "qr"
    if path == "gram":
        return _gram_path(a, delta, max_rank, unit, xp, carry=carry, relative=relative)
    return _qr_path(a, delta, max_rank, unit, xp, rank_rtol, carry=carry, relative=relative)
