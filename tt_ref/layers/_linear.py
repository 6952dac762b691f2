"""The TT-matrix linear layer as functions: forward ``y = x W^T + b``, its analytic backward,
and the cost model that picks the contraction order.

``W`` is a :class:`tt_ref.TTMatrix` of shape ``(M, N) = (n_out, n_in)``: row (output)
modes ``m_k``, column (input) modes ``n_k``, cores ``(r_{k-1}, m_k, n_k, r_k)``, so the
layer is PyTorch's ``F.linear(x, to_dense(W), b)``. Definitions, the cost model and the
memory bounds are in ``specs/ttm_layer.md``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .._backend import ArgumentTypeError, ArgumentValueError, array_namespace, as_float_array, check_choice, check_int
from ..tt import TTMatrix
from ._contract import (
    c_order,
    dense_gradient_to_cores,
    dense_matrix,
    reverse_modes,
    reversed_cores,
    sweep_backward,
    sweep_forward,
    transposed_cores,
)
from ._cost import PATHS, SAVINGS, backward_costs, choose_path, dense_split, forward_costs, memory_elements

__all__ = ["TTMLinearSaved", "TTMLinearGradients", "ttm_linear", "ttm_linear_forward", "ttm_linear_backward",
           "ttm_linear_cost"]


@dataclass(frozen=True)
class TTMLinearSaved:
    """What :func:`ttm_linear_forward` keeps for :func:`ttm_linear_backward`.

    Attributes
    ----------
    weight : TTMatrix
        The layer's weight (referenced, not copied).
    path : str
        The contraction order the forward ran: ``"left_to_right"``, ``"right_to_left"``
        or ``"dense"``.
    saving : str
        ``"full"``: the sweep's states (or ``x`` and the dense ``W``); ``"lean"``: ``x`` only.
    batch_shape : tuple of int
        The leading dimensions of ``x``.
    has_bias : bool
        Whether the forward added a bias (then backward returns its gradient).
    arrays : tuple of arrays
        The kept arrays: states ``L_0 .. L_{d-1}`` of the sweep (``full``; for
        ``right_to_left`` those of the reversed sweep), ``(x, W_dense)`` (``full``, dense
        path) or ``(x,)`` (``lean``); ``x`` flattened to ``(B, N)``.
    """

    weight: TTMatrix
    path: str
    saving: str
    batch_shape: tuple
    has_bias: bool
    arrays: tuple

    @property
    def n_saved_elements(self) -> int:
        """Elements of :attr:`arrays` (the bound of ``specs/ttm_layer.md`` §Memory)."""
        return sum(math.prod(int(s) for s in a.shape) for a in self.arrays)

    def __repr__(self) -> str:
        return (
            f"TTMLinearSaved(path={self.path!r}, saving={self.saving!r}, batch_shape={self.batch_shape}, "
            f"has_bias={self.has_bias}, n_saved_elements={self.n_saved_elements})"
        )


@dataclass(frozen=True)
class TTMLinearGradients:
    """Gradients returned by :func:`ttm_linear_backward`.

    Attributes
    ----------
    x : array, shape of the forward's ``x``
    cores : tuple of arrays, the shapes of ``weight.cores``
    bias : array of shape (M,), or None when the forward had no bias
    """

    x: object
    cores: tuple
    bias: object = None


# --------------------------------------------------------------------------- validation
def _check_weight(weight) -> TTMatrix:
    if not isinstance(weight, TTMatrix):
        raise ArgumentTypeError(f"weight must be a TTMatrix, got {type(weight).__name__}")
    return weight


def _check_inputs(x, weight, bias):
    """``(xp, x as (B, N), batch_shape, bias)`` after the checks of ``specs/ttm_layer.md`` §Errors."""
    weight = _check_weight(weight)
    names, arrays = ("weight", "x"), (weight.cores[0], x)
    if bias is not None:
        names, arrays = names + ("bias",), arrays + (bias,)
    try:
        xp = array_namespace(*arrays, names=names)
    except TypeError as exc:
        raise ArgumentTypeError(str(exc)) from exc
    x = as_float_array(x, name="x", xp=xp)
    n_out, n_in = weight.shape
    if x.ndim < 1 or x.shape[-1] != n_in:
        raise ArgumentValueError(f"x must have shape (..., {n_in}) (n_in = weight.shape[1]), got {tuple(x.shape)}")
    if x.dtype != weight.dtype:
        raise ArgumentTypeError(f"x has dtype {x.dtype} but weight has {weight.dtype}; cast one of them")
    if bias is not None:
        bias = as_float_array(bias, name="bias", xp=xp)
        if tuple(bias.shape) != (n_out,):
            raise ArgumentValueError(f"bias must have shape ({n_out},) (n_out = weight.shape[0]), got {tuple(bias.shape)}")
        if bias.dtype != weight.dtype:
            raise ArgumentTypeError(f"bias has dtype {bias.dtype} but weight has {weight.dtype}; cast one of them")
    batch_shape = tuple(int(s) for s in x.shape[:-1])
    return xp, c_order(x, (math.prod(batch_shape), n_in), xp), batch_shape, bias


def _resolve_path(path, weight: TTMatrix, batch: int, saving) -> str:
    check_choice(path, ("auto",) + PATHS, name="path")
    if path != "auto":
        return path
    return choose_path(weight.row_shape, weight.col_shape, weight.ranks, batch, saving)


# --------------------------------------------------------------------------- kernels
def _apply(x2, weight: TTMatrix, path: str, xp, *, keep: bool):
    """``x2 @ to_dense(weight).T`` along ``path``; returns ``(y2, kept arrays)``."""
    row_shape, col_shape = weight.row_shape, weight.col_shape
    if path == "left_to_right":
        return sweep_forward(x2, weight.cores, row_shape, col_shape, xp, keep_states=keep)
    if path == "right_to_left":
        rev_rows, rev_cols = row_shape[::-1], col_shape[::-1]
        x_rev = reverse_modes(x2, col_shape, xp)
        y_rev, states = sweep_forward(x_rev, reversed_cores(weight.cores, xp), rev_rows, rev_cols, xp,
                                      keep_states=keep)
        return reverse_modes(y_rev, rev_rows, xp), states
    split, _ = dense_split(row_shape, col_shape, weight.ranks)
    dense = dense_matrix(weight.cores, row_shape, col_shape, split, xp)
    y2 = xp.tensordot(x2, dense, axes=([1], [1]))
    return y2, ((x2, dense) if keep else ())


def _sweep_gradients(grad_y, saved: TTMLinearSaved, xp):
    weight = saved.weight
    row_shape, col_shape = weight.row_shape, weight.col_shape
    if saved.path == "left_to_right":
        return sweep_backward(grad_y, saved.arrays, weight.cores, row_shape, col_shape, xp)
    rev_rows, rev_cols = row_shape[::-1], col_shape[::-1]
    grad_rev = reverse_modes(grad_y, row_shape, xp)
    grad_x_rev, grads_rev = sweep_backward(grad_rev, saved.arrays, reversed_cores(weight.cores, xp),
                                           rev_rows, rev_cols, xp)
    grads = tuple(xp.permute_dims(g, (3, 1, 2, 0)) for g in reversed(grads_rev))
    return reverse_modes(grad_x_rev, rev_cols, xp), grads


def _dense_gradients(grad_y, x2, weight: TTMatrix, xp, dense=None):
    """The paper's scheme: ``dL/dW = G^T x`` once (``(M, N)``), contracted with the other
    cores for each core; ``dL/dx = G W`` from the saved dense ``W`` or by the cheapest
    forward through ``W^T``."""
    grad_w = xp.tensordot(grad_y, x2, axes=([0], [0]))
    grads = dense_gradient_to_cores(grad_w, weight.cores, weight.row_shape, weight.col_shape, xp)
    del grad_w
    if dense is not None:
        return xp.tensordot(grad_y, dense, axes=([1], [0])), grads
    transposed = TTMatrix._from_cores(transposed_cores(weight.cores, xp))
    path = choose_path(transposed.row_shape, transposed.col_shape, transposed.ranks, grad_y.shape[0], None)
    grad_x, _ = _apply(grad_y, transposed, path, xp, keep=False)
    return grad_x, grads


# --------------------------------------------------------------------------- public
def ttm_linear(x, weight, bias=None, *, path: str = "auto"):
    """The layer's output ``x W^T + b`` without forming ``W`` (inference: nothing is kept).

    Parameters
    ----------
    x : array of shape (..., N)
        ``N = weight.shape[1]`` (n_in); same backend and dtype as ``weight``; finite.
    weight : TTMatrix of shape (M, N)
        Row (output) modes ``weight.row_shape``, column (input) modes ``weight.col_shape``.
    bias : array of shape (M,), optional
    path : {"auto", "left_to_right", "right_to_left", "dense"}
        Contraction order; ``"auto"`` takes the one of fewest multiply-adds for this
        batch size (:func:`ttm_linear_cost`).

    Returns
    -------
    array of shape (..., M)

    Examples
    --------
    >>> import numpy as np
    >>> from tt_ref import TTMatrix, to_dense
    >>> from tt_ref.layers import ttm_linear
    >>> rng = np.random.default_rng(0)
    >>> w = TTMatrix([rng.standard_normal((1, 2, 3, 2)), rng.standard_normal((2, 4, 5, 1))])
    >>> x, b = rng.standard_normal((7, 15)), rng.standard_normal(8)
    >>> y = ttm_linear(x, w, b)
    >>> y.shape, bool(np.allclose(y, x @ to_dense(w).T + b))
    ((7, 8), True)
    """
    xp, x2, batch_shape, bias = _check_inputs(x, weight, bias)
    chosen = _resolve_path(path, weight, x2.shape[0], None)
    y2, _ = _apply(x2, weight, chosen, xp, keep=False)
    if bias is not None:
        y2 = y2 + bias
    return xp.reshape(y2, batch_shape + (weight.shape[0],))


def ttm_linear_forward(x, weight, bias=None, *, path: str = "auto", saving: str = "full"):
    """Forward pass for training: ``(x W^T + b, saved)``, ``saved`` feeding :func:`ttm_linear_backward`.

    Parameters
    ----------
    x, weight, bias : as in :func:`ttm_linear`
    path : {"auto", "left_to_right", "right_to_left", "dense"}
        ``"auto"`` minimises forward plus backward work for ``saving="full"``, forward
        work for ``"lean"`` (whose backward does not depend on the path).
    saving : {"full", "lean"}
        ``"full"`` keeps the sweep's intermediate states so backward only walks back
        (``sum_{k<d} B m_1..m_k r_k n_{k+1}..n_d`` elements, the dense path ``B N + M N``);
        ``"lean"`` keeps only ``x`` (``B N``) and the backward recomputes what it needs,
        the scheme of the paper's code (``specs/ttm_layer.md`` §Memory).

    Returns
    -------
    y : array of shape (..., M)
    saved : TTMLinearSaved

    Examples
    --------
    >>> import numpy as np
    >>> from tt_ref import TTMatrix
    >>> from tt_ref.layers import ttm_linear_backward, ttm_linear_forward
    >>> rng = np.random.default_rng(0)
    >>> w = TTMatrix([rng.standard_normal((1, 2, 3, 2)), rng.standard_normal((2, 4, 5, 1))])
    >>> x = rng.standard_normal((7, 15))
    >>> y, saved = ttm_linear_forward(x, w, path="left_to_right")
    >>> saved.path, saved.n_saved_elements  # x (7 * 15) and the state after core 1 (7 * 2 * 2 * 5)
    ('left_to_right', 245)
    >>> grads = ttm_linear_backward(np.ones_like(y), saved)
    >>> grads.x.shape, [g.shape for g in grads.cores]
    ((7, 15), [(1, 2, 3, 2), (2, 4, 5, 1)])
    """
    xp, x2, batch_shape, bias = _check_inputs(x, weight, bias)
    check_choice(saving, SAVINGS, name="saving")
    chosen = _resolve_path(path, weight, x2.shape[0], saving)
    if saving == "full":
        y2, arrays = _apply(x2, weight, chosen, xp, keep=True)
    else:
        y2, _ = _apply(x2, weight, chosen, xp, keep=False)
        arrays = (x2,)
    if bias is not None:
        y2 = y2 + bias
    saved = TTMLinearSaved(weight=weight, path=chosen, saving=saving, batch_shape=batch_shape,
                           has_bias=bias is not None, arrays=tuple(arrays))
    return xp.reshape(y2, batch_shape + (weight.shape[0],)), saved


def ttm_linear_backward(grad_output, saved: TTMLinearSaved) -> TTMLinearGradients:
    """Analytic gradients of the layer w.r.t. its input, every core and the bias.

    Parameters
    ----------
    grad_output : array of shape (..., M)
        ``dL/dy`` for the forward that returned ``saved`` (its shape, backend, dtype).
    saved : TTMLinearSaved
        From :func:`ttm_linear_forward`; it is not modified, so backward may run again.

    Returns
    -------
    TTMLinearGradients
        ``x``: ``dL/dx = G W`` (shape of ``x``); ``cores``: ``dL/dW_k``; ``bias``:
        ``sum_b G`` (None without a bias).

    Notes
    -----
    ``full`` walks the saved states back (twice the forward's work, see
    ``specs/ttm_layer.md`` §Backward); ``lean`` forms ``dL/dW = G^T x`` once, contracts it
    with the other cores for each core's gradient and computes ``dL/dx`` by the cheapest
    forward through ``W^T``.

    Examples
    --------
    >>> import numpy as np
    >>> from tt_ref import TTMatrix, to_dense
    >>> from tt_ref.layers import ttm_linear_backward, ttm_linear_forward
    >>> rng = np.random.default_rng(1)
    >>> w = TTMatrix([rng.standard_normal((1, 3, 2, 2)), rng.standard_normal((2, 2, 2, 1))])
    >>> x, g = rng.standard_normal((5, 4)), rng.standard_normal((5, 6))
    >>> _, full = ttm_linear_forward(x, w, np.zeros(6))
    >>> _, lean = ttm_linear_forward(x, w, np.zeros(6), saving="lean")
    >>> a, b = ttm_linear_backward(g, full), ttm_linear_backward(g, lean)
    >>> bool(np.allclose(a.x, g @ to_dense(w))), bool(np.allclose(a.bias, g.sum(axis=0)))
    (True, True)
    >>> all(np.allclose(p, q) for p, q in zip(a.cores, b.cores))
    True
    """
    if not isinstance(saved, TTMLinearSaved):
        raise ArgumentTypeError(f"saved must be the TTMLinearSaved returned by ttm_linear_forward, got {type(saved).__name__}")
    weight = saved.weight
    try:
        xp = array_namespace(weight.cores[0], grad_output, names=("saved.weight", "grad_output"))
    except TypeError as exc:
        raise ArgumentTypeError(str(exc)) from exc
    grad_output = as_float_array(grad_output, name="grad_output", xp=xp)
    n_out, n_in = weight.shape
    expected = saved.batch_shape + (n_out,)
    if tuple(grad_output.shape) != expected:
        raise ArgumentValueError(f"grad_output must have the output's shape {expected}, got {tuple(grad_output.shape)}")
    if grad_output.dtype != weight.dtype:
        raise ArgumentTypeError(f"grad_output has dtype {grad_output.dtype} but weight has {weight.dtype}")
    grad_y = xp.reshape(grad_output, (math.prod(saved.batch_shape), n_out))
    grad_bias = xp.sum(grad_y, axis=0) if saved.has_bias else None
    if saved.saving == "lean":
        grad_x, grads = _dense_gradients(grad_y, saved.arrays[0], weight, xp)
    elif saved.path == "dense":
        grad_x, grads = _dense_gradients(grad_y, saved.arrays[0], weight, xp, dense=saved.arrays[1])
    else:
        grad_x, grads = _sweep_gradients(grad_y, saved, xp)
    return TTMLinearGradients(x=xp.reshape(grad_x, saved.batch_shape + (n_in,)), cores=tuple(grads), bias=grad_bias)


def ttm_linear_cost(weight, batch_size, *, saving: str = "full") -> dict:
    """Multiply-adds and memory (in elements) of the layer for a batch of ``batch_size`` rows.

    Parameters
    ----------
    weight : TTMatrix
    batch_size : int
        Rows of ``x`` (the product of its leading dimensions), >= 0.
    saving : {"full", "lean"}

    Returns
    -------
    dict
        ``forward`` and ``backward``: multiply-adds per path; ``path``: the one
        :func:`ttm_linear_forward` picks with ``path="auto"``; ``inference_path``: the one
        :func:`ttm_linear` picks; ``saved`` and ``backward_peak``: elements kept and the
        bound on the backward's extra memory for ``path`` (``specs/ttm_layer.md`` §Memory);
        ``dense_forward``: ``B M N``, the dense layer's product.

    Examples
    --------
    >>> import numpy as np
    >>> from tt_ref import TTMatrix
    >>> from tt_ref.layers import ttm_linear_cost
    >>> w = TTMatrix([np.ones((1, 4, 4, 2)), np.ones((2, 8, 16, 1))])  # (32, 64)
    >>> cost = ttm_linear_cost(w, 100)
    >>> cost["forward"]
    {'left_to_right': 153600, 'right_to_left': 128000, 'dense': 208896}
    >>> cost["path"], cost["dense_forward"]
    ('right_to_left', 204800)
    """
    weight = _check_weight(weight)
    batch = check_int(batch_size, name="batch_size", minimum=0)
    check_choice(saving, SAVINGS, name="saving")
    shapes = (weight.row_shape, weight.col_shape, weight.ranks)
    path = choose_path(*shapes, batch, saving)
    return {
        "forward": forward_costs(*shapes, batch),
        "backward": backward_costs(*shapes, batch, saving),
        "path": path,
        "inference_path": choose_path(*shapes, batch, None),
        **memory_elements(*shapes, batch, path, saving),
        "dense_forward": batch * weight.shape[0] * weight.shape[1],
    }
