"""tt_ref: the reference implementation of tensor-train methods for vector sets.

One body of code written against the Python Array API standard: the readable NumPy
oracle, the standard-only proof on ``array_api_strict``, and GPU speed on CuPy.

Public names are resolved lazily (PEP 562), so ``import tt_ref`` stays cheap and the
optional layers (plots, baselines) load only when used.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# name -> module that defines it; layers: backend, format, algorithms, point clouds,
# index / OOD, CLI.
_EXPORTS = {
    # backend layer
    "BACKENDS": "_backend",
    "to_backend": "_backend",
    "namespace_for": "_backend",
    "is_backend_available": "_backend",
    # TT format
    "TensorTrain": "tensor_train",
    # TT algorithms
    "tt_svd": "svd",
    "round": "rounding",
    "orthogonalize": "rounding",
    "full": "evaluate",
    "get_many": "evaluate",
    "add": "arithmetic",
    "sub": "arithmetic",
    "scale": "arithmetic",
    "hadamard": "arithmetic",
    "dot": "arithmetic",
    "norm": "arithmetic",
    "random_tt": "creation",
    "zeros": "creation",
    "ones": "creation",
    "TTMatrix": "tt_matrix",
    "ttm_svd": "tt_matrix",
    "to_dense": "tt_matrix",
    "matvec": "tt_matrix",
    # point clouds
    "TTPointCloud": "point_cloud",
    "fit_point_cloud": "fit",
    "FitResult": "fit",
    "n_params_for": "point_cloud",
    "kmeans": "kmeans",
    "config_for_budget": "budget",
    "compress": "baselines",
    "run_method": "baselines",
    "greedy_k_center": "baselines",
    "sliced_wasserstein_distance": "quality",
    "coverage_error": "quality",
    "inverse_error": "quality",
    "compression_ratio": "quality",
    "load_dataset": "datasets",
    "train_test_split": "datasets",
    "nearest_neighbors": "neighbors",
    # index and OOD
    "TTIndex": "index",
    "KNNDetector": "ood",
    "build_bank": "ood",
    "recall_at_k": "ann_eval",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'tt_ref' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return __all__


# ``kmeans`` names both a function and the module that defines it. Importing the
# submodule (``tt_ref.fit`` does) sets the package attribute to the module, which would
# hide the lazy function; binding the function here, after that import, keeps it.
from .kmeans import kmeans  # noqa: E402
