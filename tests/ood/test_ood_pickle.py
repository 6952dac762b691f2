"""KNNDetector pickles and deep-copies on every backend, with every kind of bank (specs/ood.md §Detector).

A round trip gives bitwise the same scores, threshold and labels, and the copy works on
its own (refitting the copy leaves the original as it was).
"""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

from helpers import to_np, to_xp
from tt_ref._backend import backend_name
from tt_ref._backend._neighbors import nearest_neighbors
from tt_ref.cloud import TTPointCloud
from tt_ref.ood import KNNDetector
from tt_ref.search import TTIndex


class ExactIndex:
    """A module-level (so picklable) stand-in index that searches exactly."""

    def add(self, X):
        self.base = X

    def search(self, Q, k):
        return nearest_neighbors(Q, self.base, k)


def _detectors(xp, dtype):
    rng = np.random.default_rng(0)
    X = to_xp(rng.standard_normal((120, 6)), xp, dtype)
    cloud = TTPointCloud.random(6, (4, 5), (3,), seed=1, dtype=dtype, backend=backend_name(xp))
    yield "full", KNNDetector(3).fit(X), X
    yield "array bank", KNNDetector(2, bank=X[:40, :]).fit(X), X
    yield "random bank", KNNDetector(bank="random", n_params=120, seed=4).fit(X), X
    yield "point-cloud bank", KNNDetector(2, bank=cloud).fit(X), X
    yield "exact index", KNNDetector(2, index=ExactIndex()).fit(X), X


def _same(a, b, queries):
    for method in ("kth_distance", "decision_function", "predict"):
        assert np.array_equal(to_np(getattr(a, method)(queries)), to_np(getattr(b, method)(queries))), method
    assert a.offset_ == b.offset_ and a.get_params(deep=False).keys() == b.get_params(deep=False).keys()


def test_pickle_and_deepcopy_round_trips(xp, dtype):
    """Pickle and deepcopy of fitted detectors (full, array, compressed, point-cloud bank, index): identical results."""
    for name, detector, X in _detectors(xp, dtype):
        queries = X[:15, :] + 0.25
        for twin in (pickle.loads(pickle.dumps(detector)), copy.deepcopy(detector)):
            _same(detector, twin, queries)
        twin = copy.deepcopy(detector)
        before = to_np(detector.kth_distance(queries))
        twin.set_params(k=1).fit(X[60:, :])
        assert np.array_equal(to_np(detector.kth_distance(queries)), before), name


def test_unfitted_detector_pickles():
    """An unfitted detector round-trips to an unfitted detector with the same parameters."""
    detector = KNNDetector(4, bank="coreset", n_params=64, bank_options={"projection_dim": 8}, contamination=0.05)
    twin = pickle.loads(pickle.dumps(detector))
    assert twin.get_params() == detector.get_params() and not hasattr(twin, "offset_")


@pytest.mark.parametrize("backend", ["numpy", "array_api_strict"])
def test_pickle_with_a_tt_index(backend):
    """A detector scoring through a trained TTIndex pickles; the copy gives the same scores."""
    from tt_ref._backend import namespace_for

    xp = namespace_for(backend)
    X = to_xp(np.random.default_rng(2).standard_normal((300, 8)), xp)
    index = TTIndex(8, (4, 4), (2,), fit_options={"steps": 10, "batch_size": 128, "progress": False})
    detector = KNNDetector(2, index=index).fit(X)
    _same(detector, pickle.loads(pickle.dumps(detector)), X[:20, :])
    _same(detector, copy.deepcopy(detector), X[:20, :])
