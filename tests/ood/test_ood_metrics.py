"""Detection measures: equal to scikit-learn's on random inputs, ties handled as documented (specs/ood.md §Metrics)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import to_xp
from tt_ref import ArgumentTypeError, ArgumentValueError
from tt_ref.ood import aupr, auroc, detection_metrics, fpr_at_tpr, precision_at_recall, roc_curve


@st.composite
def _labelled_scores(draw):
    n = draw(st.integers(2, 60))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    y = rng.integers(0, 2, n)
    y[0], y[1] = 0, 1  # both classes present
    # Few distinct values in two cases out of three, so ties (within and across classes) are common.
    levels = draw(st.sampled_from([2, 3, 10, None]))
    s = rng.integers(0, levels, n).astype(float) if levels else rng.standard_normal(n)
    return y, s


@given(_labelled_scores())
def test_metrics_equal_sklearn(case):
    """specs/ood.md §Metrics: every measure equals scikit-learn's on random inputs (ties included), 1e-12."""
    skm = pytest.importorskip("sklearn.metrics")
    y, s = case
    assert abs(auroc(y, s) - skm.roc_auc_score(y, s)) <= 1e-12
    assert abs(aupr(y, s) - skm.average_precision_score(y, s)) <= 1e-12
    precision, recall, _ = skm.precision_recall_curve(y, s)
    for target in (0.5, 0.9, 1.0):
        assert abs(precision_at_recall(y, s, target) - precision[recall >= target].max()) <= 1e-12
    fpr, tpr, _ = skm.roc_curve(y, s, drop_intermediate=False)
    for target in (0.5, 0.95, 1.0):
        assert abs(fpr_at_tpr(y, s, target) - fpr[tpr >= target].min()) <= 1e-12
    ours_fpr, ours_tpr, thresholds = roc_curve(y, s)
    assert np.allclose(ours_fpr, fpr) and np.allclose(ours_tpr, tpr)
    assert thresholds[0] == np.inf and np.all(np.diff(thresholds[1:]) < 0)  # one point per distinct score


def test_all_scores_tied():
    """specs/ood.md §Metrics: one threshold only: AUROC 1/2, AUPR = P@R90 = share of anomalies, FPR@95 = 1."""
    y = np.array([0, 1, 0, 0, 1])
    s = np.full(5, 0.7)
    assert auroc(y, s) == 0.5
    assert aupr(y, s) == pytest.approx(0.4, abs=1e-15)
    assert precision_at_recall(y, s, 0.9) == pytest.approx(0.4, abs=1e-15)
    assert fpr_at_tpr(y, s, 0.95) == 1.0
    fpr, tpr, thresholds = roc_curve(y, s)
    assert fpr.tolist() == [0.0, 1.0] and tpr.tolist() == [0.0, 1.0] and thresholds.tolist() == [np.inf, 0.7]


def test_ties_across_classes_by_hand():
    """specs/ood.md §Metrics: a tie between a normal and an anomalous point counts one half in AUROC.

    Scores: anomalies 0.9, 0.5; normals 0.5, 0.1. Pairs (anomaly above normal): (0.9, 0.5) 1, (0.9, 0.1) 1,
    (0.5, 0.5) 1/2, (0.5, 0.1) 1 -> AUROC 3.5 / 4. Thresholds 0.9, 0.5, 0.1: recall 1/2 at precision 1,
    recall 1 at precision 2/3 -> AUPR 1/2 + 1/2 * 2/3.
    """
    y = np.array([1, 1, 0, 0])
    s = np.array([0.9, 0.5, 0.5, 0.1])
    assert auroc(y, s) == 0.875
    assert aupr(y, s) == pytest.approx(0.5 + 0.5 * 2 / 3, abs=1e-15)
    assert precision_at_recall(y, s, 0.9) == pytest.approx(2 / 3, abs=1e-15)
    assert fpr_at_tpr(y, s, 0.95) == 0.5


def test_metrics_on_backend_scores(xp, dtype):
    """specs/ood.md §Metrics: scores and labels on any backend are evaluated on the host."""
    y = np.array([0, 0, 1, 1, 0, 1])
    s = np.array([0.1, 0.3, 0.2, 0.9, 0.05, 0.7])
    got = detection_metrics(to_xp(y, xp), to_xp(s, xp, dtype))
    assert got == detection_metrics(y, s.astype(dtype))
    assert set(got) == {"auroc", "aupr", "p_at_r90", "fpr_at_95"}


def test_metrics_extremes():
    """specs/ood.md §Metrics: a perfect detector scores 1/1/1/0, a reversed one 0 AUROC; bool labels work."""
    y = np.array([0, 0, 0, 1, 1])
    s = np.array([0.0, 0.1, 0.2, 0.8, 0.9])
    assert detection_metrics(y, s) == {"auroc": 1.0, "aupr": 1.0, "p_at_r90": 1.0, "fpr_at_95": 0.0}
    assert auroc(y, -s) == 0.0
    assert auroc(y.astype(bool), s) == 1.0 and auroc(y.astype(float), s) == 1.0


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: auroc([1, 1], [0.1, 0.2]), ArgumentValueError, "both normal \\(0\\) and anomalous \\(1\\)"),
        (lambda: aupr([0, 1], [0.1, 0.2, 0.3]), ArgumentValueError, "y_true has 2 entries but scores has 3"),
        (lambda: auroc([0, 2], [0.1, 0.2]), ArgumentValueError, "0 \\(normal\\) and 1 \\(anomaly\\), got values"),
        (lambda: auroc([0.0, 0.5], [0.1, 0.2]), ArgumentValueError, "got values \\[0.0, 0.5\\]"),
        (lambda: auroc(np.array(["a", "b"]), [0.1, 0.2]), ArgumentTypeError, "y_true must hold 0"),
        (lambda: auroc([0, 1], np.array(["x", "y"])), ArgumentTypeError, "scores must be real numbers"),
        (lambda: auroc([0, 1], [0.1, np.nan]), ArgumentValueError, "scores contains NaN or inf"),
        (lambda: precision_at_recall([0, 1], [0.1, 0.2], 0.0), ArgumentValueError, "recall must be a real number in"),
        (lambda: precision_at_recall([0, 1], [0.1, 0.2], "0.9"), ArgumentTypeError, "recall must be a real number"),
        (lambda: fpr_at_tpr([0, 1], [0.1, 0.2], 1.5), ArgumentValueError, "tpr must be a real number in"),
    ],
)
def test_metric_errors(call, error, message):
    """specs/ood.md §Errors: one class only, length mismatch, bad targets and scores, bad levels are named."""
    with pytest.raises(error, match=message):
        call()
