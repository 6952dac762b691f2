"""Compression baselines, quality measures and exact search.

Sizes follow the compression runs (docs/results-compression.md): D = 50 (GloVe) and
D = 784 (MNIST), a few thousand to tens of thousands of rows, float32.
"""

import numpy as np

from ._common import BACKENDS, namespace_or_skip, synchronize


def _data(xp, n, dim, seed=0):
    return xp.asarray(np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32))


class GreedyCoreset:
    """Farthest-first traversal: m GEMVs over N rows."""

    params = ([(10_000, 50, 200), (9_000, 784, 90)], BACKENDS)
    param_names = ["N, D, m", "backend"]

    def setup(self, shape, backend):
        self.xp = namespace_or_skip(backend)
        n, dim, self.m = shape
        self.X = _data(self.xp, n, dim)

    def time_greedy_k_center(self, shape, backend):
        import tt_ref

        tt_ref.greedy_k_center(self.X, self.m, seed=0)
        synchronize(self.xp)

    def peakmem_greedy_k_center(self, shape, backend):
        import tt_ref

        tt_ref.greedy_k_center(self.X, self.m, seed=0)


class Compress:
    """compress() at 1% of the numbers with the non-fitted methods (the TT fit: point_cloud.Fit)."""

    params = ([(4096, 50), (9_000, 784)], ["tt_svd", "coreset", "random"], BACKENDS)
    param_names = ["N, D", "method", "backend"]

    def setup(self, shape, method, backend):
        self.xp = namespace_or_skip(backend)
        n, dim = shape
        self.X = _data(self.xp, n, dim)
        self.n_params = n * dim // 100

    def time_compress(self, shape, method, backend):
        import tt_ref

        tt_ref.compress(self.X, method, self.n_params, seed=0)
        synchronize(self.xp)

    def peakmem_compress(self, shape, method, backend):
        import tt_ref

        tt_ref.compress(self.X, method, self.n_params, seed=0)


class Quality:
    """SW distance (L = 128, unequal sizes), coverage and inverse error between two sets."""

    params = ([(10_000, 20_000, 50), (1_000, 9_000, 784)], BACKENDS)
    param_names = ["n_test, m, D", "backend"]

    def setup(self, shape, backend):
        self.xp = namespace_or_skip(backend)
        n_test, m, dim = shape
        self.A = _data(self.xp, n_test, dim, seed=1)
        self.B = _data(self.xp, m, dim, seed=2)

    def time_sliced_wasserstein(self, shape, backend):
        import tt_ref

        tt_ref.sliced_wasserstein_distance(self.A, self.B, n_projections=128, seed=0)
        synchronize(self.xp)

    def time_coverage_error(self, shape, backend):
        import tt_ref

        tt_ref.coverage_error(self.A, self.B)
        synchronize(self.xp)

    def time_inverse_error(self, shape, backend):
        import tt_ref

        tt_ref.inverse_error(self.B, self.A)
        synchronize(self.xp)

    def peakmem_sliced_wasserstein(self, shape, backend):
        import tt_ref

        tt_ref.sliced_wasserstein_distance(self.A, self.B, n_projections=128, seed=0)


class ExactSearch:
    """nearest_neighbors: k = 10 of 1,000 queries among N base rows (chunked GEMM + top-k)."""

    params = ([(20_000, 50), (100_000, 50), (9_000, 784)], BACKENDS)
    param_names = ["N, D", "backend"]
    timeout = 120

    def setup(self, shape, backend):
        self.xp = namespace_or_skip(backend)
        n, dim = shape
        self.base = _data(self.xp, n, dim, seed=0)
        self.queries = _data(self.xp, 1000, dim, seed=1)

    def time_nearest_neighbors(self, shape, backend):
        import tt_ref

        tt_ref.nearest_neighbors(self.queries, self.base, 10)
        synchronize(self.xp)

    def peakmem_nearest_neighbors(self, shape, backend):
        import tt_ref

        tt_ref.nearest_neighbors(self.queries, self.base, 10)
