"""Tests of the centre tables and the beam search, alone (specs/index.md §Centres, §Search)."""

from __future__ import annotations

import copy
import pickle

import numpy as np
from helpers import eps_of, to_np, to_xp
from hypothesis import given
from hypothesis import strategies as st

from tt_ref._backend import topk_smallest
from tt_ref._backend._neighbors import squared_distances
from tt_ref.cloud._point_cloud import TTPointCloud
from tt_ref.search._beam import BeamTables, beam_search, centre_sq_distances, nearest_leaf, projects_by_prefix


def _cloud(dim, mode_sizes, ranks, seed, xp, dtype):
    cloud = TTPointCloud.random(dim, mode_sizes, ranks, seed=seed, dtype=dtype)
    return TTPointCloud([to_xp(to_np(c), xp) for c in cloud.cores])


def _setup(config, xp, dtype, n_queries, query_seed_offset):
    """The cloud, its tables and ``n_queries`` Gaussian queries of one drawn configuration."""
    dim, mode_sizes, ranks, seed = config
    cloud = _cloud(dim, mode_sizes, ranks, seed, xp, dtype)
    Q = to_xp(np.random.default_rng(seed + query_seed_offset).standard_normal((n_queries, dim)), xp, dtype)
    return cloud, BeamTables.from_cloud(cloud), Q


@st.composite
def _configs(draw):
    n_levels = draw(st.integers(1, 3))
    mode_sizes = tuple(draw(st.integers(1, 4)) for _ in range(n_levels))
    ranks = tuple(draw(st.integers(1, 3)) for _ in range(n_levels - 1))
    return draw(st.integers(1, 5)), mode_sizes, ranks, draw(st.integers(0, 2**16))


@given(_configs())
def test_tables_give_centre_distances(xp, dtype, config):
    """§Centres: factorized distances to every level's centres equal the explicit ones (prefix means)."""
    dim, mode_sizes, ranks, seed = config
    cloud, tables, Q = _setup(config, xp, dtype, 4, 0)
    for level in range(1, len(mode_sizes) + 1):
        ref = to_np(squared_distances(Q, cloud.centroids(level)))
        got = to_np(centre_sq_distances(tables, Q, level, xp=xp))
        assert got.shape == ref.shape
        assert np.max(np.abs(got - ref)) <= 100 * eps_of(dtype) * (1 + float(np.max(ref)))


@given(_configs())
def test_full_beam_reaches_every_leaf_in_order(xp, dtype, config):
    """§Search: a beam covering every prefix returns every leaf once, with its exact distance."""
    dim, mode_sizes, ranks, seed = config
    cloud, tables, Q = _setup(config, xp, dtype, 3, 1)
    n_points = cloud.n_points
    scores = beam_search(tables, Q, n_points, xp=xp)
    columns = to_xp(np.tile(np.arange(scores.d.shape[1]), (3, 1)), xp)
    leaves = to_np(scores.leaf_ids(columns, xp))
    assert all(sorted(row) == list(range(n_points)) for row in leaves.tolist())
    ref = to_np(squared_distances(Q, cloud.all_points()))
    got = np.take_along_axis(ref, leaves, axis=1)
    assert np.max(np.abs(to_np(scores.d) - got)) <= 100 * eps_of(dtype) * (1 + float(np.max(ref)))
    expected_centres = mode_sizes[0] + sum(
        min(n_points, int(np.prod(mode_sizes[:m]))) * mode_sizes[m] for m in range(1, len(mode_sizes)))
    assert scores.n_centres == expected_centres
    assert tables.cost(n_points, by_prefix=False)["centres"] == expected_centres


@given(_configs(), st.integers(1, 4))
def test_projection_by_prefix_equals_the_full_product(xp, dtype, config, beam):
    """§Search: projecting only the kept level-1 prefixes gives the full product's distances and leaves."""
    dim, mode_sizes, ranks, seed = config
    cloud, tables, Q = _setup(config, xp, dtype, 5, 3)
    full = beam_search(tables, Q, beam, xp=xp)
    kept = beam_search(tables, Q, beam, xp=xp, by_prefix=True)
    ref = to_np(squared_distances(Q, cloud.all_points()))
    bound = 100 * eps_of(dtype) * (1 + float(np.max(ref)))
    assert np.max(np.abs(to_np(kept.d) - to_np(full.d)), initial=0.0) <= bound
    if len(mode_sizes) == 2:  # the kept prefixes come from level 1, computed alike
        assert np.array_equal(to_np(kept.prefix), to_np(full.prefix))
    # The counts are what the cost model says, and the projections shrink to the kept prefixes.
    for scores, by_prefix in ((full, False), (kept, True)):
        cost = tables.cost(beam, by_prefix=by_prefix)
        assert (scores.n_centres, scores.n_projections) == (cost["centres"], cost["projections"])
    if len(mode_sizes) > 1:
        r_1 = ranks[0]
        assert kept.n_projections == min(beam, mode_sizes[0]) * r_1 <= full.n_projections == mode_sizes[0] * r_1


