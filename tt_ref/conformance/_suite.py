"""The property suite under pytest: ``TT_REF_CONFORMANCE_IMPL=module:Adapter pytest --pyargs
tt_ref.conformance._suite`` (as array-api-tests names the library under test by an environment
variable). Without the variable it runs tt_ref's own adapter, a check of the harness.
``TT_REF_CONFORMANCE_EXAMPLES`` (default 64) and ``TT_REF_CONFORMANCE_SEED`` (default 0) size it.
See ``specs/conformance.md`` §Property suite.
"""

from __future__ import annotations

import os

import pytest

from ._fuzz import fuzz_cases
from ._runner import load_adapter, run_one

_IMPL = os.environ.get("TT_REF_CONFORMANCE_IMPL", "tt_ref.conformance._reference:ReferenceAdapter")
_CASES = fuzz_cases(int(os.environ.get("TT_REF_CONFORMANCE_EXAMPLES", "64")),
                    seed=int(os.environ.get("TT_REF_CONFORMANCE_SEED", "0")))


@pytest.fixture(scope="module")
def adapter():
    return load_adapter(_IMPL)


@pytest.mark.parametrize("case", _CASES, ids=lambda case: case.name)
def test_case(adapter, case):
    """specs/conformance.md §Property suite: one random case, held to its bound."""
    outcome = run_one(case, adapter)
    if outcome.status == "not implemented":
        pytest.xfail(f"{case.operation} not implemented: {outcome.message}")
    assert outcome.ok, f"{case.name}: {outcome.status}: {outcome.message} (error {outcome.error}, " \
                       f"tolerance {outcome.tolerance})"
