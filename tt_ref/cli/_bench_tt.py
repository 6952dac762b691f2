"""``tt-ref bench tt``: tt_svd, round, dot and norm against teneva and tensorly.

Same inputs for every library, errors computed exactly (dense, float64, on the host),
threads pinned to one (``threadpoolctl``) and said so. Prints a table with the ratio
``library seconds / tt_ref seconds`` per case; ``--json PATH`` writes the rows.
Ctrl-C stops after the case in progress: the finished rows are printed and written with
an ``interrupted`` mark, exit status 130. Results and their reading:
``docs/performance-tt.md``.
"""

from __future__ import annotations

import math
import os
import platform
import statistics
import time

import numpy as np

from .._backend import ArgumentValueError
from .._backend._io import save_figure
from ._common import INTERRUPTED_NOTE, InterruptWatch, add_backend_argument, check_outputs, pin_threads, \
    require_backend, write_json_output

FORMAT = "tt_ref.bench_tt"
VERSION = 1

# (name, shape, TT rank) for tt_svd: three reference cases (docs/performance-tt.md), and a small one for --quick.
SVD_CASES = (("(8,)*7 rank 16", (8,) * 7, 16), ("(4,)*10 rank 20", (4,) * 10, 20), ("(16,)*5 rank 32", (16,) * 5, 32))
SVD_CASES_QUICK = (("(4,)*5 rank 4", (4,) * 5, 4),)
ROUND_CASE = ("(12,)*6 rank 16+16 -> 16", (12,) * 6, 16)
ROUND_CASE_QUICK = ("(4,)*5 rank 3+3 -> 3", (4,) * 5, 3)
SVD_EPS = 1e-4
NOISE = 1e-6
# Seconds of looped calls per timing sample (run() sets 5 ms for --quick).
_SAMPLE_SECONDS = [0.05]


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "tt",
        help="time tt_svd, round, dot and norm against teneva and tensorly (ratio table)",
        description=(
            "Times tt_svd on three reference cases ((8,)*7 rank 16, (4,)*10 rank 20, (16,)*5 rank 32, "
            f"each plus {NOISE:g} relative noise, eps={SVD_EPS:g}), rounding of a rank-32 sum to rank 16, "
            "dot and norm, against teneva and tensorly where installed, on the same inputs. Threads are "
            "pinned to 1. Errors are exact (dense). ratio = library seconds / tt_ref seconds."
        ),
    )
    parser.add_argument("--json", metavar="PATH", default=None, help="write the rows as JSON to PATH")
    parser.add_argument("--repeat", type=int, default=5, help="timed repeats per row (median reported; default 5)")
    parser.add_argument("--quick", action="store_true", help="small cases, 1 repeat: a fast smoke run")
    add_backend_argument(parser, "tt_ref's side of the comparison")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random inputs (default 0)")
    parser.add_argument("--plot", metavar="PNG", default=None, help="also draw the seconds per case as a bar chart")
    parser.set_defaults(func=run)


# --------------------------------------------------------------------------- helpers
def _dense(cores) -> np.ndarray:
    """Full tensor of host cores ``(r, n, r')`` in float64 (reference only)."""
    out = np.asarray(cores[0], dtype=np.float64)
    for core in cores[1:]:
        out = np.tensordot(out, np.asarray(core, dtype=np.float64), axes=(-1, 0))
    return out.reshape(out.shape[1:-1])


def _clamped_ranks(shape, rank):
    d = len(shape)
    return [1] + [
        min(rank, math.prod(shape[: j + 1]), math.prod(shape[j + 1 :])) for j in range(d - 1)
    ] + [1]


def _random_cores(rng, shape, rank):
    ranks = _clamped_ranks(shape, rank)
    return [rng.standard_normal((ranks[j], n, ranks[j + 1])) / math.sqrt(ranks[j + 1]) for j, n in enumerate(shape)]


