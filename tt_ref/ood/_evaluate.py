"""The experiment runner: every bank kind at every compression, for every seed and task.

:func:`evaluate_banks` runs an evaluation protocol with :class:`KNNDetector` and the
detection measures; :func:`summarize` reduces its rows to mean and spread over seeds.
``specs/ood.md`` §Protocols; the measured tables are in ``docs/results-ood.md``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from .._backend import (
    ArgumentTypeError,
    ArgumentValueError,
    array_namespace,
    check_choice,
    check_int,
    check_int_sequence,
    check_real,
    progress_bar,
)
from ._banks import BANK_KINDS, bank_n_params, check_data
from ._detector import KNNDetector
from ._metrics import detection_metrics, roc_curve
from ._protocols import check_labels, protocol_splits

__all__ = ["OODResult", "evaluate_banks", "summarize"]

_MEASURES = ("auroc", "aupr", "p_at_r90", "fpr_at_95")


@dataclass
class OODResult:
    """Everything :func:`evaluate_banks` measured.

    Attributes
    ----------
    rows : list of dict
        One per (seed, task, compression, bank kind): ``protocol, task, seed,
        compression, kind, n_params, bank_size, auroc, aupr, p_at_r90, fpr_at_95,
        seconds`` (``note`` instead of the measures where the budget admits no bank).
    curves : dict
        ``(compression, kind) -> (fpr, tpr)``: ROC curves of the first seed and task.
    notes : list of str
        Skipped configurations and why.
    interrupted : bool
        Whether Ctrl-C (``KeyboardInterrupt``) stopped the run: ``rows`` then hold the
        settings finished before it.
    """

    rows: list = field(default_factory=list)
    curves: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)
    interrupted: bool = False


def evaluate_banks(
    X,
    labels,
    *,
    protocol: str = "split",
    compressions: Sequence[float] = (10, 100, 1000),
    kinds: Sequence[str] = BANK_KINDS,
    seeds: Sequence[int] = (0, 1, 2),
    k: int = 1,
    test_fraction: float = 0.3,
    anomaly_ratio: float = 1.0,
    bank_options: dict | None = None,
    progress: bool = True,
    callback: Callable[[dict], Any] | None = None,
) -> OODResult:
    """Run an OOD protocol: every bank kind at every compression, for every seed.

    The full bank's parameter count is ``N_bank * D``; at compression ``c`` each
    compressed bank gets a budget of ``floor(N_bank * D / c)`` parameters. A
    configuration the budget cannot hold is skipped with a note. Seeds change the
    split and the bank construction. Each test point is scored by
    :meth:`KNNDetector.kth_distance` (larger = more anomalous); ``seconds`` covers
    building the bank, fitting the detector and scoring.

    Parameters
    ----------
    X : array, shape (N, D)
        The data (any backend); scoring runs on its backend.
    labels : array, shape (N,)
        Integer class labels (whole-number floats are accepted).
    protocol, test_fraction, anomaly_ratio
        See :func:`protocol_splits`.
    compressions : sequence of float
        Compression factors of the bank's parameters, each ``>= 1``.
    kinds : sequence of str
        Bank kinds from ``BANK_KINDS``.
    seeds : sequence of int
    k : int
        Detector's neighbour rank.
    bank_options : dict, optional
        Extra options per kind, e.g. ``{"tt": {"steps": 300}}``.
    progress : bool
        Show a progress bar (tqdm, when installed and stderr is a terminal).
    callback : callable, optional
        Called with each finished row (after it is stored in the result).

    Ctrl-C (``KeyboardInterrupt``, also raised by ``callback``) stops the run after
    the setting in progress; the finished rows are returned with ``interrupted=True``.

    Returns
    -------
    OODResult

    Examples
    --------
    >>> import numpy as np
    >>> from tt_ref.ood import evaluate_banks, summarize
    >>> rng = np.random.default_rng(0)
    >>> labels = np.repeat(np.arange(4), 20)
    >>> X = np.eye(4)[labels] * 5 + rng.standard_normal((80, 4)) * 0.3
    >>> result = evaluate_banks(X, labels, compressions=(4,), kinds=("full", "random"), seeds=(0,), progress=False)
    >>> [(row["kind"], row["compression"], round(row["auroc"], 3)) for row in summarize(result.rows)]
    [('full', 1, 1.0), ('random', 4, 1.0)]
    """
    X = check_data(X, name="X")
    xp = array_namespace(X)
    labels = check_labels(labels, name="labels")
    if labels.shape[0] != X.shape[0]:
        raise ArgumentValueError(f"labels has {labels.shape[0]} entries but X has {X.shape[0]} rows")
    compressions, kinds, seeds, bank_options = _check_grid(compressions, kinds, seeds, bank_options)
    k = check_int(k, name="k", minimum=1)
    if callback is not None and not callable(callback):
        raise ArgumentTypeError(f"callback must be callable or None, got {type(callback).__name__}")
    jobs = [
        (seed, task_no, task)
        for seed in seeds
        for task_no, task in enumerate(protocol_splits(labels, protocol, test_fraction=test_fraction,
                                                       anomaly_ratio=anomaly_ratio, seed=seed))
    ]
    settings = ([(1, "full")] if "full" in kinds else []) + [
        (c, kind) for c in compressions for kind in kinds if kind != "full"
    ]
    result = OODResult()
    with progress_bar(len(jobs) * len(settings), desc="ood banks", enabled=bool(progress)) as bar:
        try:
            for seed, task_no, task in jobs:
                bank_X = xp.take(X, xp.asarray(task.bank_idx), axis=0)
                test_X = xp.take(X, xp.asarray(task.test_idx), axis=0)
                for compression, kind in settings:
                    row = {"protocol": protocol, "task": task.name, "seed": seed, "compression": compression,
                           "kind": kind}
                    scores = _run_setting(row, bank_X, test_X, k, bank_options.get(kind, {}), result.notes)
                    if scores is not None:
                        row.update(detection_metrics(task.y_test, scores))
                        if seed == seeds[0] and task_no == 0:
                            result.curves[(compression, kind)] = roc_curve(task.y_test, scores)[:2]
                    result.rows.append(row)
                    bar.update(1)
                    if callback is not None and scores is not None:
                        callback(row)
        except KeyboardInterrupt:
            result.interrupted = True
    return result


def _check_grid(compressions, kinds, seeds, bank_options):
    """The experiment grid, checked: compressions >= 1, known kinds, seeds >= 0, options per kind."""
    for name, value in (("compressions", compressions), ("kinds", kinds)):
        if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
            raise ArgumentTypeError(f"{name} must be a sequence, got {type(value).__name__}")
    checked = []
    for i, c in enumerate(compressions):
        c = check_real(c, name=f"compressions[{i}]", minimum=1.0)
        checked.append(int(c) if c.is_integer() else c)
    kinds = tuple(check_choice(kind, BANK_KINDS, name=f"kinds[{i}]") for i, kind in enumerate(kinds))
    seeds = check_int_sequence(seeds, name="seeds", minimum=0)
    if bank_options is None:
        bank_options = {}
    if not isinstance(bank_options, dict) or not all(isinstance(v, dict) for v in bank_options.values()):
        raise ArgumentTypeError("bank_options must be a dict of dicts, one per bank kind, e.g. {'tt': {'steps': 300}}")
    for kind in bank_options:
        check_choice(kind, BANK_KINDS, name="bank_options key")
    return tuple(checked), kinds, seeds, bank_options


def _run_setting(row: dict, bank_X, test_X, k: int, options: dict, notes: list):
    """Fit one detector and score the test rows; ``None`` (with a note) when the budget holds no bank."""
    kind, compression = row["kind"], row["compression"]
    n_bank, dim = int(bank_X.shape[0]), int(bank_X.shape[1])
    budget = None if kind == "full" else int(math.floor(n_bank * dim / compression))
    try:
        bank_n_params(kind, budget, n_bank, dim)
    except ValueError as exc:
        note = f"{kind} at {compression}x ({row['task']}): skipped, {exc}"
        if note not in notes:
            notes.append(note)
        row["note"] = str(exc)
        return None
    options = dict(options)
    if kind == "tt":
        options.setdefault("progress", False)
    started = time.perf_counter()
    detector = KNNDetector(k=k, bank=kind, n_params=budget, seed=row["seed"], bank_options=options).fit(bank_X)
    scores = detector.kth_distance(test_X)
    row["seconds"] = time.perf_counter() - started
    row["n_params"] = detector.n_params_
    row["bank_size"] = detector.bank_size_
    return scores


def summarize(rows) -> list[dict]:
    """Mean and spread over seeds, one row per (compression, kind).

    For each seed the measures are first averaged over the protocol's tasks (the
    ten one-class tasks, say); the summary then gives the mean and the standard
    deviation (``ddof=0``) of these per-seed values, with ``n_seeds``.

    Examples
    --------
    >>> from tt_ref.ood import summarize
    >>> rows = [dict(compression=1, kind="full", seed=s, task="t", n_params=10,
    ...              auroc=a, aupr=a, p_at_r90=a, fpr_at_95=1 - a) for s, a in [(0, 0.8), (1, 0.9)]]
    >>> out, = summarize(rows)
    >>> round(out["auroc"], 3), round(out["auroc_std"], 3), out["n_seeds"]
    (0.85, 0.05, 2)
    """
    groups: dict = {}
    for row in rows:
        if "auroc" not in row:
            continue
        groups.setdefault((row["compression"], row["kind"]), {}).setdefault(row["seed"], []).append(row)
    order = {kind: i for i, kind in enumerate(BANK_KINDS)}
    out = []
    for (compression, kind), per_seed in sorted(groups.items(), key=lambda kv: (kv[0][0], order.get(kv[0][1], 99))):
        entry = {"compression": compression, "kind": kind, "n_seeds": len(per_seed)}
        params = [r["n_params"] for rs in per_seed.values() for r in rs]
        entry["n_params"] = int(round(float(np.mean(params))))
        for measure in _MEASURES:
            seed_means = np.array([np.mean([r[measure] for r in rs]) for rs in per_seed.values()])
            entry[measure] = float(seed_means.mean())
            entry[measure + "_std"] = float(seed_means.std())
        out.append(entry)
    return out
