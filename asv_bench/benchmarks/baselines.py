"""Baselines and quality measures: greedy coreset, TT-SVD baseline, SW distance, coverage error.

Sizes follow the compression runs (docs/results-compression.md): D = 50 (GloVe) and
D = 784 (MNIST), a few thousand to tens of thousands of rows.
"""

import numpy as np

from ._common import BACKENDS, namespace_or_skip, synchronize


def _data(xp, n, dim, seed=0):
    from tt_ref._backend import from_numpy

    return from_numpy(np.random.default_rng(seed).standard_normal((n, dim)), xp, dtype="float32")


class GreedyCoreset:
    """Farthest-first traversal: m GEMVs over N rows."""

    params = ([(10_000, 50, 200), (9_000, 784, 90)], BACKENDS)
    param_names = ["N, D, m", "backend"]

    def setup(self, shape, backend):
        self.xp = namespace_or_skip(backend)
        n, dim, self.m = shape
        self.X = _data(self.xp, n, dim)

    def time_greedy_k_center(self, shape, backend):
        from tt_ref.cloud._baselines import greedy_k_center

        greedy_k_center(self.X, self.m, seed=0)
        synchronize(self.xp)

    def peakmem_greedy_k_center(self, shape, backend):
        from tt_ref.cloud._baselines import greedy_k_center

        greedy_k_center(self.X, self.m, seed=0)


class TTSVDBaseline:
    """TT-SVD of the data reshaped to (n_1..n_k, D) and decoding of all rows."""

    params = ([(4096, 50), (9_000, 784)], BACKENDS)
    param_names = ["N, D", "backend"]

    def setup(self, shape, backend):
        self.xp = namespace_or_skip(backend)
        n, dim = shape
        self.X = _data(self.xp, n, dim)
        self.n_params = n * dim // 100

    def time_tt_svd_baseline(self, shape, backend):
        from tt_ref.cloud._baselines import compress

        compress(self.X, "tt_svd", self.n_params, seed=0)
        synchronize(self.xp)


class Quality:
    """SW distance (L = 128, unequal sizes) and coverage error between two sets."""

    params = ([(10_000, 20_000, 50), (1_000, 9_000, 784)], BACKENDS)
    param_names = ["n_test, m, D", "backend"]

    def setup(self, shape, backend):
        self.xp = namespace_or_skip(backend)
        n_test, m, dim = shape
        self.A = _data(self.xp, n_test, dim, seed=1)
        self.B = _data(self.xp, m, dim, seed=2)

    def time_sliced_wasserstein(self, shape, backend):
        from tt_ref.cloud._quality import sliced_wasserstein_distance

        sliced_wasserstein_distance(self.A, self.B, n_projections=128, seed=0)
        synchronize(self.xp)

    def time_coverage_error(self, shape, backend):
        from tt_ref.cloud._quality import coverage_error

        coverage_error(self.A, self.B)
        synchronize(self.xp)

    def peakmem_sliced_wasserstein(self, shape, backend):
        from tt_ref.cloud._quality import sliced_wasserstein_distance

        sliced_wasserstein_distance(self.A, self.B, n_projections=128, seed=0)
