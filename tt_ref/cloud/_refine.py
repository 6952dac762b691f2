"""Exact least-squares refinement of a TT point cloud: Lloyd sweeps solved one core at a time.

Given rows ``x_b`` assigned to TT points ``y(a(b))``, the quantization error
``sum_b ||x_b - y(a(b))||^2`` is a quadratic function of each core when the others are
fixed, because every point is linear in each core:
``y = L_b G_j[:, i_j(b), :] R_b`` with ``L_b`` the prefix product (``D x r_{j-1}``,
the identity for the first core) and ``R_b`` the suffix vector. So one core is solved
exactly from its normal equations, slab by slab::

    A_i = sum_{b: i_j(b) = i} (R_b R_b^T) kron (L_b^T L_b),   rhs_i = sum_b vec(L_b^T x_b R_b^T)

A sweep solves the cores left to right, then re-assigns every row to its nearest TT
point; neither step can increase the error (each solve is checked, and rejected if the
floating-point result is worse; a row changes point only for a strictly nearer one).
Slabs no row uses (empty prefixes of level 1, unused mode indices) are re-seeded
before a sweep so that the row of largest error in the heaviest slabs is captured.

Points no row is assigned to (empty leaves) are not constrained by that error and drift
to where no data is. With ``empty_pull = w > 0`` each sweep adds, for every empty leaf
``p``, the term ``w ||x_nn(p) - y(p)||^2`` toward its nearest row: the same least
squares with ``w``-weighted pseudo-rows, so each solve still minimizes the sweep's
objective exactly and never increases it (the rows' own error may then rise a little).
Specification: ``specs/fit.md`` §Refinement.
"""

from __future__ import annotations

import math
import time

import numpy as np

from .._backend import random_choice, scatter_add, to_floats, to_numpy
from .._backend._neighbors import nearest_neighbors
from ._kernels import (
    _decode_multi,
    _flat_to_multi,
    _gather_slabs,
    _left_partials,
    _multi_to_flat,
    _outer_scatter,
    _right_partials,
)
from ._point_cloud import TTPointCloud

__all__ = ["refine_cores", "assign_nearest", "quantization_errors", "solve_core", "repair_empty_slabs",
           "empty_leaf_targets"]

# Rows per block in the accumulations (bounds the (rows x a x c) intermediates).
_BLOCK_ENTRIES = 1 << 22
# Points decoded per block of the exact assignment.
_ASSIGN_POINTS = 1 << 15
# Unknowns of one slab above which a core is left as it is (its dense normal matrix
# would hold more than 2048^2 numbers per slab).
MAX_SLAB_UNKNOWNS = 2048


