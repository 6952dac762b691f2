"""Orthogonalization and TT rounding (specs/rounding.md)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import eps_of, rel_err, to_np, to_xp
from tt_ref.tt._arithmetic import add, scale
from tt_ref.tt._rounding import orthogonalize, round as tt_round
from tt_ref.tt._tensor_train import TensorTrain


def dense(tt) -> np.ndarray:
    """Full tensor on the host in float64 (the reference)."""
    cores = tt.cores if isinstance(tt, TensorTrain) else tt
    out = to_np(cores[0]).astype(np.float64)
    for core in cores[1:]:
        out = np.tensordot(out, to_np(core).astype(np.float64), axes=(-1, 0))
    return out.reshape(out.shape[1:-1])


def minimal_ranks(shape, ranks):
    """Clip ranks to what both sides of every bond can carry (so they are the TT ranks)."""
    ranks = list(ranks)
    for j in range(1, len(ranks) - 1):
        ranks[j] = min(ranks[j], ranks[j - 1] * shape[j - 1])
    for j in range(len(ranks) - 2, 0, -1):
        ranks[j] = min(ranks[j], ranks[j + 1] * shape[j])
    return ranks


def draw_tt(data, xp, dtype, *, min_d=1, max_d=5, max_n=4, max_r=3, label="tt"):
    shape = tuple(data.draw(st.lists(st.integers(1, max_n), min_size=min_d, max_size=max_d), label=f"{label} shape"))
    inner = data.draw(st.lists(st.integers(1, max_r), min_size=len(shape) - 1, max_size=len(shape) - 1),
                      label=f"{label} ranks")
    seed = data.draw(st.integers(0, 2**32 - 1), label=f"{label} seed")
    ranks = [1] + inner + [1]
    rng = np.random.default_rng(seed)
    cores = [to_xp(rng.standard_normal((ranks[j], n, ranks[j + 1])), xp, dtype) for j, n in enumerate(shape)]
    return TensorTrain(cores)


# --------------------------------------------------------------------------- orthogonalize
@pytest.mark.parametrize("direction", ["left", "right"])
@given(data=st.data())
def test_orthogonalize(xp, dtype, direction, data):
    """specs/rounding.md §orthogonalize: orthonormal unfoldings, the same tensor, ranks
    never grow, and the norm sits in the end core."""
    tt = draw_tt(data, xp, dtype)
    out = orthogonalize(tt, direction)
    unit = eps_of(dtype)
    ref = dense(tt)
    # A QR sweep is backward stable relative to the cores' scale, prod_j ||G_j||_F, which
    # exceeds ||A|| when drawn ranks are not minimal and the sum cancels (specs/rounding.md).
    scale = max(np.linalg.norm(ref), float(np.prod([np.linalg.norm(to_np(c)) for c in tt.cores])))
    assert np.linalg.norm(dense(out) - ref) <= 100 * unit * scale
    assert all(a <= b for a, b in zip(out.ranks, tt.ranks))
    inner = out.cores[:-1] if direction == "left" else out.cores[1:]
    for core in inner:
        g = to_np(core).astype(np.float64)
        mat = g.reshape(-1, g.shape[-1]) if direction == "left" else g.reshape(g.shape[0], -1).T
        assert np.linalg.norm(mat.T @ mat - np.eye(mat.shape[1])) <= 100 * unit
    carrier = out.cores[-1] if direction == "left" else out.cores[0]
    norm = np.linalg.norm(ref)
    assert abs(np.linalg.norm(to_np(carrier).astype(np.float64)) - norm) <= 100 * unit * max(scale, 1e-300)


def test_orthogonalize_is_deterministic(xp, dtype):
    """specs/rounding.md §orthogonalize: QR signs fixed (diag(R) >= 0), so numpy and
    array_api_strict give the same cores to rounding, and repeated calls identical ones."""
    rng = np.random.default_rng(3)
    cores = [rng.standard_normal(s) for s in [(1, 3, 2), (2, 4, 3), (3, 2, 1)]]
    tt = TensorTrain([to_xp(c, xp, dtype) for c in cores])
    ref = orthogonalize(TensorTrain([c.astype(dtype) for c in cores]), "left")
    out = orthogonalize(tt, "left")
    again = orthogonalize(tt, "left")
    for a, b, c in zip(out.cores, ref.cores, again.cores):
        assert rel_err(a, b) <= 100 * eps_of(dtype)
        assert np.array_equal(to_np(a), to_np(c))


# --------------------------------------------------------------------------- round
@given(data=st.data())
def test_round_of_doubled_is_identity(xp, dtype, data):
    """specs/rounding.md §Guarantees: round(a + a) * 0.5 equals a, with a's ranks."""
    shape = tuple(data.draw(st.lists(st.integers(2, 4), min_size=2, max_size=5), label="shape"))
    inner = data.draw(st.lists(st.integers(1, 3), min_size=len(shape) - 1, max_size=len(shape) - 1), label="ranks")
    ranks = minimal_ranks(shape, [1] + inner + [1])
    seed = data.draw(st.integers(0, 2**32 - 1), label="seed")
    rng = np.random.default_rng(seed)
    a = TensorTrain([to_xp(rng.standard_normal((ranks[j], n, ranks[j + 1])), xp, dtype) for j, n in enumerate(shape)])
    doubled = add(a, a)
    assert max(doubled.ranks) == 2 * max(a.ranks)
    rounded, err = tt_round(doubled, return_error=True)
    back = scale(rounded, 0.5)
    assert list(back.ranks) == ranks
    unit = eps_of(dtype)
    assert rel_err(dense(back), dense(a)) <= 100 * unit
    assert err <= 100 * unit


