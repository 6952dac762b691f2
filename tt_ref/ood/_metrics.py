"""Detection measures of anomaly scores: ROC curve, AUROC, AUPR, P@R90, FPR@95.

Labels are 1 for an anomaly (the positive class) and 0 for a normal point; scores are
larger for more anomalous points (a distance, e.g. :meth:`KNNDetector.kth_distance`).
Everything runs on the host in float64 from scores of any backend; each measure equals
scikit-learn's, ties included (``specs/ood.md`` §Metrics).
"""

from __future__ import annotations

import numpy as np

from .._backend import ArgumentTypeError, ArgumentValueError, check_real, to_numpy

__all__ = ["roc_curve", "auroc", "aupr", "precision_at_recall", "fpr_at_tpr", "detection_metrics"]


def _host_vector(values, name: str) -> np.ndarray:
    try:
        return np.asarray(to_numpy(values)).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise ArgumentTypeError(f"{name} must be an array or a sequence of numbers, got {type(values).__name__}") from exc


def _labels_scores(y_true, scores):
    """``(y, s)`` on the host: ``y`` int64 in {0, 1} with both present, ``s`` finite float64, same length."""
    y = _host_vector(y_true, "y_true")
    s = _host_vector(scores, "scores")
    if y.dtype.kind not in "biuf":
        raise ArgumentTypeError(f"y_true must hold 0 (normal) and 1 (anomaly), got values of dtype {y.dtype}")
    if s.dtype.kind not in "biuf":
        raise ArgumentTypeError(f"scores must be real numbers, got values of dtype {s.dtype}")
    if y.shape[0] != s.shape[0]:
        raise ArgumentValueError(f"y_true has {y.shape[0]} entries but scores has {s.shape[0]}")
    values = set(np.unique(y).tolist())
    if not values <= {0, 1}:
        raise ArgumentValueError(f"y_true must hold 0 (normal) and 1 (anomaly), got values {sorted(values)[:5]}")
    if values != {0, 1}:
        raise ArgumentValueError("y_true must contain both normal (0) and anomalous (1) points")
    s = s.astype(np.float64)
    if not np.all(np.isfinite(s)):
        raise ArgumentValueError("scores contains NaN or inf")
    return y.astype(np.int64), s


def _cumulative_counts(y, s):
    """True / false positives above each distinct threshold, thresholds descending."""
    order = np.argsort(-s, kind="stable")
    s_sorted = s[order]
    y_sorted = y[order]
    # The last position of each run of equal scores closes one threshold.
    last = np.r_[np.nonzero(np.diff(s_sorted))[0], s_sorted.size - 1]
    tps = np.cumsum(y_sorted)[last].astype(np.float64)
    fps = (last + 1) - tps
    return tps, fps, s_sorted[last]


def roc_curve(y_true, scores):
    """ROC curve of anomaly ``scores`` (larger = more anomalous) against ``y_true`` (1 = anomaly).

    Returns ``(fpr, tpr, thresholds)`` as host NumPy arrays, one point per distinct
    score (descending) after a leading ``(0, 0)`` point whose threshold is ``inf``.
    The same points as ``sklearn.metrics.roc_curve(..., drop_intermediate=False)``.

    Examples
    --------
    >>> from tt_ref.ood import roc_curve
    >>> fpr, tpr, _ = roc_curve([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    >>> fpr.tolist(), tpr.tolist()
    ([0.0, 0.0, 0.5, 0.5, 1.0], [0.0, 0.5, 0.5, 1.0, 1.0])
    """
    y, s = _labels_scores(y_true, scores)
    tps, fps, thresholds = _cumulative_counts(y, s)
    tpr = np.r_[0.0, tps / tps[-1]]
    fpr = np.r_[0.0, fps / fps[-1]]
    return fpr, tpr, np.r_[np.inf, thresholds]


def auroc(y_true, scores) -> float:
    """Area under the ROC curve (trapezoids; ties count one half).

    Equals ``sklearn.metrics.roc_auc_score``.

    Examples
    --------
    >>> from tt_ref.ood import auroc
    >>> auroc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    0.75
    """
    fpr, tpr, _ = roc_curve(y_true, scores)
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2.0))


def aupr(y_true, scores) -> float:
    """Area under the precision-recall curve as average precision (step-wise, no interpolation).

    ``sum_n (R_n - R_{n-1}) P_n`` over the distinct thresholds; equals
    ``sklearn.metrics.average_precision_score`` with the anomalies as positives.

    Examples
    --------
    >>> from tt_ref.ood import aupr
    >>> round(aupr([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]), 6)
    0.833333
    """
    y, s = _labels_scores(y_true, scores)
    tps, fps, _ = _cumulative_counts(y, s)
    precision = tps / (tps + fps)
    recall = tps / tps[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def precision_at_recall(y_true, scores, recall: float = 0.9) -> float:
    """Best precision among the thresholds whose recall of the anomalies is at least ``recall``.

    ``max(precision[recall_curve >= recall])`` on ``sklearn.metrics.precision_recall_curve``.

    Examples
    --------
    >>> from tt_ref.ood import precision_at_recall
    >>> round(precision_at_recall([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8], 0.9), 6)
    0.666667
    """
    recall = check_real(recall, name="recall", minimum=0.0, maximum=1.0, exclusive_minimum=True)
    y, s = _labels_scores(y_true, scores)
    tps, fps, _ = _cumulative_counts(y, s)
    precision = tps / (tps + fps)
    reached = tps / tps[-1] >= recall
    return float(np.max(precision[reached]))


def fpr_at_tpr(y_true, scores, tpr: float = 0.95) -> float:
    """Smallest false-positive rate among the thresholds whose true-positive rate is at least ``tpr``.

    ``min(fpr[tpr_curve >= tpr])`` on ``sklearn.metrics.roc_curve``.

    Examples
    --------
    >>> from tt_ref.ood import fpr_at_tpr
    >>> fpr_at_tpr([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8], 0.95)
    0.5
    """
    tpr = check_real(tpr, name="tpr", minimum=0.0, maximum=1.0, exclusive_minimum=True)
    fpr_curve, tpr_curve, _ = roc_curve(y_true, scores)
    return float(np.min(fpr_curve[tpr_curve >= tpr]))


def detection_metrics(y_true, scores) -> dict[str, float]:
    """The four reported measures: ``auroc``, ``aupr``, ``p_at_r90``, ``fpr_at_95``.

    Examples
    --------
    >>> from tt_ref.ood import detection_metrics
    >>> {k: round(v, 3) for k, v in detection_metrics([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]).items()}
    {'auroc': 0.75, 'aupr': 0.833, 'p_at_r90': 0.667, 'fpr_at_95': 0.5}
    """
    return {
        "auroc": auroc(y_true, scores),
        "aupr": aupr(y_true, scores),
        "p_at_r90": precision_at_recall(y_true, scores, 0.9),
        "fpr_at_95": fpr_at_tpr(y_true, scores, 0.95),
    }
