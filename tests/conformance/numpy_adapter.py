"""A plain-NumPy implementation of every conformance operation, written without tt_ref.

It is the "foreign implementation" of the conformance tests (specs/conformance.md §Adapter
protocol): it must pass every case, and the broken variants in ``broken_adapters.py``
(one deliberate mistake each) must be caught. It refuses inputs outside
``[1e-150, 1e150]`` where it would square them, as a simple implementation may
(range-edge cases allow that).
"""

from __future__ import annotations

import math

import numpy as np


def cores_of(kwargs, prefix="cores"):
    out, j = [], 0
    while f"{prefix}_{j}" in kwargs:
        out.append(np.asarray(kwargs[f"{prefix}_{j}"], dtype=np.float64))
        j += 1
    return out


def as_outputs(cores, prefix="cores"):
    return {f"{prefix}_{j}": c for j, c in enumerate(cores)}


def contract(cores):
    """Dense tensor (boundary ranks kept when not 1), C order."""
    out = cores[0]
    for core in cores[1:]:
        out = np.tensordot(out, core, axes=(-1, 0))
    if out.shape[0] == 1:
        out = out[0]
    if out.shape[-1] == 1:
        out = out[..., 0]
    return out


def check_range(x):
    big = float(np.max(np.abs(x))) if np.size(x) else 0.0
    if big and not 1e-150 <= big <= 1e150:
        raise ValueError(f"inputs of magnitude {big:.3g} are outside the supported range [1e-150, 1e150]")


