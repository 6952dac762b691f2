"""Assertion helpers for testing an implementation against tt_ref, with the spec tolerances.

Each helper compares only what is unique (``specs/conformance.md`` §Comparison rules):

* :func:`assert_tt_close`: two tensor trains (or a tensor train and a dense tensor) by
  their reconstructions and ranks, never their cores (the TT gauge);
* :func:`assert_neighbors_equal`: neighbour lists tie-aware, as faiss's
  ``contrib/evaluation.py`` checks them (ids among equal distances may differ);
* :func:`assert_point_sets_close`: point sets, row by row or as unordered sets;
* :func:`assert_metric_close`: detection metrics (host float64, exact up to rounding).

``TOLERANCES`` is the machine-readable table of the bounds (also written as
``tolerances.json`` beside a generated case set); :func:`tolerance` evaluates ``c K unit``.

Examples
--------
>>> import numpy as np
>>> import tt_ref
>>> from tt_ref.testing import assert_tt_close
>>> x = tt_ref.full(tt_ref.random_tt((4, 5, 6), 3, seed=0))
>>> assert_tt_close(tt_ref.tt_svd(x), x)                       # reconstruction within c K unit ||x||
>>> assert_tt_close(tt_ref.tt_svd(x, eps=0.1), x, eps=0.1)     # within eps ||x|| as well
"""

from __future__ import annotations

import math

import numpy as np

from .conformance._compare import _check_knn, dense
from .conformance._tolerances import (C, TOLERANCES, k_evaluate, k_knn, k_truncation, unit_of)

__all__ = ["TOLERANCES", "tolerance", "assert_tt_close", "assert_neighbors_equal", "assert_point_sets_close",
           "assert_metric_close"]


def tolerance(name: str, *, K: int, dtype="float64") -> float:
    """``c K unit`` for the bound ``name`` of ``TOLERANCES`` at ``dtype``.

    Examples
    --------
    >>> tolerance("knn", K=10) == 4 * 10 * 2.0 ** -52
    True
    """
    if name not in TOLERANCES:
        raise KeyError(f"unknown tolerance {name!r}; known: {sorted(TOLERANCES)}")
    return C * K * unit_of(dtype)


def _cores(tt) -> list:
    if hasattr(tt, "cores"):
        tt = tt.cores
    from ._backend import to_numpy

    return [np.asarray(to_numpy(c), dtype=np.float64) for c in tt]


def _host(x) -> np.ndarray:
    from ._backend import to_numpy

    return np.asarray(to_numpy(x), dtype=np.float64) if not isinstance(x, np.ndarray) else x.astype(np.float64)


def _norm(x) -> float:
    big = float(np.max(np.abs(x))) if x.size else 0.0
    return 0.0 if big == 0.0 else big * float(np.linalg.norm(x / big))


def assert_tt_close(actual, desired, *, eps: float = 0.0, ranks: str | None = "at_most", dtype=None,
                    err_msg: str = "") -> None:
    """Assert that the tensor train ``actual`` represents ``desired``.

    Parameters
    ----------
    actual : TensorTrain or sequence of cores ``(r_{j-1}, n_j, r_j)``
    desired : TensorTrain, sequence of cores, or a dense array
    eps : float
        Allowed relative Frobenius error on top of rounding (a truncation's accuracy):
        ``||full(actual) - desired||_F <= (eps + c K unit) ||desired||_F`` with ``K`` that
        of TT-SVD on ``desired``'s shape (``specs/tt_svd.md`` §Guarantees).
    ranks : {"equal", "at_most", None}
        Compare ``actual``'s ranks with ``desired``'s (a tensor train): equal, not larger,
        or not at all. Never the cores: they are unique only up to the gauge.
    dtype : dtype, optional
        The dtype whose ``unit`` the bound uses (default: ``actual``'s).
    """
    cores = _cores(actual)
    got = dense(cores)
    desired_is_tt = hasattr(desired, "cores") or isinstance(desired, (list, tuple))
    ref = dense(_cores(desired)) if desired_is_tt else _host(desired)
    got = got.reshape(ref.shape) if got.size == ref.size else got
    if got.shape != ref.shape:
        raise AssertionError(f"{err_msg}shape {got.shape} reconstructed, expected {ref.shape}")
    unit = unit_of(dtype if dtype is not None else getattr(actual, "dtype", cores[0].dtype))
    rtol = C * (k_truncation(ref.shape if ref.ndim else (1,)) + k_evaluate((1,) + tuple(c.shape[-1] for c in cores))) \
        * unit
    err = _norm(got - ref) / max(_norm(ref), 1e-300)
    if err > eps + rtol:
        raise AssertionError(f"{err_msg}relative reconstruction error {err:.3g} > eps + c K unit = {eps + rtol:.3g}")
    if ranks is not None and desired_is_tt:
        mine = (1,) + tuple(c.shape[-1] for c in cores)
        theirs = (1,) + tuple(c.shape[-1] for c in _cores(desired))
        bad = mine != theirs if ranks == "equal" else any(a > b for a, b in zip(mine, theirs))
        if bad:
            raise AssertionError(f"{err_msg}ranks {mine}, expected {'' if ranks == 'equal' else 'at most '}{theirs}")


