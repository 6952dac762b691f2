"""Core layouts of other TT-matrix layer libraries, and conversions to and from tt_ref's.

Every library below orders cores first-to-last with the first mode slowest (C order)
and differs only in the axis order of a core and in which side of ``x`` the matrix
multiplies. The table with sources is in ``docs/guide-ttm-layers.md`` §Layouts:

========  ===========================  =============  =====================
layout    core axes                    dense matrix   layer output
========  ===========================  =============  =====================
tt_ref    (r_{k-1}, out_k, in_k, r_k)  (n_out, n_in)  ``x W^T + b``
tensorly  (r_{k-1}, out_k, in_k, r_k)  (n_out, n_in)  ``F.linear(x, W, b)``
t3f       (r_{k-1}, in_k, out_k, r_k)  (n_in, n_out)  ``x W + b``
tntorch   (r_{k-1}, in_k, out_k, r_k)  (n_in, n_out)  ``x W + b``
greenal   (r_{k-1}, in_k, out_k, r_k)  (n_in, n_out)  ``x W + b``
tednet    (in_k, out_k, r_{k-1}, r_k)  (n_out, n_in)  ``x W^T + b``
========  ===========================  =============  =====================

tednet drops the boundary ranks: its first core is ``(in_1, out_1, r_1)`` and its last
``(in_d, out_d, r_{d-1})`` (so it needs ``d >= 2``).
"""

from __future__ import annotations

from .._backend import ArgumentTypeError, ArgumentValueError, array_namespace, check_choice
from ..tt import TTMatrix

__all__ = ["TTM_LAYOUTS", "ttm_to_layout", "ttm_from_layout"]

#: Layout names accepted by :func:`ttm_to_layout` and :func:`ttm_from_layout`.
TTM_LAYOUTS = ("tt_ref", "tensorly", "t3f", "tntorch", "greenal", "tednet")
_IN_OUT = ("t3f", "tntorch", "greenal")


def ttm_to_layout(weight, layout: str) -> tuple:
    """The cores of ``weight`` as the library ``layout`` stores them (views where possible).

    Parameters
    ----------
    weight : TTMatrix
        A layer weight of shape ``(n_out, n_in)`` (row modes are the outputs).
    layout : {"tt_ref", "tensorly", "t3f", "tntorch", "greenal", "tednet"}
        See the module's table; ``"tensorly"`` is TensorLy's TT-matrix, which
        TensorLy-Torch's ``BlockTT`` factorised layers use; ``"greenal"`` is the layout
        of the paper's code.

    Returns
    -------
    tuple of arrays, on ``weight``'s backend

    Examples
    --------
    >>> import numpy as np
    >>> from tt_ref import TTMatrix, to_dense
    >>> from tt_ref.layers import ttm_from_layout, ttm_to_layout
    >>> rng = np.random.default_rng(0)
    >>> w = TTMatrix([rng.standard_normal((1, 2, 3, 4)), rng.standard_normal((4, 5, 6, 1))])  # (10, 18)
    >>> [c.shape for c in ttm_to_layout(w, "t3f")], [c.shape for c in ttm_to_layout(w, "tednet")]
    ([(1, 3, 2, 4), (4, 6, 5, 1)], [(3, 2, 4), (6, 5, 4)])
    >>> back = ttm_from_layout(ttm_to_layout(w, "tednet"), "tednet")
    >>> bool(np.array_equal(to_dense(back), to_dense(w)))
    True
    """
    if not isinstance(weight, TTMatrix):
        raise ArgumentTypeError(f"weight must be a TTMatrix, got {type(weight).__name__}")
    check_choice(layout, TTM_LAYOUTS, name="layout")
    xp, cores = weight.xp, weight.cores
    if layout in ("tt_ref", "tensorly"):
        return tuple(cores)
    if layout in _IN_OUT:
        return tuple(xp.permute_dims(c, (0, 2, 1, 3)) for c in cores)
    if len(cores) < 2:
        raise ArgumentValueError("layout 'tednet' needs d >= 2 cores (its end cores drop the boundary ranks)")
    out = [xp.permute_dims(c, (2, 1, 0, 3)) for c in cores]
    first, last = cores[0], cores[-1]
    out[0] = xp.permute_dims(xp.reshape(first, first.shape[1:]), (1, 0, 2))
    out[-1] = xp.permute_dims(xp.reshape(last, last.shape[:3]), (2, 1, 0))
    return tuple(out)


def ttm_from_layout(cores, layout: str) -> TTMatrix:
    """The :class:`tt_ref.TTMatrix` of cores stored in another library's ``layout``.

    Parameters
    ----------
    cores : sequence of arrays
        As :func:`ttm_to_layout` returns them for ``layout`` (one backend, one dtype).
    layout : {"tt_ref", "tensorly", "t3f", "tntorch", "greenal", "tednet"}

    Returns
    -------
    TTMatrix of shape ``(n_out, n_in)``, validated like any TTMatrix.

    Examples
    --------
    A t3f / tntorch / GreenAl layer stores ``(r, in_k, out_k, r')`` cores and computes
    ``x @ W`` with ``W`` of shape ``(n_in, n_out)``:

    >>> import numpy as np
    >>> from tt_ref import to_dense
    >>> from tt_ref.layers import ttm_from_layout
    >>> rng = np.random.default_rng(0)
    >>> theirs = [rng.standard_normal((1, 3, 2, 4)), rng.standard_normal((4, 6, 5, 1))]  # in (3, 6), out (2, 5)
    >>> w = ttm_from_layout(theirs, "t3f")
    >>> w.shape, w.row_shape, w.col_shape
    ((10, 18), (2, 5), (3, 6))
    """
    check_choice(layout, TTM_LAYOUTS, name="layout")
    if isinstance(cores, (str, bytes)) or not hasattr(cores, "__len__") or len(cores) == 0:
        raise ArgumentTypeError(f"cores must be a non-empty sequence of arrays, got {type(cores).__name__}")
    cores = tuple(cores)
    try:
        xp = array_namespace(*cores, names=tuple(f"cores[{k}]" for k in range(len(cores))))
    except TypeError as exc:
        raise ArgumentTypeError(str(exc)) from exc
    if layout in ("tt_ref", "tensorly"):
        return TTMatrix(cores)
    if layout in _IN_OUT:
        _check_ndim(cores, (4,) * len(cores), layout)
        return TTMatrix([xp.permute_dims(c, (0, 2, 1, 3)) for c in cores])
    if len(cores) < 2:
        raise ArgumentValueError("layout 'tednet' needs d >= 2 cores (its end cores drop the boundary ranks)")
    _check_ndim(cores, (3,) + (4,) * (len(cores) - 2) + (3,), layout)
    first, last = cores[0], cores[-1]
    out = [xp.permute_dims(c, (2, 1, 0, 3)) for c in cores[1:-1]]
    head = xp.reshape(xp.permute_dims(first, (1, 0, 2)), (1, first.shape[1], first.shape[0], first.shape[2]))
    tail = xp.reshape(xp.permute_dims(last, (2, 1, 0)), (last.shape[2], last.shape[1], last.shape[0], 1))
    return TTMatrix([head, *out, tail])


def _check_ndim(cores, expected, layout) -> None:
    for k, (core, ndim) in enumerate(zip(cores, expected)):
        if getattr(core, "ndim", None) != ndim:
            raise ArgumentValueError(
                f"cores[{k}] must have {ndim} dimensions in layout {layout!r}, got shape {tuple(core.shape)}"
            )
