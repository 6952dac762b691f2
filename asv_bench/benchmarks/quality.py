"""Figures that must not regress silently: accuracy, ranks, recall, work, host reads, memory.

Every ``track_`` figure here is computed from fixed inputs with fixed seeds and
parameters, on data that ships with the install (scikit-learn's digits, 1,797 x 64),
with NumPy (host reads: array_api_strict). Each declares its unit, which direction is
better and how much worse counts as noise (``_common.figure``); ``asv_bench/gate.py``
fails CI when one gets worse than on the base commit by more than that. The tolerances
of the fitted figures cover their spread over fit seeds 0-4 (a change that only
reorders floating-point operations moves a fit about as much as a new seed does):
recall 0.891-0.909, AUROC 0.902-0.912, coverage error 419-433, sliced Wasserstein
0.818-0.875, empty buckets 2-6 of 128. Exact figures (ranks, host reads, bytes,
distance computations) tolerate nothing or almost nothing. Each class computes its
figures once (``setup_cache``) and its ``track_`` methods read them.
"""

import numpy as np

from ._common import count_host_reads, figure, kth_distances, make_index
from .tt_decompositions import tensor_with_ranks

# The TT index on digits: 1,597 base vectors, the last 200 rows as queries.
INDEX_MODES, INDEX_RANKS = (16, 8), (8,)
INDEX_FIT = {"steps": 200, "batch_size": 256, "progress": False}
INDEX_SEARCH = {"beam": 4, "n_candidates": 64}
N_QUERIES = 200


def _digits():
    import tt_ref

    data = tt_ref.load_dataset("digits")
    return np.asarray(data.X), np.asarray(data.labels)


def _relative_error(approx, exact):
    return float(np.linalg.norm(approx - exact) / np.linalg.norm(exact))


class TTDecompositionQuality:
    """TT-SVD and rounding of fixed tensors: relative error (computed densely) and ranks.

    TT-SVD: a (8,)*7 tensor of TT rank 16 plus 1e-6 relative noise, ``eps = 1e-4``: the
    ranks must stay 16 and the error at the noise level. Rounding: the sum of that TT
    and of a copy perturbed by a rank-4 TT of relative size 1e-6 (ranks 36), rounded
    with ``eps = 1e-4``: back to rank 16.
    """

    timeout = 300

    def setup_cache(self):
        import tt_ref

        x = tensor_with_ranks((8,) * 7, 16, seed=0, noise=1e-6)
        svd = tt_ref.tt_svd(x, eps=1e-4)
        figures = {"svd_error": _relative_error(np.asarray(tt_ref.full(svd)), x),
                   "svd_rank_sum": sum(svd.ranks)}
        a = tt_ref.random_tt((8,) * 7, 16, seed=1)
        c = tt_ref.random_tt((8,) * 7, 4, seed=2)
        perturbed = tt_ref.add(a, tt_ref.scale(c, 1e-6 * float(tt_ref.norm(a)) / float(tt_ref.norm(c))))
        total = tt_ref.add(a, perturbed)
        rounded = tt_ref.round(total, eps=1e-4)
        figures["round_error"] = _relative_error(np.asarray(tt_ref.full(rounded)), np.asarray(tt_ref.full(total)))
        figures["round_rank_sum"] = sum(rounded.ranks)
        return figures

    @figure("relative error", "lower", tolerance=1e-9, rtol=0.1)
    def track_tt_svd_error(self, figures):
        return figures["svd_error"]

    @figure("sum of TT ranks", "lower")
    def track_tt_svd_rank_sum(self, figures):
        return figures["svd_rank_sum"]

    @figure("relative error", "lower", tolerance=1e-9, rtol=0.1)
    def track_round_error(self, figures):
        return figures["round_error"]

    @figure("sum of TT ranks", "lower")
    def track_round_rank_sum(self, figures):
        return figures["round_rank_sum"]


