"""Plain-NumPy implementations with one deliberate mistake each (specs/conformance.md §Adapter
protocol): the conformance kit must catch every one with a message that names the mistake."""

from __future__ import annotations

import numpy as np
from conformance.numpy_adapter import NumpyAdapter, check_range


class FortranOrder(NumpyAdapter):
    """Flattens and unfolds in Fortran (column-major) order, while cores stay (r, n, r')."""

    order = "F"

    def tt_svd(self, x, eps=None, max_rank=None):
        # Unfold x in Fortran order, then build the cores as if the order were C.
        x = np.asarray(x, dtype=np.float64)
        check_range(x)
        return super().tt_svd(np.reshape(np.ravel(x, order="F"), x.shape), eps=eps, max_rank=max_rank)


class OffByOneRank(NumpyAdapter):
    """Keeps one singular value fewer than the smallest rank that meets the threshold."""

    def truncation_rank(self, s, delta, max_rank, rank_tol):
        return max(1, super().truncation_rank(s, delta, max_rank, rank_tol) - 1)


class TiesBrokenTheOtherWay(NumpyAdapter):
    """Breaks tied scores instead of counting a tied (anomaly, normal) pair as one half."""

    def auroc(self, labels, scores):
        pos, neg = scores[labels == 1], scores[labels == 0]
        return np.asarray(np.sum(pos[:, None] > neg[None]) / (pos.size * neg.size))


class SqrtSplit(NumpyAdapter):
    """Puts sqrt(S) into both factors (as teneva does), so later steps truncate another matrix."""

    def split(self, u, s, vt, k):
        root = np.sqrt(s[:k])
        return u[:, :k] * root[None, :], root[:, None] * vt[:k]


class DroppedSqrtD(NumpyAdapter):
    """Truncates every step at eps ||x|| instead of eps / sqrt(d - 1) ||x||."""

    def threshold(self, eps, norm, d):
        return eps * norm


BROKEN = {
    "fortran": (FortranOrder, "Fortran"),
    "off_by_one": (OffByOneRank, "off-by-one"),
    "ties": (TiesBrokenTheOtherWay, "tied"),
    "sqrt_split": (SqrtSplit, "sqrt(S)"),
    "dropped_sqrt_d": (DroppedSqrtD, "sqrt(d - 1)"),
}
