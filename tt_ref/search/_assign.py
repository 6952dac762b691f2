"""Bucket assignment of the TT index: each vector to the bucket of its nearest TT point
(specs/index.md §Assignment).

``"exact"`` compares with all ``P`` TT points in chunks; ``"beam"`` walks the tree with
the search's beam (:func:`tt_ref.search._beam.nearest_leaf`) and takes the nearest leaf it
reaches, which equals ``"exact"`` when the beam covers every prefix.
"""

from __future__ import annotations

from .._backend._neighbors import squared_distances
from ._beam import nearest_leaf
from ._config import row_chunks

__all__ = ["assign_buckets"]


def assign_buckets(vectors, *, method: str, cloud, tables, beam: int, budget: int, xp):
    """Flat index of the nearest TT point of each row of ``vectors`` (``method`` decides how)."""
    if vectors.shape[0] == 0:
        return xp.zeros((0,), dtype=xp.int64)
    if method == "exact":
        return _assign_exact(vectors, cloud, budget, xp)
    per_row = max(tables.row_elements(beam), vectors.shape[1])
    return xp.concat([nearest_leaf(tables, vectors[start:stop, :], beam, xp=xp)
                      for start, stop in row_chunks(vectors.shape[0], per_row, budget, cap=1024)])


def _assign_exact(vectors, cloud, budget: int, xp):
    # Chunked over vectors and TT points so memory stays bounded for large P; argmin
    # keeps the smaller flat index on ties.
    n_points = cloud.n_points
    points_per = max(1, budget // (4 * max(vectors.shape[1], 1)))
    rows_per = max(1, budget // min(n_points, points_per))
    out = []
    for start in range(0, vectors.shape[0], rows_per):
        v = vectors[start:min(start + rows_per, vectors.shape[0]), :]
        best_d, best_b, offset = None, None, 0
        for points in cloud.points(chunk=points_per):
            d2 = squared_distances(v, points, xp=xp)
            arg = xp.astype(xp.argmin(d2, axis=1), xp.int64) + offset
            d_min = xp.min(d2, axis=1)
            offset += points.shape[0]
            if best_d is None:
                best_d, best_b = d_min, arg
            else:
                better = d_min < best_d
                best_d = xp.where(better, d_min, best_d)
                best_b = xp.where(better, arg, best_b)
        out.append(best_b)
    return xp.concat(out)
