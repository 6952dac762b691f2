"""TT point clouds: P = n_1 ... n_k points in R^D decoded from small cores.

A TT point cloud with mode sizes ``(n_1, ..., n_k)`` and ranks ``(r_1, ..., r_{k-1})``
has cores ``G_1: (D, n_1, r_1)``, ``G_j: (r_{j-1}, n_j, r_j)``, ``G_k: (r_{k-1}, n_k, 1)``
and points ``y(i_1..i_k) = G_1[:, i_1, :] @ G_2[:, i_2, :] @ ... @ G_k[:, i_k, :]``.
It is a TT tensor whose left boundary rank is D. Definitions, index order and
guarantees: ``specs/point_cloud.md``.
"""

from __future__ import annotations

import math
from typing import Iterator, Sequence

import numpy as np

from .._backend import (
    ArgumentIndexError,
    ArgumentTypeError,
    ArgumentValueError,
    BACKENDS,
    array_namespace,
    check_allocation,
    check_choice,
    check_int,
    check_real,
    default_rng,
    from_numpy,
    namespace_for,
    random_normal,
    resolve_dtype,
    to_numpy,
)
from .._backend._io import load_archive, save_npz
from ..tt._tensor_train import CoreTrain
from ._kernels import (
    _decode_multi,
    _dense_points,
    _flat_to_multi,
    _mean_cores,
    _multi_to_flat,
    _prefix_products,
    _sample_multi,
    _suffix_mean_vector,
)

__all__ = ["TTPointCloud", "n_params_for", "check_config"]

_FORMAT_TAG = "tt_ref.TTPointCloud"
_FORMAT_VERSION = 2  # 2: n_cores moved into the JSON meta (tt_ref._backend._io)


# --------------------------------------------------------------------------- configuration
def _as_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ArgumentTypeError(f"{name} must be an integer, got {value!r}")
    return int(value)


def check_config(dim, mode_sizes, ranks) -> tuple[int, tuple[int, ...], tuple[int, ...]]:
    """Validate a TT point-cloud configuration; return ``(dim, mode_sizes, ranks)`` as ints.

    Raises ``ValueError`` naming the argument when ``dim``, a mode size or a rank is
    below 1, or when ``len(ranks) != len(mode_sizes) - 1``.
    """
    dim = _as_int(dim, "dim")
    if dim < 1:
        raise ArgumentValueError(f"dim must be >= 1, got {dim}")
    if isinstance(mode_sizes, (str, bytes)) or not hasattr(mode_sizes, "__len__"):
        raise ArgumentTypeError(f"mode_sizes must be a sequence of integers, got {mode_sizes!r}")
    if isinstance(ranks, (str, bytes)) or not hasattr(ranks, "__len__"):
        raise ArgumentTypeError(f"ranks must be a sequence of integers, got {ranks!r}")
    mode_sizes = tuple(_as_int(n, "mode_sizes") for n in mode_sizes)
    ranks = tuple(_as_int(r, "ranks") for r in ranks)
    if len(mode_sizes) == 0:
        raise ArgumentValueError("mode_sizes must hold at least one mode size")
    if any(n < 1 for n in mode_sizes):
        raise ArgumentValueError(f"mode_sizes must all be >= 1, got {mode_sizes}")
    if len(ranks) != len(mode_sizes) - 1:
        raise ArgumentValueError(
            f"ranks must hold len(mode_sizes) - 1 = {len(mode_sizes) - 1} values "
            f"(r_1..r_(k-1)), got {len(ranks)}: {ranks}"
        )
    if any(r < 1 for r in ranks):
        raise ArgumentValueError(f"ranks must all be >= 1, got {ranks}")
    return dim, mode_sizes, ranks


def n_params_for(dim, mode_sizes, ranks) -> int:
    """Number of stored numbers of a TT point cloud: ``D n_1 r_1 + sum_j r_{j-1} n_j r_j``.

    Parameters
    ----------
    dim : int
        Dimension D of the points.
    mode_sizes : sequence of int
        ``(n_1, ..., n_k)``.
    ranks : sequence of int
        ``(r_1, ..., r_{k-1})``; ``r_k = 1``.

    Examples
    --------
    >>> from tt_ref.cloud._point_cloud import n_params_for
    >>> n_params_for(3, (4, 5), (2,))  # 3*4*2 + 2*5*1
    34
    """
    dim, mode_sizes, ranks = check_config(dim, mode_sizes, ranks)
    left = (dim,) + ranks
    right = ranks + (1,)
    return sum(a * n * b for a, n, b in zip(left, mode_sizes, right))


