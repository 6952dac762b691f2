"""The TT index's peers in ``tt-ref bench ann``: faiss IVF-Flat, IMI and residual IVF, hnswlib.

Every peer is built on the host (float32 NumPy) on one thread and measured the same
way as the TT index (see :class:`Clock`). A peer whose library is missing becomes a
``skipped`` row with the reason and the install command. Distance computations per
query are the vectors scanned (``faiss.cvar.indexIVF_stats.ndis``) plus the coarse
cost of choosing the lists:

- IVF-Flat: ``nlist`` centroid distances;
- IMI (``IndexIVFFlat`` over ``MultiIndexQuantizer``, 2 x ``b`` bits): ``2 * 2**b``
  half-dimension distances;
- residual IVF (``IndexIVFFlat`` over ``ResidualCoarseQuantizer``, 2 levels of
  ``2**b`` codewords, beam ``beam_factor * nprobe``): ``2 * 2**b`` codeword products
  plus ``min(beam, 2**b) * 2**b`` table look-ups of the second level;
- hnswlib: not exposed (``-``).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from .._backend import synchronize
from ..search import recall_at_k

#: R of the 1-recall@R curve (the true nearest neighbour among the first R vectors visited).
ONE_RECALL_RS = (1, 10, 100, 1000)

#: The finest peer built to match the TT cloud's parameter count (lists cost memory in faiss).
MAX_PEER_BUCKETS = 2**20

#: Sweeps in growing effort stop at this recall, or after a setting slower than this (CPU s).
DONE_RECALL = 0.999
SLOW_SEARCH_SECONDS = 30.0

_INSTALL = {"faiss": "pip install faiss-cpu", "hnswlib": "pip install hnswlib"}


@dataclass
class Workload:
    """What every method is measured on: host float32 base and queries, the exact top ``k``."""

    base: np.ndarray
    queries: np.ndarray
    k: int
    true_ids: np.ndarray
    train: np.ndarray
    quick: bool


class Clock:
    """Process CPU and wall seconds of ``func()``.

    With every library on one thread, CPU time is the single-thread cost even when other
    work shares the machine; wall time is kept beside it. With ``xp`` (a device
    namespace) the device is synchronised and wall time is used for both.
    """

    def __init__(self, func, xp=None):
        wall, cpu = time.perf_counter(), time.process_time()
        self.out = func()
        if xp is not None:
            synchronize(xp)
        self.cpu = max(time.process_time() - cpu, 1e-9)
        self.wall = max(time.perf_counter() - wall, 1e-9)
        if xp is not None:
            self.cpu = self.wall

    def qps(self, n_queries: int) -> dict:
        """``{"qps": per CPU second, "qps_wall": per wall second}``."""
        return {"qps": n_queries / self.cpu, "qps_wall": n_queries / self.wall}


def make_row(regime, method, config, match, search, **values) -> dict:
    """One measured search setting (a point of the recall curves)."""
    row = {"regime": regime, "method": method, "config": config, "match": match, "search": search,
           "recall": None, "qps": None, "qps_wall": None, "distances_per_query": None,
           "build_seconds": None, "build_wall_seconds": None, "bytes_per_vector": None,
           "status": "ok", "note": ""}
    row.update(values)
    return row


def make_index_info(regime, method, config, match, **values) -> dict:
    """One built index: buckets, 1-recall@R, build time, size."""
    info = {"regime": regime, "method": method, "config": config, "match": match, "n_buckets": None,
            "empty_buckets": None, "expected_bucket_size": None, "coarse_params": None, "one_recall_at": {},
            "build_seconds": None, "build_wall_seconds": None, "bytes_per_vector": None, "status": "ok",
            "note": ""}
    info.update(values)
    return info


def import_peer(name: str):
    """``(module, None)``, or ``(None, reason)`` when the library cannot be imported."""
    try:
        module = __import__(name)
    except ImportError as exc:
        return None, f"{name} not installed ({_INSTALL[name]}): {exc}"
    if name == "faiss":
        module.omp_set_num_threads(1)
    return module, None


def skipped(regime, method, config, match, reason):
    """The row and index entry of a peer that could not run."""
    return ([make_row(regime, method, config, match, "-", status="skipped", note=reason)],
            [make_index_info(regime, method, config, match, status="skipped", note=reason)])


# --------------------------------------------------------------------------- faiss
def _list_layout(faiss, ivf, n_base):
    """Sizes of the inverted lists, and each vector's list and position in it."""
    sizes = np.zeros(ivf.nlist, dtype=np.int64)
    list_of = np.full(n_base, -1, dtype=np.int64)
    offset = np.zeros(n_base, dtype=np.int64)
    invlists = ivf.invlists
    for j in range(ivf.nlist):
        size = invlists.list_size(j)
        sizes[j] = size
        if size:
            ids = faiss.rev_swig_ptr(invlists.get_ids(j), size).copy()
            list_of[ids] = j
            offset[ids] = np.arange(size)
    return sizes, list_of, offset


