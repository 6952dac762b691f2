"""Adam over a tuple of arrays, functional: state in, state out.

Kingma & Ba (2015), with bias correction. Works on any Array API backend; the step
count and the bias corrections are Python scalars, so no host sync is needed.
"""

from __future__ import annotations

from dataclasses import dataclass

from .._backend import ArgumentValueError, array_namespace

__all__ = ["AdamState", "adam_init", "adam_step"]


@dataclass(frozen=True)
class AdamState:
    """Adam's moments: ``step`` (int) and first / second moment estimates per array."""

    step: int
    m: tuple
    v: tuple


def adam_init(params) -> AdamState:
    """Zero moments shaped like ``params`` (a tuple of arrays)."""
    params = tuple(params)
    if not params:
        raise ArgumentValueError("params must hold at least one array")
    xp = array_namespace(*params)
    zeros = tuple(xp.zeros(p.shape, dtype=p.dtype) for p in params)
    return AdamState(step=0, m=zeros, v=zeros)


def adam_step(params, grads, state: AdamState, *, lr: float, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8):
    """One Adam update; returns ``(new_params, new_state)`` and changes nothing in place.

    Parameters
    ----------
    params, grads : tuple of arrays
        Parameters and the loss gradients, matching shapes.
    state : AdamState
        From :func:`adam_init` or the previous step.
    lr : float
        Step size (Adam's update has size about ``lr`` per entry).

    Examples
    --------
    >>> import numpy as np
    >>> from tt_ref.cloud._optim import adam_init, adam_step
    >>> params = (np.array([1.0, -2.0]),)
    >>> state = adam_init(params)
    >>> params, state = adam_step(params, (np.array([3.0, -0.5]),), state, lr=0.1)
    >>> np.round(params[0], 6).tolist(), state.step  # the first step moves each entry by lr
    ([0.9, -1.9], 1)
    """
    params, grads = tuple(params), tuple(grads)
    if len(params) != len(grads) or len(params) != len(state.m):
        raise ArgumentValueError(
            f"params ({len(params)}), grads ({len(grads)}) and state ({len(state.m)}) must hold the same number of arrays"
        )
    if not lr > 0:
        raise ArgumentValueError(f"lr must be positive, got {lr}")
    step = state.step + 1
    correction1 = 1.0 - beta1**step
    correction2 = 1.0 - beta2**step
    new_params, new_m, new_v = [], [], []
    for p, g, m, v in zip(params, grads, state.m, state.v):
        if g.shape != p.shape:
            raise ValueError(f"a gradient has shape {tuple(g.shape)} but its parameter has {tuple(p.shape)}")
        xp = array_namespace(p, g)
        m = beta1 * m + (1.0 - beta1) * g
        v = beta2 * v + (1.0 - beta2) * (g * g)
        update = (m / correction1) / (xp.sqrt(v / correction2) + eps)
        new_params.append(p - lr * update)
        new_m.append(m)
        new_v.append(v)
    return tuple(new_params), AdamState(step=step, m=tuple(new_m), v=tuple(new_v))
