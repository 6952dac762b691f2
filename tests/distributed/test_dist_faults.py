"""Faults on a real cluster: a worker process killed by its pid during add and search
(specs/distributed.md §Faults). One LocalCluster of worker processes for the module."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

import numpy as np
import pytest

pytest.importorskip("distributed", reason="tt_ref.distributed needs the dask extra")
import cloudpickle  # noqa: E402  (installed with distributed)
import dask.array as da  # noqa: E402

from tt_ref.cloud._point_cloud import TTPointCloud  # noqa: E402
from tt_ref.distributed import ShardedIndex, ShardedIndexError, connect  # noqa: E402
from tt_ref.search import TTIndex  # noqa: E402

# The slow input below runs in the worker processes: send this module's functions by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])

_N, _DIM = 3000, 8


def _slow(block):
    time.sleep(0.25)
    return block


def _data():
    rng = np.random.default_rng(7)
    return rng.standard_normal((_N, _DIM)), rng.standard_normal((64, _DIM))


@pytest.fixture(scope="module")
def cluster_client():
    with connect("local:2", processes=True) as client:
        yield client


class _Killer(threading.Thread):
    """Kills (SIGKILL, by pid) one worker process ``after`` seconds from its start; ``killed_at`` says when."""

    def __init__(self, client, after: float):
        super().__init__(daemon=True)
        self.victim = sorted(client.run(os.getpid).items())[0][1]
        self.after, self.killed_at = after, None
        self.start()

    def run(self):
        time.sleep(self.after)
        os.kill(self.victim, signal.SIGKILL)
        self.killed_at = time.perf_counter()


def _reference(cloud, X):
    ref = TTIndex.from_point_cloud(cloud)
    ref.add(X)
    return ref


def test_worker_killed_during_add_and_search_loses_and_duplicates_nothing(cluster_client):
    """§Faults: a worker killed mid-add: the add completes with every id once; killed mid-search: same results."""
    client = cluster_client
    X, Q = _data()
    cloud = TTPointCloud.random(_DIM, (8, 8), (3,), seed=1)
    index = ShardedIndex.from_point_cloud(cloud, n_shards=4, client=client)
    killer = _Killer(client, after=0.6)
    index.add(da.from_array(X, chunks=(250, _DIM)).map_blocks(_slow, dtype=X.dtype))
    done = time.perf_counter()
    killer.join()
    assert killer.killed_at < done  # the worker died while the add ran
    assert index.ntotal == _N
    ids = index.gather_ids()
    assert np.array_equal(np.sort(ids), np.arange(_N))  # none lost, none twice
    ref = _reference(cloud, X)
    d_ref, i_ref = ref.search(Q, 5, n_candidates=150, chunk_size=8)
    client.wait_for_workers(2, timeout=60)
    killer = _Killer(client, after=0.3)
    d, i = index.search(np.concatenate([Q] * 16), 5, n_candidates=150, chunk_size=32)
    done = time.perf_counter()
    killer.join()
    assert killer.killed_at < done  # ... and while the search ran
    d, i = d[:Q.shape[0]], i[:Q.shape[0]]
    assert np.array_equal(i, i_ref)
    np.testing.assert_allclose(d, d_ref, rtol=1e-12, atol=1e-12)


def test_add_that_cannot_complete_fails_clearly_and_keeps_the_index_whole(cluster_client):
    """§Faults: with no retry allowed, a killed worker fails the add: a clear error, the index as it was."""
    client = cluster_client
    client.wait_for_workers(2, timeout=60)
    X, Q = _data()
    cloud = TTPointCloud.random(_DIM, (8, 8), (3,), seed=2)
    index = ShardedIndex.from_point_cloud(cloud, n_shards=3, client=client)
    index.add(da.from_array(X[:1000], chunks=(500, _DIM)))
    before = index.search(Q, 3, n_probe=4)
    scheduler = client.cluster.scheduler
    allowed = scheduler.allowed_failures
    scheduler.allowed_failures = 0
    try:
        killer = _Killer(client, after=0.6)
        with pytest.raises(ShardedIndexError, match=r"add failed on the cluster: .*the index is unchanged \(1000 vectors\)"):
            index.add(da.from_array(X[1000:], chunks=(250, _DIM)).map_blocks(_slow, dtype=X.dtype))
        killer.join()
    finally:
        scheduler.allowed_failures = allowed
    client.wait_for_workers(2, timeout=60)
    assert index.ntotal == 1000
    assert np.array_equal(np.sort(index.gather_ids()), np.arange(1000))
    after = index.search(Q, 3, n_probe=4)
    assert np.array_equal(after[1], before[1])
