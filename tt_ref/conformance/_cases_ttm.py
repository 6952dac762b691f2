"""Golden cases of the TT-matrix linear layer: forward and gradients on stored inputs.

An implementation (a PyTorch, JAX or TensorFlow layer) receives ``x`` of shape ``(...,
n_in)``, the cores ``cores_0, cores_1, ...`` in tt_ref's layout ``(r_{k-1}, out_k, in_k,
r_k)`` (convert with :func:`tt_ref.layers.ttm_to_layout` for another one) and ``bias``,
and returns:

- ``ttm_forward``: ``y = x W^T + b`` with ``W = to_dense(cores)`` of shape ``(n_out,
  n_in)`` (PyTorch's ``F.linear``);
- ``ttm_backward``, given also ``grad_output`` (``dL/dy``): ``grad_x``, ``grad_bias`` and
  ``grad_cores_0, grad_cores_1, ...`` (``dL/dW_k`` in the same layout).

Comparison: ``elementwise`` with per-element scales ``scale_<name>``, the same expression
evaluated on absolute values (``|x| |W_1|...|W_d|`` and so on): the componentwise
backward-error bound of any order of contraction, ``rtol = c K unit`` with ``c = 4``,
``unit`` the eps of the case's dtype and ``K`` from :func:`k_ttm_layer`. Gradients of
cores are unique (the cores are given), so they are compared directly. Definitions:
``specs/ttm_layer.md`` §Conformance.
"""

from __future__ import annotations

import math

import numpy as np

from ..layers import ttm_linear_backward, ttm_linear_forward
from ..tt import TTMatrix
from ._case import ConformanceCase
from ._tolerances import C, unit_of

__all__ = ["cases", "k_ttm_layer"]

_SEED = 20250117
# (name, row_shape (outputs), col_shape (inputs), inner ranks, batch shape, dtype)
_SPECS = (
    ("one_core", (3,), (4,), (), (5,), "float64"),
    ("two_cores", (2, 3), (4, 2), (3,), (6,), "float64"),
    ("three_cores", (2, 3, 2), (3, 2, 2), (2, 4), (7,), "float64"),
    ("rank_above_max", (2, 2), (2, 3), (5,), (4,), "float64"),  # r_1 = 5 > m_1 n_1 = 4, the largest useful
    ("batch_dims", (3, 2), (2, 2), (2,), (2, 3), "float64"),
    ("single_vector", (2, 2, 2), (2, 2, 2), (2, 2), (), "float64"),
    ("unit_modes", (1, 4, 1), (3, 1, 2), (2, 3), (5,), "float64"),
    ("gpt2_like_float32", (4, 4, 3), (4, 4, 2), (6, 6), (8,), "float32"),
    ("two_cores_float32", (3, 4), (2, 5), (4,), (6,), "float32"),
)

_MAY_DIFFER = ("rounding only: any order of contraction (left to right, right to left, the dense matrix, "
               "einsum) meets the componentwise bound; the cores are given, so their gradients are unique")


def _inputs(row_shape, col_shape, inner, batch_shape, dtype, rng):
    ranks = (1,) + tuple(inner) + (1,)
    cores = [rng.standard_normal((ranks[k], m, n, ranks[k + 1])) / math.sqrt(ranks[k] * n)
             for k, (m, n) in enumerate(zip(row_shape, col_shape))]
    x = rng.standard_normal(tuple(batch_shape) + (math.prod(col_shape),))
    bias = rng.standard_normal(math.prod(row_shape))
    grad = rng.standard_normal(tuple(batch_shape) + (math.prod(row_shape),))
    cast = lambda a: a.astype(dtype).astype(np.float64)  # noqa: E731 - the values the implementation sees
    return [cast(c) for c in cores], cast(x), cast(bias), cast(grad)


def _evaluate(cores, x, bias, grad):
    """Forward and backward in float64 on the host (left-to-right path, full saving)."""
    weight = TTMatrix(cores)
    y, saved = ttm_linear_forward(x, weight, bias, path="left_to_right")
    grads = ttm_linear_backward(grad, saved)
    return y, grads


def k_ttm_layer(row_shape, col_shape, ranks, batch: int) -> int:
    """``K`` of the layer: the rounding steps of the longest chain any contraction order or
    gradient scheme can take (every sum it may perform, added up): the batch (``dL/dW =
    G^T x``), ``n_in`` and ``n_out`` (dense products), ``r_{k-1} (m_k + n_k) + r_k + 2`` per
    core (the sweeps and the dense reconstruction), and 4 for the bias and the reshapes."""
    chain = sum(ranks[k] * (m + n) + ranks[k + 1] + 2 for k, (m, n) in enumerate(zip(row_shape, col_shape)))
    return int(batch + math.prod(row_shape) + math.prod(col_shape) + chain + 4)


def _tolerance(row_shape, col_shape, ranks, batch, dtype) -> dict:
    return {"c": C, "K": k_ttm_layer(row_shape, col_shape, ranks, batch), "unit": unit_of(dtype), "atol": 0.0}


def _case_pair(name, row_shape, col_shape, inner, batch_shape, dtype, rng):
    cores, x, bias, grad = _inputs(row_shape, col_shape, inner, batch_shape, dtype, rng)
    y, grads = _evaluate(cores, x, bias, grad)
    abs_y, abs_grads = _evaluate([np.abs(c) for c in cores], np.abs(x), np.abs(bias), np.abs(grad))
    stored = lambda a: np.asarray(a, dtype=dtype)  # noqa: E731
    inputs = {"x": stored(x), "bias": stored(bias), **{f"cores_{k}": stored(c) for k, c in enumerate(cores)}}
    params = {"layout": "tt_ref", "row_shape": list(row_shape), "col_shape": list(col_shape),
              "ranks": [1, *inner, 1], "dtype": dtype}
    tolerance = _tolerance(row_shape, col_shape, (1, *inner, 1), math.prod(batch_shape), dtype)
    forward = ConformanceCase(
        name=f"ttm_forward/{name}", operation="ttm_forward", params=params, inputs=inputs,
        expected={"y": np.asarray(y), "scale_y": np.asarray(abs_y)}, tolerance=tolerance,
        may_differ=_MAY_DIFFER, compare="elementwise")
    expected = {"grad_x": np.asarray(grads.x), "scale_grad_x": np.asarray(abs_grads.x),
                "grad_bias": np.asarray(grads.bias), "scale_grad_bias": np.asarray(abs_grads.bias)}
    for k, (g, s) in enumerate(zip(grads.cores, abs_grads.cores)):
        expected[f"grad_cores_{k}"] = np.asarray(g)
        expected[f"scale_grad_cores_{k}"] = np.asarray(s)
    backward = ConformanceCase(
        name=f"ttm_backward/{name}", operation="ttm_backward", params=params,
        inputs={**inputs, "grad_output": stored(grad)}, expected=expected, tolerance=tolerance,
        may_differ=_MAY_DIFFER, compare="elementwise")
    return [forward, backward]


def cases() -> list[ConformanceCase]:
    """The forward and backward cases, generated from a fixed seed (deterministic).

    Examples
    --------
    >>> from tt_ref.conformance._cases_ttm import cases
    >>> names = [c.name for c in cases()]
    >>> names[:2], len(names)
    (['ttm_forward/one_core', 'ttm_backward/one_core'], 18)
    """
    rng = np.random.default_rng(_SEED)
    out = []
    for spec in _SPECS:
        out += _case_pair(*spec, rng)
    return out
