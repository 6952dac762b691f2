"""The cost model of a TT-matrix linear layer: multiply-adds and memory of each contraction order.

Everything here is host arithmetic on shapes and ranks (Python ints, no arrays). The
formulas and the rule that picks a path are in ``specs/ttm_layer.md`` §Cost model; the
kernels in ``_contract`` do exactly the counted work.
"""

from __future__ import annotations

import math
from typing import Sequence

__all__ = ["PATHS", "SAVINGS", "sweep_cost", "dense_split", "dense_cost", "dense_workspace", "gradient_cost",
           "state_sizes", "forward_costs", "backward_costs", "choose_path", "memory_elements"]

#: Contraction orders of the forward pass, in the order ties are broken.
PATHS = ("left_to_right", "right_to_left", "dense")
#: What forward keeps for backward: every intermediate (``"full"``) or only ``x`` (``"lean"``).
SAVINGS = ("full", "lean")


def _reversed(row_shape, col_shape, ranks):
    return tuple(reversed(row_shape)), tuple(reversed(col_shape)), tuple(reversed(ranks))


def state_sizes(row_shape: Sequence[int], col_shape: Sequence[int], ranks: Sequence[int], batch: int) -> list[int]:
    """Elements of the left-to-right states ``S_k = B m_1..m_k r_k n_{k+1}..n_d``, ``k = 0..d``.

    ``S_0 = B N`` is the input and ``S_d = B M`` the output.
    """
    d = len(row_shape)
    return [batch * math.prod(row_shape[:k]) * ranks[k] * math.prod(col_shape[k:]) for k in range(d + 1)]


def sweep_cost(row_shape, col_shape, ranks, batch: int) -> int:
    """Multiply-adds of the left-to-right sweep: ``B sum_k r_{k-1} r_k m_1..m_k n_k..n_d``.

    The right-to-left sweep costs ``sweep_cost`` of the reversed shapes and ranks.
    """
    d = len(row_shape)
    return sum(
        batch * ranks[k] * ranks[k + 1] * math.prod(row_shape[: k + 1]) * math.prod(col_shape[k:]) for k in range(d)
    )


def _split_parts(row_shape, col_shape, ranks, split: int):
    """``(multiply-adds, largest left partial, largest right partial)`` of ``dense_matrix``
    with this ``split`` (``_contract.dense_matrix``)."""
    d = len(row_shape)
    sizes = [m * n for m, n in zip(row_shape, col_shape)]
    prefix = [math.prod(sizes[:k]) for k in range(d + 1)]
    suffix = [math.prod(sizes[k:]) for k in range(d + 1)]
    left = sum(ranks[k] * ranks[k + 1] * prefix[k + 1] for k in range(1, split))
    right = sum(ranks[k] * ranks[k + 1] * suffix[k] for k in range(split, d - 1))
    join = prefix[d] * ranks[split] if 0 < split < d else 0
    left_size = max((prefix[k + 1] * ranks[k + 1] for k in range(split)), default=0)
    right_size = max((ranks[k] * suffix[k] for k in range(split, d)), default=0)
    return left + right + join, left_size, right_size


def dense_split(row_shape, col_shape, ranks) -> tuple[int, int]:
    """``(split, multiply-adds)`` of the cheapest way to form the dense matrix: cores
    ``< split`` multiplied from the left, the others from the right, one product joining
    them (``sum_{0<k<s} r_k r_{k+1} prod_{l<=k} m_l n_l + sum_{s<=k<d-1} r_k r_{k+1}
    prod_{l>=k} m_l n_l + M N r_s``, the last term only for ``0 < s < d``). Ties go to
    the smallest split."""
    costs = [_split_parts(row_shape, col_shape, ranks, split)[0] for split in range(len(row_shape) + 1)]
    best = min(range(len(costs)), key=lambda split: costs[split])
    return best, costs[best]