def _time(func, repeat: int, sync=lambda: None):
    """Median seconds per call over ``repeat`` samples, after one warm-up call.

    Fast calls are looped (timeit style: each sample runs ``number`` calls, about 50 ms
    in all) so timer resolution and one-off scheduler hiccups matter less on a shared
    machine. Returns ``(median seconds per call, last result)``.
    """
    result = func()
    sync()
    start = time.perf_counter()
    result = func()
    sync()
    single = time.perf_counter() - start
    number = max(1, min(1000, int(_SAMPLE_SECONDS[0] / max(single, 1e-9))))
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            result = func()
        sync()
        samples.append((time.perf_counter() - start) / number)
    return statistics.median(samples), result


def _rel(a: np.ndarray, ref: np.ndarray) -> float:
    denom = float(np.linalg.norm(ref))
    return float(np.linalg.norm(a - ref)) / (denom if denom > 0 else 1.0)


def _row(case, library, seconds=None, rel_error=None, ranks=None, status="ok", note=""):
    return {
        "case": case,
        "library": library,
        "seconds": seconds,
        "rel_error": rel_error,
        "ranks": list(ranks) if ranks is not None else None,
        "ratio": None,
        "status": status,
        "note": note,
    }


def _skipped(case, library, why):
    return _row(case, library, status="skipped", note=why)


def _import(name):
    try:
        return __import__(name, fromlist=["_"])
    except ImportError:
        return None


# --------------------------------------------------------------------------- cases
def _bench_svd(case, shape, rank, rng, repeat, xp, sync, teneva, tensorly_tt):
    from .. import _backend
    from ..tt._svd import tt_svd

    x = _dense(_random_cores(rng, shape, rank))
    x /= np.linalg.norm(x)
    noise = rng.standard_normal(x.shape)
    x = x + NOISE * noise / np.linalg.norm(noise)
    x_norm = float(np.linalg.norm(x))
    d = len(shape)
    rows = []
    x_xp = _backend.from_numpy(x, xp)
    seconds, tt = _time(lambda: tt_svd(x_xp, eps=SVD_EPS), repeat, sync)
    host = [_backend.to_numpy(c) for c in tt.cores]
    rows.append(_row(case, "tt_ref", seconds, _rel(_dense(host), x), tt.ranks))
    if teneva is None:
        rows.append(_skipped(case, "teneva", "teneva not installed"))
    else:
        # teneva.svd's e is the absolute per-step threshold: give it tt_ref's.
        delta = SVD_EPS / math.sqrt(d - 1) * x_norm
        seconds, cores = _time(lambda: teneva.svd(x, e=delta), repeat)
        ranks = [1] + [int(c.shape[2]) for c in cores]
        rows.append(_row(case, "teneva", seconds, _rel(_dense(cores), x), ranks, note="teneva.svd, same delta"))
    if tensorly_tt is None:
        rows.append(_skipped(case, "tensorly", "tensorly not installed"))
    else:
        ranks = list(tt.ranks)
        seconds, result = _time(lambda: tensorly_tt(x, rank=ranks), repeat)
        cores = [np.asarray(f) for f in result.factors]
        rows.append(_row(case, "tensorly", seconds, _rel(_dense(cores), x), [1] + [c.shape[2] for c in cores],
                         note="tensor_train with tt_ref's ranks"))
    return rows


