"""Comparison rules: how the outputs of an implementation are held to a case.

Each rule is ``rule(case, outputs) -> Outcome`` and compares only what is unique: TT
reconstructions and ranks (never cores), tie sets (never ids among equal distances),
values within backward-error bounds stated per case (``case.tolerance``). Every bound and
its derivation is in ``specs/conformance.md`` §Comparison rules; the host arithmetic here
is float64 NumPy.

Reserved names in ``case.expected``: ``scale_<name>`` is the per-element error scale of
output ``<name>`` (what the bound multiplies; computed at generation from the absolute
values of the inputs), not an output.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["Outcome", "RULES", "cores_from", "dense", "compare"]


@dataclass(frozen=True)
class Outcome:
    """The verdict on one case.

    ``status`` is ``"pass"``, ``"fail"``, ``"refused"`` (the implementation raised on a
    range-edge case whose tolerance allows it), ``"error"`` (it raised otherwise) or
    ``"not implemented"``. ``error`` is the measured error in the rule's units and
    ``tolerance`` the bound it is held to (``error <= tolerance`` passes).
    """

    status: str
    error: float = math.nan
    tolerance: float = math.nan
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.status in ("pass", "refused")


# --------------------------------------------------------------------------- host helpers
def cores_from(mapping: dict, prefix: str = "cores") -> list:
    """The arrays ``<prefix>_0, <prefix>_1, ...`` of ``mapping`` as a list (a TT argument or
    output travels as numbered cores).

    Examples
    --------
    >>> import numpy as np
    >>> [c.shape for c in cores_from({"a_1": np.ones((2, 3, 1)), "a_0": np.ones((1, 2, 2))}, "a")]
    [(1, 2, 2), (2, 3, 1)]
    """
    out, j = [], 0
    while f"{prefix}_{j}" in mapping:
        out.append(np.asarray(mapping[f"{prefix}_{j}"]))
        j += 1
    return out


def dense(cores) -> np.ndarray:
    """The dense tensor of TT cores ``(r_{j-1}, n_j[, m_j], r_j)`` in float64, C order; the
    boundary ranks stay as leading / trailing axes when they are not 1."""
    cores = [np.asarray(c, dtype=np.float64) for c in cores]
    left = cores[0].shape[0]
    result = np.eye(left)
    modes = []
    for core in cores:
        modes.extend(core.shape[1:-1])
        result = (result @ core.reshape(core.shape[0], -1)).reshape(-1, core.shape[-1])
    shape = ([left] if left != 1 else []) + modes + ([cores[-1].shape[-1]] if cores[-1].shape[-1] != 1 else [])
    return result.reshape(shape)


def _ranks(cores) -> tuple:
    return (int(cores[0].shape[0]),) + tuple(int(c.shape[-1]) for c in cores)


def _norm(x) -> float:
    """Frobenius norm without overflow (scaled by the largest entry)."""
    x = np.asarray(x, dtype=np.float64)
    big = float(np.max(np.abs(x))) if x.size else 0.0
    return 0.0 if big == 0.0 else big * float(np.linalg.norm(x / big))


def _rtol(case) -> float:
    tol = case.tolerance
    return float(tol["c"]) * float(tol["K"]) * float(tol["unit"])


# --------------------------------------------------------------------------- rules
def elementwise(case, outputs) -> Outcome:
    """``|a_i - ref_i| <= rtol * scale_i + atol`` for every expected output, with
    ``rtol = c K unit`` and ``scale = expected["scale_<name>"]`` (default ``max|ref|``).
    The measured error is ``max_i |a_i - ref_i| / (scale_i + atol / rtol)``."""
    rtol = _rtol(case)
    atol = float(case.tolerance.get("atol", 0.0))
    worst, worst_name = 0.0, ""
    for name, ref in case.expected.items():
        if name.startswith("scale_"):
            continue
        if name not in outputs:
            return Outcome("fail", message=f"output {name!r} is missing (got {sorted(outputs)})")
        got = np.asarray(outputs[name], dtype=np.float64)
        ref = np.asarray(ref, dtype=np.float64)
        if got.size == 1 and ref.size == 1:
            got = got.reshape(ref.shape)  # a scalar may come back as shape () or (1,)
        if got.shape != ref.shape:
            return Outcome("fail", message=f"output {name!r} has shape {got.shape}, expected {ref.shape}"
                           + _shape_hint(got.shape, ref.shape))
        if not np.all(np.isfinite(got)):
            return Outcome("fail", message=f"output {name!r} holds NaN or inf (the expected values are finite)")
        scale = np.asarray(case.expected.get(f"scale_{name}", np.max(np.abs(ref)) if ref.size else 0.0),
                           dtype=np.float64)
        denom = scale + (atol / rtol if rtol > 0 else 0.0)
        diff = np.abs(got - ref)
        ratio = np.where(denom > 0, diff / np.where(denom > 0, denom, 1.0), np.where(diff > 0, np.inf, 0.0))
        err = float(np.max(ratio)) if ratio.size else 0.0
        if err > worst:
            worst, worst_name = err, name
    if worst <= rtol:
        return Outcome("pass", worst, rtol)
    got = np.asarray(outputs[worst_name], dtype=np.float64)
    ref = np.asarray(case.expected[worst_name], dtype=np.float64)
    return Outcome("fail", worst, rtol, f"{worst_name!r} is off by {worst:.3g} x its error scale (bound {rtol:.3g})"
                   + _order_hint(got, ref, case))


def _shape_hint(got, ref) -> str:
    if tuple(reversed(got)) == tuple(ref):
        return ": the axes are reversed (a Fortran-order layout?)"
    return ""


def _order_hint(got, ref, case) -> str:
    """Name a known mistake when the wrong result matches it."""
    close = lambda a: a.shape == ref.shape and np.allclose(a, ref, rtol=1e-6, atol=1e-12 * (np.max(np.abs(ref)) + 1e-300))  # noqa: E731
    if ref.ndim >= 2:
        shape = ref.shape
        if close(np.reshape(np.ravel(got, order="C"), shape, order="F")) or \
                close(np.reshape(np.ravel(got, order="F"), shape, order="C")):
            return "; it matches the expected values in Fortran (column-major) order: flatten multi-indices in C " \
                   "order (i_1 slowest)"
    shape = _index_shape(case)
    if shape is not None and got.shape[:1] == ref.shape[:1]:
        flat = np.asarray(case.inputs["indices"])
        multi = np.stack(np.unravel_index(flat, shape, order="F"), axis=1)
        values = _values_at(case, multi)
        if values is not None and got.size == values.size and \
                np.allclose(got.reshape(values.shape), values, rtol=1e-6, atol=1e-12 * (np.max(np.abs(values)) + 1e-300)):
            return "; flat indices were unravelled in Fortran order: unravel in C order (i_1 slowest)"
    if case.operation == "auroc":
        labels = np.asarray(case.inputs["labels"])
        scores = np.asarray(case.inputs["scores"], dtype=np.float64)
        pos, neg = scores[labels == 1], scores[labels == 0]
        tied = float(np.sum(pos[:, None] == neg[None])) / (pos.size * neg.size)
        if tied > 0 and abs(abs(float(got) - float(ref)) - tied / 2) <= 1e-9:
            return ("; the difference is half the fraction of tied (anomaly, normal) score pairs: tied scores must "
                    "count 1/2 (one threshold per distinct score), not be broken either way")
    return ""


def _index_shape(case):
    """The mode sizes flat ``indices`` of the case unravel into (None if not such a case)."""
    if "indices" not in case.inputs or np.asarray(case.inputs["indices"]).ndim != 1:
        return None
    cores = cores_from(case.inputs)
    return tuple(int(c.shape[1]) for c in cores) if cores else None


def _values_at(case, multi):
    """The case's operation evaluated at other multi-indices (get_many and decode)."""
    cores = [np.asarray(c, dtype=np.float64) for c in cores_from(case.inputs)]
    if case.operation not in ("get_many", "decode"):
        return None
    out = []
    for row in multi:
        vec = np.eye(cores[0].shape[0])
        for core, i in zip(cores, row):
            vec = vec @ core[:, i, :]
        out.append(vec[:, 0])
    values = np.asarray(out)
    return values[:, 0] if case.operation == "get_many" else values


