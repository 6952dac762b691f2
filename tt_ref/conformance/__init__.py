"""The conformance kit: golden cases, comparison rules, a checker and a property suite for
implementations tt_ref did not write (C++, CUDA, JAX, PyTorch ports).

* :class:`ConformanceCase` and the providers of ``PROVIDERS`` (:func:`all_cases`);
* :func:`write_case_set` / :func:`read_case_set`: the language-neutral case set on disk;
* :func:`run_adapter` (a Python adapter), :func:`run_outputs` (files any language wrote),
  :func:`iter_adapter` / :func:`iter_outputs` (the same, one case at a time),
  :func:`format_report`, :func:`report_json`;
* :func:`fuzz_cases`: random cases over shapes, ranks, dtypes and the whole finite range;
* :class:`ReferenceAdapter`: tt_ref itself behind the adapter protocol.

See ``specs/conformance.md`` (the contract) and ``docs/guide-conformance.md``.
"""

from ._case import ConformanceCase
from ._compare import RULES, Outcome, compare, cores_from
from ._fuzz import fuzz_cases
from ._reference import ReferenceAdapter, tt_outputs
from ._registry import PROVIDERS, all_cases
from ._runner import (CaseResult, format_report, iter_adapter, iter_outputs, load_adapter, report_json, run_adapter,
                      run_outputs, select, summary)
from ._store import VERSION, read_case_set, write_case_set, write_outputs
from ._tolerances import TOLERANCES

__all__ = [
    "ConformanceCase", "PROVIDERS", "all_cases", "RULES", "Outcome", "compare", "cores_from", "fuzz_cases",
    "ReferenceAdapter", "tt_outputs", "CaseResult", "format_report", "load_adapter", "report_json",
    "run_adapter", "run_outputs", "iter_adapter", "iter_outputs", "select", "summary", "VERSION", "read_case_set",
    "write_case_set", "write_outputs", "TOLERANCES",
]
