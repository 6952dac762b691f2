"""Input validation shared by every public function: arrays, point sets, finiteness."""

from __future__ import annotations

import math
import numbers
import operator

from ._errors import ArgumentTypeError, ArgumentValueError
from ._namespace import array_namespace


def as_float_array(x, *, name: str, xp=None, ndim: int | None = None, check_values: bool = True,
                   nonempty: bool = False):
    """Validate an input array: a real floating array of ``ndim`` dimensions, finite.

    Integer and bool arrays are cast to float64; float16 is refused. Lists, tuples,
    Python scalars and ``None`` are not accepted (the backend would be ambiguous); NumPy
    arrays are. With ``nonempty``, an array with a zero-length axis (no rows, or rows of
    dimension 0) is refused. Every error names ``name`` (specs/errors.md §Arrays).

    Examples
    --------
    >>> import numpy as np
    >>> as_float_array(np.zeros((0, 3)), name="X", ndim=2, nonempty=True)
    Traceback (most recent call last):
    ...
    tt_ref.ArgumentValueError: X is empty (shape (0, 3)): it needs at least one row and one column
    """
    if xp is None:
        try:
            xp = array_namespace(x, names=(name,))
        except TypeError as exc:
            raise ArgumentTypeError(f"{name} must be an array (numpy, cupy or array_api_strict), got {type(x).__name__}") from exc
    if xp.isdtype(x.dtype, "integral") or x.dtype == xp.bool:
        x = xp.astype(x, xp.float64)
    elif not xp.isdtype(x.dtype, "real floating"):
        raise ArgumentTypeError(f"{name} must have a real floating dtype (float32 or float64), got {x.dtype}")
    elif x.dtype != xp.float32 and x.dtype != xp.float64:
        # float16 (and other narrow floats): refused, never half-computed (specs/tensor_train.md §dtypes).
        raise ArgumentTypeError(
            f"{name} has dtype {x.dtype}: only float32 and float64 are supported (float16 is refused: its "
            "range, 6e-5 to 65504, and 11-bit precision make squared norms and distances overflow or tie); "
            "cast it with astype(float32) first"
        )
    if ndim is not None and x.ndim != ndim:
        raise ArgumentValueError(f"{name} must have {ndim} dimensions, got shape {tuple(x.shape)}")
    if nonempty and any(n == 0 for n in x.shape):
        raise ArgumentValueError(
            f"{name} is empty (shape {tuple(x.shape)}): it needs at least one row and one column")
    if check_values:
        check_finite(x, name=name, xp=xp)
    return x


def as_point_sets(a, b, *, names: tuple[str, str], check_values: bool = True, allow_empty: tuple[bool, bool] = (False, False)):
    """Validate two point sets (rows in R^D) for a distance computation: ``(a, b, xp)``.

    Both 2-D, one backend, one float dtype, the same dimension ``D``, finite; each
    non-empty unless ``allow_empty`` says so. Errors name the arguments.
    """
    xp = array_namespace(a, b, names=names)
    a = as_float_array(a, name=names[0], xp=xp, ndim=2, check_values=check_values)
    b = as_float_array(b, name=names[1], xp=xp, ndim=2, check_values=check_values)
    if a.shape[1] != b.shape[1]:
        raise ArgumentValueError(f"{names[0]} has dimension {a.shape[1]} but {names[1]} has dimension {b.shape[1]}")
    if a.shape[1] == 0:
        raise ArgumentValueError(f"{names[0]} and {names[1]} have dimension 0: points need at least one coordinate")
    if a.dtype != b.dtype:
        raise ArgumentTypeError(f"{names[0]} ({a.dtype}) and {names[1]} ({b.dtype}) must share one dtype")
    for name, arr, may_be_empty in zip(names, (a, b), allow_empty):
        if arr.shape[0] == 0 and not may_be_empty:
            raise ArgumentValueError(f"{name} is empty")
    return a, b, xp


def check_finite(x, *, name: str, xp=None) -> None:
    """Raise ``ValueError`` naming ``name`` if ``x`` holds NaN or inf (one host sync)."""
    xp = xp if xp is not None else array_namespace(x)
    if x.size != 0 and not bool(xp.all(xp.isfinite(x))):
        raise ArgumentValueError(f"{name} contains NaN or inf")




