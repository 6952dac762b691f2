"""Orthogonalization and rounding (recompression) of tensor trains.

Definitions, guarantees and test tolerances are in ``specs/rounding.md``.
"""

from __future__ import annotations

import builtins
import math

from .._backend import ArgumentTypeError, ArgumentValueError, to_floats
from .._backend._neighbors import times_pow2
from ._linalg import (
    _qr_positive,
    check_eps,
    check_max_rank,
    machine_eps,
    qr_r_factor,
    truncated_svd,
    unfolding_rank_rtol,
)
from ._scaling import balance_cores, check_result_in_range, renormalize, zero_exponent
from ._tensor_train import TensorTrain

__all__ = ["orthogonalize", "round"]


def _check_tt(tt, name: str = "tt") -> None:
    if not isinstance(tt, TensorTrain):
        raise ArgumentTypeError(f"{name} must be a TensorTrain, got {type(tt).__name__}")


def _orthogonalize_left(cores: list, xp, stop: int | None = None):
    """Make cores ``0 .. stop-1`` left-orthonormal by QR, sweeping left to right.

    Returns ``(cores, E)``: the tensor is ``2**E`` times that of ``cores`` (``E`` a float64
    0-d array). The cores are balanced first and each carried ``R @ next`` is renormalized
    (``_scaling``), so no partial product overflows or underflows; the last core touched
    (``stop``, default ``d-1``) carries the norm (divided by ``2**E``). Ranks may shrink to
    ``min(r_{j-1} n_j, r_j)``.
    """
    cores, total = balance_cores(cores, xp)
    stop = len(cores) - 1 if stop is None else stop
    for j in range(stop):
        r_left, n, r_right = cores[j].shape
        q, r = _qr_positive(xp.reshape(cores[j], (r_left * n, r_right)), xp)
        new_rank = q.shape[1]
        cores[j] = xp.reshape(q, (r_left, n, new_rank))
        nxt = cores[j + 1]
        carried, exponent = renormalize(r @ xp.reshape(nxt, (r_right, -1)), xp)
        cores[j + 1] = xp.reshape(carried, (new_rank, nxt.shape[1], nxt.shape[2]))
        total = total + exponent
    return cores, total


def _orthogonalize_right(cores: list, xp, stop: int = 0):
    """Make cores ``d-1 .. stop+1`` right-orthonormal by QR (of the transposed
    unfoldings), sweeping right to left; core ``stop`` carries the norm. Returns
    ``(cores, E)`` as :func:`_orthogonalize_left`.
    """
    cores, total = balance_cores(cores, xp)
    for j in range(len(cores) - 1, stop, -1):
        r_left, n, r_right = cores[j].shape
        unfolding = xp.matrix_transpose(xp.reshape(cores[j], (r_left, n * r_right)))
        q, r = _qr_positive(unfolding, xp)
        new_rank = q.shape[1]
        cores[j] = xp.reshape(q.T, (new_rank, n, r_right))
        prev = cores[j - 1]
        merged, exponent = renormalize(xp.reshape(prev, (-1, r_left)) @ r.T, xp)
        cores[j - 1] = xp.reshape(merged, (prev.shape[0], prev.shape[1], new_rank))
        total = total + exponent
    return cores, total


def _right_factors(cores, xp):
    """``factors[j]`` (``p_j x r_j``, ``j = 1 .. d-1``) with ``Z_j = factors[j]^T W_j^T``,
    where ``Z_j`` (``r_j x n_j ... n_d``) is the right interface of cores ``j .. d-1``
    and ``W_j`` has orthonormal columns (never formed).

    The right-to-left QR sweep of TT rounding, keeping only the ``R`` factors:
    ``factors[j]`` is the ``R`` of the transposed right unfolding of core ``j`` with
    ``factors[j + 1]^T`` multiplied in. ``factors[0]`` is ``None``. Each factor is
    renormalized by a power of two; returns ``(factors, E)`` with ``E`` (float64 0-d) the
    sum of those exponents: ``factors[1]`` is ``2**-E`` times the unscaled one.
    """
    d = len(cores)
    factors = [None] * d
    factor = None
    total = zero_exponent(xp)
    for j in range(d - 1, 0, -1):
        r_left, n, r_right = cores[j].shape
        if factor is None:
            unfolding = xp.reshape(cores[j], (r_left, n * r_right))
        else:
            product = xp.reshape(cores[j], (r_left * n, r_right)) @ factor.T
            unfolding = xp.reshape(product, (r_left, n * factor.shape[0]))
        # Renormalized (a power of two): only the subspaces of the factors matter to
        # rounding, and the partial products of many cores must not leave the range.
        factor, exponent = renormalize(qr_r_factor(unfolding.T, xp), xp)
        factors[j] = factor
        total = total + exponent
    return factors, total


