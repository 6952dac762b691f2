"""Conformance cases of TT point clouds: decoding, centroids, the sliced Wasserstein loss
with given directions, and one fit step's losses and gradients with respect to every core
on a given batch (``specs/conformance.md`` §Cases).

Every random input (cores, batches, sampled indices, directions) is stored, so no
implementation needs tt_ref's random stream. Inputs are drawn so that no two projections
and no two nearest-neighbour distances tie (the gradients are unique); the generator
checks the gaps.
"""

from __future__ import annotations

import numpy as np

from ..cloud import TTPointCloud, cores_gradient, nn_forward, nn_inverse, sliced_wasserstein
from ._case import ConformanceCase
from ._cases_tt import tt_inputs
from ._tolerances import C, k_decode, unit_of

__all__ = ["cases"]

_SEED = 20240602


def _cloud(dim, modes, ranks, seed, dtype="float64"):
    return TTPointCloud.random(dim, modes, ranks, seed=seed, dtype=dtype)


def _abs_cloud(cloud):
    return TTPointCloud([np.abs(np.asarray(c)) for c in cloud.cores])


def _tol(k, dtype, **extra) -> dict:
    return {"c": C, "K": int(k), "unit": unit_of(dtype), **extra}


def _decode_cases() -> list:
    out = []
    for label, dim, modes, ranks, dtype in (("basic", 4, (3, 4, 2), (3, 2), "float64"),
                                             ("float32", 4, (3, 4, 2), (3, 2), "float32"),
                                             ("one_level", 3, (5,), (), "float64")):
        cloud = _cloud(dim, modes, ranks, _SEED + len(out), dtype)
        rng = np.random.default_rng(_SEED + 50 + len(out))
        flat = rng.integers(0, cloud.n_points, size=9).astype(np.int64)
        full_ranks = (dim,) + tuple(ranks) + (1,)
        out.append(ConformanceCase(
            name=f"decode/{label}", operation="decode", params={}, inputs={**tt_inputs("cores", cloud.cores),
                                                                            "indices": flat},
            expected={"result": np.asarray(cloud.decode(flat)),
                      "scale_result": np.asarray(_abs_cloud(cloud).decode(flat))},
            tolerance=_tol(k_decode(full_ranks), dtype),
            may_differ="nothing but rounding: point (i_1..i_k) = G_1[:, i_1, :] ... G_k[:, i_k, :], flat indices "
                       "in C order", compare="elementwise"))
        for level in range(0, len(modes) + 1):
            if label != "basic" and level not in (0, len(modes)):
                continue
            mean_levels = range(level, len(modes))
            out.append(ConformanceCase(
                name=f"centroids/{label}_level{level}", operation="centroids", params={"level": level},
                inputs=tt_inputs("cores", cloud.cores),
                expected={"result": np.asarray(cloud.centroids(level)),
                          "scale_result": np.asarray(_abs_cloud(cloud).centroids(level))},
                tolerance=_tol(k_decode(full_ranks, modes, mean_levels), dtype),
                may_differ="nothing but rounding: the centre of a prefix is the mean of the points under it "
                           "(rows in C order of the prefix)", compare="elementwise"))
    return out


def _directions(dim, n_dirs, rng) -> np.ndarray:
    theta = rng.standard_normal((dim, n_dirs))
    return theta / np.linalg.norm(theta, axis=0, keepdims=True)


def _projection_gap(data, points, directions) -> float:
    """Smallest gap between sorted projections (relative to their spread)."""
    gaps = []
    for block in (data @ directions, points @ directions):
        s = np.sort(block, axis=0)
        gaps.append(np.min(np.diff(s, axis=0)) / (np.max(np.abs(s)) + 1e-300) if s.shape[0] > 1 else 1.0)
    return float(min(gaps))


def _sw_scales(data, points, directions):
    """Error scales of SW_2^2 and of its gradient from the absolute inputs."""
    b, n_dirs = points.shape[0], directions.shape[1]
    abs_dirs = np.abs(directions)
    s_l = np.max(np.abs(data) @ abs_dirs, axis=0) + np.max(np.abs(points) @ abs_dirs, axis=0)  # (L,)
    value_scale = 3.0 * float(np.mean(s_l ** 2))
    grad_scale = (2.0 / (b * n_dirs)) * np.broadcast_to((abs_dirs @ s_l)[None, :], points.shape)
    return value_scale, np.ascontiguousarray(grad_scale)