def dense_cost(row_shape, col_shape, ranks) -> int:
    """Multiply-adds of the dense matrix by the best split (:func:`dense_split`)."""
    return dense_split(row_shape, col_shape, ranks)[1]


def gradient_cost(row_shape, col_shape, ranks) -> int:
    """Multiply-adds of turning a dense ``dL/dW`` into every core's gradient.

    A left sweep of the dense gradient through the cores, the right partial products of
    the cores, and one contraction per core but the last (whose gradient is what the
    sweep leaves): ``2 sum_{k<d} r_{k-1} r_k T_k + sum_{1<k<d} r_{k-1} r_k T_k`` with
    ``T_k = prod_{l>=k} m_l n_l`` (1-based ``k``), under ``3 sum_k r_{k-1} r_k T_k``.
    """
    d = len(row_shape)
    tail = [math.prod(m * n for m, n in zip(row_shape[k:], col_shape[k:])) for k in range(d)]
    terms = [ranks[k] * ranks[k + 1] * tail[k] for k in range(d - 1)]
    return 2 * sum(terms) + sum(terms[1:])


def forward_costs(row_shape, col_shape, ranks, batch: int) -> dict[str, int]:
    """Multiply-adds of the forward pass along each path in :data:`PATHS`."""
    big_m, big_n = math.prod(row_shape), math.prod(col_shape)
    return {
        "left_to_right": sweep_cost(row_shape, col_shape, ranks, batch),
        "right_to_left": sweep_cost(*_reversed(row_shape, col_shape, ranks), batch),
        "dense": dense_cost(row_shape, col_shape, ranks) + batch * big_m * big_n,
    }


def _input_gradient_cost(row_shape, col_shape, ranks, batch: int) -> int:
    """The cheapest way to form ``dL/dx = G W`` from scratch: a forward through ``W^T``."""
    return min(forward_costs(col_shape, row_shape, ranks, batch).values())


def backward_costs(row_shape, col_shape, ranks, batch: int, saving: str) -> dict[str, int]:
    """Multiply-adds of the backward pass after a forward along each path.

    ``"full"``: a sweep path costs twice its forward (input and core gradients from the
    saved states); the dense path ``2 B M N`` plus :func:`gradient_cost`. ``"lean"``: the
    same for every path, ``B M N`` (the dense ``G^T x``) plus :func:`gradient_cost` plus
    the cheapest forward through ``W^T`` for ``dL/dx``.
    """
    big_m, big_n = math.prod(row_shape), math.prod(col_shape)
    to_cores = gradient_cost(row_shape, col_shape, ranks)
    if saving == "lean":
        lean = batch * big_m * big_n + to_cores + _input_gradient_cost(row_shape, col_shape, ranks, batch)
        return {path: lean for path in PATHS}
    forward = forward_costs(row_shape, col_shape, ranks, batch)
    return {
        "left_to_right": 2 * forward["left_to_right"],
        "right_to_left": 2 * forward["right_to_left"],
        "dense": 2 * batch * big_m * big_n + to_cores,
    }


def choose_path(row_shape, col_shape, ranks, batch: int, saving: str | None) -> str:
    """The path of least work: forward only (``saving=None`` or ``"lean"``, whose backward
    does not depend on the path) or forward plus backward (``"full"``). Ties go to the
    first of :data:`PATHS`."""
    cost = dict(forward_costs(row_shape, col_shape, ranks, batch))
    if saving == "full":
        backward = backward_costs(row_shape, col_shape, ranks, batch, "full")
        cost = {path: cost[path] + backward[path] for path in PATHS}
    return min(PATHS, key=lambda path: cost[path])