def _bench_round_dot_norm(case, shape, rank, rng, repeat, xp, sync, teneva):
    from .. import _backend
    from ..tt._rounding import round as tt_round
    from ..tt._tensor_train import TensorTrain

    cores_a = _random_cores(rng, shape, rank)
    cores_b = _random_cores(rng, shape, rank)
    # The sum a + b as block cores (host, once): ranks 2 * rank.
    d = len(shape)
    sum_cores = []
    for j, (ga, gb) in enumerate(zip(cores_a, cores_b)):
        if j == 0:
            sum_cores.append(np.concatenate([ga, gb], axis=2))
        elif j == d - 1:
            sum_cores.append(np.concatenate([ga, gb], axis=0))
        else:
            top = np.concatenate([ga, np.zeros((ga.shape[0], ga.shape[1], gb.shape[2]))], axis=2)
            bottom = np.concatenate([np.zeros((gb.shape[0], gb.shape[1], ga.shape[2])), gb], axis=2)
            sum_cores.append(np.concatenate([top, bottom], axis=0))
    dense_sum = _dense(sum_cores)
    rows = []
    sum_tt = TensorTrain([_backend.from_numpy(c, xp) for c in sum_cores])
    seconds, rounded = _time(lambda: tt_round(sum_tt, max_rank=rank), repeat, sync)
    host = [_backend.to_numpy(c) for c in rounded.cores]
    round_case = f"round {case}"
    rows.append(_row(round_case, "tt_ref", seconds, _rel(_dense(host), dense_sum), rounded.ranks))
    if teneva is None:
        rows.append(_skipped(round_case, "teneva", "teneva not installed"))
    else:
        seconds, cores = _time(lambda: teneva.truncate(sum_cores, e=1e-14, r=rank), repeat)
        rows.append(_row(round_case, "teneva", seconds, _rel(_dense(cores), dense_sum),
                         [1] + [int(c.shape[2]) for c in cores], note="teneva.truncate"))
    rows.append(_skipped(round_case, "tensorly", "tensorly has no TT rounding"))

    arithmetic = _import("tt_ref.tt._arithmetic")
    dense_a, dense_b = _dense(cores_a), _dense(cores_b)
    a_tt = TensorTrain([_backend.from_numpy(c, xp) for c in cores_a])
    b_tt = TensorTrain([_backend.from_numpy(c, xp) for c in cores_b])
    ref_dot = float(np.vdot(dense_a, dense_b))
    ref_norm = float(np.linalg.norm(dense_a))
    shape_label = f"{shape[0]},)*{len(shape)} rank {rank}"
    for op, ref in (("dot", ref_dot), ("norm", ref_norm)):
        op_case = f"{op} ({shape_label}"
        if arithmetic is None or not hasattr(arithmetic, op):
            rows.append(_skipped(op_case, "tt_ref", f"tt_ref.tt._arithmetic.{op} not available"))
        else:
            func = getattr(arithmetic, op)
            call = (lambda: func(a_tt, b_tt)) if op == "dot" else (lambda: func(a_tt))
            seconds, value = _time(call, repeat, sync)
            rows.append(_row(op_case, "tt_ref", seconds, abs(value - ref) / abs(ref), a_tt.ranks))
        if teneva is None:
            rows.append(_skipped(op_case, "teneva", "teneva not installed"))
        else:
            tfunc = (lambda: teneva.mul_scalar(cores_a, cores_b)) if op == "dot" else (lambda: teneva.norm(cores_a))
            seconds, value = _time(tfunc, repeat)
            rows.append(_row(op_case, "teneva", seconds, abs(float(value) - ref) / abs(ref),
                             [1] + [int(c.shape[2]) for c in cores_a], note=f"teneva.{'mul_scalar' if op == 'dot' else 'norm'}"))
        rows.append(_skipped(op_case, "tensorly", f"tensorly has no TT {op} on cores"))
    return rows


def _add_ratios(rows) -> None:
    base = {r["case"]: r["seconds"] for r in rows if r["library"] == "tt_ref" and r["status"] == "ok"}
    for r in rows:
        if r["status"] == "ok" and base.get(r["case"]):
            r["ratio"] = r["seconds"] / base[r["case"]]


_TABLE_COLUMNS = ("case", "library", "seconds", "rel_error", "ranks", "ratio")
_TABLE_HEADERS = ("case", "library", "seconds", "rel. error", "ranks", "ratio")


def _table_rows(rows) -> list[dict]:
    """Rows as the table shows them: skipped rows say why, long rank lists are shortened."""
    shown = []
    for r in rows:
        if r["status"] != "ok":
            shown.append({"case": r["case"], "library": r["library"], "seconds": "skipped", "ranks": r["note"]})
            continue
        ranks = r["ranks"] or []
        shown.append({
            "case": r["case"], "library": r["library"], "seconds": f"{r['seconds']:.4g}",
            "rel_error": f"{r['rel_error']:.3e}",
            "ranks": "max " + str(max(ranks)) if len(ranks) > 6 else ",".join(map(str, ranks)),
            "ratio": f"{r['ratio']:.2f}" if r["ratio"] is not None else "",
        })
    return shown


