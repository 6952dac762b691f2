"""``tt-ref compress``: the TT point cloud against its baselines at one parameter budget.

Splits the data into train / held-out, compresses the train split with every method
at the same parameter count (``--budget`` times ``N_train * D``), evaluates on the
held-out split (specs/quality.md), prints one table, and optionally writes JSON and a
plot (2-D PCA of held-out data against each method's points, and the TT loss curve).
Ctrl-C stops after the method in progress (a TT fit keeps its best cloud): the finished
rows are printed and written with an ``interrupted`` mark, exit status 130.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

from .._backend import ArgumentValueError
from .._backend._io import save_figure
from ._common import INTERRUPTED_NOTE, InterruptWatch, add_backend_argument, check_outputs, choice_list, int_list, \
    log, mark_interrupted, require_backend, write_json_output

_DESCRIPTION = """\
Compress a vector set with a TT point cloud and with each baseline (TT-SVD, k-means,
greedy k-center coreset, random subset) at the same parameter count, then measure on
held-out data: sliced Wasserstein distance (SW), coverage error (mean squared distance
from a held-out point to its nearest compressed point), inverse error (mean squared
distance from a compressed point to its nearest held-out point), compression ratio
(N_train * D / params) and fit seconds. Data: digits, mnist, mnist5k, glove50 or a
.npy/.npz/.fvecs path."""

# Held-out rows per named data set (the protocol of docs/results-compression.md); paths: 10%, at most 10,000.
_DEFAULT_N_TEST = {"digits": 297, "mnist": 500, "mnist5k": 500, "glove50": 10000}

COLUMNS = ("method", "n_params", "ratio", "sw", "coverage", "cov_vs_kmeans", "inverse", "seconds", "n_points")
HEADERS = ("method", "params", "ratio", "SW", "coverage", "cov/kmeans", "inverse", "fit s", "points")


def register(subparsers) -> None:
    from ..cloud._baselines import METHODS

    parser = subparsers.add_parser(
        "compress",
        help="compress a vector set: TT point cloud vs TT-SVD, k-means, coreset, random at one budget",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--data", default="digits",
                        help="digits, mnist, mnist5k, glove50, or a .npy/.npz/.fvecs path (default: digits)")
    parser.add_argument("--budget", type=float, default=0.01,
                        help="parameters as a fraction of N_train * D, in (0, 1] (default: 0.01)")
    parser.add_argument("--methods", type=choice_list(METHODS), default=tuple(METHODS),
                        help=f"comma-separated methods to run, from {','.join(METHODS)} (default: all)")
    parser.add_argument("--mode-sizes", type=int_list(), default=None,
                        help="TT mode sizes n_1,..,n_k, e.g. 16,16,8 (default: chosen by the budget rule, "
                             "specs/baselines.md)")
    parser.add_argument("--ranks", type=int_list(), default=None,
                        help="TT ranks r_1,..,r_(k-1), e.g. 8,8 (with --mode-sizes)")
    parser.add_argument("--n-levels", type=int, default=None, help="number of TT modes k for the budget rule")
    parser.add_argument("--steps", type=int, default=None, help="Adam steps of the TT fit (default: the fit's)")
    parser.add_argument("--refine-sweeps", type=int, default=None,
                        help="least-squares sweeps after the TT fit's Adam steps, 0 for none (default: the fit's)")
    parser.add_argument("--no-repair", action="store_true", help="no re-seeding of unused slabs in the TT sweeps")
    parser.add_argument("--batch-size", type=int, default=None, help="TT fit batch size (default: the fit's)")
    parser.add_argument("--lr", type=float, default=None, help="TT fit learning rate (default: the fit's)")
    parser.add_argument("--init", choices=("kmeans", "random"), default=None, help="TT initialization (default: the fit's)")
    parser.add_argument("--alpha-fwd", type=float, default=None,
                        help="TT fit weight of the forward (coverage) nearest-neighbour loss (default: the fit's)")
    parser.add_argument("--alpha-inv", type=float, default=None,
                        help="TT fit weight of the inverse nearest-neighbour loss (default: the fit's)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split, every method and the SW directions (default: 0)")
    add_backend_argument(parser, "fitting and evaluation")
    parser.add_argument("--n-test", type=int, default=None,
                        help="held-out rows (default: digits 297, mnist and mnist5k 500, glove50 10000, paths 10%% up "
                             "to 10000)")
    parser.add_argument("--max-train", type=int, default=None, help="use at most this many train rows (seeded subsample)")
    parser.add_argument("--baseline-max-points", type=int, default=None,
                        help="fit k-means and coreset on a seeded subsample of this many train rows (reported)")
    parser.add_argument("--kmeans-library", choices=("sklearn", "faiss"), default=None,
                        help="k-means implementation (default: scikit-learn if installed, else faiss)")
    parser.add_argument("--kmeans-iter", type=int, default=None,
                        help="k-means iterations (default: 100, see specs/baselines.md)")
    parser.add_argument("--coreset-projection-dim", type=int, default=None,
                        help="greedy coreset on a random projection to this many dimensions (PatchCore's speed-up)")
    parser.add_argument("--sw-projections", type=int, default=128, help="directions of the SW measure (default: 128)")
    parser.add_argument("--no-reference", action="store_true",
                        help="skip the reference row 'full' (the whole train split as the point set)")
    parser.add_argument("--labels", default=None, help="labels (.npy) for data given by path (kept in JSON only)")
    parser.add_argument("--json", dest="json_out", default=None, help="write every number as JSON here")
    parser.add_argument("--plot", default=None, help="write the PCA scatter and TT loss curve as a PNG here")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def _check_args(args) -> None:
    if not 0.0 < args.budget <= 1.0:
        raise ArgumentValueError(f"--budget must be a fraction in (0, 1] of N_train * D, got {args.budget:g}")
    if (args.mode_sizes is None) != (args.ranks is None):
        raise ArgumentValueError("--mode-sizes and --ranks go together: give both or neither")
    for name in ("seed", "refine_sweeps"):
        value = getattr(args, name)
        if value is not None and value < 0:
            raise ArgumentValueError(f"--{name.replace('_', '-')} must be >= 0, got {value}")
    for name in ("steps", "batch_size", "n_test", "max_train", "baseline_max_points", "n_levels", "kmeans_iter",
                 "coreset_projection_dim", "sw_projections"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise ArgumentValueError(f"--{name.replace('_', '-')} must be at least 1, got {value}")
    if args.lr is not None and not 0 < args.lr < float("inf"):
        raise ArgumentValueError(f"--lr must be a positive number, got {args.lr:g}")
    for name in ("alpha_fwd", "alpha_inv"):
        value = getattr(args, name)
        if value is not None and not 0 <= value < float("inf"):
            raise ArgumentValueError(f"--{name.replace('_', '-')} must be a number >= 0, got {value:g}")
    # Fail before the (long) fits, not after them.
    check_outputs(json=args.json_out, plot=args.plot)


_log = log


def _machine() -> dict:
    info = {"platform": platform.platform(), "python": platform.python_version(),
            "processor": platform.processor() or platform.machine(), "cpu_count": os.cpu_count()}
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        if var in os.environ:
            info[var] = os.environ[var]
    return info


def _method_options(args, method: str) -> dict:
    if method == "tt":
        options = {"progress": not args.no_progress}
        if args.mode_sizes is not None:
            options.update(mode_sizes=tuple(args.mode_sizes), ranks=tuple(args.ranks))
        if args.n_levels is not None:
            options["n_levels"] = args.n_levels
        if args.no_repair:
            options["repair"] = False
        for name in ("steps", "batch_size", "lr", "init", "alpha_fwd", "alpha_inv", "refine_sweeps"):
            if getattr(args, name) is not None:
                options[name] = getattr(args, name)
        return options
    if method == "tt_svd":
        return {"n_levels": args.n_levels} if args.n_levels is not None else {}
    if method == "kmeans":
        options = {"max_points": args.baseline_max_points}
        if args.kmeans_library is not None:
            options["library"] = args.kmeans_library
        if args.kmeans_iter is not None:
            options["n_iter"] = args.kmeans_iter
        return options
    if method == "coreset":
        return {"max_points": args.baseline_max_points, "projection_dim": args.coreset_projection_dim}
    return {}


def compare_methods(X_train, X_test, n_params: int, methods, *, seed: int = 0, sw_projections: int = 128,
                    options: dict | None = None, reference: bool = True, log=_log,
                    watch: InterruptWatch | None = None) -> tuple[list[dict], dict]:
    """Run each method on ``X_train`` at ``n_params`` and measure it on ``X_test``.

    With ``reference``, a last row ``"full"`` measures the whole train split as the point
    set (``N_train * D`` parameters, ratio 1): the uncompressed level the methods aim at.

    Returns the table rows (dicts with the keys of :data:`COLUMNS`) and a dict method ->
    :class:`tt_ref.cloud._baselines.CompressionResult`. A method that cannot run at this budget
    (a ``ValueError``) gets a row with ``skipped`` set to the reason.

    With ``watch`` (an :class:`~tt_ref.cli._common.InterruptWatch`), Ctrl-C stops after
    the method in progress: the rows finished so far are returned (a TT fit stopped
    early keeps its best cloud and its row has ``interrupted`` set); the reference row
    is then skipped.
    """
    options = options or {}
    watch = watch if watch is not None else InterruptWatch()
    rows, results = [], {}
    try:
        for method in methods:
            row = _run_one(X_train, X_test, n_params, method, seed, sw_projections, options, results, log)
            rows.append(row)
            watch.checkpoint()
    except KeyboardInterrupt:
        watch.stop()
    if reference and not watch.requested:
        rows.append(_reference_row(X_train, X_test, seed, sw_projections))
    kmeans = next((r for r in rows if r["method"] == "kmeans" and "coverage" in r), None)
    for row in rows:
        if kmeans is not None and "coverage" in row and kmeans["coverage"] > 0:
            row["cov_vs_kmeans"] = row["coverage"] / kmeans["coverage"]
    return rows, results


def _run_one(X_train, X_test, n_params, method, seed, sw_projections, options, results, log) -> dict:
    from ..cloud._baselines import run_method
    from ..cloud._quality import compression_ratio, coverage_error, inverse_error, sliced_wasserstein_distance

    n_train, dim = X_train.shape
    log(f"compress: fitting {method} ...")
    try:
        result = run_method(X_train, method, n_params, seed=seed, **options.get(method, {}))
    except ValueError as exc:
        if method == "tt":
            raise
        log(f"compress: {method} skipped: {exc}")
        return {"method": method, "skipped": str(exc)}
    results[method] = result
    start = time.perf_counter()
    row = {
        "method": method,
        "n_params": int(result.n_params),
        "ratio": compression_ratio(n_train, dim, int(result.n_params)),
        "sw": sliced_wasserstein_distance(X_test, result.points, n_projections=sw_projections, seed=seed),
        "coverage": coverage_error(X_test, result.points),
        "inverse": inverse_error(result.points, X_test),
        "seconds": result.seconds,
        "n_points": int(result.points.shape[0]),
        "config": result.config,
        "interrupted": bool(result.config.get("interrupted", False)),
    }
    row["eval_seconds"] = time.perf_counter() - start
    return row


def _reference_row(X_train, X_test, seed, sw_projections) -> dict:
    """The uncompressed train split measured the same way: what the methods aim at."""
    from ..cloud._quality import coverage_error, inverse_error, sliced_wasserstein_distance

    n_train, dim = X_train.shape
    start = time.perf_counter()
    row = {
        "method": "full",
        "n_params": int(n_train * dim),
        "ratio": 1.0,
        "sw": sliced_wasserstein_distance(X_test, X_train, n_projections=sw_projections, seed=seed),
        "coverage": coverage_error(X_test, X_train),
        "inverse": inverse_error(X_train, X_test),
        "seconds": 0.0,
        "n_points": int(n_train),
        "config": {"reference": True},
    }
    row["eval_seconds"] = time.perf_counter() - start
    return row


def _pca_2d(X_test_host, *arrays):
    import numpy as np  # plotting happens on the host

    mean = X_test_host.mean(axis=0, keepdims=True)
    _, _, vt = np.linalg.svd(X_test_host - mean, full_matrices=False)
    basis = vt[:2].T
    return [(a - mean) @ basis for a in (X_test_host,) + arrays]


def plot_comparison(path, X_test, results: dict, *, title: str, seed: int = 0, max_points: int = 2000) -> None:
    """2-D PCA (of the held-out data) of held-out vs each method's points, plus the TT loss curve."""
    import numpy as np

    from .._backend import default_rng, to_numpy
    from ._report import new_figure

    rng = default_rng(seed)
    host_test = np.asarray(to_numpy(X_test), dtype=np.float64)
    if host_test.shape[0] > max_points:
        host_test = host_test[np.sort(rng.choice(host_test.shape[0], max_points, replace=False))]
    clouds = []
    for method, result in results.items():
        pts = np.asarray(to_numpy(result.points), dtype=np.float64)
        if pts.shape[0] > max_points:
            pts = pts[np.sort(rng.choice(pts.shape[0], max_points, replace=False))]
        clouds.append((method, pts))
    projected = _pca_2d(host_test, *[p for _, p in clouds])
    n_panels = len(clouds) + 1
    n_cols = 3
    n_rows = (n_panels + n_cols - 1) // n_cols
    fig, axes = new_figure(n_rows, n_cols, figsize=(4.2 * n_cols, 3.8 * n_rows))
    flat = [ax for row in axes for ax in row]
    for ax, (method, _), proj in zip(flat, clouds, projected[1:]):
        # Translucent small markers on both: dense regions of one set must not hide the other.
        ax.scatter(projected[0][:, 0], projected[0][:, 1], s=2, c="tab:blue", alpha=0.35, label="held-out",
                   rasterized=True)
        small = proj.shape[0] <= 500  # a few centres must stay visible
        ax.scatter(proj[:, 0], proj[:, 1], s=14 if small else 2, c="tab:red", alpha=0.9 if small else 0.35,
                   label=method, rasterized=True)
        n_total = int(results[method].points.shape[0])
        ax.set_title(f"{method} ({n_total:,} points, {results[method].n_params:,} params)", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.legend(loc="upper right", fontsize=7, markerscale=4)
    loss_ax = flat[len(clouds)]
    fit = results["tt"].fit if "tt" in results else None
    if fit is not None and fit.history.get("step"):
        for key in ("loss", "sw", "nn_forward", "nn_inverse"):
            values = fit.history.get(key)
            if values:
                loss_ax.plot(fit.history["step"], values, label=key)
        loss_ax.set_yscale("log")
        loss_ax.set_xlabel("Adam step")
        # The fit works on data rescaled by a power of two (tt_ref.cloud._fit), so its losses are in those units.
        loss_ax.set_title("TT fit: losses on the evaluation batch (fit units)", fontsize=9)
        loss_ax.legend(fontsize=7)
    else:
        loss_ax.set_axis_off()
    for ax in flat[len(clouds) + 1:]:
        ax.set_axis_off()
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    save_figure(fig, path, dpi=100)


def run(args) -> int:
    from .._backend import from_numpy, namespace_for, random_choice
    from ..datasets._datasets import load_dataset, train_test_split
    from ._report import format_table

    _check_args(args)
    xp = require_backend(args.backend)
    dataset = load_dataset(args.data, labels=args.labels)
    n_rows, dim = dataset.X.shape
    n_test = args.n_test if args.n_test is not None else _DEFAULT_N_TEST.get(
        dataset.name, min(10000, max(1, n_rows // 10)))
    if n_rows < 2:
        raise ArgumentValueError(f"--data {args.data!r} has {n_rows} row; a train / held-out split needs at least 2")
    if n_test >= n_rows:
        raise ArgumentValueError(f"--n-test ({n_test}) must be below the number of rows ({n_rows})")
    train_idx, test_idx = train_test_split(n_rows, n_test, seed=args.seed)
    if args.max_train is not None and args.max_train < train_idx.shape[0]:
        keep = random_choice(args.seed, train_idx.shape[0], args.max_train, xp=namespace_for("numpy"))
        train_idx = train_idx[sorted(int(i) for i in keep)]
    # The split is host bookkeeping; the data moves to the backend once.
    X_train = from_numpy(dataset.X[train_idx], xp)
    X_test = from_numpy(dataset.X[test_idx], xp)
    n_train = int(train_idx.shape[0])
    n_params = int(args.budget * n_train * dim)
    if n_params < dim:
        raise ArgumentValueError(
            f"--budget {args.budget:g} gives {n_params} parameters for {n_train} x {dim} train data: "
            f"fewer than one point ({dim} numbers); raise --budget"
        )
    _log(f"compress: {dataset.name}: {n_train} train / {n_test} held-out rows, D={dim}, "
         f"budget {args.budget:g} -> {n_params} parameters, backend {args.backend}")
    options = {m: _method_options(args, m) for m in args.methods}
    with InterruptWatch() as watch:
        rows, results = compare_methods(X_train, X_test, n_params, args.methods, seed=args.seed,
                                        sw_projections=args.sw_projections, options=options,
                                        reference=not args.no_reference, watch=watch)
    done = mark_interrupted([r for r in rows if "coverage" in r])
    print(f"{dataset.name}: N_train={n_train}, N_test={n_test}, D={dim}, budget={args.budget:g} "
          f"({n_params} params), seed={args.seed}, backend={args.backend}")
    print(format_table(done, COLUMNS, HEADERS, digits=4))
    for row in rows:
        if "skipped" in row:
            print(f"{row['method']}: skipped ({row['skipped']})")
    if watch.requested:
        print(INTERRUPTED_NOTE)
    if args.json_out is not None:
        payload = {
            "format": "tt_ref.compress", "version": 1,
            "data": dataset.name, "metric": dataset.metric, "n_rows": n_rows, "dim": dim,
            "n_train": n_train, "n_test": int(n_test), "budget": args.budget, "n_params_budget": n_params,
            "seed": args.seed, "backend": args.backend, "sw_projections": args.sw_projections,
            "baseline_max_points": args.baseline_max_points, "machine": _machine(),
            "interrupted": watch.requested,
            "rows": rows,
            "tt_history": results["tt"].fit.history if "tt" in results and results["tt"].fit is not None else None,
        }
        write_json_output(args.json_out, payload)
        _log(f"compress: wrote {args.json_out}")
    if args.plot is not None and results:
        title = (f"{dataset.name}: {n_train} train / {n_test} held-out, D={dim}, "
                 f"budget {args.budget:g} ({n_params} params), seed {args.seed}"
                 f"{' (interrupted)' if watch.requested else ''}")
        plot_comparison(args.plot, X_test, results, title=title, seed=args.seed)
        _log(f"compress: wrote {args.plot}")
    return watch.exit_code
