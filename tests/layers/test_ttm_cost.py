"""The cost model counts exactly the kernels' multiply-adds, and the memory bounds hold
(specs/ttm_layer.md §Cost model, §Memory)."""

from __future__ import annotations

import math
import tracemalloc

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from helpers import to_np
from ttm_test_helpers import dense_reference, layer_specs, random_layer
from tt_ref.layers import ttm_linear_backward, ttm_linear_forward
from tt_ref.layers import _contract as kernels
from tt_ref.layers import _cost as cost


class CountingNumpy:
    """NumPy's namespace with ``tensordot`` and ``matmul`` counting multiply-adds."""

    def __init__(self):
        import array_api_compat.numpy as xp

        self._xp, self.count = xp, 0

    def __getattr__(self, name):
        return getattr(self._xp, name)

    def tensordot(self, a, b, axes):
        summed = math.prod(a.shape[i] for i in axes[0])
        out = self._xp.tensordot(a, b, axes=axes)
        self.count += math.prod(out.shape) * summed
        return out


class CountedArray(np.ndarray):
    """An ndarray whose ``@`` adds its multiply-adds to a shared counter."""

    counter: CountingNumpy | None = None

    def __matmul__(self, other):
        out = np.matmul(np.asarray(self), np.asarray(other))
        CountedArray.counter.count += math.prod(out.shape) * self.shape[-1]
        return out.view(CountedArray)


def _counted(cores):
    return tuple(np.asarray(to_np(c)).view(CountedArray) for c in cores)


@given(spec=layer_specs(max_size=4, max_batch_dims=1))
def test_sweeps_do_the_counted_work(spec):
    """§Cost model: the left-to-right sweep costs ``B sum_k r_{k-1} r_k M_<=k N_>=k``; its
    adjoint twice that; the right-to-left one the same formula on the reversed train."""
    weight, x, _, grad = random_layer(*spec, np, "float64")
    x2, g2 = to_np(x).reshape(-1, weight.shape[1]), to_np(grad).reshape(-1, weight.shape[0])
    shapes = (weight.row_shape, weight.col_shape, weight.ranks)
    batch = x2.shape[0]
    xp = CountingNumpy()
    _, states = kernels.sweep_forward(x2, weight.cores, *shapes[:2], xp, keep_states=True)
    assert xp.count == cost.sweep_cost(*shapes, batch)
    xp.count = 0
    kernels.sweep_backward(g2, states, weight.cores, *shapes[:2], xp)
    assert xp.count == 2 * cost.sweep_cost(*shapes, batch)
    assert cost.forward_costs(*shapes, batch)["right_to_left"] == cost.sweep_cost(
        shapes[0][::-1], shapes[1][::-1], shapes[2][::-1], batch)


@given(spec=layer_specs(max_size=4, max_batch_dims=0))
def test_dense_matrix_and_core_gradients_do_the_counted_work(spec):
    """§Cost model: every split of the dense reconstruction costs what ``_split_parts`` says and
    gives the same matrix; ``dense_split`` takes the cheapest; the dense gradient's contraction
    with the cores costs ``gradient_cost``."""
    weight, _, _, _ = random_layer(*spec, np, "float64")
    shapes = (weight.row_shape, weight.col_shape, weight.ranks)
    xp = CountingNumpy()
    CountedArray.counter = xp
    reference = dense_reference(weight.cores)
    costs = []
    for split in range(weight.ndim + 1):
        xp.count = 0
        dense = kernels.dense_matrix(_counted(weight.cores), *shapes[:2], split, xp)
        costs.append(xp.count)
        assert xp.count == cost._split_parts(*shapes, split)[0]
        assert np.allclose(np.asarray(dense), reference, rtol=1e-12, atol=1e-12 * np.abs(reference).max())
    assert cost.dense_split(*shapes) == (costs.index(min(costs)), min(costs))
    xp.count = 0
    grad_w = np.random.default_rng(0).standard_normal(weight.shape)
    kernels.dense_gradient_to_cores(grad_w, weight.cores, *shapes[:2], xp)
    assert xp.count == cost.gradient_cost(*shapes)


@given(spec=layer_specs(max_size=5, max_rank=6, max_batch_dims=1), batch=st.integers(1, 300),
       path=st.sampled_from(cost.PATHS), saving=st.sampled_from(cost.SAVINGS))
def test_memory_bounds_hold(spec, batch, path, saving):
    """§Memory: ``saved`` is exactly what forward keeps; backward allocates at most
    ``backward_peak`` elements (tracemalloc sees NumPy's buffers) plus array headers."""
    row_shape, col_shape, ranks, _, seed = spec
    weight, x, bias, grad = random_layer(row_shape, col_shape, ranks, (batch,), seed, np, "float64")
    _, saved = ttm_linear_forward(x, weight, bias, path=path, saving=saving)
    bound = cost.memory_elements(row_shape, col_shape, ranks, batch, path, saving)
    assert saved.n_saved_elements == bound["saved"]
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        ttm_linear_backward(grad, saved)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    headers = 4096 * (len(row_shape) + 4)
    assert peak <= 8 * bound["backward_peak"] + headers, (peak / 8, bound)


def test_full_saving_keeps_the_states_and_lean_only_x():
    """§Memory, a worked example: (32, 64) in two cores, rank 2, batch 100."""
    weight, x, _, _ = random_layer((4, 8), (4, 16), (1, 2, 1), (100,), 0, np, "float64")
    _, full = ttm_linear_forward(x, weight, path="left_to_right")
    _, lean = ttm_linear_forward(x, weight, path="left_to_right", saving="lean")
    # x (100 * 64) and the state after core 1 (100 * 4 * 2 * 16)
    assert full.n_saved_elements == 6400 + 12800 and lean.n_saved_elements == 6400
