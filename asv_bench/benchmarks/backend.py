"""Backend helpers that the hot loops lean on: top-k by method (specs/backend.md §Top-k).

The shapes are those of the index's re-ranking (10 of 8,000 candidates per query) and of
exact search (10 of 100,000 distances per query, in chunks).
"""

import numpy as np

from ._common import BACKENDS, namespace_or_skip, synchronize


class TopK:
    params = ([(2_000, 8_000), (200, 100_000)], ["sort", "blocks", "partition"], BACKENDS)
    param_names = ["rows, cols", "method", "backend"]

    def setup(self, shape, method, backend):
        if method == "partition" and backend != "numpy":
            raise NotImplementedError("argpartition is the NumPy fast path only")
        self.xp = namespace_or_skip(backend)
        values = np.random.default_rng(0).random(shape).astype(np.float32)
        self.x = self.xp.asarray(values)

    def time_topk_10(self, shape, method, backend):
        from tt_ref._backend import topk_smallest

        topk_smallest(self.x, 10, xp=self.xp, method=method)
        synchronize(self.xp)
