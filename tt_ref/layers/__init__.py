"""TT-matrix linear layers as functions: forward, analytic backward, initialisation and layouts.

tt_ref is the reference for layers whose weight is a :class:`tt_ref.TTMatrix` ``W`` of
shape ``(n_out, n_in)`` (row modes are the outputs, column modes the inputs):
``y = x W^T + b`` computed core by core (the dense matrix only where that is cheaper),
gradients with respect to the input, every core and the bias from what the forward
saved (or, memory-lean, from ``x`` alone), shapes and initial weights, and conversions
to the core layouts of t3f, tntorch, TensorLy, tednet and the paper's code. The
contract is ``specs/ttm_layer.md``; the guide ``docs/guide-ttm-layers.md``.
"""

from __future__ import annotations

from ._init import TTMLayerShape, factorize_dim, random_ttm_layer, ttm_layer_from_dense, ttm_layer_shape
from ._layouts import TTM_LAYOUTS, ttm_from_layout, ttm_to_layout
from ._linear import (
    TTMLinearGradients,
    TTMLinearSaved,
    ttm_linear,
    ttm_linear_backward,
    ttm_linear_cost,
    ttm_linear_forward,
)

__all__ = [
    "ttm_linear", "ttm_linear_forward", "ttm_linear_backward", "ttm_linear_cost",
    "TTMLinearSaved", "TTMLinearGradients",
    "TTMLayerShape", "factorize_dim", "ttm_layer_shape", "random_ttm_layer", "ttm_layer_from_dense",
    "TTM_LAYOUTS", "ttm_to_layout", "ttm_from_layout",
]
