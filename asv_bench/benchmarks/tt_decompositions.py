"""TT-SVD and TT rounding: time and peak memory by size and backend.

Inputs are built on the host from a fixed seed (a TT tensor of known ranks plus 1e-6
relative noise, as in ``tt-ref bench tt``) and moved to the backend in ``setup``; each
timed method synchronizes the device before returning.
"""

import math

import numpy as np

from ._common import BACKENDS, namespace_or_skip, synchronize

try:  # the env vars in _common come too late if numpy was imported first: pin here too
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1)
except ImportError:  # pragma: no cover - threadpoolctl ships with scikit-learn
    pass

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


def _cores(rng, shape, rank):
    d = len(shape)
    ranks = [1] + [min(rank, math.prod(shape[: j + 1]), math.prod(shape[j + 1 :])) for j in range(d - 1)] + [1]
    return [rng.standard_normal((ranks[j], n, ranks[j + 1])) / math.sqrt(ranks[j + 1]) for j, n in enumerate(shape)]


def _dense(cores):
    out = cores[0]
    for core in cores[1:]:
        out = np.tensordot(out, core, axes=(-1, 0))
    return out.reshape(out.shape[1:-1])


class TTSVD:
    """tt_svd(x, eps=1e-4) on the issue's three cases."""

    params = (list(SVD_SIZES), BACKENDS)
    param_names = ["size", "backend"]
    timeout = 120

    def setup(self, size, backend):
        self.xp = namespace_or_skip(backend)
        from tt_ref.tt._svd import tt_svd

        self.tt_svd = tt_svd
        rng = np.random.default_rng(0)
        shape, rank = SVD_SIZES[size]
        x = _dense(_cores(rng, shape, rank))
        x /= np.linalg.norm(x)
        noise = rng.standard_normal(x.shape)
        x += 1e-6 * noise / np.linalg.norm(noise)
        self.x = self.xp.asarray(x)

    def time_tt_svd(self, size, backend):
        self.tt_svd(self.x, eps=1e-4)
        synchronize(self.xp)

    def peakmem_tt_svd(self, size, backend):
        self.tt_svd(self.x, eps=1e-4)
        synchronize(self.xp)


class TTRound:
    """round(a + b, max_rank=16) for two rank-16 tensors (the rank-32 sum)."""

    params = (list(ROUND_SIZES), BACKENDS)
    param_names = ["size", "backend"]
    timeout = 120

    def setup(self, size, backend):
        self.xp = namespace_or_skip(backend)
        from tt_ref.tt._arithmetic import add
        from tt_ref.tt._rounding import round as tt_round
        from tt_ref.tt._tensor_train import TensorTrain

        self.round = tt_round
        rng = np.random.default_rng(1)
        shape, rank = ROUND_SIZES[size]
        self.rank = rank
        a = TensorTrain([self.xp.asarray(c) for c in _cores(rng, shape, rank)])
        b = TensorTrain([self.xp.asarray(c) for c in _cores(rng, shape, rank)])
        self.sum = add(a, b)

    def time_round(self, size, backend):
        self.round(self.sum, max_rank=self.rank)
        synchronize(self.xp)

    def time_round_eps(self, size, backend):
        self.round(self.sum, eps=0.5)
        synchronize(self.xp)

    def peakmem_round(self, size, backend):
        self.round(self.sum, max_rank=self.rank)
        synchronize(self.xp)
