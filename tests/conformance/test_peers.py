"""The kit on two TT libraries tt_ref did not write, and the cross-checks the specs state
about them (specs/conformance.md §Peers, specs/tt_svd.md §Cross-check, specs/rounding.md
§Cross-check, docs/conformance-results.md)."""

from __future__ import annotations

import math
import pathlib

import numpy as np
import pytest

import tt_ref
from tt_ref.conformance import all_cases, run_adapter, summary

teneva = pytest.importorskip("teneva", reason="teneva is not installed (pip install teneva)")
tensorly = pytest.importorskip("tensorly", reason="tensorly is not installed (pip install tensorly)")

from tt_ref.conformance._peers import TensorlyAdapter, TenevaAdapter  # noqa: E402

RESULTS = pathlib.Path(__file__).parents[2] / "docs" / "conformance-results.md"

# What each library fails, and why (docs/conformance-results.md lists the same).
TENEVA_FAILS = {
    "full/range_edge_1e200", "get_many/range_edge_1e200_multi", "full/range_edge_float32_1e30",
    "get_many/range_edge_float32_1e30_multi",  # products of cores overflow: no rescaling
    "tt_svd/dense_eps_0.3", "tt_svd/dense_eps_0.1",  # sqrt(S) in both factors: later steps truncate sqrt(S) V^T
    "tt_svd/range_edge_1e-165", "tt_svd/range_edge_1e154",  # the squared norm underflows / overflows
    "round/range_edge_1e-200",  # the norm underflows: everything is cut
    "norm/range_edge_1e300", "norm/range_edge_1e-300",  # sqrt(mul_scalar): squares leave the range
}
TENEVA_REFUSES = {"round/range_edge_1e200"}  # LinAlgError from eigh of an overflowed Gram matrix
TENSORLY_FAILS = {"full/range_edge_1e200", "full/range_edge_float32_1e30"}


@pytest.fixture(scope="module")
def cases():
    return [c for c in all_cases() if not c.operation.startswith("ttm")]


def _verdicts(cases, adapter):
    with np.errstate(all="ignore"):
        results = run_adapter(cases, adapter)
    return {r.name: r.outcome.status for r in results}


def test_teneva_results_are_those_documented(cases):
    """docs/conformance-results.md §teneva: the failing and refused cases, nothing else fails."""
    verdicts = _verdicts(cases, TenevaAdapter())
    assert {n for n, s in verdicts.items() if s in ("fail", "error")} == TENEVA_FAILS
    assert {n for n, s in verdicts.items() if s == "refused"} == TENEVA_REFUSES
    passed = {n for n, s in verdicts.items() if s == "pass"}
    assert {"tt_svd/noisy_eps_1e-2", "tt_svd/rank_cap_2", "round/eps_0.2", "round/rank_cap_2", "dot/basic",
            "norm/cancelling", "orthogonalize/left", "hadamard/basic"} <= passed
    text = RESULTS.read_text()
    for name in TENEVA_FAILS | TENEVA_REFUSES:
        assert f"`{name}`" in text, name


def test_tensorly_results_are_those_documented(cases):
    """docs/conformance-results.md §tensorly: full and the exact / rank-capped TT-SVD pass;
    eps-driven TT-SVD and the operations tensorly lacks are not implemented."""
    verdicts = _verdicts(cases, TensorlyAdapter())
    assert {n for n, s in verdicts.items() if s in ("fail", "error")} == TENSORLY_FAILS
    assert {"tt_svd/exact_rank3", "tt_svd/rank_cap_2", "full/basic"} <= {n for n, s in verdicts.items() if s == "pass"}
    assert verdicts["tt_svd/noisy_eps_1e-2"] == "not implemented"
    text = RESULTS.read_text()
    for name in TENSORLY_FAILS:
        assert f"`{name}`" in text, name
    assert summary(run_adapter(cases[:0], TensorlyAdapter()))["ok"]


def _ranks(cores):
    return (1,) + tuple(int(c.shape[-1]) for c in cores)


def test_teneva_svd_ranks_agree_only_at_the_first_bond():
    """specs/tt_svd.md §Cross-check: with tt_ref's per-step threshold, teneva.svd keeps the
    same first rank (the first unfolding is the same matrix) but later ranks differ and its
    error may exceed eps (it truncates sqrt(S) V^T, not S V^T); tt_ref's error never does."""
    rng = np.random.default_rng(0)
    later_differ = over_eps = 0
    for _ in range(12):
        x = rng.standard_normal(tuple(rng.integers(2, 6, size=4)))
        for eps in (0.1, 0.3):
            tt, err = tt_ref.tt_svd(x, eps=eps, return_error=True)
            y = teneva.svd(x, e=eps / math.sqrt(3) * np.linalg.norm(x))
            ranks = _ranks(y)
            assert ranks[1] == tt.ranks[1]
            assert err <= eps
            later_differ += ranks != tt.ranks
            over_eps += np.linalg.norm(teneva.full(y) - x) > eps * np.linalg.norm(x)
    assert later_differ > 0 and over_eps > 0


def test_rank_capped_rounding_neither_sweep_dominates():
    """specs/rounding.md §Cross-check: with a rank cap, teneva.truncate (right-to-left) and
    tt_ref.round (left-to-right) each win on some tensors; both meet Oseledets' bound
    sqrt(sum_j e_j^2) with e_j the best rank-r error of unfolding j."""
    smaller = larger = 0
    for seed in range(10):
        shape = (4, 5, 4, 5)
        total = tt_ref.random_tt(shape, 4, seed=seed) + tt_ref.random_tt(shape, 4, seed=100 + seed)
        dense = np.asarray(tt_ref.full(total))
        _, err = tt_ref.round(total, max_rank=3, return_error=True)
        y = teneva.truncate([np.asarray(c) for c in total.cores], e=1e-14, r=3)
        err_teneva = np.linalg.norm(teneva.full(y) - dense) / np.linalg.norm(dense)
        bound_sq, rows = 0.0, 1
        for n in shape[:-1]:
            rows *= n
            s = np.linalg.svd(dense.reshape(rows, -1), compute_uv=False)
            bound_sq += float(np.sum(s[3:] ** 2))
        bound = math.sqrt(bound_sq) / np.linalg.norm(dense)
        assert err <= bound * (1 + 1e-10) and err_teneva <= bound * (1 + 1e-10)
        smaller += err_teneva < err * (1 - 1e-9)
        larger += err_teneva > err * (1 + 1e-9)
    assert smaller > 0 and larger > 0


def test_tensorly_tensor_train_is_the_same_sequential_algorithm():
    """specs/tt_svd.md §Cross-check: tensorly's tensor_train with tt_ref's ranks (or a rank
    cap) is the same sequential TT-SVD (S carried): the same error to rounding."""
    from tensorly.decomposition import tensor_train

    rng = np.random.default_rng(1)
    for _ in range(6):
        x = rng.standard_normal(tuple(rng.integers(2, 6, size=4)))
        for kwargs in ({"eps": 0.2}, {"max_rank": 2}):
            tt, err = tt_ref.tt_svd(x, return_error=True, **kwargs)
            factors = tensor_train(x, rank=list(tt.ranks)).factors
            err_tl = np.linalg.norm(tensorly.tt_to_tensor(factors) - x) / np.linalg.norm(x)
            assert _ranks(factors) == tt.ranks
            assert abs(err_tl - err) <= 1e-12
