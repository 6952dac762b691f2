"""Host syncs of the hot loops (specs/gpu.md §Sync points).

On a GPU every read of a device value by the host (a Python ``int``/``float``/``bool``
of an array, a copy to NumPy) stalls the launch queue. The contract: a fit step reads
nothing; a batched search reads a fixed number of scalars per query chunk, never per
query; TT-SVD and rounding read once or twice per rank choice.

These counts are checked on any machine with :func:`tt_ref._backend.count_host_reads`,
which counts every device-to-host read of ``array_api_strict`` arrays (the same
standard-only code runs on CuPy). Where a GPU exists, the CuPy tests below run the fit
step and the beam search under ``cupyx.allow_synchronize(False)``, which raises at the
first synchronisation.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import to_np, to_xp
from hypothesis import given, settings
from hypothesis import strategies as st

from tt_ref import add, tt_svd
from tt_ref import round as tt_round
from tt_ref._backend import count_host_reads, is_backend_available, namespace_for, to_ints
from tt_ref.cloud._fit import _fit_step, _flatten, fit_point_cloud
from tt_ref.search._beam import beam_search
from tt_ref.search._index import TTIndex
from tt_ref.search._scan import select_leaves
from tt_ref.cloud._optim import adam_init
from tt_ref.cloud._point_cloud import TTPointCloud

strict = pytest.importorskip("array_api_strict")


def _index(n, dim, mode_sizes, ranks, seed, xp):
    rng = np.random.default_rng(seed)
    cloud = TTPointCloud.random(dim, mode_sizes, ranks, seed=seed)
    index = TTIndex.from_point_cloud(TTPointCloud([to_xp(to_np(c), xp) for c in cloud.cores]))
    index.add(to_xp(rng.normal(size=(n, dim)), xp))
    return index, to_xp(rng.normal(size=(120, dim)), xp)


def _step_inputs(xp, dtype, seed=0, dim=5, mode_sizes=(4, 3, 2), ranks=(3, 2), batch=32):
    rng = np.random.default_rng(seed)
    left, right = [dim, *ranks], [*ranks, 1]
    cores = tuple(to_xp(rng.normal(size=(a, n, b)), xp, dtype) for a, n, b in zip(left, mode_sizes, right))
    data = to_xp(rng.normal(size=(batch, dim)), xp, dtype)
    multi = to_xp(np.stack([rng.integers(0, n, size=batch) for n in mode_sizes], axis=1), xp)
    theta = rng.normal(size=(dim, 16))
    directions = to_xp(theta / np.linalg.norm(theta, axis=0), xp, dtype)
    return cores, data, multi, directions


# --------------------------------------------------------------------------- counting itself
def test_counter_counts_each_way_to_the_host():
    x = strict.asarray([1.0, 2.0, 3.0])
    with count_host_reads() as counter:
        float(strict.sum(x))
        int(strict.astype(strict.max(x), strict.int64))
        bool(strict.any(x > 2.0))
        np.asarray(x)
        y = strict.exp(x) @ x  # device work only
    assert counter["reads"] == 4
    assert sorted(counter["by_method"]) == ["__array__", "__bool__", "__float__", "__int__"]
    with count_host_reads() as counter:
        to_ints(strict.sum(strict.astype(x > 1.0, strict.int64)), strict.astype(strict.max(x), strict.int64))
    assert counter["reads"] == 1, "to_ints reads several sizes in one transfer"
    # Restored after the block.
    with count_host_reads() as outer:
        pass
    float(y)
    assert outer["reads"] == 0


# --------------------------------------------------------------------------- fit
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_fit_step_reads_nothing(dtype):
    cores, data, multi, directions = _step_inputs(strict, dtype)
    params = (_flatten(cores, strict),)
    state = adam_init(params)
    with count_host_reads() as counter:
        for _ in range(3):
            params, state, cores = _fit_step(params, cores, (data, multi, directions), state, 0.01, 0.2, 0.02, strict)
    assert counter["reads"] == 0, counter["by_method"]


@settings(max_examples=5)
@given(st.integers(0, 2**31 - 1))
def test_fit_reads_do_not_grow_with_steps(seed):
    """Host reads happen at the ~50 evaluations only: 50, 100 and 200 steps read the same."""
    X = strict.asarray(np.random.default_rng(seed).normal(size=(200, 3)))
    reads = []
    for steps in (50, 100, 200):
        with count_host_reads() as counter:
            result = fit_point_cloud(X, (3, 4), (2,), steps=steps, batch_size=32, init="random",
                                     progress=False, seed=seed, refine_sweeps=0)  # the Adam loop's reads
        reads.append(counter["reads"])
        n_evals = len(result.history["step"])
        # One read per evaluation (the three loss terms together) plus a few for set-up.
        assert counter["reads"] <= n_evals + 4, counter["by_method"]
    assert reads[0] == reads[1] == reads[2]


# --------------------------------------------------------------------------- search
@pytest.mark.parametrize("scan", ["gather", "lists"])
@pytest.mark.parametrize("budget", [{"n_probe": 3}, {"n_candidates": 40}])
def test_search_reads_per_chunk_not_per_query(scan, budget):
    index, Q = _index(400, 4, (4, 8), (3,), 0, strict)
    reads = {}
    for chunk in (30, 60, 120):
        with count_host_reads() as counter:
            index.search(Q, 5, beam=4, chunk_size=chunk, scan=scan, **budget)
        reads[chunk] = counter["reads"]
    n_chunks = {30: 4, 60: 2, 120: 1}
    # Per chunk: 1 read for the scan's sizes (on the "lists" path with its groups'
    # rows, in the same transfer), +1 per try of the n_candidates leaf search; plus 1
    # to validate Q and 1 for the non-empty bucket count once.
    per_chunk = 1 + ("n_candidates" in budget) * 2
    for chunk, count in reads.items():
        assert count <= 2 + per_chunk * n_chunks[chunk], (chunk, reads)
    # Twice the queries per chunk, never more reads.
    assert reads[120] <= reads[60] <= reads[30]
    if "n_probe" in budget:
        assert [reads[c] - 1 for c in (30, 60, 120)] == [4, 2, 1], reads


@pytest.mark.parametrize("scan", ["gather", "lists"])
def test_search_off_numpy_never_projects_by_prefix(scan):
    # n_1 = 16 >= 4 x beam 2 would group the queries by prefix on NumPy (a host read
    # per chunk); on any other backend the beam keeps its one product and reads nothing.
    index, Q = _index(400, 4, (16, 4), (3,), 0, strict)
    reads = {}
    for chunk in (30, 120):
        with count_host_reads() as counter:
            index.search(Q, 5, beam=2, chunk_size=chunk, scan=scan, n_probe=3)
        reads[chunk] = counter["reads"]
    assert [reads[c] - 1 for c in (30, 120)] == [4, 1], reads
    assert index.last_search_stats["projections_per_query"] == 16 * 3


def test_search_reads_do_not_grow_with_queries():
    index, Q = _index(400, 4, (4, 8), (3,), 1, strict)
    index.search(Q, 5, beam=4, n_probe=3)  # the first search reads the bucket count once
    counts = []
    for n_queries in (10, 120):
        with count_host_reads() as counter:
            index.search(Q[:n_queries, :], 5, beam=4, n_probe=3)
        counts.append(counter["reads"])
    assert counts[0] == counts[1] == 2, counts


# --------------------------------------------------------------------------- TT-SVD, rounding
@given(st.integers(2, 7), st.integers(0, 2**31 - 1))
def test_tt_svd_and_round_read_per_rank_choice(ndim, seed):
    """Reads grow with the number of unfoldings (one rank choice each), not the tensor size."""
    x = strict.asarray(np.random.default_rng(seed).normal(size=(3,) * ndim))
    with count_host_reads() as counter:
        tt = tt_svd(x, eps=1e-2)
    assert counter["reads"] <= 3 * ndim, counter["by_method"]
    with count_host_reads() as counter:
        tt_round(add(tt, tt), eps=1e-2)
    assert counter["reads"] <= 3 * ndim, counter["by_method"]


# --------------------------------------------------------------------------- on the GPU
def _cupyx_no_sync():
    if not is_backend_available("cupy"):
        pytest.skip("backend 'cupy' not available here (CuPy needs an NVIDIA GPU)")
    import cupyx

    if not hasattr(cupyx, "allow_synchronize"):
        pytest.skip("this CuPy has no cupyx.allow_synchronize")
    return cupyx.allow_synchronize(False)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_cupy_fit_step_never_synchronizes(dtype):
    guard = _cupyx_no_sync()
    xp = namespace_for("cupy")
    cores, data, multi, directions = _step_inputs(xp, dtype)
    params = (_flatten(cores, xp),)
    state = adam_init(params)
    batch = (data, multi, directions)
    _fit_step(params, cores, batch, state, 0.01, 0.2, 0.02, xp)  # compile kernels first
    with guard:
        for _ in range(3):
            params, state, cores = _fit_step(params, cores, batch, state, 0.01, 0.2, 0.02, xp)


def test_cupy_beam_search_never_synchronizes():
    guard = _cupyx_no_sync()
    index, Q = _index(400, 4, (4, 8), (3,), 0, namespace_for("cupy"))
    index.search(Q, 5, beam=4, n_probe=3)  # compile kernels, cache the bucket count
    with guard:
        scores = beam_search(index._search_tables(), Q, 4, xp=index.xp)
        select_leaves(scores, index._lists, n_probe=3, n_candidates=None, xp=index.xp)
