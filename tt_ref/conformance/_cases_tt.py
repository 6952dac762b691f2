"""Conformance cases of the TT toolkit: evaluation, TT-SVD, rounding, orthogonalization,
arithmetic and the TT-matrix product, with their edge cases (``specs/conformance.md``).

Expected values come from tt_ref on the stored inputs; error scales from tt_ref on the
absolute values of the inputs (what the backward-error bounds multiply).
"""

from __future__ import annotations

import math

import numpy as np

from .. import tt as tt_mod
from ..tt import TensorTrain, TTMatrix
from ._case import ConformanceCase
from ._tolerances import (C, k_dot, k_evaluate, k_matvec, k_orthogonalize, k_truncation, unit_of)

__all__ = ["cases", "tt_inputs", "random_cores"]

_SEED = 20240601
GAUGE = "TT cores are unique only up to invertible maps between neighbours: compare reconstructions, never cores"


def random_cores(shape, ranks, seed, *, dtype="float64", scales=None) -> list:
    """Gaussian cores ``(r_{j-1}, n_j, r_j)`` with variance ``1 / r_j`` (host, float64 draws)."""
    rng = np.random.default_rng(seed)
    full_ranks = (1,) + tuple(ranks) + (1,)
    cores = []
    for j, n in enumerate(shape):
        core = rng.standard_normal((full_ranks[j], n, full_ranks[j + 1])) / math.sqrt(full_ranks[j + 1])
        if scales is not None:
            core = core * scales[j]
        cores.append(core.astype(dtype))
    return cores


def tt_inputs(prefix: str, cores) -> dict:
    """A TT argument as numbered arrays ``<prefix>_0, <prefix>_1, ...``."""
    return {f"{prefix}_{j}": np.asarray(c) for j, c in enumerate(cores)}


def _tt(cores) -> TensorTrain:
    return TensorTrain([np.asarray(c) for c in cores])


def _abs(cores) -> TensorTrain:
    return TensorTrain([np.abs(np.asarray(c)) for c in cores])


def _tol(k, dtype, **extra) -> dict:
    return {"c": C, "K": int(k), "unit": unit_of(dtype), **extra}


def _ranks(cores) -> list:
    return [1] + [int(np.asarray(c).shape[-1]) for c in cores]


# --------------------------------------------------------------------------- evaluation
def _evaluation_cases() -> list:
    out = []
    specs = [
        ("basic", (3, 4, 5), (2, 3), "float64", None, False),
        ("float32", (3, 4, 5), (2, 3), "float32", None, False),
        ("mode_size_1", (3, 1, 4), (2, 2), "float64", None, False),
        ("d1", (6,), (), "float64", None, False),
        ("range_edge_1e200", (2, 3, 3, 2), (2, 2, 2), "float64", (1e200, 1e200, 1e-200, 1e-200), True),
        ("range_edge_float32_1e30", (2, 3, 3, 2), (2, 2, 2), "float32", (1e30, 1e30, 1e-30, 1e-30), True),
    ]
    for k, (label, shape, ranks, dtype, scales, edge) in enumerate(specs):
        cores = random_cores(shape, ranks, _SEED + k, dtype=dtype, scales=scales)
        tt = _tt(cores)
        full_ranks = _ranks(cores)
        extra = {"refusal_allowed": True} if edge else {}
        note = "nothing: each element is a unique sum of products (C order, i_1 slowest)"
        out.append(ConformanceCase(
            name=f"full/{label}", operation="full", params={}, inputs=tt_inputs("cores", cores),
            expected={"result": np.asarray(tt_mod.full(tt)), "scale_result": np.asarray(tt_mod.full(_abs(cores)))},
            tolerance=_tol(k_evaluate(full_ranks), dtype, **extra), may_differ=note, compare="elementwise"))
        rng = np.random.default_rng(_SEED + 100 + k)
        multi = np.stack([rng.integers(0, n, size=7) for n in shape], axis=1).astype(np.int64)
        flat = np.ravel_multi_index(tuple(multi.T), shape).astype(np.int64)
        for kind, indices in (("multi", multi), ("flat", flat)):
            if kind == "flat" and label not in ("basic", "float32"):
                continue
            out.append(ConformanceCase(
                name=f"get_many/{label}_{kind}", operation="get_many", params={},
                inputs={**tt_inputs("cores", cores), "indices": indices},
                expected={"result": np.asarray(tt_mod.get_many(tt, indices)),
                          "scale_result": np.asarray(tt_mod.get_many(_abs(cores), indices))},
                tolerance=_tol(k_evaluate(full_ranks), dtype, shape=list(shape), **extra),
                may_differ=note + "; flat indices are C-order", compare="elementwise"))
    return out


