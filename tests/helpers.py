"""Test helpers shared by the test modules (imported directly, never from ``conftest``).

Host-side conversions, ``eps`` of a dtype, relative errors, and NumPy float64 references
for the TT tests that are independent of tt_ref's own code paths.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st


def to_xp(array, xp, dtype=None):
    """Build data with NumPy, transfer once."""
    array = np.asarray(array)
    if dtype is not None:
        array = array.astype(dtype)
    return xp.asarray(array)


def to_np(array) -> np.ndarray:
    from tt_ref._backend import to_numpy

    return np.asarray(to_numpy(array))


def eps_of(dtype) -> float:
    return float(np.finfo(np.dtype(str(dtype).rsplit(".", 1)[-1])).eps)


def rel_err(actual, reference) -> float:
    """``||actual - reference|| / ||reference||`` on the host in float64."""
    a = to_np(actual).astype(np.float64)
    r = to_np(reference).astype(np.float64)
    denom = np.linalg.norm(r)
    return float(np.linalg.norm(a - r) / (denom if denom > 0 else 1.0))

def dense_from_cores(cores) -> np.ndarray:
    """Full tensor of TT cores in float64 on the host, by a plain matrix-product loop."""
    cores = [to_np(c).astype(np.float64) for c in cores]
    result = np.ones((1, 1))
    for core in cores:
        result = (result @ core.reshape(core.shape[0], -1)).reshape(-1, core.shape[2])
    return result.reshape([c.shape[1] for c in cores])


def abs_dense_from_cores(cores) -> np.ndarray:
    """``|G_1| ... |G_d|``: bounds the rounding error of any evaluation order."""
    return dense_from_cores([np.abs(to_np(c)) for c in cores])


def bound(dtype_eps: float, cores, factor: float = 10.0) -> float:
    """Floating-point error scale ``factor * d * max_rank * eps`` of a core-product."""
    d = len(cores)
    max_rank = max(int(c.shape[-1]) for c in cores)
    return factor * (d + 1) * (max_rank + 1) * dtype_eps


@st.composite
def tt_specs(draw, max_ndim: int = 4, max_size: int = 4, max_rank: int = 3):
    """(shape, inner ranks, seed) for a small random TT."""
    d = draw(st.integers(1, max_ndim))
    shape = tuple(draw(st.lists(st.integers(1, max_size), min_size=d, max_size=d)))
    ranks = tuple(draw(st.lists(st.integers(1, max_rank), min_size=d - 1, max_size=d - 1)))
    seed = draw(st.integers(0, 2**31 - 1))
    return shape, ranks, seed


def point_cloud_configs(*, max_dim: int, max_mode: int, max_levels: int, max_rank: int, max_batch: int):
    """Hypothesis strategy of ``(D, mode_sizes, max_rank, batch, seed)`` for random point-cloud cores."""
    return st.tuples(
        st.integers(1, max_dim),
        st.lists(st.integers(1, max_mode), min_size=1, max_size=max_levels),
        st.integers(1, max_rank),
        st.integers(1, max_batch),
        st.integers(0, 2**31 - 1),
    )


def random_point_cloud_cores(rng, dim: int, mode_sizes, max_rank: int) -> list[np.ndarray]:
    """Float64 point-cloud cores ``(D, n_1, r_1), ..., (r_{k-1}, n_k, 1)`` with random ranks up to ``max_rank``."""
    ranks = [int(rng.integers(1, max_rank + 1)) for _ in mode_sizes[1:]]
    left, right = [dim] + ranks, ranks + [1]
    return [rng.normal(size=(a, n, b)) for a, n, b in zip(left, mode_sizes, right)]
