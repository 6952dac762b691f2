"""TT ANN index: train (fit), add (bucket assignment, beam and exact) and search.

The index of the add and search cases sits on a cloud fitted for 20 steps (setup).

Sizes: D = 50 (GloVe-like) with 20k and 100k base vectors, 1,000 queries; the cloud
has two levels (mode sizes from ``tt_ref.cli._bench_ann.default_config``). The
comparison with faiss and hnswlib on real data is ``tt-ref bench ann`` (docs/results-ann.md).
"""

import numpy as np

from ._common import BACKENDS, namespace_or_skip, synchronize

DIM = 50


def _data(xp, n, seed):
    from tt_ref._backend import from_numpy

    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((64, DIM))
    X = centres[rng.integers(0, 64, n)] + 0.5 * rng.standard_normal((n, DIM))
    return from_numpy(X, xp, dtype="float32")


def _index(xp, n_base, assign="beam"):
    """An index on a briefly fitted cloud (20 steps from the k-means start): buckets
    shaped like the real ones, unlike a random cloud's (one giant bucket)."""
    from tt_ref.cli._bench_ann import default_config
    from tt_ref.cloud._fit import fit_point_cloud
    from tt_ref.search._index import TTIndex

    mode_sizes, ranks = default_config(n_base)
    sample = _data(xp, min(n_base, 20_000), 0)
    cloud = fit_point_cloud(sample, mode_sizes, ranks, steps=20, progress=False, seed=0).cloud
    return TTIndex.from_point_cloud(cloud, assign=assign), mode_sizes, ranks


def _backend_of(xp):
    from tt_ref._backend import backend_name

    return backend_name(xp)


class Train:
    """Fit of the TT point cloud inside ``TTIndex.train`` (200 steps, batch 1024)."""

    params = ([20_000], BACKENDS)
    param_names = ["n_base", "backend"]
    timeout = 300

    def setup(self, n_base, backend):
        self.xp = namespace_or_skip(backend)
        self.X = _data(self.xp, n_base, 0)

    def time_train(self, n_base, backend):
        from tt_ref.cli._bench_ann import default_config
        from tt_ref.search._index import TTIndex

        mode_sizes, ranks = default_config(n_base)
        TTIndex(DIM, mode_sizes, ranks, steps=200, progress=False).train(self.X)
        synchronize(self.xp)


class Add:
    """Bucket assignment of the base vectors: beam search vs exact (all TT points)."""

    params = ([20_000, 100_000], ["beam", "exact"], BACKENDS)
    param_names = ["n_base", "assign", "backend"]
    timeout = 300

    def setup(self, n_base, assign, backend):
        self.xp = namespace_or_skip(backend)
        self.X = _data(self.xp, n_base, 0)
        self.index, _, _ = _index(self.xp, n_base, assign)

    def time_add(self, n_base, assign, backend):
        self.index.add(self.X)
        synchronize(self.xp)
        self.index.remove(self.xp.arange(n_base, dtype=self.xp.int64) + self.index._next_id - n_base)

    def peakmem_add(self, n_base, assign, backend):
        self.index.add(self.X)


class Search:
    """1,000 queries, k = 10, beam 32, swept candidate counts, both scan paths."""

    params = ([20_000, 100_000], [1000, 4000], ["lists", "gather"], BACKENDS)
    param_names = ["n_base", "n_candidates", "scan", "backend"]
    timeout = 300

    def setup(self, n_base, n_candidates, scan, backend):
        self.xp = namespace_or_skip(backend)
        self.index, _, _ = _index(self.xp, n_base)
        self.index.add(_data(self.xp, n_base, 0))
        self.Q = _data(self.xp, 1000, 1)

    def time_search(self, n_base, n_candidates, scan, backend):
        self.index.search(self.Q, 10, beam=32, n_candidates=n_candidates, scan=scan)
        synchronize(self.xp)

    def peakmem_search(self, n_base, n_candidates, scan, backend):
        self.index.search(self.Q, 10, beam=32, n_candidates=n_candidates, scan=scan)
