"""KNNDetector: the k-th distance, the bank paths, the scikit-learn methods and the argument checks.

specs/ood.md §Detector, §Score, §Banks at an equal parameter budget, §Errors.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import array_api_strict
from helpers import eps_of, rel_err, to_np, to_xp
from tt_ref import ArgumentTypeError, ArgumentValueError
from tt_ref._backend import backend_name
from tt_ref._backend._neighbors import nearest_neighbors
from tt_ref.cloud import TTPointCloud
from tt_ref.ood import KNNDetector, build_bank
from tt_ref.search import TTIndex


def _brute_kth(queries, bank, k):
    """Reference: k-th smallest squared distance, float64 on the host, direct differences."""
    q = to_np(queries).astype(np.float64)
    b = to_np(bank).astype(np.float64)
    d2 = ((q[:, None, :] - b[None, :, :]) ** 2).sum(-1)
    return np.sort(d2, axis=1)[:, k - 1]


def _gemm_bound(queries, bank, dtype):
    """specs/ood.md §Score: |score^2 - ref| <= 100 eps (||q||^2 + max_b ||b||^2) per query."""
    q = to_np(queries).astype(np.float64)
    b = to_np(bank).astype(np.float64)
    return 100 * eps_of(dtype) * ((q**2).sum(1) + (b**2).sum(1).max())


# --------------------------------------------------------------------------- the k-th distance
@given(data=st.data())
def test_kth_distance_equals_brute_force(xp, dtype, data):
    """specs/ood.md §Score: kth_distance = L2 distance to the k-th nearest bank point, within the GEMM bound."""
    n_bank = data.draw(st.integers(1, 30), label="n_bank")
    n_query = data.draw(st.integers(1, 20), label="n_query")
    dim = data.draw(st.integers(1, 8), label="dim")
    k = data.draw(st.integers(1, n_bank), label="k")
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16), label="seed"))
    bank = to_xp(rng.standard_normal((n_bank, dim)), xp, dtype)
    queries = to_xp(rng.standard_normal((n_query, dim)), xp, dtype)
    chunk = data.draw(st.sampled_from([None, 1, 7]), label="chunk")
    scores = KNNDetector(k, bank=bank, chunk_size=chunk).fit(bank).kth_distance(queries)
    assert scores.shape == (n_query,)
    assert scores.dtype == bank.dtype
    err = np.abs(to_np(scores).astype(np.float64) ** 2 - _brute_kth(queries, bank, k))
    assert np.all(err <= _gemm_bound(queries, bank, dtype))


def test_kth_distance_orders_like_distance(xp, dtype):
    """specs/ood.md §Score: a bank point scores ~0, a far point more than a near one."""
    bank = to_xp(np.array([[0.0, 0.0], [1.0, 0.0]]), xp, dtype)
    queries = to_xp(np.array([[0.0, 0.0], [0.5, 0.0], [10.0, 0.0]]), xp, dtype)
    scores = to_np(KNNDetector().fit(bank).kth_distance(queries))
    tol = 100 * eps_of(dtype)
    assert abs(scores[0]) <= tol and abs(scores[1] - 0.5) <= tol and abs(scores[2] - 9.0) <= 100 * tol


def test_bitwise_same_as_plain_nearest_neighbors(xp, dtype):
    """specs/ood.md §Range: inside the safe window the score is sqrt of nearest_neighbors' k-th value, bitwise."""
    rng = np.random.default_rng(3)
    bank = to_xp(rng.standard_normal((300, 8)), xp, dtype)
    queries = to_xp(rng.standard_normal((20, 8)), xp, dtype)
    for k in (1, 3):
        expected = xp.sqrt(nearest_neighbors(queries, bank, k)[0][:, k - 1])
        got = KNNDetector(k).fit(bank).kth_distance(queries)
        assert np.array_equal(to_np(got), to_np(expected))


def test_array_bank_used_as_is(xp, dtype):
    """specs/ood.md §Banks: an array bank is the memory bank; the training data sets only the threshold."""
    rng = np.random.default_rng(1)
    bank = to_xp(rng.standard_normal((12, 4)), xp, dtype)
    other = to_xp(rng.standard_normal((50, 4)), xp, dtype)
    queries = to_xp(rng.standard_normal((9, 4)), xp, dtype)
    det = KNNDetector(2, bank=bank).fit(other)
    assert det.bank_ is bank and det.bank_size_ == 12 and det.n_params_ == 48
    ref = np.sqrt(_brute_kth(queries, bank, 2))
    assert rel_err(det.kth_distance(queries), ref) <= 100 * eps_of(dtype)


