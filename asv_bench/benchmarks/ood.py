"""Anomaly detection: kNN scoring against a memory bank, and building compressed banks.

Sizes are those of the anomaly runs (docs/results-ood.md): banks of a few thousand
rows of D = 64 (digits) and D = 784 (MNIST). The AUROC of a TT bank at 100x is tracked
in ``quality.AnomalyQuality``.
"""

from ._common import BACKENDS, kth_distances, namespace_or_skip, synchronize
from .point_cloud import clustered


class KNNScore:
    """KNNDetector(k).fit(bank) and the k-th neighbour distance of 2,000 queries."""

    params = ([(1_800, 64), (5_000, 784)], [1, 5], BACKENDS)
    param_names = ["bank N, D", "k", "backend"]

    def setup(self, shape, k, backend):
        import tt_ref

        self.xp = namespace_or_skip(backend)
        n, dim = shape
        self.detector = tt_ref.KNNDetector(k=k).fit(self.xp.asarray(clustered(n, dim)))
        self.queries = self.xp.asarray(clustered(2_000, dim, seed=1))

    def time_kth_distance(self, shape, k, backend):
        kth_distances(self.detector, self.queries)
        synchronize(self.xp)

    def peakmem_kth_distance(self, shape, k, backend):
        kth_distances(self.detector, self.queries)


class BuildBank:
    """build_bank at 100x compression with the point-set kinds (the TT bank: point_cloud.Fit)."""

    params = ([(1_800, 64), (5_000, 784)], ["coreset", "random"], BACKENDS)
    param_names = ["N, D", "kind", "backend"]

    def setup(self, shape, kind, backend):
        self.xp = namespace_or_skip(backend)
        n, dim = shape
        self.X = self.xp.asarray(clustered(n, dim))
        self.n_params = n * dim // 100

    def time_build_bank(self, shape, kind, backend):
        import tt_ref

        tt_ref.build_bank(self.X, kind, self.n_params, seed=0)
        synchronize(self.xp)
