"""``tt-ref ood``: kNN anomaly detection with compressed memory banks (specs/ood.md).

Prints the table (bank, params, AUROC, AUPR, P@R90, FPR@95; mean ± spread over
seeds) for each compression, optionally writes it as JSON and plots the ROC curves.
"""

from __future__ import annotations

import argparse
import sys
import time

from ._common import add_backend_argument

_DESCRIPTION = """\
Score held-out normal and anomalous points by their distance to the nearest point of
a memory bank of normal data: the full training set, or a TT point cloud, greedy
coreset, random subset or k-means centres with the same parameter count (the full
bank's parameters divided by --compression). Protocols: 'split' (first half of the
classes normal, e.g. digits 0-4 vs 5-9) and 'one-class' (each class in turn normal,
averaged over classes)."""


def register(subparsers) -> None:
    from ..ood._ood import BANK_KINDS, PROTOCOLS

    parser = subparsers.add_parser(
        "ood",
        help="anomaly detection with compressed memory banks (AUROC, AUPR, P@R90, FPR@95)",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--data", default="digits",
                        help="data set name (mnist5k, digits) or a .npy/.npz/.fvecs path (default: digits)")
    parser.add_argument("--labels", default=None, help="labels (.npy, one per row) for data given by path")
    parser.add_argument("--compression", type=float, nargs="+", default=[100.0],
                        help="compression factor(s) of the bank's parameters (default: 100)")
    parser.add_argument("--protocol", choices=PROTOCOLS, default="split", help="evaluation protocol (default: split)")
    parser.add_argument("--seeds", type=int, default=3, help="number of seeds (0..seeds-1; default: 3)")
    parser.add_argument("--banks", nargs="+", choices=BANK_KINDS, default=list(BANK_KINDS),
                        help="banks to compare (default: all)")
    parser.add_argument("--k", type=int, default=1, help="score = distance to the k-th nearest bank point (default: 1)")
    parser.add_argument("--test-fraction", type=float, default=0.3,
                        help="fraction of the normal rows held out for testing (default: 0.3)")
    parser.add_argument("--steps", type=int, default=None, help="optimisation steps of the TT fit (default: the fit's)")
    add_backend_argument(parser, "fitting and scoring")
    parser.add_argument("--json", dest="json_out", default=None, help="write the rows and the summary as JSON here")
    parser.add_argument("--plot", default=None, help="write the ROC curves (first seed, first task) as a PNG here")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.set_defaults(func=run)


def _check_args(args) -> None:
    if args.seeds < 1:
        raise ValueError(f"--seeds must be at least 1, got {args.seeds}")
    if args.k < 1:
        raise ValueError(f"--k must be at least 1, got {args.k}")
    if not 0.0 < args.test_fraction < 1.0:
        raise ValueError(f"--test-fraction must be in (0, 1), got {args.test_fraction}")
    for c in args.compression:
        if c < 1:
            raise ValueError(f"--compression must be >= 1, got {c:g}")
    if args.steps is not None and args.steps < 1:
        raise ValueError(f"--steps must be at least 1, got {args.steps}")
    if args.plot is not None and not str(args.plot).lower().endswith(".png"):
        raise ValueError(f"--plot must end in .png, got {args.plot!r}")


def load_labelled(data: str, labels: str | None):
    """The data set and its labels; ``ValueError`` when there are no labels or they do not fit."""
    from ..datasets._datasets import load_dataset

    dataset = load_dataset(data, labels=labels)
    if dataset.labels is None:
        raise ValueError(
            f"data {data!r} has no labels; the OOD protocols need one class label per row: pass --labels PATH "
            "(a .npy file) or use a labelled set (mnist5k, digits)"
        )
    return dataset


def run(args) -> int:
    from .._backend import from_numpy, namespace_for
    from ..ood._ood import evaluate_banks, summarize
    from ._report import OOD_COLUMNS, format_table, ood_table_rows, plot_roc_curves, write_json

    _check_args(args)
    dataset = load_labelled(args.data, args.labels)
    xp = namespace_for(args.backend)
    X = from_numpy(dataset.X, xp)
    compressions = [int(c) if float(c).is_integer() else c for c in args.compression]
    bank_options = {"tt": {"steps": args.steps}} if args.steps is not None else None
    print(
        f"tt-ref ood: {dataset.name} ({dataset.n} x {dataset.dim}), protocol {args.protocol}, "
        f"compression {', '.join(f'{c:g}x' for c in compressions)}, seeds {args.seeds}, backend {args.backend}"
    )
    started = time.perf_counter()
    result = evaluate_banks(
        X, dataset.labels, protocol=args.protocol, compressions=compressions, kinds=args.banks,
        seeds=tuple(range(args.seeds)), k=args.k, test_fraction=args.test_fraction,
        bank_options=bank_options, progress=not args.no_progress,
    )
    seconds = time.perf_counter() - started
    summary = summarize(result.rows)
    headers = [h for _, h in OOD_COLUMNS]
    print(format_table(ood_table_rows(summary), [c for c, _ in OOD_COLUMNS], headers))
    spread = f"mean ± std over {args.seeds} seeds" if args.seeds > 1 else "one seed"
    print(f"({spread}; {seconds:.1f} s)")
    for note in result.notes:
        print(f"note: {note}")
    if args.json_out:
        payload = {
            "data": dataset.name, "n": dataset.n, "dim": dataset.dim, "protocol": args.protocol,
            "compressions": compressions, "seeds": list(range(args.seeds)), "k": args.k,
            "test_fraction": args.test_fraction, "backend": args.backend, "seconds": seconds,
            "summary": summary, "rows": result.rows, "notes": result.notes,
        }
        path = write_json(args.json_out, payload)
        print(f"wrote {path}")
    if args.plot:
        path = plot_roc_curves(result.curves, args.plot, title=f"{dataset.name}, {args.protocol} (seed 0)")
        print(f"wrote {path}")
    sys.stdout.flush()
    return 0
