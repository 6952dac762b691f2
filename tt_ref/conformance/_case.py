"""The conformance case: one operation, its inputs, the expected outputs and how to compare them.

A case is stored on disk as one folder (``case.json`` plus one ``.npy`` file per input and expected
output); see ``specs/conformance.md`` for the layout and for every comparison rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["ConformanceCase"]


@dataclass(frozen=True)
class ConformanceCase:
    """One conformance case.

    Attributes
    ----------
    name : str
        Unique name, also the folder name in a case set, e.g. ``"tt_svd/rank_cap_3"``.
    operation : str
        Adapter method name, e.g. ``"tt_svd"``.
    params : dict
        JSON-serialisable parameters, passed to the adapter as keyword arguments.
    inputs : dict
        Name -> numpy array (stored as ``.npy``), passed to the adapter as keyword arguments.
    expected : dict
        Name -> numpy array (stored as ``.npy``): the reference outputs.
    tolerance : dict
        JSON: the bound used by the comparison rule (documented in ``specs/conformance.md``).
    may_differ : str
        What may legitimately differ between correct implementations and how it is compared.
    compare : str
        Name of a comparison rule in ``tt_ref.conformance._compare``.

    Examples
    --------
    >>> import numpy as np
    >>> case = ConformanceCase(
    ...     name="norm/small", operation="norm", params={},
    ...     inputs={"cores_0": np.ones((1, 2, 1))}, expected={"result": np.array(np.sqrt(2.0))},
    ...     tolerance={"c": 4.0}, may_differ="nothing", compare="scalar_backward")
    >>> case.operation
    'norm'
    """

    name: str
    operation: str
    params: dict = field(hash=False)
    inputs: dict = field(hash=False)
    expected: dict = field(hash=False)
    tolerance: dict = field(hash=False)
    may_differ: str
    compare: str
