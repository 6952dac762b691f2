"""Creating TT tensors from nothing: random, zeros, ones.

The random-number contract (host generator, fixed draw order, then cast and moved) is
in ``specs/backend.md``; the scaling is in ``specs/tensor_train.md``.
"""

from __future__ import annotations

import math
import numbers
from typing import Sequence

from .._backend import (
    ArgumentTypeError,
    ArgumentValueError,
    check_allocation,
    default_rng,
    from_numpy,
    namespace_for,
    resolve_dtype,
)
from ._tensor_train import TensorTrain

__all__ = ["random_tt", "zeros", "ones"]


def _check_shape(shape) -> tuple[int, ...]:
    if isinstance(shape, numbers.Integral):
        shape = (shape,)
    try:
        shape = tuple(shape)
    except TypeError as exc:
        raise ArgumentTypeError(f"shape must be a sequence of ints, got {type(shape).__name__}") from exc
    if len(shape) == 0:
        raise ArgumentValueError("shape must have at least one mode")
    for j, size in enumerate(shape):
        if isinstance(size, bool) or not isinstance(size, numbers.Integral):
            raise ArgumentTypeError(f"shape[{j}] must be an int, got {size!r}")
        if size < 1:
            raise ArgumentValueError(f"shape[{j}] must be >= 1, got {size}")
    return tuple(int(s) for s in shape)


def _check_ranks(ranks, d: int) -> tuple[int, ...]:
    """Full rank tuple ``(1, r_1, ..., r_{d-1}, 1)`` from an int, d-1 or d+1 entries."""
    if isinstance(ranks, numbers.Integral) and not isinstance(ranks, bool):
        inner = (int(ranks),) * (d - 1)
    else:
        try:
            given = tuple(ranks)
        except TypeError as exc:
            raise ArgumentTypeError(f"ranks must be an int or a sequence of ints, got {type(ranks).__name__}") from exc
        for j, r in enumerate(given):
            if isinstance(r, bool) or not isinstance(r, numbers.Integral):
                raise ArgumentTypeError(f"ranks[{j}] must be an int, got {r!r}")
        if len(given) == d - 1:
            inner = given
        elif len(given) == d + 1:
            if given[0] != 1 or given[-1] != 1:
                raise ArgumentValueError(
                    f"ranks with d + 1 = {d + 1} entries must start and end with 1 (the boundary ranks), got {given}"
                )
            inner = given[1:-1]
        else:
            raise ArgumentValueError(
                f"ranks must be an int, d - 1 = {d - 1} inner ranks or d + 1 = {d + 1} ranks with the "
                f"boundary 1s, got {len(given)} entries"
            )
    for j, r in enumerate(inner):
        if r < 1:
            raise ArgumentValueError(f"ranks must be >= 1, got r_{j + 1} = {r}")
    return (1,) + tuple(int(r) for r in inner) + (1,)


def _check_memory(shape, full_ranks, what: str) -> None:
    """Refuse cores whose elements (float64 on the host) exceed the memory limit, before drawing."""
    elements = sum(full_ranks[j] * n * full_ranks[j + 1] for j, n in enumerate(shape))
    check_allocation(elements, 8, what=f"{what}: shape {shape} with ranks {full_ranks}")


def random_tt(
    shape: Sequence[int],
    ranks,
    *,
    seed=0,
    dtype="float64",
    backend: str = "numpy",
    scale: float = 1.0,
) -> TensorTrain:
    """A TT tensor with Gaussian cores whose full tensor has entries of size ``scale``.

    Core ``G_j`` (of shape ``(r_{j-1}, n_j, r_j)``) has i.i.d. entries
    ``N(0, 1 / r_j)`` (the first core times ``scale``), so every entry of the full
    tensor has mean 0 and standard deviation ``scale`` whatever the shape and ranks.
    Ranks are taken as given (not clipped to the largest possible TT ranks).

    Parameters
    ----------
    shape : sequence of int
        Mode sizes ``(n_1, ..., n_d)``, each >= 1.
    ranks : int or sequence of int
        An int sets every inner rank; a sequence holds the ``d - 1`` inner ranks
        ``(r_1, ..., r_{d-1})`` or all ``d + 1`` ranks with the boundary 1s. Each >= 1.
    seed : int, SeedSequence or numpy.random.Generator
        The cores are drawn on the host in float64, first core first, from
        ``numpy.random.default_rng(seed)``, scaled, cast to ``dtype`` and moved, so a
        seed gives bitwise the same cores on every backend.
    dtype : "float64" or "float32"
    backend : "numpy", "cupy" or "array_api_strict"
    scale : float
        Standard deviation of the full tensor's entries.

    Returns
    -------
    TensorTrain

    Examples
    --------
    >>> from tt_ref import random_tt
    >>> tt = random_tt((4, 5, 6), 3, seed=1)
    >>> tt.shape, tt.ranks
    ((4, 5, 6), (1, 3, 3, 1))
    >>> random_tt((4, 5, 6), (1, 2, 3, 1)).ranks
    (1, 2, 3, 1)
    """
    shape = _check_shape(shape)
    full_ranks = _check_ranks(ranks, len(shape))
    if isinstance(scale, bool) or not isinstance(scale, numbers.Real):
        raise ArgumentTypeError(f"scale must be a real number, got {type(scale).__name__}")
    scale = float(scale)
    if not math.isfinite(scale):
        raise ArgumentValueError(f"scale must be finite, got {scale}")
    xp = namespace_for(backend)
    target = resolve_dtype(dtype, xp)
    _check_memory(shape, full_ranks, "random_tt")
    rng = default_rng(seed)
    cores = []
    for j, size in enumerate(shape):
        core_shape = (full_ranks[j], size, full_ranks[j + 1])
        # Scaled on the host in float64 before the cast, so every backend gets the same bits.
        values = rng.standard_normal(size=core_shape) * (1.0 / math.sqrt(full_ranks[j + 1]))
        if j == 0:
            values = values * scale
        cores.append(from_numpy(values, xp, dtype=target))
    return TensorTrain._from_cores(tuple(cores))


def _constant(shape, value: float, dtype, backend: str) -> TensorTrain:
    shape = _check_shape(shape)
    xp = namespace_for(backend)
    target = resolve_dtype(dtype, xp)
    _check_memory(shape, (1,) * (len(shape) + 1), "zeros" if value == 0.0 else "ones")
    cores = [xp.ones((1, size, 1), dtype=target) for size in shape]
    cores[0] = cores[0] * value
    return TensorTrain._from_cores(tuple(cores))


def zeros(shape: Sequence[int], *, dtype="float64", backend: str = "numpy") -> TensorTrain:
    """The zero tensor of ``shape`` as a rank-1 TT (first core zero, the others ones).

    Examples
    --------
    >>> from tt_ref.tt._creation import zeros
    >>> from tt_ref import norm
    >>> z = zeros((3, 4))
    >>> z.ranks, norm(z)
    ((1, 1, 1), 0.0)
    """
    return _constant(shape, 0.0, dtype, backend)


def ones(shape: Sequence[int], *, dtype="float64", backend: str = "numpy") -> TensorTrain:
    """The all-ones tensor of ``shape`` as a rank-1 TT.

    Examples
    --------
    >>> from tt_ref.tt._creation import ones
    >>> from tt_ref import norm
    >>> norm(ones((3, 4)))  # sqrt(12)
    3.464...
    """
    return _constant(shape, 1.0, dtype, backend)
