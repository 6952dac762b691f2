"""TT-SVD, TT rounding, orthogonalization, decompression and TT-matrix SVD: time and peak memory.

Inputs are built on the host from a fixed seed (a TT tensor of known ranks plus 1e-6
relative noise, as in ``tt-ref bench tt``) and moved to the backend in ``setup``; each
timed method synchronizes the device before returning. Accuracy and ranks on fixed
inputs are tracked in ``quality.TTDecompositionQuality``.
"""

import math

import numpy as np

from ._common import BACKENDS, namespace_or_skip, synchronize

# name -> (shape, TT rank)
SVD_SIZES = {
    "(8,)*7 r16": ((8,) * 7, 16),
    "(4,)*10 r20": ((4,) * 10, 20),
    "(16,)*5 r32": ((16,) * 5, 32),
}
ROUND_SIZES = {
    "(12,)*6 r32->16": ((12,) * 6, 16),
    "(32,)*8 r32->16": ((32,) * 8, 16),
}


def random_cores(rng, shape, rank):
    """Host cores of a random TT with ranks ``min(rank, unfolding sizes)``."""
    d = len(shape)
    ranks = [1] + [min(rank, math.prod(shape[: j + 1]), math.prod(shape[j + 1 :])) for j in range(d - 1)] + [1]
    return [rng.standard_normal((ranks[j], n, ranks[j + 1])) / math.sqrt(ranks[j + 1]) for j, n in enumerate(shape)]


def tensor_with_ranks(shape, rank, seed, noise=1e-6):
    """A dense host tensor of unit norm: a TT of ``rank`` plus ``noise`` relative Gaussian noise."""
    rng = np.random.default_rng(seed)
    out = None
    for core in random_cores(rng, shape, rank):
        out = core if out is None else np.tensordot(out, core, axes=(-1, 0))
    x = out.reshape(out.shape[1:-1])
    x /= np.linalg.norm(x)
    perturbation = rng.standard_normal(x.shape)
    return x + noise * perturbation / np.linalg.norm(perturbation)


class TTSVD:
    """tt_svd(x, eps=1e-4) on three shapes of about a million entries."""

    params = (list(SVD_SIZES), BACKENDS)
    param_names = ["size", "backend"]
    timeout = 120

    def setup(self, size, backend):
        self.xp = namespace_or_skip(backend)
        shape, rank = SVD_SIZES[size]
        self.x = self.xp.asarray(tensor_with_ranks(shape, rank, seed=0))

    def time_tt_svd(self, size, backend):
        import tt_ref

        tt_ref.tt_svd(self.x, eps=1e-4)
        synchronize(self.xp)

    def peakmem_tt_svd(self, size, backend):
        import tt_ref

        tt_ref.tt_svd(self.x, eps=1e-4)
        synchronize(self.xp)


class TTRound:
    """round(a + b) of two random TTs of rank 16 (the rank-32 sum): to rank 16, and by eps."""

    params = (list(ROUND_SIZES), BACKENDS)
    param_names = ["size", "backend"]
    timeout = 120

    def setup(self, size, backend):
        import tt_ref

        self.xp = namespace_or_skip(backend)
        rng = np.random.default_rng(1)
        shape, self.rank = ROUND_SIZES[size]
        a = tt_ref.TensorTrain([self.xp.asarray(c) for c in random_cores(rng, shape, self.rank)])
        b = tt_ref.TensorTrain([self.xp.asarray(c) for c in random_cores(rng, shape, self.rank)])
        self.sum = tt_ref.add(a, b)

    def time_round(self, size, backend):
        import tt_ref

        tt_ref.round(self.sum, max_rank=self.rank)
        synchronize(self.xp)

    def time_round_eps(self, size, backend):
        import tt_ref

        tt_ref.round(self.sum, eps=0.5)
        synchronize(self.xp)

    def time_orthogonalize(self, size, backend):
        import tt_ref

        tt_ref.orthogonalize(self.sum)
        synchronize(self.xp)

    def peakmem_round(self, size, backend):
        import tt_ref

        tt_ref.round(self.sum, max_rank=self.rank)
        synchronize(self.xp)


class TTFull:
    """full(): the dense tensor of a TT (about a million entries)."""

    params = (list(SVD_SIZES), BACKENDS)
    param_names = ["size", "backend"]

    def setup(self, size, backend):
        import tt_ref

        self.xp = namespace_or_skip(backend)
        shape, rank = SVD_SIZES[size]
        cores = random_cores(np.random.default_rng(0), shape, rank)
        self.tt = tt_ref.TensorTrain([self.xp.asarray(c) for c in cores])

    def time_full(self, size, backend):
        import tt_ref

        tt_ref.full(self.tt)
        synchronize(self.xp)

    def peakmem_full(self, size, backend):
        import tt_ref

        tt_ref.full(self.tt)


class TTMatrixSVD:
    """ttm_svd of a dense (1024, 1024) matrix with row and column shapes (4,)*5, and to_dense back."""

    params = ([16, 64], BACKENDS)
    param_names = ["max_rank", "backend"]

    def setup(self, max_rank, backend):
        import tt_ref

        self.xp = namespace_or_skip(backend)
        self.matrix = self.xp.asarray(np.random.default_rng(0).standard_normal((1024, 1024)))
        self.ttm = tt_ref.ttm_svd(self.matrix, (4,) * 5, (4,) * 5, max_rank=max_rank)

    def time_ttm_svd(self, max_rank, backend):
        import tt_ref

        tt_ref.ttm_svd(self.matrix, (4,) * 5, (4,) * 5, max_rank=max_rank)
        synchronize(self.xp)

    def time_to_dense(self, max_rank, backend):
        import tt_ref

        tt_ref.to_dense(self.ttm)
        synchronize(self.xp)

    def peakmem_ttm_svd(self, max_rank, backend):
        import tt_ref

        tt_ref.ttm_svd(self.matrix, (4,) * 5, (4,) * 5, max_rank=max_rank)
