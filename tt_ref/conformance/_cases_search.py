"""Conformance cases of search and anomaly detection: exact kNN with ties, TT-index beam
search on given cores (the leaves each query visits, its candidates, its results), and the
detection metrics with tied scores (``specs/conformance.md`` §Cases).
"""

from __future__ import annotations

import numpy as np

from ..cloud import TTPointCloud
from ..ood import aupr, auroc, fpr_at_tpr, precision_at_recall
from ..search import TTIndex, nearest_neighbors
from ._case import ConformanceCase
from ._cases_tt import tt_inputs
from ._tolerances import C, k_knn, unit_of

__all__ = ["cases", "beam_reference"]

_SEED = 20240603
TIES = ("ids among equal distances (a tie at the k-th distance admits any of the tied ids; the set of ids "
        "strictly closer is fixed)")


def _tol(k, dtype="float64", **extra) -> dict:
    return {"c": C, "K": int(k), "unit": unit_of(dtype), **extra}


def _knn_case(label, queries, base, k, dtype="float64") -> ConformanceCase:
    queries, base = queries.astype(dtype), base.astype(dtype)
    dist, ids = nearest_neighbors(queries, base, k)
    return ConformanceCase(
        name=f"knn/{label}", operation="knn", params={"k": k}, inputs={"queries": queries, "base": base},
        expected={"distances": np.asarray(dist), "ids": np.asarray(ids)},
        tolerance=_tol(k_knn(base.shape[1]), dtype), may_differ=TIES, compare="neighbors")


def _knn_cases() -> list:
    rng = np.random.default_rng(_SEED)
    lattice = np.array([[i, j] for i in range(4) for j in range(4)], dtype=np.float64)
    centres = np.array([[0.5, 0.5], [1.5, 2.5], [3.0, 3.0], [0.0, 1.5]])
    base = rng.standard_normal((40, 5))
    with_duplicates = np.concatenate([base, base[:6]])
    return [
        _knn_case("lattice_ties", centres, lattice, 3),
        _knn_case("duplicates", rng.standard_normal((6, 5)), with_duplicates, 4),
        _knn_case("float32", rng.standard_normal((6, 5)), base, 5, "float32"),
        _knn_case("k_equals_n", rng.standard_normal((3, 5)), base[:7], 7),
    ]


def beam_reference(cloud, base, queries, beam: int, n_probe: int):
    """The beam search of ``specs/index.md`` in plain NumPy on the centres of ``cloud``:
    ``(leaves, candidates, gaps)`` per query, and the smallest relative gap at a cut."""
    modes = cloud.mode_sizes
    points = np.asarray(cloud.all_points(), dtype=np.float64)
    bucket = np.argmin(np.sum((base[:, None, :] - points[None]) ** 2, axis=-1), axis=1)  # exact assignment
    centres = [np.asarray(cloud.centroids(m), dtype=np.float64) for m in range(1, len(modes) + 1)]
    leaves_all, cands_all, gap = [], [], np.inf

    def cut(d, width):
        nonlocal gap
        order = np.argsort(d, kind="stable")
        if width < d.size:
            gap = min(gap, (d[order[width]] - d[order[width - 1]]) / (abs(d[order[width]]) + 1.0))
        return order[:width]

    for q in queries:
        prefixes = np.arange(modes[0])
        for m in range(1, len(modes)):
            d = np.sum((centres[m - 1][prefixes] - q) ** 2, axis=1)
            kept = prefixes[cut(d, min(beam, prefixes.size))]
            prefixes = (kept[:, None] * modes[m] + np.arange(modes[m])[None, :]).ravel()
        d = np.sum((centres[-1][prefixes] - q) ** 2, axis=1)
        nonempty = np.isin(prefixes, bucket)
        d = np.where(nonempty, d, np.inf)
        probed = prefixes[cut(d, min(n_probe, prefixes.size))]
        leaves_all.append(prefixes)
        cands_all.append(np.flatnonzero(np.isin(bucket, probed)))
    width = max(len(c) for c in cands_all)
    candidates = np.full((len(queries), width), -1, dtype=np.int64)
    for row, c in enumerate(cands_all):
        candidates[row, :len(c)] = c
    return np.stack(leaves_all).astype(np.int64), candidates, gap


def _beam_case() -> ConformanceCase:
    rng = np.random.default_rng(_SEED + 1)
    cloud = TTPointCloud.random(4, (4, 3, 3), (3, 3), seed=_SEED + 2)
    base = rng.standard_normal((150, 4))
    queries = rng.standard_normal((5, 4))
    k, beam, n_probe = 3, 2, 4
    leaves, candidates, gap = beam_reference(cloud, base, queries, beam, n_probe)
    assert gap > 1e-6, "a beam cut falls on a near-tie: pick other inputs"
    index = TTIndex.from_point_cloud(cloud, assign="exact")
    index.add(base)
    dist, ids = (np.asarray(a) for a in index.search(queries, k, beam=beam, n_probe=n_probe))
    for row in range(queries.shape[0]):  # the reference beam and the index agree
        allowed = set(candidates[row][candidates[row] >= 0].tolist())
        assert set(ids[row].tolist()) <= allowed
    return ConformanceCase(
        name="beam_search/basic", operation="beam_search", params={"k": k, "beam": beam, "n_probe": n_probe},
        inputs={**tt_inputs("cores", cloud.cores), "base": base, "queries": queries},
        expected={"leaves": leaves, "candidates": candidates, "distances": dist, "ids": ids},
        tolerance=_tol(k_knn(4)),
        may_differ="the order of leaves and candidates (compared as sets; -1 pads); " + TIES +
                   "; no centre distance sits near a beam cut here", compare="beam_search")


def _metric_cases() -> list:
    labels = np.array([0, 1, 0, 1, 1, 0, 0, 1, 0, 0, 1, 0], dtype=np.int64)
    scores = np.array([0.1, 0.4, 0.4, 0.8, 0.4, 0.2, 0.9, 0.35, 0.35, 0.1, 0.9, 0.6])  # ties across classes
    out = []
    for op, func, params in (("auroc", auroc, {}), ("aupr", aupr, {}),
                             ("fpr_at_tpr", fpr_at_tpr, {"tpr": 0.8}),
                             ("precision_at_recall", precision_at_recall, {"recall": 0.8})):
        value = func(labels, scores, **params)
        out.append(ConformanceCase(
            name=f"{op}/ties", operation=op, params=params, inputs={"labels": labels, "scores": scores},
            expected={"result": np.asarray(value, dtype=np.float64), "scale_result": np.asarray(1.0)},
            tolerance=_tol(labels.size + 2),
            may_differ="nothing: tied scores count as one threshold (AUROC counts a tied pair as 1/2), as in "
                       "scikit-learn", compare="elementwise"))
    return out


def cases() -> list:
    """Every search and anomaly-metric case (see ``specs/conformance.md`` §Cases)."""
    return _knn_cases() + [_beam_case()] + _metric_cases()
