"""Layouts of other TT-matrix layer libraries: round trips, each library's documented
contraction reproduced independently, TensorLy itself (specs/ttm_layer.md §Layouts)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import to_np
from ttm_test_helpers import dense_reference, layer_specs, random_layer
from tt_ref import TTMatrix
from tt_ref.layers import TTM_LAYOUTS, ttm_from_layout, ttm_linear, ttm_to_layout


@given(spec=layer_specs(), layout=st.sampled_from(TTM_LAYOUTS))
def test_round_trips_are_exact(xp, dtype, spec, layout):
    """§Layouts: ``ttm_from_layout(ttm_to_layout(W, L), L)`` has bitwise W's cores."""
    weight, _, _, _ = random_layer(*spec, xp, dtype)
    if layout == "tednet" and weight.ndim < 2:
        with pytest.raises(ValueError, match="needs d >= 2"):
            ttm_to_layout(weight, layout)
        return
    back = ttm_from_layout(ttm_to_layout(weight, layout), layout)
    assert isinstance(back, TTMatrix) and back.backend == weight.backend
    for a, b in zip(back.cores, weight.cores):
        assert tuple(a.shape) == tuple(b.shape) and np.array_equal(to_np(a), to_np(b))


def _in_out_layer(cores, x):
    """t3f / tntorch / the paper's code: cores (r, in_k, out_k, r'), ``y = x @ W`` with
    ``W[(j), (i)]`` (n_in, n_out) from one einsum, as their full-matrix code builds it."""
    as_out_in = [np.transpose(c, (0, 2, 1, 3)) for c in cores]
    return x @ dense_reference(as_out_in).T


def _tednet_layer(cores, x):
    """tednet ``TTLinear.tn_contract``: x viewed as (b, in_1..in_d), then tensordot with node 0
    over in_1, and with node k over (in_{k+1}, the last rank), reshaped to (b, n_out)."""
    d = len(cores)
    res = x.reshape((x.shape[0],) + tuple(c.shape[0] for c in cores))
    res = np.tensordot(res, cores[0], axes=([1], [0]))
    for k in range(1, d):
        res = np.tensordot(res, cores[k], axes=([1, res.ndim - 1], [0, 2]))
    return res.reshape(x.shape[0], -1)


@given(spec=layer_specs(max_batch_dims=1), layout=st.sampled_from(TTM_LAYOUTS))
def test_each_layout_computes_the_same_layer(spec, layout):
    """§Layouts: the converted cores, used the way their library uses them, give ``x W^T``."""
    weight, x, _, _ = random_layer(*spec, np, "float64")
    x2 = x.reshape(-1, weight.shape[1])
    ref = to_np(ttm_linear(x2, weight))
    if layout == "tednet" and weight.ndim < 2:
        return
    theirs = [to_np(c) for c in ttm_to_layout(weight, layout)]
    if layout in ("tt_ref", "tensorly"):
        got = x2 @ dense_reference(theirs).T
    elif layout == "tednet":
        got = _tednet_layer(theirs, x2)
    else:
        got = _in_out_layer(theirs, x2)
    assert np.allclose(got, ref, rtol=1e-12, atol=1e-12 * max(1.0, np.abs(ref).max()))


@given(spec=layer_specs(max_batch_dims=0))
def test_tensorly_tt_matrix_agrees(spec):
    """§Layouts: TensorLy's own ``tt_matrix_to_matrix`` of the "tensorly" cores is ``to_dense(W)``
    (TensorLy-Torch's BlockTT layers use this format and ``F.linear``)."""
    tt_matrix = pytest.importorskip("tensorly.tt_matrix")
    weight, _, _, _ = random_layer(*spec, np, "float64")
    cores = [to_np(c) for c in ttm_to_layout(weight, "tensorly")]
    theirs = tt_matrix.tt_matrix_to_matrix(cores)
    assert np.allclose(theirs, dense_reference(weight.cores), rtol=1e-12, atol=1e-12)


def test_layout_errors():
    """§Errors."""
    weight, _, _, _ = random_layer((2, 3), (3, 2), (1, 2, 1), (2,), 0, np, "float64")
    with pytest.raises(ValueError, match="layout must be one of"):
        ttm_to_layout(weight, "torch")
    with pytest.raises(TypeError, match="weight must be a TTMatrix"):
        ttm_to_layout(weight.cores, "t3f")
    with pytest.raises(ValueError, match=r"cores\[0\] must have 3 dimensions in layout 'tednet'"):
        ttm_from_layout(weight.cores, "tednet")
    with pytest.raises(ValueError, match="needs d >= 2"):
        ttm_from_layout([np.ones((2, 3, 1))], "tednet")
    with pytest.raises(TypeError, match="non-empty sequence"):
        ttm_from_layout([], "t3f")
    with pytest.raises(ValueError, match="rank mismatch"):
        ttm_from_layout([np.ones((1, 2, 2, 2)), np.ones((3, 2, 2, 1))], "t3f")
