"""The optional faiss-backed scan of the TT index (specs/index.md §Scans).

The TT beam and leaf selection stay tt_ref's; only the exact re-rank is handed to faiss:
an ``IndexIVFFlat`` whose inverted lists are the TT buckets (the same vectors in the
same order, added with their bucket as the coarse assignment) answers
``search_preassigned`` with the leaves each query selected and
``max_codes = n_candidates``, so faiss scans exactly the candidates the NumPy path
scans (the last bucket cut alike) with its own distance kernel. NumPy float32 indexes
only (faiss computes in float32); the NumPy path stays the reference.
"""

from __future__ import annotations

import math

import numpy as np

from .._backend import ArgumentValueError, MissingDependencyError, dtype_name, to_numpy

__all__ = ["check_faiss_scan", "scan_faiss"]


def _faiss():
    try:
        import faiss
    except ImportError:
        raise MissingDependencyError("scan='faiss' needs faiss: pip install faiss-cpu") from None
    return faiss


def check_faiss_scan(backend: str, dtype, *, filtered: bool, n_candidates) -> None:
    """Refuse ``scan="faiss"`` where it cannot run as the NumPy path does: another backend or
    dtype, faiss missing, or ``allow`` with ``n_candidates`` (faiss's ``max_codes`` then
    counts the allowed vectors only, the NumPy path every vector of the buckets it scans)."""
    if backend != "numpy" or dtype_name(dtype) != "float32":
        raise ArgumentValueError(f"scan='faiss' needs a float32 NumPy index, this one is {dtype} on {backend}")
    if filtered and n_candidates is not None:
        raise ArgumentValueError("scan='faiss' with allow needs n_probe (not n_candidates); or use scan='lists'")
    _faiss()


def _faiss_index(lists):
    """The faiss IVF holding ``lists`` (built once per version of the lists, cached on them)."""
    cached = lists.cache.get("faiss")
    if cached is not None:
        return cached
    faiss = _faiss()
    ivf = faiss.IndexIVFFlat(faiss.IndexFlatL2(lists.dim), lists.dim, lists.n_buckets)
    ivf.is_trained = True  # the coarse assignment is given; the quantizer is never used
    if lists.ntotal:
        vectors = np.ascontiguousarray(to_numpy(lists.vectors), dtype=np.float32)
        ids = np.ascontiguousarray(to_numpy(lists.ids), dtype=np.int64)
        buckets = np.ascontiguousarray(to_numpy(lists.bucket_of_rows()), dtype=np.int64)
        ivf.add_core(lists.ntotal, faiss.swig_ptr(vectors), faiss.swig_ptr(ids), faiss.swig_ptr(buckets))
    lists.cache["faiss"] = ivf
    return ivf


def scan_faiss(q, leaves, take, lists, allow_ids, k: int, *, n_candidates, xp):
    """The re-rank of :func:`~tt_ref.search._scan.scan_lists`, run by faiss.

    ``allow_ids`` is None or the sorted allowed ids. Returns ``(distances, ids, candidates
    scanned)``; distances are faiss's float32 ``||q - x||^2`` (the same values up to
    rounding), ``inf`` / ``-1`` where fewer than ``k`` were found.
    """
    faiss = _faiss()
    ivf = _faiss_index(lists)
    take_np = to_numpy(take)
    probes = np.where(take_np > 0, to_numpy(leaves), -1).astype(np.int64)  # -1: a list faiss skips
    n_q, width = probes.shape
    queries = np.ascontiguousarray(to_numpy(q), dtype=np.float32)
    params = faiss.SearchParametersIVF()
    params.nprobe = width
    params.max_codes = 0 if n_candidates is None else int(n_candidates)
    keep = None
    if allow_ids is not None:
        keep = np.ascontiguousarray(to_numpy(allow_ids), dtype=np.int64)
        params.sel = faiss.IDSelectorBatch(keep.shape[0], faiss.swig_ptr(keep))
    distances = np.empty((n_q, k), dtype=np.float32)
    found = np.empty((n_q, k), dtype=np.int64)
    coarse = np.zeros(probes.shape, dtype=np.float32)
    ivf.search_preassigned_c(n_q, faiss.swig_ptr(queries), k, faiss.swig_ptr(probes), faiss.swig_ptr(coarse),
                             faiss.swig_ptr(distances), faiss.swig_ptr(found), False, params)
    distances = np.where(found < 0, np.float32(math.inf), np.maximum(distances, np.float32(0.0)))
    return xp.asarray(distances), xp.asarray(found), int(take_np.sum())
