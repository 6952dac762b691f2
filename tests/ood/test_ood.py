"""Tests of tt_ref.ood._ood: detector scores, metrics, protocols (specs/ood.md)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import eps_of, rel_err, to_np, to_xp
from tt_ref import ood
from tt_ref._backend._neighbors import nearest_neighbors
from tt_ref.ood._ood import (
    KNNDetector,
    aupr,
    auroc,
    detection_metrics,
    evaluate_banks,
    fpr_at_tpr,
    precision_at_recall,
    protocol_splits,
    roc_curve,
    summarize,
)


def _brute_kth(queries, bank, k):
    """Reference: k-th smallest squared distance, float64 on the host, no GEMM trick."""
    q = to_np(queries).astype(np.float64)
    b = to_np(bank).astype(np.float64)
    d2 = ((q[:, None, :] - b[None, :, :]) ** 2).sum(-1)
    return np.sort(d2, axis=1)[:, k - 1]


# --------------------------------------------------------------------------- detector
@given(data=st.data())
def test_score_equals_brute_force(xp, dtype, data):
    """specs/ood.md §Score: score = distance to the k-th nearest bank point (exact)."""
    n_bank = data.draw(st.integers(1, 30), label="n_bank")
    n_query = data.draw(st.integers(1, 20), label="n_query")
    dim = data.draw(st.integers(1, 8), label="dim")
    k = data.draw(st.integers(1, n_bank), label="k")
    seed = data.draw(st.integers(0, 2**16), label="seed")
    rng = np.random.default_rng(seed)
    bank = to_xp(rng.standard_normal((n_bank, dim)), xp, dtype)
    queries = to_xp(rng.standard_normal((n_query, dim)), xp, dtype)
    chunk = data.draw(st.sampled_from([None, 1, 7]), label="chunk")
    scores = KNNDetector(k=k, chunk_size=chunk).fit(bank).score(queries)
    assert scores.shape == (n_query,)
    assert scores.dtype == bank.dtype
    ref = _brute_kth(queries, bank, k)
    # Squared distances by GEMM are accurate to eps * (|q|^2 + |b|^2) (specs/ood.md §Tolerances).
    scale = np.sum(to_np(queries).astype(np.float64) ** 2, axis=1) + np.max(np.sum(to_np(bank) ** 2, axis=1))
    err = np.abs(to_np(scores).astype(np.float64) ** 2 - ref)
    assert np.all(err <= 100 * eps_of(dtype) * scale)


def test_score_orders_like_distance(xp, dtype):
    """specs/ood.md §Score: a far point scores higher than a near one; a bank point scores ~0."""
    bank = to_xp(np.array([[0.0, 0.0], [1.0, 0.0]]), xp, dtype)
    queries = to_xp(np.array([[0.0, 0.0], [0.5, 0.0], [10.0, 0.0]]), xp, dtype)
    scores = to_np(KNNDetector(bank).score(queries))
    assert abs(scores[0]) <= 100 * eps_of(dtype)
    assert abs(scores[1] - 0.5) <= 100 * eps_of(dtype)
    assert abs(scores[2] - 9.0) <= 100 * eps_of(dtype) * 100


def test_array_bank_used_as_is(xp, dtype):
    """specs/ood.md §Banks: an array bank is the memory bank; fit only checks the dimension."""
    rng = np.random.default_rng(1)
    bank = to_xp(rng.standard_normal((12, 4)), xp, dtype)
    other = to_xp(rng.standard_normal((50, 4)), xp, dtype)
    queries = to_xp(rng.standard_normal((9, 4)), xp, dtype)
    det = KNNDetector(bank, k=2)
    before = to_np(det.score(queries))
    after = to_np(det.fit(other).score(queries))
    assert np.array_equal(before, after)
    assert det.bank_size == 12
    ref = np.sqrt(_brute_kth(queries, bank, 2))
    assert rel_err(after, ref) <= 100 * eps_of(dtype)


def test_point_cloud_bank_streams(xp, dtype):
    """specs/ood.md §Banks: a TTPointCloud bank scores like its decoded points, chunk by chunk."""
    point_cloud = pytest.importorskip("tt_ref.cloud._point_cloud")
    cloud = point_cloud.TTPointCloud.random(5, (4, 3, 5), (3, 2), seed=3, dtype=dtype, backend="numpy")
    cloud = cloud.to_backend(_backend_of(xp))
    rng = np.random.default_rng(2)
    queries = to_xp(rng.standard_normal((11, 5)), xp, dtype)

    class SmallChunks:
        # Forces several chunks so the running top-k merge is exercised.
        def __init__(self, inner):
            self._inner = inner
            self.cores, self.n_points, self.dim = inner.cores, inner.n_points, inner.dim

        def points(self, chunk=65536):
            return self._inner.points(chunk=7)

    for k in (1, 3):
        got = KNNDetector(SmallChunks(cloud), k=k).score(queries)
        ref = KNNDetector(cloud.all_points(), k=k).score(queries)
        assert rel_err(got, ref) <= 100 * eps_of(dtype)


def _backend_of(xp):
    from tt_ref._backend import backend_name

    return backend_name(xp)


class _ExactIndex:
    """A stand-in index with the TTIndex interface, searching exactly."""

    def __init__(self):
        self.trained = False
        self.base = None

    def train(self, X):
        self.trained = True

    def add(self, X):
        self.base = X

    def search(self, Q, k):
        return nearest_neighbors(Q, self.base, k)


def test_index_path_matches_exact(xp, dtype):
    """specs/ood.md §Score: with an index, the score is the index's k-th distance."""
    rng = np.random.default_rng(4)
    bank = to_xp(rng.standard_normal((40, 6)), xp, dtype)
    queries = to_xp(rng.standard_normal((10, 6)), xp, dtype)
    index = _ExactIndex()
    det = KNNDetector(k=3, index=index).fit(bank)
    assert index.trained
    exact = KNNDetector(k=3).fit(bank).score(queries)
    assert rel_err(det.score(queries), exact) <= 100 * eps_of(dtype)
    # An array bank given up front is indexed once; fit() then only checks the dimension.
    prebuilt = _ExactIndex()
    calls = []
    prebuilt.add = lambda X: calls.append(X.shape[0]) or setattr(prebuilt, "base", X)
    det = KNNDetector(bank, k=3, index=prebuilt).fit(bank)
    assert calls == [40]
    assert rel_err(det.score(queries), exact) <= 100 * eps_of(dtype)