def memory_elements(row_shape, col_shape, ranks, batch: int, path: str, saving: str) -> dict[str, int]:
    """Elements kept between forward and backward, and a bound on the backward's peak.

    ``saved``: ``"full"`` keeps the input and the ``d - 1`` inner states of its sweep
    (``sum_{k<d} S_k``, those of the reversed sweep on the right-to-left path), or ``x``
    and the dense ``W`` on the dense path (``B N + M N``); ``"lean"`` keeps ``x`` only
    (``B N``). Cores are referenced, never copied, and are not counted.

    ``backward_peak``: a bound on what backward allocates on top of the saved arrays and
    the incoming gradient ``G`` (its results included); ``specs/ttm_layer.md`` §Memory
    derives each term and the tests measure it (plus a few kilobytes of array headers).
    """
    big_m, big_n = math.prod(row_shape), math.prod(col_shape)
    n_params = sum(ranks[k] * row_shape[k] * col_shape[k] * ranks[k + 1] for k in range(len(row_shape)))
    if path == "right_to_left":
        states = state_sizes(*_reversed(row_shape, col_shape, ranks), batch)
    else:
        states = state_sizes(row_shape, col_shape, ranks, batch)
    # dL/dW = G^T x: tensordot copies G^T (B M) beside its (M, N) result; then the contraction.
    to_cores = big_m * big_n + max(_gradient_workspace(row_shape, col_shape, ranks), batch * big_m)
    if saving == "lean":
        saved = batch * big_n
        peak = max(to_cores, _forward_workspace(col_shape, row_shape, ranks, batch)) + n_params
    elif path == "dense":
        saved = batch * big_n + big_m * big_n
        peak = max(to_cores, batch * big_n) + n_params
    else:
        saved = sum(states[:-1])
        peak = _sweep_workspace(states) + n_params
    return {"saved": saved, "backward_peak": peak}


def _sweep_workspace(states) -> int:
    """A sweep step holds two adjoints and the operand copies of one ``tensordot``
    (``4 max_k S_k``); the right-to-left path also reverses ``G`` and ``dL/dx``
    (``B (M + N)``, both at most ``max_k S_k``): ``5 max_k S_k`` covers both."""
    return 5 * max(states)


def _forward_workspace(row_shape, col_shape, ranks, batch: int) -> int:
    """Peak of a forward that keeps nothing, along the path :func:`choose_path` picks:
    a sweep as :func:`_sweep_workspace`; the dense path :func:`dense_workspace`, the
    transposed copy ``tensordot`` may make and the output: ``dense_workspace + M N + B M``."""
    path = choose_path(row_shape, col_shape, ranks, batch, None)
    big_m, big_n = math.prod(row_shape), math.prod(col_shape)
    if path == "dense":
        return dense_workspace(row_shape, col_shape, ranks) + big_m * big_n + batch * big_m
    if path == "right_to_left":
        return _sweep_workspace(state_sizes(*_reversed(row_shape, col_shape, ranks), batch))
    return _sweep_workspace(state_sizes(row_shape, col_shape, ranks, batch))


def dense_workspace(row_shape, col_shape, ranks) -> int:
    """Elements held while the dense matrix is formed at the best split: two consecutive
    partial products on each side (each at most the largest on its side), the joined
    product and its permuted copy (``2 (L + R) + 2 M N``)."""
    split, _ = dense_split(row_shape, col_shape, ranks)
    _, left, right = _split_parts(row_shape, col_shape, ranks, split)
    return 2 * (left + right) + 2 * math.prod(row_shape) * math.prod(col_shape)


def _gradient_workspace(row_shape, col_shape, ranks) -> int:
    """Elements held by the dense-gradient-to-cores contraction on top of ``dL/dW``: the
    right partial products ``sum_k r_k prod_{l>k} m_l n_l``, and one left partial product
    with the operand copies of one ``tensordot`` (``3 max_k r_{k-1} prod_{l>=k} m_l n_l``)."""
    d = len(row_shape)
    tail = [math.prod(m * n for m, n in zip(row_shape[k:], col_shape[k:])) for k in range(d)] + [1]
    right = sum(ranks[k + 1] * tail[k + 1] for k in range(d))
    left = max(ranks[k] * tail[k] for k in range(d))
    return right + 3 * left
