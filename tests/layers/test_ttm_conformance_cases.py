"""The golden cases of the TT-matrix layer (specs/ttm_layer.md §Conformance): every
contraction order of tt_ref passes them, a layer with a known mistake fails them."""

from __future__ import annotations

import numpy as np
import pytest

from tt_ref import TTMatrix
from tt_ref.conformance import all_cases
from tt_ref.conformance._cases_ttm import cases
from tt_ref.conformance._compare import compare, cores_from
from tt_ref.layers import ttm_linear_backward, ttm_linear_forward

CASES = cases()


def _run(case, path="auto", saving="full", transpose_cores=False):
    cores = [np.asarray(c) for c in cores_from(case.inputs)]
    if transpose_cores:  # the classic mistake: reading (r, in, out, r) cores as (r, out, in, r)
        cores = [np.transpose(c, (0, 2, 1, 3)) for c in cores]
    weight = TTMatrix(cores)
    y, saved = ttm_linear_forward(case.inputs["x"], weight, case.inputs["bias"], path=path, saving=saving)
    if case.operation == "ttm_forward":
        return {"y": y}
    grads = ttm_linear_backward(case.inputs["grad_output"], saved)
    return {"grad_x": grads.x, "grad_bias": grads.bias, **{f"grad_cores_{k}": g for k, g in enumerate(grads.cores)}}


def test_cases_are_registered_and_deterministic():
    """The provider is listed by the kit; two calls give the same cases."""
    names = [c.name for c in all_cases()]
    assert all(c.name in names for c in CASES)
    again = cases()
    for a, b in zip(CASES, again):
        assert a.name == b.name and all(np.array_equal(a.inputs[k], b.inputs[k]) for k in a.inputs)
    assert {c.operation for c in CASES} == {"ttm_forward", "ttm_backward"}
    assert {c.params["dtype"] for c in CASES} == {"float64", "float32"}


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
@pytest.mark.parametrize("path,saving", [("left_to_right", "full"), ("right_to_left", "full"), ("dense", "full"),
                                         ("auto", "lean")])
def test_every_order_passes(case, path, saving):
    """Any order of contraction and either saving meets the componentwise bound."""
    outcome = compare(case, _run(case, path, saving))
    assert outcome.status == "pass", outcome


@pytest.mark.parametrize("case", [c for c in CASES if c.operation == "ttm_forward"], ids=lambda c: c.name)
def test_mistakes_fail(case):
    """A 0.1 % error, or cores read with in and out swapped, fail (where the swap changes anything)."""
    y = np.asarray(_run(case)["y"], dtype=np.float64)
    assert compare(case, {"y": y * (1 + 1e-3)}).status == "fail"
    cores = cores_from(case.inputs)
    if all(c.shape[1] == c.shape[2] for c in cores):
        assert compare(case, _run(case, transpose_cores=True)).status == "fail"