def scalar_norm(case, outputs) -> Outcome:
    """``|v^2 - ref^2| <= rtol * scale``: the backward-error bound of a squared norm, which
    ``sqrt(dot(a, a))`` and an orthogonalization both meet (``scale = dot(|a|, |a|)``)."""
    if "result" not in outputs:
        return Outcome("fail", message="output 'result' is missing")
    if np.asarray(outputs["result"]).size != 1:
        return Outcome("fail", message=f"norm must be one number, got shape {np.asarray(outputs['result']).shape}")
    value, ref, scale = (float(np.asarray(v, dtype=np.float64).reshape(-1)[0])
                         for v in (outputs["result"], case.expected["result"], case.expected["scale_result"]))
    rtol = _rtol(case)
    if not math.isfinite(value) or value < 0:
        return Outcome("fail", math.inf, rtol, f"norm {value} is not a finite non-negative number")
    # |v^2 - r^2| / scale^2 as (|v - r| / scale) ((v + r) / scale): nothing overflows at the range edges.
    err = (abs(value - ref) / scale) * ((value + ref) / scale) if scale > 0 else abs(value - ref)
    if err <= rtol:
        return Outcome("pass", err, rtol)
    return Outcome("fail", err, rtol, f"norm {value!r} vs {ref!r}: |v^2 - ref^2| is {err:.3g} x prod ||G_j||_F^2")


