"""Argument checks of the TT index: vectors, configuration, fit options (specs/index.md §Errors).

Scalars go through the shared checks of ``tt_ref._backend`` (any integral type, a
``TypeError`` for a wrong type and a ``ValueError`` for a wrong value, the argument
named); these are the index's own.
"""

from __future__ import annotations

import numpy as np

from .._backend import (
    dtype_name,
    ArgumentTypeError,
    ArgumentValueError,
    array_namespace,
    as_float_array,
    backend_name,
    check_int,
    check_int_sequence,
    check_optional_int,
)

__all__ = ["check_vectors", "check_ranks", "check_fit_options", "check_search_arguments", "is_auto", "itemsize"]

# fit_point_cloud keywords the index passes itself.
_RESERVED_FIT_OPTIONS = ("seed", "mode_sizes", "ranks")


def check_vectors(X, *, name: str, dim: int, metric: str, backend: str | None = None, dtype=None):
    """``X`` as a finite 2-D float array of width ``dim`` (on ``backend``, cast to ``dtype``,
    normalised for ``metric="cosine"``)."""
    try:
        xp = array_namespace(X, names=(name,))
    except TypeError as exc:
        raise ArgumentTypeError(f"{name} must be an array (numpy, cupy or array_api_strict), got {type(X).__name__}") from exc
    X = as_float_array(X, name=name, xp=xp, ndim=2)
    if X.shape[1] != dim:
        raise ArgumentValueError(f"{name} has dimension {X.shape[1]} but the index has dimension {dim}")
    if backend is not None and backend_name(xp) != backend:
        raise ArgumentTypeError(f"{name} is a {backend_name(xp)} array but the index lives on {backend}; "
                                "move it with tt_ref.to_backend")
    if dtype is not None and X.dtype != dtype:
        X = xp.astype(X, dtype)
    if metric == "cosine":
        norms = xp.sqrt(xp.sum(X * X, axis=1))[:, None]
        if X.shape[0] and bool(xp.any(norms == 0)):
            raise ArgumentValueError(f"{name} has a zero row: cosine metric needs non-zero vectors")
        X = X / norms
    return X


def check_search_arguments(k, beam, n_probe, n_candidates, chunk_size, *, ntotal: int):
    """``search``'s integers checked; ``n_candidates`` is 1000 when neither budget is given."""
    k = check_int(k, name="k", minimum=1, maximum=ntotal)
    beam = check_int(beam, name="beam", minimum=1)
    if n_probe is not None and n_candidates is not None:
        raise ArgumentValueError("give n_probe or n_candidates, not both")
    n_probe = check_optional_int(n_probe, name="n_probe", minimum=1)
    n_candidates = check_optional_int(n_candidates, name="n_candidates", minimum=1, maximum=2**62)  # int64 counts
    if n_probe is None and n_candidates is None:
        n_candidates = 1000
    return k, beam, n_probe, n_candidates, check_optional_int(chunk_size, name="chunk_size", minimum=1)


def is_auto(value) -> bool:
    """Whether a configuration argument is the string ``"auto"``."""
    return isinstance(value, str) and value == "auto"


def check_ranks(ranks, mode_sizes) -> tuple[int, ...]:
    """``ranks`` as a tuple of ``len(mode_sizes) - 1`` positive ints (empty for one level)."""
    if isinstance(ranks, str):
        raise ArgumentValueError(f"ranks must be a sequence of integers or 'auto', got {ranks!r}")
    if hasattr(ranks, "__len__") and len(ranks) == 0:
        values = ()
    else:
        values = check_int_sequence(ranks, name="ranks", minimum=1)
    if not is_auto(mode_sizes) and len(values) != len(mode_sizes) - 1:
        raise ArgumentValueError(
            f"ranks must hold len(mode_sizes) - 1 = {len(mode_sizes) - 1} entries, got {len(values)}")
    return values


def check_fit_options(options) -> dict:
    """A copy of ``options`` (a dict of :func:`tt_ref.cloud.fit_point_cloud` keywords)."""
    if options is None:
        return {}
    if not isinstance(options, dict) or any(not isinstance(key, str) for key in options):
        raise ArgumentTypeError(f"fit_options must be a dict of keyword arguments, got {type(options).__name__}")
    reserved = sorted(set(options) & set(_RESERVED_FIT_OPTIONS))
    if reserved:
        raise ArgumentValueError(f"fit_options must not hold {reserved}: the index sets them (pass them to TTIndex)")
    return dict(options)


def itemsize(dtype) -> int:
    """Bytes per element of a floating dtype of any backend."""
    return np.dtype(dtype_name(dtype)).itemsize
