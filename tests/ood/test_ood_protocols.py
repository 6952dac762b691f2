"""Evaluation protocols, the label check, the experiment runner and its summary (specs/ood.md §Protocols)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import to_xp
from tt_ref import ArgumentTypeError, ArgumentValueError
from tt_ref.ood import PROTOCOLS, evaluate_banks, protocol_splits, summarize
from tt_ref.ood._protocols import check_labels


@given(seed=st.integers(0, 2**16), protocol=st.sampled_from(PROTOCOLS), n_classes=st.integers(2, 6))
def test_protocol_no_leakage(seed, protocol, n_classes):
    """specs/ood.md §Protocols: no test row is in the bank; the bank is normal rows only."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n_classes, 120)
    labels[: n_classes * 3] = np.repeat(np.arange(n_classes), 3)
    tasks = protocol_splits(labels, protocol, test_fraction=0.25, seed=seed)
    assert len(tasks) == (1 if protocol == "split" else n_classes)
    for task in tasks:
        assert np.intersect1d(task.bank_idx, task.test_idx).size == 0
        assert np.unique(task.test_idx).size == task.test_idx.size
        normal = np.unique(labels[task.bank_idx])
        assert np.all(np.isin(labels[task.test_idx[task.y_test == 0]], normal))
        assert not np.any(np.isin(labels[task.test_idx[task.y_test == 1]], normal))
        # Every normal row is either in the bank or held out.
        assert task.bank_idx.size + int((task.y_test == 0).sum()) == int(np.isin(labels, normal).sum())
        if protocol == "split":
            assert normal.tolist() == list(range(n_classes // 2))


def test_protocol_seeds_and_label_kinds(xp):
    """specs/ood.md §Protocols: a seed fixes the split; whole-number float labels and backend labels give the same split."""
    labels = np.repeat(np.arange(4), 10)
    a = protocol_splits(labels, "one-class", seed=3)
    b = protocol_splits(labels.astype(np.float32), "one-class", seed=np.int64(3))
    c = protocol_splits(labels, "one-class", seed=4)
    d = protocol_splits(to_xp(labels, xp), "one-class", seed=3)
    assert all(np.array_equal(x.test_idx, y.test_idx) for x, y in zip(a, b))
    assert all(np.array_equal(x.test_idx, y.test_idx) for x, y in zip(a, d))
    assert any(not np.array_equal(x.test_idx, y.test_idx) for x, y in zip(a, c))
    assert [t.name for t in a] == ["normal 0", "normal 1", "normal 2", "normal 3"]


@pytest.mark.parametrize(
    "labels, kwargs, error, message",
    [
        (np.repeat(np.arange(4), 10), {"protocol": "bogus"}, ArgumentValueError, "protocol must be one of"),
        (np.repeat(np.arange(4), 10), {"test_fraction": 1.0}, ArgumentValueError, "test_fraction"),
        (np.repeat(np.arange(4), 10), {"test_fraction": "0.3"}, ArgumentTypeError, "test_fraction"),
        (np.repeat(np.arange(4), 10), {"anomaly_ratio": 0}, ArgumentValueError, "anomaly_ratio"),
        (np.repeat(np.arange(4), 10), {"seed": -1}, ArgumentValueError, "seed must be an integer >= 0"),
        (np.zeros(5, dtype=int), {}, ArgumentValueError, "at least two classes"),
        (np.repeat(np.arange(4), 10), {"normal_classes": [7]}, ArgumentValueError, "normal_classes holds classes"),
        (np.repeat(np.arange(4), 10), {"normal_classes": 1}, ArgumentTypeError, "normal_classes must be a sequence"),
        (np.repeat([0.5, 1.5], 5), {}, ArgumentValueError, "labels must be whole-number class labels, got 0.5"),
        (np.array([0.0, np.nan, 1.0, 1.0]), {}, ArgumentValueError, "whole-number class labels, got nan"),
        (np.repeat(["cat", "dog"], 5), {}, ArgumentTypeError, "labels must be integer class labels, got strings"),
        (np.zeros((4, 2), dtype=int), {}, ArgumentValueError, "one class label per row"),
        (np.array([0.0, 1e300] * 3), {}, ArgumentValueError, "within \\+-2\\*\\*53"),
        ("0101", {}, ArgumentTypeError, "labels must be integer class labels, got strings"),
    ],
)
def test_protocol_errors(labels, kwargs, error, message):
    """specs/ood.md §Errors: bad protocols, fractions, seeds and labels (float, string, shape) are named."""
    with pytest.raises(error, match=message):
        protocol_splits(labels, **kwargs)


def test_check_labels_keeps_integers():
    """specs/ood.md §Protocols: integer, bool, whole-number float and column labels become int64 unchanged."""
    assert check_labels(np.array([3, 1, 2], dtype=np.uint8)).tolist() == [3, 1, 2]
    assert check_labels(np.array([True, False])).tolist() == [1, 0]
    assert check_labels(np.array([[2.0], [-1.0]])).tolist() == [2, -1]
    assert check_labels([0, 1, 1]).dtype == np.int64


def test_evaluate_banks_small(xp, dtype):
    """specs/ood.md §Protocols: full + random banks on separable data; a budget below one point is skipped with a note."""
    rng = np.random.default_rng(7)
    labels = np.repeat(np.arange(4), 30)
    X = np.eye(4)[labels] * 6.0 + rng.standard_normal((120, 4)) * 0.3
    rows = []
    result = evaluate_banks(
        to_xp(X, xp, dtype), labels, protocol="split", compressions=(10, 1000), kinds=("full", "random"),
        seeds=(0, 1), progress=False, callback=rows.append,
    )
    assert not result.interrupted
    done = [r for r in result.rows if "auroc" in r]
    assert done == rows  # the callback saw every finished row
    assert {(r["kind"], r["compression"]) for r in done} == {("full", 1), ("random", 10)}
    assert any("1000" in note for note in result.notes)
    for row in summarize(result.rows):
        assert row["n_seeds"] == 2
        assert row["auroc"] > 0.95  # well-separated classes
    full = next(r for r in summarize(result.rows) if r["kind"] == "full")
    assert full["n_params"] == 42 * 4  # 60 normal rows, 30 % held out
    assert (10, "random") in result.curves


def test_evaluate_banks_scores_like_the_detector():
    """specs/ood.md §Protocols: each row's measures are those of KNNDetector.kth_distance on the task."""
    from tt_ref.ood import KNNDetector, auroc

    rng = np.random.default_rng(8)
    labels = np.repeat(np.arange(3), 25)
    X = rng.standard_normal((75, 5)) + labels[:, None]
    result = evaluate_banks(X, labels, protocol="one-class", compressions=(5,), kinds=("full", "coreset"),
                            seeds=(2,), k=2, progress=False)
    tasks = protocol_splits(labels, "one-class", seed=2)
    for row in result.rows:
        task = next(t for t in tasks if t.name == row["task"])
        budget = None if row["kind"] == "full" else int(np.floor(task.bank_idx.size * 5 / 5))
        detector = KNNDetector(2, bank=row["kind"], n_params=budget, seed=2).fit(X[task.bank_idx])
        assert row["auroc"] == auroc(task.y_test, detector.kth_distance(X[task.test_idx]))
        assert row["n_params"] == detector.n_params_ and row["bank_size"] == detector.bank_size_


def test_evaluate_banks_interrupted():
    """specs/ood.md §Protocols: Ctrl-C (KeyboardInterrupt, here from the callback) returns the finished rows, marked."""
    labels = np.repeat(np.arange(2), 20)
    X = np.random.default_rng(9).standard_normal((40, 3)) + labels[:, None]

    def stop(row):
        raise KeyboardInterrupt

    result = evaluate_banks(X, labels, compressions=(2,), kinds=("full", "random"), seeds=(0, 1), progress=False,
                            callback=stop)
    assert result.interrupted and len(result.rows) == 1 and result.rows[0]["kind"] == "full"


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"labels": np.zeros(9)}, ArgumentValueError, "labels has 9 entries but X has 10 rows"),
        ({"kinds": ("bogus",)}, ArgumentValueError, "kinds\\[0\\] must be one of"),
        ({"kinds": "full"}, ArgumentTypeError, "kinds must be a sequence"),
        ({"compressions": (0.5,)}, ArgumentValueError, "compressions\\[0\\] must be a real number >= 1"),
        ({"compressions": ("10",)}, ArgumentTypeError, "compressions\\[0\\] must be a real number"),
        ({"seeds": (0, -1)}, ArgumentValueError, "seeds\\[1\\] must be an integer >= 0"),
        ({"k": 0}, ArgumentValueError, "k must be an integer >= 1"),
        ({"bank_options": {"tt": 3}}, ArgumentTypeError, "bank_options must be a dict of dicts"),
        ({"bank_options": {"nope": {}}}, ArgumentValueError, "bank_options key must be one of"),
        ({"callback": 3}, ArgumentTypeError, "callback must be callable"),
        ({"X": np.zeros((10, 0))}, ArgumentValueError, "X has 0 feature"),
        ({"labels": np.repeat(["a", "b"], 5)}, ArgumentTypeError, "labels must be integer class labels"),
    ],
)
def test_evaluate_banks_errors(kwargs, error, message):
    """specs/ood.md §Errors: labels, kinds, compressions, seeds, options and data are checked before any work."""
    args = {"X": np.random.default_rng(0).standard_normal((10, 2)), "labels": np.repeat([0, 1], 5)}
    args.update(kwargs)
    X, labels = args.pop("X"), args.pop("labels")
    with pytest.raises(error, match=message):
        evaluate_banks(X, labels, progress=False, **args)


def test_summarize_mean_and_spread():
    """specs/ood.md §Protocols: tasks are averaged within a seed, then mean and ddof=0 spread over seeds."""
    rows = []
    for seed, values in ((0, (0.6, 0.8)), (1, (0.9, 0.9))):
        for task, v in zip(("a", "b"), values):
            rows.append(dict(compression=10, kind="tt", seed=seed, task=task, n_params=100 + seed,
                             auroc=v, aupr=v, p_at_r90=v, fpr_at_95=1 - v))
    rows.append(dict(compression=10, kind="tt", seed=0, task="c", note="skipped"))
    (out,) = summarize(rows)
    assert out["auroc"] == pytest.approx(0.8) and out["auroc_std"] == pytest.approx(0.1)
    assert out["n_seeds"] == 2 and out["n_params"] == 100  # round(100.5) to even
