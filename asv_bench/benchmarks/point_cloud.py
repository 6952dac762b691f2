"""TT point clouds: decoding, one fit step (losses + cores gradient + Adam), centroids, k-means init.

Configurations are what ``config_for_budget`` picks for the compression runs
(docs/guide-point-clouds.md): MNIST at 1% (D = 784, modes (6, 11, 11, 11), ranks
(14, 14, 11)) and GloVe-50 at 1% (D = 50, modes (12, 13, 13, 13, 13), ranks
(73, 73, 73, 13)), float32, batch 1024 (the fit default).
"""

import numpy as np

from ._common import BACKENDS, namespace_or_skip, synchronize

CONFIGS = {
    "mnist-1%": (784, (6, 11, 11, 11), (14, 14, 11)),
    "glove-1%": (50, (12, 13, 13, 13, 13), (73, 73, 73, 13)),
}


class _CloudCase:
    params = (list(CONFIGS), BACKENDS)
    param_names = ["config", "backend"]

    def setup(self, config, backend):
        from tt_ref._backend import backend_name, from_numpy
        from tt_ref.cloud._point_cloud import TTPointCloud, _sample_multi

        self.xp = namespace_or_skip(backend)
        dim, modes, ranks = CONFIGS[config]
        self.cloud = TTPointCloud.random(dim, modes, ranks, seed=0, dtype="float32", backend=backend_name(self.xp))
        rng = np.random.default_rng(0)
        self.batch = 1024
        self.multi = _sample_multi(rng, modes, self.batch, self.xp)
        self.flat = self.xp.asarray(rng.integers(0, self.cloud.n_points, size=self.batch))
        self.data = from_numpy(rng.standard_normal((self.batch, dim)), self.xp, dtype="float32")
        theta = rng.standard_normal((dim, 64))
        self.directions = from_numpy(theta / np.linalg.norm(theta, axis=0), self.xp, dtype="float32")


class Decode(_CloudCase):
    """decode() of 1024 flat indices (validation included) and a chunk of all points."""

    def time_decode_batch(self, config, backend):
        self.cloud.decode(self.flat)
        synchronize(self.xp)

    def time_points_first_chunk(self, config, backend):
        next(self.cloud.points(chunk=65536))
        synchronize(self.xp)


class FitStep(_CloudCase):
    """One fit step: decode, SW + both NN terms, cores gradient, Adam update."""

    def setup(self, config, backend):
        super().setup(config, backend)
        from tt_ref.cloud._optim import adam_init

        self.state = adam_init(self.cloud.cores)

    def time_fit_step(self, config, backend):
        from tt_ref.cloud._fit import _losses_and_grad
        from tt_ref.cloud._optim import adam_step

        _, _, grads = _losses_and_grad(self.cloud.cores, self.data, self.multi, self.directions, 1.0, 0.1, self.xp)
        adam_step(self.cloud.cores, grads, self.state, lr=0.01)
        synchronize(self.xp)

    def peakmem_fit_step(self, config, backend):
        from tt_ref.cloud._fit import _losses_and_grad

        _losses_and_grad(self.cloud.cores, self.data, self.multi, self.directions, 1.0, 0.1, self.xp)


class Centroids(_CloudCase):
    """Centroids of the second level (factorized suffix means)."""

    def time_centroids_level2(self, config, backend):
        self.cloud.centroids(2)
        synchronize(self.xp)


class KMeansInit:
    """The Array API k-means used by the 'kmeans' initialization (n_1 centres, 20 iterations)."""

    params = ([(20_000, 50, 12), (9_000, 784, 6)], BACKENDS)
    param_names = ["N, D, k", "backend"]

    def setup(self, shape, backend):
        from tt_ref._backend import from_numpy

        self.xp = namespace_or_skip(backend)
        n, dim, self.k = shape
        self.X = from_numpy(np.random.default_rng(0).standard_normal((n, dim)), self.xp, dtype="float32")

    def time_kmeans(self, shape, backend):
        from tt_ref.cloud._kmeans import kmeans

        kmeans(self.X, self.k, n_iter=20, seed=0)
        synchronize(self.xp)