def test_cost_counts_multiply_adds_over_dim():
    """§Search stats: distance equivalents are the beam's multiply-adds over ``D``."""
    tables = BeamTables.from_cloud(TTPointCloud.random(7, (8, 5, 3), (4, 2), seed=0))
    # Level 1: 8 centres + 2 x 4 projections (kept) or 8 x 4 (all); level 2: 2 x 5 centres of
    # r_1 = 4; carrying L^T q down: 2 kept x 4 x 2; level 3: 2 x 3 centres of r_2 = 2.
    macs = 2 * 5 * 4 + 2 * 4 * 2 + 2 * 3 * 2
    assert tables.cost(2, by_prefix=True) == {"centres": 8 + 10 + 6, "projections": 8, "equivalents": 16 + macs / 7}
    assert tables.cost(2, by_prefix=False)["equivalents"] == 40 + macs / 7
    assert projects_by_prefix(8, 2) and not projects_by_prefix(8, 4) and not projects_by_prefix(4, 8)


@given(_configs(), st.integers(1, 4))
def test_beam_keeps_the_nearest_prefixes(xp, dtype, config, beam):
    """§Search: each level keeps the ``beam`` nearest children of the kept prefixes (checked at the leaves)."""
    dim, mode_sizes, ranks, seed = config
    cloud, tables, Q = _setup(config, xp, dtype, 3, 2)
    scores = beam_search(tables, Q, beam, xp=xp)
    width = 1 if len(mode_sizes) == 1 else min(beam, int(np.prod(mode_sizes[:-1])))
    assert scores.d.shape == (3, mode_sizes[-1] * (width if len(mode_sizes) > 1 else 1))
    if len(mode_sizes) == 2:  # the kept level-1 prefixes are the nearest level-1 centres
        level1 = to_np(centre_sq_distances(tables, Q, 1, xp=xp))
        kept = np.sort(to_np(scores.prefix), axis=1)
        ref = np.sort(to_np(topk_smallest(to_xp(level1, xp, dtype), width, xp=xp)[1]), axis=1)
        assert np.array_equal(kept, ref)


def test_nearest_leaf_with_full_beam_is_nearest_point(xp, dtype):
    """§Assignment: the beam's nearest leaf with a beam covering the tree is the nearest TT point."""
    cloud = _cloud(4, (3, 4, 2), (3, 2), 5, xp, dtype)
    tables = BeamTables.from_cloud(cloud)
    X = to_xp(np.random.default_rng(5).standard_normal((50, 4)), xp, dtype)
    got = to_np(nearest_leaf(tables, X, 12, xp=xp))
    ref = np.argmin(to_np(squared_distances(X, cloud.all_points())), axis=1)
    assert np.array_equal(got, ref)


def test_empty_leaves_go_to_inf(xp, dtype):
    """§Search: with_empty_leaves puts exactly the empty leaves at inf; other distances unchanged."""
    cloud = _cloud(3, (2, 5), (2,), 1, xp, dtype)
    tables = BeamTables.from_cloud(cloud)
    nonempty = np.arange(10) % 3 != 0
    masked = tables.with_empty_leaves(to_xp(nonempty, xp), xp)
    Q = to_xp(np.random.default_rng(1).standard_normal((4, 3)), xp, dtype)
    plain, hidden = beam_search(tables, Q, 2, xp=xp), beam_search(masked, Q, 2, xp=xp)
    leaves = to_np(plain.leaf_ids(to_xp(np.tile(np.arange(10), (4, 1)), xp), xp))
    d_plain, d_hidden = to_np(plain.d), to_np(hidden.d)
    empty = ~nonempty[leaves]
    assert np.all(np.isinf(d_hidden[empty])) and np.array_equal(d_hidden[~empty], d_plain[~empty])
    assert masked.row_elements(2) == tables.row_elements(2)


def test_tables_are_immutable_and_pickle(backend, dtype):
    """§Backends: the tables pickle and deep-copy (arrays only, no namespace module)."""
    from tt_ref._backend import namespace_for

    xp = namespace_for(backend)
    tables = BeamTables.from_cloud(_cloud(3, (3, 4), (2,), 2, xp, dtype))
    Q = to_xp(np.random.default_rng(2).standard_normal((5, 3)), xp, dtype)
    ref = to_np(beam_search(tables, Q, 2, xp=xp).d)
    for copied in (pickle.loads(pickle.dumps(tables)), copy.deepcopy(tables)):
        assert np.array_equal(to_np(beam_search(copied, Q, 2, xp=xp).d), ref)
    try:
        tables.first = None
    except AttributeError:
        pass
    else:
        raise AssertionError("BeamTables accepted an attribute change")