# --------------------------------------------------------------------------- the class
class TTPointCloud(CoreTrain):
    """An immutable TT point cloud: P = n_1 ... n_k points in R^D from small cores.

    Parameters
    ----------
    cores : sequence of arrays
        ``cores[0]: (D, n_1, r_1)``, ``cores[j]: (r_{j-1}, n_j, r_j)``,
        ``cores[-1]: (r_{k-1}, n_k, 1)``; one backend, one float dtype.
    check_values : bool, default True
        Reject NaN or inf in the cores (one device sync).

    Examples
    --------
    >>> import numpy as np
    >>> from tt_ref import TTPointCloud
    >>> cloud = TTPointCloud.random(dim=3, mode_sizes=(4, 5), ranks=(2,), seed=0)
    >>> cloud.dim, cloud.n_points, cloud.n_params
    (3, 20, 34)
    >>> cloud.decode(np.array([0, 19])).shape
    (2, 3)
    >>> bool(np.allclose(cloud.centroids(0), cloud.all_points().mean(axis=0)))
    True
    """

    __slots__ = ()
    _left_rank = None  # the first core carries the dimension D

    @property
    def dim(self) -> int:
        """Dimension D of the points."""
        return int(self._cores[0].shape[0])

    @property
    def mode_sizes(self) -> tuple[int, ...]:
        """``(n_1, ..., n_k)``."""
        return tuple(int(c.shape[1]) for c in self._cores)

    @property
    def ranks(self) -> tuple[int, ...]:
        """``(r_1, ..., r_{k-1})`` (the inner ranks; ``r_k = 1``, ``r_0 = D``)."""
        return tuple(int(c.shape[2]) for c in self._cores[:-1])

    @property
    def n_levels(self) -> int:
        """Number of cores k (levels of the hierarchy)."""
        return len(self._cores)

    @property
    def n_points(self) -> int:
        """P = n_1 ... n_k."""
        return math.prod(self.mode_sizes)

    @property
    def n_params(self) -> int:
        """Stored numbers, ``D n_1 r_1 + sum_j r_{j-1} n_j r_j`` (:func:`n_params_for`)."""
        return sum(int(c.shape[0] * c.shape[1] * c.shape[2]) for c in self._cores)

    def __repr__(self) -> str:
        return (
            f"TTPointCloud(dim={self.dim}, mode_sizes={self.mode_sizes}, ranks={self.ranks}, "
            f"n_points={self.n_points}, n_params={self.n_params}, dtype={self.dtype}, "
            f"backend={self.backend!r})"
        )

    # ------------------------------------------------------------------ indices
    def _multi_indices(self, indices, name: str = "indices"):
        """Validate flat (B,) or multi (B, k) integer indices; return (B, k) int64."""
        xp = self._xp
        try:
            ixp = array_namespace(indices, self._cores[0], names=(name, "cores"))
        except TypeError:
            if isinstance(indices, np.ndarray):
                raise
            raise ArgumentTypeError(
                f"{name} must be an integer array of the cloud's backend ({self.backend}), "
                f"got {type(indices).__name__}"
            ) from None
        del ixp
        if not xp.isdtype(indices.dtype, "integral"):
            raise ArgumentTypeError(f"{name} must be an integer array, got dtype {indices.dtype}")
        indices = xp.astype(indices, xp.int64)
        sizes = self.mode_sizes
        if indices.ndim == 1:
            total = self.n_points
            if indices.shape[0] and (int(xp.min(indices)) < 0 or int(xp.max(indices)) >= total):
                raise ArgumentIndexError(f"{name} (flat) must lie in [0, {total}) (the number of points)")
            return _flat_to_multi(indices, sizes, xp)
        if indices.ndim == 2:
            if indices.shape[1] != len(sizes):
                raise ArgumentValueError(
                    f"{name} as multi-indices must have shape (B, {len(sizes)}), got {tuple(indices.shape)}"
                )
            if indices.shape[0]:
                upper = xp.asarray(sizes, dtype=xp.int64)
                if bool(xp.any(indices < 0)) or bool(xp.any(indices >= upper[None, :])):
                    raise ArgumentIndexError(f"{name}[:, j] must lie in [0, n_j) for mode sizes {sizes}")
            return indices
        raise ArgumentValueError(f"{name} must be 1-D (flat indices) or 2-D (multi-indices), got shape {tuple(indices.shape)}")

    def flat_to_multi(self, flat):
        """C-order flat indices (B,) -> multi-indices (B, k) (``i_1`` slowest)."""
        return self._multi_indices(flat, "flat")

    def multi_to_flat(self, multi):
        """Multi-indices (B, k) -> C-order flat indices (B,)."""
        multi = self._multi_indices(multi, "multi")
        return _multi_to_flat(multi, self.mode_sizes, self._xp)

    # ------------------------------------------------------------------ decoding
    def decode(self, indices):
        """The points at ``indices``, shape (B, D).

        Parameters
        ----------
        indices : integer array, shape (B,) or (B, k)
            Flat indices in C order (``i_1`` slowest) in ``[0, P)``, or multi-indices.

        Returns
        -------
        array, shape (B, D)
            Contracted from the right: ``O(B (D r_1 + k r^2))``.
        """
        multi = self._multi_indices(indices)
        return _decode_multi(self._cores, multi, self._xp)

    def points(self, chunk: int = 65536) -> Iterator:
        """Iterate over all P points in flat order, at most ``chunk`` at a time.

        The suffix ``G_{m+1} ... G_k`` is contracted densely once, for the longest
        suffix whose points fit in a chunk; each chunk then multiplies a batch of
        prefix products by it (``O(D r)`` per point, memory ``O(chunk (D + r))``).
        Chunks hold a whole number of suffix blocks, so they may be shorter than ``chunk``.
        """
        return self._iter_points(check_int(chunk, name="chunk", minimum=1))

    def _iter_points(self, chunk: int) -> Iterator:
        xp = self._xp
        sizes = self.mode_sizes
        k = len(sizes)
        level = 0  # number of prefix modes
        while math.prod(sizes[level:]) > chunk:
            level += 1
        if level == 0:
            yield self.all_points()
            return
        block = math.prod(sizes[level:])
        if level < k:
            suffix = xp.matrix_transpose(_dense_points(self._cores[level:], xp))  # (r_level, block)
        else:
            suffix = xp.ones((1, 1), dtype=self.dtype)
        n_prefixes = math.prod(sizes[:level])
        per_chunk = max(1, chunk // block)
        for start in range(0, n_prefixes, per_chunk):
            stop = min(start + per_chunk, n_prefixes)
            prefix = _flat_to_multi(xp.arange(start, stop, dtype=xp.int64), sizes[:level], xp)
            pts = _prefix_products(self._cores, prefix, xp) @ suffix  # (q, D, block)
            yield xp.reshape(xp.permute_dims(pts, (0, 2, 1)), ((stop - start) * block, self.dim))

    def all_points(self):
        """All P points as a (P, D) array in flat C order (dense contraction, O(P D r))."""
        return _dense_points(self._cores, self._xp)

    def mean_cores(self) -> tuple:
        """``Gbar_j`` = mean over ``i_j`` of ``G_j``: ``(D, r_1), (r_1, r_2), ..., (r_{k-1}, 1)``."""
        return _mean_cores(self._cores, self._xp)

    def centroids(self, level: int):
        """Cluster centres of ``level`` (specs/method.md §4), shape ``(n_1 ... n_level, D)``.

        The centre of the prefix ``(i_1..i_m)`` is the mean of all points under it,
        ``G_1[:, i_1, :] ... G_m[:, i_m, :] Gbar_{m+1} ... Gbar_k``: computed from the
        factorized suffix means, never by averaging decoded points. Level 0 is the
        global mean (1, D); level k gives the points themselves. Rows in C order of the
        prefix.
        """
        if isinstance(level, bool) or not isinstance(level, (int, np.integer)):
            raise ArgumentTypeError(f"level must be an integer, got {level!r}")
        level = int(level)
        k = self.n_levels
        if not 0 <= level <= k:
            raise ArgumentValueError(f"level must be in [0, {k}] (the number of levels), got {level}")
        xp = self._xp
        if level == 0:
            vec = _suffix_mean_vector(self._cores, 0, xp)  # Gbar_1 ... Gbar_k as (D,)
            return xp.reshape(vec, (1, -1))
        suffix = _suffix_mean_vector(self._cores, level, xp)  # (r_level,)
        prefix = list(self._cores[:level])
        last = prefix[-1]
        prefix[-1] = xp.reshape(xp.tensordot(last, suffix, axes=1), (last.shape[0], last.shape[1], 1))
        return _dense_points(tuple(prefix), xp)

    def sample(self, n: int, seed=0):
        """``n`` points drawn uniformly from the P points, with replacement, shape (n, D).

        ``seed`` is an int, a ``SeedSequence`` or a ``numpy.random.Generator``; each
        mode index is drawn independently, which is uniform over the P points.
        """
        n = check_int(n, name="n", minimum=0)
        check_allocation((n, self.dim + self.n_levels), 8, what=f"sample: n={n} points of dimension {self.dim}")
        multi = _sample_multi(seed, self.mode_sizes, n, self._xp)
        return _decode_multi(self._cores, multi, self._xp)

    # ------------------------------------------------------------------ conversions
    # ------------------------------------------------------------------ files
    def save(self, path) -> None:
        """Write the cores to ``path`` as .npz (atomic: temp file, then ``os.replace``).

        The file holds a format tag and version, checked by :meth:`load`; no pickle.
        """
        arrays = {f"core_{j}": to_numpy(core) for j, core in enumerate(self._cores)}
        save_npz(path, arrays, format_tag=_FORMAT_TAG, version=_FORMAT_VERSION, meta={"n_cores": self.n_levels})

    @classmethod
    def load(cls, path, backend: str = "numpy") -> "TTPointCloud":
        """Read a cloud written by :meth:`save` onto ``backend`` (no pickle; tag checked)."""
        backend = check_choice(backend, BACKENDS, name="backend")
        archive = load_archive(path, format_tag=_FORMAT_TAG, version=_FORMAT_VERSION, what="TT point cloud")
        # The whole file against its format before a cloud is built (specs/errors.md §Files).
        n_cores = archive.integer("n_cores", minimum=1)
        cores = [archive.array(f"core_{j}", ndim=3, kind="f", finite=True) for j in range(n_cores)]
        extra = sorted(set(archive.arrays) - {f"core_{j}" for j in range(n_cores)})
        if extra:
            raise archive.error(extra[0], "is not a field of this format")
        for j in range(1, n_cores):
            if cores[j].shape[0] != cores[j - 1].shape[2] or cores[j].dtype != cores[0].dtype:
                raise archive.error(f"core_{j}", f"shape {cores[j].shape} / dtype {cores[j].dtype} does not follow "
                                                 f"core_{j - 1} ({cores[j - 1].shape}, {cores[j - 1].dtype})")
        if cores[-1].shape[2] != 1 or cores[0].dtype not in (np.float32, np.float64):
            raise archive.error(f"core_{n_cores - 1}", "must end with rank 1, in float32 or float64")
        xp = namespace_for(backend)
        return cls(tuple(from_numpy(core, xp) for core in cores), check_values=False)

    # ------------------------------------------------------------------ construction
    @classmethod
    def random(
        cls,
        dim: int,
        mode_sizes: Sequence[int],
        ranks: Sequence[int],
        *,
        seed=0,
        dtype="float64",
        backend: str = "numpy",
        scale: float = 1.0,
    ) -> "TTPointCloud":
        """A cloud with Gaussian cores scaled so each point coordinate has std ``scale``.

        ``G_1 ~ N(0, scale^2 / r_1)``, ``G_j ~ N(0, 1 / r_j)`` (``r_k = 1``), drawn in
        order from one host generator seeded by ``seed``: the same cores on every
        backend.
        """
        dim, mode_sizes, ranks = check_config(dim, mode_sizes, ranks)
        scale = check_real(scale, name="scale", minimum=0.0)
        check_allocation(n_params_for(dim, mode_sizes, ranks), 8,
                         what=f"TTPointCloud.random: dim {dim}, mode_sizes {mode_sizes}, ranks {ranks}")
        xp = namespace_for(backend)
        dtype = resolve_dtype(dtype, xp)
        rng = default_rng(seed)
        left = (dim,) + ranks
        right = ranks + (1,)
        cores = []
        for j, (a, n, b) in enumerate(zip(left, mode_sizes, right)):
            std = (scale if j == 0 else 1.0) / math.sqrt(b)
            cores.append(random_normal(rng, (a, n, b), xp=xp, dtype=dtype) * std)
        return cls._from_cores(tuple(cores))
