"""TT-matrices: matrices whose rows and columns are multi-indexed, in the TT format.

``M[(i_1..i_d), (j_1..j_d)] = W_1[:, i_1, j_1, :] @ ... @ W_d[:, i_d, j_d, :]`` with
cores ``W_k`` of shape ``(r_{k-1}, m_k, n_k, r_k)``; row and column multi-indices
flatten in C order. Definitions and tolerances are in ``specs/tt_matrix.md``.
"""

from __future__ import annotations

import math
import numbers
from typing import Sequence

from .._backend import ArgumentTypeError, ArgumentValueError, array_namespace, as_float_array
from ._evaluate import full
from ._tensor_train import CoreTrain, TensorTrain

__all__ = ["TTMatrix", "ttm_svd", "to_dense", "matvec"]


class TTMatrix(CoreTrain):
    """An immutable matrix in the TT format, cores ``(r_{k-1}, m_k, n_k, r_k)``.

    The matrix has shape ``(M, N) = (m_1 ... m_d, n_1 ... n_d)``; row index
    ``(i_1..i_d)`` and column index ``(j_1..j_d)`` flatten in C order.

    Parameters
    ----------
    cores : sequence of 4-D arrays
        One backend, one float dtype, ``r_0 = r_d = 1``.
    check_values : bool, default True
        Reject NaN or inf in the cores.

    Examples
    --------
    >>> import numpy as np
    >>> from tt_ref import TTMatrix, to_dense
    >>> ttm = TTMatrix([np.ones((1, 2, 3, 1)), np.ones((1, 4, 5, 1))])
    >>> ttm.shape, ttm.row_shape, ttm.col_shape, ttm.ranks
    ((8, 15), (2, 4), (3, 5), (1, 1, 1))
    >>> float(to_dense(ttm).sum())
    120.0
    """

    __slots__ = ()
    _core_ndim = 4

    @property
    def row_shape(self) -> tuple[int, ...]:
        """``(m_1, ..., m_d)``."""
        return tuple(int(c.shape[1]) for c in self._cores)

    @property
    def col_shape(self) -> tuple[int, ...]:
        """``(n_1, ..., n_d)``."""
        return tuple(int(c.shape[2]) for c in self._cores)

    @property
    def shape(self) -> tuple[int, int]:
        """``(M, N)`` of the dense matrix."""
        return (math.prod(self.row_shape), math.prod(self.col_shape))

    @property
    def max_rank(self) -> int:
        return max(self.ranks)

    def as_tensor_train(self) -> TensorTrain:
        """The TT tensor of shape ``(m_1 n_1, ..., m_d n_d)`` with merged modes (a view)."""
        xp = self._xp
        return TensorTrain._from_cores(
            tuple(xp.reshape(c, (c.shape[0], c.shape[1] * c.shape[2], c.shape[3])) for c in self._cores)
        )

    def __repr__(self) -> str:
        return (
            f"TTMatrix(row_shape={self.row_shape}, col_shape={self.col_shape}, ranks={self.ranks}, "
            f"dtype={self.dtype}, backend={self.backend!r})"
        )


def _check_mode_shapes(row_shape, col_shape, matrix_shape):
    shapes = []
    for name, given in (("row_shape", row_shape), ("col_shape", col_shape)):
        try:
            given = tuple(given)
        except TypeError as exc:
            raise ArgumentTypeError(f"{name} must be a sequence of ints, got {type(given).__name__}") from exc
        for k, size in enumerate(given):
            if isinstance(size, bool) or not isinstance(size, numbers.Integral):
                raise ArgumentTypeError(f"{name}[{k}] must be an int, got {size!r}")
            if size < 1:
                raise ArgumentValueError(f"{name}[{k}] must be >= 1, got {size}")
        shapes.append(tuple(int(s) for s in given))
    row_shape, col_shape = shapes
    if len(row_shape) == 0 or len(row_shape) != len(col_shape):
        raise ArgumentValueError(
            f"row_shape and col_shape must have the same number d >= 1 of modes, got {row_shape} and {col_shape}"
        )
    if math.prod(row_shape) != matrix_shape[0]:
        raise ArgumentValueError(f"prod(row_shape) = {math.prod(row_shape)} must equal matrix.shape[0] = {matrix_shape[0]}")
    if math.prod(col_shape) != matrix_shape[1]:
        raise ArgumentValueError(f"prod(col_shape) = {math.prod(col_shape)} must equal matrix.shape[1] = {matrix_shape[1]}")
    return row_shape, col_shape


