"""Anomaly (out-of-distribution) detection with compressed memory banks.

One private module per job:

* ``_detector``: :class:`KNNDetector`, the kNN detector in scikit-learn's shape;
* ``_distances``: k-th nearest distances, rescaled so that every finite input gives a
  finite, accurate distance;
* ``_banks``: the memory banks (the data itself, or a compressed stand-in at a budget);
* ``_metrics``: ROC curve, AUROC, AUPR, P@R90, FPR@95;
* ``_protocols``: the ``split`` and ``one-class`` evaluation protocols;
* ``_evaluate``: the experiment runner and its summary.

See ``specs/ood.md``.
"""

from __future__ import annotations

from ._banks import BANK_KINDS, bank_n_params, build_bank
from ._detector import KNNDetector
from ._evaluate import OODResult, evaluate_banks, summarize
from ._metrics import aupr, auroc, detection_metrics, fpr_at_tpr, precision_at_recall, roc_curve
from ._protocols import PROTOCOLS, ProtocolSplit, protocol_splits

__all__ = [
    "KNNDetector", "build_bank", "bank_n_params", "BANK_KINDS", "PROTOCOLS", "roc_curve", "auroc",
    "aupr", "precision_at_recall", "fpr_at_tpr", "detection_metrics", "ProtocolSplit",
    "protocol_splits", "OODResult", "evaluate_banks", "summarize",
]
