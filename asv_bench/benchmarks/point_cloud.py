"""TT point clouds: decoding, centroids, fitting, k-means.

Configurations are what ``config_for_budget`` picks for the compression runs
(docs/guide-point-clouds.md): MNIST at 1% (D = 784, modes (6, 11, 11, 11), ranks
(14, 14, 11)) and GloVe-50 at 1% (D = 50, modes (12, 13, 13, 13, 13), ranks
(73, 73, 73, 13)), float32, batch 1024 (the fit default). The fit is timed over 20
steps on synthetic clustered data of the configuration's dimension, so the figure is
about 20 fit steps (the set-up of a fit is small beside them).
"""

import numpy as np

from ._common import BACKENDS, namespace_or_skip, synchronize

CONFIGS = {
    "mnist-1%": (784, (6, 11, 11, 11), (14, 14, 11)),
    "glove-1%": (50, (12, 13, 13, 13, 13), (73, 73, 73, 13)),
}
FIT_STEPS = 20


def clustered(n, dim, seed=0):
    """Host float32 data: 64 Gaussian clusters (like embeddings, unlike white noise)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((64, dim))
    return (centres[rng.integers(0, 64, n)] + 0.5 * rng.standard_normal((n, dim))).astype(np.float32)


class _CloudCase:
    params = (list(CONFIGS), BACKENDS)
    param_names = ["config", "backend"]

    def setup(self, config, backend):
        import tt_ref

        self.xp = namespace_or_skip(backend)
        dim, modes, ranks = CONFIGS[config]
        self.cloud = tt_ref.TTPointCloud.random(dim, modes, ranks, seed=0, dtype="float32", backend=backend)
        rng = np.random.default_rng(0)
        self.flat = self.xp.asarray(rng.integers(0, self.cloud.n_points, size=1024))


class Decode(_CloudCase):
    """decode() of 1024 flat indices (validation included) and the first chunk of all points."""

    def time_decode_batch(self, config, backend):
        self.cloud.decode(self.flat)
        synchronize(self.xp)

    def time_points_first_chunk(self, config, backend):
        next(self.cloud.points(chunk=65536))
        synchronize(self.xp)


class Centroids(_CloudCase):
    """Centroids of the second level (factorized suffix means)."""

    def time_centroids_level2(self, config, backend):
        self.cloud.centroids(2)
        synchronize(self.xp)


class Fit:
    """fit_point_cloud for 20 steps from a random start (batch 1024, 64 directions)."""

    params = (list(CONFIGS), BACKENDS)
    param_names = ["config", "backend"]
    timeout = 300

    def setup(self, config, backend):
        self.xp = namespace_or_skip(backend)
        self.dim, self.modes, self.ranks = CONFIGS[config]
        self.X = self.xp.asarray(clustered(8192, self.dim))

    def _fit(self):
        import tt_ref

        return tt_ref.fit_point_cloud(self.X, self.modes, self.ranks, steps=FIT_STEPS, init="random",
                                      progress=False, seed=0)

    def time_fit_20_steps(self, config, backend):
        self._fit()
        synchronize(self.xp)

    def peakmem_fit_20_steps(self, config, backend):
        self._fit()


class KMeans:
    """tt_ref.kmeans: the Array API k-means of the 'kmeans' initialization (20 iterations)."""

    params = ([(20_000, 50, 12), (9_000, 784, 6)], BACKENDS)
    param_names = ["N, D, k", "backend"]

    def setup(self, shape, backend):
        self.xp = namespace_or_skip(backend)
        n, dim, self.k = shape
        self.X = self.xp.asarray(clustered(n, dim))

    def time_kmeans(self, shape, backend):
        import tt_ref

        tt_ref.kmeans(self.X, self.k, n_iter=20, seed=0)
        synchronize(self.xp)

    def peakmem_kmeans(self, shape, backend):
        import tt_ref

        tt_ref.kmeans(self.X, self.k, n_iter=20, seed=0)