class NumpyAdapter:
    """Textbook algorithms (Oseledets 2011 for TT-SVD), dense where that is simplest."""

    order = "C"

    # ------------------------------------------------------------------ TT toolkit
    def full(self, **kw):
        cores = cores_of(kw)
        for c in cores:
            check_range(c)
        shape = [c.shape[1] for c in cores]
        flat = self._flat_values(cores)
        return flat.reshape(shape)

    def _flat_values(self, cores):
        return np.ravel(contract(cores), order=self.order)

    def get_many(self, indices, **kw):
        cores = cores_of(kw)
        for c in cores:
            check_range(c)
        shape = [c.shape[1] for c in cores]
        indices = np.asarray(indices)
        if indices.ndim == 1:
            indices = np.stack(np.unravel_index(indices, shape, order=self.order), axis=1)
        values = []
        for row in indices:
            vec = np.ones((1,))
            for core, i in zip(cores, row):
                vec = vec @ core[:, i, :]
            values.append(vec[0])
        return np.asarray(values)

    def truncation_rank(self, s, delta, max_rank, rank_tol):
        """Smallest k >= 1 whose tail sum_{i >= k} s_i^2 is <= delta^2, capped."""
        tail = np.concatenate([np.cumsum((s ** 2)[::-1])[::-1], [0.0]])
        k = max(1, int(np.argmax(tail <= delta ** 2)))
        k = min(k, max(1, int(np.sum(s > rank_tol))))
        return k if max_rank is None else min(k, max_rank)

    def split(self, u, s, vt, k):
        """(left core matrix, carried rest)."""
        return u[:, :k], s[:k, None] * vt[:k]

    def threshold(self, eps, norm, d):
        return eps / math.sqrt(d - 1) * norm

    def tt_svd(self, x, eps=None, max_rank=None):
        x = np.asarray(x, dtype=np.float64)
        check_range(x)
        shape, d = x.shape, x.ndim
        norm = np.linalg.norm(x)
        if d == 1 or norm == 0:
            return as_outputs([x.reshape(1, -1, 1)] if d == 1 else [np.zeros((1, n, 1)) for n in shape])
        delta = self.threshold(eps or 0.0, norm, d)
        unit = np.finfo(np.float64).eps
        cores, rank, rest = [], 1, x
        rows = 1
        for n in shape[:-1]:
            rows *= n
            mat = np.reshape(rest, (rank * n, -1), order=self.order)
            u, s, vt = np.linalg.svd(mat, full_matrices=False)
            rank_tol = s[0] * min(max(rows, x.size // rows) * unit, math.sqrt(unit))
            k = self.truncation_rank(s, delta, max_rank, rank_tol)
            left, rest = self.split(u, s, vt, k)
            cores.append(np.reshape(left, (rank, n, k), order=self.order))
            rank = k
        cores.append(np.reshape(rest, (rank, shape[-1], 1), order=self.order))
        return as_outputs(cores)

    def round(self, eps=None, max_rank=None, **kw):
        # Rounding is TT-SVD of the tensor (small cases: through the dense tensor).
        return self.tt_svd(contract(cores_of(kw)), eps=eps, max_rank=max_rank)

    def orthogonalize(self, direction="left", **kw):
        cores = cores_of(kw)
        if direction == "right":
            flipped = [np.transpose(c, (2, 1, 0)) for c in reversed(cores)]
            out = self.orthogonalize("left", **as_outputs(flipped))
            return as_outputs([np.transpose(c, (2, 1, 0)) for c in reversed(cores_of(out))])
        for j in range(len(cores) - 1):
            r0, n, r1 = cores[j].shape
            q, r = np.linalg.qr(cores[j].reshape(r0 * n, r1))
            cores[j] = q.reshape(r0, n, q.shape[1])
            cores[j + 1] = np.tensordot(r, cores[j + 1], axes=(1, 0))
        return as_outputs(cores)

    def add(self, **kw):
        a, b = cores_of(kw, "a"), cores_of(kw, "b")
        if len(a) == 1:
            return as_outputs([a[0] + b[0]])
        out = []
        for j, (x, y) in enumerate(zip(a, b)):
            if j == 0:
                out.append(np.concatenate([x, y], axis=2))
            elif j == len(a) - 1:
                out.append(np.concatenate([x, y], axis=0))
            else:
                block = np.zeros((x.shape[0] + y.shape[0], x.shape[1], x.shape[2] + y.shape[2]))
                block[: x.shape[0], :, : x.shape[2]] = x
                block[x.shape[0]:, :, x.shape[2]:] = y
                out.append(block)
        return as_outputs(out)

    def scale(self, alpha, **kw):
        a = cores_of(kw, "a")
        # Spread alpha over the cores so that no core leaves the range.
        share = abs(alpha) ** (1.0 / len(a))
        return as_outputs([c * (share * (np.sign(alpha) if j == 0 else 1.0)) for j, c in enumerate(a)])

    def hadamard(self, **kw):
        out = []
        for x, y in zip(cores_of(kw, "a"), cores_of(kw, "b")):
            prod = np.einsum("aib,cid->acibd", x, y)
            out.append(prod.reshape(x.shape[0] * y.shape[0], x.shape[1], x.shape[2] * y.shape[2]))
        return as_outputs(out)

    def dot(self, **kw):
        with np.errstate(over="ignore", under="ignore", invalid="ignore"):
            a, b = contract(cores_of(kw, "a")), contract(cores_of(kw, "b"))
        check_range(a)
        check_range(b)
        return np.asarray(np.sum(a * b))

    def norm(self, **kw):
        dense = contract(cores_of(kw, "a"))
        big = float(np.max(np.abs(dense)))
        return np.asarray(0.0 if big == 0 else big * np.linalg.norm(dense / big))

    def matvec(self, x, **kw):
        cores = cores_of(kw, "w")
        rows = math.prod(c.shape[1] for c in cores)
        cols = math.prod(c.shape[2] for c in cores)
        dense = contract(cores)  # (m_1, n_1, ..., m_d, n_d)
        d = len(cores)
        perm = [2 * k for k in range(d)] + [2 * k + 1 for k in range(d)]
        matrix = np.transpose(dense, perm).reshape(rows, cols)
        return np.asarray(x) @ matrix.T

    # ------------------------------------------------------------------ point clouds
    def _points(self, cores, multi):
        out = []
        for row in multi:
            vec = np.eye(cores[0].shape[0])
            for core, i in zip(cores, row):
                vec = vec @ core[:, i, :]
            out.append(vec[:, 0])
        return np.asarray(out)

    def decode(self, indices, **kw):
        cores = cores_of(kw)
        modes = [c.shape[1] for c in cores]
        multi = np.stack(np.unravel_index(np.asarray(indices), modes, order=self.order), axis=1)
        return self._points(cores, multi)

    def centroids(self, level, **kw):
        cores = cores_of(kw)
        modes = [c.shape[1] for c in cores]
        everything = self._points(cores, np.stack(np.unravel_index(np.arange(math.prod(modes)), modes), axis=1))
        groups = math.prod(modes[:level])
        return everything.reshape(groups, -1, everything.shape[1]).mean(axis=1)

    def sliced_wasserstein(self, data, points, directions):
        b, n_dirs = points.shape[0], directions.shape[1]
        value, grad = 0.0, np.zeros_like(points)
        for theta in directions.T:
            px, py = data @ theta, points @ theta
            order = np.argsort(py)
            matched = np.empty_like(py)
            matched[order] = np.sort(px)
            diff = py - matched
            value += np.sum(diff ** 2) / (b * n_dirs)
            grad += (2.0 / (b * n_dirs)) * diff[:, None] * theta[None, :]
        return {"value": np.asarray(value), "grad": grad}

    def _nearest(self, queries, base):
        d2 = np.sum((queries[:, None, :] - base[None]) ** 2, axis=-1)
        return np.argmin(d2, axis=1)

    def fit_gradients(self, data, indices, directions, alpha_fwd, alpha_inv, **kw):
        cores = cores_of(kw)
        modes = [c.shape[1] for c in cores]
        multi = np.stack(np.unravel_index(np.asarray(indices), modes, order=self.order), axis=1)
        points = self._points(cores, multi)
        sw = self.sliced_wasserstein(data, points, directions)
        nn = self._nearest(data, points)
        diff_f = points[nn] - data
        fwd = np.sum(diff_f ** 2) / data.shape[0]
        g_f = np.zeros_like(points)
        np.add.at(g_f, nn, (2.0 / data.shape[0]) * diff_f)
        diff_i = points - data[self._nearest(points, data)]
        inv = np.sum(diff_i ** 2) / points.shape[0]
        g_i = (2.0 / points.shape[0]) * diff_i
        g = sw["grad"] + alpha_fwd * g_f + alpha_inv * g_i
        grads = [np.zeros_like(c) for c in cores]
        for b, row in enumerate(multi):
            for j in range(len(cores)):
                left = g[b]
                for core, i in zip(cores[:j], row[:j]):
                    left = left @ core[:, i, :]
                right = np.ones((1,))
                for core, i in zip(reversed(cores[j + 1:]), reversed(row[j + 1:])):
                    right = core[:, i, :] @ right
                grads[j][:, row[j], :] += np.outer(left, right)
        return {"sw": sw["value"], "nn_forward": np.asarray(fwd), "nn_inverse": np.asarray(inv),
                **{f"grad_{j}": gj for j, gj in enumerate(grads)}}

    # ------------------------------------------------------------------ search, metrics
    def knn(self, queries, base, k):
        d2 = np.sum((np.asarray(queries, dtype=np.float64)[:, None, :] - np.asarray(base, dtype=np.float64)[None]) ** 2,
                    axis=-1)
        ids = self.order_ids(d2)[:, :k]
        return {"distances": np.take_along_axis(d2, ids, axis=1), "ids": ids}

    def order_ids(self, d2):
        return np.argsort(d2, axis=1, kind="stable")

    def beam_search(self, base, queries, k, beam, n_probe, **kw):
        cores = cores_of(kw)
        modes = [c.shape[1] for c in cores]
        n_levels = len(modes)
        points = self.decode(np.arange(math.prod(modes)), **kw)
        bucket = np.argmin(np.sum((base[:, None, :] - points[None]) ** 2, axis=-1), axis=1)
        centres = [self.centroids(m, **kw) for m in range(1, n_levels + 1)]
        leaves_all, cand_all, dist_all, ids_all = [], [], [], []
        for q in queries:
            prefixes = np.arange(modes[0])
            for m in range(1, n_levels):
                d = np.sum((centres[m - 1][prefixes] - q) ** 2, axis=1)
                kept = prefixes[np.argsort(d, kind="stable")[:beam]]
                prefixes = (kept[:, None] * modes[m] + np.arange(modes[m])).ravel()
            d = np.sum((centres[-1][prefixes] - q) ** 2, axis=1)
            d[~np.isin(prefixes, bucket)] = np.inf
            probed = prefixes[np.argsort(d, kind="stable")[:n_probe]]
            cand = np.flatnonzero(np.isin(bucket, probed))
            d2 = np.sum((base[cand] - q) ** 2, axis=1)
            best = np.argsort(d2, kind="stable")[:k]
            leaves_all.append(prefixes)
            cand_all.append(cand)
            dist_all.append(d2[best])
            ids_all.append(cand[best])
        width = max(len(c) for c in cand_all)
        cand = np.full((len(queries), width), -1)
        for row, c in enumerate(cand_all):
            cand[row, :len(c)] = c
        return {"leaves": np.stack(leaves_all), "candidates": cand, "distances": np.stack(dist_all),
                "ids": np.stack(ids_all)}

    def _counts(self, labels, scores):
        thresholds = np.unique(scores)[::-1]
        tps = np.array([np.sum((scores >= t) & (labels == 1)) for t in thresholds], dtype=np.float64)
        fps = np.array([np.sum((scores >= t) & (labels == 0)) for t in thresholds], dtype=np.float64)
        return tps, fps

    def auroc(self, labels, scores):
        pos, neg = scores[labels == 1], scores[labels == 0]
        wins = np.sum(pos[:, None] > neg[None]) + 0.5 * np.sum(pos[:, None] == neg[None])
        return np.asarray(wins / (pos.size * neg.size))

    def aupr(self, labels, scores):
        tps, fps = self._counts(labels, scores)
        recall = tps / tps[-1]
        return np.asarray(np.sum(np.diff(np.r_[0.0, recall]) * tps / (tps + fps)))

    def fpr_at_tpr(self, labels, scores, tpr):
        tps, fps = self._counts(labels, scores)
        return np.asarray(np.min(np.r_[fps / fps[-1]][tps / tps[-1] >= tpr]))

    def precision_at_recall(self, labels, scores, recall):
        tps, fps = self._counts(labels, scores)
        return np.asarray(np.max((tps / (tps + fps))[tps / tps[-1] >= recall]))

    # ------------------------------------------------------------------ TT-matrix layer
    def _weight(self, cores):
        """Dense (M, N) matrix of cores (r, m_k, n_k, r')."""
        d = len(cores)
        dense = contract(cores)  # (m_1, n_1, ..., m_d, n_d)
        perm = [2 * k for k in range(d)] + [2 * k + 1 for k in range(d)]
        rows = math.prod(c.shape[1] for c in cores)
        return np.transpose(dense, perm).reshape(rows, -1)

    def ttm_forward(self, x, bias, layout="tt_ref", **kw):
        assert layout == "tt_ref"
        return {"y": np.asarray(x) @ self._weight(cores_of(kw)).T + bias}

    def ttm_backward(self, x, bias, grad_output, layout="tt_ref", **kw):
        cores = cores_of(kw)
        weight = self._weight(cores)
        x2 = np.asarray(x).reshape(-1, weight.shape[1])
        g2 = np.asarray(grad_output).reshape(-1, weight.shape[0])
        d_weight = g2.T @ x2  # (M, N)
        d = len(cores)
        rows = [c.shape[1] for c in cores]
        cols = [c.shape[2] for c in cores]
        # dW as (m_1, n_1, ..., m_d, n_d): the TT tensor of merged modes.
        merged = np.transpose(d_weight.reshape(rows + cols),
                              [i for k in range(d) for i in (k, d + k)])
        out = {"grad_x": (g2 @ weight).reshape(np.shape(x)),
               "grad_bias": g2.sum(axis=0)}
        for k in range(d):
            left = np.ones((1, 1))
            for core in cores[:k]:
                left = (left @ core.reshape(core.shape[0], -1)).reshape(-1, core.shape[-1])
            right = np.ones((1, 1))
            for core in reversed(cores[k + 1:]):
                right = (core.reshape(-1, core.shape[-1]) @ right).reshape(core.shape[0], -1)
            block = merged.reshape(left.shape[0], rows[k], cols[k], right.shape[1])
            out[f"grad_cores_{k}"] = np.einsum("ap,aijb,qb->pijq", left, block, right)
        return out
