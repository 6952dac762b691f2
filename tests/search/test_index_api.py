"""The TTIndex facade as an object: pickling, backends, arguments, memory limit, "auto"
configuration (specs/index.md §Backends, §Errors, §Memory limit, §Configuration)."""

from __future__ import annotations

import copy
import math
import pickle

import numpy as np
import pytest
from helpers import to_np, to_xp

import tt_ref
from tt_ref._backend import ArgumentTypeError, ArgumentValueError, MemoryLimitError, namespace_for
from tt_ref.cloud._point_cloud import TTPointCloud
from tt_ref.search import TTIndex, default_config
from tt_ref.search._config import index_bytes, resolve_config

_FIT = {"steps": 4, "batch_size": 64, "progress": False}


def _filled(xp, dtype, n=200, seed=0):
    rng = np.random.default_rng(seed)
    cloud = TTPointCloud.random(5, (4, 3), (2,), seed=seed, dtype=dtype)
    index = TTIndex.from_point_cloud(TTPointCloud([to_xp(to_np(c), xp) for c in cloud.cores]), fit_options=_FIT)
    X = rng.standard_normal((n, 5))
    index.add(to_xp(X, xp, dtype))
    return index, to_xp(X[:9] + 0.05, xp, dtype)


def test_pickle_and_deepcopy_give_identical_results(backend, dtype):
    """§Backends: TTIndex pickles and deep-copies on every backend (the backend's name is kept, not its module)."""
    xp = namespace_for(backend)
    index, Q = _filled(xp, dtype)
    index.search(Q, 4, beam=2, n_candidates=40)  # caches (masked tables, bucket count) travel too
    ref = index.search(Q, 4, beam=2, n_candidates=40)
    for other in (pickle.loads(pickle.dumps(index)), copy.deepcopy(index)):
        got = other.search(Q, 4, beam=2, n_candidates=40)
        assert np.array_equal(to_np(got[0]), to_np(ref[0])) and np.array_equal(to_np(got[1]), to_np(ref[1]))
        assert other.backend == backend and other.fit_options == _FIT
        other.add(Q)  # the copy is independent
        assert other.ntotal == index.ntotal + 9
    untrained = pickle.loads(pickle.dumps(TTIndex(5, "auto", fit_options=_FIT)))
    assert untrained.mode_sizes == "auto" and not untrained.is_trained


def test_train_pickles_and_retrains_across_backends(dtype):
    """§Training: an empty index trained on NumPy retrains on array_api_strict data; a trained one pickles."""
    X = np.random.default_rng(1).standard_normal((300, 3))
    index = TTIndex(3, (4, 4), (2,), fit_options=_FIT).train(X.astype(dtype))
    assert index.backend == "numpy" and index.ntotal == 0
    strict = namespace_for("array_api_strict")
    index.train(to_xp(X, strict, dtype))
    assert index.backend == "array_api_strict"
    index.add(to_xp(X, strict, dtype))
    copy_ = pickle.loads(pickle.dumps(index))
    assert np.array_equal(to_np(copy_.search(to_xp(X[:5], strict, dtype), 1)[1])[:, 0], np.arange(5))
    with pytest.raises(ArgumentTypeError, match="to_backend"):
        index.train(X.astype(dtype))  # vectors stored on another backend


def test_ids_beyond_int64_refused(xp, dtype):
    """§Updates: after the id 2**63 - 1, a plain add is a clear error (no overflow)."""
    index, Q = _filled(xp, dtype, n=3)
    index.add(Q[:1, :], ids=[2**63 - 1])
    with pytest.raises(ArgumentValueError, match="2\\*\\*63 - 1"):
        index.add(Q[1:2, :])
    assert index.ntotal == 4
    index.add(Q[1:2, :], ids=to_xp(np.array([7]), xp))
    assert index.ntotal == 5


