"""TT-SVD and the truncated-SVD kernel (specs/tt_svd.md)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import eps_of, rel_err, to_np, to_xp
from tt_ref.tt import _linalg
from tt_ref.tt._linalg import truncated_svd
from tt_ref.tt._svd import tt_svd


# --------------------------------------------------------------------------- helpers
def dense(cores) -> np.ndarray:
    """Full tensor of TT cores, on the host in float64 (the reference)."""
    out = to_np(cores[0]).astype(np.float64)
    for core in cores[1:]:
        out = np.tensordot(out, to_np(core).astype(np.float64), axes=(-1, 0))
    return out.reshape(out.shape[1:-1])


def max_ranks(shape):
    """Largest possible TT ranks (the unfolding sizes)."""
    d = len(shape)
    return [1] + [min(math.prod(shape[: j + 1]), math.prod(shape[j + 1 :])) for j in range(d - 1)] + [1]


def random_tt_dense(rng, shape, ranks) -> np.ndarray:
    cores = [rng.standard_normal((ranks[j], n, ranks[j + 1])) for j, n in enumerate(shape)]
    return dense(cores)


def shapes(min_d=1, max_d=4, max_n=5):
    return st.lists(st.integers(1, max_n), min_size=min_d, max_size=max_d).map(tuple)


def assert_left_orthonormal(tt, tol):
    """specs/tt_svd.md §Guarantees: cores 1..d-1 have orthonormal left unfoldings."""
    for core in tt.cores[:-1]:
        g = to_np(core).astype(np.float64)
        mat = g.reshape(-1, g.shape[-1])
        assert np.linalg.norm(mat.T @ mat - np.eye(mat.shape[1])) <= tol


# --------------------------------------------------------------------------- properties
@given(data=st.data())
def test_exact_reconstruction(xp, dtype, data):
    """specs/tt_svd.md §Guarantees: eps=0 (and eps=None) reconstructs to rounding error."""
    shape = data.draw(shapes(), label="shape")
    seed = data.draw(st.integers(0, 2**32 - 1), label="seed")
    x = np.random.default_rng(seed).standard_normal(shape)
    eps = data.draw(st.sampled_from([0.0, None]), label="eps")
    tt, err = tt_svd(to_xp(x, xp, dtype), eps=eps, return_error=True)
    assert tt.dtype == to_xp(x, xp, dtype).dtype
    assert tt.shape == shape
    tol = 100 * eps_of(dtype)
    assert rel_err(dense(tt.cores), x.astype(dtype)) <= tol
    assert err <= tol
    assert all(r <= m for r, m in zip(tt.ranks, max_ranks(shape)))
    assert_left_orthonormal(tt, tol)


@given(data=st.data())
def test_eps_bound_and_max_rank(xp, dtype, data):
    """specs/tt_svd.md §Guarantees: ||x - TT|| <= eps ||x||, ranks <= max_rank, and the
    returned error equals the dense error."""
    shape = data.draw(shapes(min_d=2), label="shape")
    seed = data.draw(st.integers(0, 2**32 - 1), label="seed")
    eps = data.draw(st.sampled_from([1e-3, 0.01, 0.1, 0.3, 0.7]), label="eps")
    max_rank = data.draw(st.one_of(st.none(), st.integers(1, 4)), label="max_rank")
    rng = np.random.default_rng(seed)
    ranks = [min(r, 2) for r in max_ranks(shape)]
    x = random_tt_dense(rng, shape, ranks) + 0.05 * rng.standard_normal(shape)
    x_xp = to_xp(x, xp, dtype)
    ref = to_np(x_xp).astype(np.float64)
    tt, err = tt_svd(x_xp, eps=eps, max_rank=max_rank, return_error=True)
    dense_err = rel_err(dense(tt.cores), ref)
    unit = eps_of(dtype)
    assert abs(err - dense_err) <= 100 * unit
    if max_rank is None:
        assert dense_err <= eps + 100 * unit
    else:
        assert max(tt.ranks) <= max_rank
    assert_left_orthonormal(tt, 100 * unit)


@given(data=st.data())
def test_exact_ranks_recovered(xp, dtype, data):
    """specs/tt_svd.md §Guarantees: a tensor built with TT ranks r has ranks r back."""
    shape = data.draw(shapes(min_d=2, max_d=4, max_n=4).filter(lambda s: min(s) >= 2), label="shape")
    seed = data.draw(st.integers(0, 2**32 - 1), label="seed")
    bound = max_ranks(shape)
    ranks = [1] + [data.draw(st.integers(1, min(3, b)), label=f"r{j}") for j, b in enumerate(bound[1:-1])] + [1]
    # Ranks must be reachable on both sides of each bond to be the minimal ranks.
    for j in range(1, len(ranks) - 1):
        ranks[j] = min(ranks[j], ranks[j - 1] * shape[j - 1])
    for j in range(len(ranks) - 2, 0, -1):
        ranks[j] = min(ranks[j], ranks[j + 1] * shape[j])
    x = random_tt_dense(np.random.default_rng(seed), shape, ranks)
    x /= np.linalg.norm(x)
    tt = tt_svd(to_xp(x, xp, dtype))
    assert list(tt.ranks) == ranks
    assert rel_err(dense(tt.cores), x.astype(dtype)) <= 100 * eps_of(dtype)


@pytest.mark.parametrize("path", ["gram", "qr"])
@given(data=st.data())
def test_both_paths_hold_the_bound(xp, dtype, path, data):
    """specs/tt_svd.md §Which linear-algebra path runs when: each path, forced, obeys
    the bound and reports the dense error."""
    shape = data.draw(shapes(min_d=2, max_d=4, max_n=6), label="shape")
    seed = data.draw(st.integers(0, 2**32 - 1), label="seed")
    eps = data.draw(st.sampled_from([0.01, 0.1, 0.5]), label="eps")
    rng = np.random.default_rng(seed)
    x = random_tt_dense(rng, shape, [min(r, 3) for r in max_ranks(shape)]) + 0.02 * rng.standard_normal(shape)
    x_xp = to_xp(x, xp, dtype)
    tt, err = tt_svd(x_xp, eps=eps, return_error=True, _path=path)
    dense_err = rel_err(dense(tt.cores), to_np(x_xp))
    unit = eps_of(dtype)
    assert dense_err <= eps + 100 * unit
    assert abs(err - dense_err) <= 100 * unit
    assert_left_orthonormal(tt, 100 * unit)


@pytest.mark.parametrize("path", ["gram", "qr"])
@pytest.mark.parametrize("m,n", [(3, 40), (12, 12), (40, 5), (70, 90), (100, 70)])
def test_kernel_discarded_is_exact(xp, dtype, path, m, n):
    """specs/tt_svd.md §The kernel: left is orthonormal, right = left^T A, and the
    returned discarded square equals ||A - left right||^2 (wide, square and tall)."""
    rng = np.random.default_rng(m * 1000 + n)
    a_np = rng.standard_normal((m, 4)) @ rng.standard_normal((4, n)) + 1e-2 * rng.standard_normal((m, n))
    a = to_xp(a_np, xp, dtype)
    norm = float(np.linalg.norm(to_np(a).astype(np.float64)))
    delta = 0.05 * norm
    left, right, disc = truncated_svd(a, delta=delta, xp=xp, path=path)
    ref = to_np(a).astype(np.float64)
    residual = np.linalg.norm(ref - to_np(left).astype(np.float64) @ to_np(right).astype(np.float64))
    unit = eps_of(dtype)
    assert abs(math.sqrt(disc) - residual) <= 100 * unit * norm
    assert residual <= delta + 100 * unit * norm
    signal_rank = min(4, m, n)
    assert left.shape[1] == signal_rank  # the rank-4 signal kept, the noise discarded
    gram = to_np(left).astype(np.float64).T @ to_np(left).astype(np.float64)
    assert np.linalg.norm(gram - np.eye(signal_rank)) <= 100 * unit


def test_auto_path_rule(monkeypatch):
    """specs/tt_svd.md §Which linear-algebra path runs when: gram iff delta >=
    GRAM_MARGIN * sqrt(unit) * ||A||_F; with a binding max_rank and no usable delta,
    gram if the kept spectrum is resolvable (else qr); qr for delta = 0 otherwise."""
    import array_api_compat.numpy as xp

    calls = []
    monkeypatch.setattr(_linalg, "_gram_path", lambda *a, **k: calls.append("gram") or _real_gram(*a, **k))
    monkeypatch.setattr(_linalg, "_qr_path", lambda *a, **k: calls.append("qr") or _real_qr(*a, **k))
    rng = np.random.default_rng(0)
    a = rng.standard_normal((4, 50))
    norm = float(np.linalg.norm(a))
    threshold = _linalg.GRAM_MARGIN * math.sqrt(np.finfo(np.float64).eps) * norm
    truncated_svd(a, delta=1.01 * threshold, xp=xp)
    assert calls == ["gram"]
    calls.clear()
    truncated_svd(a, delta=0.99 * threshold, xp=xp)
    assert calls == ["qr"]
    calls.clear()
    truncated_svd(a, delta=0.0, xp=xp)
    assert calls == ["qr"]
    calls.clear()
    truncated_svd(a, delta=0.0, max_rank=2, xp=xp)  # well-conditioned top 2: gram
    assert calls == ["gram"]
    calls.clear()
    # Singular values 1 and 1e-9: the second is below the Gram's resolution -> qr.
    u, _ = np.linalg.qr(rng.standard_normal((4, 2)))
    v, _ = np.linalg.qr(rng.standard_normal((50, 2)))
    ill = u @ np.diag([1.0, 1e-9]) @ v.T + 1e-12 * rng.standard_normal((4, 50))
    left, right, disc = truncated_svd(ill, delta=0.0, max_rank=2, xp=xp)
    assert calls == ["gram", "qr"]
    assert abs(math.sqrt(disc) - np.linalg.norm(ill - left @ right)) <= 1e-14


_real_gram = _linalg._gram_path
_real_qr = _linalg._qr_path


def test_deterministic_and_same_on_backends(xp, dtype):
    """specs/tt_svd.md §Determinism: repeated calls give identical cores; the signs are
    fixed, so numpy and array_api_strict agree to rounding."""
    rng = np.random.default_rng(7)
    x = random_tt_dense(rng, (3, 4, 5, 3), [1, 3, 3, 2, 1]) + 1e-3 * rng.standard_normal((3, 4, 5, 3))
    x_xp = to_xp(x, xp, dtype)
    first, second = tt_svd(x_xp, eps=0.01), tt_svd(x_xp, eps=0.01)
    for a, b in zip(first.cores, second.cores):
        assert np.array_equal(to_np(a), to_np(b))
    reference = tt_svd(x.astype(dtype), eps=0.01)
    assert first.ranks == reference.ranks
    for a, b in zip(first.cores, reference.cores):
        assert rel_err(a, b) <= 1000 * eps_of(dtype)


def test_zero_tensor_and_vectors(xp, dtype):
    """specs/tt_svd.md §Edge cases: zero tensor -> rank-1 zero TT with error 0; d = 1."""
    zero = to_xp(np.zeros((3, 4, 2)), xp, dtype)
    tt, err = tt_svd(zero, eps=0.1, return_error=True)
    assert tt.ranks == (1, 1, 1, 1) and err == 0.0
    assert np.all(dense(tt.cores) == 0)
    vec = to_xp(np.arange(1.0, 6.0), xp, dtype)
    tt = tt_svd(vec, eps=0.5)
    assert tt.ranks == (1, 1) and np.array_equal(dense(tt.cores), np.arange(1.0, 6.0))
    host = np.arange(1.0, 4.0)
    tt = tt_svd(host)
    host[0] = 7.0  # the tensor train must not share memory with the input
    assert np.array_equal(dense(tt.cores), np.arange(1.0, 4.0))


def test_integer_input_is_cast(xp):
    """specs/tt_svd.md §Input: integer arrays are cast to float64."""
    x = xp.reshape(xp.arange(24), (2, 3, 4))
    tt = tt_svd(x)
    assert tt.dtype == xp.float64
    assert rel_err(dense(tt.cores), np.arange(24.0).reshape(2, 3, 4)) <= 100 * eps_of("float64")


def test_agrees_with_teneva(xp, dtype):
    """specs/tt_svd.md §Cross-check: same ranks as teneva.svd with the same per-step
    threshold, and an error no larger (teneva splits sqrt(S) to both factors, so its
    later steps see a different matrix and its errors do not add up exactly)."""
    teneva = pytest.importorskip("teneva")
    for seed in range(4):
        rng = np.random.default_rng(seed)
        shape = tuple(int(n) for n in rng.integers(2, 6, size=4))
        ranks = [min(r, 3) for r in max_ranks(shape)]
        x = random_tt_dense(rng, shape, ranks)
        x = x / np.linalg.norm(x) + 1e-4 * rng.standard_normal(shape) / math.sqrt(x.size)
        eps = 1e-2
        tt, err = tt_svd(to_xp(x, xp, dtype), eps=eps, return_error=True)
        delta = eps / math.sqrt(len(shape) - 1) * np.linalg.norm(x)
        ref = teneva.svd(x, e=delta)
        assert list(tt.ranks) == [1] + [c.shape[2] for c in ref]
        ref_err = rel_err(dense(ref), x)
        assert err <= ref_err * (1 + 1e-3) + 100 * eps_of(dtype)
        assert err <= eps and ref_err <= eps


# --------------------------------------------------------------------------- bad input
def test_bad_input(xp):
    """specs/tt_svd.md §Input: clear errors naming the argument."""
    x = to_xp(np.ones((2, 3)), xp)
    with pytest.raises(ValueError, match="eps"):
        tt_svd(x, eps=-0.1)
    with pytest.raises(ValueError, match="eps"):
        tt_svd(x, eps=float("nan"))
    with pytest.raises(TypeError, match="eps"):
        tt_svd(x, eps="0.1")
    with pytest.raises(ValueError, match="max_rank"):
        tt_svd(x, max_rank=0)
    with pytest.raises(TypeError, match="max_rank"):
        tt_svd(x, max_rank=1.5)
    with pytest.raises(ValueError, match="x contains NaN or inf"):
        tt_svd(to_xp(np.array([[1.0, np.nan]]), xp))
    with pytest.raises(ValueError, match="x contains NaN or inf"):
        tt_svd(to_xp(np.array([[1.0, np.inf]]), xp))
    with pytest.raises(ValueError, match="x must not have a zero-size dimension"):
        tt_svd(to_xp(np.ones((2, 0, 3)), xp))
    with pytest.raises(ValueError, match="x must have at least 1 dimension"):
        tt_svd(to_xp(np.array(1.0), xp))
    with pytest.raises(TypeError, match="x"):
        tt_svd([[1.0, 2.0]])


def test_bad_dtype():
    """specs/tt_svd.md §Input: complex input is rejected, naming x."""
    with pytest.raises(TypeError, match="x must have a real floating dtype"):
        tt_svd(np.ones((2, 2), dtype=np.complex128))


def test_kernel_rejects_unknown_path():
    """specs/tt_svd.md §The kernel: path is one of auto, gram, qr."""
    import array_api_compat.numpy as xp

    with pytest.raises(ValueError, match="path"):
        truncated_svd(np.ones((2, 2)), xp=xp, path="lapack")
