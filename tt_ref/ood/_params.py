"""``get_params`` / ``set_params`` / ``repr`` in scikit-learn's convention, without importing scikit-learn.

An estimator stores each ``__init__`` argument unchanged under its own name and does
all checking and work in ``fit``; then these three methods (and so
``sklearn.base.clone``, grid searches and pipelines) need nothing else. Nested
parameters (``index__seed``) reach a parameter that has ``get_params`` itself.
"""

from __future__ import annotations

import inspect

from .._backend import ArgumentValueError

__all__ = ["ParamsMixin"]


class ParamsMixin:
    """Mixin for estimators whose ``__init__`` only stores its arguments."""

    @classmethod
    def _param_names(cls) -> list[str]:
        signature = inspect.signature(cls.__init__)
        return sorted(
            name for name, p in signature.parameters.items()
            if name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        )

    def get_params(self, deep: bool = True) -> dict:
        """The ``__init__`` parameters as a dict (with ``name__sub`` entries of nested estimators if ``deep``)."""
        out = {}
        for name in self._param_names():
            value = getattr(self, name)
            if deep and hasattr(value, "get_params") and not isinstance(value, type):
                out.update((f"{name}__{key}", sub) for key, sub in value.get_params().items())
            out[name] = value
        return out

    def set_params(self, **params):
        """Set ``__init__`` parameters (``name__sub`` for nested ones); returns ``self``. Checked at ``fit``."""
        valid = self._param_names()
        nested: dict = {}
        for key, value in params.items():
            name, _, sub = key.partition("__")
            if name not in valid:
                raise ArgumentValueError(
                    f"invalid parameter {name!r} for {type(self).__name__}; valid parameters: {valid}"
                )
            if sub:
                nested.setdefault(name, {})[sub] = value
            else:
                setattr(self, name, value)
        for name, sub_params in nested.items():
            getattr(self, name).set_params(**sub_params)
        return self

    def __repr__(self) -> str:
        signature = inspect.signature(type(self).__init__)
        changed = []
        for name in self._param_names():
            default = signature.parameters[name].default
            value = getattr(self, name)
            if not (value is default or _plain_equal(value, default)):
                changed.append(f"{name}={_short_repr(value)}")
        return f"{type(self).__name__}({', '.join(changed)})"


def _plain_equal(a, b) -> bool:
    simple = (int, float, str, bool, type(None))
    return isinstance(a, simple) and isinstance(b, simple) and type(a) is type(b) and a == b


def _short_repr(value) -> str:
    shape = getattr(value, "shape", None)
    if shape is not None and not isinstance(value, (int, float)):
        return f"<{type(value).__name__} of shape {tuple(shape)}>"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