def test_tt_index_path():
    """specs/ood.md §Score: a real TTIndex over the bank gives scores >= the exact ones."""
    index_mod = pytest.importorskip("tt_ref.search._index")
    pytest.importorskip("tt_ref.cloud._fit")
    rng = np.random.default_rng(5)
    bank = rng.standard_normal((400, 8))
    queries = rng.standard_normal((30, 8))
    index = index_mod.TTIndex(8, (4, 4), (2,), steps=20, batch_size=256, progress=False)
    approx = to_np(KNNDetector(index=index).fit(bank).score(queries))
    exact = to_np(KNNDetector().fit(bank).score(queries))
    # An approximate search can only miss the true nearest point, never beat it.
    assert np.all(approx >= exact - 1e-9)
    assert np.mean(np.isclose(approx, exact)) >= 0.5


def test_compressed_bank_kinds():
    """specs/ood.md §Banks: compressed banks come from baselines.compress within the budget."""
    pytest.importorskip("tt_ref.cloud._baselines")
    rng = np.random.default_rng(6)
    X = rng.standard_normal((200, 8))
    kinds = ["random", "coreset"]
    try:
        import sklearn  # noqa: F401  (the k-means bank needs scikit-learn or faiss)

        kinds.append("kmeans")
    except ImportError:
        pass
    for kind in kinds:
        bank = ood.build_bank(X, kind, 80, seed=0)
        assert to_np(bank).shape == (10, 8)
        det = KNNDetector(kind, n_params=80).fit(X)
        assert det.bank_size == 10
    random_bank = to_np(ood.build_bank(X, "random", 80, seed=0))
    # A random subset is made of data rows.
    assert np.all(np.min(((random_bank[:, None, :] - X[None]) ** 2).sum(-1), axis=1) < 1e-20)