def ttm_svd(matrix, row_shape: Sequence[int], col_shape: Sequence[int], *, eps=None, max_rank=None, return_error=False):
    """TT-matrix of a dense ``(M, N)`` matrix by TT-SVD of its ``(m_k n_k)``-mode tensor.

    The matrix is reshaped to ``(m_1..m_d, n_1..n_d)``, permuted to
    ``(m_1, n_1, ..., m_d, n_d)``, reshaped to ``(m_1 n_1, ..., m_d n_d)`` and passed
    to :func:`tt_ref.tt_svd`; the permutation keeps Frobenius norms, so the guarantee
    is that of TT-SVD: ``||matrix - to_dense(result)||_F <= eps ||matrix||_F`` when
    only ``eps`` is given.

    Parameters
    ----------
    matrix : array, shape (M, N)
    row_shape, col_shape : sequences of d ints, ``prod(row_shape) == M``, ``prod(col_shape) == N``
    eps, max_rank : as in :func:`tt_ref.tt_svd`
    return_error : bool
        Also return the achieved relative error ``||matrix - result||_F / ||matrix||_F``.

    Returns
    -------
    TTMatrix, or (TTMatrix, float) with ``return_error=True``

    Examples
    --------
    >>> import numpy as np
    >>> from tt_ref import to_dense, ttm_svd
    >>> a = np.kron(np.arange(1.0, 5.0).reshape(2, 2), np.eye(3))  # a Kronecker product: TT rank 1
    >>> ttm, err = ttm_svd(a, (2, 3), (2, 3), eps=1e-10, return_error=True)
    >>> ttm.ranks, err < 1e-10
    ((1, 1, 1), True)
    >>> bool(np.allclose(to_dense(ttm), a))
    True
    """
    from ._svd import tt_svd  # same layer; imported when used

    matrix = as_float_array(matrix, name="matrix", ndim=2)
    xp = array_namespace(matrix, names=("matrix",))
    row_shape, col_shape = _check_mode_shapes(row_shape, col_shape, tuple(matrix.shape))
    d = len(row_shape)
    tensor = xp.reshape(matrix, row_shape + col_shape)
    order = tuple(axis for k in range(d) for axis in (k, d + k))
    tensor = xp.permute_dims(tensor, order)
    tensor = xp.reshape(tensor, tuple(m * n for m, n in zip(row_shape, col_shape)))
    result = tt_svd(tensor, eps=eps, max_rank=max_rank, return_error=return_error)
    tt, error = result if return_error else (result, None)
    cores = tuple(
        xp.reshape(core, (core.shape[0], m, n, core.shape[2]))
        for core, m, n in zip(tt.cores, row_shape, col_shape)
    )
    ttm = TTMatrix._from_cores(cores)
    return (ttm, error) if return_error else ttm


def _require_ttm(ttm) -> TTMatrix:
    if not isinstance(ttm, TTMatrix):
        raise ArgumentTypeError(f"ttm must be a TTMatrix, got {type(ttm).__name__}")
    return ttm


def to_dense(ttm: TTMatrix):
    """The dense ``(M, N)`` matrix of a TT-matrix.

    Examples
    --------
    >>> import numpy as np
    >>> from tt_ref import TTMatrix, to_dense
    >>> eye = TTMatrix([np.eye(2).reshape(1, 2, 2, 1), np.eye(3).reshape(1, 3, 3, 1)])
    >>> bool(np.array_equal(to_dense(eye), np.eye(6)))
    True
    """
    ttm = _require_ttm(ttm)
    xp = ttm.xp
    row_shape, col_shape = ttm.row_shape, ttm.col_shape
    d = ttm.ndim
    tensor = xp.reshape(full(ttm.as_tensor_train()), tuple(s for k in range(d) for s in (row_shape[k], col_shape[k])))
    # (m_1, n_1, ..., m_d, n_d) -> (m_1..m_d, n_1..n_d)
    tensor = xp.permute_dims(tensor, tuple(range(0, 2 * d, 2)) + tuple(range(1, 2 * d, 2)))
    return xp.reshape(tensor, ttm.shape)