@given(data=st.data())
def test_round_obeys_the_bound(xp, dtype, data):
    """specs/rounding.md §Guarantees: ||tt - round(tt)|| <= eps ||tt||, ranks <= max_rank,
    and the returned error equals the dense error."""
    tt = draw_tt(data, xp, dtype, min_d=2, max_r=5)
    eps = data.draw(st.sampled_from([0.0, 1e-3, 0.05, 0.2, 0.6]), label="eps")
    max_rank = data.draw(st.one_of(st.none(), st.integers(1, 3)), label="max_rank")
    rounded, err = tt_round(tt, eps=eps, max_rank=max_rank, return_error=True)
    ref = dense(tt)
    dense_err = rel_err(dense(rounded), ref)
    unit = eps_of(dtype)
    assert abs(err - dense_err) <= 100 * unit
    if max_rank is None:
        assert dense_err <= eps + 100 * unit
    else:
        assert max(rounded.ranks) <= max_rank
    assert all(a <= b for a, b in zip(rounded.ranks, tt.ranks))
    for core in rounded.cores[:-1]:
        g = to_np(core).astype(np.float64)
        mat = g.reshape(-1, g.shape[-1])
        assert np.linalg.norm(mat.T @ mat - np.eye(mat.shape[1])) <= 100 * unit


def test_round_result_does_not_depend_on_return_error(xp, dtype):
    """specs/rounding.md §Which linear-algebra path runs when: without return_error the
    Gram path skips measuring the residual, and the cores are the same bits."""
    rng = np.random.default_rng(8)
    shape = (5, 6, 5, 4)
    ranks = [1, 5, 8, 4, 1]
    tt = TensorTrain([to_xp(rng.standard_normal((ranks[j], n, ranks[j + 1])), xp, dtype) for j, n in enumerate(shape)])
    plain = tt_round(tt, max_rank=3)
    with_error, err = tt_round(tt, max_rank=3, return_error=True)
    assert plain.ranks == with_error.ranks == (1, 3, 3, 3, 1)
    for a, b in zip(plain.cores, with_error.cores):
        assert np.array_equal(to_np(a), to_np(b))
    assert abs(err - rel_err(dense(plain), dense(tt))) <= 100 * eps_of(dtype)


def test_round_matches_tt_svd_of_the_dense_tensor(xp, dtype):
    """specs/rounding.md §Guarantees: rounding gives the ranks TT-SVD gives on the dense
    tensor (both are the SVD-based truncation with the same threshold)."""
    from tt_ref.tt._svd import tt_svd

    rng = np.random.default_rng(11)
    shape = (4, 5, 3, 4)
    ranks = [1, 4, 6, 4, 1]
    cores = [rng.standard_normal((ranks[j], n, ranks[j + 1])) for j, n in enumerate(shape)]
    tt = TensorTrain([to_xp(c, xp, dtype) for c in cores])
    for eps in (0.05, 0.3):
        rounded = tt_round(tt, eps=eps)
        direct = tt_svd(to_xp(dense(tt), xp, dtype), eps=eps)
        assert rounded.ranks == direct.ranks


def test_round_zero_and_single_core(xp, dtype):
    """specs/rounding.md §Edge cases: a zero tensor rounds to a rank-1 zero TT with error
    0; d = 1 is returned unchanged."""
    zero = TensorTrain([to_xp(np.zeros(s), xp, dtype) for s in [(1, 3, 2), (2, 2, 1)]])
    out, err = tt_round(zero, eps=0.1, return_error=True)
    assert out.ranks == (1, 1, 1) and err == 0.0
    vec = TensorTrain([to_xp(np.arange(1.0, 4.0).reshape(1, 3, 1), xp, dtype)])
    out = tt_round(vec, eps=0.5)
    assert np.array_equal(dense(out), np.arange(1.0, 4.0))


