"""TT-SVD: a dense tensor to the TT format by sequential truncated SVDs.

Definition, guarantees and test tolerances: ``specs/tt_svd.md``.
"""

from __future__ import annotations

import math

from .._backend import ArgumentTypeError, ArgumentValueError, array_namespace, as_float_array, to_floats
from .._backend._neighbors import host_pow2_scale, needs_scaling
from ._linalg import check_eps, check_max_rank, machine_eps, truncated_svd, unfolding_rank_rtol
from ._scaling import check_result_in_range
from ._tensor_train import TensorTrain

__all__ = ["tt_svd"]


def tt_svd(x, *, eps: float | None = None, max_rank: int | None = None, return_error: bool = False,
           _path: str = "auto"):
    """Decompose a dense tensor into a tensor train (Oseledets 2011, TT-SVD).

    Unfold left to right (C order: ``i_1`` slowest) and truncate each unfolding with
    the per-step threshold ``delta = eps / sqrt(d - 1) * ||x||_F``. The discarded parts
    are mutually orthogonal, so ``||x - TT||_F <= eps ||x||_F``.

    Parameters
    ----------
    x : array, ndim >= 1
        Dense real tensor (NumPy, CuPy or array_api_strict). Integer arrays are cast to
        float64. No dimension may be zero; NaN or inf are rejected.
    eps : float, optional
        Relative Frobenius accuracy, ``eps >= 0``. ``None`` or ``0``: exact (ranks up
        to the full unfolding ranks, minus the rank deficiency at machine precision).
    max_rank : int, optional
        Cap on every TT rank (``>= 1``). With it the ``eps`` bound may not hold; ask
        for the achieved error with ``return_error=True``.
    return_error : bool, default False
        Also return the achieved relative error ``||x - TT||_F / ||x||_F``, computed
        exactly as the root of the sum of the discarded squares (0 for a zero ``x``).

    Returns
    -------
    TensorTrain, or (TensorTrain, float) with ``return_error=True``
        Cores are left-orthonormal except the last. A zero tensor gives a rank-1 zero
        tensor train.

    Examples
    --------
    >>> import numpy as np
    >>> from tt_ref import tt_svd
    >>> x = np.multiply.outer(np.multiply.outer([1.0, 2.0], [1.0, 0.0, 1.0]), [3.0, 4.0])
    >>> tt, err = tt_svd(x, eps=1e-8, return_error=True)
    >>> tt.ranks, err < 1e-12
    ((1, 1, 1, 1), True)
    """
    xp = array_namespace(x, names=("x",))
    if not hasattr(x, "shape") or not hasattr(x, "dtype"):
        raise ArgumentTypeError(f"x must be an array, got {type(x).__name__}")
    if x.ndim < 1:
        raise ArgumentValueError(f"x must have at least 1 dimension, got shape {tuple(x.shape)}")
    if any(int(s) == 0 for s in x.shape):
        raise ArgumentValueError(f"x must not have a zero-size dimension, got shape {tuple(x.shape)}")
    x = as_float_array(x, name="x", xp=xp, check_values=False)
    eps = check_eps(eps)
    max_rank = check_max_rank(max_rank)
    shape = tuple(int(s) for s in x.shape)
    d = len(shape)
    x, scale = _scaled_input(x, xp)
    flat = xp.reshape(x, (-1,))
    norm_sq = float(xp.vecdot(flat, flat))
    if scale != 1.0 and norm_sq > 0:
        check_result_in_range(0.5 * math.log2(norm_sq) + math.log2(scale), x.dtype, "||x||_F")
    if norm_sq == 0.0:
        zero = TensorTrain._from_cores(tuple(xp.zeros((1, n, 1), dtype=x.dtype) for n in shape))
        return (zero, 0.0) if return_error else zero
    if d == 1:
        # A copy: the TensorTrain must not share memory with the caller's array.
        one = TensorTrain._from_cores((xp.asarray(xp.reshape(x, (1, shape[0], 1)) * scale, copy=True),))
        return (one, 0.0) if return_error else one
    norm = math.sqrt(norm_sq)
    delta = (eps or 0.0) / math.sqrt(d - 1) * norm
    unit = machine_eps(x.dtype, xp)
    cores = []
    rest = xp.reshape(x, (1, -1))
    rank = 1
    rest_sq = norm_sq  # ||rest||_F^2, tracked so the path rule needs no extra pass
    discarded_sq = 0.0
    for j in range(d - 1):
        unfolding = xp.reshape(rest, (rank * shape[j], -1))
        rows = math.prod(shape[: j + 1])
        left, rest, disc = truncated_svd(
            unfolding, delta=delta, max_rank=max_rank, xp=xp, unit=unit, path=_path, norm_sq=rest_sq,
            rank_rtol=unfolding_rank_rtol(rows, math.prod(shape) // rows, unit),
        )
        new_rank = left.shape[1]
        cores.append(xp.reshape(left, (rank, shape[j], new_rank)))
        rank = new_rank
        discarded_sq += disc
        rest_sq = max(rest_sq - disc, 0.0)
    # The last core carries the norm: back to the caller's scale (exact, a power of two).
    cores.append(xp.reshape(rest * scale if scale != 1.0 else rest, (rank, shape[-1], 1)))
    tt = TensorTrain._from_cores(tuple(cores))
    if return_error:
        return tt, math.sqrt(discarded_sq) / norm
    return tt


def _scaled_input(x, xp):
    """``(x / s, s)``: refuse NaN and inf (the same host read), and divide by a power of two
    ``s`` when squares of ``x``'s entries would overflow or lose digits to underflow
    (``specs/tt_svd.md`` §Range); ``s = 1`` (no copy) in the normal range."""
    amax, = to_floats(xp.max(xp.abs(x)))
    if not math.isfinite(amax):
        raise ArgumentValueError("x contains NaN or inf")
    if not needs_scaling(amax, x.dtype, n_terms=math.prod(x.shape)):
        return x, 1.0
    scale = host_pow2_scale(amax)
    return x / scale, scale
