"""Backend helpers: the one place that knows about NumPy, CuPy and array-api-strict.

Everything else in tt_ref is written against the Python Array API standard and gets
its namespace ``xp`` from its inputs (:func:`array_namespace`) once per public
function. What the standard lacks lives here, once:

* random numbers (drawn on the host from ``numpy.random.Generator`` so that one seed
  gives the same numbers on every backend, then cast and moved);
* scatter-add (``np.add.at`` / ``cupyx.scatter_add`` fast paths, a standard-only
  one-hot matmul otherwise);
* top-k smallest along the last axis (a standard-only block method for long rows, an
  ``argpartition`` fast path on NumPy, a stable ``argsort`` otherwise);
* moving arrays between backends, device synchronisation for timers, and the host
  reads of scalars (:func:`to_scalar`, :func:`to_ints`, :func:`to_floats`: every device-to-host read of a
  hot loop goes through them, so they are the sync points, documented and counted by
  ``tests/test_sync_points.py``).

Each fast path is tested to agree with the standard-only path
(``tests/test_backend.py``).
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import math
from typing import Any

import array_api_compat
import numpy as np

__all__ = [
    "BACKENDS",
    "array_namespace",
    "namespace_for",
    "backend_name",
    "is_backend_available",
    "resolve_dtype",
    "to_numpy",
    "from_numpy",
    "move_array",
    "to_backend",
    "synchronize",
    "as_float_array",
    "check_finite",
    "as_point_sets",
    "default_rng",
    "random_normal",
    "random_uniform",
    "random_integers",
    "random_choice",
    "scatter_add",
    "topk_smallest",
    "take_along_last_axis",
    "to_scalar",
    "to_ints",
    "to_floats",
    "count_host_reads",
    "work_elements",
]

#: The backends tt_ref accepts wherever an array is created from nothing.
BACKENDS = ("numpy", "cupy", "array_api_strict")


# --------------------------------------------------------------------------- namespaces
def array_namespace(*arrays: Any, names: tuple[str, ...] | None = None):
    """Array API namespace of ``arrays`` (``array_api_compat.array_namespace``).

    Raises a ``TypeError`` naming the arguments when they come from different array
    libraries (mixing NumPy and CuPy, say), instead of the library's own message.
    """
    try:
        return array_api_compat.array_namespace(*arrays)
    except TypeError as exc:
        kinds = [type(a).__module__.split(".")[0] + "." + type(a).__name__ for a in arrays]
        labels = names if names is not None else tuple(f"argument {i}" for i in range(len(arrays)))
        desc = ", ".join(f"{n}: {k}" for n, k in zip(labels, kinds))
        raise TypeError(
            f"inputs must all come from one array backend, got {desc}; "
            "move them with tt_ref.to_backend(obj, backend) first"
        ) from exc


def namespace_for(backend: str):
    """The Array API namespace for a backend name in :data:`BACKENDS`."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "numpy":
        return array_api_compat.array_namespace(np.empty(0))
    if backend == "array_api_strict":
        try:
            return importlib.import_module("array_api_strict")
        except ImportError as exc:
            raise ImportError(
                "backend='array_api_strict' needs the array-api-strict package: "
                "pip install array-api-strict"
            ) from exc
    try:
        cupy = importlib.import_module("cupy")
    except ImportError as exc:
        raise ImportError(
            "backend='cupy' needs CuPy and an NVIDIA GPU: pip install 'tt-ref[gpu]'"
        ) from exc
    return array_api_compat.array_namespace(cupy.empty(0))