def tt_values_and_ranks(case, outputs) -> Outcome:
    """A TT output (``cores_j``): the ranks must equal ``case.tolerance["ranks"]`` (they are
    fixed by the operation: add adds, hadamard multiplies) and the reconstruction must meet
    the elementwise bound against ``expected["result"]`` (the dense tensor)."""
    cores = cores_from(outputs)
    if not cores:
        return Outcome("fail", message="no output cores (expected cores_0, cores_1, ...)")
    ranks = list(_ranks(cores))
    if "ranks" in case.tolerance and ranks != list(case.tolerance["ranks"]):
        return Outcome("fail", message=f"ranks {tuple(ranks)}, expected {tuple(case.tolerance['ranks'])} "
                       "(the operation fixes them; do not round inside it)")
    return elementwise(case, {"result": dense(cores)})


def tt_truncation(case, outputs) -> Outcome:
    """TT-SVD and rounding: the reconstruction error relative to ``||x||`` must stay within
    ``eps + rtol`` (only ``eps``) or within Oseledets' bound for the cap
    ``sqrt(sum_j max(e_j, delta)^2) / ||x|| + rtol`` (with ``max_rank``; ``e_j`` the best
    rank-``max_rank`` error of unfolding j); ranks must not exceed ``max_rank``; and where the
    case says the ranks are comparable (no singular value near the cut), they must equal the
    expected."""
    cores = cores_from(outputs)
    if not cores:
        return Outcome("fail", message="no output cores (expected cores_0, cores_1, ...)")
    x = np.asarray(case.expected["result"], dtype=np.float64)
    try:
        approx = dense(cores).reshape(x.shape)
    except ValueError:
        return Outcome("fail", message=f"the cores reconstruct shape {dense(cores).shape}, expected {x.shape}")
    tol = case.tolerance
    rtol = _rtol(case)
    x_norm = _norm(x)
    err = _norm(approx - x) / x_norm if x_norm > 0 else _norm(approx)
    eps = case.params.get("eps") or 0.0
    max_rank = case.params.get("max_rank")
    ranks = _ranks(cores)
    expected_ranks = tuple(tol["ranks"])
    if max_rank is not None and max(ranks[1:-1], default=1) > max_rank:
        return Outcome("fail", err, rtol, f"ranks {ranks} exceed max_rank = {max_rank}")
    allowed = (float(tol["capped_bound"]) if max_rank is not None else eps) + rtol
    if err > allowed:
        return Outcome("fail", err, allowed, f"relative error {err:.3g} above the bound {allowed:.3g}"
                       + _truncation_hint(case, err, ranks, expected_ranks, approx, x))
    if tol.get("ranks_comparable") and ranks != expected_ranks:
        return Outcome("fail", err, allowed, f"ranks {ranks}, expected {expected_ranks} (no singular value sits "
                       "near the threshold here, so the ranks are determined)"
                       + _rank_hint(ranks, expected_ranks, case))
    return Outcome("pass", err, allowed)


def _truncation_hint(case, err, ranks, expected_ranks, approx, x) -> str:
    eps = case.params.get("eps") or 0.0
    x_norm = _norm(x)
    allowed = eps + float(case.tolerance.get("reference_error", 0.0)) + 1e-6
    for permuted in (np.reshape(np.ravel(x, order="F"), x.shape), np.reshape(np.ravel(x, order="C"), x.shape, order="F")):
        if _norm(approx - permuted) <= allowed * x_norm:
            return "; the cores reconstruct x read in Fortran (column-major) order: unfold in C order (i_1 slowest)"
    return _rank_hint(ranks, expected_ranks, case)


