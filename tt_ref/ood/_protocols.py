"""Evaluation protocols: which labelled rows build the bank and which are scored.

``split``: the first half of the classes is normal, the rest anomalous (digits 0-4 vs
5-9). ``one-class``: each class in turn is normal, all others anomalous. No test row is
ever in the bank (``specs/ood.md`` §Protocols). Splits are drawn on the host from a seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .._backend import (
    ArgumentTypeError,
    ArgumentValueError,
    check_choice,
    check_int,
    check_real,
    default_rng,
    to_numpy,
)

__all__ = ["PROTOCOLS", "ProtocolSplit", "protocol_splits"]

#: Evaluation protocols: ``split`` (first half of the classes normal, the rest
#: anomalous) and ``one-class`` (each class in turn normal, all others anomalous).
PROTOCOLS = ("split", "one-class")


def check_labels(labels, *, name: str = "labels") -> np.ndarray:
    """Class labels as a host int64 vector: integers, or floats that are whole numbers.

    Fractional or non-finite float labels and strings are refused naming ``name``: a
    class label is never truncated or guessed.

    Examples
    --------
    >>> import numpy as np
    >>> check_labels(np.array([0.0, 2.0, 1.0])).tolist()
    [0, 2, 1]
    >>> check_labels(np.array([0.5, 1.0]))
    Traceback (most recent call last):
    ...
    tt_ref.ArgumentValueError: labels must be whole-number class labels, got 0.5 (a float that is not an integer)
    """
    try:
        values = np.asarray(to_numpy(labels))
    except (TypeError, ValueError) as exc:
        raise ArgumentTypeError(f"{name} must be an array of integer class labels, got {type(labels).__name__}") from exc
    kind = values.dtype.kind
    if kind not in "biuf":
        what = "strings" if kind in "US" else "values"
        raise ArgumentTypeError(
            f"{name} must be integer class labels, got {what} of dtype {values.dtype}; map them to integers "
            "first, e.g. numpy.unique(labels, return_inverse=True)[1]"
        )
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1:
        raise ArgumentValueError(f"{name} must be one class label per row (1-D), got shape {values.shape}")
    if kind in "biu":
        return values.astype(np.int64)
    bad = ~np.isfinite(values) | (values != np.round(values))
    if np.any(bad):
        raise ArgumentValueError(
            f"{name} must be whole-number class labels, got {float(values[bad][0])!r} (a float that is not an integer)"
        )
    if np.any(np.abs(values) > 2.0**53):
        raise ArgumentValueError(f"{name} given as floats must be integers within +-2**53 (exact in float64)")
    return values.astype(np.int64)


@dataclass(frozen=True)
class ProtocolSplit:
    """One evaluation task: which rows build the bank and which are scored.

    Attributes
    ----------
    name : str
        E.g. ``"normal 0-4"`` or ``"normal 3"``.
    bank_idx : numpy int64 array
        Rows of normal training data (the bank is built from these only).
    test_idx : numpy int64 array
        Rows scored: held-out normal rows, then anomalous rows.
    y_test : numpy int64 array
        1 for an anomaly, 0 for a normal row, aligned with ``test_idx``.
    """

    name: str
    bank_idx: np.ndarray
    test_idx: np.ndarray
    y_test: np.ndarray


def protocol_splits(
    labels,
    protocol: str = "split",
    *,
    test_fraction: float = 0.3,
    anomaly_ratio: float = 1.0,
    seed: int = 0,
    normal_classes: Sequence | None = None,
) -> list[ProtocolSplit]:
    """Split labelled data into bank / test rows for an OOD protocol (``specs/ood.md`` §Protocols).

    Parameters
    ----------
    labels : array, shape (N,)
        Class of each row (host or any backend).
    protocol : {"split", "one-class"}
        ``"split"``: the first half of the sorted classes (digits 0-4) is normal, the
        rest anomalous; one task. ``"one-class"``: each class in turn is normal and all
        others anomalous; one task per class.
    test_fraction : float
        Fraction of the normal rows held out for testing (never in the bank).
    anomaly_ratio : float
        Anomalous test rows per held-out normal row (drawn without replacement from
        the anomalous rows, capped at their number). 1.0 gives balanced test sets, so
        precision at 90 % recall is not dominated by the base rate.
    seed : int
        Seed of the random split.
    normal_classes : sequence, optional
        For ``"split"``: the normal classes (default: the first half).

    Returns
    -------
    list of ProtocolSplit

    Examples
    --------
    >>> import numpy as np
    >>> from tt_ref.ood import protocol_splits
    >>> labels = np.repeat(np.arange(4), 10)
    >>> task, = protocol_splits(labels, "split", test_fraction=0.2, seed=0)
    >>> task.name, task.bank_idx.size, int(task.y_test.sum()), int((task.y_test == 0).sum())
    ('normal 0-1', 16, 4, 4)
    """
    protocol = check_choice(protocol, PROTOCOLS, name="protocol")
    test_fraction = check_real(test_fraction, name="test_fraction", minimum=0.0, maximum=1.0, exclusive_minimum=True)
    if test_fraction == 1.0:
        raise ArgumentValueError("test_fraction must be a real number in (0, 1), got 1.0")
    anomaly_ratio = check_real(anomaly_ratio, name="anomaly_ratio", minimum=0.0, exclusive_minimum=True)
    seed = check_int(seed, name="seed", minimum=0)
    labels = check_labels(labels, name="labels")
    classes = np.unique(labels)
    if classes.size < 2:
        raise ArgumentValueError(f"labels must hold at least two classes, got {classes.size}")
    rng = default_rng(seed)
    if protocol == "split":
        if normal_classes is None:
            normal = classes[: classes.size // 2]
        else:
            if isinstance(normal_classes, (str, bytes)) or not hasattr(normal_classes, "__iter__"):
                raise ArgumentTypeError(
                    f"normal_classes must be a sequence of class labels, got {type(normal_classes).__name__}"
                )
            normal = check_labels(np.asarray(list(normal_classes)), name="normal_classes")
            unknown = np.setdiff1d(normal, classes)
            if unknown.size:
                raise ArgumentValueError(f"normal_classes holds classes not in labels: {unknown.tolist()}")
        groups = [(_class_name(normal), normal)]
    else:
        groups = [(f"normal {c}", np.asarray([c])) for c in classes.tolist()]
    tasks = []
    for name, normal in groups:
        is_normal = np.isin(labels, normal)
        normal_rows = np.nonzero(is_normal)[0]
        anomaly_rows = np.nonzero(~is_normal)[0]
        if normal_rows.size < 2 or anomaly_rows.size < 1:
            raise ArgumentValueError(f"task {name!r} needs at least 2 normal and 1 anomalous row")
        normal_rows = rng.permutation(normal_rows)
        n_test = min(max(1, int(round(test_fraction * normal_rows.size))), normal_rows.size - 1)
        n_anom = min(anomaly_rows.size, max(1, int(round(anomaly_ratio * n_test))))
        anomalies = rng.choice(anomaly_rows, size=n_anom, replace=False)
        test_idx = np.r_[np.sort(normal_rows[:n_test]), np.sort(anomalies)].astype(np.int64)
        y_test = np.r_[np.zeros(n_test, dtype=np.int64), np.ones(n_anom, dtype=np.int64)]
        tasks.append(ProtocolSplit(name, np.sort(normal_rows[n_test:]).astype(np.int64), test_idx, y_test))
    return tasks


def _class_name(normal) -> str:
    values = sorted(int(v) for v in normal.tolist())
    if len(values) > 1 and values == list(range(values[0], values[-1] + 1)):
        return f"normal {values[0]}-{values[-1]}"
    return "normal " + ",".join(str(v) for v in values)