def backend_name(xp) -> str:
    """Name in :data:`BACKENDS` of a namespace returned by :func:`array_namespace`."""
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
    label = getattr(dtype, "__name__", None) or str(dtype)
    label = label.rsplit(".", 1)[-1].replace("'", "").replace(">", "")
    # Names first: comparing one library's dtype object with another's warns (array_api_strict).
    for candidate in ("float64", "float32"):
        if label == candidate:
            return getattr(xp, candidate)
    for candidate in ("float64", "float32"):
        if dtype == getattr(xp, candidate):
            return getattr(xp, candidate)
    raise TypeError(f"{name} must be float32 or float64, got {dtype!r}")


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
    host. Values are bit-for-bit the same after the move.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    method = getattr(obj, "to_backend", None)
    if callable(method):
        return method(backend)
    if isinstance(obj, (tuple, list)):
        return type(obj)(to_backend(o, backend) for o in obj)
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


def _dtype_label(dtype) -> str:
    label = getattr(dtype, "__name__", None) or str(dtype)
    label = label.rsplit(".", 1)[-1].replace("'", "").replace(">", "")
    if label not in ("float32", "float64"):
        raise TypeError(f"dtype must be float32 or float64, got {dtype!r}")
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


# --------------------------------------------------------------------------- validation
def as_float_array(x, *, name: str, xp=None, ndim: int | None = None, check_values: bool = True):
    """Validate an input array: a real floating array of ``ndim`` dimensions, finite.

    Integer arrays are cast to float64. Lists and tuples are not accepted (the backend
    would be ambiguous); NumPy arrays are.
    """
    if xp is None:
        try:
            xp = array_namespace(x, names=(name,))
        except TypeError as exc:
            raise TypeError(f"{name} must be an array (numpy, cupy or array_api_strict), got {type(x).__name__}") from exc
    if xp.isdtype(x.dtype, "integral") or x.dtype == xp.bool:
        x = xp.astype(x, xp.float64)
    elif not xp.isdtype(x.dtype, "real floating"):
        raise TypeError(f"{name} must have a real floating dtype (float32 or float64), got {x.dtype}")
    if ndim is not None and x.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {tuple(x.shape)}")
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
        raise ValueError(f"{names[0]} has dimension {a.shape[1]} but {names[1]} has dimension {b.shape[1]}")
    if a.dtype != b.dtype:
        raise TypeError(f"{names[0]} ({a.dtype}) and {names[1]} ({b.dtype}) must share one dtype")
    for name, arr, may_be_empty in zip(names, (a, b), allow_empty):
        if arr.shape[0] == 0 and not may_be_empty:
            raise ValueError(f"{name} is empty")
    return a, b, xp


def check_finite(x, *, name: str, xp=None) -> None:
    """Raise ``ValueError`` naming ``name`` if ``x`` holds NaN or inf (one host sync)."""
    xp = xp if xp is not None else array_namespace(x)
    if x.size != 0 and not bool(xp.all(xp.isfinite(x))):
        raise ValueError(f"{name} contains NaN or inf")


# --------------------------------------------------------------------------- random numbers
def default_rng(seed) -> np.random.Generator:
    """Host generator from an int seed, a ``SeedSequence`` or an existing Generator."""
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)


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
    rng = default_rng(seed)
    return _host_float(rng.standard_normal(size=tuple(shape)), dtype, xp)


def random_uniform(seed, shape, *, xp, dtype=None, low: float = 0.0, high: float = 1.0):
    """Uniform numbers on ``[low, high)``: drawn on the host, cast, moved."""
    rng = default_rng(seed)
    return _host_float(rng.uniform(low, high, size=tuple(shape)), dtype, xp)


def random_integers(seed, low: int, high: int, shape, *, xp):
    """Integers on ``[low, high)`` as ``xp.int64``: drawn on the host, moved."""
    rng = default_rng(seed)
    values = rng.integers(low, high, size=tuple(shape), dtype=np.int64)
    return values if xp is None else xp.asarray(values)


def random_choice(seed, n: int, size: int, *, xp, replace: bool = False):
    """``size`` indices from ``range(n)`` as ``xp.int64`` (without replacement by default)."""
    rng = default_rng(seed)
    return xp.asarray(rng.choice(n, size=size, replace=replace).astype(np.int64))


