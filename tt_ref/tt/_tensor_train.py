"""The TT format: an immutable tensor train and the validation of its cores.

Definitions are in ``specs/tensor_train.md``.
"""

from __future__ import annotations

import math
from typing import Sequence

import array_api_compat

from .._backend import BACKENDS, array_namespace, backend_name, check_finite, resolve_dtype
from .._backend import to_backend as _move
from ._core_ops import block_sum_cores, check_real_scalar, kron_cores, scale_cores
from .._backend import ArgumentIndexError, ArgumentTypeError, ArgumentValueError

__all__ = ["CoreTrain", "TensorTrain", "validate_cores"]


def validate_cores(
    cores: Sequence,
    *,
    core_ndim: int = 3,
    left_rank: int | None = 1,
    right_rank: int | None = 1,
    name: str = "cores",
    check_values: bool = True,
):
    """Check a sequence of TT cores and return ``(tuple(cores), xp)``.

    Every core must be an array of one backend, one real floating dtype, ``core_ndim``
    dimensions ``(r_{j-1}, n_j[, m_j], r_j)``, with ``cores[j].shape[-1] ==
    cores[j+1].shape[0]``. ``left_rank`` / ``right_rank`` pin the boundary ranks
    (``None`` leaves one free, as the point-cloud format does on the left).
    """
    if isinstance(cores, (str, bytes)) or not hasattr(cores, "__len__"):
        raise ArgumentTypeError(f"{name} must be a sequence of arrays, got {type(cores).__name__}")
    cores = tuple(cores)
    if len(cores) == 0:
        raise ArgumentValueError(f"{name} must hold at least one core")
    labels = tuple(f"{name}[{j}]" for j in range(len(cores)))
    xp = array_namespace(*cores, names=labels)
    dtype = cores[0].dtype
    for j, core in enumerate(cores):
        if core.ndim != core_ndim:
            layout = "(r_{j-1}, n_j, r_j)" if core_ndim == 3 else "(r_{j-1}, m_j, n_j, r_j)"
            raise ArgumentValueError(
                f"{name}[{j}] must have {core_ndim} dimensions {layout}, got shape {tuple(core.shape)}"
            )
        if not xp.isdtype(core.dtype, "real floating") or core.dtype not in (xp.float32, xp.float64):
            # float16 too: refused, never half-computed (specs/tensor_train.md §dtypes)
            raise ArgumentTypeError(f"{name}[{j}] must be float32 or float64, got {core.dtype}")
        if core.dtype != dtype:
            raise ArgumentTypeError(f"{name}[{j}] has dtype {core.dtype} but {name}[0] has {dtype}; cast them to one dtype")
        if any(s < 1 for s in core.shape):
            raise ArgumentValueError(f"{name}[{j}] has an empty dimension: shape {tuple(core.shape)}")
        if j > 0 and cores[j - 1].shape[-1] != core.shape[0]:
            raise ArgumentValueError(
                f"rank mismatch between {name}[{j - 1}] and {name}[{j}]: "
                f"{name}[{j - 1}].shape[-1] = {cores[j - 1].shape[-1]} but "
                f"{name}[{j}].shape[0] = {core.shape[0]}"
            )
    if left_rank is not None and cores[0].shape[0] != left_rank:
        raise ArgumentValueError(f"{name}[0].shape[0] (the left boundary rank) must be {left_rank}, got {cores[0].shape[0]}")
    if right_rank is not None and cores[-1].shape[-1] != right_rank:
        raise ArgumentValueError(
            f"{name}[{len(cores) - 1}].shape[-1] (the right boundary rank) must be {right_rank}, "
            f"got {cores[-1].shape[-1]}"
        )
    if check_values:
        # One device sync for all cores; the per-core pass runs only to name the bad one.
        finite = xp.stack([xp.all(xp.isfinite(core)) for core in cores])
        if not bool(xp.all(finite)):
            for label, core in zip(labels, cores):
                check_finite(core, name=label, xp=xp)
    return cores, xp


