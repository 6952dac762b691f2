"""Where conformance cases come from: provider modules, each exposing ``cases() -> list[ConformanceCase]``.

A provider listed in ``PROVIDERS`` whose module does not exist (yet) is skipped; any other import
error propagates, so a broken provider is never silently dropped.
"""

from __future__ import annotations

import importlib

from ._case import ConformanceCase

__all__ = ["PROVIDERS", "all_cases"]

PROVIDERS = (
    "tt_ref.conformance._cases_tt",
    "tt_ref.conformance._cases_cloud",
    "tt_ref.conformance._cases_search",
    "tt_ref.conformance._cases_ttm",
)


def _load_provider(module_name: str):
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            return None  # provider not part of this build
        raise


def all_cases(providers=PROVIDERS) -> list[ConformanceCase]:
    """Every case of every available provider, in provider order; names must be unique.

    Examples
    --------
    >>> names = [case.name for case in all_cases()]
    >>> len(names) == len(set(names)) and len(names) > 0
    True
    """
    cases: list[ConformanceCase] = []
    seen: set[str] = set()
    for module_name in providers:
        module = _load_provider(module_name)
        if module is None:
            continue
        for case in module.cases():
            if case.name in seen:
                raise RuntimeError(f"conformance case name {case.name!r} is defined twice")
            seen.add(case.name)
            cases.append(case)
    return cases
