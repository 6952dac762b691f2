"""tt_ref itself behind the adapter protocol: what every case's expected values come from,
and the model for writing an adapter (``docs/guide-conformance.md``).

Every method takes the case's inputs and params as keyword arguments (TT arguments as
numbered cores ``cores_0, cores_1, ...``, or ``a_j`` / ``b_j`` / ``w_j``) and returns a dict
of arrays, or one array for the single output ``"result"``.
"""

from __future__ import annotations

import numpy as np

from .. import cloud, ood, search, tt
from ._compare import cores_from

__all__ = ["ReferenceAdapter", "tt_outputs"]


def tt_outputs(cores, prefix: str = "cores") -> dict:
    """TT cores as the numbered outputs ``cores_0, cores_1, ...``."""
    return {f"{prefix}_{j}": np.asarray(c) for j, c in enumerate(cores)}


def _tt(kwargs, prefix="cores"):
    return tt.TensorTrain(cores_from(kwargs, prefix))


def _cloud(kwargs):
    return cloud.TTPointCloud(cores_from(kwargs, "cores"))


class ReferenceAdapter:
    """The adapter of tt_ref (NumPy backend). ``check`` with it passes every case."""

    # ---------------------------------------------------------------- TT toolkit
    def full(self, **kw):
        return np.asarray(tt.full(_tt(kw)))

    def get_many(self, indices, **kw):
        return np.asarray(tt.get_many(_tt(kw), indices))

    def tt_svd(self, x, eps=None, max_rank=None):
        return tt_outputs(tt.tt_svd(x, eps=eps, max_rank=max_rank).cores)

    def round(self, eps=None, max_rank=None, **kw):
        return tt_outputs(tt.round(_tt(kw), eps=eps, max_rank=max_rank).cores)

    def orthogonalize(self, direction="left", **kw):
        return tt_outputs(tt.orthogonalize(_tt(kw), direction).cores)

    def add(self, **kw):
        return tt_outputs(tt.add(_tt(kw, "a"), _tt(kw, "b")).cores)

    def scale(self, alpha, **kw):
        return tt_outputs(tt.scale(_tt(kw, "a"), alpha).cores)

    def hadamard(self, **kw):
        return tt_outputs(tt.hadamard(_tt(kw, "a"), _tt(kw, "b")).cores)

    def dot(self, **kw):
        return np.asarray(tt.dot(_tt(kw, "a"), _tt(kw, "b")))

    def norm(self, **kw):
        return np.asarray(tt.norm(_tt(kw, "a")))

    def matvec(self, x, **kw):
        return np.asarray(tt.matvec(tt.TTMatrix(cores_from(kw, "w")), x))

    # ---------------------------------------------------------------- point clouds
    def decode(self, indices, **kw):
        return np.asarray(_cloud(kw).decode(indices))

    def centroids(self, level, **kw):
        return np.asarray(_cloud(kw).centroids(level))

    def sliced_wasserstein(self, data, points, directions):
        value, grad = cloud.sliced_wasserstein(data, points, directions)
        return {"value": np.asarray(value), "grad": np.asarray(grad)}

    def fit_gradients(self, data, indices, directions, alpha_fwd, alpha_inv, **kw):
        points_cloud = _cloud(kw)
        points = np.asarray(points_cloud.decode(indices))
        sw, g_sw = cloud.sliced_wasserstein(data, points, directions)
        fwd, g_fwd = cloud.nn_forward(data, points)
        inv, g_inv = cloud.nn_inverse(points, data)
        grad_points = np.asarray(g_sw) + alpha_fwd * np.asarray(g_fwd) + alpha_inv * np.asarray(g_inv)
        grads = cloud.cores_gradient(points_cloud, indices, grad_points)
        return {"sw": np.asarray(sw), "nn_forward": np.asarray(fwd), "nn_inverse": np.asarray(inv),
                **{f"grad_{j}": np.asarray(g) for j, g in enumerate(grads)}}

    # ---------------------------------------------------------------- search, anomaly metrics
    def knn(self, queries, base, k):
        dist, ids = search.nearest_neighbors(queries, base, k)
        return {"distances": np.asarray(dist), "ids": np.asarray(ids)}

    def beam_search(self, base, queries, k, beam, n_probe, **kw):
        from ._cases_search import beam_reference

        points_cloud = _cloud(kw)
        index = search.TTIndex.from_point_cloud(points_cloud, assign="exact")
        index.add(base)
        dist, ids = index.search(queries, k, beam=beam, n_probe=n_probe)
        leaves, candidates, _ = beam_reference(points_cloud, np.asarray(base, dtype=np.float64),
                                               np.asarray(queries, dtype=np.float64), beam, n_probe)
        return {"leaves": leaves, "candidates": candidates, "distances": np.asarray(dist), "ids": np.asarray(ids)}

    def auroc(self, labels, scores):
        return np.asarray(ood.auroc(labels, scores))

    def aupr(self, labels, scores):
        return np.asarray(ood.aupr(labels, scores))

    def fpr_at_tpr(self, labels, scores, tpr):
        return np.asarray(ood.fpr_at_tpr(labels, scores, tpr))

    def precision_at_recall(self, labels, scores, recall):
        return np.asarray(ood.precision_at_recall(labels, scores, recall))

    # ---------------------------------------------------------------- TT-matrix layer
    def ttm_forward(self, x, bias, layout="tt_ref", **kw):
        from ..layers import ttm_linear_forward

        _check_layout(layout)
        y, _ = ttm_linear_forward(x, tt.TTMatrix(cores_from(kw, "cores")), bias)
        return {"y": np.asarray(y)}

    def ttm_backward(self, x, bias, grad_output, layout="tt_ref", **kw):
        from ..layers import ttm_linear_backward, ttm_linear_forward

        _check_layout(layout)
        _, saved = ttm_linear_forward(x, tt.TTMatrix(cores_from(kw, "cores")), bias)
        grads = ttm_linear_backward(grad_output, saved)
        return {"grad_x": np.asarray(grads.x), "grad_bias": np.asarray(grads.bias),
                **{f"grad_cores_{k}": np.asarray(g) for k, g in enumerate(grads.cores)}}


def _check_layout(layout):
    if layout != "tt_ref":
        raise NotImplementedError(f"layout {layout!r}")
