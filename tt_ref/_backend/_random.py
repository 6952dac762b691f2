"""Seeded random numbers: drawn on the host from ``numpy.random.Generator``, cast, then moved.

One seed gives bitwise the same numbers on every backend, because no backend's own
generator is ever used."""

from __future__ import annotations

import numpy as np

from ._memory import check_allocation
from ._namespace import _dtype_label, from_numpy, resolve_dtype
from ._validation import check_int

def default_rng(seed) -> np.random.Generator:
    """Host generator from an int seed (``>= 0``; NumPy integers too), a ``SeedSequence``
    or an existing Generator; anything else is refused naming ``seed`` (specs/errors.md)."""
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, np.random.SeedSequence):
        return np.random.default_rng(seed)
    return np.random.default_rng(check_int(seed, name="seed", minimum=0))


# Each draw below returns a host NumPy array when ``xp`` is None: a caller that needs
# many small draws (one per optimisation step) makes them on the host in order and moves
# them in one transfer; the numbers are the same as those of separate calls.
def _host_float(values: np.ndarray, dtype, xp):
    label = _dtype_label(resolve_dtype(dtype, np if xp is None else xp))
    if xp is None:
        return values.astype(np.dtype(label), copy=False)
    return from_numpy(values, xp, dtype=label)


def random_normal(seed, shape, *, xp, dtype=None):
    """Standard normal numbers of ``shape``: drawn in float64 on the host, cast, moved."""
    check_allocation(tuple(shape), 8, what=f"a random draw of shape {tuple(shape)}")
    rng = default_rng(seed)
    return _host_float(rng.standard_normal(size=tuple(shape)), dtype, xp)


def random_uniform(seed, shape, *, xp, dtype=None, low: float = 0.0, high: float = 1.0):
    """Uniform numbers on ``[low, high)``: drawn on the host, cast, moved."""
    check_allocation(tuple(shape), 8, what=f"a random draw of shape {tuple(shape)}")
    rng = default_rng(seed)
    return _host_float(rng.uniform(low, high, size=tuple(shape)), dtype, xp)


def random_integers(seed, low: int, high: int, shape, *, xp):
    """Integers on ``[low, high)`` as ``xp.int64``: drawn on the host, moved."""
    check_allocation(tuple(shape), 8, what=f"a random draw of shape {tuple(shape)}")
    rng = default_rng(seed)
    values = rng.integers(low, high, size=tuple(shape), dtype=np.int64)
    return values if xp is None else xp.asarray(values)


def random_choice(seed, n: int, size: int, *, xp, replace: bool = False):
    """``size`` indices from ``range(n)`` as ``xp.int64`` (without replacement by default)."""
    check_allocation(int(size), 8, what=f"a random choice of {size} from {n}")
    rng = default_rng(seed)
    return xp.asarray(rng.choice(n, size=size, replace=replace).astype(np.int64))


