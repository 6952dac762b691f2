"""Backend helpers that the hot loops lean on: top-k by method (specs/backend.md §Top-k),
and the number of BLAS threads the benchmarks run with.

The top-k shapes are those of the index's re-ranking (10 of 8,000 candidates per query)
and of exact search (10 of 100,000 distances per query, in chunks).
"""

import numpy as np

from ._common import BACKENDS, figure, namespace_or_skip, synchronize


class TopK:
    params = ([(2_000, 8_000), (200, 100_000)], ["sort", "blocks", "partition"], BACKENDS)
    param_names = ["rows, cols", "method", "backend"]

    def setup(self, shape, method, backend):
        if method == "partition" and backend != "numpy":
            raise NotImplementedError("argpartition is the NumPy fast path only")
        try:
            from tt_ref._backend import topk_smallest
        except ImportError:
            raise NotImplementedError("this commit has no topk_smallest") from None
        self.topk_smallest = topk_smallest
        self.xp = namespace_or_skip(backend)
        self.x = self.xp.asarray(np.random.default_rng(0).random(shape).astype(np.float32))

    def time_topk_10(self, shape, method, backend):
        self.topk_smallest(self.x, 10, xp=self.xp, method=method)
        synchronize(self.xp)


class Threads:
    """The BLAS and OpenMP threads a benchmark sees: 1 when asv's configuration pins them."""

    @figure("threads", "lower")
    def track_blas_threads(self):
        import tt_ref  # noqa: F401  (loads NumPy's BLAS as the benchmarks do)
        from threadpoolctl import threadpool_info

        return max((pool["num_threads"] for pool in threadpool_info()), default=1)