def _rebuild_core_train(cls, cores):
    """Unpickle a :class:`CoreTrain` subclass from its cores (validated shapes, no sync)."""
    return cls._from_cores(tuple(cores))


class CoreTrain:
    """Immutable holder of validated cores, shared by :class:`TensorTrain`,
    ``TTMatrix`` and ``TTPointCloud`` (they differ in core layout and left rank).

    Subclasses set ``_core_ndim`` (3 or 4) and ``_left_rank`` (1, or ``None`` for
    the point-cloud format whose first core carries the dimension ``D``).
    """

    __slots__ = ("_cores", "_xp")
    _core_ndim = 3
    _left_rank: int | None = 1

    def __init__(self, cores: Sequence, *, check_values: bool = True):
        cores, xp = validate_cores(
            cores, core_ndim=self._core_ndim, left_rank=self._left_rank, right_rank=1, check_values=check_values
        )
        object.__setattr__(self, "_cores", cores)
        object.__setattr__(self, "_xp", xp)

    @classmethod
    def _from_cores(cls, cores):
        """Wrap cores produced by tt_ref itself: shape checks only, no device sync."""
        return cls(cores, check_values=False)

    def __setattr__(self, key, value):
        raise AttributeError(f"{type(self).__name__} is immutable; operations return new objects")

    def __delattr__(self, key):
        raise AttributeError(f"{type(self).__name__} is immutable")

    # Pickling and copying keep the cores (each backend's arrays pickle themselves) and
    # rebuild the namespace from them, never the namespace module itself, so the objects
    # reach other processes (multiprocessing, joblib, Dask workers).
    def __reduce__(self):
        return (_rebuild_core_train, (type(self), self._cores))

    def __copy__(self):
        return self  # immutable: a copy is the object itself

    def __deepcopy__(self, memo):
        return type(self)._from_cores(tuple(self._xp.asarray(c, copy=True) for c in self._cores))

    @property
    def cores(self) -> tuple:
        """The cores, as a tuple."""
        return self._cores

    @property
    def xp(self):
        """The Array API namespace of the cores."""
        return self._xp

    @property
    def backend(self) -> str:
        """``"numpy"``, ``"cupy"`` or ``"array_api_strict"``."""
        return backend_name(self._xp)

    @property
    def dtype(self):
        return self._cores[0].dtype

    @property
    def device(self):
        return array_api_compat.device(self._cores[0])

    @property
    def ndim(self) -> int:
        """Number of cores ``d``."""
        return len(self._cores)

    @property
    def ranks(self) -> tuple[int, ...]:
        """``(r_0, r_1, ..., r_d)`` including the boundary ranks ``r_0 = r_d = 1``."""
        return (1,) + tuple(int(c.shape[-1]) for c in self._cores)

    @property
    def n_params(self) -> int:
        """Number of stored numbers (the sizes of all cores)."""
        return sum(math.prod(int(s) for s in c.shape) for c in self._cores)

    def to_backend(self, backend: str):
        """The same object with its cores moved to ``backend`` (bitwise equal)."""
        if backend not in BACKENDS:
            raise ArgumentValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        return type(self)._from_cores(tuple(_move(c, backend) for c in self._cores))

    def astype(self, dtype):
        """The same object with its cores cast to ``dtype`` (float32 or float64)."""
        target = resolve_dtype(dtype, self._xp)
        return type(self)._from_cores(tuple(self._xp.astype(c, target) for c in self._cores))


