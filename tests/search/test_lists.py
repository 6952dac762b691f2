"""Tests of the CSR inverted lists, alone (specs/index.md §Index layout, §Updates)."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
from helpers import to_np, to_xp
from hypothesis import given
from hypothesis import strategies as st

from tt_ref._backend import ArgumentTypeError, ArgumentValueError, namespace_for
from tt_ref.search._lists import MAX_ID, InvertedLists, bucket_stats


def _lists(xp, dtype, n_buckets=5, dim=3):
    return InvertedLists(n_buckets, dim, getattr(xp, dtype), xp=xp)


def _check_layout(lists, members):
    """The CSR arrays hold exactly ``members`` (id -> (bucket, vector)), each bucket in insertion order."""
    offsets, ids, vectors = to_np(lists.offsets), to_np(lists.ids), to_np(lists.vectors)
    assert offsets[0] == 0 and offsets[-1] == len(ids) == lists.ntotal
    assert np.all(np.diff(offsets) >= 0)
    for b in range(lists.n_buckets):
        stored = ids[offsets[b]:offsets[b + 1]].tolist()
        assert stored == [i for i, (bucket, _) in members.items() if bucket == b]
    for row, i in enumerate(ids.tolist()):
        assert np.array_equal(vectors[row], members[i][1])
    assert np.allclose(to_np(lists.sq_norms), np.sum(vectors.astype(np.float64) ** 2, axis=1), rtol=1e-5)
    assert np.array_equal(to_np(lists.bucket_sizes()), np.diff(offsets))
    assert np.array_equal(to_np(lists.bucket_of_rows()), np.repeat(np.arange(lists.n_buckets), np.diff(offsets)))


@given(st.lists(st.tuples(st.integers(0, 4), st.integers(1, 6)), min_size=1, max_size=6), st.data())
def test_inserts_and_removes_keep_the_layout(xp, dtype, batches, data):
    """§Index layout: any sequence of inserts (bucket, count) and removes keeps a valid CSR layout."""
    lists = _lists(xp, dtype)
    members, rng = {}, np.random.default_rng(len(batches))
    for bucket, count in batches:
        ids = lists.new_ids(count)
        vectors = rng.standard_normal((count, 3)).astype(dtype)
        buckets = np.full(count, bucket) if data.draw(st.booleans()) else rng.integers(0, 5, count)
        lists.insert(to_xp(vectors, xp), ids, to_xp(buckets, xp))
        for i, b, v in zip(to_np(ids).tolist(), buckets.tolist(), vectors):
            members[i] = (b, v)
        _check_layout(lists, members)
        gone = data.draw(st.lists(st.sampled_from(sorted(members)), max_size=3, unique=True)) if members else []
        assert lists.remove(lists.check_ids(gone)) == len(gone)
        for i in gone:
            del members[i]
        _check_layout(lists, members)
    assert lists.next_id == sum(count for _, count in batches)  # running ids never come back


def test_ids_checked(xp, dtype):
    """§Updates: new ids non-negative, unique, not stored, int64; any integral type; lists accepted."""
    lists = _lists(xp, dtype)
    lists.insert(to_xp(np.ones((2, 3)), xp, dtype), lists.check_ids(to_xp(np.array([5, 9]), xp), 2),
                 to_xp(np.array([0, 1]), xp))
    assert lists.next_id == 10
    for bad, match in (([1, 1], "unique"), ([9, 3], "unique"), ([-2, 3], "non-negative"), ([1], "one id per row")):
        with pytest.raises(ArgumentValueError, match=match):
            lists.check_ids(bad, 2)
    with pytest.raises(ArgumentTypeError, match="integer"):
        lists.check_ids(to_xp(np.array([1.0, 2.0]), xp), 2)
    with pytest.raises(ArgumentTypeError, match="integer"):
        lists.check_ids(["a", "b"], 2)
    with pytest.raises(ArgumentValueError, match="1-D"):
        lists.check_ids(to_xp(np.zeros((2, 1), dtype=np.int64), xp), 2)
    with pytest.raises(ArgumentValueError, match="2\\*\\*63 - 1"):
        lists.check_ids([2**63, 1], 2)
    assert to_np(lists.check_ids(np.array([np.int32(3), np.int32(4)]), 2)).tolist() == [3, 4]
    if xp.__name__.endswith("numpy"):
        with pytest.raises(ArgumentValueError, match="2\\*\\*63 - 1"):
            lists.check_ids(np.array([2**63 + 5, 1], dtype=np.uint64), 2)


def test_running_ids_stop_before_overflow(xp, dtype):
    """§Updates: after the id 2**63 - 1 a running id would overflow int64: a clear error instead."""
    lists = _lists(xp, dtype)
    lists.insert(to_xp(np.ones((1, 3)), xp, dtype), lists.check_ids([MAX_ID], 1), to_xp(np.array([0]), xp))
    assert lists.next_id == 2**63
    with pytest.raises(ArgumentValueError, match="2\\*\\*63 - 1"):
        lists.new_ids(1)
    assert lists.new_ids(0).shape == (0,)


def test_pickle_deepcopy_and_backends(backend, dtype):
    """§Backends: lists pickle (the backend's name, not its module), deep-copy and move unchanged."""
    xp = namespace_for(backend)
    lists = _lists(xp, dtype)
    rng = np.random.default_rng(3)
    lists.insert(to_xp(rng.standard_normal((20, 3)), xp, dtype), lists.new_ids(20), to_xp(rng.integers(0, 5, 20), xp))
    for other in (pickle.loads(pickle.dumps(lists)), copy.deepcopy(lists), lists.to_backend("numpy")):
        for name in ("vectors", "sq_norms", "ids", "offsets"):
            assert np.array_equal(to_np(getattr(other, name)), to_np(getattr(lists, name))), name
        assert other.next_id == lists.next_id and other.n_nonempty() == lists.n_nonempty()
    assert pickle.loads(pickle.dumps(lists)).xp is xp


def test_bucket_stats(xp, dtype):
    """§Stats: sizes, empties, expected bucket size sum size^2 / N, bytes per vector."""
    lists = _lists(xp, dtype, n_buckets=4, dim=2)
    lists.insert(to_xp(np.ones((6, 2)), xp, dtype), lists.new_ids(6), to_xp(np.array([0, 0, 0, 2, 2, 3]), xp))
    item = 8 if dtype == "float64" else 4
    stats = bucket_stats(lists, itemsize=item, n_params=10, table_entries=5)
    assert stats["bucket_sizes"].tolist() == [3, 0, 2, 1] and stats["empty_buckets"] == 1
    assert stats["expected_bucket_size"] == pytest.approx((9 + 4 + 1) / 6)
    overhead = 6 * (8 + item) + 5 * 8 + 15 * item
    assert stats["overhead_bytes_per_vector"] == pytest.approx(overhead / 6)
    assert stats["bytes_per_vector"] - stats["overhead_bytes_per_vector"] == pytest.approx(2 * item)