def test_point_cloud_bank_streams(xp, dtype):
    """specs/ood.md §Banks: a TTPointCloud bank scores like its decoded points, chunk by chunk."""
    cloud = TTPointCloud.random(5, (4, 3, 5), (3, 2), seed=3, dtype=dtype, backend=backend_name(xp))
    rng = np.random.default_rng(2)
    queries = to_xp(rng.standard_normal((11, 5)), xp, dtype)

    class SmallChunks:
        # Forces several blocks so the running top-k merge is exercised.
        def __init__(self, inner):
            self._inner = inner
            self.cores, self.n_points, self.dim = inner.cores, inner.n_points, inner.dim

        def points(self, chunk=65536):
            return self._inner.points(chunk=7)

    for k in (1, 3):
        got = KNNDetector(k, bank=SmallChunks(cloud)).fit(queries).kth_distance(queries)
        ref = KNNDetector(k, bank=cloud.all_points()).fit(queries).kth_distance(queries)
        assert rel_err(got, ref) <= 100 * eps_of(dtype)
    assert KNNDetector(bank=cloud).fit(queries).n_params_ == cloud.n_params


class _ExactIndex:
    """A stand-in index with the TTIndex interface, searching exactly (squared distances)."""

    def __init__(self):
        self.trained = False
        self.base = None

    def train(self, X):
        self.trained = True

    def add(self, X):
        self.base = X if self.base is None else self.base  # a second add would be a bug here

    def search(self, Q, k):
        return nearest_neighbors(Q, self.base, k)


def test_index_path_matches_exact(xp, dtype):
    """specs/ood.md §Score: with an index, the score is the index's k-th distance; fit fills a copy."""
    rng = np.random.default_rng(4)
    bank = to_xp(rng.standard_normal((40, 6)), xp, dtype)
    queries = to_xp(rng.standard_normal((10, 6)), xp, dtype)
    index = _ExactIndex()
    det = KNNDetector(3, index=index).fit(bank)
    assert det.index_ is not index and det.index_.trained and not index.trained
    exact = KNNDetector(3).fit(bank).kth_distance(queries)
    assert rel_err(det.kth_distance(queries), exact) <= 100 * eps_of(dtype)
    # Refitting starts from the given (empty) index again: nothing is appended twice.
    assert rel_err(det.fit(bank).kth_distance(queries), exact) <= 100 * eps_of(dtype)
    # The leave-one-out threshold through the index equals the exact one.
    assert abs(det.offset_ - KNNDetector(3).fit(bank).offset_) <= 100 * eps_of(dtype) * 10


def test_tt_index_path():
    """specs/ood.md §Score: a real TTIndex over the bank gives scores >= the exact ones."""
    rng = np.random.default_rng(5)
    bank = rng.standard_normal((400, 8))
    queries = rng.standard_normal((30, 8))
    index = TTIndex(8, (4, 4), (2,), fit_options={"steps": 20, "batch_size": 256, "progress": False})
    approx = to_np(KNNDetector(index=index).fit(bank).kth_distance(queries))
    exact = to_np(KNNDetector().fit(bank).kth_distance(queries))
    # An approximate search can only miss the true nearest point, never beat it.
    assert np.all(approx >= exact - 1e-9)
    assert np.mean(np.isclose(approx, exact)) >= 0.5
    assert index.ntotal == 0  # the detector trained a copy


def test_compressed_bank_kinds():
    """specs/ood.md §Banks: compressed banks come from run_method within the budget."""
    rng = np.random.default_rng(6)
    X = rng.standard_normal((200, 8))
    for kind in ("random", "coreset", "kmeans"):
        bank = build_bank(X, kind, 80, seed=0)
        assert to_np(bank).shape == (10, 8)
        det = KNNDetector(bank=kind, n_params=np.int64(80)).fit(X)
        assert det.bank_size_ == 10 and det.n_params_ == 80
        assert np.array_equal(to_np(det.bank_), to_np(bank))
    random_bank = to_np(build_bank(X, "random", 80, seed=0))
    # A random subset is made of data rows.
    assert np.all(np.min(((random_bank[:, None, :] - X[None]) ** 2).sum(-1), axis=1) < 1e-20)


