"""``tt-ref demo``: the whole method on scikit-learn's digits, with a Markdown report.

1. Compression: a TT point cloud and the baselines (TT-SVD, k-means, coreset, random)
   at one parameter budget, compared by sliced Wasserstein distance, coverage and
   inverse errors against held-out data (``tt_ref.cloud._quality``).
2. Search: a ``TTIndex`` over the training digits; recall@10 and queries per second
   against exact search, for a few candidate-list sizes (``tt_ref.search._evaluation``).
3. Anomaly detection: digits 0-4 normal vs 5-9, memory banks at 10x and 100x
   compression (``tt_ref.ood``).

Writes ``report.md``, ``results.json`` and PNG plots into ``--out`` (default
``./tt-ref-report``). About 30 s on one CPU core (``--quick``: a few seconds).
Ctrl-C stops the demo after the step in progress: the finished sections are printed,
the report and the JSON are written with an ``interrupted`` mark, exit status 130.
"""

from __future__ import annotations

import time
from pathlib import Path

from .._backend import ArgumentValueError
from ._common import INTERRUPTED_NOTE, InterruptWatch, add_backend_argument, check_outputs, mark_interrupted, \
    pin_threads, require_backend, require_matplotlib, write_json_output

_DESCRIPTION = """\
Run the method end to end on scikit-learn's handwritten digits (1797 x 64, ships with
scikit-learn): compress with a TT point cloud and the baselines at the same parameter
budget, search with a TT index, detect anomalies with compressed memory banks, and
write a short Markdown report with plots."""

# Settings of the full run and of --quick (the reduced run the tests use).
_SETTINGS = {
    "full": {"fit_steps": 400, "index_steps": 300, "ood_steps": 300, "ood_compressions": (10, 100),
             "n_candidates": (20, 50, 100, 200, 400), "compression": 10, "batch_size": 512},
    "quick": {"fit_steps": 25, "index_steps": 20, "ood_steps": 20, "ood_compressions": (100,),
              "n_candidates": (50, 200), "compression": 10, "batch_size": 128},
}
_N_TEST = 297  # held out for quality, queries and (split inside) the OOD protocol