def _rank_hint(ranks, expected_ranks, case) -> str:
    for message, alternative in case.tolerance.get("diagnostic_ranks", {}).items():
        if tuple(alternative) == tuple(ranks):
            return f"; these are the ranks of a known mistake: {message}"
    if len(ranks) != len(expected_ranks):
        return f"; {len(ranks) - 1} cores, expected {len(expected_ranks) - 1}"
    diff = [a - b for a, b in zip(ranks[1:-1], expected_ranks[1:-1])]
    if diff and all(v in (-1, 0) for v in diff) and any(v == -1 for v in diff):
        return ("; one rank fewer than needed at a bond: keep the smallest k whose discarded tail "
                "sum_{i >= k} s_i^2 is <= delta^2 (an off-by-one cut)")
    if diff and all(v in (0, 1) for v in diff) and any(v == 1 for v in diff):
        return "; one rank more than the smallest that meets the threshold (an off-by-one cut)"
    if diff and diff[0] == 0 and any(v != 0 for v in diff[1:]) and case.operation == "tt_svd":
        return ("; the first bond agrees but later ones do not: the later unfoldings differ, as when sqrt(S) is "
                "split into both factors (carry S V^T to the next step, keep U orthonormal)")
    return ""


def tt_orthogonal(case, outputs) -> Outcome:
    """orthogonalize: the same tensor (normwise, ``rtol * prod ||G_j||_F``), cores
    orthonormal on the requested side (``||Q^T Q - I||_F <= rtol_q``), ranks as expected."""
    cores = cores_from(outputs)
    if not cores:
        return Outcome("fail", message="no output cores (expected cores_0, cores_1, ...)")
    ref = np.asarray(case.expected["result"], dtype=np.float64)
    rtol = _rtol(case)
    ranks = _ranks(cores)
    if ranks != tuple(case.tolerance["ranks"]):
        return Outcome("fail", message=f"ranks {ranks}, expected {tuple(case.tolerance['ranks'])} "
                       "(reduced QR: min(r_(j-1) n_j, r_j))")
    # prod ||G_j||_F may underflow float64 at the range edge: the smallest normal then.
    scale = max(float(np.asarray(case.expected["scale_result"])), float(np.finfo(np.float64).tiny))
    try:
        err = _norm(dense(cores).reshape(ref.shape) - ref) / scale
    except ValueError:
        return Outcome("fail", message=f"the cores reconstruct shape {dense(cores).shape}, expected {ref.shape}")
    if err > rtol:
        return Outcome("fail", err, rtol, f"not the same tensor: error {err:.3g} x prod ||G_j||_F")
    q_tol = float(case.tolerance["q_tol"])
    left = case.params.get("direction", "left") == "left"
    for j, core in enumerate(cores):
        if (left and j == len(cores) - 1) or (not left and j == 0):
            continue
        r0, n, r1 = core.shape
        q = core.reshape(r0 * n, r1) if left else core.reshape(r0, n * r1).T
        q_err = _norm(q.T @ q - np.eye(q.shape[1]))
        if q_err > q_tol:
            return Outcome("fail", q_err, q_tol, f"core {j} is not {'left' if left else 'right'}-orthonormal: "
                           f"||Q^T Q - I||_F = {q_err:.3g}")
    return Outcome("pass", err, rtol)


def _distances_to(queries, base, ids) -> np.ndarray:
    """Squared distances from each query to the given base rows, by differences (float64)."""
    q = np.asarray(queries, dtype=np.float64)
    b = np.asarray(base, dtype=np.float64)
    diff = q[:, None, :] - b[np.asarray(ids)]
    return np.sum(diff * diff, axis=-1)


def neighbors(case, outputs) -> Outcome:
    """Exact kNN, tie-aware (as faiss's ``contrib/evaluation.py`` checks): the distances match
    within ``rtol (||q||^2 + ||b||^2)``; every returned id is a real row at its reported
    distance; the ids are distinct; and every id strictly closer than the k-th reference
    distance (by more than the tolerance) is present. Ids among equal distances may differ."""
    for name in ("distances", "ids"):
        if name not in outputs:
            return Outcome("fail", message=f"output {name!r} is missing")
    queries, base = case.inputs["queries"], case.inputs["base"]
    return _check_knn(queries, base, outputs["distances"], outputs["ids"], case.expected["distances"],
                      case.expected["ids"], _rtol(case), None)


