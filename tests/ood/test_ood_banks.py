"""Memory banks at a parameter budget: build_bank and bank_n_params (specs/ood.md §Banks at an equal parameter budget)."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import to_np, to_xp
from tt_ref import ArgumentTypeError, ArgumentValueError
from tt_ref.ood import BANK_KINDS, bank_n_params, build_bank


def test_point_set_banks_hold_the_budget(xp, dtype):
    """specs/ood.md §Banks: point-set banks hold n_params // D points of X's backend and dtype; full is X."""
    X = to_xp(np.random.default_rng(0).standard_normal((100, 6)), xp, dtype)
    assert build_bank(X, "full") is X
    for kind in ("coreset", "random"):
        bank = build_bank(X, kind, np.int64(40), seed=np.int32(1))
        assert bank.shape == (6, 6) and bank.dtype == X.dtype
        assert np.array_equal(to_np(bank), to_np(build_bank(X, kind, 40, seed=1)))  # seeded
        assert bank_n_params(kind, 40, 100, 6) == 36


def test_tt_bank_parameter_count():
    """specs/ood.md §Banks: the TT bank stores n_params_for(config_for_budget(...)) <= n_params numbers."""
    from tt_ref.cloud import config_for_budget, n_params_for

    modes, ranks = config_for_budget(16, 600, n_data=300)
    assert bank_n_params("tt", 600, 300, 16) == n_params_for(16, modes, ranks) <= 600
    assert bank_n_params("full", None, 300, 16) == 4800


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda X: build_bank(X, "bogus", 10), ArgumentValueError, "kind must be one of"),
        (lambda X: build_bank(X, 3, 10), ArgumentTypeError, "kind must be one of"),
        (lambda X: build_bank(X, "random"), ArgumentValueError, "needs n_params"),
        (lambda X: build_bank(X, "random", 0), ArgumentValueError, "n_params must be an integer >= 1"),
        (lambda X: build_bank(X, "random", 10.5), ArgumentTypeError, "n_params must be an integer"),
        (lambda X: build_bank(X, "random", 10, seed=-2), ArgumentValueError, "seed must be an integer >= 0"),
        (lambda X: build_bank(X[:, :0], "full"), ArgumentValueError, "0 feature"),
        (lambda X: build_bank(X[:0], "full"), ArgumentValueError, "X is empty"),
        (lambda X: build_bank(X.tolist(), "full"), ArgumentTypeError, "X must be an array"),
        (lambda X: bank_n_params("coreset", 5, 100, 6), ArgumentValueError, "holds no 6-dimensional point"),
        (lambda X: build_bank(X, "random", 10**12), ArgumentValueError, "more than the 20 rows of the data"),
        (lambda X: build_bank(X, "kmeans", 10**30), ArgumentValueError, "more than the 20 rows"),
        (lambda X: build_bank(X, "tt", 3), ArgumentValueError, "n_params: .*too small"),
        (lambda X: bank_n_params("coreset", None, 100, 6), ArgumentValueError, "needs n_params"),
        (lambda X: bank_n_params("coreset", 50, 0, 6), ArgumentValueError, "n_data must be an integer >= 1"),
        (lambda X: bank_n_params("nope", 50, 10, 6), ArgumentValueError, "kind must be one of"),
    ],
)
def test_bank_errors(call, error, message):
    """specs/ood.md §Errors: unknown kinds, missing or bad budgets, empty or 0-column data are named."""
    X = np.random.default_rng(1).standard_normal((20, 6))
    with pytest.raises(error, match=message):
        call(X)
    assert "full" in BANK_KINDS
