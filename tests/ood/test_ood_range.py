"""Scores over the whole finite range of float32 and float64: right or refused, never inf or 0 by accident.

specs/ood.md §Range.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import eps_of, to_np, to_xp
from tt_ref import ArgumentValueError
from tt_ref.ood import KNNDetector
from tt_ref.ood._distances import safe_exponent_limit


def _reference_kth(queries, bank, k):
    """k-th distance per query in float64 on the host, any magnitude: direct differences on data
    divided by a power of two per query (exact), so nothing overflows or underflows."""
    q = to_np(queries).astype(np.float64)
    b = to_np(bank).astype(np.float64)
    out, scale = np.empty(q.shape[0]), np.empty(q.shape[0])
    for i, row in enumerate(q):
        top = max(np.abs(row).max(), np.abs(b).max())
        e = int(np.frexp(top)[1]) if top > 0 else 0
        diff = np.ldexp(row, -e)[None, :] - np.ldexp(b, -e)
        out[i] = np.sort(np.sqrt((diff**2).sum(1)))[k - 1]  # in units of 2**e
        scale[i] = e
    return out, scale


def _exponent_range(dtype):
    info = np.finfo(np.dtype(dtype))
    # Normal results only (a subnormal result carries the absolute spacing of subnormals too).
    return int(info.minexp) + int(info.nmant) + 4, int(info.maxexp) - 1


@given(data=st.data())
def test_right_or_refused_over_the_whole_range(xp, dtype, data):
    """specs/ood.md §Range: for every finite input, per query
    |(d / 2**E)^2 - (ref / 2**E)^2| <= 100 eps ((|q| / 2**E)^2 + (max|b| / 2**E)^2), E = exponent of
    max(|q|, max|b|); or an ArgumentValueError when a k-th distance exceeds the dtype's largest number."""
    low, high = _exponent_range(dtype)
    n_bank = data.draw(st.integers(1, 12), label="n_bank")
    n_query = data.draw(st.integers(1, 6), label="n_query")
    dim = data.draw(st.integers(1, 5), label="dim")
    k = data.draw(st.integers(1, n_bank), label="k")
    bank_exp = data.draw(st.integers(low, high), label="bank exponent")
    # Each query row has its own magnitude: tiny and huge rows in one call.
    query_exps = data.draw(st.lists(st.integers(low, high), min_size=n_query, max_size=n_query), label="query exponents")
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16), label="seed"))
    bank_host = np.ldexp(rng.uniform(-1, 1, (n_bank, dim)), bank_exp).astype(dtype)
    query_host = np.ldexp(rng.uniform(-1, 1, (n_query, dim)), np.asarray(query_exps)[:, None]).astype(dtype)
    bank, queries = to_xp(bank_host, xp), to_xp(query_host, xp)
    ref, e = _reference_kth(queries, bank, k)
    largest = float(np.finfo(np.dtype(dtype)).max)
    detector = KNNDetector(k, bank=bank).fit(bank[:1, :])
    try:
        got = to_np(detector.kth_distance(queries)).astype(np.float64)
    except ArgumentValueError as exc:
        assert "exceeds the largest" in str(exc)
        assert np.max(np.ldexp(ref, e.astype(int))) >= largest * (1 - 100 * eps_of(dtype))
        return
    assert np.all(np.isfinite(got))
    scaled = np.ldexp(got, -e.astype(int))
    q = np.ldexp(query_host.astype(np.float64), -e[:, None].astype(int))
    b = np.ldexp(bank_host.astype(np.float64)[None], -e[:, None, None].astype(int))
    bound = 100 * eps_of(dtype) * ((q**2).sum(1) + (b**2).sum(2).max(1))
    assert np.all(np.abs(scaled**2 - ref**2) <= bound)


