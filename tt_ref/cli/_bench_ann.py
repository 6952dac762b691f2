"""``tt-ref bench ann``: the TT index against exact search, faiss and hnswlib, in one run.

Every library is pinned to one thread (threadpoolctl, ``faiss.omp_set_num_threads(1)``,
hnswlib ``set_num_threads(1)``) and the output says so. The last ``--queries`` vectors
are the queries, the rest the base. Rows: method, parameters, recall@k, queries per
second (one batch of all queries, one thread), distance computations per query (centre
or coarse distances plus vectors scanned; ``-`` where the library does not count them),
build seconds, bytes per vector, and a mark on the Pareto front of recall against QPS.
Missing libraries become ``skipped`` rows. Results and their reading:
``docs/results-ann.md``.
"""

from __future__ import annotations

import contextlib
import math
import os
import platform
import time

import numpy as np

from .._backend import array_namespace, backend_name, namespace_for, synchronize, to_numpy
from .._backend._io import save_figure, write_json
from ._common import add_backend_argument

FORMAT = "tt_ref.bench_ann"
VERSION = 1


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "ann",
        help="TT index vs exact search, faiss IVF-Flat / IMI and hnswlib (recall@k vs QPS, one thread)",
        description=(
            "Builds a TT index (tt_ref.TTIndex) on the base vectors and sweeps its search parameters; "
            "measures exact search (NumPy GEMM), faiss IndexIVFFlat (nlist with the TT index's number of "
            "coarse parameters, and the usual nlist), faiss IMI2xB and hnswlib (M=16) with their search "
            "parameters swept. All libraries pinned to one thread. The last --queries vectors are queries."
        ),
    )
    parser.add_argument("--data", required=True, help="mnist, glove50, digits, or a .npy/.npz/.fvecs path")
    parser.add_argument("--queries", type=int, default=2000, help="number of query vectors (the last rows; default 2000)")
    parser.add_argument("--k", type=int, default=10, help="neighbours per query (recall@k; default 10)")
    parser.add_argument("--mode-sizes", default=None, help="TT mode sizes, e.g. 256,64 (default: from the base size)")
    parser.add_argument("--ranks", default=None, help="TT ranks, e.g. 32 (default: 32 per level)")
    parser.add_argument("--steps", type=int, default=300,
                        help="fit steps (default 300, the setting measured in docs/results-ann.md; 50 with --quick)")
    parser.add_argument("--train-size", type=int, default=100_000, help="vectors the TT cloud is fitted on (default 100000)")
    parser.add_argument("--assign", choices=("beam", "exact"), default="beam", help="bucket assignment in add (default beam)")
    parser.add_argument("--methods", default="tt,exact,ivf,imi,hnsw", help="comma list of tt,exact,ivf,imi,hnsw")
    parser.add_argument("--quick", action="store_true", help="short sweeps and a short fit: a smoke run")
    parser.add_argument("--save-index", metavar="PATH", default=None, help="save the trained TT index (.npz)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the fit and the sampling (default 0)")
    add_backend_argument(parser, "the TT index and exact search (on cupy, QPS is per wall-clock second with "
                                 "the device synchronised, all queries in one batch)")
    parser.add_argument("--json", metavar="PATH", default=None, help="write all rows and settings as JSON")
    parser.add_argument("--plot", metavar="PNG", default=None, help="plot recall@k against QPS (log) to PNG")
    parser.set_defaults(func=run)


# --------------------------------------------------------------------------- helpers
def _parse_ints(text, name):
    if text is None:
        return None
    try:
        values = tuple(int(v) for v in str(text).split(",") if v.strip())
    except ValueError as exc:
        raise ValueError(f"{name} must be comma-separated integers, got {text!r}") from exc
    if not values or any(v < 1 for v in values):
        raise ValueError(f"{name} must be positive integers, got {text!r}")
    return values


