"""``get_params`` / ``set_params`` / ``repr`` in scikit-learn's convention, without importing scikit-learn.

An estimator stores each ``__init__`` argument unchanged under its own name and does
all checking and work in ``fit``; then these three functions (and so
``sklearn.base.clone``, grid searches and pipelines) need nothing else. Nested
parameters (``index__seed``) reach a parameter that has ``get_params`` itself.
"""

from __future__ import annotations

import inspect

from .._backend import ArgumentValueError

__all__ = ["param_names", "get_params", "set_params", "params_repr"]


def param_names(cls) -> list[str]:
    """The ``__init__`` parameter names of ``cls``, sorted (scikit-learn's order)."""
    signature = inspect.signature(cls.__init__)
    return sorted(
        name for name, p in signature.parameters.items()
        if name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    )


def get_params(estimator, deep: bool = True) -> dict:
    """The ``__init__`` parameters as a dict (with ``name__sub`` entries of nested estimators if ``deep``)."""
    out = {}
    for name in param_names(type(estimator)):
        value = getattr(estimator, name)
        if deep and hasattr(value, "get_params") and not isinstance(value, type):
            out.update((f"{name}__{key}", sub) for key, sub in value.get_params().items())
        out[name] = value
    return out


def set_params(estimator, params: dict):
    """Set ``__init__`` parameters (``name__sub`` for nested ones); returns ``estimator``."""
    valid = param_names(type(estimator))
    nested: dict = {}
    for key, value in params.items():
        name, _, sub = key.partition("__")
        if name not in valid:
            raise ArgumentValueError(
                f"invalid parameter {name!r} for {type(estimator).__name__}; valid parameters: {valid}"
            )
        if sub:
            nested.setdefault(name, {})[sub] = value
        else:
            setattr(estimator, name, value)
    for name, sub_params in nested.items():
        getattr(estimator, name).set_params(**sub_params)
    return estimator


def params_repr(estimator) -> str:
    """``Name(param=value, ...)`` listing the parameters that differ from their defaults."""
    signature = inspect.signature(type(estimator).__init__)
    changed = []
    for name in param_names(type(estimator)):
        default = signature.parameters[name].default
        value = getattr(estimator, name)
        if not (value is default or _plain_equal(value, default)):
            changed.append(f"{name}={_short_repr(value)}")
    return f"{type(estimator).__name__}({', '.join(changed)})"


def _plain_equal(a, b) -> bool:
    simple = (int, float, str, bool, type(None))
    return isinstance(a, simple) and isinstance(b, simple) and type(a) is type(b) and a == b


def _short_repr(value) -> str:
    shape = getattr(value, "shape", None)
    if shape is not None and not isinstance(value, (int, float)):
        return f"<{type(value).__name__} of shape {tuple(shape)}>"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
