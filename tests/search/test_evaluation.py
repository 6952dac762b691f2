"""Tests of the ANN evaluation measures (specs/index.md §Evaluation)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import eps_of, to_np, to_xp
from hypothesis import given
from hypothesis import strategies as st

from tt_ref.search._evaluation import (
    ONE_RECALL_AT,
    ground_truth,
    measure_qps,
    one_recall_at,
    one_recall_curve,
    pareto_front,
    recall_at_k,
)


def test_ground_truth_matches_direct_distances(xp, dtype):
    """specs/index.md §Evaluation: ground truth is the exact top k (ascending, the true distances)."""
    rng = np.random.default_rng(0)
    base = rng.standard_normal((300, 7))
    queries = rng.standard_normal((20, 7))
    d2, ids = ground_truth(to_xp(base, xp, dtype), to_xp(queries, xp, dtype), 5)
    full = np.sum((queries[:, None, :] - base[None, :, :]) ** 2, axis=2)
    ref_ids = np.argsort(full, axis=1)[:, :5]
    ref_d = np.take_along_axis(full, ref_ids, axis=1)
    assert np.array_equal(to_np(ids), ref_ids)
    assert np.max(np.abs(to_np(d2) - ref_d)) <= 100 * eps_of(dtype) * float(np.max(full))


@given(st.data())
def test_recall_at_k_is_set_overlap(data):
    """specs/index.md §Evaluation: recall@k = |found ∩ true| / k averaged over queries."""
    n_q = data.draw(st.integers(1, 6))
    k = data.draw(st.integers(1, 6))
    seed = data.draw(st.integers(0, 1000))
    rng = np.random.default_rng(seed)
    true = np.stack([rng.permutation(20)[:k] for _ in range(n_q)])
    found = np.stack([rng.permutation(20)[:k] for _ in range(n_q)])
    found[0, -1] = -1
    expected = np.mean([len(set(f.tolist()) & set(t.tolist())) / k for f, t in zip(found, true)])
    assert recall_at_k(found, true, k) == pytest.approx(expected)
    assert recall_at_k(true, true) == 1.0


def test_one_recall():
    """specs/index.md §Evaluation: 1-recall@R = share of queries with the true nearest in the first R."""
    found = np.array([[3, 1, 2], [9, 8, 7], [0, 5, 6]])
    true = np.array([[1, 4], [7, 0], [4, 3]])
    assert one_recall_at(found, true, 1) == 0.0
    assert one_recall_at(found, true, 2) == pytest.approx(1 / 3)
    assert one_recall_at(found, true[:, 0], 3) == pytest.approx(2 / 3)
    assert one_recall_curve(found, true) == {1: 0.0}
    assert ONE_RECALL_AT == (1, 10, 100, 1000)


def test_pareto_and_qps():
    """specs/index.md §Evaluation: Pareto front marks undominated (recall, QPS) points."""
    front = pareto_front([0.5, 0.9, 0.8, 0.9, 1.0], [100.0, 50.0, 40.0, 60.0, 1.0])
    assert front.tolist() == [True, False, False, True, True]
    qps, seconds = measure_qps(lambda: sum(range(100)), 50, repeat=2)
    assert qps == pytest.approx(50 / seconds)


def test_bad_inputs():
    """specs/index.md §Errors: shapes, k and R out of range are clear errors."""
    with pytest.raises(ValueError, match="found_ids has 2 queries"):
        recall_at_k(np.zeros((2, 3), dtype=int), np.zeros((3, 3), dtype=int))
    with pytest.raises(ValueError, match="k must"):
        recall_at_k(np.zeros((2, 3), dtype=int), np.zeros((2, 3), dtype=int), 4)
    with pytest.raises(TypeError, match="integer ids"):
        recall_at_k(np.zeros((2, 3)), np.zeros((2, 3), dtype=int))
    with pytest.raises(ValueError, match="R must"):
        one_recall_at(np.zeros((2, 3), dtype=int), np.zeros(2, dtype=int), 0)
    with pytest.raises(ValueError, match="n_queries"):
        measure_qps(lambda: None, 0)
    with pytest.raises(ValueError, match="1-D of one length"):
        pareto_front([1.0, 2.0], [1.0])
