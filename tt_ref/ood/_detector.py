"""The kNN anomaly detector, in scikit-learn's outlier-detector shape.

A test point's distance to the ``k``-th nearest point of a memory bank of normal data is
its anomaly measure (PatchCore's rule; ``specs/method.md`` §6). The
detector follows scikit-learn's conventions so ``sklearn.base.clone``, grid searches and
pipelines work: ``__init__`` only stores its arguments, ``fit`` checks them and does the
work, fitted state ends in ``_``, ``score_samples`` is larger for more normal points,
``decision_function`` is negative for outliers and ``predict`` returns ``+1`` / ``-1``.
Contract: ``specs/ood.md`` §Detector.
"""

from __future__ import annotations

import copy

import numpy as np

from .._backend import (
    ArgumentTypeError,
    ArgumentValueError,
    array_namespace,
    as_float_array,
    backend_name,
    check_choice,
    check_int,
    check_optional_int,
    check_real,
    to_numpy,
    topk_smallest,
)
from ._banks import BANK_KINDS, bank_dim, bank_size, check_data, compress_bank, is_point_cloud
from ._distances import index_kth_distances, kth_smallest_distances, row_max_abs
from ._params import get_params, params_repr, set_params

__all__ = ["KNNDetector"]


class KNNDetector:
    """kNN anomaly detector: the distance to the ``k``-th nearest bank point.

    Parameters
    ----------
    k : int
        Which nearest bank point measures a point (1 = the nearest, PatchCore's rule).
    bank : str, array or TTPointCloud
        The memory bank :meth:`fit` keeps. ``"full"``: the training data itself. A
        kind in ``BANK_KINDS`` (``"tt"``, ``"coreset"``, ``"random"``, ``"kmeans"``):
        the training data compressed to ``n_params`` parameters (see
        :func:`build_bank`). An ``(m, D)`` array on the training data's backend: that
        set, as is. A :class:`tt_ref.TTPointCloud`: its points, streamed chunk by
        chunk, so a cloud with many points is never held in memory.
    n_params : int, optional
        Parameter budget of a compressed bank kind (required then).
    bank_options : dict, optional
        Options of the bank construction, e.g. ``{"steps": 300, "progress": False}``
        for the TT fit (see :func:`tt_ref.cloud.run_method`).
    seed : int
        Seed of the bank construction.
    index : object, optional
        An approximate index with ``train(X)``, ``add(X)`` and
        ``search(Q, k) -> (distances, ids)`` (e.g. :class:`tt_ref.TTIndex`) for banks
        too large for exact search. :meth:`fit` trains and fills a deep copy
        (``index_``), so the object given here stays as it is.
    index_returns_squared : bool
        Whether the index's distances are squared L2 (as :class:`tt_ref.TTIndex`
        returns them).
    chunk_size : int, optional
        Queries per distance GEMM (default: about ``2**24`` distances per chunk).
    contamination : float
        Share of the training data taken to be outliers, in ``(0, 0.5]``: sets the
        threshold ``offset_`` of :meth:`decision_function` and :meth:`predict`.

    Attributes
    ----------
    bank_ : array or TTPointCloud
        The memory bank.
    bank_size_ : int
        Number of points in the bank.
    n_params_ : int
        Numbers the bank stores.
    n_features_in_ : int
        Dimension ``D`` of the training data.
    offset_ : float
        Threshold on :meth:`score_samples`: the ``contamination`` quantile of the
        training points' scores, each measured without itself when the bank is the
        training data (``bank="full"``), so a point is not its own neighbour.
    index_ : object or None
        The trained and filled copy of ``index``.

    Examples
    --------
    >>> import numpy as np
    >>> from tt_ref.ood import KNNDetector
    >>> normal = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    >>> detector = KNNDetector(k=1, contamination=0.25).fit(normal)
    >>> detector.kth_distance(np.array([[0.0, 0.0], [3.0, 4.0]])).tolist()
    [0.0, 3.605551275463989]
    >>> detector.predict(np.array([[0.5, 0.5], [3.0, 4.0]])).tolist()
    [1, -1]
    """

    _estimator_type = "outlier_detector"

    def __init__(
        self,
        k=1,
        *,
        bank="full",
        n_params=None,
        bank_options=None,
        seed=0,
        index=None,
        index_returns_squared=True,
        chunk_size=None,
        contamination=0.1,
    ):
        self.k = k
        self.bank = bank
        self.n_params = n_params
        self.bank_options = bank_options
        self.seed = seed
        self.index = index
        self.index_returns_squared = index_returns_squared
        self.chunk_size = chunk_size
        self.contamination = contamination

    def get_params(self, deep=True):
        """The parameters as a dict (with ``index__name`` entries of a nested estimator if ``deep``)."""
        return get_params(self, deep)

    def set_params(self, **params):
        """Set parameters (``index__name`` for a nested one); checked at the next :meth:`fit`. Returns ``self``."""
        return set_params(self, params)

    def __repr__(self) -> str:
        return params_repr(self)

    # ------------------------------------------------------------------ fitting
    def fit(self, X, y=None):
        """Build the memory bank from normal data ``X`` ``(N, D)`` and set the threshold.

        ``y`` is ignored (scikit-learn's signature). Returns ``self``. The detector
        is for new data (novelty detection, like scikit-learn's
        ``LocalOutlierFactor(novelty=True)``): a training row scores 0 against a full
        bank, since it is its own nearest neighbour, so ``offset_`` is set from the
        training rows measured without themselves.
        """
        options = self._checked_params()
        X, x_max, xp = _check_input(X, name="X")
        check_data(X, name="X", xp=xp, check_values=False)
        backend = backend_name(xp)
        bank, n_params, bank_max = self._make_bank(X, x_max, xp, backend, options)
        self_bank = isinstance(self.bank, str) and self.bank == "full"
        k_train = options["k"] + int(self_bank)
        _check_k(options["k"], k_train, X.shape[0], bank_size(bank), self_bank)
        index = None
        if options["index"] is not None:
            index = copy.deepcopy(options["index"])
            points = bank.all_points() if is_point_cloud(bank) else bank
            if bank_max is None:  # a point cloud: the index path needs its magnitude
                bank_max = float(np.max(row_max_abs(points, xp=xp, name="bank")))
            if callable(getattr(index, "train", None)):
                index.train(points)
            index.add(points)
        self.__dict__.pop("offset_", None)  # unfitted until the new threshold is set
        self.bank_, self.bank_size_, self.n_params_, self.index_ = bank, bank_size(bank), n_params, index
        self.n_features_in_ = int(X.shape[1])
        self._backend, self._bank_max = backend, bank_max
        # What scoring uses is fixed at fit (set_params afterwards takes effect at the next fit).
        self._k, self._chunk_size = options["k"], options["chunk_size"]
        self._index_returns_squared = bool(self.index_returns_squared)
        train_distances = self._kth(X, x_max, xp, k_train)
        scores = -np.asarray(to_numpy(train_distances), dtype=np.float64)
        self.offset_ = float(np.percentile(scores, 100.0 * options["contamination"]))
        return self

    def _checked_params(self) -> dict:
        """The parameters, checked (scikit-learn checks at fit, not in ``__init__``)."""
        k = check_int(self.k, name="k", minimum=1)
        bank = self.bank
        if isinstance(bank, str):
            check_choice(bank, BANK_KINDS, name="bank")
        elif not (is_point_cloud(bank) or hasattr(bank, "shape")):
            raise ArgumentTypeError(
                f"bank must be one of {BANK_KINDS}, an (m, D) array or a TTPointCloud, got {type(bank).__name__}"
            )
        n_params = check_optional_int(self.n_params, name="n_params", minimum=1)
        if isinstance(bank, str) and bank != "full" and n_params is None:
            raise ArgumentValueError(f"bank={bank!r} needs n_params (the parameter budget of the compressed bank)")
        if self.bank_options is not None and not isinstance(self.bank_options, dict):
            raise ArgumentTypeError(f"bank_options must be a dict or None, got {type(self.bank_options).__name__}")
        if self.index is not None and not callable(getattr(self.index, "search", None)):
            raise ArgumentTypeError(f"index must have a search(Q, k) method, got {type(self.index).__name__}")
        if not isinstance(self.index_returns_squared, (bool, np.bool_)):
            raise ArgumentTypeError(
                f"index_returns_squared must be True or False, got {type(self.index_returns_squared).__name__}"
            )
        return {
            "k": k, "n_params": n_params, "index": self.index,
            "seed": check_int(self.seed, name="seed", minimum=0),
            "chunk_size": check_optional_int(self.chunk_size, name="chunk_size", minimum=1),
            "contamination": check_real(self.contamination, name="contamination", minimum=0.0, maximum=0.5,
                                        exclusive_minimum=True),
            "bank_options": dict(self.bank_options or {}),
        }

    def _make_bank(self, X, x_max, xp, backend, options):
        """``(bank, parameters it stores, its largest magnitude or None for a streamed cloud)``."""
        bank = self.bank
        if isinstance(bank, str) and bank == "full":
            return X, int(X.shape[0] * X.shape[1]), float(np.max(x_max))
        if isinstance(bank, str):
            built = compress_bank(X, bank, options["n_params"], options["seed"], options["bank_options"])
            points = built.points
            return points, int(built.n_params), float(np.max(row_max_abs(points, xp=xp, name="bank")))
        if is_point_cloud(bank):
            cloud_backend = getattr(bank, "backend", backend)
            if cloud_backend != backend:
                raise ArgumentTypeError(
                    f"bank is a point cloud on {cloud_backend} but X is on {backend}: "
                    f"move one with tt_ref.to_backend(obj, {backend!r})"
                )
            _check_dim(bank_dim(bank), X.shape[1], "bank")
            return bank, int(getattr(bank, "n_params", 0)), None
        bank, bank_max, bank_xp = _check_input(bank, name="bank")
        if backend_name(bank_xp) != backend:
            raise ArgumentTypeError(
                f"bank is on {backend_name(bank_xp)} but X is on {backend}: "
                f"move one with tt_ref.to_backend(obj, {backend!r})"
            )
        if bank.shape[0] == 0:
            raise ArgumentValueError(f"bank is empty (shape {tuple(bank.shape)}): it needs at least one point")
        _check_dim(bank.shape[1], X.shape[1], "bank")
        return bank, int(bank.shape[0] * bank.shape[1]), float(np.max(bank_max))

    # ------------------------------------------------------------------ scoring
    def kth_distance(self, X):
        """L2 distance from each row of ``X`` ``(n, D)`` to its ``k``-th nearest bank point.

        Returns an ``(n,)`` array on ``X``'s backend with ``X``'s dtype; larger means
        more anomalous. Exact, except through an ``index`` (never below the exact
        distance then, as an index can only miss neighbours).
        """
        self._check_fitted()
        X, x_max, xp = _check_input(X, name="X")
        if backend_name(xp) != self._backend:
            raise ArgumentTypeError(
                f"X is on {backend_name(xp)} but the detector was fitted on {self._backend} data: "
                f"move X with tt_ref.to_backend(X, {self._backend!r})"
            )
        if X.shape[1] != self.n_features_in_:
            raise ArgumentValueError(
                f"X has {X.shape[1]} features, but KNNDetector is expecting {self.n_features_in_} features as input"
            )
        if X.shape[0] == 0:
            return xp.zeros((0,), dtype=X.dtype)
        return self._kth(X, x_max, xp, self._k)

    def score_samples(self, X):
        """Normality of each row of ``X``: ``-kth_distance(X)`` (larger = more normal)."""
        return -self.kth_distance(X)

    def decision_function(self, X):
        """``score_samples(X) - offset_``: negative for outliers, positive for inliers."""
        return self.score_samples(X) - self.offset_

    def predict(self, X):
        """``-1`` for an outlier (``decision_function < 0``), ``+1`` for an inlier, as int64 on ``X``'s backend."""
        decision = self.decision_function(X)
        return _labels(decision, array_namespace(decision))

    def _kth(self, X, x_max, xp, k: int):
        """k-th distances of validated ``X`` through the index, the streamed cloud or the array bank."""
        chunk_size = self._chunk_size
        if self.index_ is not None:
            return index_kth_distances(self.index_, X, k, xp=xp, squared=self._index_returns_squared,
                                       x_max=x_max, bank_max=self._bank_max)
        if is_point_cloud(self.bank_):
            return _streamed_kth(X, self.bank_, k, xp=xp, chunk_size=chunk_size, x_max=x_max)
        kth = kth_smallest_distances(X, self.bank_, k, xp=xp, chunk_size=chunk_size, x_max=x_max,
                                     bank_max=self._bank_max)
        return kth[:, k - 1]

    def _check_fitted(self) -> None:
        if not self.__sklearn_is_fitted__():
            raise ArgumentValueError(f"this {type(self).__name__} is not fitted yet: call fit(X) first")

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "offset_")

    def __sklearn_tags__(self):
        # Called by scikit-learn only, so importing it here adds no dependency. Array API
        # inputs are always dispatched on (scikit-learn's array_api_dispatch is not needed).
        from sklearn.utils import InputTags, Tags, TargetTags

        return Tags(estimator_type="outlier_detector", target_tags=TargetTags(required=False),
                    array_api_support=True, input_tags=InputTags(two_d_array=True, sparse=False, allow_nan=False))


