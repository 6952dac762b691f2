"""Shapes, ranks, parameter counts and initial weights of TT-matrix layers.

Two rules factorise ``n_in`` and ``n_out`` into mode sizes (``specs/ttm_layer.md``
§Shapes): ``"balanced"`` (d factors as close to the d-th root as possible, ranks capped
on both sides) and ``"greenal"`` (the rule of the paper's code: prime factors paired and
grouped until a core's ``m_k n_k`` reaches the rank, ranks capped from the left only).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .._backend import (
    ArgumentTypeError,
    ArgumentValueError,
    check_choice,
    check_int,
    check_optional_int,
    default_rng,
    from_numpy,
    namespace_for,
    resolve_dtype,
)
from ..tt import TTMatrix, ttm_svd

__all__ = ["TTMLayerShape", "factorize_dim", "ttm_layer_shape", "random_ttm_layer", "ttm_layer_from_dense"]

RULES = ("balanced", "greenal")
INITS = ("glorot", "he", "lecun")
# Largest n factorised (divisors are found by trial division up to sqrt(n)).
_MAX_DIM = 2**40


@dataclass(frozen=True)
class TTMLayerShape:
    """Mode sizes and ranks of a TT-matrix layer ``W`` of shape ``(n_out, n_in)``.

    Attributes
    ----------
    row_shape : tuple of int
        Output modes ``(m_1, ..., m_d)``, ``prod = n_out``.
    col_shape : tuple of int
        Input modes ``(n_1, ..., n_d)``, ``prod = n_in``.
    ranks : tuple of int
        ``(1, r_1, ..., r_{d-1}, 1)``.
    """

    row_shape: tuple
    col_shape: tuple
    ranks: tuple

    @property
    def n_out(self) -> int:
        return math.prod(self.row_shape)

    @property
    def n_in(self) -> int:
        return math.prod(self.col_shape)

    @property
    def n_params(self) -> int:
        """``sum_k r_{k-1} m_k n_k r_k``: the numbers the cores store."""
        r = self.ranks
        return sum(r[k] * m * n * r[k + 1] for k, (m, n) in enumerate(zip(self.row_shape, self.col_shape)))

    @property
    def dense_params(self) -> int:
        """``n_out n_in``: the numbers of the dense weight."""
        return self.n_out * self.n_in

    @property
    def compression(self) -> float:
        """``dense_params / n_params``."""
        return self.dense_params / self.n_params


# --------------------------------------------------------------------------- factorisation
def _divisors(n: int) -> list[int]:
    small, large = [], []
    f = 1
    while f * f <= n:
        if n % f == 0:
            small.append(f)
            if f * f != n:
                large.append(n // f)
        f += 1
    return small + large[::-1]


def factorize_dim(n, d) -> tuple[int, ...]:
    """The ``d`` factors of ``n`` closest to ``n ** (1 / d)``, in ascending order.

    Among all multisets of ``d`` integers >= 1 whose product is ``n``, the one that
    minimises ``sum_k (log f_k - log(n) / d) ** 2``; ties go to the lexicographically
    first ascending tuple. A prime ``n`` gives ``(1, ..., 1, n)``.

    Examples
    --------
    >>> from tt_ref.layers import factorize_dim
    >>> factorize_dim(768, 3), factorize_dim(3072, 3)
    ((8, 8, 12), (12, 16, 16))
    >>> factorize_dim(768, 4), factorize_dim(3072, 4)
    ((4, 4, 6, 8), (6, 8, 8, 8))
    """
    n = check_int(n, name="n", minimum=1, maximum=_MAX_DIM)
    d = check_int(d, name="d", minimum=1, maximum=64)
    divisors = _divisors(n)
    target = math.log(n) / d
    best: list = [None, None]

    def search(rest: int, k: int, low: int, chosen: tuple) -> None:
        if k == 1:
            if rest >= low:
                candidate = chosen + (rest,)
                score = round(sum((math.log(f) - target) ** 2 for f in candidate), 12)
                if best[0] is None or score < best[0]:
                    best[0], best[1] = score, candidate
            return
        for f in divisors:
            if f < low or rest % f:
                continue
            if f**k > rest:
                break
            search(rest // f, k - 1, f, chosen + (f,))

    search(n, d, 1, ())
    return best[1]


def _prime_factors(n: int) -> list[int]:
    factors, f = [], 2
    while f * f <= n:
        while n % f == 0:
            factors.append(f)
            n //= f
        f += 1
    if n > 1:
        factors.append(n)
    return factors


def _greenal_modes(n_in: int, n_out: int, rank: int):
    """The paper's code's rule: prime factors of ``n_in`` and ``n_out`` (ascending, the
    shorter list padded with 1s) paired position by position, then grouped greedily: a
    core takes the next pair and keeps taking pairs until ``m_k n_k >= rank``."""
    for name, n in (("n_in", n_in), ("n_out", n_out)):
        if any(p > 3 for p in _prime_factors(n)):
            raise ArgumentValueError(
                f"rule='greenal' needs {name} = 2^a 3^b (the authors' code pads other sizes with zeros, "
                f"which tt_ref does not); got {name} = {n}; use rule='balanced'"
            )
    ins, outs = _prime_factors(n_in) or [1], _prime_factors(n_out) or [1]
    length = max(len(ins), len(outs))
    pairs = list(zip(ins + [1] * (length - len(ins)), outs + [1] * (length - len(outs))))
    modes = []
    while pairs:
        n_k, m_k = pairs[0]
        taken = 1
        for n_next, m_next in pairs[1:]:
            n_k, m_k, taken = n_k * n_next, m_k * m_next, taken + 1
            if n_k * m_k >= rank:
                break
        modes.append((m_k, n_k))
        pairs = pairs[taken:]
    return tuple(m for m, _ in modes), tuple(n for _, n in modes)


def ttm_layer_shape(n_in, n_out, rank, *, d=None, rule: str = "balanced") -> TTMLayerShape:
    """Mode sizes and ranks of a TT-matrix layer ``(n_out, n_in)`` of rank ``rank``.

    Parameters
    ----------
    n_in, n_out : int
        The dense layer's input and output sizes.
    rank : int
        The TT rank asked for, >= 1.
    d : int, optional
        Number of cores for ``rule="balanced"`` (default 3); the ``"greenal"`` rule
        derives it (leave ``d`` unset).
    rule : {"balanced", "greenal"}
        ``"balanced"``: ``row_shape = factorize_dim(n_out, d)``, ``col_shape =
        factorize_dim(n_in, d)``, ``r_k = min(rank, prod_{l<=k} m_l n_l, prod_{l>k} m_l
        n_l)`` (no rank above the largest useful one). ``"greenal"``: the rule of the
        paper's code (``n_in``, ``n_out`` of the form ``2^a 3^b``), ranks ``r_k =
        min(rank, r_{k-1} m_k n_k)``, as that code sets them.

    Returns
    -------
    TTMLayerShape

    Examples
    --------
    GPT-2 small's ``c_fc`` layer, 768 inputs and 3072 outputs:

    >>> from tt_ref.layers import ttm_layer_shape
    >>> s = ttm_layer_shape(768, 3072, 64, d=4)
    >>> s.row_shape, s.col_shape, s.ranks, s.n_params
    ((6, 8, 8, 8), (4, 4, 6, 8), (1, 24, 64, 64, 1), 250432)
    >>> g = ttm_layer_shape(768, 3072, 72, rule="greenal")
    >>> g.row_shape, g.col_shape, g.ranks, g.n_params
    ((16, 16, 12), (16, 16, 3), (1, 72, 72, 1), 1348128)
    """
    n_in = check_int(n_in, name="n_in", minimum=1, maximum=_MAX_DIM)
    n_out = check_int(n_out, name="n_out", minimum=1, maximum=_MAX_DIM)
    rank = check_int(rank, name="rank", minimum=1)
    check_choice(rule, RULES, name="rule")
    if rule == "greenal":
        if d is not None:
            raise ArgumentValueError("d is derived by rule='greenal'; leave it unset")
        row_shape, col_shape = _greenal_modes(n_in, n_out, rank)
        ranks = [1]
        for m, n in zip(row_shape[:-1], col_shape[:-1]):
            ranks.append(min(rank, ranks[-1] * m * n))
        return TTMLayerShape(row_shape, col_shape, tuple(ranks) + (1,))
    d = check_optional_int(d, name="d", minimum=1, maximum=64) or 3
    row_shape, col_shape = factorize_dim(n_out, d), factorize_dim(n_in, d)
    sizes = [m * n for m, n in zip(row_shape, col_shape)]
    inner = tuple(min(rank, math.prod(sizes[: k + 1]), math.prod(sizes[k + 1 :])) for k in range(d - 1))
    return TTMLayerShape(row_shape, col_shape, (1,) + inner + (1,))


# --------------------------------------------------------------------------- initial weights
def random_ttm_layer(shape: TTMLayerShape, *, seed=0, init: str = "glorot", dtype="float64",
                     backend: str = "numpy") -> TTMatrix:
    """A TT-matrix layer with Gaussian cores scaled so the dense weight has a chosen variance.

    Every entry of ``W = to_dense(result)`` has mean 0 and variance ``v``: ``2 / (n_in +
    n_out)`` (``"glorot"``), ``2 / n_in`` (``"he"``) or ``1 / n_in`` (``"lecun"``). An
    entry is a sum over ``prod_k r_k`` products of ``d`` independent core entries, so
    each core gets i.i.d. ``N(0, s^2)`` entries with ``s^2 = (v / prod_{k=1}^{d-1}
    r_k) ** (1 / d)`` (the scaling of t3f's initialisers).

    Parameters
    ----------
    shape : TTMLayerShape
        From :func:`ttm_layer_shape`.
    seed : int, SeedSequence or numpy.random.Generator
        Cores drawn on the host in float64, first core first, then cast and moved: one
        seed gives bitwise the same cores on every backend.
    init : {"glorot", "he", "lecun"}
    dtype : "float64" or "float32"
    backend : "numpy", "cupy" or "array_api_strict"

    Returns
    -------
    TTMatrix of shape ``(shape.n_out, shape.n_in)``

    Examples
    --------
    >>> import numpy as np
    >>> from tt_ref import to_dense
    >>> from tt_ref.layers import random_ttm_layer, ttm_layer_shape
    >>> w = random_ttm_layer(ttm_layer_shape(256, 512, 8), seed=0, init="he")
    >>> w.shape, w.ranks
    ((512, 256), (1, 8, 8, 1))
    >>> bool(abs(float(np.var(to_dense(w))) * 256 / 2 - 1) < 0.2)
    True
    """
    if not isinstance(shape, TTMLayerShape):
        raise ArgumentTypeError(f"shape must be a TTMLayerShape (from ttm_layer_shape), got {type(shape).__name__}")
    check_choice(init, INITS, name="init")
    variance = {"glorot": 2.0 / (shape.n_in + shape.n_out), "he": 2.0 / shape.n_in, "lecun": 1.0 / shape.n_in}[init]
    d = len(shape.row_shape)
    scale = math.sqrt((variance / math.prod(shape.ranks)) ** (1.0 / d))
    xp = namespace_for(backend)
    target = resolve_dtype(dtype, xp)
    rng = default_rng(seed)
    r = shape.ranks
    cores = [
        from_numpy(rng.standard_normal((r[k], m, n, r[k + 1])) * scale, xp, dtype=target)
        for k, (m, n) in enumerate(zip(shape.row_shape, shape.col_shape))
    ]
    return TTMatrix._from_cores(tuple(cores))


def ttm_layer_from_dense(matrix, *, d=3, row_shape=None, col_shape=None, eps=None, max_rank=None,
                         return_error: bool = False):
    """A TT-matrix layer from a dense weight ``(n_out, n_in)`` by TT-SVD (:func:`tt_ref.ttm_svd`).

    Parameters
    ----------
    matrix : array of shape (n_out, n_in)
        PyTorch's ``nn.Linear.weight`` orientation; pass the transpose for the ``(n_in,
        n_out)`` weights of t3f, tntorch, the paper's code or Hugging Face's ``Conv1D``.
    d : int
        Number of cores when the shapes are not given (the ``"balanced"`` rule).
    row_shape, col_shape : sequences of int, optional
        Output and input modes (both or neither); default
        ``factorize_dim(n_out, d)``, ``factorize_dim(n_in, d)``.
    eps, max_rank : as in :func:`tt_ref.ttm_svd`
        With only ``eps``: ``||matrix - W||_F <= eps ||matrix||_F``.
    return_error : bool
        Also return the achieved relative Frobenius error.

    Returns
    -------
    TTMatrix, or (TTMatrix, float)

    Examples
    --------
    >>> import numpy as np
    >>> from tt_ref.layers import ttm_layer_from_dense
    >>> a = np.kron(np.arange(1.0, 9.0).reshape(4, 2), np.ones((6, 4)))  # (24, 8), TT rank 1
    >>> w, err = ttm_layer_from_dense(a, d=2, eps=1e-12, return_error=True)
    >>> w.row_shape, w.col_shape, w.ranks, err < 1e-12
    ((4, 6), (2, 4), (1, 1, 1), True)
    """
    if (row_shape is None) != (col_shape is None):
        raise ArgumentValueError("give both row_shape and col_shape, or neither")
    if row_shape is None:
        if getattr(matrix, "ndim", None) != 2:
            raise ArgumentValueError(f"matrix must be 2-D (n_out, n_in), got shape {tuple(getattr(matrix, 'shape', ()))}")
        d = check_int(d, name="d", minimum=1, maximum=64)
        if any(int(n) == 0 for n in matrix.shape):
            raise ArgumentValueError(f"matrix is empty (shape {tuple(matrix.shape)}): a layer needs n_out, n_in >= 1")
        row_shape, col_shape = factorize_dim(int(matrix.shape[0]), d), factorize_dim(int(matrix.shape[1]), d)
    return ttm_svd(matrix, row_shape, col_shape, eps=eps, max_rank=max_rank, return_error=return_error)
