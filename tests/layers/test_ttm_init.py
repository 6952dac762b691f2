"""Shapes, ranks, parameter counts and initial weights of TT-matrix layers (specs/ttm_layer.md §Shapes,
§Initialisation)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import eps_of, rel_err, to_np, to_xp
from tt_ref import to_dense
from tt_ref.layers import (
    TTMLayerShape,
    factorize_dim,
    random_ttm_layer,
    ttm_layer_from_dense,
    ttm_layer_shape,
)


def _brute_force(n, d):
    """Every ascending d-tuple with product n, scored as factorize_dim documents."""
    divisors = [f for f in range(1, n + 1) if n % f == 0]
    target = math.log(n) / d
    best = None
    for combo in itertools.combinations_with_replacement(divisors, d):
        if math.prod(combo) == n:
            score = round(sum((math.log(f) - target) ** 2 for f in combo), 12)
            if best is None or score < best[0]:
                best = (score, combo)
    return best[1]


@given(n=st.integers(1, 400), d=st.integers(1, 4))
def test_factorize_dim_is_the_most_balanced(n, d):
    """§Shapes: d ascending factors of n, the most balanced, ties to the first ascending tuple."""
    factors = factorize_dim(n, d)
    assert len(factors) == d and math.prod(factors) == n and list(factors) == sorted(factors)
    assert factors == _brute_force(n, d)


def test_gpt2_worked_examples():
    """§Shapes: GPT-2 small's 768 and 3072 under both rules."""
    assert factorize_dim(768, 3) == (8, 8, 12) and factorize_dim(3072, 3) == (12, 16, 16)
    assert factorize_dim(768, 4) == (4, 4, 6, 8) and factorize_dim(3072, 4) == (6, 8, 8, 8)
    fc = ttm_layer_shape(768, 3072, 64, d=4)
    assert (fc.row_shape, fc.col_shape, fc.ranks) == ((6, 8, 8, 8), (4, 4, 6, 8), (1, 24, 64, 64, 1))
    assert fc.n_params == 250432 and fc.dense_params == 768 * 3072
    expected = {16: ((4, 4, 4, 4, 12), (4, 4, 4, 4, 3), 13120), 32: ((8, 8, 8, 6), (8, 8, 12, 1), 166080),
                64: ((8, 8, 8, 6), (8, 8, 12, 1), 659840), 72: ((16, 16, 12), (16, 16, 3), 1348128)}
    for rank, (rows, cols, params) in expected.items():
        g = ttm_layer_shape(768, 3072, rank, rule="greenal")
        assert (g.row_shape, g.col_shape, g.n_params) == (rows, cols, params)
        proj = ttm_layer_shape(3072, 768, rank, rule="greenal")
        assert proj.n_params == params and proj.n_in == 3072 and proj.n_out == 768
    assert ttm_layer_shape(768, 3072, 72, rule="greenal").ranks == (1, 72, 72, 1)


@given(n_in=st.integers(1, 300), n_out=st.integers(1, 300), rank=st.integers(1, 20), d=st.integers(1, 4))
def test_balanced_shapes_and_ranks(n_in, n_out, rank, d):
    """§Shapes: products match, ranks capped by the rank and both unfoldings, n_params = the cores' sizes."""
    s = ttm_layer_shape(n_in, n_out, rank, d=d)
    assert (s.n_in, s.n_out, len(s.row_shape), s.ranks[0], s.ranks[-1]) == (n_in, n_out, d, 1, 1)
    sizes = [m * n for m, n in zip(s.row_shape, s.col_shape)]
    for k in range(1, d):
        assert s.ranks[k] == min(rank, math.prod(sizes[:k]), math.prod(sizes[k:]))
    weight = random_ttm_layer(s, seed=0)
    assert weight.n_params == s.n_params and weight.shape == (n_out, n_in)
    assert s.compression == s.dense_params / s.n_params


@given(a=st.integers(0, 9), b=st.integers(0, 5), c=st.integers(0, 9), e=st.integers(0, 5),
       rank=st.integers(1, 80))