# --------------------------------------------------------------------------- scikit-learn's methods
def test_score_samples_decision_predict(xp, dtype):
    """specs/ood.md §Detector: score_samples = -kth_distance, decision = score_samples - offset_, predict = sign."""
    rng = np.random.default_rng(8)
    train = to_xp(rng.standard_normal((200, 3)), xp, dtype)
    test = to_xp(np.concatenate([rng.standard_normal((50, 3)), rng.standard_normal((10, 3)) + 8.0]), xp, dtype)
    det = KNNDetector(2).fit(train)
    kth = to_np(det.kth_distance(test))
    assert np.array_equal(to_np(det.score_samples(test)), -kth)
    decision = to_np(det.decision_function(test))
    assert np.allclose(decision, -kth - det.offset_, rtol=0, atol=10 * eps_of(dtype) * (1 + np.abs(kth).max()))
    labels = to_np(det.predict(test))
    assert labels.dtype == np.int64 and set(np.unique(labels)) <= {-1, 1}
    assert np.array_equal(labels, np.where(decision < 0, -1, 1))
    assert np.all(labels[50:] == -1)  # far-away points are outliers


@given(contamination=st.floats(0.01, 0.5), seed=st.integers(0, 2**16), k=st.integers(1, 4))
def test_contamination_sets_the_share_of_training_outliers(contamination, seed, k):
    """specs/ood.md §Detector: offset_ is the contamination quantile of the leave-one-out training scores."""
    X = np.random.default_rng(seed).standard_normal((120, 3))
    det = KNNDetector(k, contamination=contamination).fit(X)
    # Leave-one-out k-th distance of every training row: the (k+1)-th with itself included.
    loo = np.sqrt(np.sort(((X[:, None] - X[None]) ** 2).sum(-1), axis=1)[:, k])
    assert abs(det.offset_ - np.percentile(-loo, 100 * contamination)) <= 1e-9
    # The quantile lies between the two training scores around position contamination * (n - 1), so
    # (ties aside) the share of training rows below it is within one row of the contamination.
    ordered = np.sort(-loo)
    position = contamination * (ordered.size - 1)
    assert ordered[int(np.floor(position))] - 1e-12 <= det.offset_ <= ordered[int(np.ceil(position))] + 1e-12
    if np.unique(ordered).size == ordered.size:
        assert abs(np.mean(-loo < det.offset_) - contamination) <= 1 / ordered.size + 1e-12


def test_params_clone_and_repr():
    """specs/ood.md §Detector: get_params / set_params / clone in scikit-learn's convention; no work in __init__."""
    base = pytest.importorskip("sklearn.base")
    det = KNNDetector(3, bank="random", n_params=64, seed=2, contamination=0.2)
    assert det.get_params()["k"] == 3 and det.get_params()["bank"] == "random"
    twin = base.clone(det)
    assert twin is not det and twin.get_params() == det.get_params()
    assert repr(det) == "KNNDetector(bank='random', contamination=0.2, k=3, n_params=64, seed=2)"
    assert det.set_params(k=5) is det and det.k == 5
    with pytest.raises(ValueError, match="invalid parameter 'neighbours'"):
        det.set_params(neighbours=2)
    # Nothing is checked or built before fit: a bad value is stored and refused by fit.
    bad = KNNDetector(k=0)
    with pytest.raises(ArgumentValueError, match="k must be an integer >= 1"):
        bad.fit(np.zeros((3, 2)))
    nested = KNNDetector(index=_ExactIndexWithParams())
    assert nested.get_params(deep=True)["index__width"] == 1
    assert nested.set_params(index__width=4).index.width == 4


class _ExactIndexWithParams(_ExactIndex):
    """An index that is itself an estimator: its parameters nest as ``index__name``."""

    def __init__(self, width=1):
        super().__init__()
        self.width = width

    def get_params(self, deep=True):
        return {"width": self.width}

    def set_params(self, **params):
        self.width = params.get("width", self.width)
        return self


# --------------------------------------------------------------------------- argument checks
def test_integer_arguments_accept_numpy_integers():
    """specs/ood.md §Errors: k, n_params, seed, chunk_size take any integral type."""
    X = np.random.default_rng(9).standard_normal((40, 3))
    ref = KNNDetector(3, chunk_size=2).fit(X).kth_distance(X[:5])
    got = KNNDetector(np.int64(3), chunk_size=np.int32(2), seed=np.uint8(0)).fit(X).kth_distance(X[:5])
    assert np.array_equal(got, ref)


