"""Right or refusing on every finite input: norms and distances (the scale-safe primitives of
``tt_ref._backend._neighbors``), nearest neighbours, k-means, the quality measures and the
losses over the whole finite range of float32 and float64 (specs/conformance.md §Range).

Point sets are drawn at unit scale (well separated, so that ids are unique) and multiplied
by ``10**e``; results are compared at unit scale with the documented bounds, plus the
underflow term ``eta`` (the smallest subnormal, in unit-scale terms) for results below the
normal range.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import to_np, to_xp
from hypothesis import given
from hypothesis import strategies as st

import tt_ref
from tt_ref._backend import ArgumentValueError
from tt_ref._backend._neighbors import (
    check_squares_in_range, nearest_neighbors, normalize_rows, row_norms, sum_of_squares,
)
from tt_ref.cloud import coverage_error, kmeans, nn_forward, sliced_wasserstein_distance

C = 4.0
RANGE = {"float64": (-320.0, 306.0), "float32": (-42.0, 36.0)}
NORMAL = {"float64": (-300.0, 300.0), "float32": (-30.0, 30.0)}


def scaled(x, e, dtype):
    """``x * 10**e`` in ``dtype`` and back at unit scale in float64 (what was stored)."""
    stored = (x * 10.0**e).astype(dtype) if abs(e) < 300 else ((x * 10.0 ** (e / 2)) * 10.0 ** (e / 2)).astype(dtype)
    return stored, stored.astype(np.float64) / 10.0 ** (e / 2) / 10.0 ** (e / 2)


def eta(dtype, e) -> float:
    return float(np.finfo(np.dtype(dtype)).smallest_subnormal) / 10.0 ** (e / 2) / 10.0 ** (e / 2)


@given(e=st.data(), seed=st.integers(0, 2**31 - 1))
def test_norm_primitives_over_the_whole_range(xp, dtype, e, seed):
    """specs/conformance.md §Range: row norms, normalized rows and sums of squares of finite
    rows are right at every scale (relative c D unit, plus eta); a sum of squares beyond the
    largest float is inf, never a wrong finite number."""
    e = e.draw(st.floats(*RANGE[dtype]))
    x = np.random.default_rng(seed).standard_normal((5, 4))
    stored, unit_x = scaled(x, e, dtype)
    u = float(np.finfo(np.dtype(dtype)).eps)
    norms = to_np(row_norms(to_xp(stored, xp), xp=xp)).astype(np.float64) / 10.0 ** (e / 2) / 10.0 ** (e / 2)
    ref = np.linalg.norm(unit_x, axis=1)
    assert np.all(np.abs(norms - ref) <= C * 6 * u * ref + 4 * eta(dtype, e))
    unit_rows, _ = normalize_rows(to_xp(stored, xp), xp=xp)
    nonzero = ref > 0
    got = to_np(unit_rows).astype(np.float64)[nonzero]
    expected = unit_x[nonzero] / ref[nonzero, None]
    small = np.linalg.norm(unit_x[nonzero], axis=1) * 10.0**e < 1e3 * float(np.finfo(np.dtype(dtype)).tiny)
    assert np.all(np.abs(got - expected)[~small] <= C * 6 * u)  # rows of a few subnormal bits aside
    total = float(to_np(sum_of_squares(to_xp(stored, xp), xp=xp)))
    true_log = 2 * e + math.log10(float(np.sum(unit_x**2)))
    if true_log > math.log10(float(np.finfo(np.dtype(dtype)).max)):
        assert total == math.inf
    elif true_log > math.log10(float(np.finfo(np.dtype(dtype)).tiny)) + 8:
        assert abs(total / 10.0**e / 10.0**e - float(np.sum(unit_x**2))) <= C * 22 * u * float(np.sum(unit_x**2))


@given(e=st.data(), seed=st.integers(0, 2**31 - 1))
def test_nearest_neighbors_over_the_whole_range(xp, dtype, e, seed):
    """specs/conformance.md §Distances, §Range: ids are those of the unscaled problem at every
    scale, distances (squared=False) within c (D + 2) unit (||q||^2 + ||b||^2) / (d + ref)
    plus eta; squared
    distances beyond the largest float are refused, not returned as inf."""
    e = e.draw(st.floats(*NORMAL[dtype]))
    rng = np.random.default_rng(seed)
    base = rng.standard_normal((12, 3)) + 4.0 * np.arange(12)[:, None]  # well separated rows
    queries = base[rng.integers(0, 12, size=4)] + 0.1 * rng.standard_normal((4, 3))
    (b, b_unit), (q, q_unit) = scaled(base, e, dtype), scaled(queries, e, dtype)
    d, ids = nearest_neighbors(to_xp(q, xp), to_xp(b, xp), 3, squared=False)
    d2_unit = np.sum((q_unit[:, None, :] - b_unit[None]) ** 2, axis=-1)
    ref_ids = np.argsort(d2_unit, axis=1, kind="stable")[:, :3]
    np.testing.assert_array_equal(to_np(ids), ref_ids)
    u = float(np.finfo(np.dtype(dtype)).eps)
    got = to_np(d).astype(np.float64) / 10.0 ** (e / 2) / 10.0 ** (e / 2)
    # The squared distances' bound c K unit (||q||^2 + ||b||^2), carried through the root.
    scale = np.sum(q_unit**2, axis=1)[:, None] + np.max(np.sum(b_unit**2, axis=1))
    ref = np.sqrt(np.take_along_axis(d2_unit, ref_ids, 1))
    assert np.all(np.abs(got - ref) <= C * 5 * u * scale / (got + ref) + 4 * eta(dtype, e))
    biggest = 2 * e + math.log10(float(np.max(d2_unit)))
    if biggest > math.log10(float(np.finfo(np.dtype(dtype)).max)):
        with pytest.raises(ArgumentValueError, match="squared=False"):
            nearest_neighbors(to_xp(q, xp), to_xp(b, xp), 12)


@given(e=st.floats(-290, 290), seed=st.integers(0, 2**31 - 1))
def test_kmeans_and_quality_over_the_range(e, seed):
    """specs/conformance.md §Range: k-means finds the same clusters, and SW_2 and the coverage
    error scale exactly with the data (SW by 10**e, coverage by 10**(2e)), or are refused
    where the squared value exceeds float64."""
    rng = np.random.default_rng(seed)
    blobs = np.concatenate([rng.normal(size=(30, 3)) * 0.05, rng.normal(size=(30, 3)) * 0.05 + 5.0])
    other = rng.normal(size=(20, 3))
    factor = 10.0**e
    _, labels = kmeans(blobs * factor, 2, seed=0)
    labels = to_np(labels)
    assert len(set(labels[:30].tolist())) == 1 and len(set(labels[30:].tolist())) == 1 and labels[0] != labels[30]
    sw = sliced_wasserstein_distance(blobs * factor, other * factor)
    assert math.isclose(sw / factor, sliced_wasserstein_distance(blobs, other), rel_tol=1e-12)
    ref_cov = coverage_error(other, blobs)
    if 2 * e + math.log10(ref_cov) >= 308:
        with pytest.raises(ArgumentValueError, match="largest float64"):
            coverage_error(other * factor, blobs * factor)
    else:
        got = coverage_error(other * factor, blobs * factor)  # below the normal range: eta absolute
        assert abs(got - ref_cov * factor * factor) <= 1e-10 * ref_cov * factor * factor + 4 * 5e-324


def test_losses_refuse_what_they_cannot_represent():
    """specs/conformance.md §Range: the public losses accept rows up to sqrt(max / (4 D)) and
    refuse larger ones, naming the range; below, their values scale exactly."""
    rng = np.random.default_rng(0)
    data, points = rng.normal(size=(8, 3)), rng.normal(size=(6, 3))
    value = float(nn_forward(data, points)[0])
    for factor in (1e-150, 1e100, 1e150):
        assert math.isclose(float(nn_forward(data * factor, points * factor)[0]) / factor**2, value, rel_tol=1e-12)
    limit = math.sqrt(float(np.finfo(np.float64).max) / 12.0)
    with pytest.raises(ArgumentValueError, match="sqrt"):
        nn_forward(data / np.max(np.abs(data)) * limit * 1.01, points)
    assert check_squares_in_range(np.full((2, 3), limit * 0.99), names=("X",), xp=tt_ref.namespace_for("numpy"))
    with pytest.raises(ArgumentValueError, match="float32"):
        nn_forward((data * 1e19).astype(np.float32), points.astype(np.float32))


def test_coverage_bound_holds_away_from_the_origin():
    """specs/conformance.md §Distances: the coverage error is accurate to the GEMM-form bound
    c (D + 2) unit mean(||q||^2 + ||b||^2), not to a bound relative to the result; with data
    offset by 1e4 the relative error can be large while that bound holds."""
    rng = np.random.default_rng(3)
    data, comp = rng.normal(size=(200, 4)), rng.normal(size=(50, 4))
    exact = float(np.mean(np.min(np.sum((data[:, None] - comp[None]) ** 2, -1), 1)))
    for offset in (0.0, 1e4):
        got = coverage_error(data + offset, comp + offset)
        scale = float(np.mean(np.sum((data + offset) ** 2, 1))) + float(np.max(np.sum((comp + offset) ** 2, 1)))
        assert abs(got - exact) <= C * 6 * np.finfo(np.float64).eps * scale
