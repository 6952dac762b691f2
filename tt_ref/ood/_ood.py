"""Anomaly / out-of-distribution detection with a (compressed) memory bank.

The score of a test point is its distance to the ``k``-th nearest point of a memory
bank of normal data (PatchCore's rule, ``../shared/METHOD.md`` §6). The bank is the
normal training set itself ("full") or a compressed stand-in with a fixed parameter
budget: a TT point cloud, a greedy k-center coreset, a random subset or k-means
centres, all built by :func:`tt_ref.cloud.compress` (one copy of each method).

Definitions, the protocols and the test tolerances are in ``specs/ood.md``.

Layer: index / OOD. Imports the point-cloud layer lazily (only when a compressed bank
is built) so the detector and the metrics work on their own.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from .._backend import (
    array_namespace,
    as_float_array,
    default_rng,
    to_numpy,
    topk_smallest,
)
from .._backend._neighbors import nearest_neighbors

__all__ = [
    "BANK_KINDS",
    "PROTOCOLS",
    "KNNDetector",
    "build_bank",
    "bank_n_params",
    "roc_curve",
    "auroc",
    "aupr",
    "precision_at_recall",
    "fpr_at_tpr",
    "detection_metrics",
    "ProtocolSplit",
    "protocol_splits",
    "OODResult",
    "evaluate_banks",
    "summarize",
]

#: Memory banks compared at an equal parameter budget ("full" is the uncompressed set).
BANK_KINDS = ("full", "tt", "coreset", "random", "kmeans")

#: Evaluation protocols: ``split`` (first half of the classes normal, the rest
#: anomalous) and ``one-class`` (each class in turn normal, all others anomalous).
PROTOCOLS = ("split", "one-class")


# --------------------------------------------------------------------------- detector
class KNNDetector:
    """kNN anomaly detector: score = distance to the ``k``-th nearest bank point.

    Parameters
    ----------
    bank : None, str, array or TTPointCloud, optional
        What :meth:`fit` keeps as the memory bank. ``None`` or ``"full"``: the normal
        data itself. A kind in ``BANK_KINDS`` (``"tt"``, ``"coreset"``,
        ``"random"``, ``"kmeans"``): a set compressed to ``n_params`` parameters by
        :func:`build_bank`. An ``(m, D)`` array: that set, used as is (``fit`` is then
        optional). A :class:`tt_ref.TTPointCloud`: its points, streamed chunk by
        chunk when scoring, so a cloud with many points is never materialised.
    k : int
        Which nearest bank point gives the score (1 = the nearest, PatchCore's rule).
    index : object, optional
        An approximate index with ``train(X)``, ``add(X)`` and ``search(Q, k)``
        returning ``(distances, ids)`` (e.g. :class:`tt_ref.TTIndex`), for banks too
        large for exact search. ``fit`` trains it on the bank and adds the bank. The
        distances it returns are taken to be squared L2 (as
        :func:`tt_ref.search.nearest_neighbors` returns them) unless
        ``index_returns_squared=False``.
    n_params : int, optional
        Parameter budget for a compressed bank kind (required then).
    seed : int
        Seed of the bank construction.
    chunk_size : int, optional
        Queries per distance GEMM (passed to ``nearest_neighbors``).
    **bank_options
        Forwarded to :func:`build_bank` (e.g. ``steps=...`` for the TT fit).

    Examples
    --------
    >>> import numpy as np
    >>> from tt_ref.ood._ood import KNNDetector
    >>> normal = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    >>> detector = KNNDetector().fit(normal)
    >>> detector.score(np.array([[0.0, 0.0], [3.0, 4.0]])).tolist()
    [0.0, 4.242640687119285]
    """

    def __init__(
        self,
        bank=None,
        k: int = 1,
        *,
        index=None,
        n_params: int | None = None,
        seed: int = 0,
        chunk_size: int | None = None,
        index_returns_squared: bool = True,
        **bank_options,
    ):
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        if isinstance(bank, str) and bank not in BANK_KINDS:
            raise ValueError(f"bank must be one of {BANK_KINDS}, an array or a TTPointCloud, got {bank!r}")
        if isinstance(bank, str) and bank != "full" and n_params is None:
            raise ValueError(f"bank={bank!r} needs n_params (the parameter budget of the compressed bank)")
        if index is not None and not callable(getattr(index, "search", None)):
            raise TypeError(f"index must have a search(Q, k) method, got {type(index).__name__}")
        self.k = k
        self.index = index
        self.n_params = n_params
        self.seed = seed
        self.chunk_size = chunk_size
        self.index_returns_squared = index_returns_squared
        self.bank_options = bank_options
        self._spec = bank
        self.bank_ = None
        if bank is not None and not isinstance(bank, str):
            self.bank_ = _check_bank(bank)
            if index is not None:
                self._fit_index()

    def fit(self, X_normal):
        """Build the memory bank from normal data ``X_normal`` of shape ``(N, D)``.

        Returns ``self``. With an array or point-cloud ``bank`` given at construction
        the data only checks the dimension (the bank, and the index built on it at
        construction, stay as they are). Calling ``fit`` again with a bank kind
        rebuilds the bank; an ``index`` is then trained and filled again, so give a
        fresh index (``add`` appends).
        """
        X_normal = as_float_array(X_normal, name="X_normal", ndim=2)
        if X_normal.shape[0] == 0:
            raise ValueError("X_normal is empty: a memory bank needs at least one normal point")
        spec = self._spec
        if spec is None or isinstance(spec, str):
            kind = "full" if spec is None else spec
            self.bank_ = build_bank(X_normal, kind, self.n_params, seed=self.seed, **self.bank_options)
            if self.index is not None:
                self._fit_index()
        elif _bank_dim(self.bank_) != X_normal.shape[1]:
            raise ValueError(
                f"X_normal has dimension {X_normal.shape[1]} but the bank has dimension {_bank_dim(self.bank_)}"
            )
        return self

    def _fit_index(self):
        bank = self.bank_
        if not _is_point_cloud(bank):
            points = bank
        else:
            points = bank.all_points()
        train = getattr(self.index, "train", None)
        if callable(train):
            train(points)
        self.index.add(points)

    @property
    def bank_size(self) -> int:
        """Number of points in the memory bank."""
        self._check_fitted()
        return int(self.bank_.n_points) if _is_point_cloud(self.bank_) else int(self.bank_.shape[0])

    def _check_fitted(self):
        if self.bank_ is None:
            raise ValueError("the detector has no memory bank yet: call fit(X_normal) first")

    def score(self, X):
        """Anomaly scores of ``X`` ``(n, D)``: L2 distance to the ``k``-th nearest bank point.

        Returns an ``(n,)`` array on ``X``'s backend; larger means more anomalous.
        """
        self._check_fitted()
        xp = array_namespace(X, names=("X",))
        X = as_float_array(X, name="X", xp=xp, ndim=2)
        bank = self.bank_
        dim = _bank_dim(bank)
        if X.shape[1] != dim:
            raise ValueError(f"X has dimension {X.shape[1]} but the bank has dimension {dim}")
        if self.k > self.bank_size:
            raise ValueError(f"k={self.k} is larger than the memory bank ({self.bank_size} points)")
        if self.index is not None:
            distances, _ = self.index.search(X, self.k)
            kth = distances[:, self.k - 1]
            kth = xp.astype(kth, X.dtype)
            return xp.sqrt(xp.clip(kth, 0.0, None)) if self.index_returns_squared else kth
        if _is_point_cloud(bank):
            kth_sq = _kth_distance_streamed(X, bank, self.k, xp=xp, chunk_size=self.chunk_size)
        else:
            bank = xp.astype(bank, X.dtype) if bank.dtype != X.dtype else bank
            sq, _ = nearest_neighbors(X, bank, self.k, chunk_size=self.chunk_size, check_values=False)
            kth_sq = sq[:, self.k - 1]
        return xp.sqrt(kth_sq)


def _is_point_cloud(obj) -> bool:
    return hasattr(obj, "points") and hasattr(obj, "cores") and hasattr(obj, "n_points")


def _bank_dim(bank) -> int:
    return int(bank.dim) if _is_point_cloud(bank) else int(bank.shape[1])


def _check_bank(bank):
    if _is_point_cloud(bank):
        return bank
    bank = as_float_array(bank, name="bank", ndim=2)
    if bank.shape[0] == 0:
        raise ValueError("bank is empty: a memory bank needs at least one point")
    return bank


def _kth_distance_streamed(X, cloud, k, *, xp, chunk_size):
    """k-th smallest squared distance from each row of X to the cloud's points, in chunks.

    Keeps a running ``(n, k)`` list of the best distances, so memory is
    ``O(n * (k + chunk))`` whatever the number of TT points.
    """
    best = None
    for block in cloud.points():
        block = xp.astype(block, X.dtype) if block.dtype != X.dtype else block
        kb = min(k, block.shape[0])
        sq, _ = nearest_neighbors(X, block, kb, chunk_size=chunk_size, check_values=False)
        merged = sq if best is None else xp.concat([best, sq], axis=1)
        keep = min(k, merged.shape[1])
        best, _ = topk_smallest(merged, keep, xp=xp)
    return best[:, k - 1]


# --------------------------------------------------------------------------- banks
def build_bank(X, kind: str, n_params: int | None = None, *, seed: int = 0, **options):
    """A memory bank for normal data ``X`` ``(N, D)`` at a parameter budget.

    Parameters
    ----------
    X : array, shape (N, D)
        Normal training data (any backend).
    kind : str
        One of ``BANK_KINDS``. ``"full"`` returns ``X``; the others call
        :func:`tt_ref.cloud.compress` (``"tt"``: a TT point cloud fitted to ``X``
        and decoded; ``"coreset"``: greedy k-center; ``"random"``: a random subset;
        ``"kmeans"``: k-means centres).
    n_params : int
        Parameter budget of a compressed bank (ignored for ``"full"``). A point-set
        bank holds ``n_params // D`` points; the TT bank's configuration comes from
        :func:`tt_ref.cloud.config_for_budget`.
    seed : int
        Seed of the construction.
    **options
        Forwarded to ``compress`` (for ``"tt"``: options of ``fit_point_cloud``).

    Returns
    -------
    array, shape (m, D) on ``X``'s backend

    Examples
    --------
    >>> import numpy as np
    >>> from tt_ref.ood._ood import build_bank
    >>> build_bank(np.ones((5, 3)), "full").shape
    (5, 3)
    """
    X = as_float_array(X, name="X", ndim=2)
    if kind not in BANK_KINDS:
        raise ValueError(f"kind must be one of {BANK_KINDS}, got {kind!r}")
    if kind == "full":
        return X
    if n_params is None or not isinstance(n_params, int) or isinstance(n_params, bool) or n_params < 1:
        raise ValueError(f"n_params must be a positive integer for kind={kind!r}, got {n_params!r}")
    return _run_bank_method(X, kind, n_params, seed, options).points


def _run_bank_method(X, kind, n_params, seed, options):
    """``baselines.run_method`` (points and the parameter count actually used)."""
    from ..cloud._baselines import run_method

    options = dict(options)
    if kind == "tt":
        # Small banks (one digit class, say) hold fewer rows than the fit's default batch.
        from ..cloud._fit import DEFAULTS

        options.setdefault("batch_size", min(int(DEFAULTS["batch_size"]), int(X.shape[0])))
    return run_method(X, kind, n_params, seed=seed, **options)


def bank_n_params(kind: str, n_params: int | None, n_data: int, dim: int) -> int:
    """Parameters a bank of ``kind`` actually stores under a budget of ``n_params``.

    ``"full"``: ``n_data * dim``; point-set kinds: ``(n_params // dim) * dim``;
    ``"tt"``: the TT point cloud's count for the configuration
    :func:`tt_ref.cloud.config_for_budget` picks. Raises ``ValueError`` when the
    budget admits no bank of that kind (fewer parameters than one point, or no TT
    configuration fits).

    Examples
    --------
    >>> from tt_ref.ood._ood import bank_n_params
    >>> bank_n_params("coreset", 1000, n_data=500, dim=64)
    960
    """
    if kind == "full":
        return int(n_data) * int(dim)
    if n_params is None or n_params < 1:
        raise ValueError(f"n_params must be a positive integer for kind={kind!r}, got {n_params!r}")
    if kind == "tt":
        from ..cloud._budget import config_for_budget
        from ..cloud._point_cloud import n_params_for

        mode_sizes, ranks = config_for_budget(dim, n_params, n_data=n_data)
        return int(n_params_for(dim, mode_sizes, ranks))
    if kind in BANK_KINDS:
        m = n_params // dim
        if m < 1:
            raise ValueError(
                f"a budget of {n_params} parameters holds no {dim}-dimensional point (kind={kind!r})"
            )
        return int(m * dim)
    raise ValueError(f"kind must be one of {BANK_KINDS}, got {kind!r}")


# --------------------------------------------------------------------------- metrics
def _labels_scores(y_true, scores):
    y = np.asarray(to_numpy(y_true)).reshape(-1)
    s = np.asarray(to_numpy(scores), dtype=np.float64).reshape(-1)
    if y.shape[0] != s.shape[0]:
        raise ValueError(f"y_true has {y.shape[0]} entries but scores has {s.shape[0]}")
    if y.dtype == np.bool_:
        y = y.astype(np.int64)
    values = set(np.unique(y).tolist())
    if not values <= {0, 1}:
        raise ValueError(f"y_true must hold 0 (normal) and 1 (anomaly), got values {sorted(values)[:5]}")
    if values != {0, 1}:
        raise ValueError("y_true must contain both normal (0) and anomalous (1) points")
    if not np.all(np.isfinite(s)):
        raise ValueError("scores contains NaN or inf")
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
    >>> from tt_ref.ood._ood import roc_curve
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
    >>> from tt_ref.ood._ood import auroc
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
    >>> from tt_ref.ood._ood import aupr
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
    >>> from tt_ref.ood._ood import precision_at_recall
    >>> round(precision_at_recall([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8], 0.9), 6)
    0.666667
    """
    if not 0.0 < recall <= 1.0:
        raise ValueError(f"recall must be in (0, 1], got {recall!r}")
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
    >>> from tt_ref.ood._ood import fpr_at_tpr
    >>> fpr_at_tpr([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8], 0.95)
    0.5
    """
    if not 0.0 < tpr <= 1.0:
        raise ValueError(f"tpr must be in (0, 1], got {tpr!r}")
    fpr_curve, tpr_curve, _ = roc_curve(y_true, scores)
    return float(np.min(fpr_curve[tpr_curve >= tpr]))


def detection_metrics(y_true, scores) -> dict[str, float]:
    """The four reported measures: ``auroc``, ``aupr``, ``p_at_r90``, ``fpr_at_95``."""
    return {
        "auroc": auroc(y_true, scores),
        "aupr": aupr(y_true, scores),
        "p_at_r90": precision_at_recall(y_true, scores, 0.9),
        "fpr_at_95": fpr_at_tpr(y_true, scores, 0.95),
    }


# --------------------------------------------------------------------------- protocols
@dataclass(frozen=True)
class ProtocolSplit:
    """One evaluation task: which rows build the bank and which are scored.

    Attributes
    ----------
    name : str
        E.g. ``"normal 0-4"`` or ``"normal 3"``.
    bank_idx : numpy int64 array
        Rows of normal training data (the bank is built from these only).
    test_idx : numpy int64 array
        Rows scored: held-out normal rows, then anomalous rows.
    y_test : numpy int64 array
        1 for an anomaly, 0 for a normal row, aligned with ``test_idx``.
    """

    name: str
    bank_idx: np.ndarray
    test_idx: np.ndarray
    y_test: np.ndarray


def protocol_splits(
    labels,
    protocol: str = "split",
    *,
    test_fraction: float = 0.3,
    anomaly_ratio: float = 1.0,
    seed: int = 0,
    normal_classes: Sequence | None = None,
) -> list[ProtocolSplit]:
    """Split labelled data into bank / test rows for an OOD protocol (``specs/ood.md`` §Protocols).

    Parameters
    ----------
    labels : array, shape (N,)
        Class of each row (host or any backend).
    protocol : {"split", "one-class"}
        ``"split"``: the first half of the sorted classes (digits 0-4) is normal, the
        rest anomalous; one task. ``"one-class"``: each class in turn is normal and all
        others anomalous; one task per class.
    test_fraction : float
        Fraction of the normal rows held out for testing (never in the bank).
    anomaly_ratio : float
        Anomalous test rows per held-out normal row (drawn without replacement from
        the anomalous rows, capped at their number). 1.0 gives balanced test sets, so
        precision at 90 % recall is not dominated by the base rate.
    seed : int
        Seed of the random split.
    normal_classes : sequence, optional
        For ``"split"``: the normal classes (default: the first half).

    Returns
    -------
    list of ProtocolSplit

    Examples
    --------
    >>> import numpy as np
    >>> from tt_ref.ood._ood import protocol_splits
    >>> labels = np.repeat(np.arange(4), 10)
    >>> task, = protocol_splits(labels, "split", test_fraction=0.2, seed=0)
    >>> task.name, task.bank_idx.size, int(task.y_test.sum()), int((task.y_test == 0).sum())
    ('normal 0-1', 16, 4, 4)
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    if not anomaly_ratio > 0.0:
        raise ValueError(f"anomaly_ratio must be positive, got {anomaly_ratio!r}")
    labels = np.asarray(to_numpy(labels)).reshape(-1)
    classes = np.unique(labels)
    if classes.size < 2:
        raise ValueError(f"labels must hold at least two classes, got {classes.size}")
    rng = default_rng(seed)
    if protocol == "split":
        if normal_classes is None:
            normal = classes[: classes.size // 2]
        else:
            normal = np.asarray(list(normal_classes))
            unknown = np.setdiff1d(normal, classes)
            if unknown.size:
                raise ValueError(f"normal_classes holds classes not in labels: {unknown.tolist()}")
        groups = [(_class_name(normal), normal)]
    else:
        groups = [(f"normal {c}", np.asarray([c])) for c in classes.tolist()]
    tasks = []
    for name, normal in groups:
        is_normal = np.isin(labels, normal)
        normal_rows = np.nonzero(is_normal)[0]
        anomaly_rows = np.nonzero(~is_normal)[0]
        if normal_rows.size < 2 or anomaly_rows.size < 1:
            raise ValueError(f"task {name!r} needs at least 2 normal and 1 anomalous row")
        normal_rows = rng.permutation(normal_rows)
        n_test = min(max(1, int(round(test_fraction * normal_rows.size))), normal_rows.size - 1)
        n_anom = min(anomaly_rows.size, max(1, int(round(anomaly_ratio * n_test))))
        anomalies = rng.choice(anomaly_rows, size=n_anom, replace=False)
        test_idx = np.r_[np.sort(normal_rows[:n_test]), np.sort(anomalies)].astype(np.int64)
        y_test = np.r_[np.zeros(n_test, dtype=np.int64), np.ones(n_anom, dtype=np.int64)]
        tasks.append(ProtocolSplit(name, np.sort(normal_rows[n_test:]).astype(np.int64), test_idx, y_test))
    return tasks


def _class_name(normal) -> str:
    values = sorted(normal.tolist())
    if all(isinstance(v, int) for v in values) and values == list(range(values[0], values[-1] + 1)) and len(values) > 1:
        return f"normal {values[0]}-{values[-1]}"
    return "normal " + ",".join(str(v) for v in values)


# --------------------------------------------------------------------------- evaluation
@dataclass
class OODResult:
    """Everything :func:`evaluate_banks` measured.

    Attributes
    ----------
    rows : list of dict
        One per (seed, task, compression, bank kind): ``protocol, task, seed,
        compression, kind, n_params, auroc, aupr, p_at_r90, fpr_at_95, seconds``
        (``note`` instead of the measures where the budget admits no bank).
    curves : dict
        ``(compression, kind) -> (fpr, tpr)``: ROC curves of the first seed and task.
    notes : list of str
        Skipped configurations and why.
    """

    rows: list = field(default_factory=list)
    curves: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)


def evaluate_banks(
    X,
    labels,
    *,
    protocol: str = "split",
    compressions: Sequence[float] = (10, 100, 1000),
    kinds: Sequence[str] = BANK_KINDS,
    seeds: Sequence[int] = (0, 1, 2),
    k: int = 1,
    test_fraction: float = 0.3,
    anomaly_ratio: float = 1.0,
    bank_options: dict | None = None,
    progress: bool = True,
    callback: Callable[[dict], Any] | None = None,
) -> OODResult:
    """Run an OOD protocol: every bank kind at every compression, for every seed.

    The full bank's parameter count is ``N_bank * D``; at compression ``c`` each
    compressed bank gets a budget of ``floor(N_bank * D / c)`` parameters. A
    configuration the budget cannot hold is skipped with a note. Seeds change the
    split and the bank construction.

    Parameters
    ----------
    X : array, shape (N, D)
        The data (any backend); scoring runs on its backend.
    labels : array, shape (N,)
    protocol, test_fraction, anomaly_ratio
        See :func:`protocol_splits`.
    compressions : sequence of float
        Compression factors of the bank's parameters.
    kinds : sequence of str
        Bank kinds from ``BANK_KINDS``.
    seeds : sequence of int
    k : int
        Detector's neighbour rank.
    bank_options : dict, optional
        Extra options per kind, e.g. ``{"tt": {"steps": 300}}``.
    progress : bool
        Show a progress bar (tqdm, if installed).
    callback : callable, optional
        Called with each finished row.

    Returns
    -------
    OODResult
    """
    xp = array_namespace(X, names=("X",))
    X = as_float_array(X, name="X", xp=xp, ndim=2)
    labels_np = np.asarray(to_numpy(labels)).reshape(-1)
    if labels_np.shape[0] != X.shape[0]:
        raise ValueError(f"labels has {labels_np.shape[0]} entries but X has {X.shape[0]} rows")
    unknown = [kind for kind in kinds if kind not in BANK_KINDS]
    if unknown:
        raise ValueError(f"kinds must be taken from {BANK_KINDS}, got {unknown}")
    for c in compressions:
        if not (isinstance(c, (int, float)) and c >= 1):
            raise ValueError(f"compressions must be numbers >= 1, got {c!r}")
    bank_options = dict(bank_options or {})
    dim = X.shape[1]
    result = OODResult()
    jobs = []
    for seed in seeds:
        for task_no, task in enumerate(
            protocol_splits(labels_np, protocol, test_fraction=test_fraction, anomaly_ratio=anomaly_ratio, seed=seed)
        ):
            jobs.append((seed, task_no, task))
    bar = _progress(len(jobs) * (len(compressions) * sum(kind != "full" for kind in kinds) + ("full" in kinds)), progress)
    skipped = set()
    try:
        for seed, task_no, task in jobs:
            bank_X = xp.take(X, xp.asarray(task.bank_idx), axis=0)
            test_X = xp.take(X, xp.asarray(task.test_idx), axis=0)
            n_bank = int(task.bank_idx.size)
            settings = [(1, "full")] if "full" in kinds else []
            settings += [(c, kind) for c in compressions for kind in kinds if kind != "full"]
            for compression, kind in settings:
                row = {
                    "protocol": protocol,
                    "task": task.name,
                    "seed": int(seed),
                    "compression": compression,
                    "kind": kind,
                }
                budget = None if kind == "full" else int(math.floor(n_bank * dim / compression))
                try:
                    n_params = bank_n_params(kind, budget, n_bank, dim)
                except ValueError as exc:
                    note = f"{kind} at {compression}x ({task.name}): skipped, {exc}"
                    key = (kind, compression, task.name)
                    if key not in skipped:
                        skipped.add(key)
                        result.notes.append(note)
                    row["note"] = str(exc)
                    result.rows.append(row)
                    bar.update(1)
                    continue
                started = time.perf_counter()
                options = dict(bank_options.get(kind, {}))
                if kind == "tt":
                    options.setdefault("progress", False)
                if kind == "full":
                    bank = bank_X
                else:
                    built = _run_bank_method(bank_X, kind, budget, int(seed), options)
                    bank, n_params = built.points, int(built.n_params)
                scores = KNNDetector(bank, k=k).score(test_X)
                row["seconds"] = time.perf_counter() - started
                row["n_params"] = n_params
                row["bank_size"] = int(bank.shape[0])
                row.update(detection_metrics(task.y_test, scores))
                if seed == seeds[0] and task_no == 0:
                    fpr, tpr, _ = roc_curve(task.y_test, scores)
                    result.curves[(compression, kind)] = (fpr, tpr)
                result.rows.append(row)
                if callback is not None:
                    callback(row)
                bar.update(1)
    finally:
        bar.close()
    return result


class _NoBar:
    def update(self, n=1):
        pass

    def close(self):
        pass


def _progress(total, enabled):
    if not enabled:
        return _NoBar()
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return _NoBar()
    return tqdm(total=total, desc="ood banks", leave=False)


_MEASURES = ("auroc", "aupr", "p_at_r90", "fpr_at_95")


def summarize(rows) -> list[dict]:
    """Mean and spread over seeds, one row per (compression, kind).

    For each seed the measures are first averaged over the protocol's tasks (the
    ten one-class tasks, say); the summary then gives the mean and the standard
    deviation (``ddof=0``) of these per-seed values, with ``n_seeds``.

    Examples
    --------
    >>> from tt_ref.ood._ood import summarize
    >>> rows = [dict(compression=1, kind="full", seed=s, task="t", n_params=10,
    ...              auroc=a, aupr=a, p_at_r90=a, fpr_at_95=1 - a) for s, a in [(0, 0.8), (1, 0.9)]]
    >>> out, = summarize(rows)
    >>> round(out["auroc"], 3), round(out["auroc_std"], 3), out["n_seeds"]
    (0.85, 0.05, 2)
    """
    groups: dict = {}
    for row in rows:
        if "auroc" not in row:
            continue
        groups.setdefault((row["compression"], row["kind"]), {}).setdefault(row["seed"], []).append(row)
    order = {kind: i for i, kind in enumerate(BANK_KINDS)}
    out = []
    for (compression, kind), per_seed in sorted(groups.items(), key=lambda kv: (kv[0][0], order.get(kv[0][1], 99))):
        entry = {"compression": compression, "kind": kind, "n_seeds": len(per_seed)}
        params = [r["n_params"] for rs in per_seed.values() for r in rs]
        entry["n_params"] = int(round(float(np.mean(params))))
        for measure in _MEASURES:
            seed_means = np.array([np.mean([r[measure] for r in rs]) for rs in per_seed.values()])
            entry[measure] = float(seed_means.mean())
            entry[measure + "_std"] = float(seed_means.std())
        out.append(entry)
    return out