# --------------------------------------------------------------------------- truncation
def _stable_ranks(decompose, eps) -> bool:
    """Ranks unchanged when eps moves by 0.1%: no tail sum sits near the threshold."""
    return decompose(eps * (1 - 1e-3)).ranks == decompose(eps * (1 + 1e-3)).ranks


_DROPPED = ("the per-step threshold must be eps / sqrt(d - 1) * ||x||_F (these ranks are those of eps ||x||_F "
            "per step)")


def _diagnostics(decompose, eps, d, ranks) -> dict:
    """Ranks a known mistake would give, when they differ from the right ones."""
    if not eps or d < 3:
        return {}
    dropped = decompose(eps * math.sqrt(d - 1)).ranks
    return {_DROPPED: list(dropped)} if dropped != ranks else {}


def _capped_bound(x, eps, max_rank) -> float | None:
    """Oseledets' bound for a rank cap: ``sqrt(sum_j max(e_j, delta)^2) / ||x||_F`` with ``e_j``
    the best rank-``max_rank`` error of the j-th unfolding of ``x`` and ``delta`` the per-step
    threshold. Every sequential truncation (TT-SVD, rounding in either direction) meets it."""
    if max_rank is None:
        return None
    x = np.asarray(x, dtype=np.float64)
    norm = float(np.linalg.norm(x))
    if norm == 0.0:
        return 0.0
    delta = (eps or 0.0) / math.sqrt(max(x.ndim - 1, 1)) * norm
    total, rows = 0.0, 1
    for n in x.shape[:-1]:
        rows *= n
        s = np.linalg.svd(x.reshape(rows, -1), compute_uv=False)
        total += max(float(np.sum(s[max_rank:] ** 2)), delta**2)
    return math.sqrt(total) / norm


def _svd_case(label, x, eps=None, max_rank=None, *, comparable=None, edge=False) -> ConformanceCase:
    x = np.asarray(x)
    tt, err = tt_mod.tt_svd(x, eps=eps, max_rank=max_rank, return_error=True)
    decompose = lambda e: tt_mod.tt_svd(x, eps=e, max_rank=max_rank)  # noqa: E731
    if comparable is None:
        comparable = bool(eps) and _stable_ranks(decompose, eps)
    tol = _tol(k_truncation(x.shape), x.dtype, ranks=list(tt.ranks), ranks_comparable=comparable,
               reference_error=float(err), capped_bound=_capped_bound(x, eps, max_rank), diagnostic_ranks=_diagnostics(decompose, eps, x.ndim, tt.ranks),
               **({"refusal_allowed": True} if edge else {}))
    differ = GAUGE + ("; ranks compared" if comparable else
                      "; ranks not compared (exact mode, or a singular value near the threshold)")
    return ConformanceCase(
        name=f"tt_svd/{label}", operation="tt_svd", params={"eps": eps, "max_rank": max_rank}, inputs={"x": x},
        expected={"result": x.astype(np.float64)}, tolerance=tol, may_differ=differ, compare="tt_truncation")


def _round_case(label, cores, eps=None, max_rank=None, *, comparable=None, edge=False) -> ConformanceCase:
    tt = _tt(cores)
    rounded, err = tt_mod.round(tt, eps=eps, max_rank=max_rank, return_error=True)
    decompose = lambda e: tt_mod.round(tt, eps=e, max_rank=max_rank)  # noqa: E731
    if comparable is None:
        comparable = bool(eps) and _stable_ranks(decompose, eps)
    tol = _tol(k_truncation(tt.shape) + k_evaluate(tt.ranks), tt.dtype, ranks=list(rounded.ranks),
               ranks_comparable=comparable, reference_error=float(err),
               capped_bound=_capped_bound(tt_mod.full(tt), eps, max_rank), diagnostic_ranks=_diagnostics(decompose, eps, tt.ndim, rounded.ranks),
               **({"refusal_allowed": True} if edge else {}))
    differ = GAUGE + ("; ranks compared" if comparable else
                      "; ranks not compared (exact mode, or a singular value near the threshold)")
    return ConformanceCase(
        name=f"round/{label}", operation="round", params={"eps": eps, "max_rank": max_rank},
        inputs=tt_inputs("cores", cores), expected={"result": np.asarray(tt_mod.full(tt), dtype=np.float64)},
        tolerance=tol, may_differ=differ, compare="tt_truncation")


