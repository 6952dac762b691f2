"""Every public entry point against bad arrays and bad scalars (specs/errors.md).

For each entry point (``fuzz_kit.cases()``), each argument in turn is replaced by every bad
value of its kind; the outcome must be a correct result (where the input allows one) or an
InputError whose message names the argument, within the time limit. A hypothesis test then
draws random bad values (random integers far out of range, NaN at random positions) on
NumPy and array_api_strict; ``HYPOTHESIS_PROFILE=thorough`` or ``TT_REF_FUZZ_EXAMPLES=N``
runs it longer.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fuzz_kit
import tt_ref

CASES = fuzz_kit.cases()
_EXAMPLES = int(os.environ.get("TT_REF_FUZZ_EXAMPLES", "0")) or None


def _run(case, backend, arg, label, value, expect):
    func, kwargs = case.build(backend)
    kwargs = {**kwargs, arg.name: value}
    names = (arg.name,) + tuple(case.names.get(arg.name, ()))
    outcome, detail = fuzz_kit.judge(lambda: func(**kwargs), names=names, expect=expect,
                                     range_refusal=label in ("huge", "tiny"))
    fuzz_kit.record(f"{case.name}({arg.name}) on {backend}", label, outcome, detail)
    return outcome, detail


def test_registry_covers_the_public_api():
    """specs/errors.md §The fuzz suite: every name of tt_ref.__all__ is fuzzed, or listed with a reason."""
    fuzzed = {case.name.split(".")[0].split("(")[0] for case in CASES}
    missing = [name for name in tt_ref.__all__ if name not in fuzzed and name not in fuzz_kit.NOT_FUZZED]
    assert not missing, f"public names without a fuzz case: {missing}"


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_valid_call_works(case):
    """The base call of each case is valid (else the bad-value sweep would test nothing)."""
    func, kwargs = case.build("numpy")
    outcome, detail = fuzz_kit.judge(lambda: func(**kwargs), names=(), expect="result")
    assert outcome == "ok", detail


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_every_bad_argument(case):
    """specs/errors.md §Arrays, §Scalars, §Memory: each bad value gets a result or a clear error naming it."""
    failures = []
    for arg in case.args:
        valid = case.build("numpy")[1][arg.name]
        for label, value, expect in fuzz_kit.bad_values(arg, valid, fuzz_kit._fixtures("numpy")["xp"]):
            outcome, detail = _run(case, "numpy", arg, label, value, expect)
            if outcome in fuzz_kit.FAILURE_KINDS:
                failures.append(f"{arg.name}={label}: {outcome}: {detail[:200]}")
    assert not failures, "\n".join(failures)


@settings(max_examples=_EXAMPLES, suppress_health_check=list(HealthCheck), deadline=None) if _EXAMPLES else \
    settings(suppress_health_check=list(HealthCheck), deadline=None)
@given(st.data())
def test_random_bad_inputs(data):
    """specs/errors.md: random bad values (random out-of-range numbers, NaN / inf at random
    positions) for a random argument of a random entry point, on NumPy and array_api_strict."""
    case = data.draw(st.sampled_from(CASES), label="case")
    backend = data.draw(st.sampled_from(["numpy", "array_api_strict"]), label="backend")
    arg = data.draw(st.sampled_from(case.args), label="argument")
    valid = case.build(backend)[1][arg.name]
    label, value, expect = data.draw(fuzz_kit.bad_value_strategy(arg, valid, fuzz_kit._fixtures(backend)["xp"]),
                                     label="bad value")
    outcome, detail = _run(case, backend, arg, label, value, expect)
    assert outcome not in fuzz_kit.FAILURE_KINDS, f"{case.name}({arg.name}={label}) on {backend}: {outcome}: {detail}"