# --------------------------------------------------------------------------- scatter-add
def scatter_add(n_rows: int, indices, values, *, xp, force_standard: bool = False):
    """Sum the rows of ``values`` into ``n_rows`` buckets: ``out[indices[b]] += values[b]``.

    Parameters
    ----------
    n_rows : int
        Number of output rows.
    indices : array of int, shape (B,)
        Destination row of each input row, in ``[0, n_rows)``.
    values : array, shape (B, ...)
        Rows to add.
    force_standard : bool
        Use the standard-only path (for tests of the fast paths).

    Returns
    -------
    array, shape (n_rows, ...)
    """
    trailing = tuple(values.shape[1:])
    name = backend_name(xp)
    if not force_standard and name == "numpy":
        out = np.zeros((n_rows,) + trailing, dtype=values.dtype)
        np.add.at(out, np.asarray(indices), np.asarray(values))
        return xp.asarray(out)
    if not force_standard and name == "cupy":
        import cupy
        import cupyx

        out = cupy.zeros((n_rows,) + trailing, dtype=values.dtype)
        cupyx.scatter_add(out, indices, values)
        return out
    # Standard-only: a one-hot matrix product, chunked so memory stays O(chunk * n_rows).
    width = 1
    for size in trailing:
        width *= int(size)
    flat = xp.reshape(values, (values.shape[0], width))
    out = xp.zeros((n_rows, flat.shape[1]), dtype=values.dtype)
    rows = xp.arange(n_rows, dtype=indices.dtype)
    chunk = max(1, 4_000_000 // max(n_rows, 1))
    n_in = flat.shape[0]
    for start in range(0, n_in, chunk):
        stop = min(start + chunk, n_in)
        onehot = xp.astype(indices[start:stop][:, None] == rows[None, :], values.dtype)
        out = out + xp.matrix_transpose(onehot) @ flat[start:stop, :]
    return xp.reshape(out, (n_rows,) + trailing)


# --------------------------------------------------------------------------- top-k
def take_along_last_axis(x, indices, *, xp):
    """``x[..., indices]`` row by row for 2-D ``x`` and 2-D ``indices``."""
    if hasattr(xp, "take_along_axis"):
        return xp.take_along_axis(x, indices, axis=-1)
    n_rows, n_cols = x.shape
    offsets = xp.reshape(xp.arange(n_rows, dtype=indices.dtype) * n_cols, (n_rows, 1))
    return xp.reshape(xp.take(xp.reshape(x, (-1,)), xp.reshape(indices + offsets, (-1,))), indices.shape)


def topk_smallest(x, k: int, *, xp, method: str = "auto"):
    """The ``k`` smallest entries of each row of 2-D ``x``, sorted ascending.

    Ties are broken by the smaller column index on every path, so all paths return
    the same indices (specs/backend.md §Top-k).

    Parameters
    ----------
    x : array, shape (n_rows, n_cols)
    k : int
        ``1 <= k <= n_cols``.
    method : {"auto", "sort", "blocks", "partition"}
        ``"sort"``: stable argsort of whole rows. ``"blocks"``: sort the minima of
        column blocks, then the candidates of the k best blocks (standard-only; far
        less to sort when ``k`` is small against the row). ``"partition"``: NumPy's
        ``argpartition`` (NumPy only). ``"auto"``: blocks for rows of at least
        ``64 k`` columns (measured faster than a full sort, and on long rows than
        argpartition), else partition on NumPy when ``k < n_cols / 4``, else sort.

    Returns
    -------
    values, indices : arrays of shape (n_rows, k)
    """
    n_cols = x.shape[-1]
    if not 1 <= k <= n_cols:
        raise ValueError(f"k must be in [1, {n_cols}], got {k}")
    if method not in ("auto", "sort", "blocks", "partition"):
        raise ValueError(f"method must be 'auto', 'sort', 'blocks' or 'partition', got {method!r}")
    is_numpy = backend_name(xp) == "numpy"
    if method == "partition" and not is_numpy:
        raise ValueError("method='partition' needs NumPy arrays")
    if method == "blocks" or (method == "auto" and n_cols >= 64 * k):
        return _topk_by_blocks(x, k, _topk_block_size(n_cols, k), xp=xp)
    # NumPy only: CuPy's argpartition sorts the whole row anyway (its documentation
    # says so), and the tie check below would cost a host sync there.
    if method == "partition" or (method == "auto" and is_numpy and k < n_cols // 4):
        raw = np.asarray(x)
        # Partition to k, then include every tie of the k-th value so tie-breaking by
        # index is exact: take the k+ties candidates, sort them by (value, index).
        part = np.argpartition(raw, k - 1, axis=-1)[..., :k]
        kth = np.max(np.take_along_axis(raw, part, axis=-1), axis=-1, keepdims=True)
        n_le = int(np.max(np.sum(raw <= kth, axis=-1)))
        if n_le <= 4 * k or method == "partition":
            if n_le == k:
                cand = part  # no tie straddles the k-th place (the usual case for float data)
            elif n_le < n_cols:
                cand = np.argpartition(raw, n_le - 1, axis=-1)[..., :n_le]
            else:
                cand = np.broadcast_to(np.arange(n_cols), raw.shape)
            cand = np.sort(cand, axis=-1)
            vals = np.take_along_axis(raw, cand, axis=-1)
            order = np.argsort(vals, axis=-1, kind="stable")[..., :k]
            idx = np.take_along_axis(cand, order, axis=-1)
            out_vals = np.take_along_axis(raw, idx, axis=-1)
            return xp.asarray(out_vals), xp.asarray(idx.astype(np.int64))
    order = xp.argsort(x, axis=-1, stable=True)[..., :k]
    order = xp.astype(order, xp.int64)
    return take_along_last_axis(x, order, xp=xp), order


def _topk_block_size(n_cols: int, k: int) -> int:
    """Block width for :func:`_topk_by_blocks`: ``sqrt(n_cols / k)``, at least 1.

    Sorting ``n_cols / b`` block minima and ``k b`` candidates instead of ``n_cols``
    entries; this ``b`` balances the two.
    """
    return max(1, math.isqrt(n_cols // k))


def _topk_by_blocks(x, k: int, block: int, *, xp):
    """Exact top-k through the k blocks of ``block`` columns with the smallest minima.

    Every one of the k smallest entries lies in one of the k blocks whose minima are
    smallest (each such block holds an entry no larger than the k-th block minimum).
    Ties: blocks with equal minima are taken in column order (stable sort), and the
    candidates are laid out in column order before the stable sort, so ties go to the
    smaller column index exactly as with a full sort (specs/backend.md §Top-k).
    """
    n_rows, n_cols = x.shape
    n_blocks = -(-n_cols // block)
    padded = x
    if n_blocks * block > n_cols:
        # +inf padding sits at the highest columns, so it loses every tie with real data.
        fill = xp.full((n_rows, n_blocks * block - n_cols), math.inf, dtype=x.dtype)
        padded = xp.concat([x, fill], axis=1)
    minima = xp.min(xp.reshape(padded, (n_rows, n_blocks, block)), axis=2)
    chosen = xp.argsort(minima, axis=-1, stable=True)[:, :k]
    chosen = xp.sort(xp.astype(chosen, xp.int64), axis=-1)
    columns = xp.reshape(chosen[:, :, None] * block + xp.arange(block, dtype=xp.int64)[None, None, :],
                         (n_rows, k * block))
    values = take_along_last_axis(padded, columns, xp=xp)
    order = xp.astype(xp.argsort(values, axis=-1, stable=True)[:, :k], xp.int64)
    indices = take_along_last_axis(columns, order, xp=xp)
    return take_along_last_axis(x, indices, xp=xp), indices