def test_round_with_teneva(xp, dtype):
    """specs/rounding.md §Cross-check: rounding a sum to a rank cap matches
    teneva.truncate's error (both optimal truncations up to rounding)."""
    teneva = pytest.importorskip("teneva")
    rng = np.random.default_rng(5)
    shape = (4, 5, 4, 5, 4)
    ranks = [1, 4, 4, 4, 4, 1]
    a = [rng.standard_normal((ranks[j], n, ranks[j + 1])) for j, n in enumerate(shape)]
    b = [rng.standard_normal((ranks[j], n, ranks[j + 1])) for j, n in enumerate(shape)]
    host_sum = teneva.add(a, b)
    tt_sum = TensorTrain([to_xp(c, xp, dtype) for c in host_sum])
    rounded, err = tt_round(tt_sum, max_rank=4, return_error=True)
    ref = teneva.truncate(host_sum, e=1e-14, r=4)
    ref_err = rel_err(dense(ref), dense(host_sum))
    assert list(rounded.ranks) == [1] + [c.shape[2] for c in ref]
    assert err <= ref_err * (1 + 1e-3) + 1e3 * eps_of(dtype)


# --------------------------------------------------------------------------- bad input
def test_bad_input(xp):
    """specs/rounding.md §Input: clear errors naming the argument."""
    tt = TensorTrain([to_xp(np.ones((1, 2, 1)), xp), to_xp(np.ones((1, 3, 1)), xp)])
    with pytest.raises(ValueError, match="direction"):
        orthogonalize(tt, "up")
    with pytest.raises(TypeError, match="tt must be a TensorTrain"):
        orthogonalize(np.ones((2, 3)))
    with pytest.raises(TypeError, match="tt must be a TensorTrain"):
        tt_round([np.ones((1, 2, 1))])
    with pytest.raises(ValueError, match="eps"):
        tt_round(tt, eps=-1.0)
    with pytest.raises(ValueError, match="eps"):
        tt_round(tt, eps=math.nan)
    with pytest.raises(ValueError, match="max_rank"):
        tt_round(tt, max_rank=0)
    with pytest.raises(TypeError, match="max_rank"):
        tt_round(tt, max_rank=2.0)


# --------------------------------------------------------------------------- the R-factor sweep
def test_qr_r_factor_matches_the_standard_qr(xp, dtype):
    """specs/rounding.md §Which linear-algebra path runs when: the R-only QR (NumPy / CuPy
    fast path) gives the R of the standard reduced QR, tall and wide."""
    from tt_ref.tt._linalg import qr_r_factor

    rng = np.random.default_rng(4)
    for shape in [(40, 6), (6, 9), (7, 7)]:
        a = to_xp(rng.standard_normal(shape), xp, dtype)
        r_fast = qr_r_factor(a, xp)
        _, r_std = xp.linalg.qr(a, mode="reduced")
        assert tuple(r_fast.shape) == tuple(r_std.shape) == (min(shape), shape[1])
        assert rel_err(r_fast, r_std) <= 100 * eps_of(dtype)
        assert np.allclose(np.tril(to_np(r_fast), -1), 0.0)


def test_right_factors_carry_the_interface_gram(xp, dtype):
    """specs/rounding.md §round, step 1: factors[j]^T factors[j] is the Gram matrix
    Z_j Z_j^T of the right interface of cores j .. d-1 (so B_j has the singular values
    of the j-th unfolding), up to the power of two each factor is renormalized by
    (specs/rounding.md §Range)."""
    from tt_ref.tt._rounding import _right_factors

    rng = np.random.default_rng(12)
    ranks = [1, 3, 5, 4, 1]
    shape = (3, 4, 2, 3)
    cores = [rng.standard_normal((ranks[j], n, ranks[j + 1])) for j, n in enumerate(shape)]
    factors, _ = _right_factors([to_xp(c, xp, dtype) for c in cores], xp)
    for j in range(1, len(shape)):
        out = cores[j]
        for core in cores[j + 1:]:
            out = np.tensordot(out, core, axes=(-1, 0))
        interface = out.reshape(ranks[j], -1)
        f = to_np(factors[j]).astype(np.float64)
        gram = interface @ interface.T
        # The scale is an exact power of four between f^T f and the Gram matrix.
        power = 2.0 ** np.round(np.log2(np.trace(gram) / np.trace(f.T @ f)))
        assert 1 <= np.max(np.abs(f)) < 2
        assert np.linalg.norm(power * (f.T @ f) - gram) <= 100 * eps_of(dtype) * np.linalg.norm(gram)


