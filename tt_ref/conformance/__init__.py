"""The conformance kit: golden cases, comparison rules and a checker for other implementations.

See ``specs/conformance.md`` (the contract) and ``docs/guide-conformance.md`` (a walk-through).
"""

from ._case import ConformanceCase
from ._registry import PROVIDERS, all_cases

__all__ = ["ConformanceCase", "PROVIDERS", "all_cases"]
