"""Centre tables of a TT point cloud and the beam search down its hierarchy (specs/index.md §Centres, §Search).

A TT point cloud is a tree: level ``m`` has ``n_1 ... n_m`` centres (prefix means), the
leaves are the TT points. Distances to centres never build a D-vector below the first
level: with ``L`` the ``D x r`` prefix product and ``u`` a child's ``r``-vector,
``||q - L u||^2 = ||q||^2 - 2 (L^T q) . u + u^T (L^T L) u``; ``L^T q`` is carried down
the beam (``r`` numbers per beam entry) and ``u^T (L^T L) u`` is tabulated for every
centre once per cloud (:class:`BeamTables`).

Everything here is a pure function of the tables and the queries (Array API only); the
index, the bucket assignment and the diagnostics share it.
"""

from __future__ import annotations

import math

from .._backend import to_numpy, topk_smallest

__all__ = ["BeamTables", "LeafScores", "beam_search", "nearest_leaf", "centre_sq_distances", "projects_by_prefix"]


class BeamTables:
    """Immutable tables of one TT point cloud for factorized centre distances.

    Build with :meth:`from_cloud`. ``children[m]`` is ``W_m`` (``(D, n_1)`` at level 1,
    ``(r_{m-1}, n_m)`` below): column ``i`` is a child's vector ``u = G_m[:, i, :] s_m``
    with ``s_m`` the mean of the suffix; ``centre_sq[m]`` holds ``u^T (L^T L) u`` for the
    ``n_1 ... n_{m+1}`` centres of level ``m + 1`` in C order; ``first`` is the first core as
    ``(D, n_1 r_1)`` and ``cores[m]`` the core ``m`` as ``(n_m, r_{m-1}, r_m)``.

    Examples
    --------
    >>> import numpy as np
    >>> from tt_ref.cloud._point_cloud import TTPointCloud
    >>> cloud = TTPointCloud.random(3, (4, 5), (2,), seed=0)
    >>> tables = BeamTables.from_cloud(cloud)
    >>> tables.mode_sizes, [int(c.shape[0]) for c in tables.centre_sq]
    ((4, 5), [4, 20])
    >>> q = np.ones((1, 3))
    >>> ref = np.sum((q - cloud.all_points()) ** 2, axis=1)
    >>> bool(np.allclose(centre_sq_distances(tables, q, 2)[0], ref))
    True
    """

    __slots__ = ("mode_sizes", "first", "children", "cores", "centre_sq")

    def __init__(self, mode_sizes, first, children, cores, centre_sq):
        for name, value in zip(self.__slots__, (tuple(mode_sizes), first, tuple(children), tuple(cores),
                                                tuple(centre_sq))):
            object.__setattr__(self, name, value)

    def __setattr__(self, key, value):
        raise AttributeError("BeamTables is immutable")

    def __reduce__(self):
        return (BeamTables, (self.mode_sizes, self.first, self.children, self.cores, self.centre_sq))

    @classmethod
    def from_cloud(cls, cloud) -> "BeamTables":
        """The tables of ``cloud`` (on its backend and dtype)."""
        xp = cloud.xp
        cores = cloud.cores
        k = len(cores)
        # suffix[m] = Gbar_{m+1} ... Gbar_k (an r_m vector): averaging the suffix indices.
        suffix = [None] * k
        suffix[k - 1] = xp.ones((1,), dtype=cores[0].dtype)
        for m in range(k - 2, -1, -1):
            suffix[m] = xp.mean(cores[m + 1], axis=1) @ suffix[m + 1]
        children = [xp.tensordot(core, s, axes=([2], [0])) for core, s in zip(cores, suffix)]
        by_mode = [xp.permute_dims(core, (1, 0, 2)) for core in cores]
        first = xp.reshape(cores[0], (cores[0].shape[0], cores[0].shape[1] * cores[0].shape[2]))
        return cls(cloud.mode_sizes, first, children, by_mode, _centre_norms(cores, children, by_mode, xp))

    def with_empty_leaves(self, nonempty, xp) -> "BeamTables":
        """The same tables with ``inf`` as the norm of every leaf where ``nonempty`` is False.

        A leaf's distance is then ``inf`` straight out of :func:`beam_search`, so a search
        orders the non-empty buckets first without looking at the bucket sizes.
        """
        last = self.centre_sq[-1]
        masked = xp.where(nonempty, last, xp.full_like(last, math.inf))
        return BeamTables(self.mode_sizes, self.first, self.children, self.cores, self.centre_sq[:-1] + (masked,))

    def row_elements(self, beam: int) -> int:
        """Largest temporary (elements) :func:`beam_search` creates per query."""
        sizes = [self.first.shape[1]]
        for core in self.cores[1:]:
            n_m, r_prev, r_m = core.shape
            sizes += [beam * n_m, beam * r_prev * r_m]
        return max(sizes)

    def cost(self, beam: int, *, by_prefix: bool) -> dict:
        """Work of :func:`beam_search` per query, in counts and in distance equivalents.

        ``centres``: centre distances scored (``n_1 + sum_m width_{m-1} n_m``);
        ``projections``: ``D``-dimensional dot products of ``L^T q`` (``r_1`` per projected
        level-1 prefix: all ``n_1``, or the kept ``min(beam, n_1)`` with ``by_prefix``);
        ``equivalents``: the multiply-adds over ``D``, the unit of a flat quantizer's
        count (a level-1 centre or a projection is one; a centre below is an
        ``r_{m-1}``-dimensional product, ``r_{m-1} / D``; carrying ``L^T q`` down a level
        costs ``r_{m-1} r_m / D`` per kept prefix).
        """
        dim, n_1 = self.first.shape[0], self.mode_sizes[0]
        if len(self.mode_sizes) == 1:
            return {"centres": n_1, "projections": 0, "equivalents": float(n_1)}
        width = min(beam, n_1)
        projections = (width if by_prefix else n_1) * (self.first.shape[1] // n_1)
        centres, macs = n_1, 0
        for m, core in enumerate(self.cores[1:], start=1):
            n_m, r_prev, r_m = core.shape
            centres += width * n_m
            macs += width * n_m * r_prev
            if m < len(self.cores) - 1:
                width = min(beam, width * n_m)
                macs += width * r_prev * r_m
        return {"centres": centres, "projections": projections, "equivalents": n_1 + projections + macs / dim}

    @property
    def n_entries(self) -> int:
        """Number of tabulated centre norms (all levels)."""
        return sum(int(c.shape[0]) for c in self.centre_sq)


def _centre_norms(cores, children, by_mode, xp):
    """``u^T (L^T L) u`` for every centre of every level, carrying the Grams ``L^T L`` down."""
    centre_sq = [xp.sum(children[0] * children[0], axis=0)]
    gram = None if len(cores) == 1 else xp.matrix_transpose(by_mode[0]) @ by_mode[0]  # (n_1, r_1, r_1)
    for m in range(1, len(cores)):
        core = cores[m]
        r_prev, n_m, r_m = core.shape
        w = children[m]
        mw = gram @ w  # (P_{m-1}, r_{m-1}, n_m)
        centre_sq.append(xp.reshape(xp.sum(mw * w, axis=1), (-1,)))
        if m < len(cores) - 1:
            y = xp.reshape(gram @ xp.reshape(core, (r_prev, n_m * r_m)), (gram.shape[0], r_prev, n_m, r_m))
            y = xp.permute_dims(y, (0, 2, 1, 3))  # (P_{m-1}, n_m, r_{m-1}, r_m)
            gram = xp.matrix_transpose(by_mode[m])[None, ...] @ y  # (P_{m-1}, n_m, r_m, r_m)
            gram = xp.reshape(gram, (-1, r_m, r_m))
    return centre_sq


class LeafScores:
    """Squared distances from each query to the leaves its beam reached.

    ``d[b, j]`` is the distance of query ``b`` to leaf column ``j``; column ``j`` is child
    ``j % n_k`` of the kept prefix ``prefix[b, j // n_k]`` (with one level, column ``j``
    is leaf ``j`` and ``prefix`` is None). ``n_centres`` counts the centre distances
    evaluated per query (one per centre, whether ``D``- or ``r``-dimensional);
    ``n_projections`` the ``D``-dimensional dot products of ``L^T q`` (``r_1`` per level-1
    prefix projected), which a flat quantizer does not pay.
    """

    __slots__ = ("d", "prefix", "n_last", "n_centres", "n_projections")

    def __init__(self, d, prefix, n_last: int, n_centres: int, n_projections: int = 0):
        self.d, self.prefix, self.n_last, self.n_centres = d, prefix, n_last, n_centres
        self.n_projections = n_projections

    def leaf_ids(self, columns, xp):
        """Flat leaf ids of the leaf columns ``columns`` (``(b, w)`` integers)."""
        if self.prefix is None:
            return columns
        return take_rows(self.prefix, columns // self.n_last, xp) * self.n_last + columns % self.n_last


def projects_by_prefix(n_1: int, beam: int) -> bool:
    """Whether a NumPy search projects only the kept level-1 prefixes (``n_1 >= 4 beam``).

    The full product ``q @ G_1`` costs ``n_1 r_1`` dot products of length ``D`` per query,
    about a flat IVF's whole coarse step when ``n_1 r_1`` is near its list count; the kept
    prefixes need ``min(beam, n_1) r_1``. Grouping the queries by prefix costs a host read
    and one product per distinct prefix: on MNIST-5k (one thread, 500 queries) it saved
    29% of the search at ``n_1 = 64``, beam 8, and cost 15% more at ``n_1 = 16``, beam 8.
    """
    return n_1 >= 4 * min(beam, n_1)


def beam_search(tables: BeamTables, q, beam: int, *, xp, by_prefix: bool = False) -> LeafScores:
    """Beam search down the levels: the leaves of the last beam and their distances.

    Level 1 scores all ``n_1`` centres and keeps the ``min(beam, n_1)`` nearest; each
    level below scores the ``n_m`` children of every kept prefix and keeps the ``beam``
    nearest; the last level's children are the leaves returned (``width * n_k`` per
    query, ``n_1`` with one level).

    ``by_prefix=True`` computes ``L^T q`` for the kept level-1 prefixes only, one product
    per distinct prefix (one host read: searches take it on NumPy, see
    :func:`projects_by_prefix`); otherwise one product over all ``n_1`` prefixes (no host
    read: every other backend). Both give the same numbers up to rounding.
    """
    n_q = q.shape[0]
    k_levels = len(tables.mode_sizes)
    q_sq = xp.sum(q * q, axis=1)[:, None]
    n_1 = tables.mode_sizes[0]
    d = q_sq - 2.0 * (q @ tables.children[0]) + tables.centre_sq[0][None, :]
    if k_levels == 1:
        return LeafScores(d, None, n_1, n_1)
    n_centres = n_1
    width = min(beam, n_1)
    d, prefix = topk_smallest(d, width, xp=xp)
    r_1 = tables.first.shape[1] // n_1
    if by_prefix and n_q > 0:
        a = _kept_projections(q, tables.first, prefix, r_1, xp)
        n_projections = width * r_1
    else:  # a = L^T q: one GEMM over all level-1 children, then gather the kept ones
        a_all = xp.reshape(q @ tables.first, (n_q * n_1, -1))
        rows = xp.reshape(prefix + xp.arange(n_q, dtype=xp.int64)[:, None] * n_1, (-1,))
        a = xp.reshape(xp.take(a_all, rows, axis=0), (n_q, width, -1))
        n_projections = n_1 * r_1
    for m in range(1, k_levels):
        n_m = tables.mode_sizes[m]
        cross = xp.reshape(a @ tables.children[m], (n_q, width * n_m))
        # The children's norms: one row of the table per kept prefix.
        norms = xp.take(xp.reshape(tables.centre_sq[m], (-1, n_m)), xp.reshape(prefix, (-1,)), axis=0)
        d = q_sq - 2.0 * cross + xp.reshape(norms, (n_q, width * n_m))
        n_centres += width * n_m
        if m == k_levels - 1:
            return LeafScores(d, prefix, n_m, n_centres, n_projections)
        new_width = min(beam, width * n_m)
        d, sel = topk_smallest(d, new_width, xp=xp)
        prefix = take_rows(prefix, sel // n_m, xp) * n_m + sel % n_m
        rows = xp.reshape(sel // n_m + xp.arange(n_q, dtype=xp.int64)[:, None] * width, (-1,))
        a_par = xp.take(xp.reshape(a, (n_q * width, -1)), rows, axis=0)  # (n_q*new_width, r_{m-1})
        core = xp.take(tables.cores[m], xp.reshape(sel % n_m, (-1,)), axis=0)  # (n_q*new_width, r_{m-1}, r_m)
        a = xp.reshape(a_par[:, None, :] @ core, (n_q, new_width, -1))
        width = new_width
    raise AssertionError("unreachable")


def _kept_projections(q, first, prefix, r_1: int, xp):
    """``G_1[:, p, :]^T q`` for each kept prefix ``p`` of each query: ``(b, width, r_1)``.

    The (query, prefix) pairs are sorted by prefix; each distinct prefix is one product
    of the queries that kept it with its ``D x r_1`` slab of the first core.
    """
    n_q, width = prefix.shape
    flat = xp.reshape(prefix, (-1,))
    order = xp.argsort(flat, stable=False)
    sorted_prefix = xp.take(flat, order)
    n_1 = first.shape[1] // r_1
    bounds = xp.searchsorted(sorted_prefix, xp.arange(n_1 + 1, dtype=sorted_prefix.dtype))
    bounds = to_numpy(bounds).tolist()  # the one host read: where each prefix's pairs start
    q_pairs = xp.take(q, order // width, axis=0)  # each pair's query, in prefix order
    pieces = []
    for p in range(n_1):
        lo, hi = bounds[p], bounds[p + 1]
        if hi > lo:
            pieces.append(q_pairs[lo:hi, :] @ first[:, p * r_1:(p + 1) * r_1])
    a_sorted = xp.concat(pieces, axis=0)
    return xp.reshape(xp.take(a_sorted, xp.argsort(order, stable=False), axis=0), (n_q, width, r_1))


def nearest_leaf(tables: BeamTables, q, beam: int, *, xp):
    """Flat id of the nearest leaf the beam reaches, per query (ties: the first column)."""
    scores = beam_search(tables, q, beam, xp=xp)
    best = xp.astype(xp.argmin(scores.d, axis=1), xp.int64)[:, None]
    return xp.reshape(scores.leaf_ids(best, xp), (-1,))


def centre_sq_distances(tables: BeamTables, Q, level: int, *, xp=None):
    """Squared distances from each query to every centre of ``level`` (factorized).

    Level ``m`` (``1 <= m <= k``) has ``n_1 ... n_m`` centres in C order; level ``k`` are
    the TT points. The cost grows with the level (for tests and diagnostics).
    """
    if xp is None:
        from .._backend import array_namespace

        xp = array_namespace(Q)
    n_q = Q.shape[0]
    q_sq = xp.sum(Q * Q, axis=1)[:, None]
    if level == 1:
        return xp.clip(q_sq - 2.0 * (Q @ tables.children[0]) + tables.centre_sq[0][None, :], 0.0, None)
    a = xp.reshape(Q @ tables.first, (n_q, tables.mode_sizes[0], -1))  # (n_q, P_1, r_1)
    for m in range(1, level - 1):
        n_m, r_prev, r_m = tables.cores[m].shape
        core = xp.reshape(xp.permute_dims(tables.cores[m], (1, 0, 2)), (r_prev, n_m * r_m))
        a = xp.reshape(a @ core, (n_q, -1, r_m))
    cross = xp.reshape(a @ tables.children[level - 1], (n_q, -1))
    return xp.clip(q_sq - 2.0 * cross + tables.centre_sq[level - 1][None, :], 0.0, None)


def take_rows(x, indices, xp):
    """``x[b, indices[b, j]]`` for 2-D ``x`` and ``indices`` (Array API only)."""
    n_rows, n_cols = x.shape
    offsets = xp.arange(n_rows, dtype=xp.int64)[:, None] * n_cols
    flat = xp.reshape(indices + offsets, (-1,))
    return xp.reshape(xp.take(xp.reshape(x, (-1,)), flat), indices.shape)