def _truncation_cases() -> list:
    rng = np.random.default_rng(_SEED + 7)
    low_rank = np.asarray(tt_mod.full(_tt(random_cores((4, 5, 6), (3, 3), _SEED + 8))))
    noise = rng.standard_normal(low_rank.shape)
    noisy = low_rank + 1e-4 * noise * np.linalg.norm(low_rank) / np.linalg.norm(noise)
    dense = rng.standard_normal((4, 5, 6, 3))
    out = [
        _svd_case("exact_rank3", low_rank, None),
        _svd_case("noisy_eps_1e-2", noisy, 1e-2),
        _svd_case("dense_eps_0.3", dense, 0.3),
        _svd_case("dense_eps_0.1", dense, 0.1),
        _svd_case("rank_cap_2", dense, None, 2, comparable=True),
        _svd_case("float32_eps_1e-2", noisy.astype(np.float32), 1e-2),
        _svd_case("d1", rng.standard_normal(7), 0.1, comparable=True),
        _svd_case("mode_size_1", noisy.reshape(4, 5, 1, 6), 1e-2),
        _svd_case("zero", np.zeros((3, 4, 2)), 0.1, comparable=True),
        _svd_case("range_edge_1e-165", noisy * 1e-165, 1e-6, edge=True),
        _svd_case("range_edge_float32_1e19", (dense * 1e19).astype(np.float32), None, edge=True),
        _svd_case("range_edge_1e154", noisy * 1e154, 1e-6, edge=True),
    ]
    a = random_cores((4, 5, 6), (3, 3), _SEED + 9)
    doubled = list(tt_mod.add(_tt(a), _tt(a)).cores)
    b = random_cores((3, 4, 3, 4), (4, 5, 4), _SEED + 10)
    out += [
        _round_case("a_plus_a", doubled, 1e-8, comparable=True),
        _round_case("eps_0.2", b, 0.2),
        _round_case("rank_cap_2", b, None, 2, comparable=True),
        _round_case("zero", [np.zeros((1, 3, 2)), np.zeros((2, 4, 1))], 0.1, comparable=True),
        _round_case("range_edge_1e-200", [c * 1e-200 if j == 0 else c for j, c in enumerate(doubled)], 1e-8,
                    comparable=True, edge=True),
        _round_case("range_edge_1e200", [c * 1e100 for c in doubled[:2]] + doubled[2:], 1e-8, comparable=True,
                    edge=True),
    ]
    return out


# --------------------------------------------------------------------------- orthogonalization, arithmetic
def _orthogonalize_cases() -> list:
    out = []
    for direction in ("left", "right"):
        # Rank 5 exceeds what the left side of bond 2 (3 * 4 = 12) can use only on the right
        # (2 * 3 = 6): ranks shrink to min(r_(j-1) n_j, r_j) on the side swept from.
        cores = random_cores((3, 4, 2, 3), (3, 5, 2), _SEED + 11)
        tt = _tt(cores)
        result = tt_mod.orthogonalize(tt, direction)
        scale = math.prod(float(np.linalg.norm(c)) for c in cores)
        out.append(ConformanceCase(
            name=f"orthogonalize/{direction}", operation="orthogonalize", params={"direction": direction},
            inputs=tt_inputs("cores", cores),
            expected={"result": np.asarray(tt_mod.full(tt)), "scale_result": np.asarray(scale)},
            tolerance=_tol(k_orthogonalize(tt.ranks, tt.shape), "float64", ranks=list(result.ranks),
                           q_tol=C * 4 * max(r * n for r, n in zip(tt.ranks, tt.shape)) * unit_of("float64")),
            may_differ=GAUGE + "; the orthonormal cores are unique only up to orthogonal maps (QR signs)",
            compare="tt_orthogonal"))
    return out


def _arithmetic_cases() -> list:
    shape = (3, 4, 2, 3)
    a = random_cores(shape, (2, 3, 2), _SEED + 12)
    b = random_cores(shape, (3, 2, 2), _SEED + 13)
    ta, tb = _tt(a), _tt(b)
    out = []
    for op, result, scale in (
        ("add", tt_mod.add(ta, tb), tt_mod.add(_abs(a), _abs(b))),
        ("hadamard", tt_mod.hadamard(ta, tb), tt_mod.hadamard(_abs(a), _abs(b))),
    ):
        out.append(ConformanceCase(
            name=f"{op}/basic", operation=op, params={}, inputs={**tt_inputs("a", a), **tt_inputs("b", b)},
            expected={"result": np.asarray(tt_mod.full(result)), "scale_result": np.asarray(tt_mod.full(scale))},
            tolerance=_tol(k_evaluate(result.ranks) + 2, "float64", ranks=list(result.ranks)),
            may_differ=GAUGE + "; ranks are fixed by the operation", compare="tt_values_and_ranks"))
    for label, alpha, cores in (("basic", -2.5, a), ("range_edge_1e300", 1e300, a),
                                ("d1", 3.0, random_cores((5,), (), _SEED + 14))):
        tt = _tt(cores)
        result = tt_mod.scale(tt, alpha)
        out.append(ConformanceCase(
            name=f"scale/{label}", operation="scale", params={"alpha": alpha}, inputs=tt_inputs("a", cores),
            expected={"result": np.asarray(tt_mod.full(result)),
                      "scale_result": abs(alpha) * np.asarray(tt_mod.full(_abs(cores)))},
            tolerance=_tol(k_evaluate(result.ranks) + 2, "float64", ranks=list(result.ranks),
                           **({"refusal_allowed": True} if "edge" in label else {})),
            may_differ=GAUGE, compare="tt_values_and_ranks"))
    out += _dot_norm_cases(shape, a, b)
    return out