@pytest.mark.parametrize("kwargs", [dict(max_rank=3), dict(eps=0.3), dict(eps=1e-9), dict(eps=0.2, max_rank=2)])
def test_round_every_path_is_exact(xp, dtype, kwargs, monkeypatch):
    """specs/rounding.md §Which linear-algebra path runs when: with every step forced to
    the "gram" path, and with every step forced to "qr", round obeys the bound, returns
    the dense error, keeps cores left-orthonormal, and the two paths agree on the ranks."""
    from tt_ref.tt import _linalg
    from tt_ref.tt import _rounding as rounding

    rng = np.random.default_rng(21)
    shape = (4, 5, 3, 4, 3)
    ranks = [1, 4, 6, 6, 3, 1]
    # A sum-like tensor with a decaying spectrum, so eps actually truncates.
    cores = [rng.standard_normal((ranks[j], n, ranks[j + 1])) * (0.3 ** np.arange(ranks[j + 1]))[None, None, :]
             for j, n in enumerate(shape)]
    tt = TensorTrain([to_xp(c, xp, dtype) for c in cores])
    ref = dense(tt)
    unit = eps_of(dtype)
    results = {}
    real = _linalg.truncated_svd
    for path in ("gram", "qr"):
        if dtype == "float32" and path == "gram" and kwargs.get("eps") == 1e-9:
            continue  # below the float32 Gram resolution: auto would never take it
        monkeypatch.setattr(rounding, "truncated_svd", lambda *a, _p=path, **k: real(*a, **{**k, "path": _p}))
        rounded, err = tt_round(tt, return_error=True, **kwargs)
        dense_err = rel_err(dense(rounded), ref)
        assert abs(err - dense_err) <= 100 * unit
        if "max_rank" not in kwargs:
            assert dense_err <= kwargs["eps"] + 100 * unit
        else:
            assert max(rounded.ranks) <= kwargs["max_rank"]
        for core in rounded.cores[:-1]:
            g = to_np(core).astype(np.float64).reshape(-1, core.shape[-1])
            assert np.linalg.norm(g.T @ g - np.eye(g.shape[1])) <= 100 * unit
        results[path] = rounded.ranks
    if len(results) == 2:
        assert results["gram"] == results["qr"]


def test_round_of_a_cancelling_sum(xp, dtype):
    """specs/rounding.md §Guarantees: a - a + b rounds to b's ranks within the bound
    (the right interfaces are rank-deficient; the R-factor sweep must not break)."""
    rng = np.random.default_rng(30)
    shape = (3, 4, 4, 3)
    ranks = [1, 3, 3, 3, 1]
    a = TensorTrain([to_xp(rng.standard_normal((ranks[j], n, ranks[j + 1])), xp, dtype) for j, n in enumerate(shape)])
    b = TensorTrain([to_xp(rng.standard_normal((ranks[j], n, ranks[j + 1])), xp, dtype) for j, n in enumerate(shape)])
    total = add(add(a, scale(a, -1.0)), b)
    rounded, err = tt_round(total, eps=1e-3, return_error=True)
    unit = eps_of(dtype)
    ref = dense(total)
    assert abs(err - rel_err(dense(rounded), ref)) <= 1000 * unit
    assert rel_err(dense(rounded), ref) <= 1e-3 + 1000 * unit
    assert max(rounded.ranks) <= 3


def test_exact_mode_ranks_may_differ_from_tt_svd():
    """specs/rounding.md §Guarantees: in exact mode, rounding and TT-SVD of the same tensor may
    keep different ranks (a rounding-level singular value lifted over the cut-off), both
    reconstructing the tensor to rounding; so exact-mode ranks are not a contract."""
    from tt_ref.tt._creation import random_tt
    from tt_ref.tt._evaluate import full
    from tt_ref.tt._svd import tt_svd

    differing = 0
    for seed in range(200):
        a = random_tt((4, 2, 1, 4), 2, seed=seed)
        dense = np.asarray(full(a))
        by_svd, by_round = tt_svd(dense), tt_round(a)
        for result in (by_svd, by_round):
            assert np.linalg.norm(np.asarray(full(result)) - dense) <= 1e-13 * np.linalg.norm(dense)
        differing += by_svd.ranks != by_round.ranks
    assert differing > 0