def _sw_case() -> ConformanceCase:
    rng = np.random.default_rng(_SEED + 20)
    data, points = rng.standard_normal((12, 3)), rng.standard_normal((12, 3)) + 0.5
    directions = _directions(3, 5, rng)
    assert _projection_gap(data, points, directions) > 1e-6
    value, grad = sliced_wasserstein(data, points, directions)
    value_scale, grad_scale = _sw_scales(data, points, directions)
    return ConformanceCase(
        name="sliced_wasserstein/basic", operation="sliced_wasserstein", params={},
        inputs={"data": data, "points": points, "directions": directions},
        expected={"value": np.asarray(value), "grad": np.asarray(grad), "scale_value": np.asarray(value_scale),
                  "scale_grad": grad_scale},
        tolerance=_tol(3 + 12 * 5 + 4, "float64"),
        may_differ="nothing but rounding: directions are given (columns), no two projections tie, so the sort "
                   "matching and the gradient are unique", compare="elementwise")


def _nn_gap(queries, base) -> float:
    d2 = np.sum((queries[:, None, :] - base[None]) ** 2, axis=-1)
    s = np.sort(d2, axis=1)
    return float(np.min(s[:, 1] - s[:, 0]) / (np.max(s) + 1e-300))


def _fit_gradient_case() -> ConformanceCase:
    """The losses of one fit step and the gradient of their weighted sum with respect to every
    core: ``L = SW(data, y) + alpha_fwd NN_fwd(data, y) + alpha_inv NN_inv(y, data)`` with
    ``y = decode(indices)``."""
    rng = np.random.default_rng(_SEED + 30)
    dim, modes, ranks = 3, (3, 4), (2,)
    cloud = _cloud(dim, modes, ranks, _SEED + 31)
    indices = rng.choice(cloud.n_points, size=8, replace=False).astype(np.int64)
    points = np.asarray(cloud.decode(indices))
    data = rng.standard_normal((8, dim))
    directions = _directions(dim, 4, rng)
    assert _projection_gap(data, points, directions) > 1e-6
    assert _nn_gap(data, points) > 1e-6 and _nn_gap(points, data) > 1e-6
    alpha_fwd, alpha_inv = 0.3, 0.2
    sw, g_sw = sliced_wasserstein(data, points, directions)
    fwd, g_fwd = nn_forward(data, points)
    inv, g_inv = nn_inverse(points, data)
    grad_points = np.asarray(g_sw) + alpha_fwd * np.asarray(g_fwd) + alpha_inv * np.asarray(g_inv)
    grads = cores_gradient(cloud, indices, grad_points)
    # Scales: the point gradient's error scale pushed through |J| (cores_gradient of |cores|).
    sw_scale, g_sw_scale = _sw_scales(data, points, directions)
    pair = np.sum((np.abs(points)[:, None, :] + np.abs(data)[None]) ** 2, axis=-1)
    nn_scale = float(np.max(pair))
    # A point may be the nearest of every data row: up to B terms of (2 / B)(|y| + |x|).
    g_scale = g_sw_scale + 2.0 * (alpha_fwd + alpha_inv) * (np.max(np.abs(points)) + np.max(np.abs(data)))
    g_scale = g_scale + np.abs(grad_points)
    grad_scales = cores_gradient(_abs_cloud(cloud), indices, g_scale)
    expected = {"sw": np.asarray(sw), "nn_forward": np.asarray(fwd), "nn_inverse": np.asarray(inv),
                "scale_sw": np.asarray(sw_scale), "scale_nn_forward": np.asarray(nn_scale),
                "scale_nn_inverse": np.asarray(nn_scale)}
    for j, (g, s) in enumerate(zip(grads, grad_scales)):
        expected[f"grad_{j}"] = np.asarray(g)
        expected[f"scale_grad_{j}"] = np.asarray(s)
    k = dim + 8 * 4 + sum(r + 1 for r in (dim,) + ranks) + 8 + 4
    return ConformanceCase(
        name="fit_gradients/one_step", operation="fit_gradients",
        params={"alpha_fwd": alpha_fwd, "alpha_inv": alpha_inv},
        inputs={**tt_inputs("cores", cloud.cores), "data": data, "indices": indices, "directions": directions},
        expected=expected, tolerance=_tol(k, "float64"),
        may_differ="nothing but rounding: batch, sampled indices and directions are given; no projections and no "
                   "nearest-neighbour distances tie, so the gradient is unique", compare="elementwise")


def cases() -> list:
    """Every point-cloud case (see ``specs/conformance.md`` §Cases)."""
    return _decode_cases() + [_sw_case(), _fit_gradient_case()]

