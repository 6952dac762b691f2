"""asv benchmarks: TT arithmetic, evaluation and TT-matrix products (specs/arithmetic.md, evaluate.md, tt_matrix.md).

Sizes are (mode size, number of modes, rank); asv runs every benchmark with one BLAS thread;
CuPy cases are skipped where no GPU is visible. Every timed method synchronizes the
device before returning.
"""

import numpy as np

from ._common import BACKENDS, namespace_or_skip, synchronize

# (n, d, r): tensors of shape (n,) * d and inner rank r.
SIZES = ["8x7-r16", "16x10-r32", "4x40-r8"]


def _parse(size):
    modes, rank = size.split("-r")
    n, d = modes.split("x")
    return int(n), int(d), int(rank)


class _TwoTensors:
    """Set-up shared by the classes below: two random TTs ``a``, ``b`` of one size."""

    param_names = ["size", "backend"]

    def setup(self, size, backend):
        import tt_ref

        self.xp = namespace_or_skip(backend)
        n, d, rank = _parse(size)
        self.a = tt_ref.random_tt((n,) * d, rank, seed=0, backend=backend)
        self.b = tt_ref.random_tt((n,) * d, rank, seed=1, backend=backend)


class TimeDotNorm(_TwoTensors):
    """dot (left-to-right contraction), norm (QR sweep) and add + round of TT tensors."""

    params = (SIZES, BACKENDS)

    def time_dot(self, size, backend):
        from tt_ref import dot

        dot(self.a, self.b)
        synchronize(self.xp)

    def time_norm(self, size, backend):
        from tt_ref import norm

        norm(self.a)
        synchronize(self.xp)

    def time_add_round(self, size, backend):
        import tt_ref

        tt_ref.round(self.a + self.b, max_rank=_parse(size)[2])
        synchronize(self.xp)

    def peakmem_norm(self, size, backend):
        from tt_ref import norm

        norm(self.a)


class TimeHadamard(_TwoTensors):
    """hadamard (Kronecker cores): ranks multiply, so sizes stay small (rank r**2 cores)."""

    params = (["8x7-r16", "4x40-r8"], BACKENDS)

    def time_hadamard(self, size, backend):
        from tt_ref import hadamard

        hadamard(self.a, self.b)
        synchronize(self.xp)


class TimeGetMany:
    """get_many of a batch of multi-indices (gather + batched matmul per core)."""

    params = (SIZES, [1_000, 100_000], BACKENDS)
    param_names = ["size", "batch", "backend"]

    def setup(self, size, batch, backend):
        import tt_ref

        self.xp = namespace_or_skip(backend)
        n, d, rank = _parse(size)
        self.tt = tt_ref.random_tt((n,) * d, rank, seed=0, backend=backend)
        rng = np.random.default_rng(0)
        self.indices = self.xp.asarray(rng.integers(0, n, size=(batch, d)))

    def time_get_many(self, size, batch, backend):
        from tt_ref import get_many

        get_many(self.tt, self.indices)
        synchronize(self.xp)

    def peakmem_get_many(self, size, batch, backend):
        from tt_ref import get_many

        get_many(self.tt, self.indices)


class TimeMatvec:
    """TT-matrix times a dense batch and times a TT vector (row and column shapes (n,) * d)."""

    params = (["4x5-r8", "8x4-r16"], BACKENDS)
    param_names = ["size", "backend"]

    def setup(self, size, backend):
        from tt_ref import TTMatrix, random_tt

        self.xp = namespace_or_skip(backend)
        n, d, rank = _parse(size)
        ranks = (1,) + (rank,) * (d - 1) + (1,)
        rng = np.random.default_rng(0)
        self.ttm = TTMatrix(
            [self.xp.asarray(rng.standard_normal((ranks[k], n, n, ranks[k + 1])) / np.sqrt(n * ranks[k + 1])) for k in range(d)]
        )
        self.batch = self.xp.asarray(rng.standard_normal((64, n**d)))
        self.vector = random_tt((n,) * d, rank, seed=1, backend=backend)

    def time_matvec_dense_batch(self, size, backend):
        from tt_ref import matvec

        matvec(self.ttm, self.batch)
        synchronize(self.xp)

    def time_matvec_tt(self, size, backend):
        from tt_ref import matvec

        matvec(self.ttm, self.vector)
        synchronize(self.xp)

    def peakmem_matvec_dense_batch(self, size, backend):
        from tt_ref import matvec

        matvec(self.ttm, self.batch)
