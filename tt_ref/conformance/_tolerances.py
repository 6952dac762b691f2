"""The tolerance table: one backward-error bound per operation, machine-readable.

Every bound has the form ``|a - ref| <= c * K * unit * scale`` (plus, where stated, an
absolute ``atol``): ``unit`` is the machine epsilon of the case's dtype, ``K`` counts the
rounding steps along the longest path of the computation (so ``K * unit`` is the classical
``gamma_K``), ``scale`` is what the error is relative to (never the result itself, which
may cancel), and ``c = 4`` leaves room for another summation order, blocking or FMA.
``specs/conformance.md`` §Tolerances derives each row; ``tt_ref.testing`` uses the same
table, and ``tt-ref conformance generate`` writes it beside the cases
(``tolerances.json``).
"""

from __future__ import annotations

import math

import numpy as np

from .._backend import dtype_name

__all__ = ["C", "TOLERANCES", "unit_of", "k_evaluate", "k_truncation", "k_orthogonalize", "k_dot", "k_matvec",
           "k_decode", "k_knn"]

#: The safety constant of every bound.
C = 4.0

#: name -> the bound, its scale, the rule that applies it and the spec section.
TOLERANCES = {
    "evaluate": {
        "bound": "|a_i - A_i| <= c K unit (|G_1| ... |G_d|)_i", "K": "sum_j (r_(j-1) + 1)",
        "rule": "elementwise", "spec": "specs/evaluate.md#guarantee-and-test-tolerances",
        "applies_to": ["full", "get_many", "decode", "centroids"],
    },
    "tt_exact_ops": {
        "bound": "|full(c)_i - C_i| <= c K unit S_i, S = |A| + |B| (add), |alpha| |A| (scale), |A| |B| (hadamard)",
        "K": "sum_j (r_(j-1)(c) + 1) + 2", "rule": "tt_values_and_ranks",
        "spec": "specs/arithmetic.md#test-tolerances", "applies_to": ["add", "scale", "hadamard"],
    },
    "dot": {
        "bound": "|dot - sum(A B)| <= c K unit dot(|a|, |b|)", "K": "sum_j n_j (r_(j-1)(a) + r_(j-1)(b)) + 2 d",
        "rule": "elementwise", "spec": "specs/arithmetic.md#dot", "applies_to": ["dot"],
    },
    "norm": {
        "bound": "|v^2 - ||A||^2| <= c K unit prod_j ||G_j||_F^2",
        "K": "sum_j n_j 2 r_(j-1) + sum_j (r_(j-1) n_j + r_j) + 2 d", "rule": "scalar_norm",
        "spec": "specs/arithmetic.md#norm", "applies_to": ["norm"],
    },
    "truncation": {
        "bound": "||x - full(TT)||_F <= (eps + c K unit) ||x||_F (only eps); <= (err_ref + c K unit) ||x||_F "
                 "(max_rank); ranks equal where comparable",
        "K": "sum_j (rows_j + cols_j) + 10 d", "rule": "tt_truncation",
        "spec": "specs/tt_svd.md#guarantees", "applies_to": ["tt_svd", "round"],
    },
    "orthogonalize": {
        "bound": "||full(out) - A||_F <= c K unit prod_j ||G_j||_F; ||Q_j^T Q_j - I||_F <= c r_(j-1) n_j unit",
        "K": "sum_j (r_(j-1) n_j + r_j) + sum_j (r_(j-1) + 1)", "rule": "tt_orthogonal",
        "spec": "specs/rounding.md#orthogonalize", "applies_to": ["orthogonalize"],
    },
    "matvec": {
        "bound": "|y_i - (W x)_i| <= c K unit (|W| |x|)_i", "K": "sum_k (r_(k-1) n_k + 1) + 2",
        "rule": "elementwise", "spec": "specs/tt_matrix.md#test-tolerances", "applies_to": ["matvec"],
    },
    "losses": {
        "bound": "|v - ref| <= c K unit S (values and gradients; S from the absolute inputs, specs/conformance.md)",
        "K": "D + B L + sum_j (r_j + 1) + 4", "rule": "elementwise",
        "spec": "specs/conformance.md#losses-and-gradients", "applies_to": ["sliced_wasserstein", "fit_gradients"],
    },
    "knn": {
        "bound": "|d - ref| <= c K unit (||q||^2 + max ||b||^2); ids tie-aware", "K": "D + 2",
        "rule": "neighbors", "spec": "specs/conformance.md#distances", "applies_to": ["knn", "beam_search"],
    },
    "metrics": {
        "bound": "|m - ref| <= c K unit64", "K": "n + 2", "rule": "elementwise",
        "spec": "specs/conformance.md#anomaly-metrics",
        "applies_to": ["auroc", "aupr", "fpr_at_tpr", "precision_at_recall"],
    },
}


def unit_of(dtype) -> float:
    """Machine epsilon of a float dtype (any spelling NumPy understands)."""
    return float(np.finfo(np.dtype(dtype_name(dtype))).eps)


def k_evaluate(ranks) -> int:
    """``K`` of a chain of core products with boundary-inclusive ``ranks``."""
    ranks = list(ranks)
    return int(sum(r + 1 for r in ranks[:-1]))


def k_truncation(shape, ranks=None) -> int:
    """``K`` of TT-SVD / rounding: the SVD backward errors of every unfolding plus the
    evaluation of the result (ranks bounded by the unfolding sizes)."""
    shape = list(shape)
    d = len(shape)
    total = math.prod(shape)
    k, rows = 10 * d, 1
    for n in shape[:-1]:
        rows *= n
        k += rows + total // rows
    return int(k)


def k_orthogonalize(ranks, shape) -> int:
    ranks, shape = list(ranks), list(shape)
    return int(sum(ranks[j] * n + ranks[j + 1] for j, n in enumerate(shape)) + k_evaluate(ranks))


def k_dot(shape, ranks_a, ranks_b) -> int:
    return int(sum(n * (ra + rb) for n, ra, rb in zip(shape, ranks_a[:-1], ranks_b[:-1])) + 2 * len(shape))


def k_matvec(ranks, col_shape) -> int:
    return int(sum(r * n + 1 for r, n in zip(list(ranks)[:-1], col_shape)) + 2)


def k_decode(ranks, mode_sizes=(), mean_levels=()) -> int:
    """Decoding through ``ranks``; centroids add the means over the modes ``mean_levels``."""
    return k_evaluate(ranks) + int(sum(mode_sizes[j] + 1 for j in mean_levels))


def k_knn(dim: int) -> int:
    return int(dim) + 2