def _matvec_dense(ttm: TTMatrix, x, xp):
    batch = x.shape[0]
    row_shape, col_shape = ttm.row_shape, ttm.col_shape
    # (B * m_1..m_{k-1}, r_{k-1}, n_k, n_{k+1}..n_d): rows done so far, rank, columns left.
    state = xp.reshape(x, (batch, 1, col_shape[0], math.prod(col_shape[1:])))
    for k, core in enumerate(ttm.cores):
        rank_out = core.shape[3]
        # Sum over r_{k-1} and n_k: (B.., rest, m_k, r_k).
        state = xp.tensordot(state, core, axes=([1, 2], [0, 2]))
        state = xp.permute_dims(state, (0, 2, 3, 1))  # (B.., m_k, r_k, rest)
        rest = state.shape[3]
        if k + 1 < ttm.ndim:
            n_next = col_shape[k + 1]
            state = xp.reshape(state, (state.shape[0] * row_shape[k], rank_out, n_next, rest // n_next))
        else:
            state = xp.reshape(state, (batch, math.prod(row_shape)))
    return state


def _matvec_tt(ttm: TTMatrix, x: TensorTrain, xp):
    cores = []
    for core_m, core_x in zip(ttm.cores, x.cores):
        ra, m, _, ra_next = core_m.shape
        rb, _, rb_next = core_x.shape
        product = xp.tensordot(core_m, core_x, axes=([2], [1]))  # (ra, m, ra', rb, rb')
        product = xp.permute_dims(product, (0, 3, 1, 2, 4))  # (ra, rb, m, ra', rb')
        cores.append(xp.reshape(product, (ra * rb, m, ra_next * rb_next)))
    return TensorTrain._from_cores(tuple(cores))


def matvec(ttm: TTMatrix, x):
    """Product ``ttm @ x`` of a TT-matrix and a dense batch of vectors or a TT vector.

    Parameters
    ----------
    ttm : TTMatrix, shape (M, N)
    x : array of shape (N,) or (B, N), or TensorTrain of shape ``ttm.col_shape``
        Dense vectors are contracted core by core (cost ``O(B r^2 sum_k M_{<=k}
        N_{>=k})``, never the dense matrix); a TT vector gives a TT vector of shape
        ``ttm.row_shape`` with ranks ``r_k(ttm) * r_k(x)`` (round it afterwards).
        ``x`` must share ``ttm``'s backend and dtype.

    Returns
    -------
    array of shape (M,) or (B, M) (``x @ to_dense(ttm).T`` for a batch), or TensorTrain

    Examples
    --------
    >>> import numpy as np
    >>> from tt_ref import TTMatrix, full, matvec, random_tt, to_dense
    >>> rng = np.random.default_rng(0)
    >>> ttm = TTMatrix([rng.standard_normal((1, 2, 3, 2)), rng.standard_normal((2, 4, 5, 1))])
    >>> x = rng.standard_normal((7, 15))
    >>> bool(np.allclose(matvec(ttm, x), x @ to_dense(ttm).T))
    True
    >>> v = random_tt((3, 5), 2, seed=0)
    >>> y = matvec(ttm, v)
    >>> y.shape, y.ranks
    ((2, 4), (1, 4, 1))
    >>> bool(np.allclose(full(y).reshape(-1), to_dense(ttm) @ full(v).reshape(-1)))
    True
    """
    ttm = _require_ttm(ttm)
    if isinstance(x, TensorTrain):
        xp = array_namespace(ttm.cores[0], x.cores[0], names=("ttm", "x"))
        if x.dtype != ttm.dtype:
            raise ArgumentTypeError(f"x has dtype {x.dtype} but ttm has {ttm.dtype}; cast one with .astype(...)")
        if x.shape != ttm.col_shape:
            raise ArgumentValueError(f"x.shape = {x.shape} must equal ttm.col_shape = {ttm.col_shape}")
        return _matvec_tt(ttm, x, xp)
    xp = array_namespace(ttm.cores[0], x, names=("ttm", "x"))
    x = as_float_array(x, name="x", xp=xp)
    if x.dtype != ttm.dtype:
        raise ArgumentTypeError(f"x has dtype {x.dtype} but ttm has {ttm.dtype}; cast one of them")
    n_cols = ttm.shape[1]
    if x.ndim not in (1, 2) or x.shape[-1] != n_cols:
        raise ArgumentValueError(f"x must have shape ({n_cols},) or (B, {n_cols}), got {tuple(x.shape)}")
    if x.ndim == 1:
        return xp.reshape(_matvec_dense(ttm, xp.reshape(x, (1, n_cols)), xp), (ttm.shape[0],))
    return _matvec_dense(ttm, x, xp)