def _plot(rows, path: str) -> None:
    """Bar chart of seconds per case and library (log scale), written atomically."""
    from ._report import new_figure

    cases = list(dict.fromkeys(r["case"] for r in rows))
    libraries = list(dict.fromkeys(r["library"] for r in rows))
    width = 0.8 / len(libraries)
    fig, axes = new_figure(figsize=(10, 4.5))
    ax = axes[0, 0]
    for i, lib in enumerate(libraries):
        xs, ys = [], []
        for j, case in enumerate(cases):
            row = next((r for r in rows if r["case"] == case and r["library"] == lib and r["status"] == "ok"), None)
            if row is not None:
                xs.append(j + (i - (len(libraries) - 1) / 2) * width)
                ys.append(row["seconds"])
        ax.bar(xs, ys, width=width, label=lib)
    ax.set_yscale("log")
    ax.set_ylabel("seconds (median, 1 thread)")
    ax.set_xticks(range(len(cases)))
    ax.set_xticklabels(cases, rotation=20, ha="right", fontsize=8)
    ax.set_title("tt-ref bench tt: lower is faster")
    ax.legend()
    fig.tight_layout()
    save_figure(fig, path)


def run(args) -> int:
    from ._report import format_table

    if args.repeat < 1:
        raise ArgumentValueError(f"--repeat must be >= 1, got {args.repeat}")
    if args.seed < 0:
        raise ArgumentValueError(f"--seed must be >= 0, got {args.seed}")
    repeat = 1 if args.quick else args.repeat
    _SAMPLE_SECONDS[0] = 0.005 if args.quick else 0.05
    check_outputs(json=args.json, plot=args.plot)
    xp = require_backend(args.backend)
    teneva = _import("teneva")
    tensorly_dec = _import("tensorly.decomposition")
    tensorly_tt = getattr(tensorly_dec, "tensor_train", None) if tensorly_dec is not None else None
    rows = []
    with pin_threads(1) as message, InterruptWatch() as watch:
        print(message)
        print(f"tt_ref backend: {args.backend}; repeats: {repeat} (median); seed: {args.seed}")
        try:
            _run_cases(args, xp, repeat, teneva, tensorly_tt, rows, watch)
        except KeyboardInterrupt:
            watch.stop()
    _add_ratios(rows)
    print(format_table(_table_rows(rows), _TABLE_COLUMNS, _TABLE_HEADERS))
    print("ratio = library seconds / tt_ref seconds (above 1: tt_ref is faster); errors are exact (dense).")
    if watch.requested:
        print(INTERRUPTED_NOTE)
    if args.json:
        payload = {
            "format": FORMAT,
            "version": VERSION,
            "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count(), "threads": message},
            "backend": args.backend,
            "repeat": repeat,
            "quick": bool(args.quick),
            "rows": rows,
        }
        write_json_output(args.json, payload, interrupted=watch.requested)
        print(f"wrote {len(rows)} rows to {args.json}")
    if args.plot and rows:
        _plot(rows, args.plot)
        print(f"wrote the chart to {args.plot}")
    return watch.exit_code


def _run_cases(args, xp, repeat, teneva, tensorly_tt, rows, watch) -> None:
    """Append each case's rows to ``rows`` (kept when Ctrl-C stops the run)."""
    from .. import _backend

    sync = lambda: _backend.synchronize(xp)  # noqa: E731
    rng = np.random.default_rng(args.seed)
    for case, shape, rank in SVD_CASES_QUICK if args.quick else SVD_CASES:
        rows += _bench_svd(f"tt_svd {case}", shape, rank, rng, repeat, xp, sync, teneva, tensorly_tt)
        watch.checkpoint()
    name, shape, rank = ROUND_CASE_QUICK if args.quick else ROUND_CASE
    rows += _bench_round_dot_norm(name, shape, rank, rng, repeat, xp, sync, teneva)
