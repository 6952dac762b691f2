"""The private backend package: the one place that knows about NumPy, CuPy and array-api-strict.

Everything else in tt_ref is written against the Python Array API standard and gets its
namespace ``xp`` from its inputs (:func:`array_namespace`) once per public function.
What the standard lacks lives here, once:

* ``_namespace``: namespaces, dtypes, moving arrays between backends, device
  synchronisation, and the host reads of scalars (:func:`to_scalar`, :func:`to_ints`,
  :func:`to_floats`: every device-to-host read of a hot loop goes through them, so they
  are the sync points, documented in ``specs/gpu.md`` and counted by
  :func:`count_host_reads`);
* ``_random``: random numbers drawn on the host from ``numpy.random.Generator``, so one
  seed gives the same numbers on every backend, then cast and moved;
* ``_kernels``: scatter-add and top-k smallest (fast paths on NumPy and CuPy, a
  standard-only path otherwise; tests check that they agree);
* ``_validation``: the argument checks every public function shares;
* ``_neighbors``: exact squared distances and k-nearest neighbours, the kernel that
  k-means, the losses, the quality measures and the index all use;
* ``_memory``: the memory limit every sized request is checked against before allocating;
* ``_progress``: the one progress-bar helper (tqdm, only when stderr is a terminal);
* ``_io``: atomic writes, checked output paths and tagged, pickle-free ``.npz`` archives,
  each header checked before anything is allocated.
"""

from __future__ import annotations

from ._errors import (
    ArgumentIndexError,
    ArgumentTypeError,
    ArgumentValueError,
    FileFormatError,
    InputError,
    MemoryLimitError,
    MissingDependencyError,
)
from ._kernels import scatter_add, take_along_last_axis, topk_smallest
from ._namespace import (
    BACKENDS,
    array_namespace,
    backend_name,
    count_host_reads,
    dtype_name,
    from_numpy,
    is_backend_available,
    move_array,
    namespace_for,
    resolve_dtype,
    synchronize,
    to_backend,
    to_floats,
    to_ints,
    to_numpy,
    to_scalar,
    work_elements,
)
from ._memory import check_allocation, get_memory_limit, memory_limit, set_memory_limit
from ._progress import progress_bar
from ._random import default_rng, random_choice, random_integers, random_normal, random_uniform
from ._validation import (
    as_float_array,
    as_point_sets,
    check_choice,
    check_finite,
    check_int,
    check_int_sequence,
    check_optional_int,
    check_real,
)

__all__ = [
    "BACKENDS",
    "array_namespace",
    "namespace_for",
    "backend_name",
    "is_backend_available",
    "resolve_dtype",
    "dtype_name",
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
    "check_int",
    "check_optional_int",
    "check_int_sequence",
    "check_real",
    "check_choice",
    "InputError",
    "ArgumentValueError",
    "ArgumentTypeError",
    "FileFormatError",
    "MemoryLimitError",
    "MissingDependencyError",
    "ArgumentIndexError",
    "check_allocation",
    "get_memory_limit",
    "set_memory_limit",
    "memory_limit",
    "progress_bar",
]
