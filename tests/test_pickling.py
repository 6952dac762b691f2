"""Every public object pickles and deep-copies on every backend, giving identical results.

CONTRIBUTING.md "Objects pickle": objects keep their backend's name, never the namespace
module, so they reach other processes (multiprocessing, joblib, Dask workers).
"""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

import tt_ref
from helpers import to_np, to_xp


def _round_trips(obj):
    return [pickle.loads(pickle.dumps(obj)), copy.deepcopy(obj)]


def _same(a, b):
    np.testing.assert_array_equal(to_np(a), to_np(b))


def test_tensor_train_and_tt_matrix(xp):
    tt = tt_ref.random_tt((3, 4, 5), 2, seed=0).to_backend(_name(xp))
    matrix = tt_ref.ttm_svd(to_xp(np.random.default_rng(1).standard_normal((12, 6)), xp), (3, 4), (2, 3), eps=1e-12)
    for copied in _round_trips(tt):
        assert copied.backend == tt.backend
        _same(tt_ref.full(copied), tt_ref.full(tt))
    for copied in _round_trips(matrix):
        assert type(copied) is tt_ref.TTMatrix
        _same(tt_ref.to_dense(copied), tt_ref.to_dense(matrix))


def _name(xp):
    from tt_ref._backend import backend_name

    return backend_name(xp)


def test_point_cloud_fit_result_index_and_detector(xp):
    X = to_xp(np.random.default_rng(2).standard_normal((300, 6)), xp)
    fit = tt_ref.fit_point_cloud(X, (8, 4), (3,), steps=5, batch_size=64, seed=0, progress=False)
    for copied in _round_trips(fit):
        _same(copied.cloud.all_points(), fit.cloud.all_points())
    index = tt_ref.TTIndex(6, (8, 4), (3,), seed=0, fit_options={"steps": 5, "batch_size": 64, "progress": False})
    index.train(X)
    index.add(X)
    expected = index.search(X[:7, :], 3, beam=4)
    for copied in _round_trips(index):
        found = copied.search(X[:7, :], 3, beam=4)
        _same(found[0], expected[0])
        _same(found[1], expected[1])
    detector = tt_ref.KNNDetector(k=2).fit(X[:200, :])
    for copied in _round_trips(detector):
        _same(copied.score_samples(X[200:, :]), detector.score_samples(X[200:, :]))
