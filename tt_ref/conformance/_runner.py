"""Running an implementation on cases, and the report.

An adapter is any object whose methods are named by the cases' ``operation`` and called as
``getattr(adapter, operation)(**inputs, **params)``; it returns a dict of arrays (or one
array, the output ``"result"``). A missing method, or one that raises
``NotImplementedError``, is reported ``not implemented``, never passed.
"""

from __future__ import annotations

import fnmatch
import importlib
import json
import math
import traceback
from dataclasses import dataclass

import numpy as np

from .._backend import ArgumentValueError
from ._compare import Outcome, compare

__all__ = ["CaseResult", "load_adapter", "run_adapter", "run_outputs", "iter_adapter", "iter_outputs", "select",
           "summary", "format_report", "report_json"]


@dataclass(frozen=True)
class CaseResult:
    """One case's name, operation and :class:`Outcome`."""

    name: str
    operation: str
    outcome: Outcome


def load_adapter(spec: str):
    """The adapter named by ``"package.module:attribute"``: a class is instantiated without
    arguments, any other object is used as is.

    Examples
    --------
    >>> type(load_adapter("tt_ref.conformance._reference:ReferenceAdapter")).__name__
    'ReferenceAdapter'
    """
    if not isinstance(spec, str) or ":" not in spec:
        raise ArgumentValueError(f"--impl must look like package.module:adapter, got {spec!r}")
    module_name, _, attr = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ArgumentValueError(f"--impl {spec!r}: cannot import {module_name!r} ({exc})") from exc
    try:
        target = getattr(module, attr)
    except AttributeError:
        raise ArgumentValueError(f"module {module_name!r} has no attribute {attr!r}") from None
    return target() if isinstance(target, type) else target


def select(cases, patterns=None, exclude=None) -> list:
    """Cases whose names match any of ``patterns`` (fnmatch; all when None) and none of ``exclude``."""
    out = []
    for case in cases:
        if patterns and not any(fnmatch.fnmatchcase(case.name, p) for p in patterns):
            continue
        if exclude and any(fnmatch.fnmatchcase(case.name, p) for p in exclude):
            continue
        out.append(case)
    return out


def _raised(case, exc: BaseException) -> Outcome:
    text = f"{type(exc).__name__}: {exc}".strip()
    if case.tolerance.get("refusal_allowed"):
        return Outcome("refused", message=f"refused a range-edge case (allowed): {text}")
    return Outcome("error", message=text)


def run_one(case, adapter) -> Outcome:
    """Run ``adapter`` on ``case`` and compare."""
    method = getattr(adapter, case.operation, None)
    if method is None or not callable(method):
        return Outcome("not implemented", message=f"the adapter has no method {case.operation!r}")
    inputs = {k: np.array(v, copy=True) for k, v in case.inputs.items()}
    try:
        outputs = method(**inputs, **case.params)
    except NotImplementedError as exc:
        return Outcome("not implemented", message=str(exc) or f"{case.operation} raised NotImplementedError")
    except Exception as exc:  # noqa: BLE001 - any failure of the code under test is a result
        outcome = _raised(case, exc)
        if outcome.status == "error":
            tail = traceback.format_exception(type(exc), exc, exc.__traceback__)[-2:]
            return Outcome("error", message=outcome.message + " | " + " ".join(t.strip() for t in tail))
        return outcome
    try:
        return compare(case, outputs)
    except Exception as exc:  # noqa: BLE001 - malformed outputs
        return Outcome("fail", message=f"outputs could not be compared: {type(exc).__name__}: {exc}")


def iter_adapter(cases, adapter):
    """:class:`CaseResult` of each case in turn, as soon as it is known (a caller stopped by
    Ctrl-C keeps the cases finished so far); :func:`run_adapter` lists them all."""
    for case in cases:
        yield CaseResult(case.name, case.operation, run_one(case, adapter))


def run_adapter(cases, adapter) -> list:
    """:class:`CaseResult` of every case."""
    return list(iter_adapter(cases, adapter))


def iter_outputs(cases, folder):
    """:class:`CaseResult` of each case in turn for outputs in the ``--outputs`` layout (see
    :func:`iter_adapter`); :func:`run_outputs` lists them all."""
    from ._store import read_outputs

    for case in cases:
        outputs = read_outputs(folder, case.name)
        if outputs is None:
            outcome = Outcome("not implemented", message=f"no folder {case.name!r} under the outputs")
        elif isinstance(outputs, Exception):
            outcome = _raised(case, outputs)
        else:
            try:
                outcome = compare(case, outputs)
            except Exception as exc:  # noqa: BLE001
                outcome = Outcome("fail", message=f"outputs could not be compared: {type(exc).__name__}: {exc}")
        yield CaseResult(case.name, case.operation, outcome)


def run_outputs(cases, folder) -> list:
    """Compare outputs written by another language in the ``--outputs`` layout."""
    return list(iter_outputs(cases, folder))


def summary(results) -> dict:
    """Counts per status, and ``ok``: nothing failed or errored."""
    counts = {s: 0 for s in ("pass", "fail", "error", "refused", "not implemented")}
    for r in results:
        counts[r.outcome.status] = counts.get(r.outcome.status, 0) + 1
    counts["total"] = len(results)
    counts["ok"] = counts["fail"] == 0 and counts["error"] == 0
    return counts


def _number(x) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.3g}"


def format_report(results, *, verbose: bool = False) -> str:
    """One line per case (status, name, measured error, tolerance, message) and a summary."""
    width = max((len(r.name) for r in results), default=4)
    lines = []
    for r in results:
        o = r.outcome
        if o.status == "pass" and not verbose:
            line = f"PASS    {r.name:<{width}}  error {_number(o.error)} <= {_number(o.tolerance)}"
        else:
            label = {"pass": "PASS", "fail": "FAIL", "error": "ERROR", "refused": "REFUSED",
                     "not implemented": "N/I"}[o.status]
            line = f"{label:<8}{r.name:<{width}}  error {_number(o.error)} tol {_number(o.tolerance)}  {o.message}"
        lines.append(line.rstrip())
    s = summary(results)
    lines.append(f"{s['pass']} passed, {s['fail']} failed, {s['error']} errors, {s['refused']} refused (allowed), "
                 f"{s['not implemented']} not implemented, of {s['total']} cases")
    return "\n".join(lines)


def report_json(results, *, interrupted: bool = False) -> str:
    """The report as JSON: ``{"summary": {...}, "cases": [{name, operation, status, error, tolerance,
    message}, ...]}`` (NaN as null), with ``"interrupted": true`` when Ctrl-C stopped the run
    (the cases are those finished)."""
    def num(x):
        return None if x is None or (isinstance(x, float) and not math.isfinite(x)) else x
    rows = [{"name": r.name, "operation": r.operation, "status": r.outcome.status, "error": num(r.outcome.error),
             "tolerance": num(r.outcome.tolerance), "message": r.outcome.message} for r in results]
    report = {"summary": summary(results), "cases": rows}
    if interrupted:
        report["interrupted"] = True
    return json.dumps(report, indent=2)
