"""Shared set-up for the asv benchmarks: backends, declared figures, and shims over API changes.

Threads: ``asv.conf.json`` sets ``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS`` and
``MKL_NUM_THREADS`` to 1 for every benchmark process (``matrix.env_nobuild``), and
``gate.py``, which runs asv in an existing environment, sets the same; nothing here
depends on which module imports NumPy first.
``backend.Threads.track_blas_threads`` records the thread count the benchmarks saw.

The benchmarks call the public API (``tt_ref.NAME``) only. asv runs today's benchmarks
on older commits too (``asv continuous``, the history), so the few calls whose spelling
changed over time go through the shims below, which try the current spelling first.
"""

import inspect

BACKENDS = ["numpy", "cupy"]


def namespace_or_skip(backend):
    """The namespace for ``backend``; asv skips the case (NotImplementedError) where absent."""
    import tt_ref

    if not tt_ref.is_backend_available(backend):
        raise NotImplementedError(f"backend {backend} not available here")
    return tt_ref.namespace_for(backend)


def synchronize(xp):
    """Wait for the device (a no-op on host backends) before a timer stops."""
    from tt_ref._backend import synchronize as sync

    sync(xp)


def figure(unit, better, *, tolerance=0.0, rtol=0.0):
    """Declare a ``track_`` figure: its unit, which direction is better, how much worse is noise.

    ``unit`` is asv's own attribute (shown by ``asv compare`` and ``asv publish``);
    ``better`` ("higher" or "lower") and the tolerance are read by ``asv_bench/gate.py``,
    which fails when the figure gets worse than the base by more than
    ``max(tolerance, rtol * |base|)`` (asv itself assumes lower is better everywhere).
    """
    if better not in ("higher", "lower"):
        raise ValueError(f"better must be 'higher' or 'lower', got {better!r}")

    def declare(function):
        function.unit = unit
        function.better = better
        function.tolerance = float(tolerance)
        function.rtol = float(rtol)
        return function

    return declare


def make_index(dim, mode_sizes, ranks, fit_options, **options):
    """``TTIndex(dim, mode_sizes, ranks, fit_options={...}, **options)``.

    Older commits took the fit's options as keyword arguments of the constructor.
    """
    import tt_ref

    parameter = inspect.signature(tt_ref.TTIndex).parameters.get("fit_options")
    if parameter is not None and parameter.kind is not inspect.Parameter.VAR_KEYWORD:
        return tt_ref.TTIndex(dim, mode_sizes, ranks, fit_options=dict(fit_options), **options)
    return tt_ref.TTIndex(dim, mode_sizes, ranks, **options, **fit_options)


def kth_distances(detector, queries):
    """Distance of each query to its k-th nearest bank point (larger: more anomalous).

    ``kth_distance`` is the current name; older commits called it ``score``.
    """
    method = getattr(detector, "kth_distance", None) or detector.score
    return method(queries)


def count_host_reads():
    """``tt_ref._backend.count_host_reads`` (counts reads of array_api_strict arrays); None if absent."""
    try:
        from tt_ref._backend import count_host_reads as counter
    except ImportError:
        return None
    return counter()


__all__ = [
    "BACKENDS", "namespace_or_skip", "synchronize", "figure", "make_index", "kth_distances",
    "count_host_reads",
]