class TensorTrain(CoreTrain):
    """An immutable tensor in the TT format.

    ``A[i_1, ..., i_d] = G_1[:, i_1, :] @ G_2[:, i_2, :] @ ... @ G_d[:, i_d, :]`` with
    cores ``G_j`` of shape ``(r_{j-1}, n_j, r_j)`` and ``r_0 = r_d = 1``. Multi-indices
    flatten in C order (``i_1`` slowest).

    Parameters
    ----------
    cores : sequence of arrays
        The cores, all of one backend and one float dtype.
    check_values : bool, default True
        Reject NaN or inf in the cores (one device sync).

    Examples
    --------
    >>> import numpy as np
    >>> from tt_ref import TensorTrain
    >>> tt = TensorTrain([np.ones((1, 2, 3)), np.ones((3, 4, 1))])
    >>> tt.shape, tt.ranks, tt.n_params
    ((2, 4), (1, 3, 1), 18)
    >>> float(tt[1, 3])
    3.0
    """

    __slots__ = ()

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(int(c.shape[1]) for c in self._cores)

    @property
    def max_rank(self) -> int:
        return max(self.ranks)

    def __getitem__(self, index):
        """One element ``A[i_1, ..., i_d]`` as a 0-d array (negative indices allowed)."""
        if not isinstance(index, tuple):
            index = (index,)
        if len(index) != self.ndim:
            raise ArgumentIndexError(f"index must have {self.ndim} entries (one per mode), got {len(index)}")
        xp = self._xp
        vec = None
        for j, (i, core) in enumerate(zip(index, self._cores)):
            if isinstance(i, bool) or not isinstance(i, int) and not hasattr(i, "__index__"):
                raise ArgumentIndexError(f"index[{j}] must be an integer, got {type(i).__name__}")
            i = int(i)
            n = core.shape[1]
            if not -n <= i < n:
                raise ArgumentIndexError(f"index[{j}] = {i} is out of range for mode {j} of size {n}")
            slab = core[:, i % n, :]
            vec = slab if vec is None else vec @ slab
        return xp.reshape(vec, ())

    def __repr__(self) -> str:
        return (
            f"TensorTrain(shape={self.shape}, ranks={self.ranks}, dtype={self.dtype}, "
            f"backend={self.backend!r})"
        )

    # The operators validate like the functions of ``_arithmetic`` and share their kernels
    # (``_core_ops``), so this module needs nothing from the modules built on it.
    def __add__(self, other):
        xp = check_pair(self, other, names=("self", "other"))
        return TensorTrain._from_cores(block_sum_cores(self._cores, other._cores, xp=xp))

    def __sub__(self, other):
        xp = check_pair(self, other, names=("self", "other"))
        return TensorTrain._from_cores(block_sum_cores(self._cores, scale_cores(other._cores, -1.0), xp=xp))

    def __neg__(self):
        return TensorTrain._from_cores(scale_cores(self._cores, -1.0))

    def __mul__(self, other):
        if isinstance(other, TensorTrain):
            xp = check_pair(self, other, names=("self", "other"))
            return TensorTrain._from_cores(kron_cores(self._cores, other._cores, xp=xp))
        return TensorTrain._from_cores(scale_cores(self._cores, check_real_scalar(other, "other")))

    __rmul__ = __mul__

    def __truediv__(self, other):
        if isinstance(other, TensorTrain):
            raise ArgumentTypeError("division by a TensorTrain is not defined")
        return TensorTrain._from_cores(scale_cores(self._cores, 1.0 / check_real_scalar(other, "other")))


def require_tensor_train(tt, name: str) -> TensorTrain:
    """``tt`` if it is a :class:`TensorTrain`, else ``TypeError`` naming ``name``."""
    if not isinstance(tt, TensorTrain):
        raise ArgumentTypeError(f"{name} must be a TensorTrain, got {type(tt).__name__}")
    return tt


def check_pair(a, b, names=("a", "b")):
    """Both TensorTrains of one backend, one dtype and one shape; returns ``xp``."""
    require_tensor_train(a, names[0])
    require_tensor_train(b, names[1])
    xp = array_namespace(a.cores[0], b.cores[0], names=names)
    if a.dtype != b.dtype:
        raise ArgumentTypeError(f"{names[0]} has dtype {a.dtype} but {names[1]} has {b.dtype}; cast one with .astype(...)")
    if a.shape != b.shape:
        raise ArgumentValueError(
            f"{names[0]} and {names[1]} must have the same shape, got {names[0]}.shape = {a.shape} "
            f"and {names[1]}.shape = {b.shape}"
        )
    return xp
