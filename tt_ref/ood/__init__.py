"""Anomaly (out-of-distribution) detection with compressed memory banks: the kNN
detector, the banks, the detection metrics and the evaluation protocols.

See ``specs/ood.md``.
"""

from __future__ import annotations

from ._ood import (
    BANK_KINDS,
    PROTOCOLS,
    KNNDetector,
    OODResult,
    ProtocolSplit,
    aupr,
    auroc,
    bank_n_params,
    build_bank,
    detection_metrics,
    evaluate_banks,
    fpr_at_tpr,
    precision_at_recall,
    protocol_splits,
    roc_curve,
    summarize,
)

__all__ = [
    "KNNDetector", "build_bank", "bank_n_params", "BANK_KINDS", "PROTOCOLS", "roc_curve", "auroc",
    "aupr", "precision_at_recall", "fpr_at_tpr", "detection_metrics", "ProtocolSplit",
    "protocol_splits", "OODResult", "evaluate_banks", "summarize",
]
