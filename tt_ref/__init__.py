"""tt_ref: the reference implementation of tensor-train methods for vector sets.

One body of code written against the Python Array API standard: the readable NumPy
oracle, the standard-only proof on ``array_api_strict``, and GPU speed on CuPy.

Public names are resolved lazily (PEP 562), so ``import tt_ref`` stays cheap and the
optional layers (plots, baselines) load only when used.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# name -> subpackage that exports it. Subpackages, lowest layer first: _backend, tt,
# cloud, search, ood; datasets beside them; the CLI on top (tests/test_package.py).
_EXPORTS = {
    # backend
    "BACKENDS": "_backend",
    "to_backend": "_backend",
    "namespace_for": "_backend",
    "is_backend_available": "_backend",
    "InputError": "_backend",
    "ArgumentValueError": "_backend",
    "ArgumentTypeError": "_backend",
    "FileFormatError": "_backend",
    "MemoryLimitError": "_backend",
    "MissingDependencyError": "_backend",
    "ArgumentIndexError": "_backend",
    "set_memory_limit": "_backend",
    "get_memory_limit": "_backend",
    "memory_limit": "_backend",
    # the TT toolkit
    "TensorTrain": "tt",
    "tt_svd": "tt",
    "round": "tt",
    "orthogonalize": "tt",
    "full": "tt",
    "get_many": "tt",
    "add": "tt",
    "sub": "tt",
    "scale": "tt",
    "hadamard": "tt",
    "dot": "tt",
    "norm": "tt",
    "random_tt": "tt",
    "zeros": "tt",
    "ones": "tt",
    "TTMatrix": "tt",
    "ttm_svd": "tt",
    "to_dense": "tt",
    "matvec": "tt",
    # point clouds
    "TTPointCloud": "cloud",
    "fit_point_cloud": "cloud",
    "FitResult": "cloud",
    "n_params_for": "cloud",
    "kmeans": "cloud",
    "config_for_budget": "cloud",
    "compress": "cloud",
    "run_method": "cloud",
    "greedy_k_center": "cloud",
    "sliced_wasserstein_distance": "cloud",
    "coverage_error": "cloud",
    "inverse_error": "cloud",
    "compression_ratio": "cloud",
    # TT-matrix linear layers
    "ttm_linear": "layers",
    "ttm_linear_forward": "layers",
    "ttm_linear_backward": "layers",
    "ttm_linear_cost": "layers",
    "TTMLinearSaved": "layers",
    "TTMLinearGradients": "layers",
    "TTMLayerShape": "layers",
    "factorize_dim": "layers",
    "ttm_layer_shape": "layers",
    "random_ttm_layer": "layers",
    "ttm_layer_from_dense": "layers",
    "TTM_LAYOUTS": "layers",
    "ttm_to_layout": "layers",
    "ttm_from_layout": "layers",
    # data sets
    "load_dataset": "datasets",
    "train_test_split": "datasets",
    # search and anomaly detection
    "nearest_neighbors": "search",
    "TTIndex": "search",
    "recall_at_k": "search",
    "KNNDetector": "ood",
    "build_bank": "ood",
}

# ``round`` is reachable as ``tt_ref.round`` but not exported by ``*`` (it would shadow the
# builtin).
__all__ = sorted(name for name in _EXPORTS if name != "round") + ["__version__"]


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'tt_ref' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(__all__) | set(_EXPORTS))
