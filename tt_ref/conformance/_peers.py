"""Adapters for two TT libraries tt_ref did not write: teneva and tensorly.

They map each operation onto the library's own function with the closest meaning, and say
``NotImplementedError`` where the library has none (the kit reports those as "not
implemented"). ``docs/conformance-results.md`` lists what each passes and why the rest
differs; ``tests/conformance/test_peers.py`` runs them where the libraries are installed.

* teneva (``teneva.svd``, ``truncate``, ``full``, ``get_many``, ``orthogonalize``, ``add``,
  ``mul``, ``mul_scalar``, ``norm``): TT-SVD is given tt_ref's absolute per-step threshold
  ``delta = eps / sqrt(d - 1) ||x||_F`` (teneva's ``e`` is that threshold), rounding its
  relative ``eps`` (``truncate`` divides by ``sqrt(d - 1)`` itself).
* tensorly (``tensor_train``, ``tt_to_tensor``): TT-SVD takes ranks, not an accuracy, so only
  the exact and the rank-capped cases apply.
"""

from __future__ import annotations

import math

import numpy as np

from ._compare import cores_from
from ._reference import tt_outputs

__all__ = ["TenevaAdapter", "TensorlyAdapter"]


def _flat_to_multi(indices, shape):
    indices = np.asarray(indices)
    if indices.ndim == 1:
        return np.stack(np.unravel_index(indices, shape), axis=1)
    return indices


class TenevaAdapter:
    """teneva behind the adapter protocol (``pip install teneva``)."""

    def __init__(self):
        import teneva

        self.teneva = teneva

    def full(self, **kw):
        return np.asarray(self.teneva.full(cores_from(kw)))

    def get_many(self, indices, **kw):
        cores = cores_from(kw)
        return np.asarray(self.teneva.get_many(cores, _flat_to_multi(indices, [c.shape[1] for c in cores])))

    def tt_svd(self, x, eps=None, max_rank=None):
        x = np.asarray(x)
        if x.ndim == 1:
            return tt_outputs([x.reshape(1, -1, 1)])
        delta = (eps or 0.0) / math.sqrt(x.ndim - 1) * float(np.linalg.norm(x))
        return tt_outputs(self.teneva.svd(x, e=delta, r=max_rank if max_rank is not None else 1e12))

    def round(self, eps=None, max_rank=None, **kw):
        return tt_outputs(self.teneva.truncate(cores_from(kw), e=eps or 0.0,
                                               r=max_rank if max_rank is not None else 1e12))

    def orthogonalize(self, direction="left", **kw):
        cores = cores_from(kw)
        return tt_outputs(self.teneva.orthogonalize(cores, k=len(cores) - 1 if direction == "left" else 0))

    def add(self, **kw):
        return tt_outputs(self.teneva.add(cores_from(kw, "a"), cores_from(kw, "b")))

    def scale(self, alpha, **kw):
        return tt_outputs(self.teneva.mul(cores_from(kw, "a"), float(alpha)))

    def hadamard(self, **kw):
        return tt_outputs(self.teneva.mul(cores_from(kw, "a"), cores_from(kw, "b")))

    def dot(self, **kw):
        return np.asarray(self.teneva.mul_scalar(cores_from(kw, "a"), cores_from(kw, "b")))

    def norm(self, **kw):
        return np.asarray(self.teneva.norm(cores_from(kw, "a")))


class TensorlyAdapter:
    """tensorly behind the adapter protocol (``pip install tensorly``), NumPy backend."""

    def __init__(self):
        import tensorly
        from tensorly.decomposition import tensor_train

        self.tl = tensorly
        self.tensor_train = tensor_train

    def full(self, **kw):
        return np.asarray(self.tl.tt_to_tensor(cores_from(kw)))

    def tt_svd(self, x, eps=None, max_rank=None):
        x = np.asarray(x)
        if eps:
            raise NotImplementedError("tensorly's tensor_train takes ranks, not an accuracy eps")
        shape, d = x.shape, x.ndim
        if d == 1:
            return tt_outputs([x.reshape(1, -1, 1)])
        total, rows, ranks = math.prod(shape), 1, [1]
        for n in shape[:-1]:
            rows *= n
            ranks.append(min(rows, total // rows) if max_rank is None else max_rank)
        factors = self.tensor_train(x, rank=ranks + [1])
        return tt_outputs([np.asarray(f) for f in factors.factors])