# --------------------------------------------------------------------------- assignment
def assign_nearest(cores, X, xp):
    """Multi-indices (B, k) of the nearest TT point of each row, exact (ties to the smaller index).

    Scans the points in flat order, a block at a time, keeping the running minimum of
    ``||y||^2 - 2 x.y`` (the squared distance less ``||x||^2``, which does not change the
    argmin): ``O(B P D)`` work in GEMMs, memory bounded by the blocks.
    """
    cloud = TTPointCloud._from_cores(tuple(cores))
    mode_sizes = cloud.mode_sizes
    n_rows = int(X.shape[0])
    best_d = best_i = None
    offset = 0
    for block in cloud.points(chunk=_ASSIGN_POINTS):
        sq = xp.sum(block * block, axis=1)
        step = max(1, _BLOCK_ENTRIES // int(block.shape[0]))
        mins, args = [], []
        for s, e in [(s, min(s + step, n_rows)) for s in range(0, n_rows, step)]:
            scores = sq[None, :] - 2.0 * (X[s:e, :] @ xp.matrix_transpose(block))
            args.append(xp.argmin(scores, axis=1))
            mins.append(xp.min(scores, axis=1))
        d2, ids = xp.concat(mins), xp.astype(xp.concat(args), xp.int64) + offset
        if best_d is None:
            best_d, best_i = d2, ids
        else:
            better = d2 < best_d  # strict: an equal later point never wins
            best_d, best_i = xp.where(better, d2, best_d), xp.where(better, ids, best_i)
        offset += int(block.shape[0])
    return _flat_to_multi(best_i, mode_sizes, xp)


def quantization_errors(cores, X, multi, xp):
    """``||x_b - y(multi[b])||^2`` per row, from the decoded points (no Gram cancellation)."""
    diff = X - _decode_multi(cores, multi, xp)
    return xp.sum(diff * diff, axis=1)


def _keep_nearer(cores, X, old_multi, new_multi, xp):
    """Per row, the nearer of the old and the new point (a row moves only when strictly nearer)."""
    old_err = quantization_errors(cores, X, old_multi, xp)
    new_err = quantization_errors(cores, X, new_multi, xp)
    move = new_err < old_err
    multi = xp.where(move[:, None], new_multi, old_multi)
    return multi, xp.where(move, new_err, old_err)


# --------------------------------------------------------------------------- normal equations
def _row_blocks(n_rows: int, width: int):
    step = max(1, _BLOCK_ENTRIES // max(width, 1))
    return [(s, min(s + step, n_rows)) for s in range(0, n_rows, step)]


def _scatter_outer(shape, idx, left, right, xp):
    """``out[:, i, :] = sum_{b: idx[b] = i} left[b] right[b]^T`` accumulated over row blocks."""
    a, n, c = shape
    out = xp.zeros((a, n, c), dtype=left.dtype)
    for s, e in _row_blocks(int(left.shape[0]), a * c):
        out = out + _outer_scatter(shape, idx[s:e], left[s:e, :], right[s:e, :], xp)
    return out


def _prefix_grams(cores, j, xp):
    """``L_p^T L_p`` for every prefix ``p = (i_1..i_j)`` (C order), shape (n_1...n_j, r_j, r_j)."""
    first = xp.permute_dims(cores[0], (1, 2, 0))  # (n_1, r_1, D)
    grams = first @ xp.matrix_transpose(first)
    for m in range(1, j):
        core = xp.permute_dims(cores[m], (1, 0, 2))  # (n_m, r_{m-1}, r_m)
        # (P, 1, a, a) with (1, n, a, c): S^T M S for every prefix and index.
        step = xp.matrix_transpose(core)[None, :, :, :] @ grams[:, None, :, :] @ core[None, :, :, :]
        grams = xp.reshape(step, (-1, step.shape[-2], step.shape[-1]))
    return grams


def _row_grams(cores, j, multi, xp):
    """``L_b^T L_b`` for every row, shape (B, r_{j-1}, r_{j-1}) (prefix products per row)."""
    first = xp.permute_dims(cores[0], (1, 2, 0))
    grams = xp.take(first @ xp.matrix_transpose(first), multi[:, 0], axis=0)
    for m in range(1, j):
        slabs = _gather_slabs(cores[m], multi[:, m], xp)  # (B, r_{m-1}, r_m)
        grams = xp.matrix_transpose(slabs) @ grams @ slabs
    return grams


def _pair_sums(keys, rights, n_keys: int, xp):
    """``out[q] = sum_{b: keys[b] = q} vec(R_b R_b^T)``, shape (n_keys, c^2).

    Rows sorted by key, then cumulative sums over blocks of sorted rows, differenced at
    the key boundaries: standard operations only (the same numbers on every backend),
    ``O(B c^2)`` work and memory bounded by the blocks.
    """
    n_rows, c = int(rights.shape[0]), int(rights.shape[1])
    order = xp.argsort(keys, stable=True)
    bounds = to_numpy(xp.searchsorted(xp.take(keys, order), xp.arange(n_keys + 1, dtype=keys.dtype)))
    out = xp.zeros((n_keys, c * c), dtype=rights.dtype)
    for s, e in _row_blocks(n_rows, c * c):
        block = xp.take(rights, order[s:e], axis=0)
        sums = xp.cumulative_sum(xp.reshape(block[:, :, None] * block[:, None, :], (e - s, c * c)), axis=0,
                                 include_initial=True)
        first = int(np.searchsorted(bounds, s, side="right")) - 1  # key of sorted row s
        last = int(np.searchsorted(bounds, e - 1, side="right")) - 1  # key of sorted row e - 1
        lo = xp.asarray(np.clip(bounds[first:last + 1] - s, 0, e - s).astype(np.int64))
        hi = xp.asarray(np.clip(bounds[first + 1:last + 2] - s, 0, e - s).astype(np.int64))
        out[first:last + 1, :] = out[first:last + 1, :] + (xp.take(sums, hi, axis=0) - xp.take(sums, lo, axis=0))
    return out


def _kron_normal(cores, j, multi, rights, xp):
    """``K[i] = sum_b vec(R_b R_b^T) vec(L_b^T L_b)^T`` over the rows of slab i, (n, c^2, a^2).

    Rows are grouped by (prefix, index) when there are fewer such pairs than rows: the
    prefix Grams then come from the cores once, and each pair adds one Kronecker term.
    """
    a, n, c = (int(s) for s in cores[j].shape)
    n_rows = int(multi.shape[0])
    n_prefixes = math.prod(int(cores[m].shape[1]) for m in range(j))
    if n_prefixes * n <= n_rows:
        prefix = xp.zeros((n_rows,), dtype=multi.dtype)
        for m in range(j):
            prefix = prefix * int(cores[m].shape[1]) + multi[:, m]
        pair = prefix * n + multi[:, j]
        summed = _pair_sums(pair, rights, n_prefixes * n, xp)  # (pairs, c^2)
        grams = xp.reshape(_prefix_grams(cores, j, xp), (n_prefixes, a * a))
        per_slab = xp.permute_dims(xp.reshape(summed, (n_prefixes, n, c * c)), (1, 2, 0))  # (n, c^2, P)
        return per_slab @ grams
    right_outer = xp.reshape(rights[:, :, None] * rights[:, None, :], (n_rows, c * c))
    grams = xp.reshape(_row_grams(cores, j, multi, xp), (n_rows, a * a))
    order = xp.argsort(multi[:, j], stable=True)
    counts = np.bincount(to_numpy(multi[:, j]), minlength=n)
    out, start = [], 0
    for i in range(n):
        acc = xp.zeros((c * c, a * a), dtype=rights.dtype)
        stop = start + int(counts[i])
        for s, e in _row_blocks(stop - start, c * c + a * a):
            rows = order[start + s:start + e]
            acc = acc + xp.matrix_transpose(xp.take(right_outer, rows, axis=0)) @ xp.take(grams, rows, axis=0)
        out.append(acc)
        start = stop
    return xp.stack(out, axis=0)


def solve_core(cores, j, X, multi, ridge, xp, weights=None):
    """Core ``j`` minimizing ``sum_b w_b ||x_b - y(multi[b])||^2`` with the others fixed.

    ``weights`` (B,), non-negative, default all ones: a weighted row counts as ``w_b``
    copies of itself (its row and suffix vector are scaled by ``sqrt(w_b)`` in the sums).

    Each slab solves ``(A_i + lambda_i I) g = rhs_i + lambda_i g_0`` (a proximal ridge
    toward the current slab ``g_0``, ``lambda_i = ridge * mean diag(A_i)`` plus a floor that
    keeps a slab no row uses exactly where it is). The sums and the solve run in float64.
    Returns the new core in the cores' dtype, or None when a slab has more than
    ``MAX_SLAB_UNKNOWNS`` unknowns.
    """
    dtype = cores[0].dtype
    wide = tuple(xp.astype(c, xp.float64) for c in cores)
    Xw = xp.astype(X, xp.float64)
    a, n, c = (int(s) for s in wide[j].shape)
    rights = _right_partials(wide, multi, xp)[j]  # (B, c)
    if weights is not None:
        root = xp.sqrt(xp.astype(weights, xp.float64))[:, None]
        rights, Xw = rights * root, Xw * root
    if j == 0:
        gram = _scatter_outer((c, n, c), multi[:, 0], rights, rights, xp)  # (c, n, c)
        rhs = _scatter_outer((a, n, c), multi[:, 0], Xw, rights, xp)  # (D, n, c)
        system = xp.permute_dims(gram, (1, 0, 2))  # (n, c, c)
        solved = _ridge_solve(system, xp.permute_dims(rhs, (1, 2, 0)), xp.permute_dims(wide[0], (1, 2, 0)), ridge, xp)
        return xp.astype(xp.permute_dims(solved, (2, 0, 1)), dtype)  # (D, n, c)
    if a * c > MAX_SLAB_UNKNOWNS:
        return None
    projected = _left_partials(wide, multi, Xw, xp)[j]  # (B, a): L_b^T x_b
    kron = _kron_normal(wide, j, multi, rights, xp)  # (n, c^2, a^2) indexed [(s, t), (p, q)]
    system = xp.reshape(xp.permute_dims(xp.reshape(kron, (n, c, c, a, a)), (0, 3, 1, 4, 2)), (n, a * c, a * c))
    rhs = xp.reshape(xp.permute_dims(_scatter_outer((a, n, c), multi[:, j], projected, rights, xp), (1, 0, 2)),
                     (n, a * c, 1))
    current = xp.reshape(xp.permute_dims(wide[j], (1, 0, 2)), (n, a * c, 1))
    solved = _ridge_solve(system, rhs, current, ridge, xp)
    return xp.astype(xp.permute_dims(xp.reshape(solved, (n, a, c)), (1, 0, 2)), dtype)


def _ridge_solve(system, rhs, current, ridge, xp):
    """Solve ``(A_i + lambda_i I) g_i = rhs_i + lambda_i current_i`` for every slab i (batched)."""
    size = int(system.shape[-1])
    eye = xp.eye(size, dtype=system.dtype)
    diag_mean = xp.sum(system * eye[None, :, :], axis=(1, 2)) / size  # (n,)
    overall = xp.max(diag_mean)
    floor = xp.where(overall > 0, overall, xp.ones_like(overall)) * (64 * float(np.finfo(np.float64).eps))
    lam = ridge * diag_mean + floor  # > 0: an unused slab (A_i = 0) stays where it is
    shifted = system + lam[:, None, None] * eye[None, :, :]
    solved = xp.linalg.solve(shifted, rhs + lam[:, None, None] * current)
    return xp.where((diag_mean > 0)[:, None, None], solved, current)  # an unused slab exactly as it was


# --------------------------------------------------------------------------- repair
def repair_empty_slabs(cores, X, multi, errors, xp):
    """Re-seed every slab that no row uses; returns ``(cores, multi, errors, n_repaired)``.

    For an unused index ``e`` of core ``j``, take a row of large error whose own index
    of that core is used by at least two rows (largest error first, one row per unused
    index), and set ``G_j[:, e, :]`` to that row's slab plus the least-squares
    correction that moves the row's point onto it:
    ``G_e = G_h + L^+ (x - y) R^T / ||R||^2`` (exact for the first core, where
    ``L = I``). The new slab only moves points no row was using, and the chosen row
    moves to its new point only when that is strictly nearer, so no error grows.
    """
    cores = list(cores)
    repaired = 0
    n_rows = int(multi.shape[0])
    for j in range(len(cores)):
        n = int(cores[j].shape[1])
        slab_host = to_numpy(multi[:, j])
        counts = np.bincount(slab_host, minlength=n)
        empty = np.flatnonzero(counts == 0)
        if empty.size == 0:
            continue
        targets = _repair_targets(to_numpy(errors), slab_host, counts, int(empty.size))
        if targets.size == 0:
            continue
        empty = empty[: targets.size]
        rows = xp.asarray(targets.astype(np.int64))
        sel = xp.asarray(empty.astype(np.int64))
        rows_x, row_multi = xp.take(X, rows, axis=0), xp.take(multi, rows, axis=0)
        new_slabs = _targeted_slabs(cores, j, rows_x, row_multi, xp)  # (a, t, c)
        # Place the new slabs at the unused indices (one-hot product, standard ops only).
        hit = xp.astype(xp.arange(n, dtype=xp.int64)[:, None] == sel[None, :], cores[j].dtype)  # (n, t)
        a_dim, t_dim, c_dim = (int(v) for v in new_slabs.shape)
        flat = xp.reshape(xp.permute_dims(new_slabs, (1, 0, 2)), (t_dim, a_dim * c_dim))
        placed = xp.permute_dims(xp.reshape(hit @ flat, (n, a_dim, c_dim)), (1, 0, 2))
        used = xp.sum(hit, axis=1) > 0
        cores[j] = xp.where(used[None, :, None], placed, cores[j])
        # Each chosen row moves to its new point when that is strictly nearer.
        candidate = xp.where(xp.arange(row_multi.shape[1])[None, :] == j, sel[:, None], row_multi)
        old = xp.take(errors, rows, axis=0)
        new = quantization_errors(cores, rows_x, candidate, xp)
        move = new < old
        mask = scatter_add(n_rows, rows, xp.astype(move, errors.dtype)[:, None], xp=xp, force_standard=True)[:, 0] > 0
        moved_multi = scatter_add(n_rows, rows, candidate, xp=xp, force_standard=True)
        moved_err = scatter_add(n_rows, rows, new[:, None], xp=xp, force_standard=True)[:, 0]
        multi = xp.where(mask[:, None], moved_multi, multi)
        errors = xp.where(mask, moved_err, errors)
        repaired += int(empty.size)
    return tuple(cores), multi, errors, repaired


def _repair_targets(errors, slabs, counts, n_wanted: int) -> np.ndarray:
    """Rows to re-seed unused slabs with: largest error first, never the last row of a slab."""
    left = counts.copy()
    chosen = []
    for row in np.argsort(-errors, kind="stable"):
        if len(chosen) == n_wanted or not errors[row] > 0:
            break
        if left[slabs[row]] >= 2:
            left[slabs[row]] -= 1
            chosen.append(int(row))
    return np.asarray(chosen, dtype=np.int64)


def _targeted_slabs(cores, j, rows_x, rows_multi, xp):
    """``G_j[:, i_j(b), :] + L_b^+ (x_b - y_b) R_b^T / ||R_b||^2`` for each chosen row, (a, t, c).

    Computed in float64 and returned in the cores' dtype.
    """
    dtype = cores[0].dtype
    cores = tuple(xp.astype(c, xp.float64) for c in cores)
    rows_x = xp.astype(rows_x, xp.float64)
    rights = _right_partials(cores, rows_multi, xp)[j]  # (t, c)
    resid = rows_x - _decode_multi(cores, rows_multi, xp)  # (t, D)
    if j == 0:
        step = resid  # L = I
    else:
        left = _gather_slabs(cores[0], rows_multi[:, 0], xp)  # (t, D, r_1)
        for m in range(1, j):
            left = left @ _gather_slabs(cores[m], rows_multi[:, m], xp)
        # L^+ r by the normal equations with a tiny ridge (L may be rank-deficient).
        gram = xp.matrix_transpose(left) @ left
        size = int(gram.shape[-1])
        eye = xp.eye(size, dtype=gram.dtype)
        scale = xp.sum(gram * eye[None, :, :], axis=(1, 2)) / size
        shifted = gram + (scale * 1e-10 + 1e-300)[:, None, None] * eye[None, :, :]
        step = xp.linalg.solve(shifted, xp.matrix_transpose(left) @ resid[:, :, None])[:, :, 0]  # (t, a)
    norms = xp.sum(rights * rights, axis=1, keepdims=True)
    norms = xp.where(norms > 0, norms, xp.ones_like(norms))
    base = xp.permute_dims(_gather_slabs(cores[j], rows_multi[:, j], xp), (1, 0, 2))  # (a, t, c)
    return xp.astype(base + xp.permute_dims(step[:, :, None] * (rights / norms)[:, None, :], (1, 0, 2)), dtype)


# --------------------------------------------------------------------------- empty leaves
def empty_leaf_targets(cores, X, multi, xp):
    """The leaves no row of ``X`` is assigned to, and the nearest row of each.

    Returns ``(leaf_multi, target_rows)``, shapes (E, k) and (E, D) (E = 0 when every
    leaf holds a row). The nearest row is exact (ties to the smaller row index), found
    from the decoded points of the empty leaves only.
    """
    mode_sizes = tuple(int(c.shape[1]) for c in cores)
    empty = _empty_leaves(mode_sizes, multi, xp)
    leaf_multi = _flat_to_multi(xp.asarray(empty.astype(np.int64)), mode_sizes, xp)
    if empty.size == 0:
        return leaf_multi, X[:0, :]
    points = _decode_multi(cores, leaf_multi, xp)
    _, nearest = nearest_neighbors(points, X, 1, check_values=False)
    return leaf_multi, xp.take(X, nearest[:, 0], axis=0)


def _empty_leaves(mode_sizes, multi, xp) -> np.ndarray:
    """Host flat indices (C order) of the leaves no row of ``multi`` is assigned to."""
    flat = to_numpy(_multi_to_flat(multi, mode_sizes, xp))
    return np.flatnonzero(np.bincount(flat, minlength=math.prod(mode_sizes)) == 0)


def _count_empty(cores, multi, xp) -> int:
    return int(_empty_leaves(tuple(int(c.shape[1]) for c in cores), multi, xp).size)


def _sweep_problem(cores, rows, multi, weight, xp):
    """Rows, multi-indices and weights of one sweep's least squares (rows plus empty-leaf pulls)."""
    ones = xp.ones((int(rows.shape[0]),), dtype=rows.dtype)
    if weight <= 0:
        return rows, multi, ones, 0
    leaf_multi, targets = empty_leaf_targets(cores, rows, multi, xp)
    n_empty = int(leaf_multi.shape[0])
    if n_empty == 0:
        return rows, multi, ones, 0
    pulls = xp.full((n_empty,), weight, dtype=rows.dtype)
    return (xp.concat([rows, targets], axis=0), xp.concat([multi, xp.astype(leaf_multi, multi.dtype)], axis=0),
            xp.concat([ones, pulls]), n_empty)


# --------------------------------------------------------------------------- the sweeps
def refine_cores(cores, work, sweeps, config, rng, xp):
    """``sweeps`` Lloyd sweeps on (a subsample of) ``work``; returns ``(cores, info)``.

    ``config`` gives ``refine_rows`` (a subsample drawn from ``rng``), ``repair``,
    ``empty_pull`` and ``refine_ridge``.

    ``info["quantization"]`` holds the mean squared distance of the rows to their
    assigned point before the first sweep and after each one (never increasing when
    ``empty_pull == 0``); ``info["objective"]`` holds each sweep's weighted objective
    before and after its core solves (never increasing within a sweep);
    ``info["empty_leaves"]`` the leaves no row is assigned to before each sweep and at
    the end; ``info["rejected"]`` counts the core solves whose result was worse and was
    dropped.
    """
    start = time.perf_counter()
    n_rows = int(work.shape[0])
    rows = work
    if config.refine_rows is not None and config.refine_rows < n_rows:
        rows = xp.take(work, xp.sort(random_choice(rng, n_rows, config.refine_rows, xp=xp)), axis=0)
    multi = assign_nearest(cores, rows, xp)
    errors = quantization_errors(cores, rows, multi, xp)
    history = [to_floats(xp.mean(errors))[0]]
    info = {"quantization": history, "objective": [], "empty_leaves": [], "repaired": 0, "rejected": 0,
            "rows": int(rows.shape[0])}
    for _ in range(sweeps):
        if config.repair:
            cores, multi, errors, repaired = repair_empty_slabs(cores, rows, multi, errors, xp)
            info["repaired"] += repaired
        problem_rows, problem_multi, weights, n_empty = _sweep_problem(cores, rows, multi, config.empty_pull, xp)
        info["empty_leaves"].append(n_empty if config.empty_pull > 0 else _count_empty(cores, multi, xp))
        current = before = to_floats(xp.sum(weights * quantization_errors(cores, problem_rows, problem_multi, xp)))[0]
        for j in range(len(cores)):
            core = solve_core(cores, j, problem_rows, problem_multi, config.refine_ridge, xp,
                              weights=None if n_empty == 0 else weights)
            if core is None:
                continue
            trial = tuple(cores[:j]) + (core,) + tuple(cores[j + 1:])
            value = to_floats(xp.sum(weights * quantization_errors(trial, problem_rows, problem_multi, xp)))[0]
            if math.isfinite(value) and value <= current:
                cores, current = trial, value
            else:
                info["rejected"] += 1
        info["objective"].append((before, current))
        multi, errors = _keep_nearer(cores, rows, multi, assign_nearest(cores, rows, xp), xp)
        history.append(to_floats(xp.mean(errors))[0])
    info["empty_leaves"].append(_count_empty(cores, multi, xp))
    info["seconds"] = time.perf_counter() - start
    return tuple(cores), info