def _one_recall_curve(ivf, wl, sizes, list_of, offset, probe_order):
    """1-recall@R of the order faiss visits vectors (``max_codes = R``): the true nearest
    neighbour's position is the sizes of the lists probed before its own plus its place
    in that list. The probes are capped (16384, or what holds about 4 x max R vectors);
    ``covered`` is the share of queries whose probes held at least max R vectors."""
    n_base = wl.base.shape[0]
    r_max = max(ONE_RECALL_RS)
    nprobe = int(min(ivf.nlist, 16384, max(64, math.ceil(4 * r_max * ivf.nlist / n_base))))
    chunk = max(1, min(256, 2**22 // nprobe))
    nn = wl.true_ids[:, 0]
    positions, covered = [], []
    for start in range(0, wl.queries.shape[0], chunk):
        probe = probe_order(wl.queries[start:start + chunk], nprobe)
        probe_sizes = np.where(probe >= 0, sizes[np.maximum(probe, 0)], 0)
        before = np.cumsum(probe_sizes, axis=1) - probe_sizes
        hit = probe == list_of[nn[start:start + chunk], None]
        pos = before[np.arange(probe.shape[0]), hit.argmax(axis=1)] + offset[nn[start:start + chunk]]
        positions.append(np.where(hit.any(axis=1), pos, np.iinfo(np.int64).max))
        covered.append(probe_sizes.sum(axis=1) >= r_max)
    positions = np.concatenate(positions)
    curve = {R: float(np.mean(positions < R)) for R in ONE_RECALL_RS if R <= n_base}
    return curve, float(np.mean(np.concatenate(covered))), nprobe


def _sweep(faiss, ivf, wl, probes, coarse_cost, base_row):
    """Rows over ``probes``; stops once recall is all but 1 or a setting takes over
    ``SLOW_SEARCH_SECONDS`` (more probes would only be slower)."""
    rows = []
    n_q = wl.queries.shape[0]
    for nprobe in probes:
        if nprobe > ivf.nlist:
            continue
        ivf.nprobe = nprobe
        faiss.cvar.indexIVF_stats.reset()
        clock = Clock(lambda: ivf.search(wl.queries, wl.k))
        scanned = faiss.cvar.indexIVF_stats.ndis / n_q
        rows.append(make_row(**base_row, search=f"nprobe={nprobe}",
                             recall=recall_at_k(clock.out[1], wl.true_ids, wl.k), **clock.qps(n_q),
                             distances_per_query=scanned + coarse_cost(nprobe)))
        if sweep_done(rows[-1]["recall"], clock.cpu):
            break
    return rows


def sweep_done(recall: float, seconds: float) -> bool:
    """Whether a sweep in growing effort can stop: recall all but 1, or too slow."""
    return recall >= DONE_RECALL or seconds > SLOW_SEARCH_SECONDS


def _build_ivf(faiss, wl, quantizer, nlist, trains_alone):
    D = wl.base.shape[1]
    ivf = faiss.IndexIVFFlat(quantizer, D, nlist)
    if trains_alone:
        ivf.quantizer_trains_alone = 1
    build = Clock(lambda: (ivf.train(wl.train), ivf.add(wl.base)))
    return ivf, build


def _measure(faiss, ivf, build, wl, regime, method, config, match, coarse_params, coarse_cost, probes,
             probe_order=None):
    sizes, list_of, offset = _list_layout(faiss, ivf, wl.base.shape[0])
    if probe_order is None:
        def probe_order(x, nprobe):
            return ivf.quantizer.search(x, nprobe)[1]
    curve, covered, nprobe = _one_recall_curve(ivf, wl, sizes, list_of, offset, probe_order)
    n = max(int(sizes.sum()), 1)
    bpv = len(faiss.serialize_index(ivf)) / wl.base.shape[0]
    info = make_index_info(
        regime, method, config, match, n_buckets=int(ivf.nlist), empty_buckets=int(np.sum(sizes == 0)),
        expected_bucket_size=float(np.sum(sizes.astype(np.float64) ** 2) / n), coarse_params=int(coarse_params),
        one_recall_at=curve, build_seconds=build.cpu, build_wall_seconds=build.wall, bytes_per_vector=bpv,
        note=f"1-recall probes {nprobe}; {100 * covered:.0f}% of queries reach {max(ONE_RECALL_RS)} vectors")
    base_row = {"regime": regime, "method": method, "config": config, "match": match,
                "build_seconds": build.cpu, "build_wall_seconds": build.wall, "bytes_per_vector": bpv}
    return _sweep(faiss, ivf, wl, probes, coarse_cost, base_row), [info]


def ivf_flat(wl: Workload, nlist: int, regime: str, match: str, probes) -> tuple[list, list]:
    """faiss ``IndexIVFFlat`` with ``nlist`` k-means centroids (trained on ``wl.train``)."""
    method, config = "faiss IVF-Flat", f"nlist={nlist}"
    faiss, reason = import_peer("faiss")
    if faiss is None:
        return skipped(regime, method, config, match, reason)
    D = wl.base.shape[1]
    ivf, build = _build_ivf(faiss, wl, faiss.IndexFlatL2(D), nlist, trains_alone=False)
    return _measure(faiss, ivf, build, wl, regime, method, config, match, nlist * D, lambda nprobe: nlist, probes)


def imi(wl: Workload, bits: int, regime: str, match: str, probes) -> tuple[list, list]:
    """faiss inverted multi-index: ``IndexIVFFlat`` over ``MultiIndexQuantizer(D, 2, bits)``."""
    method, config = "faiss IMI", f"IMI2x{bits}"
    faiss, reason = import_peer("faiss")
    if faiss is None:
        return skipped(regime, method, config, match, reason)
    D = wl.base.shape[1]
    if D % 2:
        return skipped(regime, method, config, match, f"the IMI splits vectors in halves: odd dimension {D}")
    cells = 2**bits
    ivf, build = _build_ivf(faiss, wl, faiss.MultiIndexQuantizer(D, 2, bits), cells * cells, trains_alone=True)
    return _measure(faiss, ivf, build, wl, regime, method, config, match, cells * D, lambda nprobe: 2 * cells,
                    probes)


def residual_ivf(wl: Workload, bits: int, regime: str, match: str, probes, beam_factor: float) -> tuple[list, list]:
    """faiss IVF over ``ResidualCoarseQuantizer(D, 2, bits)`` (``c1[i1] + c2[i2]``, beam search)."""
    method, config = "faiss RCQ-IVF", f"RCQ2x{bits} beam={beam_factor:g}xnprobe"
    faiss, reason = import_peer("faiss")
    if faiss is None:
        return skipped(regime, method, config, match, reason)
    D = wl.base.shape[1]
    cells = 2**bits
    quantizer = faiss.ResidualCoarseQuantizer(D, 2, bits)
    quantizer.beam_factor = float(beam_factor)  # set before training; set_beam_factor needs codebooks
    ivf, build = _build_ivf(faiss, wl, quantizer, cells * cells, trains_alone=True)

    def coarse(nprobe):
        return 2 * cells + min(int(beam_factor * nprobe), cells) * cells

    def exact_order(x, nprobe):
        # The beam costs about beam x 2**b per query; deep probes (1-recall@1000) use the
        # exhaustive order instead, which is never worse than the beam's.
        quantizer.set_beam_factor(-1.0)
        try:
            return quantizer.search(x, nprobe)[1]
        finally:
            quantizer.set_beam_factor(float(beam_factor))

    return _measure(faiss, ivf, build, wl, regime, method, config, match, 2 * cells * D, coarse, probes,
                    exact_order)


def hnsw(wl: Workload, regime: str, efs, M: int = 16, ef_construction: int = 100) -> tuple[list, list]:
    """hnswlib HNSW (``M``, ``ef_construction``), ``ef`` swept; bytes from ``index_file_size``."""
    method, config = "hnswlib HNSW", f"M={M} efC={ef_construction}"
    hnswlib, reason = import_peer("hnswlib")
    if hnswlib is None:
        return skipped(regime, method, config, "-", reason)
    n, D = wl.base.shape
    index = hnswlib.Index(space="l2", dim=D)
    index.set_num_threads(1)

    def build():
        index.init_index(max_elements=n, M=M, ef_construction=ef_construction, random_seed=0)
        index.add_items(wl.base, np.arange(n), num_threads=1)

    clock = Clock(build)
    bpv = index.index_file_size() / n
    info = make_index_info(regime, method, config, "-", build_seconds=clock.cpu, build_wall_seconds=clock.wall,
                           bytes_per_vector=bpv, note="graph: no buckets")
    rows = []
    for ef in efs:
        ef = max(int(ef), wl.k)
        index.set_ef(ef)
        search = Clock(lambda: index.knn_query(wl.queries, k=wl.k, num_threads=1))
        rows.append(make_row(regime, method, config, "-", f"ef={ef}",
                             recall=recall_at_k(search.out[0].astype(np.int64), wl.true_ids, wl.k),
                             **search.qps(wl.queries.shape[0]), build_seconds=clock.cpu,
                             build_wall_seconds=clock.wall, bytes_per_vector=bpv, note="distance count not exposed"))
        if sweep_done(rows[-1]["recall"], search.cpu):
            break
    return rows, [info]