def default_config(n_base: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """TT configuration used when none is given: two levels, about 24 vectors per leaf.

    ``n_1`` is the power of two nearest ``n_base / (24 * 64)`` (at least 4), ``n_2 = 64``
    (fewer for small sets), rank 32 capped by ``n_2``. Chosen from the GloVe and MNIST
    measurements in docs/results-ann.md.
    """
    n_2 = 64 if n_base >= 64 * 64 else max(2, int(round(math.sqrt(n_base / 4))))
    n_1 = max(4, 2 ** int(round(math.log2(max(n_base / (24 * n_2), 1)))))
    return (n_1, n_2), (min(32, n_2),)


def _pin_threads():
    messages = []
    try:
        from threadpoolctl import threadpool_limits

        limiter = threadpool_limits(limits=1)
        messages.append("BLAS/OpenMP pools via threadpoolctl")
    except ImportError:
        limiter = contextlib.nullcontext()
        messages.append("threadpoolctl missing: BLAS NOT pinned (set OMP_NUM_THREADS=1)")
    try:
        import faiss

        faiss.omp_set_num_threads(1)
        messages.append("faiss.omp_set_num_threads(1)")
    except ImportError:
        pass
    messages.append("hnswlib set_num_threads(1)")
    return limiter, "threads: all libraries pinned to 1 thread (" + ", ".join(messages) + ")"


def _progress(message):
    print(f"  [{time.strftime('%H:%M:%S')}] {message}", flush=True)


def _row(method, params, **values):
    row = {
        "method": method,
        "params": params,
        "recall": None,
        "qps": None,
        "qps_wall": None,
        "distances_per_query": None,
        "build_seconds": None,
        "build_wall_seconds": None,
        "bytes_per_vector": None,
        "status": "ok",
        "note": "",
    }
    row.update(values)
    return row


class _Clock:
    """CPU and wall seconds of one call. With every library on one thread, process CPU
    time is the single-thread cost even when other work shares the machine; the wall
    time is kept beside it."""

    #: Set by ``run`` for ``--backend cupy``: the namespace to synchronise, whose work
    #: runs on the device, so only wall time (after a sync) measures it.
    device_xp = None

    def __init__(self, func):
        wall, cpu = time.perf_counter(), time.process_time()
        self.out = func()
        if _Clock.device_xp is not None:
            synchronize(_Clock.device_xp)
        self.cpu = max(time.process_time() - cpu, 1e-9)
        self.wall = max(time.perf_counter() - wall, 1e-9)
        if _Clock.device_xp is not None:
            self.cpu = self.wall

    def qps(self, n):
        return {"qps": n / self.cpu, "qps_wall": n / self.wall}


def _load(args):
    from ..datasets._datasets import load_dataset

    ds = load_dataset(args.data)
    X = np.ascontiguousarray(ds.X, dtype=np.float32)
    if ds.metric == "cosine":
        norms = np.linalg.norm(X, axis=1, keepdims=True)
        X = X / np.where(norms > 0, norms, 1.0)
    n_queries = args.queries
    if not 1 <= n_queries < X.shape[0]:
        raise ValueError(f"--queries must be in [1, {X.shape[0] - 1}] for {ds.name} ({X.shape[0]} vectors), got {n_queries}")
    return ds.name, ds.metric, X[:-n_queries], X[-n_queries:]


# --------------------------------------------------------------------------- methods
def _bench_exact(base, queries, k, true_ids):
    from ..search._evaluation import recall_at_k
    from .._backend._neighbors import nearest_neighbors

    label = {"numpy": "exact (NumPy GEMM)", "cupy": "exact (CuPy GEMM)"}.get(
        backend_name(array_namespace(base)), "exact (array_api_strict GEMM)")
    clock = _Clock(lambda: nearest_neighbors(queries, base, k, check_values=False))
    return [
        _row(label, "-", recall=recall_at_k(clock.out[1], true_ids, k), **clock.qps(queries.shape[0]),
             distances_per_query=float(base.shape[0]), build_seconds=0.0, build_wall_seconds=0.0,
             bytes_per_vector=4.0 * base.shape[1])
    ]


def _bench_tt(base, queries, k, true_ids, args, mode_sizes, ranks, quick):
    from ..search._evaluation import ONE_RECALL_AT, one_recall_at, recall_at_k
    from ..search._index import TTIndex

    options = {"progress": False}
    options["steps"] = 50 if quick and args.steps == 300 else args.steps
    train_size = min(args.train_size, base.shape[0])
    options["batch_size"] = min(1024, train_size)
    index = TTIndex(base.shape[1], mode_sizes, ranks, metric="l2", assign=args.assign, train_size=train_size,
                    seed=args.seed, **options)
    train = _Clock(lambda: index.train(base))
    _progress(f"TT cloud fitted in {train.cpu:.1f} CPU s")
    add = _Clock(lambda: index.add(base))
    _progress(f"TT index filled in {add.cpu:.1f} CPU s")
    train_s, add_s = train.cpu, add.cpu
    stats = index.stats()
    info = {
        "mode_sizes": list(mode_sizes), "ranks": list(ranks), "n_params": stats["n_params"],
        "train_seconds": train_s, "add_seconds": add_s, "train_wall_seconds": train.wall,
        "add_wall_seconds": add.wall, "assign": args.assign,
        "empty_buckets": stats["empty_buckets"], "n_buckets": stats["n_buckets"],
        "expected_bucket_size": stats["expected_bucket_size"],
        "overhead_bytes_per_vector": stats["overhead_bytes_per_vector"],
    }
    beams = (8, 32) if quick else (8, 16, 32, 64)
    n_cands = (100, 400) if quick else (250, 500, 1000, 2000, 4000, 8000)
    rows = []
    n_q = queries.shape[0]
    for beam in beams:
        for n_cand in n_cands:
            n_cand = min(n_cand, base.shape[0])
            clock = _Clock(lambda: index.search(queries, k, beam=beam, n_candidates=n_cand))
            rows.append(_row(
                "TT index", f"beam={beam} cand={n_cand}", recall=recall_at_k(clock.out[1], true_ids, k),
                **clock.qps(n_q), distances_per_query=index.last_search_stats["distance_computations_per_query"],
                build_seconds=train_s + add_s, build_wall_seconds=train.wall + add.wall,
                bytes_per_vector=stats["bytes_per_vector"],
            ))
    # 1-recall@R (METHOD.md §5): is the true nearest neighbour among the first R candidates
    # visited? The exact re-rank puts it first when it is, so search k=1 with R candidates.
    info["one_recall_at"] = {
        R: one_recall_at(index.search(queries, 1, beam=beams[-1], n_candidates=R)[1], true_ids[:, :1], 1)
        for R in ONE_RECALL_AT if R <= base.shape[0]
    }
    info["bucket_stats"] = {"empty": stats["empty_buckets"], "n_buckets": stats["n_buckets"],
                            "expected_bucket_size": stats["expected_bucket_size"]}
    info["assign_check"] = _assign_check(index, base, quick)
    return rows, info, index


def _assign_check(index, base, quick):
    """Beam vs exact bucket assignment on a sample: agreement and seconds (docs/guide-index.md)."""
    from ..search._index import TTIndex

    n = min(base.shape[0], 2000 if quick else 20000)
    sample = base[:n, :]
    out = {"n": n}
    for assign in ("beam", "exact"):
        other = TTIndex.from_point_cloud(index.cloud, assign=assign)
        clock = _Clock(lambda: other._assign_buckets(sample))
        out[f"{assign}_seconds"] = clock.cpu
        out[f"{assign}_buckets"] = to_numpy(clock.out)
    out["agreement"] = float(np.mean(out.pop("beam_buckets") == out.pop("exact_buckets")))
    return out


def _ivf_sweep(faiss, index, queries, k, true_ids, name, params, coarse, build, bytes_per_vector, probes):
    from ..search._evaluation import recall_at_k

    rows = []
    n_q = queries.shape[0]
    for nprobe in probes:
        if nprobe > index.nlist:
            continue
        index.nprobe = nprobe
        faiss.cvar.indexIVF_stats.reset()
        clock = _Clock(lambda: index.search(queries, k))
        ndis = faiss.cvar.indexIVF_stats.ndis / n_q
        rows.append(_row(name, f"{params} nprobe={nprobe}", recall=recall_at_k(clock.out[1], true_ids, k),
                         **clock.qps(n_q), distances_per_query=ndis + coarse, build_seconds=build.cpu,
                         build_wall_seconds=build.wall, bytes_per_vector=bytes_per_vector))
    return rows


def _train_sample(base, train_size, seed):
    """Rows faiss trains a quantizer on: a random sample (faiss wants >= 39 per centroid)."""
    if train_size >= base.shape[0]:
        return base
    rows = np.sort(np.random.default_rng(seed).choice(base.shape[0], train_size, replace=False))
    return np.ascontiguousarray(base[rows])


def _faiss_lists(faiss, ivf, queries, true_ids):
    """Bucket statistics and 1-recall@R (``max_codes = R``, every list allowed) of a faiss IVF."""
    from ..search._evaluation import ONE_RECALL_AT, one_recall_at

    sizes = np.array([ivf.invlists.list_size(i) for i in range(ivf.nlist)], dtype=np.int64)
    n = max(int(sizes.sum()), 1)
    out = {"n_buckets": int(ivf.nlist), "empty": int(np.sum(sizes == 0)),
           "expected_bucket_size": float(np.sum(sizes.astype(np.float64) ** 2) / n), "one_recall_at": {}}
    saved = (ivf.nprobe, ivf.max_codes)
    ivf.nprobe = min(ivf.nlist, 4096)
    for R in ONE_RECALL_AT:
        if R <= n:
            ivf.max_codes = R
            _, ids = ivf.search(queries, 1)
            out["one_recall_at"][R] = one_recall_at(ids, true_ids[:, :1], 1)
    ivf.nprobe, ivf.max_codes = saved
    return out


def _bench_ivf(base, queries, k, true_ids, nlists, quick, train_size, seed, extra):
    try:
        import faiss
    except ImportError:
        return [_row("faiss IVF-Flat", "-", status="skipped", note="faiss not installed (pip install faiss-cpu)")]
    rows = []
    D = base.shape[1]
    probes = (1, 4, 16) if quick else (1, 2, 4, 8, 16, 32, 64, 128, 256)
    for nlist, why in nlists:
        nlist = max(1, min(nlist, base.shape[0] // 39 or 1))
        quantizer = faiss.IndexFlatL2(D)
        index = faiss.IndexIVFFlat(quantizer, D, nlist)
        sample = _train_sample(base, max(train_size, 39 * nlist), seed)
        build = _Clock(lambda: (index.train(sample), index.add(base)))
        _progress(f"faiss IVF{nlist} built in {build.cpu:.1f} CPU s (trained on {sample.shape[0]} vectors)")
        bpv = (base.shape[0] * (4 * D + 8) + nlist * D * 4) / base.shape[0]
        rows += _ivf_sweep(faiss, index, queries, k, true_ids, "faiss IVF-Flat", f"nlist={nlist} ({why})",
                           nlist, build, bpv, probes)
        extra[f"IVF{nlist}"] = _faiss_lists(faiss, index, queries, true_ids)
    return rows


def _bench_imi(base, queries, k, true_ids, bits, quick, train, extra):
    try:
        import faiss
    except ImportError:
        return [_row("faiss IMI", "-", status="skipped", note="faiss not installed (pip install faiss-cpu)")]
    D = base.shape[1]
    if D % 2:
        return [_row("faiss IMI", "-", status="skipped", note=f"IMI needs an even dimension, got {D}")]
    index = faiss.index_factory(D, f"IMI2x{bits},Flat")
    build = _Clock(lambda: (index.train(train), index.add(base)))
    _progress(f"faiss IMI2x{bits} built in {build.cpu:.1f} CPU s")
    ivf = faiss.extract_index_ivf(index)
    cells = 2 ** bits
    bpv = (base.shape[0] * (4 * D + 8) + 2 * cells * (D // 2) * 4) / base.shape[0]
    probes = (1, 16, 128) if quick else (1, 4, 16, 64, 128, 256, 512, 1024, 2048, 4096)
    extra[f"IMI2x{bits}"] = _faiss_lists(faiss, ivf, queries, true_ids)
    return _ivf_sweep(faiss, ivf, queries, k, true_ids, "faiss IMI", f"IMI2x{bits}", 2 * cells, build, bpv, probes)


def _bench_hnsw(base, queries, k, true_ids, quick):
    try:
        import hnswlib
    except ImportError:
        return [_row("hnswlib HNSW", "-", status="skipped", note="hnswlib not installed (pip install hnswlib)")]
    from ..search._evaluation import recall_at_k

    M, ef_construction = 16, 100
    index = hnswlib.Index(space="l2", dim=base.shape[1])
    index.set_num_threads(1)

    def build():
        index.init_index(max_elements=base.shape[0], M=M, ef_construction=ef_construction, random_seed=0)
        index.add_items(base, np.arange(base.shape[0]), num_threads=1)

    build_clock = _Clock(build)
    _progress(f"hnswlib built in {build_clock.cpu:.1f} CPU s")
    bpv = 4.0 * base.shape[1] + 8 + 2 * M * 4 + 8  # vector, label, level-0 links, link count
    rows = []
    n_q = queries.shape[0]
    for ef in ((16, 64) if quick else (10, 20, 40, 80, 160, 320)):
        index.set_ef(max(ef, k))
        clock = _Clock(lambda: index.knn_query(queries, k=k, num_threads=1))
        rows.append(_row("hnswlib HNSW", f"M={M} efC={ef_construction} ef={max(ef, k)}",
                         recall=recall_at_k(clock.out[0].astype(np.int64), true_ids, k), **clock.qps(n_q),
                         build_seconds=build_clock.cpu, build_wall_seconds=build_clock.wall, bytes_per_vector=bpv,
                         note="distance count not exposed"))
    return rows


# --------------------------------------------------------------------------- output
def _fmt(value, spec):
    width = "".join(ch for ch in spec.split(".")[0] if ch.isdigit()) or "1"
    return format("-", ">" + width) if value is None else format(value, spec)


def _print_table(rows, k):
    header = (f"{'method':<20} {'params':<38} {'recall@' + str(k):>9} {'QPS':>9} {'QPS wall':>9} {'dist/query':>10} "
              f"{'build s':>8} {'B/vec':>7}  front")
    print(header)
    print("-" * len(header))
    for row in rows:
        if row["status"] != "ok":
            print(f"{row['method']:<20} {'skipped: ' + row['note']}")
            continue
        print(
            f"{row['method']:<20} {row['params']:<38} {_fmt(row['recall'], '9.3f')} {_fmt(row['qps'], '9.0f')} "
            f"{_fmt(row['qps_wall'], '9.0f')} {_fmt(row['distances_per_query'], '>10.0f')} {_fmt(row['build_seconds'], '8.1f')} "
            f"{_fmt(row['bytes_per_vector'], '7.1f')}  {'*' if row.get('pareto') else ''}"
        )


def _plot(rows, path, title, k):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 5))
    methods = []
    for row in rows:
        label = row["method"] if row["method"] != "faiss IVF-Flat" else f"faiss IVF-Flat {row['params'].split(' nprobe')[0]}"
        if row["status"] == "ok" and label not in methods:
            methods.append(label)
    markers = "os^vDP*Xh<>"
    for j, label in enumerate(methods):
        pts = [
            (r["recall"], r["qps"], r["params"]) for r in rows if r["status"] == "ok"
            and (r["method"] == label or f"faiss IVF-Flat {r['params'].split(' nprobe')[0]}" == label)
        ]
        if label.startswith("TT index"):
            for beam in sorted({p.split()[0] for _, _, p in pts}, key=lambda b: int(b.split("=")[1])):
                sub = sorted((r, q) for r, q, p in pts if p.split()[0] == beam)
                ax.plot([r for r, _ in sub], [q for _, q in sub], marker="o", label=f"TT index {beam}")
        else:
            sub = sorted((r, q) for r, q, _ in pts)
            ax.plot([r for r, _ in sub], [q for _, q in sub], marker=markers[j % len(markers)], label=label)
    ax.set_yscale("log")
    ax.set_xlabel(f"recall@{k}")
    ax.set_ylabel("queries per second (1 thread, log)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path)


def _write_json(path, payload):
    write_json(path, payload)


def _summary(rows, tt_info, target=0.90):
    """The issue's targets, read off the rows."""

    def best_qps(pred):
        ok = [r for r in rows if r["status"] == "ok" and pred(r) and r["recall"] is not None and r["recall"] >= target]
        return max(ok, key=lambda r: r["qps"]) if ok else None

    def fewest_dist(pred):
        ok = [r for r in rows if r["status"] == "ok" and pred(r) and r["recall"] is not None and r["recall"] >= target
              and r["distances_per_query"] is not None]
        return min(ok, key=lambda r: r["distances_per_query"]) if ok else None

    tt_q, tt_d = best_qps(lambda r: r["method"] == "TT index"), fewest_dist(lambda r: r["method"] == "TT index")
    ivf_q = best_qps(lambda r: r["method"] == "faiss IVF-Flat")
    ivf_eq = fewest_dist(lambda r: r["method"] == "faiss IVF-Flat" and "equal" in r["params"])
    out = {
        "target_recall": target,
        "tt_best_qps_at_target": tt_q and {"params": tt_q["params"], "qps": tt_q["qps"], "recall": tt_q["recall"]},
        "tt_fewest_distances_at_target": tt_d and {"params": tt_d["params"], "distances": tt_d["distances_per_query"]},
        "ivf_best_qps_at_target": ivf_q and {"params": ivf_q["params"], "qps": ivf_q["qps"], "recall": ivf_q["recall"]},
        "ivf_equal_params_fewest_distances_at_target": ivf_eq and {"params": ivf_eq["params"], "distances": ivf_eq["distances_per_query"]},
    }
    if tt_info:
        out["train_plus_add_seconds"] = tt_info["train_seconds"] + tt_info["add_seconds"]
        out["overhead_bytes_per_vector"] = tt_info["overhead_bytes_per_vector"]
    return out


# --------------------------------------------------------------------------- run
def run(args) -> int:
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = set(methods) - {"tt", "exact", "ivf", "imi", "hnsw"}
    if unknown:
        raise ValueError(f"--methods must be a comma list of tt,exact,ivf,imi,hnsw; unknown: {sorted(unknown)}")
    if args.k < 1:
        raise ValueError(f"--k must be >= 1, got {args.k}")
    name, metric, base, queries = _load(args)
    if args.k > base.shape[0]:
        raise ValueError(f"--k must be at most the base size {base.shape[0]}, got {args.k}")
    mode_sizes = _parse_ints(args.mode_sizes, "--mode-sizes")
    ranks = _parse_ints(args.ranks, "--ranks")
    if mode_sizes is None:
        mode_sizes, default_ranks = default_config(base.shape[0])
        ranks = ranks or default_ranks
    elif ranks is None:
        ranks = tuple(32 for _ in mode_sizes[1:])
    if len(ranks) == 1 and len(mode_sizes) > 2:
        ranks = ranks * (len(mode_sizes) - 1)
    limiter, thread_msg = _pin_threads()
    quick = bool(args.quick)
    host_base, host_queries = base, queries
    if args.backend != "numpy":
        # The TT index and exact search run on the chosen backend; faiss and hnswlib stay on the host.
        xp = namespace_for(args.backend)
        base, queries = xp.asarray(base), xp.asarray(queries)
        _Clock.device_xp = xp if args.backend == "cupy" else None
        thread_msg += f"; TT index and exact search on backend {args.backend}"
    with limiter:
        print(f"tt-ref bench ann: {name} ({metric}), base {base.shape[0]} x {base.shape[1]}, {queries.shape[0]} queries, k={args.k}")
        print(thread_msg)
        print(f"machine: {platform.machine()} {platform.processor() or ''}, {os.cpu_count()} CPUs; QPS = one batch of all "
              "queries per second of process CPU time (one thread: robust to other load on the machine); "
              "'QPS wall' per wall-clock second; build s = CPU seconds")
        from .._backend._neighbors import nearest_neighbors

        gt = _Clock(lambda: nearest_neighbors(queries, base, args.k, check_values=False))
        gt_s, true_ids = gt.cpu, to_numpy(gt.out[1])
        rows = []
        tt_info = None
        lists_info = {}
        if "exact" in methods:
            rows += _bench_exact(base, queries, args.k, true_ids)
        if "tt" in methods:
            tt_rows, tt_info, tt_index = _bench_tt(base, queries, args.k, true_ids, args, mode_sizes, ranks, quick)
            rows += tt_rows
            if args.save_index:
                tt_index.save(args.save_index)
            print(
                f"TT index: mode sizes {tt_info['mode_sizes']}, ranks {tt_info['ranks']}, {tt_info['n_params']} parameters, "
                f"train {tt_info['train_seconds']:.1f} s + add {tt_info['add_seconds']:.1f} s ({tt_info['assign']} assignment), "
                f"{tt_info['empty_buckets']}/{tt_info['n_buckets']} empty buckets, expected bucket size "
                f"{tt_info['expected_bucket_size']:.1f}, {tt_info['overhead_bytes_per_vector']:.1f} bytes/vector beyond the raw vectors"
            )
        n_params = tt_info["n_params"] if tt_info else None
        if "ivf" in methods:
            usual = 2 ** int(round(math.log2(4 * math.sqrt(base.shape[0]))))
            nlists = [(max(1, round(n_params / base.shape[1])), "equal coarse params")] if n_params else []
            if not quick:
                nlists += [(usual, "4 sqrt(N)"), (max(16, usual // 4), "sqrt(N)")]
            else:
                nlists += [(max(4, usual // 4), "sqrt(N)")]
            rows += _bench_ivf(host_base, host_queries, args.k, true_ids, nlists, quick, args.train_size, args.seed,
                               lists_info)
        if "imi" in methods:
            bits = 4 if quick else max(4, min(10, int(round(math.log2(math.sqrt(base.shape[0]) / 2)))))
            rows += _bench_imi(host_base, host_queries, args.k, true_ids, bits, quick,
                               _train_sample(host_base, max(args.train_size, 39 * 2**bits), args.seed), lists_info)
        if "hnsw" in methods:
            rows += _bench_hnsw(host_base, host_queries, args.k, true_ids, quick)
    from ..search._evaluation import pareto_front

    ok = [r for r in rows if r["status"] == "ok"]
    front = pareto_front([r["recall"] for r in ok], [r["qps"] for r in ok])
    for row, mark in zip(ok, front):
        row["pareto"] = bool(mark)
    print()
    _print_table(rows, args.k)
    summary = _summary(rows, tt_info)
    print()
    print("targets (recall@%d >= %.2f):" % (args.k, summary["target_recall"]))
    for key, value in summary.items():
        if key != "target_recall":
            print(f"  {key}: {value}")
    if tt_info and "one_recall_at" in tt_info:
        print("bucket statistics and 1-recall@R (true nearest neighbour among the first R candidates):")
        b = tt_info["bucket_stats"]
        print(f"  TT index: {b['empty']}/{b['n_buckets']} empty, expected bucket size {b['expected_bucket_size']:.1f}, "
              f"1-recall@R {tt_info['one_recall_at']}")
        for name_, info_ in lists_info.items():
            print(f"  faiss {name_}: {info_['empty']}/{info_['n_buckets']} empty, expected bucket size "
                  f"{info_['expected_bucket_size']:.1f}, 1-recall@R {info_['one_recall_at']}")
        a = tt_info["assign_check"]
        print(f"  assignment on {a['n']} vectors: beam {a['beam_seconds']:.2f} s, exact {a['exact_seconds']:.2f} s, "
              f"same bucket for {100 * a['agreement']:.1f}%")
    payload = {
        "format": FORMAT, "version": VERSION, "data": name, "metric": metric, "n_base": int(base.shape[0]),
        "n_queries": int(queries.shape[0]), "dim": int(base.shape[1]), "k": args.k, "threads": 1,
        "thread_note": thread_msg, "machine": f"{platform.machine()} {platform.processor()}", "cpus": os.cpu_count(),
        "ground_truth_seconds": gt_s, "tt": tt_info, "faiss_lists": lists_info, "rows": rows, "summary": summary, "quick": quick,
    }
    if args.json:
        _write_json(args.json, payload)
        print(f"wrote {args.json}")
    if args.plot:
        _plot(rows, args.plot, f"{name}: base {base.shape[0]}, {queries.shape[0]} queries, 1 thread", args.k)
        print(f"wrote {args.plot}")
    return 0