def orthogonalize(tt: TensorTrain, direction: str = "left") -> TensorTrain:
    """The same tensor with orthonormal cores (by QR sweeps).

    Parameters
    ----------
    tt : TensorTrain
        The tensor.
    direction : {"left", "right"}
        ``"left"``: cores ``1 .. d-1`` become left-orthonormal (their unfoldings
        ``(r_{j-1} n_j, r_j)`` have orthonormal columns) and the last core carries the
        norm, so ``norm(tt) == ||cores[-1]||_F``. ``"right"``: the mirror image, cores
        ``2 .. d`` right-orthonormal (unfoldings ``(r_{j-1}, n_j r_j)`` with orthonormal
        rows) and the first core carries the norm.

    Returns
    -------
    TensorTrain
        The same tensor up to rounding error. Ranks may shrink where a rank exceeded
        the size of the other side of its unfolding; they never grow. The QR factors
        are sign-fixed (``diag(R) >= 0``), so the result is deterministic.

    Examples
    --------
    >>> import numpy as np
    >>> from tt_ref import TensorTrain
    >>> from tt_ref.tt._rounding import orthogonalize
    >>> tt = TensorTrain([np.ones((1, 2, 3)), np.ones((3, 4, 1))])
    >>> left = orthogonalize(tt, "left")
    >>> left.ranks
    (1, 2, 1)
    >>> g = left.cores[0].reshape(2, 2)
    >>> bool(np.allclose(g.T @ g, np.eye(2)))
    True
    >>> print(f"{float(np.linalg.norm(left.cores[-1])):.6f}")   # ||tt|| = sqrt(2 * 4 * 3**2)
    8.485281
    """
    _check_tt(tt)
    if direction not in ("left", "right"):
        raise ArgumentValueError(f"direction must be 'left' or 'right', got {direction!r}")
    xp = tt.xp
    if direction == "left":
        cores, total = _orthogonalize_left(tt.cores, xp)
        carrier = len(cores) - 1
    else:
        cores, total = _orthogonalize_right(tt.cores, xp)
        carrier = 0
    norm_scaled, exponent = to_floats(xp.linalg.vector_norm(cores[carrier]), total)
    if norm_scaled > 0:
        check_result_in_range(math.log2(norm_scaled) + exponent, tt.dtype, "the tensor's Frobenius norm")
    cores[carrier] = times_pow2(cores[carrier], total, xp=xp)
    return TensorTrain._from_cores(tuple(cores))