def _check_knn(queries, base, dist, ids, ref_dist, ref_ids, rtol, allowed) -> Outcome:
    dist = np.asarray(dist, dtype=np.float64)
    ids = np.asarray(ids).astype(np.int64)
    ref_dist = np.asarray(ref_dist, dtype=np.float64)
    ref_ids = np.asarray(ref_ids).astype(np.int64)
    if dist.shape != ref_dist.shape or ids.shape != ref_ids.shape:
        return Outcome("fail", message=f"shapes {dist.shape} / {ids.shape}, expected {ref_dist.shape}")
    q = np.asarray(queries, dtype=np.float64)
    b = np.asarray(base, dtype=np.float64)
    scale = np.sum(q * q, axis=1)[:, None] + np.max(np.sum(b * b, axis=1))
    worst = float(np.max(np.abs(dist - ref_dist) / scale)) if dist.size else 0.0
    if worst > rtol:
        return Outcome("fail", worst, rtol, f"distances off by {worst:.3g} x (||q||^2 + max ||b||^2)")
    if np.any((ids < 0) | (ids >= b.shape[0])):
        return Outcome("fail", worst, rtol, "an id is out of range")
    true = _distances_to(q, b, ids)
    bad = np.abs(true - dist) / scale
    if np.max(bad) > rtol:
        row = int(np.argmax(np.max(bad, axis=1)))
        return Outcome("fail", float(np.max(bad)), rtol, f"query {row}: an id is not at its reported distance")
    for row in range(ids.shape[0]):
        if len(set(ids[row].tolist())) != ids.shape[1]:
            return Outcome("fail", worst, rtol, f"query {row}: repeated ids {ids[row].tolist()}")
        kth = ref_dist[row, -1]
        tol_row = rtol * scale[row, 0]
        must = {int(i) for i, dd in zip(ref_ids[row], ref_dist[row]) if dd < kth - 2 * tol_row}
        missing = must - set(ids[row].tolist())
        if missing:
            return Outcome("fail", worst, rtol, f"query {row}: ids {sorted(missing)} are strictly closer than "
                           "the k-th neighbour but missing")
        if allowed is not None and not set(ids[row].tolist()) <= set(allowed[row]):
            return Outcome("fail", worst, rtol, f"query {row}: ids outside the probed buckets")
    return Outcome("pass", worst, rtol)


def beam_search(case, outputs) -> Outcome:
    """TT-index beam search: the leaves of the last beam (as a set per query), the candidate
    ids scanned (as a set), then the k results tie-aware among the candidates."""
    for name in ("leaves", "candidates", "distances", "ids"):
        if name not in outputs:
            return Outcome("fail", message=f"output {name!r} is missing")
    for name in ("leaves", "candidates"):
        got, ref = np.asarray(outputs[name]), np.asarray(case.expected[name])
        if got.shape[0] != ref.shape[0]:
            return Outcome("fail", message=f"{name}: {got.shape[0]} rows, expected {ref.shape[0]}")
        for row in range(ref.shape[0]):
            g = {int(v) for v in got[row] if v >= 0}
            r = {int(v) for v in ref[row] if v >= 0}
            if g != r:
                return Outcome("fail", message=f"query {row}: {name} {sorted(g - r)} extra, {sorted(r - g)} missing"
                               + (" (the beam keeps the prefixes with the smallest centre distances at every level)"
                                  if name == "leaves" else ""))
    allowed = [[int(v) for v in row if v >= 0] for row in np.asarray(case.expected["candidates"])]
    return _check_knn(case.inputs["queries"], case.inputs["base"], outputs["distances"], outputs["ids"],
                      case.expected["distances"], case.expected["ids"], _rtol(case), allowed)


RULES = {
    "elementwise": elementwise,
    "scalar_norm": scalar_norm,
    "tt_values_and_ranks": tt_values_and_ranks,
    "tt_truncation": tt_truncation,
    "tt_orthogonal": tt_orthogonal,
    "neighbors": neighbors,
    "beam_search": beam_search,
}


def compare(case, outputs) -> Outcome:
    """Hold ``outputs`` (a dict of arrays, or one array for a single output ``"result"``)
    to ``case`` with the rule it names."""
    if not isinstance(outputs, dict):
        outputs = {"result": outputs}
    outputs = {name: np.asarray(value) for name, value in outputs.items()}
    try:
        rule = RULES[case.compare]
    except KeyError:
        return Outcome("error", message=f"unknown comparison rule {case.compare!r}")
    return rule(case, outputs)