def _check_input(X, *, name: str):
    """``(X, per-row max |x| on the host, xp)``: a real floating 2-D array on one backend, finite."""
    if type(X).__module__.startswith("scipy.sparse"):
        raise ArgumentTypeError(f"{name} is a sparse {type(X).__name__}: sparse input is not supported, pass a dense array")
    if getattr(X, "ndim", None) == 1:
        raise ArgumentValueError(
            f"{name} must be 2-D (n_samples, n_features), got shape {tuple(X.shape)}: Reshape your data with "
            f"{name}.reshape(-1, 1) if it has one feature or {name}.reshape(1, -1) if it is one sample"
        )
    X = as_float_array(X, name=name, ndim=2, check_values=False)
    xp = array_namespace(X)
    return X, row_max_abs(X, xp=xp, name=name), xp


def _check_k(k: int, k_train: int, n_rows: int, n_bank: int, self_bank: bool) -> None:
    """``k`` (``k + 1`` when each training row is measured without itself) within the bank."""
    if k_train <= n_bank:
        return
    if self_bank:
        raise ArgumentValueError(
            f"X has {n_rows} sample{'s' if n_rows != 1 else ''}, but k={k} needs at least k + 1 = {k_train} "
            "(each training row is measured without itself)"
        )
    raise ArgumentValueError(f"k={k} is larger than the memory bank ({n_bank} point{'s' if n_bank != 1 else ''})")


def _check_dim(got: int, expected: int, name: str) -> None:
    if got != expected:
        raise ArgumentValueError(f"{name} has dimension {got} but X has dimension {expected}")


def _labels(decision, xp):
    """``+1`` where ``decision >= 0``, else ``-1`` (int64)."""
    return xp.astype(decision >= 0, xp.int64) * 2 - 1


def _streamed_kth(X, cloud, k: int, *, xp, chunk_size, x_max):
    """k-th distance to a point cloud's points, block by block: a running ``(n, k)`` list of the best.

    Memory is ``O(n (k + block))`` whatever the number of points; each block is rescaled
    on its own, and the merge compares distances, which share one scale.
    """
    best = None
    for block in cloud.points():
        block_max = float(np.max(row_max_abs(block, xp=xp, name="bank")))
        near = kth_smallest_distances(X, block, min(k, block.shape[0]), xp=xp, chunk_size=chunk_size,
                                      x_max=x_max, bank_max=block_max)
        merged = near if best is None else xp.concat([best, near], axis=1)
        best, _ = topk_smallest(merged, min(k, merged.shape[1]), xp=xp)
    return best[:, k - 1]
