"""The TT index in ``tt-ref bench ann``: its two regimes, build, search sweep and bucket figures.

Two regimes, each set by its number of leaf buckets ``P = n_1 n_2``:

- ``ivf``: ``P`` near ``4 sqrt(N)`` (a power of two), the usual IVF size; the rank is the
  largest with no more parameters than faiss IVF-Flat with ``P`` lists (``P D``), so that
  peer matches it in both buckets and parameters.
- ``fine``: the paper's regime, ``P = 4**b`` with ``b = ceil(log2(N / 4) / 2)`` (about
  one to four vectors per bucket: 65,536 buckets at N = 100,000, 262,144 at 400,000),
  rank 32 (at most D and ``n_2``); the IMI and the residual IVF with ``2 x b`` bits
  have the same number of buckets.

Only the public index API is used: ``TTIndex(dim, mode_sizes, ranks, metric=...,
fit_options=..., seed=...)``, ``train``, ``add``, ``search``, ``stats``,
``last_search_stats``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .._backend import ArgumentValueError, to_numpy
from ..cloud import n_params_for
from ..search import TTIndex, one_recall_at, recall_at_k
from ._ann_peers import ONE_RECALL_RS, Clock, make_index_info, make_row, sweep_done

REGIMES = ("ivf", "fine")

#: Rank of the fine regime when none is given (the paper's), capped at D and n_2.
FINE_RANK = 32


@dataclass
class TTConfig:
    """Mode sizes and ranks of one regime's TT cloud."""

    regime: str
    mode_sizes: tuple[int, ...]
    ranks: tuple[int, ...]
    n_params: int

    @property
    def n_buckets(self) -> int:
        return math.prod(self.mode_sizes)

    @property
    def label(self) -> str:
        return f"modes={'x'.join(map(str, self.mode_sizes))} rank={','.join(map(str, self.ranks))}"


def _split_power_of_two(exponent: int) -> tuple[int, int]:
    return 2 ** (exponent // 2), 2 ** (exponent - exponent // 2)


def _expand_ranks(ranks, mode_sizes, option: str) -> tuple[int, ...]:
    if len(ranks) == 1:
        return tuple(ranks) * (len(mode_sizes) - 1)
    if len(ranks) != len(mode_sizes) - 1:
        raise ArgumentValueError(
            f"{option} must hold one rank or len(mode sizes) - 1 = {len(mode_sizes) - 1}, got {len(ranks)}")
    return tuple(ranks)


def _largest_rank(dim, mode_sizes, budget) -> tuple[int, ...]:
    """The largest equal rank (at most D and each mode size to the right) within ``budget``."""
    cap = min([dim] + [math.prod(mode_sizes[j:]) for j in range(1, len(mode_sizes))])
    rank = 1
    while rank < cap and n_params_for(dim, mode_sizes, (rank + 1,) * (len(mode_sizes) - 1)) <= budget:
        rank += 1
    return (rank,) * (len(mode_sizes) - 1)


def regime_config(regime: str, n_base: int, dim: int, mode_sizes=None, ranks=None) -> TTConfig:
    """The TT cloud of ``regime`` for ``n_base`` vectors of dimension ``dim``.

    Examples
    --------
    >>> from tt_ref.cli._ann_tt import regime_config
    >>> regime_config("ivf", 100_000, 50).label, regime_config("fine", 100_000, 50).label
    ('modes=32x32 rank=31', 'modes=256x256 rank=32')
    """
    option = f"--{regime}-modes"
    if mode_sizes is not None and len(mode_sizes) < 2:
        raise ArgumentValueError(f"{option} needs at least two mode sizes (a tree of buckets), got {mode_sizes}")
    if regime == "ivf":
        modes = mode_sizes or _split_power_of_two(max(2, round(math.log2(4 * math.sqrt(n_base)))))
        default_ranks = _largest_rank(dim, modes, dim * math.prod(modes))
    else:
        modes = mode_sizes or _split_power_of_two(2 * max(1, math.ceil(math.log2(max(n_base / 4, 4)) / 2)))
        default_ranks = (min(FINE_RANK, dim, modes[-1]),) * (len(modes) - 1)
    modes = tuple(modes)
    ranks = default_ranks if ranks is None else _expand_ranks(ranks, modes, f"--{regime}-ranks")
    return TTConfig(regime, modes, ranks, n_params_for(dim, modes, ranks))


def build(config: TTConfig, base, train, fit_options: dict, seed: int, xp_sync=None):
    """Fit the cloud on ``train``, add ``base``; returns the index and its build clocks."""
    index = TTIndex(base.shape[1], config.mode_sizes, config.ranks, metric="l2", fit_options=fit_options,
                    seed=seed)
    fit = Clock(lambda: index.train(train), xp_sync)
    add = Clock(lambda: index.add(base), xp_sync)
    return index, fit, add


def measure(index, config: TTConfig, fit, add, queries, true_ids, k, beams, candidates, xp_sync=None, scan="auto"):
    """Search rows over ``beams x candidates`` and the index's bucket figures and 1-recall@R.

    ``scan`` is ``TTIndex.search``'s (``"faiss"``: faiss scans the TT buckets; the ids
    are those of the NumPy path).
    """
    stats = index.stats()
    n_base = int(stats["ntotal"])
    build_cpu, build_wall = fit.cpu + add.cpu, fit.wall + add.wall
    beams = sorted({min(int(b), config.mode_sizes[0]) if len(config.mode_sizes) == 2 else int(b) for b in beams})
    common = {"regime": config.regime, "method": "TT index", "config": config.label, "match": "-",
              "build_seconds": build_cpu, "build_wall_seconds": build_wall,
              "bytes_per_vector": stats["bytes_per_vector"]}
    rows = []
    n_q = queries.shape[0]
    for beam in beams:
        for n_cand in sorted({min(int(c), n_base) for c in candidates}):
            clock = Clock(lambda: index.search(queries, k, beam=beam, n_candidates=n_cand, scan=scan), xp_sync)
            rows.append(make_row(**common, search=f"beam={beam} cand={n_cand}",
                                 recall=recall_at_k(to_numpy(clock.out[1]), true_ids, k), **clock.qps(n_q),
                                 distances_per_query=index.last_search_stats["distance_computations_per_query"],
                                 scan=scan))
            if sweep_done(rows[-1]["recall"], clock.cpu):
                break
    # 1-recall@R: the exact re-rank of R candidates puts the true neighbour first when it is
    # among them, so a k=1 search with R candidates measures it.
    curve = {}
    for R in ONE_RECALL_RS:
        if R <= n_base:
            _, ids = index.search(queries, 1, beam=beams[-1], n_candidates=R)
            curve[R] = one_recall_at(to_numpy(ids), true_ids[:, :1], 1)
    info = make_index_info(
        config.regime, "TT index", config.label, "-", n_buckets=int(stats["n_buckets"]),
        empty_buckets=int(stats["empty_buckets"]), expected_bucket_size=float(stats["expected_bucket_size"]),
        coarse_params=int(stats["n_params"]), one_recall_at=curve, build_seconds=build_cpu,
        build_wall_seconds=build_wall, bytes_per_vector=float(stats["bytes_per_vector"]),
        fit_seconds=fit.cpu, add_seconds=add.cpu, mode_sizes=list(config.mode_sizes), ranks=list(config.ranks),
        note=f"1-recall with beam {beams[-1]}")
    return rows, [info]
