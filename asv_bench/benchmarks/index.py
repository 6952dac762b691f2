"""TT ANN index: train (fit), add (bucket assignment, beam and exact) and search.

The index of the add and search cases sits on a cloud fitted for 20 steps from a
random start (``setup_cache``, once per class), so its buckets are shaped like real
ones, unlike a random cloud's (one giant bucket).

Sizes: D = 50 (GloVe-like) with 20k and 100k base vectors, 1,000 queries; two levels,
about 24 vectors per leaf (mode sizes (16, 64) and (64, 64), rank 32, as ``tt-ref bench
ann`` picks them). Recall and work per query at fixed parameters are tracked in
``quality.IndexQuality``; the comparison with faiss and hnswlib on real data is
``tt-ref bench ann`` (docs/results-ann.md).
"""

import numpy as np

from ._common import BACKENDS, make_index, namespace_or_skip, synchronize
from .point_cloud import clustered

DIM = 50
CONFIGS = {20_000: ((16, 64), (32,)), 100_000: ((64, 64), (32,))}


def _fitted_clouds():
    """Host cores of the fitted clouds (NumPy arrays pickle on every commit; older clouds did not)."""
    import tt_ref

    sample = clustered(20_000, DIM)
    clouds = {}
    for n_base, (modes, ranks) in CONFIGS.items():
        cloud = tt_ref.fit_point_cloud(sample, modes, ranks, steps=20, init="random", progress=False, seed=0).cloud
        clouds[n_base] = [np.asarray(core) for core in cloud.cores]
    return clouds


def _empty_index(cores, xp, assign="beam"):
    import tt_ref

    return tt_ref.TTIndex.from_point_cloud(tt_ref.TTPointCloud([xp.asarray(c) for c in cores]), assign=assign)


class Train:
    """TTIndex.train: the fit of the TT point cloud (200 steps, batch 1024) on 20k vectors."""

    params = ([20_000], BACKENDS)
    param_names = ["n_base", "backend"]
    timeout = 300

    def setup(self, n_base, backend):
        self.xp = namespace_or_skip(backend)
        self.X = self.xp.asarray(clustered(n_base, DIM))

    def time_train(self, n_base, backend):
        modes, ranks = CONFIGS[n_base]
        make_index(DIM, modes, ranks, {"steps": 200, "progress": False}).train(self.X)
        synchronize(self.xp)


class Add:
    """Bucket assignment of the base vectors into an empty index: beam search vs exact."""

    params = ([20_000, 100_000], ["beam", "exact"], BACKENDS)
    param_names = ["n_base", "assign", "backend"]
    timeout = 300

    def setup_cache(self):
        return _fitted_clouds()

    def setup(self, clouds, n_base, assign, backend):
        self.xp = namespace_or_skip(backend)
        self.X = self.xp.asarray(clustered(n_base, DIM))
        self.index = _empty_index(clouds[n_base], self.xp, assign)

    def time_add(self, clouds, n_base, assign, backend):
        self.index.add(self.X)
        synchronize(self.xp)

    def peakmem_add(self, clouds, n_base, assign, backend):
        self.index.add(self.X)


class Search:
    """1,000 queries, k = 10, beam 32, swept candidate counts, both scan paths."""

    params = ([20_000, 100_000], [1000, 4000], ["lists", "gather"], BACKENDS)
    param_names = ["n_base", "n_candidates", "scan", "backend"]
    timeout = 300

    def setup_cache(self):
        return _fitted_clouds()

    def setup(self, clouds, n_base, n_candidates, scan, backend):
        self.xp = namespace_or_skip(backend)
        self.index = _empty_index(clouds[n_base], self.xp)
        self.index.add(self.xp.asarray(clustered(n_base, DIM)))
        self.Q = self.xp.asarray(clustered(1000, DIM, seed=1))

    def time_search(self, clouds, n_base, n_candidates, scan, backend):
        self.index.search(self.Q, 10, beam=32, n_candidates=n_candidates, scan=scan)
        synchronize(self.xp)

    def peakmem_search(self, clouds, n_base, n_candidates, scan, backend):
        self.index.search(self.Q, 10, beam=32, n_candidates=n_candidates, scan=scan)