# --------------------------------------------------------------------------- scalars
# One rule for every integer and real argument of the public API: any integral type is
# accepted (``operator.index``: Python and NumPy integers; bool is refused), a wrong type
# is a ``TypeError``, a wrong value a ``ValueError``, and the message names the argument
# and says what was expected.
def check_int(value, *, name: str, minimum: int | None = None, maximum: int | None = None) -> int:
    """``value`` as a Python int within ``[minimum, maximum]``.

    Examples
    --------
    >>> import numpy as np
    >>> check_int(np.int64(3), name="k", minimum=1)
    3
    >>> check_int(0, name="k", minimum=1)
    Traceback (most recent call last):
    ...
    tt_ref.ArgumentValueError: k must be an integer >= 1, got 0
    """
    if isinstance(value, bool) or getattr(value, "dtype", None) is not None and getattr(value, "ndim", 0) != 0:
        raise ArgumentTypeError(f"{name} must be an integer, got {type(value).__name__}")
    try:
        value = operator.index(value)
    except TypeError:
        raise ArgumentTypeError(f"{name} must be an integer, got {type(value).__name__}") from None
    if minimum is not None and value < minimum or maximum is not None and value > maximum:
        raise ArgumentValueError(f"{name} must be an integer {_range_text(minimum, maximum)}, got {value}")
    return value


def check_optional_int(value, *, name: str, minimum: int | None = None, maximum: int | None = None) -> int | None:
    """:func:`check_int`, with ``None`` passed through."""
    return None if value is None else check_int(value, name=name, minimum=minimum, maximum=maximum)


def check_int_sequence(values, *, name: str, minimum: int | None = None, length: int | None = None) -> tuple[int, ...]:
    """A non-empty sequence of integers (each checked by :func:`check_int`) as a tuple."""
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise ArgumentTypeError(f"{name} must be a sequence of integers, got {type(values).__name__}")
    out = tuple(check_int(v, name=f"{name}[{i}]", minimum=minimum) for i, v in enumerate(values))
    if not out:
        raise ArgumentValueError(f"{name} must not be empty")
    if length is not None and len(out) != length:
        raise ArgumentValueError(f"{name} must have {length} entries, got {len(out)}")
    return out


def check_real(
    value,
    *,
    name: str,
    minimum: float | None = None,
    maximum: float | None = None,
    exclusive_minimum: bool = False,
) -> float:
    """``value`` as a finite Python float within the given range.

    Examples
    --------
    >>> check_real(0.5, name="lr", minimum=0.0, exclusive_minimum=True)
    0.5
    >>> check_real("0.1", name="lr")
    Traceback (most recent call last):
    ...
    tt_ref.ArgumentTypeError: lr must be a real number, got str
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        if not (getattr(value, "shape", None) == () and hasattr(value, "__float__")):
            raise ArgumentTypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise ArgumentValueError(f"{name} must be finite, got {value}")
    low_bad = minimum is not None and (value <= minimum if exclusive_minimum else value < minimum)
    if low_bad or maximum is not None and value > maximum:
        bound = _range_text(minimum, maximum, exclusive_minimum=exclusive_minimum)
        raise ArgumentValueError(f"{name} must be a real number {bound}, got {value}")
    return value


def check_choice(value, choices, *, name: str):
    """``value`` if it is one of ``choices`` (compared with ``==``)."""
    if not isinstance(value, str) and any(isinstance(c, str) for c in choices):
        raise ArgumentTypeError(f"{name} must be one of {tuple(choices)}, got {type(value).__name__}")
    if value not in choices:
        raise ArgumentValueError(f"{name} must be one of {tuple(choices)}, got {value!r}")
    return value


def _range_text(minimum, maximum, *, exclusive_minimum: bool = False) -> str:
    if minimum is not None and maximum is not None:
        return f"in [{minimum}, {maximum}]" if not exclusive_minimum else f"in ({minimum}, {maximum}]"
    if minimum is not None:
        return f"> {minimum}" if exclusive_minimum else f">= {minimum}"
    if maximum is not None:
        return f"<= {maximum}"
    return ""