@pytest.mark.parametrize(
    "params, X, error, message",
    [
        ({"k": 0}, None, ArgumentValueError, "k must be an integer >= 1"),
        ({"k": 2.5}, None, ArgumentTypeError, "k must be an integer"),
        ({"k": True}, None, ArgumentTypeError, "k must be an integer"),
        ({"bank": "nonsense"}, None, ArgumentValueError, "bank must be one of"),
        ({"bank": 3}, None, ArgumentTypeError, "bank must be one of"),
        ({"bank": "tt"}, None, ArgumentValueError, "needs n_params"),
        ({"bank": "random", "n_params": 0}, None, ArgumentValueError, "n_params must be an integer >= 1"),
        ({"index": object()}, None, ArgumentTypeError, "index must have a search"),
        ({"chunk_size": -1}, None, ArgumentValueError, "chunk_size must be an integer >= 1"),
        ({"contamination": 0.0}, None, ArgumentValueError, "contamination must be a real number in"),
        ({"contamination": "0.1"}, None, ArgumentTypeError, "contamination must be a real number"),
        ({"bank_options": [1]}, None, ArgumentTypeError, "bank_options must be a dict"),
        ({"index_returns_squared": "yes"}, None, ArgumentTypeError, "index_returns_squared"),
        ({}, np.zeros((0, 2)), ArgumentValueError, "X is empty"),
        ({}, np.zeros((5, 0)), ArgumentValueError, "0 feature"),
        ({}, np.zeros(4), ArgumentValueError, "Reshape your data"),
        ({}, [[0.0, 1.0], [1.0, 0.0]], ArgumentTypeError, "X must be an array"),
        ({}, 3.0, ArgumentTypeError, "X must be an array"),
        ({}, np.array([[np.nan, 0.0], [0.0, 0.0]]), ArgumentValueError, "X contains NaN or inf"),
        ({}, np.array([["a", "b"], ["c", "d"]]), ArgumentTypeError, "real floating dtype"),
        ({}, np.zeros((3, 2), dtype=np.float16), ArgumentTypeError, "float16"),
        ({}, np.zeros((1, 2)), ArgumentValueError, "X has 1 sample, but k=1 needs at least k \\+ 1 = 2"),
        ({"k": 4, "bank": np.zeros((3, 2))}, None, ArgumentValueError, "k=4 is larger than the memory bank"),
        ({"bank": np.zeros((3, 5))}, None, ArgumentValueError, "bank has dimension 5 but X has dimension 2"),
        ({"bank": array_api_strict.zeros((3, 2))}, None, ArgumentTypeError, "bank is on array_api_strict"),
    ],
)
def test_fit_refuses_bad_arguments(params, X, error, message):
    """specs/ood.md §Errors: fit checks every parameter and X, naming the argument."""
    X = np.random.default_rng(0).standard_normal((6, 2)) if X is None else X
    with pytest.raises(error, match=message):
        KNNDetector(**params).fit(X)


def test_scoring_refuses_bad_inputs(xp):
    """specs/ood.md §Errors: scoring before fit, wrong dimension, other backend, scalars -> clear errors."""
    X = to_xp(np.random.default_rng(1).standard_normal((10, 3)), xp, "float64")
    with pytest.raises(ArgumentValueError, match="not fitted yet: call fit"):
        KNNDetector().kth_distance(X)
    det = KNNDetector().fit(X)
    with pytest.raises(ArgumentValueError, match="X has 2 features, but KNNDetector is expecting 3"):
        det.predict(X[:, :2])
    other = array_api_strict if backend_name(xp) == "numpy" else np
    with pytest.raises(ArgumentTypeError, match="X is on .* but the detector was fitted on"):
        det.kth_distance(other.asarray(np.zeros((2, 3))))
    for scalar in (1.5, 2, None, "x"):
        with pytest.raises(ArgumentTypeError, match="X must be an array"):
            det.score_samples(scalar)
    with pytest.raises(ArgumentValueError, match="X contains NaN or inf"):
        det.decision_function(to_xp(np.array([[0.0, np.inf, 0.0]]), xp, "float64"))
    assert det.kth_distance(X[:0, :]).shape == (0,)
