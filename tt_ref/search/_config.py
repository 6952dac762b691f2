"""Defaults of the search package: the TT configuration chosen from the data's size,
the work budget of one query chunk, and the memory limit checked before allocating
(specs/index.md §Configuration, §Memory limit).
"""

from __future__ import annotations

import math

from .._backend import ArgumentValueError, check_allocation, check_int, work_elements

__all__ = ["default_config", "CHUNK_ELEMENTS", "INDEX_FIT_DEFAULTS", "index_bytes", "check_index_memory"]

#: Fit options an index trains with unless its ``fit_options`` say otherwise. An index needs
#: buckets that hold vectors, so the least-squares sweeps pull every empty leaf toward its
#: nearest training row (specs/fit.md §Empty leaves): in `tt-ref bench ann`'s IVF regime, empty
#: leaves went from 82 to 4 of 256 on MNIST-5k and from 195 to 11 of 1,024 on GloVe-50
#: (docs/results-ann.md §What was tried). Compression keeps the
#: plain fit, whose held-out coverage the pull lowers (docs/results-compression.md).
INDEX_FIT_DEFAULTS = {"empty_pull": 1.0}

#: Largest temporary (in array elements) one query chunk may create on the host. On a
#: GPU :func:`tt_ref._backend.work_elements` scales it with the device memory.
CHUNK_ELEMENTS = 1 << 22

def default_config(n, *, vectors_per_leaf: int = 24, max_rank: int = 32) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """TT configuration for ``n`` vectors: two levels, about ``vectors_per_leaf`` per leaf.

    ``n_2 = 64`` (``round(sqrt(n / 4))``, at least 2, for sets under 4,096 vectors),
    ``n_1`` the power of two nearest ``n / (vectors_per_leaf * n_2)`` (at least 4), and
    the rank ``min(max_rank, n_2)``. Chosen from the GloVe-50 and MNIST measurements in
    docs/results-ann.md; ``TTIndex(dim, "auto")`` applies it to the training set.

    Parameters
    ----------
    n : int
        Number of vectors the index will hold (``>= 1``).
    vectors_per_leaf : int
        Target mean number of vectors per leaf bucket.
    max_rank : int
        Largest TT rank.

    Returns
    -------
    mode_sizes, ranks : tuple of int

    Examples
    --------
    >>> from tt_ref.search import default_config
    >>> default_config(100_000)
    ((64, 64), (32,))
    >>> default_config(1_797)
    ((4, 21), (21,))
    """
    n = check_int(n, name="n", minimum=1)
    per_leaf = check_int(vectors_per_leaf, name="vectors_per_leaf", minimum=1)
    max_rank = check_int(max_rank, name="max_rank", minimum=1)
    n_2 = 64 if n >= 64 * 64 else max(2, int(round(math.sqrt(n / 4))))
    n_1 = max(4, 2 ** int(round(math.log2(max(n / (per_leaf * n_2), 1)))))
    return (n_1, n_2), (min(max_rank, n_2),)


def auto_ranks(mode_sizes, max_rank: int = 32) -> tuple[int, ...]:
    """Ranks for explicit mode sizes: ``min(max_rank, n_{m+1} ... n_k)`` per bond."""
    return tuple(min(max_rank, math.prod(mode_sizes[m + 1:])) for m in range(len(mode_sizes) - 1))


def resolve_config(mode_sizes, ranks, n: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Mode sizes and ranks with ``"auto"`` replaced: :func:`default_config` of ``n`` vectors,
    :func:`auto_ranks` for explicit mode sizes."""
    if isinstance(mode_sizes, str):
        mode_sizes, default_ranks = default_config(n)
        ranks = default_ranks if isinstance(ranks, str) else tuple(ranks)
        if len(ranks) != len(mode_sizes) - 1:
            raise ArgumentValueError(f"ranks must hold {len(mode_sizes) - 1} entry with mode_sizes='auto' "
                                     f"(two levels), got {len(ranks)}")
    elif isinstance(ranks, str):
        ranks = auto_ranks(mode_sizes)
    return tuple(mode_sizes), tuple(ranks)


def chunk_budget(xp) -> int:
    """Elements one temporary of a query chunk may hold (larger on a GPU, where launches cost)."""
    return work_elements(xp, CHUNK_ELEMENTS)


def row_chunks(n_rows: int, per_row: int, budget: int, *, cap: int = 4096):
    """``(start, stop)`` chunks of rows so that ``rows * per_row <= budget`` (at least one row)."""
    size = min(cap, max(1, budget // max(per_row, 1)))
    for start in range(0, n_rows, size):
        yield start, min(start + size, n_rows)


def index_bytes(dim: int, mode_sizes, ranks, itemsize: int, *, n_vectors: int = 0, training: bool = False) -> int:
    """Estimated peak bytes of an index: cores, centre tables, offsets and stored vectors.

    Counts the cores twice (the cloud and the tables' copy; four times while training:
    the optimizer's two moments), one squared norm per centre of every level, the
    largest Gram table built on the way, the ``P + 1`` int64 offsets, and per stored
    vector its ``D + 1`` row (vector and norm) and id, three times (an insert merges and
    sorts into copies). An estimate of the largest arrays, not an exact count.
    """
    left = (dim,) + tuple(ranks)
    right = tuple(ranks) + (1,)
    n_params = sum(a * n * b for a, n, b in zip(left, mode_sizes, right))
    prefixes = [math.prod(mode_sizes[:m + 1]) for m in range(len(mode_sizes))]
    grams = max([prefixes[m] * right[m] ** 2 for m in range(len(mode_sizes) - 1)] or [0])
    elements = n_params * (4 if training else 2) + sum(prefixes) + grams
    per_vector = 3 * ((dim + 1) * itemsize + 8)
    return elements * itemsize + 8 * (prefixes[-1] + 1) + n_vectors * per_vector


def check_index_memory(dim: int, mode_sizes, ranks, itemsize: int, *, what: str, n_vectors: int = 0,
                       training: bool = False) -> int:
    """:func:`index_bytes`, refused above the memory limit before anything is allocated.

    The limit is tt_ref's (``tt_ref.set_memory_limit``, ``tt_ref.memory_limit`` or the
    ``TT_REF_MAX_BYTES`` environment variable; specs/backend.md §Memory limit).

    Examples
    --------
    >>> check_index_memory(8, (10**6, 10**6), (1000,), 8, what="TTIndex.train")
    Traceback (most recent call last):
    ...
    tt_ref.MemoryLimitError: TTIndex.train: mode sizes (1000000, 1000000), ranks (1000,) would allocate ...
    """
    n_bytes = index_bytes(dim, mode_sizes, ranks, itemsize, n_vectors=n_vectors, training=training)
    label = f"{what}: mode sizes {tuple(mode_sizes)}, ranks {tuple(ranks)}"
    check_allocation(-(-n_bytes // itemsize), itemsize, what=label)
    return n_bytes
