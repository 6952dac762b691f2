"""Memory banks: the normal data itself, or a compressed stand-in at a parameter budget.

A bank is the set of points a test point's score is measured against. ``"full"`` keeps
the normal data; the compressed kinds (a TT point cloud, a greedy k-center coreset, a
random subset, k-means centres) come from :func:`tt_ref.cloud.run_method`, the one copy
of each construction. The point-cloud layer is imported only when a compressed bank is
built, so the detector and the metrics work without it. Contract: ``specs/ood.md``
§Banks at an equal parameter budget.
"""

from __future__ import annotations

from .._backend import ArgumentValueError, as_float_array, check_choice, check_int, check_optional_int

__all__ = ["BANK_KINDS", "build_bank", "bank_n_params"]

#: Memory banks compared at an equal parameter budget ("full" is the uncompressed set).
BANK_KINDS = ("full", "tt", "coreset", "random", "kmeans")


def is_point_cloud(obj) -> bool:
    """Whether ``obj`` is a TT point cloud (duck-typed: its points are streamed, never stored)."""
    return all(hasattr(obj, name) for name in ("points", "cores", "n_points", "dim"))


def bank_dim(bank) -> int:
    """Dimension ``D`` of a bank (array or point cloud)."""
    return int(bank.dim) if is_point_cloud(bank) else int(bank.shape[1])


def bank_size(bank) -> int:
    """Number of points of a bank (array or point cloud)."""
    return int(bank.n_points) if is_point_cloud(bank) else int(bank.shape[0])


def check_data(X, *, name: str = "X", xp=None, check_values: bool = True):
    """``X`` as a real floating ``(N, D)`` array with ``N >= 1`` and ``D >= 1`` (and finite, if ``check_values``)."""
    X = as_float_array(X, name=name, xp=xp, ndim=2, check_values=check_values)
    if X.shape[0] == 0:
        raise ArgumentValueError(f"{name} is empty (shape {tuple(X.shape)}): a memory bank needs at least one point")
    if X.shape[1] == 0:
        raise ArgumentValueError(
            f"{name} has 0 feature(s) (shape={tuple(X.shape)}) while a minimum of 1 is required: "
            "points need at least one coordinate"
        )
    return X


def compress_bank(X, kind: str, n_params: int, seed: int, options: dict):
    """A compressed bank of ``X``: :func:`tt_ref.cloud.run_method`'s result (points and parameters used).

    The budget is checked first (:func:`bank_n_params`), so a budget that admits no bank is
    an ``ArgumentValueError`` naming ``n_params``.
    """
    from ..cloud._baselines import run_method

    bank_n_params(kind, n_params, int(X.shape[0]), int(X.shape[1]))

    options = dict(options)
    if kind == "tt":
        # Small banks (one digit class, say) hold fewer rows than the fit's default batch.
        from ..cloud._fit import DEFAULTS

        options.setdefault("batch_size", min(int(DEFAULTS["batch_size"]), int(X.shape[0])))
    return run_method(X, kind, n_params, seed=seed, **options)


def build_bank(X, kind: str, n_params: int | None = None, *, seed: int = 0, **options):
    """A memory bank for normal data ``X`` ``(N, D)`` at a parameter budget.

    Parameters
    ----------
    X : array, shape (N, D)
        Normal training data (any backend), ``N >= 1``, ``D >= 1``, finite.
    kind : str
        One of ``BANK_KINDS``. ``"full"`` returns ``X``; the others call
        :func:`tt_ref.cloud.run_method` (``"tt"``: a TT point cloud fitted to ``X``
        and decoded; ``"coreset"``: greedy k-center; ``"random"``: a random subset;
        ``"kmeans"``: k-means centres).
    n_params : int
        Parameter budget of a compressed bank (ignored for ``"full"``). A point-set
        bank holds ``n_params // D`` points; the TT bank's configuration comes from
        :func:`tt_ref.cloud.config_for_budget`.
    seed : int
        Seed of the construction.
    **options
        Forwarded to ``run_method`` (for ``"tt"``: options of ``fit_point_cloud``).

    Returns
    -------
    array, shape (m, D) on ``X``'s backend

    Raises
    ------
    ValueError, TypeError
        An unknown kind, a missing or non-positive budget, empty or non-finite data;
        the message names the argument.

    Examples
    --------
    >>> import numpy as np
    >>> from tt_ref.ood import build_bank
    >>> build_bank(np.ones((5, 3)), "full").shape
    (5, 3)
    >>> build_bank(np.arange(30.0).reshape(10, 3), "random", 6, seed=0).shape
    (2, 3)
    """
    X = check_data(X, name="X")
    kind = check_choice(kind, BANK_KINDS, name="kind")
    seed = check_int(seed, name="seed", minimum=0)
    if kind == "full":
        return X
    if n_params is None:
        raise ArgumentValueError(f"kind={kind!r} needs n_params (the parameter budget of the compressed bank)")
    n_params = check_int(n_params, name="n_params", minimum=1)
    return compress_bank(X, kind, n_params, seed, options).points


def bank_n_params(kind: str, n_params: int | None, n_data: int, dim: int) -> int:
    """Parameters a bank of ``kind`` actually stores under a budget of ``n_params``.

    ``"full"``: ``n_data * dim``; point-set kinds: ``(n_params // dim) * dim``;
    ``"tt"``: the TT point cloud's count for the configuration
    :func:`tt_ref.cloud.config_for_budget` picks. Raises ``ValueError`` when the
    budget admits no bank of that kind (fewer parameters than one point, more points
    than ``n_data`` rows for a point set, or no TT configuration fits).

    Examples
    --------
    >>> from tt_ref.ood import bank_n_params
    >>> bank_n_params("coreset", 1000, n_data=500, dim=64)
    960
    """
    kind = check_choice(kind, BANK_KINDS, name="kind")
    n_data = check_int(n_data, name="n_data", minimum=1)
    dim = check_int(dim, name="dim", minimum=1)
    if kind == "full":
        return n_data * dim
    n_params = check_optional_int(n_params, name="n_params", minimum=1)
    if n_params is None:
        raise ArgumentValueError(f"kind={kind!r} needs n_params (the parameter budget of the compressed bank)")
    if kind == "tt":
        from ..cloud._budget import config_for_budget
        from ..cloud._point_cloud import n_params_for

        try:
            mode_sizes, ranks = config_for_budget(dim, n_params, n_data=n_data)
        except ValueError as exc:  # the budget admits no configuration: the caller's n_params
            raise ArgumentValueError(f"n_params: {exc}") from exc
        return int(n_params_for(dim, mode_sizes, ranks))
    m = n_params // dim
    if m < 1:
        raise ArgumentValueError(f"a budget of {n_params} parameters holds no {dim}-dimensional point (kind={kind!r})")
    if m > n_data:
        raise ArgumentValueError(
            f"n_params={n_params} holds {m} points of dimension {dim}, more than the {n_data} rows of the data "
            f"(kind={kind!r}); at most {n_data * dim}"
        )
    return m * dim
