"""Namespaces, dtypes, moving data between backends, and the counted host reads."""

from __future__ import annotations

import contextlib
import functools
import importlib
import math
from typing import Any

import array_api_compat
import numpy as np

from ._errors import ArgumentTypeError, ArgumentValueError, MissingDependencyError

#: The backends tt_ref accepts wherever an array is created from nothing.
BACKENDS = ("numpy", "cupy", "array_api_strict")


# --------------------------------------------------------------------------- namespaces
def array_namespace(*arrays: Any, names: tuple[str, ...] | None = None):
    """Array API namespace of ``arrays`` (``array_api_compat.array_namespace``).

    Every argument must be an array of one supported library: a Python scalar, a list,
    ``None`` or any other object is refused (``array_api_compat`` would skip scalars,
    and the call would fail later, deep inside), and so are arrays from different
    libraries (mixing NumPy and CuPy, say). Both raise :class:`ArgumentTypeError`
    naming the arguments (``names``; ``argument 0``, ... without it).
    """
    labels = names if names is not None else tuple(f"argument {i}" for i in range(len(arrays)))
    for label, a in zip(labels, arrays):
        if not _is_array(a):
            raise ArgumentTypeError(
                f"{label} must be an array (numpy, cupy or array_api_strict), got {type(a).__name__}"
            )
    try:
        return array_api_compat.array_namespace(*arrays)
    except TypeError as exc:
        kinds = [type(a).__module__.split(".")[0] + "." + type(a).__name__ for a in arrays]
        desc = ", ".join(f"{n}: {k}" for n, k in zip(labels, kinds))
        raise ArgumentTypeError(
            f"inputs must all come from one array backend, got {desc}; "
            "move them with tt_ref.to_backend(obj, backend) first"
        ) from exc


def _is_array(a) -> bool:
    # NumPy scalars (np.float64 subclasses float) count as 0-d arrays; Python scalars do not.
    return array_api_compat.is_array_api_obj(a) and (isinstance(a, np.generic) or not isinstance(
        a, (bool, int, float, complex)))


def namespace_for(backend: str):
    """The Array API namespace for a backend name in ``BACKENDS``."""
    if backend not in BACKENDS:
        raise ArgumentValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "numpy":
        return array_api_compat.array_namespace(np.empty(0))
    if backend == "array_api_strict":
        try:
            return importlib.import_module("array_api_strict")
        except ImportError as exc:
            raise MissingDependencyError(
                "backend='array_api_strict' needs the array-api-strict package: "
                "pip install array-api-strict"
            ) from exc
    try:
        cupy = importlib.import_module("cupy")
    except ImportError as exc:
        raise MissingDependencyError(
            "backend='cupy' needs CuPy and an NVIDIA GPU: pip install 'tt-ref[gpu]'"
        ) from exc
    return array_api_compat.array_namespace(cupy.empty(0))


def backend_name(xp) -> str:
    """Name in ``BACKENDS`` of a namespace returned by :func:`array_namespace`."""
    if array_api_compat.is_numpy_namespace(xp):
        return "numpy"
    if array_api_compat.is_cupy_namespace(xp):
        return "cupy"
    if getattr(xp, "__name__", "") == "array_api_strict":
        return "array_api_strict"
    raise TypeError(f"unsupported array namespace {getattr(xp, '__name__', xp)!r}")


def is_backend_available(backend: str) -> bool:
    """Whether ``backend`` can be used here (for CuPy: installed and a GPU visible)."""
    try:
        xp = namespace_for(backend)
    except ImportError:
        return False
    if backend == "cupy":
        try:
            import cupy

            return cupy.cuda.runtime.getDeviceCount() > 0 and xp is not None
        except Exception:  # CUDA driver errors come in many types
            return False
    return True