def round(tt: TensorTrain, *, eps: float | None = None, max_rank: int | None = None, return_error: bool = False):
    """Recompress a tensor train to lower ranks (TT rounding, Oseledets 2011).

    A right-to-left QR sweep that keeps only the ``R`` factors, then a left-to-right
    truncation sweep of the small matrices ``B_j = M_j R_{j+1}^T`` (which have the
    singular values of the unfoldings of ``tt``) with the per-step threshold
    ``delta = eps / sqrt(d - 1) * ||tt||_F``, so that
    ``||tt - round(tt)||_F <= eps ||tt||_F`` when only ``eps`` is given. The same
    result as Oseledets' algorithm, without forming the orthonormal cores of the QR
    sweep (``specs/rounding.md`` §round).

    Parameters
    ----------
    tt : TensorTrain
        The tensor to round.
    eps : float, optional
        Relative Frobenius accuracy, ``eps >= 0``. ``None`` or ``0`` removes only the
        rank deficiency at machine precision (the result equals ``tt`` to rounding
        error).
    max_rank : int, optional
        Upper bound on every rank (``>= 1``). With it the bound may not hold; the
        achieved error is returned with ``return_error=True``.
    return_error : bool, default False
        Also return the achieved relative error ``||tt - result||_F / ||tt||_F``,
        computed exactly from the discarded parts (which are mutually orthogonal).

    Returns
    -------
    TensorTrain, or (TensorTrain, float) with ``return_error=True``

    Examples
    --------
    >>> import numpy as np
    >>> from tt_ref import TensorTrain
    >>> from tt_ref.tt._rounding import round as tt_round
    >>> rng = np.random.default_rng(0)
    >>> a = TensorTrain([rng.standard_normal(s) for s in [(1, 4, 3), (3, 4, 3), (3, 4, 1)]])
    >>> doubled = TensorTrain([np.concatenate([a.cores[0], a.cores[0]], axis=2),
    ...                        np.concatenate([np.concatenate([a.cores[1], 0 * a.cores[1]], axis=2),
    ...                                        np.concatenate([0 * a.cores[1], a.cores[1]], axis=2)], axis=0),
    ...                        np.concatenate([a.cores[2], a.cores[2]], axis=0)])     # a + a, ranks 6
    >>> rounded, err = tt_round(doubled, eps=1e-10, return_error=True)
    >>> rounded.ranks, err < 1e-12
    ((1, 3, 3, 1), True)
    """
    _check_tt(tt)
    eps = check_eps(eps)
    max_rank = check_max_rank(max_rank)
    xp = tt.xp
    d = tt.ndim
    if d == 1:
        return (tt, 0.0) if return_error else tt
    shape = list(tt.shape)
    # Balanced cores (tensor = 2**core_exp * tensor(cores)); every product below is
    # renormalized, so all thresholds are relative and the scale never reaches the host
    # except once, to refuse a norm beyond the dtype's range (specs/rounding.md §Range).
    cores, core_exp = balance_cores(tt.cores, xp)
    # Right-to-left sweep, R factors only: the unfolding of the tensor at bond j is
    # (left part) @ factors[j + 1]^T @ W^T with W orthonormal, so it has the singular
    # values of the small matrix B_j = M_j factors[j + 1]^T below (up to a power of two).
    factors, factor_exp = _right_factors(cores, xp)
    unit = machine_eps(tt.dtype, xp)
    total = math.prod(shape)
    # M_j (k_{j-1} n_j x r_j): the tensor left of bond j with the kept (orthonormal)
    # left cores factored out. M_0 is the first core.
    step = xp.reshape(cores[0], (shape[0], -1))
    projected = step @ factors[1].T
    scaled_norm, log2_scale = to_floats(xp.linalg.vector_norm(projected), core_exp + factor_exp)
    if scaled_norm == 0.0:
        zero = TensorTrain._from_cores(tuple(xp.zeros((1, n, 1), dtype=tt.dtype) for n in shape))
        return (zero, 0.0) if return_error else zero
    # ||tt||_F = 2**log2_scale ||B_0||_F: refuse a tensor whose norm no float holds.
    check_result_in_range(math.log2(scaled_norm) + log2_scale, tt.dtype, "the tensor's Frobenius norm")
    per_step = (eps or 0.0) / math.sqrt(d - 1)  # delta / ||tt||_F
    discarded = 0.0  # sum of the discarded parts so far, as a fraction of ||tt||_F^2
    step_exp = zero_exponent(xp)
    rank, rows = 1, 1
    for j in range(d - 1):
        rows *= shape[j]
        if j > 0:
            projected = step @ factors[j + 1].T
        # B_j = left (left^T B_j) + E_j: left is the new core j, E_j the discarded part
        # (orthogonal to every other step's), and the carry left^T M_j replaces the
        # kept cores in the next step matrix M_{j+1}. ||B_j||^2 = ||tt||^2 (1 - discarded).
        kept = 1.0 if math.isnan(discarded) else builtins.max(1.0 - discarded, 0.0)
        left, carry, disc = truncated_svd(
            projected, delta=per_step / math.sqrt(kept) if kept > 0 else 0.0, max_rank=max_rank, xp=xp,
            unit=unit, rank_rtol=unfolding_rank_rtol(rows, total // rows, unit), need_error=return_error,
            carry=step, relative=True,
        )
        discarded += disc * kept
        new_rank = left.shape[1]
        cores[j] = xp.reshape(left, (rank, shape[j], new_rank))
        rank = new_rank
        nxt = cores[j + 1]
        step, exponent = renormalize(carry @ xp.reshape(nxt, (nxt.shape[0], -1)), xp)
        step_exp = step_exp + exponent
        step = xp.reshape(step, (rank * shape[j + 1], nxt.shape[2]))
    cores[d - 1] = times_pow2(xp.reshape(step, (rank, shape[d - 1], 1)), core_exp + step_exp, xp=xp)
    result = TensorTrain._from_cores(tuple(cores))
    if return_error:
        return result, math.sqrt(builtins.max(discarded, 0.0))
    return result

