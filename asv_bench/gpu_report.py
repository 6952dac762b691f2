"""One-run GPU measurements behind docs/performance-gpu.md, beside the NumPy 2-core baseline.

Run by ``asv_bench/gpu_session.sh`` (which also runs the test suite first), or alone
from the repository root::

    python asv_bench/gpu_report.py --backends numpy,cupy --glove .gpu/glove50_f16.npy \\
        --cpu-baseline docs/data/gpu-baseline-numpy-2core.json --json gpu.json --summary summary.md

Measures, on every backend of ``--backends`` (the reference first, the device last),
the device synchronised before every timer stops:

* ``tt_svd`` at the sizes of ``tt-ref bench tt`` plus a (16,)*6 case, and ``round``;
* point-cloud fitting steps per second on GloVe-50 at the 1% parameter budget;
* on the last backend: exact search by chunked GEMM (the brute-force reference) and the
  TT index with ``--n-queries`` batched queries over a sweep of search budgets, recall@10
  and QPS;
* ``--parts profile``: one fit step and one batched search under cProfile (top functions
  by own time, calls into the array library: about the kernel launches on a GPU), their
  host reads counted on array_api_strict, and on CuPy ``cupyx.profiler`` CPU and GPU time.

``--cpu-baseline`` is a JSON file of an earlier ``--backends numpy`` run on the 2-core
reference machine; every row is then also compared with it, and ``--summary`` writes the
targets of docs/performance-gpu.md as a table: fit >= 20x and ``tt_svd`` >= 10x the
baseline, the TT index >= 100,000 QPS at recall@10 >= 0.9 and faster than brute force
in the same run. The JSON file is rewritten after every row, so a run cut short keeps
what it measured.
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
import traceback

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
try:
    import tt_ref  # noqa: F401
except ImportError:  # run from a checkout without installing: use the checkout's package
    sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

from benchmarks._common import make_index  # noqa: E402

TARGETS = {"fit": 20.0, "tt_svd": 10.0, "qps": 100_000.0, "recall": 0.9}
TT_CASES = [((8,) * 7, 16), ((4,) * 10, 20), ((16,) * 5, 32), ((16,) * 6, 16)]
SWEEP = [{"n_candidates": c} for c in (2000, 4000, 8000, 16000)] + [{"n_probe": p} for p in (64, 256)]


class Report:
    """Rows measured so far, written to ``path`` after each one."""

    def __init__(self, path, environment):
        self.path, self.environment, self.rows, self.ratios = path, environment, [], []

    def add(self, row):
        self.rows.append(row)
        print(json.dumps(row), flush=True)
        self.save()

    def save(self):
        if self.path:
            with open(self.path, "w") as f:
                json.dump({"environment": self.environment, "rows": self.rows,
                           "ratios_vs_cpu_baseline": self.ratios}, f, indent=1)


def _timeit(fn, sync, repeat=3):
    """Median of ``repeat`` timed calls after one warm-up (kernel compilation, plan caches)."""
    fn()
    sync()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def _sync(xp):
    from tt_ref._backend import synchronize

    return lambda: synchronize(xp)


def _tensor_with_ranks(shape, rank, seed, noise=1e-6):
    import tt_ref

    x = np.asarray(tt_ref.full(tt_ref.random_tt(shape, rank, seed=seed)))
    rng = np.random.default_rng(seed + 1)
    return x + noise * np.linalg.norm(x) / np.sqrt(x.size) * rng.standard_normal(x.shape)


def bench_tt(report, quick, backends):
    import tt_ref

    for shape, rank in TT_CASES[:1] if quick else TT_CASES:
        host = _tensor_with_ranks(shape, rank, seed=0)
        per_backend = {}
        for backend in backends:
            xp = tt_ref.namespace_for(backend)
            x = xp.asarray(host)
            t = _timeit(lambda: tt_ref.tt_svd(x, eps=1e-4), _sync(xp))
            tt, err = tt_ref.tt_svd(x, eps=1e-4, return_error=True)
            s = tt_ref.add(tt, tt)
            t_round = _timeit(lambda: tt_ref.round(s, max_rank=rank), _sync(xp))
            per_backend[backend] = (t, t_round, err, tuple(tt.ranks))
        first, last = backends[0], backends[-1]
        row = {"case": f"tt_svd {shape[0]}^{len(shape)} rank {rank}"}
        for backend, (t, t_round, err, _) in per_backend.items():
            row.update({f"{backend}_s": t, f"round_{backend}_s": t_round, f"rel_error_{backend}": err})
        row["speedup"] = per_backend[first][0] / per_backend[last][0]
        row["round_speedup"] = per_backend[first][1] / per_backend[last][1]
        row["ranks_equal"] = len({v[3] for v in per_backend.values()}) == 1
        report.add(row)


def load_vectors(path):
    """Rows L2-normalised, float32, C order (GloVe-50 from its package when no path is given)."""
    if path:
        X = np.load(path).astype(np.float32)
    else:
        import tt_ref

        X = tt_ref.load_dataset("glove50").X
    X /= np.linalg.norm(X, axis=1, keepdims=True) + 1e-12
    # A .npy written from a transposed array is in Fortran order, which slows row gathers.
    return np.ascontiguousarray(X)


def bench_fit(report, X, quick, backends):
    import tt_ref

    n, dim = X.shape
    mode_sizes, ranks = tt_ref.config_for_budget(dim, int(0.01 * n * dim), n_data=n)
    steps = 20 if quick else 200
    for backend in reversed(backends):
        xp = tt_ref.namespace_for(backend)
        Xd = xp.asarray(X)
        fit = lambda n_steps: tt_ref.fit_point_cloud(Xd, mode_sizes, ranks, steps=n_steps,  # noqa: E731
                                                     init="random", progress=False, seed=0)
        fit(5)
        _sync(xp)()
        runs = []
        for _ in range(1 if quick else 3):  # best of three: the machine may be shared
            start = time.perf_counter()
            result = fit(steps)
            _sync(xp)()
            runs.append(steps / (time.perf_counter() - start))
        report.add({"case": f"fit GloVe-50 1% budget {mode_sizes} {ranks}", "backend": backend,
                    "steps": steps, "steps_per_s": max(runs), "steps_per_s_runs": runs,
                    "final_loss": result.history["loss"][-1]})


def bench_ann(report, X, quick, mode_sizes, ranks, backend, n_queries):
    import tt_ref
    from tt_ref._backend import to_numpy

    xp = tt_ref.namespace_for(backend)
    sync = _sync(xp)
    base, queries = X[:-n_queries], X[-n_queries:]
    Bd, Qd = xp.asarray(base), xp.asarray(queries)
    # Brute force on the device: chunked GEMM + top-k, the reference the index must beat.
    tt_ref.nearest_neighbors(Qd[:100, :], Bd, 10)
    sync()
    start = time.perf_counter()
    _, true_ids = tt_ref.nearest_neighbors(Qd, Bd, 10, check_values=False)
    sync()
    report.add({"case": f"exact search {backend} GEMM GloVe-50", "queries": n_queries,
                "qps": n_queries / (time.perf_counter() - start)})
    true_ids = to_numpy(true_ids)

    start = time.perf_counter()
    index = make_index(X.shape[1], mode_sizes, ranks, {"steps": 20 if quick else 300, "progress": False},
                       metric="l2", train_size=100_000)
    index.train(Bd)
    index.add(Bd)
    sync()
    build_s = time.perf_counter() - start
    beam = 64
    for budget in SWEEP:
        index.search(Qd[:100, :], 10, beam=beam, **budget)
        sync()
        start = time.perf_counter()
        _, ids = index.search(Qd, 10, beam=beam, **budget)
        sync()
        seconds = time.perf_counter() - start
        label = " ".join(f"{key}={value}" for key, value in budget.items())
        report.add({"case": f"TTIndex {backend} {mode_sizes} {ranks} beam={beam} {label}", "budget": label,
                    "queries": n_queries,
                    "recall@10": tt_ref.recall_at_k(to_numpy(ids), true_ids), "qps": n_queries / seconds,
                    "build_s": build_s,
                    "distance_computations": index.last_search_stats.get("distance_computations_per_query")})


def _strict_counts(fn):
    """Host reads and array operations (about one kernel launch each) of ``fn`` on array_api_strict."""
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
    return {"host_reads": counter["reads"], "array_operations": operations[0],
            "array_operations_not_0d": operations[1]}


def _profile_row(report, name, fn, sync, backend, top=12):
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
        row.update(_strict_counts(fn))
    if backend == "cupy":
        from cupyx.profiler import benchmark

        result = benchmark(fn, n_repeat=20, n_warmup=2)
        row["cupyx_cpu_ms"] = float(np.mean(result.cpu_times)) * 1e3
        row["cupyx_gpu_ms"] = float(np.mean(result.gpu_times)) * 1e3
    report.add(row)


def bench_profile(report, X, backend, mode_sizes, ranks, n_queries):
    """Profiles of 20 fit steps (GloVe-50 1% configuration) and one batched search."""
    import tt_ref

    xp = tt_ref.namespace_for(backend)
    n, dim = X.shape
    fit_modes, fit_ranks = tt_ref.config_for_budget(dim, int(0.01 * n * dim), n_data=n)
    Xd = xp.asarray(X)

    def fit():
        tt_ref.fit_point_cloud(Xd, fit_modes, fit_ranks, steps=20, init="random", progress=False, seed=0)

    _profile_row(report, f"fit 20 steps {fit_modes} {fit_ranks} batch 1024", fit, _sync(xp), backend)
    base, queries = xp.asarray(X[:-n_queries]), xp.asarray(X[-n_queries:])
    cloud = tt_ref.TTPointCloud.random(dim, mode_sizes, ranks, seed=0, dtype="float32", backend=backend)
    index = tt_ref.TTIndex.from_point_cloud(cloud)
    index.add(base)

    def search():
        index.search(queries, 10, beam=64, n_candidates=8000)

    _profile_row(report, f"search {n_queries} queries {mode_sizes} {ranks} beam 64 8000 candidates", search,
                 _sync(xp), backend)


# --------------------------------------------------------------------------- against the baseline
def ratios(rows, baseline, backends):
    """Speed-ups of this run's rows against the matching NumPy rows of a baseline run.

    Rows match by case name with the backend's name replaced by "numpy" (the TT index
    and exact-search rows carry it); fit rows match by case and compare each backend.
    """
    base_rows = {row["case"]: row for row in baseline["rows"]}
    others = [b for b in backends if b != "numpy"]
    out_rows = []
    for row in rows:
        case = row["case"]
        for backend in others:
            case = case.replace(f" {backend} ", " numpy ")
        ref = base_rows.get(case)
        if ref is None:
            continue
        label = row.get("backend") or next((b for b in others if f" {b} " in row["case"]),
                                           others[-1] if others else "numpy")
        out = {"case": row["case"], "backend": label, "baseline": baseline["environment"].get("machine", "")}
        for key in ("steps_per_s", "qps"):
            if key in row and key in ref:
                out[f"{key}_ratio"] = row[key] / ref[key]
        for backend in others:
            for prefix in ("", "round_"):
                if f"{prefix}{backend}_s" in row and f"{prefix}numpy_s" in ref:
                    out[f"{prefix}{backend}_speedup"] = ref[f"{prefix}numpy_s"] / row[f"{prefix}{backend}_s"]
        if len(out) > 3:
            out_rows.append(out)
            print(json.dumps(out), flush=True)
    return out_rows


def _fmt(value, digits=3, suffix=""):
    if value is None:
        return "n/a"
    return (f"{value:,.{digits}g}" if abs(value) < 1000 else f"{value:,.0f}") + suffix


def _verdict(ok):
    return "n/a" if ok is None else "**met**" if ok else "**not met**"


def summary_table(rows, baseline, device):
    """The targets as a markdown table: this run's device figures beside the baseline's."""
    base_rows = {row["case"]: row for row in (baseline or {}).get("rows", [])}
    lines = ["| figure | baseline (NumPy, 2 cores) | this run | ratio | target | verdict |",
             "|---|---:|---:|---:|---|---|"]
    fit = next((r for r in rows if r["case"].startswith("fit ") and r.get("backend") == device), None)
    if fit:
        ref = base_rows.get(fit["case"], {}).get("steps_per_s")
        ratio = fit["steps_per_s"] / ref if ref else None
        ok = None if ratio is None else ratio >= TARGETS["fit"]
        lines.append(f"| fit steps/s ({fit['case'][4:]}) | {_fmt(ref)} | {_fmt(fit['steps_per_s'])} | "
                     f"{_fmt(ratio, suffix='x')} | >= {TARGETS['fit']:g}x | {_verdict(ok)} |")
    for row in (r for r in rows if r["case"].startswith("tt_svd ")):
        ref = base_rows.get(row["case"], {})
        for prefix, what in (("", "tt_svd"), ("round_", "round")):
            t, t_ref = row.get(f"{prefix}{device}_s"), ref.get(f"{prefix}numpy_s")
            ratio = t_ref / t if t and t_ref else None
            target = TARGETS["tt_svd"] if what == "tt_svd" and "16^6" in row["case"] else None
            ok = None if target is None or ratio is None else ratio >= target
            lines.append(f"| {what} {row['case'][7:]} (ms) | {_fmt(t_ref and 1e3 * t_ref)} | {_fmt(t and 1e3 * t)} | "
                         f"{_fmt(ratio, suffix='x')} | {f'>= {target:g}x' if target else ''} | {_verdict(ok) if target else ''} |")
    exact = next((r for r in rows if r["case"].startswith(f"exact search {device} ")), None)
    if exact:
        ref = base_rows.get(exact["case"].replace(f" {device} ", " numpy "), {}).get("qps")
        lines.append(f"| brute-force search QPS (same run) | {_fmt(ref)} | {_fmt(exact['qps'])} | "
                     f"{_fmt(exact['qps'] / ref if ref else None, suffix='x')} | the reference | |")
    index_rows = [r for r in rows if r["case"].startswith(f"TTIndex {device} ")]
    good = [r for r in index_rows if r["recall@10"] >= TARGETS["recall"]]
    if index_rows:
        best = max(good, key=lambda r: r["qps"]) if good else None
        base_good = [r for r in base_rows.values() if r["case"].startswith("TTIndex numpy ")
                     and r.get("recall@10", 0) >= TARGETS["recall"]]
        ref = max((r["qps"] for r in base_good), default=None)
        qps = best["qps"] if best else None
        ok = None if best is None else qps >= TARGETS["qps"] and (exact is None or qps > exact["qps"])
        where = f"{best.get('budget', '')}, recall@10 {best['recall@10']:.3f}" if best else "no budget reached it"
        lines.append(f"| TT index QPS at recall@10 >= {TARGETS['recall']} ({where}) | {_fmt(ref)} | {_fmt(qps)} | "
                     f"{_fmt(qps / ref if qps and ref else None, suffix='x')} | "
                     f">= {TARGETS['qps']:,.0f} and > brute force | {_verdict(False if best is None else ok)} |")
    return "\n".join(lines) + "\n"


def environment(backends):
    import array_api_compat

    env = {"numpy": np.__version__, "array_api_compat": array_api_compat.__version__,
           "python": platform.python_version(), "cpu_threads": os.cpu_count(),
           "machine": f"{platform.machine()} {_cpu_model()} {os.cpu_count()} CPUs", "backends": backends}
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
    return env


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", default=None, help="rows as JSON (rewritten after every row)")
    parser.add_argument("--summary", default=None, help="the targets as a markdown table")
    parser.add_argument("--glove", default=None, help="GloVe-50 .npy, float16 or float32 (default: its package)")
    parser.add_argument("--quick", action="store_true", help="one tt_svd case, 20 fit steps, one fit run")
    parser.add_argument("--parts", default="tt,fit,ann", help="comma list of tt, fit, ann, profile")
    parser.add_argument("--mode-sizes", type=int, nargs="+", default=[256, 64],
                        help="TT index mode sizes (default: those of docs/results-ann.md)")
    parser.add_argument("--ranks", type=int, nargs="+", default=[32])
    parser.add_argument("--n-queries", type=int, default=10_000, help="the last rows, searched in one batch")
    parser.add_argument("--cpu-baseline", default=None,
                        help="JSON of an earlier --backends numpy run on the reference CPU machine")
    parser.add_argument("--backends", default="numpy,cupy",
                        help="comma list, reference first (default numpy,cupy); search runs on the last")
    args = parser.parse_args(argv)
    backends = [b for b in args.backends.split(",") if b]
    report = Report(args.json, environment(backends))
    print(json.dumps(report.environment), flush=True)
    parts = args.parts.split(",")
    mode_sizes, ranks = tuple(args.mode_sizes), tuple(args.ranks)
    baseline = None
    if args.cpu_baseline:
        with open(args.cpu_baseline) as f:
            baseline = json.load(f)
    failed = []

    def part(name, fn, *fn_args):
        # One part failing (a CuPy bug, say) must not cost the GPU window the other parts.
        try:
            fn(report, *fn_args)
        except Exception as error:  # noqa: BLE001  (reported, and the exit status says so)
            failed.append(name)
            report.add({"case": f"error in {name}", "error": f"{type(error).__name__}: {error}",
                        "traceback": traceback.format_exc(limit=8)})
            print(traceback.format_exc(), file=sys.stderr, flush=True)

    try:
        if "tt" in parts:
            part("tt", bench_tt, args.quick, backends)
        if {"fit", "ann", "profile"} & set(parts):
            X = load_vectors(args.glove)
            if "fit" in parts:
                part("fit", bench_fit, X, args.quick, backends)
            if "ann" in parts:
                part("ann", bench_ann, X, args.quick, mode_sizes, ranks, backends[-1], args.n_queries)
            if "profile" in parts:
                part("profile", bench_profile, X, backends[-1], mode_sizes, ranks, args.n_queries)
    finally:
        if baseline is not None:
            report.ratios = ratios(report.rows, baseline, backends)
        report.save()
        if args.summary:
            with open(args.summary, "w") as f:
                f.write(summary_table(report.rows, baseline, backends[-1]))
                if failed:
                    f.write(f"\nParts that failed (see the JSON's error rows): {', '.join(failed)}.\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
