"""TT point clouds: the ``TTPointCloud``, its losses and fit, k-means, the parameter
budget, the baselines at equal budget, and the quality measures.

See ``specs/point_cloud.md``, ``specs/losses.md``, ``specs/fit.md`` and
``specs/quality.md``.
"""

from __future__ import annotations

from ._baselines import METHODS, compress, greedy_k_center, run_method
from ._budget import config_for_budget
from ._fit import FitResult, fit_point_cloud
from ._kmeans import kmeans
from ._losses import cores_gradient, nn_forward, nn_inverse, sliced_wasserstein
from ._point_cloud import TTPointCloud, n_params_for
from ._quality import compression_ratio, coverage_error, inverse_error, sliced_wasserstein_distance

__all__ = [
    "TTPointCloud", "n_params_for", "fit_point_cloud", "FitResult", "kmeans", "config_for_budget",
    "METHODS", "compress", "run_method", "greedy_k_center", "sliced_wasserstein", "nn_forward",
    "nn_inverse", "cores_gradient", "sliced_wasserstein_distance", "coverage_error", "inverse_error",
    "compression_ratio",
]