def assert_neighbors_equal(distances, ids, ref_distances, ref_ids, *, queries, base, dtype=None,
                           err_msg: str = "") -> None:
    """Assert that a k-nearest-neighbour result matches the reference, tie-aware.

    Distances (squared) must agree within ``c K unit (||q||^2 + max ||b||^2)`` (``K = D + 2``,
    the GEMM form's bound); every returned id must be a distinct row at its reported
    distance; every id strictly closer than the k-th reference distance must be present.
    Ids among equal distances may differ (``specs/conformance.md`` §Distances).

    Examples
    --------
    >>> import numpy as np
    >>> base = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 3.0]]); q = np.zeros((1, 2))
    >>> assert_neighbors_equal([[1.0]], [[1]], [[1.0]], [[0]], queries=q, base=base)  # a tie: either id
    """
    q, b = _host(queries), _host(base)
    unit = unit_of(dtype if dtype is not None else np.asarray(base).dtype)
    outcome = _check_knn(q, b, _host(distances), np.asarray(ids), _host(ref_distances), np.asarray(ref_ids),
                         C * k_knn(q.shape[1]) * unit, None)
    if not outcome.ok:
        raise AssertionError(f"{err_msg}{outcome.message}")


def assert_point_sets_close(actual, desired, *, ordered: bool = True, K: int | None = None, dtype=None,
                            err_msg: str = "") -> None:
    """Assert that two point sets (rows in ``R^D``) agree.

    ``ordered=True``: row ``i`` against row ``i``, ``||a_i - d_i|| <= c K unit ||d_i||_inf-scale``
    with the scale ``max_i |d_i|`` (decoded points: ``K`` of the decoding, default ``D + 2``).
    ``ordered=False``: as sets, every point of each within that tolerance of a point of the
    other (a symmetric Hausdorff check by exact nearest neighbours).
    """
    a, d = _host(actual), _host(desired)
    if a.ndim != 2 or d.ndim != 2 or a.shape[1] != d.shape[1]:
        raise AssertionError(f"{err_msg}point sets of shapes {a.shape} and {d.shape}")
    unit = unit_of(dtype if dtype is not None else np.asarray(actual).dtype)
    tol = C * (K if K is not None else d.shape[1] + 2) * unit * max(float(np.max(np.abs(d))), 1e-300)
    if ordered:
        if a.shape != d.shape:
            raise AssertionError(f"{err_msg}{a.shape[0]} points, expected {d.shape[0]}")
        worst = float(np.max(np.abs(a - d))) if a.size else 0.0
        if worst > tol:
            row = int(np.argmax(np.max(np.abs(a - d), axis=1)))
            raise AssertionError(f"{err_msg}point {row} differs by {worst:.3g} > {tol:.3g}")
        return
    for name, x, y in (("actual", a, d), ("desired", d, a)):
        gaps = np.sqrt(np.min(np.sum((x[:, None, :] - y[None]) ** 2, axis=-1), axis=1))
        if gaps.size and float(np.max(gaps)) > tol * math.sqrt(d.shape[1]):
            raise AssertionError(f"{err_msg}a point of {name} is {float(np.max(gaps)):.3g} from the other set")


def assert_metric_close(actual: float, desired: float, *, n: int, err_msg: str = "") -> None:
    """Assert a detection metric (AUROC, AUPR, P@R, FPR@TPR) over ``n`` scores:
    ``|a - d| <= c (n + 2) unit64`` (they are exact rational numbers up to rounding)."""
    tol = tolerance("metrics", K=n + 2)
    if not abs(float(actual) - float(desired)) <= tol:
        raise AssertionError(f"{err_msg}{actual!r} vs {desired!r} (tolerance {tol:.3g})")