def _dot_norm_cases(shape, a, b) -> list:
    # A nearly orthogonal pair: b minus (almost all of) its projection on a, so the dot
    # cancels to far below ||a|| ||b||.
    ta, tb = _tt(a), _tt(b)
    near = tt_mod.sub(tb, tt_mod.scale(ta, tt_mod.dot(ta, tb) / tt_mod.dot(ta, ta) * (1 - 1e-9)))
    pairs = [
        ("basic", a, b, False),
        ("nearly_orthogonal", a, [np.asarray(c) for c in near.cores], False),
        ("range_edge_1e200", [c * 1e100 for c in a], [c * 1e-100 for c in b], True),
    ]
    out = []
    for label, ca, cb, edge in pairs:
        ta, tb = _tt(ca), _tt(cb)
        out.append(ConformanceCase(
            name=f"dot/{label}", operation="dot", params={}, inputs={**tt_inputs("a", ca), **tt_inputs("b", cb)},
            expected={"result": np.asarray(tt_mod.dot(ta, tb)), "scale_result": np.asarray(tt_mod.dot(_abs(ca), _abs(cb)))},
            tolerance=_tol(k_dot(shape, ta.ranks, tb.ranks), "float64", **({"refusal_allowed": True} if edge else {})),
            may_differ="nothing but rounding: the bound is relative to dot(|a|, |b|), since the result may cancel",
            compare="elementwise"))
    for label, cores, edge in (
        ("basic", a, False),
        ("cancelling", [np.asarray(c) for c in tt_mod.sub(_tt(a), tt_mod.scale(_tt(a), 1 - 1e-9)).cores], False),
        ("zero", [np.zeros((1, 3, 2)), np.zeros((2, 4, 1))], False),
        ("range_edge_1e300", [c * 1e75 for c in a], True),
        ("range_edge_1e-300", [c * 1e-75 for c in a], True),
    ):
        t = _tt(cores)
        scale = math.prod(float(np.linalg.norm(c)) for c in cores)
        out.append(ConformanceCase(
            name=f"norm/{label}", operation="norm", params={}, inputs=tt_inputs("a", cores),
            expected={"result": np.asarray(tt_mod.norm(t)), "scale_result": np.asarray(scale)},
            tolerance=_tol(k_dot(t.shape, t.ranks, t.ranks) + k_orthogonalize(t.ranks, t.shape), "float64",
                           **({"refusal_allowed": True} if edge else {})),
            may_differ="nothing but rounding: |v^2 - ref^2| is held to prod ||G_j||_F^2 (sqrt(dot(a, a)) and a "
                       "QR sweep both meet it)", compare="scalar_norm"))
    return out


def _matvec_cases() -> list:
    rng = np.random.default_rng(_SEED + 16)
    row_shape, col_shape, ranks = (2, 3, 2), (3, 2, 2), (1, 3, 2, 1)
    cores = [rng.standard_normal((ranks[k], m, n, ranks[k + 1])) / math.sqrt(ranks[k + 1])
             for k, (m, n) in enumerate(zip(row_shape, col_shape))]
    ttm = TTMatrix(cores)
    x = rng.standard_normal((5, math.prod(col_shape)))
    y = np.asarray(tt_mod.matvec(ttm, x))
    scale = np.asarray(tt_mod.matvec(TTMatrix([np.abs(c) for c in cores]), np.abs(x)))
    return [ConformanceCase(
        name="matvec/dense_batch", operation="matvec", params={}, inputs={**tt_inputs("w", cores), "x": x},
        expected={"result": y, "scale_result": scale}, tolerance=_tol(k_matvec(ranks, col_shape), "float64"),
        may_differ="nothing but rounding: row b is W @ x[b] (C-order row and column multi-indices)",
        compare="elementwise")]


def cases() -> list:
    """Every TT-toolkit case (see ``specs/conformance.md`` §Cases)."""
    return _evaluation_cases() + _truncation_cases() + _orthogonalize_cases() + _arithmetic_cases() + _matvec_cases()