class IndexQuality:
    """The TT index on digits at fixed parameters: recall, work per query, memory, host reads.

    Mode sizes (16, 8), rank 8, fitted for 200 steps (batch 256, seed 0) on the 1,597
    base vectors; 200 queries, k = 10, beam 4, 64 candidates. Host reads: the same index
    moved to array_api_strict, one batched search of the 200 queries.
    """

    timeout = 300

    def setup_cache(self):
        import tt_ref

        X, _ = _digits()
        base, queries = X[:-N_QUERIES], X[-N_QUERIES:]
        index = make_index(X.shape[1], INDEX_MODES, INDEX_RANKS, INDEX_FIT, seed=0)
        index.train(base)
        index.add(base)
        _, ids = index.search(queries, 10, **INDEX_SEARCH)
        _, true_ids = tt_ref.nearest_neighbors(queries, base, 10)
        stats = index.stats()
        figures = {
            "recall": tt_ref.recall_at_k(np.asarray(ids), np.asarray(true_ids)),
            "distances": float(index.last_search_stats["distance_computations_per_query"]),
            "bytes": float(stats["bytes_per_vector"]),
            "empty": stats["empty_buckets"] / stats["n_buckets"],
        }
        import array_api_strict

        strict = index.to_backend("array_api_strict")
        strict_queries = array_api_strict.asarray(queries)
        counter = count_host_reads()
        if counter is not None:
            with counter as counts:
                strict.search(strict_queries, 10, **INDEX_SEARCH)
            figures["host_reads"] = counts["reads"]
        return figures

    @figure("recall@10", "higher", tolerance=0.03)
    def track_recall_at_10(self, figures):
        return figures["recall"]

    @figure("distance computations per query", "lower", rtol=0.05)
    def track_distance_computations_per_query(self, figures):
        return figures["distances"]

    @figure("bytes per vector", "lower", rtol=0.01)
    def track_bytes_per_vector(self, figures):
        return figures["bytes"]

    @figure("fraction of empty leaf buckets", "lower", tolerance=0.06)
    def track_empty_bucket_fraction(self, figures):
        return figures["empty"]

    @figure("host reads per search batch", "lower")
    def track_host_reads_per_search_batch(self, figures):
        return figures.get("host_reads", float("nan"))


class FitHostReads:
    """Host reads per fit step on array_api_strict (device-to-host syncs on a GPU).

    The difference between fits of 100 and 50 steps (digits, mode sizes (8, 8), rank 4,
    batch 64), per step. Both fits evaluate their loss the same number of times (about
    50, one read each) and have the same set-up, so those reads cancel out and what is
    left is the reads of the steps themselves.
    """

    timeout = 300

    def setup_cache(self):
        import array_api_strict
        import tt_ref

        X = array_api_strict.asarray(_digits()[0])
        reads = {}
        for steps in (50, 100):
            counter = count_host_reads()
            if counter is None:
                return {}
            with counter as counts:
                tt_ref.fit_point_cloud(X, (8, 8), (4,), steps=steps, batch_size=64, progress=False, seed=0)
            reads[steps] = counts["reads"]
        return {"per_step": (reads[100] - reads[50]) / 50}

    @figure("host reads per fit step", "lower")
    def track_host_reads_per_fit_step(self, figures):
        return figures.get("per_step", float("nan"))


class CompressionQuality:
    """TT compression of digits at 30x (``n_params = N D / 30``), judged on held-out rows.

    Fitted on the first 1,500 rows (200 steps, batch 512, seed 0); coverage error (mean
    squared distance of a held-out row to its nearest TT point) and sliced Wasserstein
    distance (128 directions, seed 0) on the last 297 rows.
    """

    timeout = 300

    def setup_cache(self):
        import tt_ref

        X, _ = _digits()
        train, held_out = X[:1500], X[1500:]
        points = tt_ref.compress(train, "tt", train.size // 30, seed=0, steps=200, batch_size=512, progress=False)
        return {
            "coverage": float(tt_ref.coverage_error(held_out, points)),
            "sw": float(tt_ref.sliced_wasserstein_distance(held_out, points, n_projections=128, seed=0)),
        }

    @figure("mean squared distance", "lower", rtol=0.1)
    def track_coverage_error(self, figures):
        return figures["coverage"]

    @figure("sliced Wasserstein distance", "lower", rtol=0.15)
    def track_sliced_wasserstein(self, figures):
        return figures["sw"]


class AnomalyQuality:
    """kNN anomaly detection on digits with a TT memory bank compressed 100x.

    Protocol "split" (digits 0-4 normal, seed 0; 30% of the normal rows held out); the
    TT bank is fitted for 300 steps; score = distance to the nearest bank point.
    """

    timeout = 300

    def setup_cache(self):
        import tt_ref
        from tt_ref.ood import auroc, protocol_splits

        X, labels = _digits()
        task = protocol_splits(labels, "split", seed=0)[0]
        normal = X[task.bank_idx]
        bank = tt_ref.build_bank(normal, "tt", normal.size // 100, seed=0, steps=300, progress=False)
        detector = tt_ref.KNNDetector(k=1).fit(np.asarray(bank))
        scores = kth_distances(detector, X[task.test_idx])
        return {"auroc": auroc(task.y_test, np.asarray(scores))}

    @figure("AUROC", "higher", tolerance=0.02)
    def track_auroc_tt_bank_100x(self, figures):
        return figures["auroc"]