def test_greenal_rule(a, b, c, e, rank):
    """§Shapes: the paper's code's rule: products match, every core but the last reaches
    ``m_k n_k >= rank`` unless it ran out of pairs, ranks capped from the left only."""
    n_in, n_out = 2**a * 3**b, 2**c * 3**e
    s = ttm_layer_shape(n_in, n_out, rank, rule="greenal")
    assert (s.n_in, s.n_out) == (n_in, n_out)
    for m, n in zip(s.row_shape[:-1], s.col_shape[:-1]):
        assert m * n >= rank
    for k in range(1, len(s.row_shape)):
        assert s.ranks[k] == min(rank, s.ranks[k - 1] * s.row_shape[k - 1] * s.col_shape[k - 1])


def test_shape_errors():
    """§Errors."""
    with pytest.raises(ValueError, match="rule='greenal' needs n_in = 2\\^a 3\\^b"):
        ttm_layer_shape(10, 12, 4, rule="greenal")
    with pytest.raises(ValueError, match="d is derived"):
        ttm_layer_shape(12, 12, 4, d=2, rule="greenal")
    with pytest.raises(ValueError, match="rule must be one of"):
        ttm_layer_shape(12, 12, 4, rule="tucker")
    with pytest.raises(ValueError, match="rank must be an integer >= 1"):
        ttm_layer_shape(12, 12, 0)
    with pytest.raises(TypeError, match="n_in must be an integer"):
        ttm_layer_shape(12.0, 12, 2)
    with pytest.raises(TypeError, match="shape must be a TTMLayerShape"):
        random_ttm_layer((3, 4), seed=0)
    with pytest.raises(ValueError, match="init must be one of"):
        random_ttm_layer(ttm_layer_shape(4, 4, 2), init="zeros")
    with pytest.raises(ValueError, match="both row_shape and col_shape"):
        ttm_layer_from_dense(np.ones((4, 4)), row_shape=(2, 2))


@pytest.mark.parametrize("init,variance", [("glorot", 2 / (64 + 128)), ("he", 2 / 64), ("lecun", 1 / 64)])
def test_random_layer_variance(backend, dtype, init, variance):
    """§Initialisation: the dense weight's entries have mean 0 and the chosen variance. The
    entries of one draw are strongly correlated (few cores make many entries), so the mean of
    the squared entries is averaged over 60 seeds (standard error about 3 % here; bound 15 %).
    One seed gives bitwise the same cores on every backend."""
    shape = ttm_layer_shape(64, 128, 4)
    squares = [float(np.mean(to_np(to_dense(random_ttm_layer(shape, seed=s, init=init, dtype=dtype,
                                                               backend=backend))).astype(np.float64) ** 2))
               for s in range(60)]
    assert abs(np.mean(squares) / variance - 1) < 0.15
    weight = random_ttm_layer(shape, seed=3, init=init, dtype=dtype, backend=backend)
    on_numpy = random_ttm_layer(shape, seed=3, init=init, dtype=dtype)
    assert all(np.array_equal(to_np(a), to_np(b)) for a, b in zip(weight.cores, on_numpy.cores))
    assert weight.backend == backend and str(weight.dtype).endswith(dtype)


@given(seed=st.integers(0, 2**31 - 1), eps=st.sampled_from([0.5, 0.1, 1e-3]))
def test_from_dense_meets_eps(xp, dtype, seed, eps):
    """§Initialisation: ``ttm_layer_from_dense`` is ``ttm_svd`` with the balanced shapes:
    ``||A - W|| <= eps ||A||``."""
    rng = np.random.default_rng(seed)
    a = to_xp(rng.standard_normal((12, 18)), xp, dtype)
    weight, err = ttm_layer_from_dense(a, d=2, eps=eps, return_error=True)
    assert (weight.row_shape, weight.col_shape) == (factorize_dim(12, 2), factorize_dim(18, 2))
    assert rel_err(to_dense(weight), a) <= eps * (1 + 10 * eps_of(dtype)) + 100 * eps_of(dtype)
    capped = ttm_layer_from_dense(a, row_shape=(2, 6), col_shape=(6, 3), max_rank=2)
    assert capped.ranks == (1, 2, 1) and isinstance(ttm_layer_shape(18, 12, 2), TTMLayerShape)