def resolve_dtype(dtype: Any, xp, *, name: str = "dtype"):
    """Map ``"float32"``, ``numpy.float32`` or ``xp.float32`` (same for 64) to ``xp``'s dtype."""
    if dtype is None:
        return xp.float64
    label = dtype_name(dtype)
    # Names first: comparing one library's dtype object with another's warns (array_api_strict).
    for candidate in ("float64", "float32"):
        if label == candidate:
            return getattr(xp, candidate)
    for candidate in ("float64", "float32"):
        if dtype == getattr(xp, candidate):
            return getattr(xp, candidate)
    raise ArgumentTypeError(f"{name} must be float32 or float64, got {dtype!r}")


# --------------------------------------------------------------------------- moving data
def to_numpy(x) -> np.ndarray:
    """Host NumPy copy (or view) of an array from any supported backend."""
    if isinstance(x, np.ndarray):
        return x
    if array_api_compat.is_cupy_array(x):
        return x.get()
    try:
        return np.asarray(x)
    except (TypeError, ValueError, RuntimeError):
        return np.from_dlpack(x)


def from_numpy(x: np.ndarray, xp, *, dtype=None):
    """Move a host array to namespace ``xp`` (casting on the host first, if asked)."""
    x = np.asarray(x)
    if dtype is not None:
        x = x.astype(np.dtype(_dtype_label(dtype)), copy=False)
    return xp.asarray(x)


def move_array(x, backend: str):
    """Move one array to ``backend`` (a no-op when it is already there)."""
    xp = namespace_for(backend)
    try:
        if backend_name(array_namespace(x)) == backend:
            return x
    except TypeError:
        pass
    return xp.asarray(to_numpy(x))


def to_backend(obj, backend: str):
    """Move any tt_ref object (or a bare array) to ``backend``.

    tt_ref objects implement ``to_backend(backend)``; arrays are moved through the
    host; tuples and lists are moved item by item. Values are bit-for-bit the same
    after the move. Anything else (a scalar, ``None``, an object array) is refused with
    :class:`ArgumentTypeError`.
    """
    if backend not in BACKENDS:
        raise ArgumentValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    method = getattr(obj, "to_backend", None)
    if callable(method):
        return method(backend)
    if isinstance(obj, (tuple, list)):
        return type(obj)(to_backend(o, backend) for o in obj)
    if not _is_array(obj):
        raise ArgumentTypeError(
            f"obj must be a tt_ref object or an array (numpy, cupy or array_api_strict), got {type(obj).__name__}"
        )
    dtype = getattr(obj, "dtype", None)
    if isinstance(obj, np.ndarray) and obj.dtype.hasobject or isinstance(dtype, np.dtype) and dtype.hasobject:
        raise ArgumentTypeError("obj must be a numeric array, got an object array")
    return move_array(obj, backend)


def synchronize(xp) -> None:
    """Wait for the device (CuPy) so a timer measures the work, not its launch."""
    if backend_name(xp) == "cupy":
        import cupy

        cupy.cuda.Device().synchronize()


# A GPU temporary may use 1/512 of the device's memory in bytes (1/64 of it in float64
# elements), at most 2**28 elements: on a GPU each chunk of work costs kernel launches
# and host syncs, so fewer, larger chunks are faster.
_GPU_MAX_ELEMENTS = 1 << 28


