"""The property suite: random cases (shapes, ranks, dtypes, scales over the whole finite
range) built on the fly and compared with tt_ref live (``specs/conformance.md`` §Property
suite). ``tt-ref conformance fuzz --impl ...`` runs it; so does ``pytest --pyargs
tt_ref.conformance._suite`` with ``TT_REF_CONFORMANCE_IMPL`` naming the adapter.
"""

from __future__ import annotations

import math

import numpy as np

from .. import tt as tt_mod
from ..search import nearest_neighbors
from ._case import ConformanceCase
from ._cases_tt import _abs, _round_case, _svd_case, _tt, _tol, random_cores, tt_inputs
from ._tolerances import k_dot, k_evaluate, k_knn, k_orthogonalize

__all__ = ["OPERATIONS", "fuzz_cases"]

#: Operations the property suite draws.
OPERATIONS = ("full", "get_many", "tt_svd", "round", "orthogonalize", "dot", "norm", "knn")
# Scales inside this window are "normal": an implementation may not refuse them.
_NORMAL = {"float64": (1e-100, 1e100), "float32": (1e-12, 1e12)}
_EXPONENTS = {"float64": (-300, 300), "float32": (-35, 35)}


def _draw_tt(rng, dtype, min_d=1):
    d = int(rng.integers(min_d, 5))
    shape = tuple(int(n) for n in rng.integers(1, 6, size=d))
    ranks = tuple(int(r) for r in rng.integers(1, 5, size=d - 1))
    return shape, ranks


def _draw_scale(rng, dtype, n_factors: int):
    """A scale 10^e spread over ``n_factors`` cores, with e uniform over the dtype's range."""
    low, high = _EXPONENTS[dtype]
    exponent = float(rng.uniform(low, high))
    scale = 10.0 ** exponent
    lo, hi = _NORMAL[dtype]
    return [10.0 ** (exponent / n_factors)] * n_factors, not lo <= scale <= hi


def _edge(case: ConformanceCase, edge: bool) -> ConformanceCase:
    if not edge:
        return case
    return ConformanceCase(case.name, case.operation, case.params, case.inputs, case.expected,
                           {**case.tolerance, "refusal_allowed": True}, case.may_differ, case.compare)


def _one(operation: str, rng, dtype: str, label: str):
    shape, ranks = _draw_tt(rng, dtype, min_d=2 if operation in ("tt_svd", "round") else 1)
    scales, edge = _draw_scale(rng, dtype, len(shape))
    cores = random_cores(shape, ranks, int(rng.integers(2**31)), dtype=dtype, scales=scales)
    tt = _tt(cores)
    if operation in ("full", "get_many"):
        if operation == "full":
            expected = {"result": np.asarray(tt_mod.full(tt)), "scale_result": np.asarray(tt_mod.full(_abs(cores)))}
            inputs = tt_inputs("cores", cores)
        else:
            indices = np.stack([rng.integers(0, n, size=5) for n in shape], axis=1).astype(np.int64)
            expected = {"result": np.asarray(tt_mod.get_many(tt, indices)),
                        "scale_result": np.asarray(tt_mod.get_many(_abs(cores), indices))}
            inputs = {**tt_inputs("cores", cores), "indices": indices}
        return _edge(ConformanceCase(f"{operation}/{label}", operation, {}, inputs, expected,
                                     _tol(k_evaluate(tt.ranks), dtype), "rounding", "elementwise"), edge)
    if operation == "tt_svd":
        eps = float(rng.choice([0.0, 1e-3, 0.1, 0.3]))
        x = np.asarray(tt_mod.full(tt))
        return _edge(_svd_case(label, x, eps or None), edge)
    if operation == "round":
        doubled = [np.asarray(c) for c in tt_mod.add(tt, tt).cores]
        return _edge(_round_case(label, doubled, float(rng.choice([1e-8, 0.1, 0.3]))), edge)
    if operation == "orthogonalize":
        direction = str(rng.choice(["left", "right"]))
        result = tt_mod.orthogonalize(tt, direction)
        scale = math.prod(float(np.linalg.norm(np.asarray(c, dtype=np.float64))) for c in cores)
        unit = float(np.finfo(np.dtype(dtype)).eps)
        return _edge(ConformanceCase(
            f"orthogonalize/{label}", "orthogonalize", {"direction": direction}, tt_inputs("cores", cores),
            {"result": np.asarray(tt_mod.full(tt), dtype=np.float64), "scale_result": np.asarray(scale)},
            _tol(k_orthogonalize(tt.ranks, tt.shape), dtype, ranks=list(result.ranks),
                 q_tol=4.0 * 4 * max(r * n for r, n in zip(tt.ranks, tt.shape)) * unit),
            "gauge", "tt_orthogonal"), edge)
    if operation == "dot":
        other = random_cores(shape, ranks, int(rng.integers(2**31)), dtype=dtype, scales=[1 / s for s in scales])
        tb = _tt(other)
        return ConformanceCase(
            f"dot/{label}", "dot", {}, {**tt_inputs("a", cores), **tt_inputs("b", other)},
            {"result": np.asarray(tt_mod.dot(tt, tb)), "scale_result": np.asarray(tt_mod.dot(_abs(cores), _abs(other)))},
            _tol(k_dot(shape, tt.ranks, tb.ranks), dtype, refusal_allowed=edge), "rounding", "elementwise")
    if operation == "norm":
        scale = math.prod(float(np.linalg.norm(np.asarray(c, dtype=np.float64))) for c in cores)
        return ConformanceCase(
            f"norm/{label}", "norm", {}, tt_inputs("a", cores),
            {"result": np.asarray(tt_mod.norm(tt)), "scale_result": np.asarray(scale)},
            _tol(k_dot(shape, tt.ranks, tt.ranks) + k_orthogonalize(tt.ranks, tt.shape), dtype,
                 refusal_allowed=edge), "rounding", "scalar_norm")
    # knn: points at one scale, up to where squared distances still fit the dtype.
    dim = int(rng.integers(1, 6))
    low, high = _EXPONENTS[dtype]
    factor = 10.0 ** float(rng.uniform(low / 2 + 3, high / 2 - 3))
    edge = not _NORMAL[dtype][0] <= factor <= _NORMAL[dtype][1]
    base = (rng.standard_normal((int(rng.integers(2, 30)), dim)) * factor).astype(dtype)
    queries = (rng.standard_normal((4, dim)) * factor).astype(dtype)
    k = int(rng.integers(1, base.shape[0] + 1))
    dist, ids = nearest_neighbors(queries, base, k)
    return ConformanceCase(f"knn/{label}", "knn", {"k": k}, {"queries": queries, "base": base},
                           {"distances": np.asarray(dist), "ids": np.asarray(ids)},
                           _tol(k_knn(dim), dtype, refusal_allowed=edge), "ties", "neighbors")


def fuzz_cases(n_examples: int = 50, seed: int = 0, operations=OPERATIONS) -> list:
    """``n_examples`` random cases, operations and dtypes in turn, scales over the whole finite
    range (cases beyond the normal window allow a refusal).

    Examples
    --------
    >>> [c.operation for c in fuzz_cases(3, seed=1)]
    ['full', 'get_many', 'tt_svd']
    """
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n_examples):
        operation = operations[i % len(operations)]
        dtype = "float64" if (i // len(operations)) % 2 == 0 else "float32"
        out.append(_one(operation, rng, dtype, f"fuzz{i}_{dtype}"))
    return out
