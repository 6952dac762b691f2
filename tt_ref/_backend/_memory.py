"""The memory limit: a request is sized from its shapes and refused before allocating.

Every public entry point that allocates memory in proportion to an argument (a tensor's
shape, a number of samples, a file's declared shape) asks :func:`check_allocation`
first, so a request that cannot fit ends in :class:`MemoryLimitError` naming the
argument, not in ``MemoryError`` deep inside NumPy or in the kernel's out-of-memory
killer.

The limit, in bytes, is, in order of precedence:

1. the value set by :func:`set_memory_limit` (or inside a :func:`memory_limit` block);
2. the environment variable ``TT_REF_MAX_BYTES`` (an integer number of bytes, or with a
   binary suffix: ``512M``, ``8G``, ``1T``);
3. the default: the smaller of 8 GiB and half of the machine's physical memory.

It bounds one allocation (one array a call would create), not the process: it is a
guard against a mistaken request, not an accountant (specs/backend.md §Memory limit).
"""

from __future__ import annotations

import contextlib
import math
import os
import threading

from ._errors import ArgumentValueError, MemoryLimitError
from ._validation import check_int

__all__ = [
    "ENV_VAR",
    "default_memory_limit",
    "get_memory_limit",
    "set_memory_limit",
    "memory_limit",
    "check_allocation",
]

#: Environment variable read when no limit was set in the process.
ENV_VAR = "TT_REF_MAX_BYTES"

_GIB = 1 << 30
_DEFAULT_CAP = 8 * _GIB
_SUFFIXES = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}

_lock = threading.Lock()
_limit: int | None = None  # set by set_memory_limit; None: environment, then default


def _physical_memory() -> int | None:
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):  # not POSIX, or not reported
        return None


def default_memory_limit() -> int:
    """The limit when none is set: ``min(8 GiB, physical memory / 2)`` (8 GiB if unknown)."""
    physical = _physical_memory()
    return _DEFAULT_CAP if not physical else min(_DEFAULT_CAP, physical // 2)


def _parse_bytes(text: str) -> int:
    label = text.strip().upper().removesuffix("IB").removesuffix("B")
    number, suffix = (label[:-1], label[-1]) if label and label[-1] in _SUFFIXES else (label, "")
    try:
        value = int(number) * _SUFFIXES[suffix]
    except ValueError:
        raise ArgumentValueError(
            f"{ENV_VAR} must be a number of bytes such as 8589934592 or 8G, got {text!r}"
        ) from None
    if value < 1:
        raise ArgumentValueError(f"{ENV_VAR} must be a positive number of bytes, got {text!r}")
    return value


def get_memory_limit() -> int:
    """The current limit in bytes (see the module docstring for where it comes from).

    Examples
    --------
    >>> from tt_ref._backend._memory import get_memory_limit, memory_limit
    >>> with memory_limit(1 << 20):
    ...     get_memory_limit()
    1048576
    """
    with _lock:
        limit = _limit
    if limit is not None:
        return limit
    env = os.environ.get(ENV_VAR)
    return _parse_bytes(env) if env else default_memory_limit()


def _check_limit(nbytes, name: str) -> int | None:
    if nbytes is None:
        return None
    return check_int(nbytes, name=name, minimum=1)


def set_memory_limit(nbytes) -> int | None:
    """Set the process-wide limit to ``nbytes`` (``None``: back to ``TT_REF_MAX_BYTES`` or the default).

    Returns the previous explicitly set value (``None`` if there was none), so it can be
    restored. Prefer :func:`memory_limit` for a limited block.

    Examples
    --------
    >>> import tt_ref
    >>> previous = tt_ref.set_memory_limit(2 * 1024**3)
    >>> tt_ref.get_memory_limit()
    2147483648
    >>> _ = tt_ref.set_memory_limit(previous)
    """
    global _limit
    value = _check_limit(nbytes, "nbytes")
    with _lock:
        previous, _limit = _limit, value
    return previous


@contextlib.contextmanager
def memory_limit(nbytes):
    """Context manager: the limit is ``nbytes`` inside the block, then what it was.

    Examples
    --------
    >>> import tt_ref
    >>> from tt_ref._backend import check_allocation
    >>> with tt_ref.memory_limit(10**6):
    ...     check_allocation((1000, 1000), 8, what="ones: shape (1000, 1000)")
    Traceback (most recent call last):
    ...
    tt_ref.MemoryLimitError: ones: shape (1000, 1000) would allocate 7.6 MiB (1,000,000 elements x 8 bytes), above the memory limit of 976.6 KiB; raise it with tt_ref.set_memory_limit(nbytes) or the TT_REF_MAX_BYTES environment variable
    """
    previous = set_memory_limit(nbytes)
    try:
        yield get_memory_limit()
    finally:
        set_memory_limit(previous)


def _human(nbytes: int) -> str:
    value = float(nbytes)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if value < 1024 or unit == "PiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} PiB"  # pragma: no cover


def check_allocation(n_elements, itemsize: int = 8, *, what: str) -> int:
    """Bytes of an array of ``n_elements`` items of ``itemsize`` bytes; refused above the limit.

    ``n_elements`` may be a Python int of any size (a product of shape entries) or a
    sequence of dimensions (multiplied here, exactly). ``what`` names the request in the
    message, e.g. ``"ones: shape (10, 10)"`` or ``"sample: n=10**12"``.

    Raises
    ------
    MemoryLimitError
        When ``n_elements * itemsize`` exceeds :func:`get_memory_limit`.

    Examples
    --------
    >>> from tt_ref._backend._memory import check_allocation
    >>> check_allocation(1000, 8, what="x")
    8000
    >>> check_allocation((10**6, 10**6), 8, what="sample: n=10**12")
    Traceback (most recent call last):
    ...
    tt_ref.MemoryLimitError: sample: n=10**12 would allocate 7.3 TiB (1,000,000,000,000 elements x 8 bytes), above the memory limit of ...
    """
    if not isinstance(n_elements, int):
        n_elements = math.prod(int(n) for n in n_elements)
    nbytes = int(n_elements) * int(itemsize)
    limit = get_memory_limit()
    if nbytes > limit:
        raise MemoryLimitError(
            f"{what} would allocate {_human(nbytes)} ({n_elements:,} elements x {itemsize} bytes), above the "
            f"memory limit of {_human(limit)}; raise it with tt_ref.set_memory_limit(nbytes) or the "
            f"{ENV_VAR} environment variable"
        )
    return nbytes