def test_integer_arguments(xp, dtype):
    """§Errors: every integer argument accepts NumPy integers; wrong values raise, naming the argument."""
    index, Q = _filled(xp, dtype)
    d1, i1 = index.search(Q, np.int64(3), beam=np.int32(2), n_candidates=np.int64(30), chunk_size=np.int16(4))
    d2, i2 = index.search(Q, 3, beam=2, n_candidates=30, chunk_size=4)
    assert np.array_equal(to_np(i1), to_np(i2))
    index.search(Q, 3, n_probe=np.uint8(2))
    TTIndex(np.int64(5), (np.int64(4), np.int32(3)), [np.int8(2)], assign_beam=np.int64(3), seed=np.int64(1),
            train_size=np.int64(10))
    for kwargs, name in (({"chunk_size": -1}, "chunk_size"), ({"chunk_size": 0}, "chunk_size"), ({"beam": 0}, "beam"),
                         ({"n_probe": -3}, "n_probe"), ({"n_candidates": 0}, "n_candidates")):
        with pytest.raises(ArgumentValueError, match=name):
            index.search(Q, 3, **kwargs)
    for kwargs, name in (({"chunk_size": 2.0}, "chunk_size"), ({"beam": "4"}, "beam"), ({"n_probe": True}, "n_probe")):
        with pytest.raises(ArgumentTypeError, match=name):
            index.search(Q, 3, **kwargs)
    with pytest.raises(ArgumentValueError, match="k must"):
        index.search(Q, np.int64(0))
    with pytest.raises(ArgumentValueError, match="scan"):
        index.search(Q, 3, scan="fast")
    with pytest.raises(ArgumentValueError, match="level"):
        index.centre_sq_distances(Q, 3)
    for bad, error in (({"dim": 0}, ArgumentValueError), ({"seed": -1}, ArgumentValueError),
                       ({"assign_beam": 1.5}, ArgumentTypeError), ({"train_size": 0}, ArgumentValueError),
                       ({"fit_options": [("steps", 3)]}, ArgumentTypeError),
                       ({"fit_options": {"seed": 3}}, ArgumentValueError)):
        args = {"dim": 5, **bad}
        with pytest.raises(error, match=next(iter(bad))):
            TTIndex(args.pop("dim"), (4, 3), (2,), **args)
    with pytest.raises(TypeError, match="steps"):
        TTIndex(5, (4, 3), (2,), steps=3)  # fit options go in fit_options={...}


def test_memory_refused_before_allocating(dtype):
    """§Memory limit: a configuration whose tables cannot fit is refused with the estimate, nothing allocated."""
    X = np.random.default_rng(0).standard_normal((80, 8)).astype(dtype)
    index = TTIndex(8, (10**6, 10**6), (1000,), fit_options=_FIT)
    with pytest.raises(MemoryLimitError, match="TTIndex.train: mode sizes \\(1000000, 1000000\\)"):
        index.train(X)
    assert not index.is_trained and index.mode_sizes == (10**6, 10**6)
    small = TTIndex(8, (4, 4), (2,), fit_options=_FIT)
    needed = index_bytes(8, (4, 4), (2,), np.dtype(dtype).itemsize, training=True)
    with tt_ref.memory_limit(needed // 2):
        with pytest.raises(MemoryLimitError):
            small.train(X)
    with tt_ref.memory_limit(needed * 4):
        small.train(X)
        with pytest.raises(MemoryLimitError, match="TTIndex.add"):
            small.add(np.ones((10**5, 8), dtype=dtype))
    assert small.ntotal == 0


def test_index_bytes_grows_with_the_configuration():
    """§Memory limit: the estimate counts offsets, centre tables and stored vectors."""
    base = index_bytes(8, (16, 16), (4,), 8)
    assert base >= 8 * (16 * 16 + 1) + 8 * (16 + 256)
    assert index_bytes(8, (16, 16), (4,), 8, n_vectors=100) - base >= 100 * 8 * 8
    assert index_bytes(8, (10**6, 10**6), (1000,), 4) > 8 * 10**12


def test_default_config_and_auto():
    """§Configuration: default_config's rule; "auto" resolves it from the training set at train."""
    assert default_config(100_000) == ((64, 64), (32,))
    assert default_config(np.int64(1_797)) == ((4, 21), (21,))
    assert default_config(10) == ((4, 2), (2,))
    for n in (1, 100, 4_095, 4_096, 10**6, 10**8):
        (n_1, n_2), (rank,) = default_config(n)
        assert n_1 >= 4 and n_1 & (n_1 - 1) == 0 and 2 <= n_2 <= 64 and rank == min(32, n_2)
        assert n_1 * n_2 * 24 <= max(2 * n, 4 * n_2 * 24)  # about 24 vectors per leaf (at least 4 x n_2 leaves)
    with pytest.raises(ArgumentValueError, match="n must"):
        default_config(0)
    assert resolve_config((8, 4, 2), "auto", 10) == ((8, 4, 2), (8, 2))
    X = np.random.default_rng(2).standard_normal((500, 3))
    index = TTIndex(3, "auto", fit_options=_FIT).train(X)
    assert (index.mode_sizes, index.ranks) == default_config(500) and index.n_buckets == math.prod(index.mode_sizes)
    explicit_rank = TTIndex(3, "auto", (3,), fit_options=_FIT).train(X)
    assert explicit_rank.ranks == (3,)
    with pytest.raises(ArgumentValueError, match="ranks"):
        TTIndex(3, "auto", (3, 3), fit_options=_FIT).train(X)