def test_detector_errors(xp):
    """specs/ood.md §Errors: bad arguments raise naming the argument."""
    bank = to_xp(np.zeros((3, 2)), xp, "float64")
    with pytest.raises(ValueError, match="k must"):
        KNNDetector(k=0)
    with pytest.raises(ValueError, match="bank must be one of"):
        KNNDetector("nonsense")
    with pytest.raises(ValueError, match="n_params"):
        KNNDetector("tt")
    with pytest.raises(TypeError, match="index"):
        KNNDetector(index=object())
    with pytest.raises(ValueError, match="fit"):
        KNNDetector().score(bank)
    with pytest.raises(ValueError, match="dimension"):
        KNNDetector(bank).score(to_xp(np.zeros((1, 3)), xp, "float64"))
    with pytest.raises(ValueError, match="k=4"):
        KNNDetector(bank, k=4).score(bank)
    with pytest.raises(ValueError, match="X_normal"):
        KNNDetector().fit(to_xp(np.zeros((0, 2)), xp, "float64"))
    with pytest.raises(ValueError, match="X"):
        KNNDetector(bank).score(to_xp(np.array([[np.nan, 0.0]]), xp, "float64"))
    with pytest.raises(ValueError, match="kind"):
        ood.build_bank(bank, "bogus", 10)
    with pytest.raises(ValueError, match="n_params"):
        ood.build_bank(bank, "random", 0)


# --------------------------------------------------------------------------- metrics
@st.composite
def _labelled_scores(draw):
    n = draw(st.integers(2, 60))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    y[0], y[1] = 0, 1  # both classes present
    # Few distinct values in half the cases, so ties are exercised.
    levels = draw(st.sampled_from([3, 10, None]))
    s = rng.integers(0, levels, n).astype(float) if levels else rng.standard_normal(n)
    return y, s


@given(_labelled_scores())
def test_metrics_equal_sklearn(case):
    """specs/ood.md §Metrics: every measure equals scikit-learn's on random inputs (ties included)."""
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
    ours_fpr, ours_tpr, _ = roc_curve(y, s)
    assert np.allclose(ours_fpr, fpr) and np.allclose(ours_tpr, tpr)


def test_metrics_on_backend_scores(xp, dtype):
    """specs/ood.md §Metrics: scores on any backend are evaluated on the host."""
    skm = pytest.importorskip("sklearn.metrics")
    y = np.array([0, 0, 1, 1, 0, 1])
    s = np.array([0.1, 0.3, 0.2, 0.9, 0.05, 0.7])
    got = detection_metrics(to_xp(y, xp), to_xp(s, xp, dtype))
    assert abs(got["auroc"] - skm.roc_auc_score(y, s)) <= 1e-12
    assert set(got) == {"auroc", "aupr", "p_at_r90", "fpr_at_95"}


def test_metrics_extremes():
    """specs/ood.md §Metrics: a perfect detector scores 1/1/1/0, a reversed one 0 AUROC."""
    y = np.array([0, 0, 0, 1, 1])
    s = np.array([0.0, 0.1, 0.2, 0.8, 0.9])
    assert detection_metrics(y, s) == {"auroc": 1.0, "aupr": 1.0, "p_at_r90": 1.0, "fpr_at_95": 0.0}
    assert auroc(y, -s) == 0.0


