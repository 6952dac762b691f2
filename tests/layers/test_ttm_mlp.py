"""The digits MLP trained with the layers' own backward (specs/ttm_layer.md §Demonstration)."""

from __future__ import annotations

import numpy as np
import pytest

from tt_ref.layers._mlp import train_mlp


@pytest.fixture(scope="module")
def digits():
    datasets = pytest.importorskip("sklearn.datasets")
    data = datasets.load_digits()
    x, y = data.data / 16.0, data.target.astype(np.int64)
    return x[:600], y[:600], x[600:900], y[600:900]


def test_ttm_network_learns(digits):
    """A rank-4 TT-matrix network with 2 % of the dense hidden parameters learns the digits."""
    result = train_mlp(*digits, rank=4, epochs=8, seed=0, dtype="float64")
    assert result.losses[-1] < 0.5 * result.losses[0]
    assert result.test_accuracy > 0.8 and result.hidden_params < 0.05 * (64 * 256 + 256 * 256)


def test_backends_agree(digits):
    """One seed gives the same training on numpy and array_api_strict (up to rounding)."""
    x, y, xt, yt = (a[:200] for a in digits)
    a = train_mlp(x, y, xt, yt, rank=2, epochs=2, seed=1, dtype="float64", backend="numpy")
    b = train_mlp(x, y, xt, yt, rank=2, epochs=2, seed=1, dtype="float64", backend="array_api_strict")
    assert np.allclose(a.losses, b.losses, rtol=1e-10) and a.test_accuracy == b.test_accuracy
