"""Shared set-up for the asv benchmarks: backends and single-thread pinning."""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

from tt_ref._backend import is_backend_available, namespace_for, synchronize  # noqa: E402

BACKENDS = ["numpy", "cupy"]


def namespace_or_skip(backend):
    """The namespace for ``backend``; asv skips the case (NotImplementedError) where absent."""
    if not is_backend_available(backend):
        raise NotImplementedError(f"backend {backend} not available here")
    return namespace_for(backend)


__all__ = ["BACKENDS", "namespace_or_skip", "synchronize"]