def test_metric_errors():
    """specs/ood.md §Errors: one class only, length mismatch, bad targets, NaN scores."""
    with pytest.raises(ValueError, match="both"):
        auroc([1, 1], [0.1, 0.2])
    with pytest.raises(ValueError, match="y_true has 2"):
        aupr([0, 1], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="0 \\(normal\\) and 1"):
        auroc([0, 2], [0.1, 0.2])
    with pytest.raises(ValueError, match="recall"):
        precision_at_recall([0, 1], [0.1, 0.2], 0.0)
    with pytest.raises(ValueError, match="tpr"):
        fpr_at_tpr([0, 1], [0.1, 0.2], 1.5)
    with pytest.raises(ValueError, match="scores"):
        auroc([0, 1], [0.1, np.nan])


# --------------------------------------------------------------------------- protocols
@given(seed=st.integers(0, 2**16), protocol=st.sampled_from(ood.PROTOCOLS), n_classes=st.integers(2, 6))
def test_protocol_no_leakage(seed, protocol, n_classes):
    """specs/ood.md §Protocols: no test row is in the bank; the bank is normal rows only."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n_classes, 120)
    labels[:n_classes * 3] = np.repeat(np.arange(n_classes), 3)
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


def test_protocol_seeds_and_errors():
    """specs/ood.md §Protocols: a seed fixes the split; bad arguments are named."""
    labels = np.repeat(np.arange(4), 10)
    a = protocol_splits(labels, "one-class", seed=3)
    b = protocol_splits(labels, "one-class", seed=3)
    c = protocol_splits(labels, "one-class", seed=4)
    assert all(np.array_equal(x.test_idx, y.test_idx) for x, y in zip(a, b))
    assert any(not np.array_equal(x.test_idx, y.test_idx) for x, y in zip(a, c))
    with pytest.raises(ValueError, match="protocol"):
        protocol_splits(labels, "bogus")
    with pytest.raises(ValueError, match="test_fraction"):
        protocol_splits(labels, test_fraction=1.0)
    with pytest.raises(ValueError, match="two classes"):
        protocol_splits(np.zeros(5), "split")
    with pytest.raises(ValueError, match="normal_classes"):
        protocol_splits(labels, "split", normal_classes=[7])


def test_evaluate_banks_small(xp, dtype):
    """specs/ood.md §Protocols: full + random banks on separable data; skips a budget below one point."""
    rng = np.random.default_rng(7)
    centres = np.eye(4) * 6.0
    labels = np.repeat(np.arange(4), 30)
    X = centres[labels] + rng.standard_normal((120, 4)) * 0.3
    pytest.importorskip("tt_ref.cloud._baselines")
    result = evaluate_banks(
        to_xp(X, xp, dtype), labels, protocol="split", compressions=(10, 1000), kinds=("full", "random"),
        seeds=(0, 1), progress=False,
    )
    done = [r for r in result.rows if "auroc" in r]
    assert {(r["kind"], r["compression"]) for r in done} == {("full", 1), ("random", 10)}
    assert any("1000" in note for note in result.notes)
    for row in summarize(result.rows):
        assert row["n_seeds"] == 2
        assert row["auroc"] > 0.95  # well-separated classes
    full = next(r for r in summarize(result.rows) if r["kind"] == "full")
    assert full["n_params"] == 42 * 4  # 60 normal rows, 30 % held out
    assert (10, "random") in result.curves


def test_evaluate_banks_errors():
    """specs/ood.md §Errors: label length, unknown kinds and bad compressions are named."""
    X = np.zeros((10, 2))
    with pytest.raises(ValueError, match="labels"):
        evaluate_banks(X, np.zeros(9), progress=False)
    with pytest.raises(ValueError, match="kinds"):
        evaluate_banks(X, np.repeat([0, 1], 5), kinds=("bogus",), progress=False)
    with pytest.raises(ValueError, match="compressions"):
        evaluate_banks(X, np.repeat([0, 1], 5), compressions=(0.5,), progress=False)
