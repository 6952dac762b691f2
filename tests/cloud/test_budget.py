"""The TT configuration for a parameter budget (specs/baselines.md §Budget)."""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tt_ref.cloud._budget import MAX_MODE_SIZE, _capped_ranks, config_for_budget
from tt_ref.cloud._point_cloud import n_params_for


@given(st.data())
def test_fits_budget_and_rank_is_largest(data):
    """specs/baselines.md §Budget: n_params_for <= budget; one more rank would not fit (or is capped)."""
    dim = data.draw(st.integers(1, 800))
    n_data = data.draw(st.integers(4, 500_000))
    n_levels = data.draw(st.one_of(st.none(), st.integers(2, 5)))
    n_params = data.draw(st.integers(1, 2_000_000))
    try:
        modes, ranks = config_for_budget(dim, n_params, n_data=n_data, n_levels=n_levels)
    except ValueError as exc:
        assert "too small" in str(exc)
        # The error names the smallest configuration at rank 1 and what it needs: check both.
        match = re.search(r"configuration \(([\d, ]+)\) at rank 1 needs (\d+)", str(exc))
        assert match, str(exc)
        smallest = tuple(int(v) for v in match.group(1).split(","))
        needs = int(match.group(2))
        assert needs == n_params_for(dim, smallest, (1,) * (len(smallest) - 1)) > n_params
        return
    k = len(modes)
    assert len(ranks) == k - 1 and all(r >= 1 for r in ranks) and modes[0] >= 2
    assert n_levels is None or k == n_levels
    assert n_params_for(dim, modes, ranks) <= n_params
    # Ranks are equal except where a bond cannot carry more (r_j <= n_{j+1} ... n_k).
    for j, r in enumerate(ranks, start=1):
        assert r <= math.prod(modes[j:])
    bigger = _capped_ranks(modes, max(ranks) + 1, dim)
    assert bigger == ranks or n_params_for(dim, modes, bigger) > n_params


@given(st.integers(4, 2_000_000))
def test_default_levels_and_points(n_data):
    """specs/baselines.md §Budget: default k keeps equal modes <= 16; P stays near n_data."""
    modes, ranks = config_for_budget(16, 10**9, n_data=n_data)
    k = len(modes)
    assert math.ceil(n_data ** (1 / k)) <= MAX_MODE_SIZE
    assert k == 2 or math.ceil(n_data ** (1 / (k - 1))) > MAX_MODE_SIZE
    points = math.prod(modes)
    assert n_data / 4 <= points <= 4 * n_data


def test_known_configurations():
    """specs/baselines.md §Budget: the rule's choices at the budgets of docs/results-compression.md."""
    assert config_for_budget(784, 70560, n_data=9000) == ((6, 11, 11, 11), (14, 14, 11))
    assert config_for_budget(784, 7056, n_data=9000) == ((2, 17, 17, 17), (4, 4, 4))
    modes, ranks = config_for_budget(50, 195000, n_data=390000)
    assert n_params_for(50, modes, ranks) <= 195000 and len(modes) == 5
    # Without n_data the cloud aims at 4096 points.
    modes, _ = config_for_budget(8, 10_000)
    assert 1024 <= math.prod(modes) <= 16384


def test_wider_first_core_preferred():
    """specs/baselines.md §Budget: the widest first core min(n_1 r_1, D) wins over the equal split."""
    dim, n_params, n_data = 784, 7056, 9000
    modes, ranks = config_for_budget(dim, n_params, n_data=n_data)
    width = min(modes[0] * ranks[0], dim)
    for n_first in range(2, 11):
        rest = max(2, round((n_data / n_first) ** (1 / 3)))
        cand = (n_first,) + (rest,) * 3
        for r in range(1, 60):
            cr = _capped_ranks(cand, r, dim)
            if n_params_for(dim, cand, cr) <= n_params:
                assert min(n_first * cr[0], dim) <= width


def test_nothing_fits():
    """specs/baselines.md §Budget: a budget below the smallest configuration is a ValueError saying what it needs."""
    with pytest.raises(ValueError, match="n_params=96 is too small.*needs"):
        config_for_budget(64, 96, n_data=1500)


def test_bad_arguments():
    """specs/baselines.md §Budget: arguments must be positive integers; n_levels >= 2."""
    with pytest.raises(ValueError, match="dim"):
        config_for_budget(0, 100)
    with pytest.raises(ValueError, match="n_params"):
        config_for_budget(4, -1)
    with pytest.raises(TypeError, match="n_params"):
        config_for_budget(4, 10.5)
    with pytest.raises(ValueError, match="n_levels"):
        config_for_budget(4, 1000, n_levels=1)
    with pytest.raises(ValueError, match="n_data"):
        config_for_budget(4, 1000, n_data=0)
