"""The exact TT toolkit: the immutable ``TensorTrain``, TT-SVD, rounding, arithmetic,
evaluation, creation and TT-matrices.

Every function takes and returns immutable objects (as in t3f); the cores live on the
backend of the input arrays. See ``specs/tensor_train.md`` and the pages it links.
"""

from __future__ import annotations

from ._arithmetic import add, dot, hadamard, norm, scale, sub
from ._creation import ones, random_tt, zeros
from ._evaluate import full, get_many
from ._rounding import orthogonalize, round
from ._svd import tt_svd
from ._tensor_train import CoreTrain, TensorTrain, validate_cores
from ._tt_matrix import TTMatrix, matvec, to_dense, ttm_svd

# ``round`` shadows the builtin on ``from tt_ref.tt import *``; it stays reachable as
# ``tt_ref.tt.round`` but is left out of ``__all__``.
__all__ = [
    "CoreTrain", "TensorTrain", "validate_cores", "tt_svd", "orthogonalize", "full", "get_many",
    "add", "sub", "scale", "hadamard", "dot", "norm", "random_tt", "zeros", "ones",
    "TTMatrix", "ttm_svd", "to_dense", "matvec",
]