def work_elements(xp, host_elements: int) -> int:
    """Elements one temporary array of a chunked loop may hold on ``xp``'s device.

    ``host_elements`` on host backends; on CuPy, ``total device memory / 512`` (bytes
    to float64 elements, and room for several temporaries), between ``host_elements``
    and ``2**28``.
    """
    if backend_name(xp) != "cupy":
        return host_elements
    cupy = importlib.import_module("cupy")
    total_bytes = _device_memory_bytes(int(cupy.cuda.Device().id))
    return max(host_elements, min(_GPU_MAX_ELEMENTS, total_bytes // 512))


@functools.lru_cache(maxsize=None)
def _device_memory_bytes(device_id: int) -> int:
    """Total memory of CUDA device ``device_id`` (asked once: chunked loops ask per chunk)."""
    cupy = importlib.import_module("cupy")
    return int(cupy.cuda.Device(device_id).mem_info[1])


def to_scalar(x) -> float:
    """A Python float from a 0-d array (a host sync on GPU backends)."""
    return float(x)


def to_ints(*values) -> tuple[int, ...]:
    """Python ints from 0-d integer arrays, read in one device-to-host transfer.

    Array shapes must be Python integers, so a data-dependent size (the number of
    candidates of a search chunk, say) costs one host sync. Reading several such sizes
    together costs one sync, not one each.

    Examples
    --------
    >>> import numpy as np
    >>> to_ints(np.sum(np.arange(4)), np.max(np.arange(4)))
    (6, 3)
    """
    return tuple(int(v) for v in _read_together(values, "int64"))


def to_floats(*values) -> tuple[float, ...]:
    """Python floats from 0-d real arrays, read in one device-to-host transfer (as float64)."""
    return tuple(float(v) for v in _read_together(values, "float64"))


def _read_together(values, dtype_name: str) -> list:
    if not values:
        return []
    if len(values) == 1:
        return [values[0]]
    xp = array_namespace(*values)
    dtype = getattr(xp, dtype_name)
    return to_numpy(xp.stack([xp.astype(xp.reshape(v, ()), dtype) for v in values])).tolist()


def dtype_name(dtype) -> str:
    """The plain name of a dtype of any backend (``"float32"`` for ``numpy.float32``,
    ``array_api_strict.float32``, ``cupy.dtype('float32')`` or the string itself)."""
    label = getattr(dtype, "__name__", None) or str(dtype)
    return label.rsplit(".", 1)[-1].replace("'", "").replace(">", "")


def _dtype_label(dtype) -> str:
    label = dtype_name(dtype)
    if label not in ("float32", "float64"):
        raise ArgumentTypeError(f"dtype must be float32 or float64, got {dtype!r}")
    return label


# Every way the values of an array_api_strict array can reach the host.
_HOST_READ_METHODS = (
    "__bool__", "__int__", "__float__", "__index__", "__complex__", "__array__", "__buffer__", "__dlpack__",
)


@contextlib.contextmanager
def count_host_reads():
    """Count the device-to-host reads of ``array_api_strict`` arrays inside the block.

    array_api_strict stands in for a GPU when none is at hand: every way its arrays'
    values reach the host (``bool``, ``int``, ``float``, ``operator.index``, NumPy
    conversion, DLPack) is counted, so a code path's host syncs on CuPy can be counted
    on a CPU. Host-to-device transfers (``asarray`` of host data) are not reads and are
    not counted. Not thread-safe: it patches the array class for the block's duration.

    Yields a dict: ``"reads"`` (total) and ``"by_method"`` (counts per method).

    Examples
    --------
    >>> import array_api_strict as xp
    >>> x = xp.asarray([1.0, 2.0])
    >>> with count_host_reads() as counter:
    ...     total = float(xp.sum(x))
    ...     y = x * 2.0  # stays on the device: not counted
    >>> counter["reads"], total
    (1, 3.0)
    """
    strict = importlib.import_module("array_api_strict")
    cls = type(strict.asarray(0.0))
    counter = {"reads": 0, "by_method": {}}
    originals = {name: cls.__dict__[name] for name in _HOST_READ_METHODS if name in cls.__dict__}

    def counted(name, method):
        def wrapper(self, *args, **kwargs):
            counter["reads"] += 1
            counter["by_method"][name] = counter["by_method"].get(name, 0) + 1
            return method(self, *args, **kwargs)

        return wrapper

    for name, method in originals.items():
        setattr(cls, name, counted(name, method))
    try:
        yield counter
    finally:
        for name, method in originals.items():
            setattr(cls, name, method)


