"""The options of :func:`tt_ref.cloud.fit_point_cloud`, validated once (specs/fit.md §Options).

:class:`FitConfig` holds every algorithmic option of a fit: the loss weights, the
optimizer's schedule, the batch sizes, the initialization and the least-squares
refinement. It checks each value with the shared ``check_*`` helpers when it is built
(wrong type -> ``TypeError``, wrong value -> ``ValueError``, the message names the
option) and :meth:`FitConfig.resolve` settles what depends on the data (the weights
that default to ``c / D``, the batch against the number of rows).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from .._backend import (
    ArgumentTypeError,
    ArgumentValueError,
    check_choice,
    check_int,
    check_optional_int,
    check_real,
)

__all__ = ["FitConfig", "DEFAULTS", "LEGACY_OPTIONS", "refine_rows_for"]

_INIT_NAMES = ("kmeans", "random")


@dataclass(frozen=True)
class FitConfig:
    """Validated options of a TT point-cloud fit.

    Attributes
    ----------
    alpha_fwd, alpha_inv : float or None
        Weights of the forward (coverage) and inverse nearest-neighbour terms; ``None``
        means ``1 / D`` and ``0.1 / D`` (see :meth:`resolve`).
    sw_weight : float
        Weight of the sliced-Wasserstein term (>= 0; 0 fits the nearest-neighbour
        terms alone).
    n_projections : int
        Sliced-Wasserstein directions per step (>= 1).
    batch_size : int
        Data rows and TT points per step (>= 1, at most the number of rows).
    steps : int
        Adam steps (>= 0; 300 by default, 1000 in the first release).
    lr : float
        Adam step size in the fit's rescaled units (> 0).
    init : "kmeans", "random" or TTPointCloud
        Initialization (specs/fit.md §Initialization).
    refine_sweeps : int
        Least-squares (Lloyd / ALS) sweeps after the Adam steps (>= 0; 0 = none):
        assign rows to their nearest TT point, then solve for one core at a time.
    refine_rows : int or None
        Rows the refinement assigns (a seeded subsample when the data hold more); None
        chooses :func:`refine_rows_for` from N, P and D.
    repair : bool
        Re-seed the slabs no assigned row uses (empty prefixes and empty mode
        indices) from the heaviest ones before each sweep.
    empty_pull : float
        Weight of the pull of each empty leaf (a TT point no assigned row is nearest
        to) toward its nearest row in each sweep (>= 0; 0 = none): without it, those
        points drift to where no data is (specs/fit.md §Empty leaves).
    refine_ridge : float
        Proximal weight of each least-squares solve, relative to the mean diagonal of
        its normal matrix (>= 0; keeps near-singular solves close to the current core).
    init_sweeps : int
        Least-squares sweeps on the initial cores, before the Adam steps (>= 0): an
        initialization of every level from the data, not only the first.

    Examples
    --------
    >>> from tt_ref.cloud._config import FitConfig
    >>> config = FitConfig(steps=10, batch_size=64)
    >>> config.steps, config.resolve(dim=4, n_data=100).alpha_fwd
    (10, 0.25)
    >>> FitConfig(steps=-1)
    Traceback (most recent call last):
    ...
    tt_ref.ArgumentValueError: steps must be an integer >= 0, got -1
    """

    alpha_fwd: float | None = None
    alpha_inv: float | None = None
    sw_weight: float = 1.0
    n_projections: int = 64
    batch_size: int = 1024
    steps: int = 300
    lr: float = 0.03
    init: Any = "kmeans"
    refine_sweeps: int = 5
    refine_rows: int | None = None
    repair: bool = True
    empty_pull: float = 0.0
    refine_ridge: float = 1e-6
    init_sweeps: int = 0

    def __post_init__(self):
        check = object.__setattr__  # frozen: store the normalised values
        for name in ("alpha_fwd", "alpha_inv"):
            value = getattr(self, name)
            if value is not None:
                check(self, name, check_real(value, name=name, minimum=0.0))
        check(self, "sw_weight", check_real(self.sw_weight, name="sw_weight", minimum=0.0))
        check(self, "init_sweeps", check_int(self.init_sweeps, name="init_sweeps", minimum=0))
        check(self, "n_projections", check_int(self.n_projections, name="n_projections", minimum=1))
        check(self, "batch_size", check_int(self.batch_size, name="batch_size", minimum=1))
        check(self, "steps", check_int(self.steps, name="steps", minimum=0))
        check(self, "lr", check_real(self.lr, name="lr", minimum=0.0, exclusive_minimum=True))
        check(self, "refine_sweeps", check_int(self.refine_sweeps, name="refine_sweeps", minimum=0))
        check(self, "refine_rows", check_optional_int(self.refine_rows, name="refine_rows", minimum=1))
        check(self, "refine_ridge", check_real(self.refine_ridge, name="refine_ridge", minimum=0.0))
        check(self, "empty_pull", check_real(self.empty_pull, name="empty_pull", minimum=0.0))
        if not isinstance(self.repair, bool):
            raise ArgumentTypeError(f"repair must be True or False, got {type(self.repair).__name__}")
        if isinstance(self.init, str):
            check_choice(self.init, _INIT_NAMES, name="init")
        elif not _is_point_cloud(self.init):
            raise ArgumentTypeError(
                f"init must be 'kmeans', 'random' or a TTPointCloud, got {type(self.init).__name__}"
            )

    @classmethod
    def from_options(cls, options: dict) -> "FitConfig":
        """A config from keyword options; an unknown name is a ``TypeError`` naming it."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ArgumentTypeError(
                f"fit_point_cloud got unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        return cls(**options)

    def resolve(self, dim: int, n_data: int, n_points: int | None = None) -> "FitConfig":
        """This config for data of ``n_data`` rows in dimension ``dim`` (and a cloud of ``n_points``).

        The weights left at ``None`` become ``1 / dim`` and ``0.1 / dim``;
        ``refine_rows`` left at ``None`` becomes :func:`refine_rows_for` (when
        ``n_points`` is given); a batch larger than the data is a ``ValueError``.
        """
        if n_data < self.batch_size:
            raise ArgumentValueError(
                f"X has {n_data} rows, fewer than batch_size = {self.batch_size}; lower batch_size"
            )
        alpha_fwd = 1.0 / dim if self.alpha_fwd is None else self.alpha_fwd
        alpha_inv = 0.1 / dim if self.alpha_inv is None else self.alpha_inv
        rows = self.refine_rows
        if rows is None and n_points is not None:
            rows = refine_rows_for(n_data, n_points, dim)
        return dataclasses.replace(self, alpha_fwd=alpha_fwd, alpha_inv=alpha_inv,
                                   refine_rows=None if rows is None else min(rows, n_data))

    def as_dict(self) -> dict:
        """The options as a plain dict (the init cloud, if any, stays an object)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


#: Work of one exact assignment the automatic choice of ``refine_rows`` aims at, in
#: rows x points x max(D, 32): the GEMM's multiply-adds, or, when D is small, the passes
#: over the rows x points block of distances, which then dominate.
ASSIGN_WORK = 1 << 35
_ENTRY_COST = 32
#: Fewest rows the refinement assigns (when the data hold that many).
MIN_REFINE_ROWS = 8192


def refine_rows_for(n_data: int, n_points: int, dim: int) -> int:
    """Rows the least-squares sweeps assign: ``min(N, max(8192, 2^35 / (P max(D, 32))))``.

    One sweep costs an exact assignment of ``rows x P x D`` multiply-adds plus a few
    passes over the ``rows x P`` distances; the rule keeps it near ``2^35`` units (some
    10-20 s on one idle core) and never goes below 8,192 rows, far more than the cores'
    parameters at any budget measured (specs/fit.md §Refinement).

    Examples
    --------
    >>> from tt_ref.cloud._config import refine_rows_for
    >>> refine_rows_for(1500, 1536, 64), refine_rows_for(390_000, 342_732, 50)
    (1500, 8192)
    """
    return int(min(n_data, max(MIN_REFINE_ROWS, ASSIGN_WORK // max(1, n_points * max(dim, _ENTRY_COST)))))


def _is_point_cloud(value) -> bool:
    from ._point_cloud import TTPointCloud

    return isinstance(value, TTPointCloud)


#: Default options (the field defaults of :class:`FitConfig`).
DEFAULTS = FitConfig().as_dict()

#: The options that give the fit of the first release (1000 Adam steps, no refinement):
#: pass them to reproduce its results bitwise.
LEGACY_OPTIONS = {"steps": 1000, "refine_sweeps": 0, "repair": False}