@given(data=st.data())
def test_rescaling_is_exact(xp, dtype, data):
    """specs/ood.md §Range: data moved out of the safe window by a power of two gives the same scores
    times that power of two, bitwise (the rescaled path equals the plain one)."""
    dim = data.draw(st.integers(1, 6), label="dim")
    limit = safe_exponent_limit(dtype, dim)
    shift = data.draw(st.sampled_from([limit + 5, -limit - 5, 2 * limit]), label="shift")
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16), label="seed"))
    bank_host = rng.uniform(0.5, 1.5, (30, dim)).astype(dtype) * rng.choice([-1, 1], (30, dim)).astype(dtype)
    query_host = rng.uniform(0.5, 1.5, (7, dim)).astype(dtype)
    k = data.draw(st.integers(1, 5), label="k")
    plain = to_np(KNNDetector(k).fit(to_xp(bank_host, xp)).kth_distance(to_xp(query_host, xp)))
    moved = KNNDetector(k).fit(to_xp(np.ldexp(bank_host, shift), xp)).kth_distance(to_xp(np.ldexp(query_host, shift), xp))
    assert np.array_equal(to_np(moved), np.ldexp(plain, shift))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_near_the_top(dtype):
    """specs/ood.md §Range: finite inputs near 1e300 (float64) / 1e36 (float32) give finite scores;
    a distance past the largest number is refused with the range in the message."""
    info = np.finfo(np.dtype(dtype))
    rng = np.random.default_rng(0)
    base = rng.standard_normal((50, 4))
    big = np.asarray(info.max, dtype=np.float64) / 1e8
    X = (base * big).astype(dtype)
    det = KNNDetector(2).fit(X)
    scores = det.kth_distance(X[:10] * 0.5)
    assert np.all(np.isfinite(scores)) and np.all(scores > 0)
    assert np.isfinite(det.offset_)
    unit = KNNDetector(2).fit(base.astype(dtype)).kth_distance((base[:10] * 0.5).astype(dtype))
    assert np.allclose(scores / big, unit, rtol=1e3 * info.eps, atol=0)
    huge = np.full((3, 2), info.max * 0.9, dtype=dtype)
    with pytest.raises(ArgumentValueError, match="exceeds the largest"):
        KNNDetector().fit(huge).kth_distance(-huge)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_near_the_bottom(dtype):
    """specs/ood.md §Range: tiny inputs (1e-300, 1e-40) are not squared to zero."""
    info = np.finfo(np.dtype(dtype))
    rng = np.random.default_rng(1)
    base = rng.standard_normal((40, 3))
    tiny = float(info.tiny) * 2.0**30
    det = KNNDetector().fit((base * tiny).astype(dtype))
    got = to_np(det.kth_distance(((base[:5] + 0.25) * tiny).astype(dtype))).astype(np.float64)
    ref = to_np(KNNDetector().fit(base.astype(dtype)).kth_distance((base[:5] + 0.25).astype(dtype))).astype(np.float64)
    assert np.all(got > 0)
    assert np.allclose(got / tiny, ref, rtol=1e3 * info.eps, atol=0)


def test_index_path_refuses_out_of_window():
    """specs/ood.md §Range: the index path (squared distances without rescaling) refuses, naming the window."""
    from tt_ref._backend._neighbors import nearest_neighbors

    class Exact:
        def add(self, X):
            self.base = X

        def search(self, Q, k):
            return nearest_neighbors(Q, self.base, k)

    X = np.random.default_rng(2).standard_normal((20, 3))
    det = KNNDetector(index=Exact()).fit(X)
    with pytest.raises(ArgumentValueError, match="the index scores only data with magnitudes in"):
        det.kth_distance(X[:2] * 1e300)
    with pytest.raises(ArgumentValueError, match="index=None"):
        KNNDetector(index=Exact()).fit(X * 1e-300)


def test_a_row_does_not_depend_on_the_batch(xp, dtype):
    """specs/ood.md §Range: each query row is rescaled on its own, so a tiny row scored beside a huge
    one gets the same (right) distance as alone, bitwise."""
    info = np.finfo(np.dtype(dtype))
    tiny, huge = float(info.tiny) * 2.0**40, float(info.max) / 2.0**20
    bank = to_xp(np.array([[1.0, 0.0], [0.0, 2.0]]) * tiny, xp, dtype)
    queries = to_xp(np.array([[3.0 * tiny, 0.0], [huge, 0.0], [0.0, 0.0]]), xp, dtype)
    det = KNNDetector(bank=bank).fit(bank)
    together = to_np(det.kth_distance(queries))
    alone = np.concatenate([to_np(det.kth_distance(queries[i : i + 1, :])) for i in range(3)])
    assert np.array_equal(together, alone)
    assert together[0] == np.asarray(2.0 * tiny, dtype=dtype)  # |3t - t| exactly, not flushed to 0
    assert np.isfinite(together[1]) and together[1] > 0