def register(subparsers) -> None:
    import argparse

    parser = subparsers.add_parser(
        "demo",
        help="run the method on scikit-learn digits and write a report (start here)",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", default="tt-ref-report", help="folder for the report (default: ./tt-ref-report)")
    add_backend_argument(parser, "every step of the demo")
    parser.add_argument("--quick", action="store_true", help="a reduced run (few optimisation steps) in seconds")
    parser.add_argument("--seed", type=int, default=0, help="seed of every random choice (default: 0)")
    parser.add_argument("--blas-threads", type=int, default=1,
                        help="BLAS threads (default: 1; the demo's matrix products are small, and on a busy "
                             "machine one thread was 4x faster than two)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.set_defaults(func=run)


def _say(text: str) -> None:
    print(text, flush=True)


def run(args) -> int:
    if not 1 <= args.blas_threads <= 1024:
        raise ArgumentValueError(f"--blas-threads must be in [1, 1024], got {args.blas_threads}")
    if args.seed < 0:
        raise ArgumentValueError(f"--seed must be >= 0, got {args.seed}")
    check_outputs(out=(args.out, "folder", None))
    require_matplotlib("demo (its report has plots)")
    require_backend(args.backend)
    with pin_threads(args.blas_threads):
        return _run(args)


# (key in results.json, heading printed, columns, headers) of the three sections' tables.
_TABLES = (
    ("compression", "[1/3] compression at an equal parameter budget",
     ["method", "n_params", "n_points", "sw", "coverage", "inverse", "seconds"],
     ["method", "params", "points", "SW_2", "coverage", "inverse", "fit s"]),
    ("index", "[2/3] TT index vs exact search (k = 10)",
     ["n_candidates", "recall_at_10", "qps", "speedup"], ["candidates", "recall@10", "QPS", "x exact"]),
    ("ood", "[3/3] anomaly detection, digits 0-4 normal vs 5-9", None, None),
)


def _run(args) -> int:
    from .._backend import backend_name, from_numpy, namespace_for
    from ..datasets._datasets import load_dataset, train_test_split
    from ._report import Report

    settings = _SETTINGS["quick" if args.quick else "full"]
    progress = not args.no_progress
    out = Path(args.out)
    started = time.perf_counter()

    dataset = load_dataset("digits")
    xp = namespace_for(args.backend)
    dtype = "float32" if args.backend == "cupy" else "float64"
    train_idx, test_idx = train_test_split(dataset.n, _N_TEST, seed=args.seed)
    X_train = from_numpy(dataset.X[train_idx], xp, dtype=dtype)
    X_test = from_numpy(dataset.X[test_idx], xp, dtype=dtype)
    out.mkdir(parents=True, exist_ok=True)
    report = Report(out, "tt-ref demo report")
    report.paragraph(
        f"Data: scikit-learn handwritten digits, {dataset.n} vectors of dimension {dataset.dim} "
        f"(pixel values 0-16); {len(train_idx)} used for fitting, {len(test_idx)} held out. "
        f"Backend `{backend_name(xp)}`, dtype {dtype}, seed {args.seed}"
        f"{', reduced run (`--quick`): few optimisation steps, numbers are rough' if args.quick else ''}."
    )
    results = {"backend": backend_name(xp), "quick": bool(args.quick), "seed": args.seed}
    sections = (
        lambda watch: _compression_section(X_train, X_test, settings, args.seed, progress, report, out, watch),
        lambda watch: _index_section(X_train, X_test, settings, args.seed, progress, report, out, watch),
        lambda watch: _ood_section(dataset, settings, args.seed, progress, report, out, xp, dtype, watch),
    )
    with InterruptWatch() as watch:
        _say(f"tt-ref demo: digits {dataset.n} x {dataset.dim} ({len(train_idx)} train, {len(test_idx)} held out), "
             f"backend {backend_name(xp)}{', quick' if args.quick else ''}; report in {out}/")
        try:
            for (key, heading, columns, headers), section in zip(_TABLES, sections):
                results[key] = section(watch)
                _print_section(results[key], key, heading, columns, headers)
                watch.checkpoint()
        except KeyboardInterrupt:
            watch.stop()
    if watch.requested:
        _say(f"\n{INTERRUPTED_NOTE}")
        report.paragraph(f"**{INTERRUPTED_NOTE}.** Sections missing below were not run.", at_top=True)
    seconds = time.perf_counter() - started
    results["seconds"] = seconds
    report.heading("Reproduce", 2)
    report.paragraph(
        f"`tt-ref demo --out {out} --backend {args.backend} --seed {args.seed}{' --quick' if args.quick else ''}` "
        f"({seconds:.0f} s here). The documentation (docs/index.md) explains every number."
    )
    write_json_output(out / "results.json", results, interrupted=watch.requested)
    path = report.write()
    _say(f"\nwrote {path} ({seconds:.1f} s{', interrupted' if watch.requested else ''})")
    return watch.exit_code


def _print_section(result, key, heading, columns, headers) -> None:
    from ._report import OOD_COLUMNS, format_table, ood_table_rows

    _say("\n" + heading)
    if key == "compression":
        _say(format_table(mark_interrupted(result), columns, headers))
    elif key == "index":
        _say(format_table(result["rows"], columns, headers))
    else:
        _say(format_table(ood_table_rows(result["summary"]), [c for c, _ in OOD_COLUMNS], [h for _, h in OOD_COLUMNS]))
        for note in result["notes"]:
            _say(f"note: {note}")


# --------------------------------------------------------------------------- sections
def _compression_section(X_train, X_test, settings, seed, progress, report, out, watch):
    from ..cloud._baselines import METHODS, run_method
    from ..cloud._quality import coverage_error, inverse_error, sliced_wasserstein_distance
    from ._report import plot_bars

    n, dim = X_train.shape
    compression = settings["compression"]
    budget = n * dim // compression
    rows = []
    try:  # Ctrl-C keeps the methods finished so far (and a TT fit's best cloud)
        for method in METHODS:
            options = {}
            if method == "tt":
                options = {"steps": settings["fit_steps"], "progress": progress,
                           "batch_size": min(settings["batch_size"], n)}
            result = run_method(X_train, method, budget, seed=seed, **options)
            points = result.points
            rows.append({
                "method": method,
                "n_params": int(result.n_params),
                "n_points": int(points.shape[0]),
                "sw": sliced_wasserstein_distance(X_test, points, seed=seed),
                "coverage": coverage_error(X_test, points),
                "inverse": inverse_error(points, X_test),  # held-out, as tt-ref compress (specs/quality.md)
                "seconds": float(result.seconds),
                "interrupted": bool(result.config.get("interrupted", False)),
            })
            watch.checkpoint()
    except KeyboardInterrupt:
        watch.stop()
    report.heading("1. Compression at an equal parameter budget")
    report.paragraph(
        f"Each method stores at most {budget:,} numbers ({compression}x fewer than the {n} x {dim} training set). "
        "SW_2: sliced Wasserstein distance to the held-out digits (lower: the compressed set is distributed "
        "like the data); coverage: mean squared distance from a held-out digit to its nearest compressed "
        "point; inverse: mean squared distance from a compressed point to its nearest held-out digit "
        "(high: stray points)."
    )
    report.table(mark_interrupted(rows), ["method", "n_params", "n_points", "sw", "coverage", "inverse", "seconds"],
                 ["method", "params", "points", "SW_2", "coverage", "inverse", "fit s"])
    if not rows:
        return rows
    path = plot_bars(["SW_2", "coverage / 100"], {r["method"]: [r["sw"], r["coverage"] / 100.0] for r in rows},
                     out / "compression.png", ylabel="lower is better",
                     title=f"digits, {compression}x compression")
    report.image(path, "compression quality per method")
    return rows


def _index_section(X_train, X_test, settings, seed, progress, report, out, watch):
    from .._backend import to_numpy
    from .._backend._neighbors import nearest_neighbors
    from ..search._evaluation import ground_truth, measure_qps, recall_at_k
    from ..search._index import TTIndex
    from ._report import _save_figure, new_figure

    n, dim = X_train.shape
    k = 10
    mode_sizes, ranks = (8, 8), (8,)
    index = TTIndex(dim, mode_sizes, ranks, seed=seed, fit_options={
        "steps": settings["index_steps"], "progress": progress, "batch_size": min(settings["batch_size"], n)})
    t0 = time.perf_counter()
    index.train(X_train)
    watch.checkpoint()  # an interrupted fit leaves a half-trained index: do not measure it
    index.add(X_train)
    build_s = time.perf_counter() - t0
    _, true_ids = ground_truth(X_train, X_test, k)
    true_ids = to_numpy(true_ids)
    n_q = int(X_test.shape[0])
    exact_qps, _ = measure_qps(lambda: nearest_neighbors(X_test, X_train, k), n_q, repeat=3)
    rows = []
    for n_candidates in settings["n_candidates"]:
        n_candidates = min(n_candidates, n)
        _, ids = index.search(X_test, k, n_candidates=n_candidates)
        qps, _ = measure_qps(lambda: index.search(X_test, k, n_candidates=n_candidates), n_q, repeat=3)
        rows.append({"n_candidates": n_candidates, "recall_at_10": recall_at_k(to_numpy(ids), true_ids, k),
                     "qps": int(round(qps)), "speedup": qps / exact_qps})
    report.heading("2. Search with a TT index")
    report.paragraph(
        f"A `TTIndex` with mode sizes {mode_sizes} and ranks {ranks} ({index.n_buckets} buckets) over the "
        f"{n} training digits (built in {build_s:.1f} s); the {n_q} held-out digits are the queries. "
        f"recall@10: overlap of the 10 ids found with the exact 10 nearest. QPS: queries per second for the "
        f"whole batch, best of 3 (exact search: {exact_qps:,.0f} QPS, one GEMM). On a set this small exact "
        "search is hard to beat; the index pays off on large sets (docs/results-ann.md)."
    )
    report.table(rows, ["n_candidates", "recall_at_10", "qps", "speedup"], ["candidates", "recall@10", "QPS", "x exact"])
    fig, axes = new_figure(figsize=(4.5, 3.5))
    ax = axes[0, 0]
    ax.plot([r["recall_at_10"] for r in rows], [r["qps"] for r in rows], "o-", color="tab:red", label="TT index")
    ax.axhline(exact_qps, color="black", linestyle="--", label="exact (recall 1)")
    ax.set_xlabel("recall@10")
    ax.set_ylabel("queries per second")
    ax.set_yscale("log")
    ax.legend(fontsize=8)
    ax.set_title("digits, batched queries")
    path = _save_figure(fig, out / "index.png")
    report.image(path, "recall@10 against queries per second")
    return {"rows": rows, "exact_qps": int(round(exact_qps))}


def _ood_section(dataset, settings, seed, progress, report, out, xp, dtype, watch):
    from .._backend import from_numpy
    from ..ood import evaluate_banks, summarize
    from ._report import OOD_COLUMNS, ood_table_rows, plot_roc_curves

    X = from_numpy(dataset.X, xp, dtype=dtype)
    result = evaluate_banks(
        X, dataset.labels, protocol="split", compressions=settings["ood_compressions"], seeds=(seed,),
        bank_options={"tt": {"steps": settings["ood_steps"], "batch_size": settings["batch_size"]}},
        progress=progress,
    )
    watch.checkpoint()  # banks fitted after Ctrl-C are partial: do not report them
    summary = summarize(result.rows)
    report.heading("3. Anomaly detection with compressed memory banks")
    report.paragraph(
        "Digits 0-4 are normal, 5-9 anomalous. 70 % of the normal digits form the memory bank; the score of a "
        "test digit is its distance to the nearest bank point. Compressed banks hold the full bank's parameters "
        "divided by the compression. AUROC / AUPR: areas under the ROC / precision-recall curves (1 is "
        "perfect); P@R90: precision when 90 % of the anomalies are caught; FPR@95: share of normal digits "
        "flagged when 95 % of the anomalies are caught (lower is better). One seed; docs/results-ood.md has "
        "several seeds and spreads."
    )
    report.table(ood_table_rows(summary), [c for c, _ in OOD_COLUMNS], [h for _, h in OOD_COLUMNS])
    for note in result.notes:
        report.paragraph(f"Note: {note}")
    path = plot_roc_curves(result.curves, out / "ood_roc.png", title="digits 0-4 vs 5-9")
    report.image(path, "ROC curves per memory bank")
    return {"summary": summary, "notes": result.notes}
