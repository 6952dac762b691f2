"""Choose a TT point-cloud configuration for a parameter budget (specs/baselines.md §Budget).

The rule (:func:`config_for_budget`), deterministic and documented:

1. **Number of points.** Aim at ``P_target = n_data`` (as many TT points as data
   points; 4096 when ``n_data`` is not given).
2. **Levels.** ``k = n_levels`` if given, else the smallest ``k >= 2`` with
   ``ceil(P_target ** (1/k)) <= 16`` (modes of at most about 16, so every level of the
   hierarchy has a handful of children per centre).
3. **Modes and ranks.** For each first mode size ``n_1`` from 2 up to the equal split
   ``round(P_target ** (1/k))``, the other modes are equal,
   ``round((P_target / n_1) ** (1/(k-1)))`` (at least 2), and the ranks are one value
   ``r`` for every bond, capped at what a bond can carry (``r_j <= n_{j+1} ... n_k``),
   as large as the budget allows. Among these, take the configuration with the widest
   first core ``min(n_1 * r_1, D)`` (the dimension of the linear span the TT points can
   reach; with ``D`` large, ``D n_1 r_1`` is most of the budget), ties to the larger
   rank, then to the smaller ``n_1``.
4. Nothing fits (even ``n_1 = 2`` with rank 1) -> ``ValueError`` saying the smallest
   budget that would.

The search is bounded whatever the arguments: ``n_levels`` is at most 62 and the point
target at most ``2**62`` (flat point indices are int64), and a rank never exceeds the
budget, so the bisection over ranks takes at most ``log2(n_params)`` steps.
"""

from __future__ import annotations

import math

from .._backend import ArgumentValueError, check_int
from ._point_cloud import n_params_for

__all__ = ["config_for_budget", "DEFAULT_N_POINTS", "MAX_MODE_SIZE"]

#: TT points aimed at when ``n_data`` is not given.
DEFAULT_N_POINTS = 4096
#: Largest mode size the automatic choice of the number of levels aims at.
MAX_MODE_SIZE = 16


#: Most levels a configuration may have: 2**62 points at least 2 per mode (int64 flat indices).
MAX_LEVELS = 62


def _positive_int(value, name: str) -> int:
    return check_int(value, name=name, minimum=1)


def _capped_ranks(mode_sizes: tuple[int, ...], rank: int, dim: int) -> tuple[int, ...]:
    """Equal ranks, each capped at the product of the modes to its right (and its left)."""
    ranks = []
    for j in range(1, len(mode_sizes)):
        right = math.prod(mode_sizes[j:])
        left = dim * math.prod(mode_sizes[:j])
        ranks.append(max(1, min(rank, right, left)))
    return tuple(ranks)


def _largest_rank(dim: int, mode_sizes: tuple[int, ...], n_params: int) -> tuple[int, ...] | None:
    """The ranks for the largest equal rank with n_params_for(...) <= n_params, or None."""
    if n_params_for(dim, mode_sizes, _capped_ranks(mode_sizes, 1, dim)) > n_params:
        return None
    # A rank above the budget cannot fit: bounds the bisection by log2(n_params) steps.
    low, high = 1, max(1, min(math.prod(mode_sizes[1:]), n_params))
    while low < high:  # parameters grow with the rank: bisect
        mid = (low + high + 1) // 2
        if n_params_for(dim, mode_sizes, _capped_ranks(mode_sizes, mid, dim)) <= n_params:
            low = mid
        else:
            high = mid - 1
    return _capped_ranks(mode_sizes, low, dim)


def config_for_budget(dim, n_params, *, n_data=None, n_levels=None) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """TT point-cloud ``(mode_sizes, ranks)`` with at most ``n_params`` parameters.

    Parameters
    ----------
    dim : int
        Dimension D of the points.
    n_params : int
        Parameter budget: ``n_params_for(dim, mode_sizes, ranks) <= n_params``.
    n_data : int, optional
        Number of data points; the cloud aims at about as many points.
    n_levels : int, optional
        Number of modes ``k >= 2``; chosen from the number of points when omitted.

    Returns
    -------
    mode_sizes : tuple of int
    ranks : tuple of int (``k - 1`` values)

    Raises
    ------
    ValueError
        No configuration fits the budget, or an argument is not a positive integer.

    Examples
    --------
    >>> from tt_ref.cloud._budget import config_for_budget
    >>> from tt_ref.cloud._point_cloud import n_params_for
    >>> modes, ranks = config_for_budget(64, 1150, n_data=1500)
    >>> modes, ranks, n_params_for(64, modes, ranks) <= 1150
    ((8, 14, 14), (2, 2), True)
    """
    dim = _positive_int(dim, "dim")
    n_params = _positive_int(n_params, "n_params")
    target = DEFAULT_N_POINTS if n_data is None else _positive_int(n_data, "n_data")
    target = min(max(target, 4), 2**62)
    if n_levels is None:
        k = 2
        while math.ceil(target ** (1.0 / k)) > MAX_MODE_SIZE:
            k += 1
    else:
        # Two levels at least (a hierarchy); at most MAX_LEVELS (2**62 points).
        k = check_int(n_levels, name="n_levels", minimum=2, maximum=MAX_LEVELS)
    equal = max(2, round(target ** (1.0 / k)))
    best = None
    # The first core alone holds D * n_1 numbers: a larger n_1 cannot fit the budget.
    for n_first in range(2, min(equal, n_params // dim) + 1):
        rest = max(2, round((target / n_first) ** (1.0 / (k - 1))))
        mode_sizes = (n_first,) + (rest,) * (k - 1)
        ranks = _largest_rank(dim, mode_sizes, n_params)
        if ranks is None:
            continue
        # Width beyond D adds nothing to the span, so it is capped at D.
        key = (min(n_first * ranks[0], dim), ranks[0])
        if best is None or key > best[0]:
            best = (key, mode_sizes, ranks)
    if best is None:
        smallest_modes = (2,) + (max(2, round((target / 2) ** (1.0 / (k - 1)))),) * (k - 1)
        need = n_params_for(dim, smallest_modes, (1,) * (k - 1))
        raise ArgumentValueError(
            f"n_params={n_params} is too small for any TT point cloud in dimension {dim} with {k} levels: "
            f"the smallest configuration {smallest_modes} at rank 1 needs {need}"
        )
    return best[1], best[2]
