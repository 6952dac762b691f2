"""``tt-ref ood``: kNN anomaly detection with compressed memory banks (specs/ood.md).

Prints the table (bank, params, AUROC, AUPR, P@R90, FPR@95; mean ± spread over
seeds) for each compression, optionally writes it as JSON and plots the ROC curves.
Ctrl-C stops after the bank in progress: the finished rows are summarised, printed and
written with an ``interrupted`` mark, exit status 130.
"""

from __future__ import annotations

import argparse
import sys
import time

from .._backend import ArgumentValueError
from ._common import (
    EXIT_INTERRUPTED,
    INTERRUPTED_NOTE,
    InterruptWatch,
    add_backend_argument,
    check_outputs,
    choice_list,
    float_list,
    log,
    require_backend,
    write_json_output,
)

_DESCRIPTION = """\
Score held-out normal and anomalous points by their distance to the nearest point of
a memory bank of normal data: the full training set, or a TT point cloud, greedy
coreset, random subset or k-means centres with the same parameter count (the full
bank's parameters divided by --compression). Protocols: 'split' (first half of the
classes normal, e.g. digits 0-4 vs 5-9) and 'one-class' (each class in turn normal,
averaged over classes). Lists are comma-separated: --compression 10,100,1000
--banks full,tt,coreset."""


def register(subparsers) -> None:
    from ..ood import BANK_KINDS, PROTOCOLS

    parser = subparsers.add_parser(
        "ood",
        help="anomaly detection with compressed memory banks (AUROC, AUPR, P@R90, FPR@95)",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--data", default="digits",
                        help="data set name (mnist5k, digits) or a .npy/.npz/.fvecs path (default: digits)")
    parser.add_argument("--labels", default=None, help="labels (.npy, one integer per row) for data given by path")
    parser.add_argument("--compression", type=float_list(minimum=1.0), default=(100.0,),
                        help="comma-separated compression factor(s) of the bank's parameters, each >= 1, "
                             "e.g. 10,100,1000 (default: 100)")
    parser.add_argument("--protocol", choices=PROTOCOLS, default="split", help="evaluation protocol (default: split)")
    parser.add_argument("--seeds", type=int, default=3, help="number of seeds (0..seeds-1; default: 3)")
    parser.add_argument("--banks", type=choice_list(BANK_KINDS), default=tuple(BANK_KINDS),
                        help=f"comma-separated banks to compare, from {','.join(BANK_KINDS)} (default: all)")
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
        raise ArgumentValueError(f"--seeds must be at least 1, got {args.seeds}")
    if args.k < 1:
        raise ArgumentValueError(f"--k must be at least 1, got {args.k}")
    if not 0.0 < args.test_fraction < 1.0:
        raise ArgumentValueError(f"--test-fraction must be in (0, 1), got {args.test_fraction}")
    if args.steps is not None and args.steps < 1:
        raise ArgumentValueError(f"--steps must be at least 1, got {args.steps}")
    # Fail before the (long) runs, not after them.
    check_outputs(json=args.json_out, plot=args.plot)


def load_labelled(data: str, labels: str | None):
    """The data set and its labels; ``ArgumentValueError`` when there are no labels."""
    from ..datasets._datasets import load_dataset

    dataset = load_dataset(data, labels=labels)
    if dataset.labels is None:
        raise ArgumentValueError(
            f"data {data!r} has no labels; the OOD protocols need one class label per row: pass --labels PATH "
            "(a .npy file of integers) or use a labelled set (mnist5k, digits)"
        )
    return dataset


def run(args) -> int:
    from .._backend import from_numpy
    from ..ood import evaluate_banks, summarize

    _check_args(args)
    xp = require_backend(args.backend)
    dataset = load_labelled(args.data, args.labels)
    X = from_numpy(dataset.X, xp)
    compressions = [int(c) if float(c).is_integer() else c for c in args.compression]
    bank_options = {"tt": {"steps": args.steps}} if args.steps is not None else None
    print(
        f"tt-ref ood: {dataset.name} ({dataset.n} x {dataset.dim}), protocol {args.protocol}, "
        f"compression {', '.join(f'{c:g}x' for c in compressions)}, seeds {args.seeds}, backend {args.backend}"
    )
    sys.stdout.flush()
    started = time.perf_counter()
    with InterruptWatch() as watch:

        def after_row(row: dict) -> None:
            # A TT fit swallows Ctrl-C and returns its best cloud: the row it ends is marked.
            if watch.requested:
                row["interrupted"] = True
            watch.checkpoint()

        result = evaluate_banks(
            X, dataset.labels, protocol=args.protocol, compressions=compressions, kinds=args.banks,
            seeds=tuple(range(args.seeds)), k=args.k, test_fraction=args.test_fraction,
            bank_options=bank_options, progress=not args.no_progress, callback=after_row,
        )
    interrupted = result.interrupted or watch.requested
    seconds = time.perf_counter() - started
    summary = summarize(result.rows)
    _print_summary(summary, result.notes, args.seeds, seconds, interrupted)
    if args.json_out:
        payload = {
            "data": dataset.name, "n": dataset.n, "dim": dataset.dim, "protocol": args.protocol,
            "compressions": compressions, "seeds": list(range(args.seeds)), "k": args.k,
            "test_fraction": args.test_fraction, "backend": args.backend, "seconds": seconds,
            "summary": summary, "rows": result.rows, "notes": result.notes,
        }
        print(f"wrote {write_json_output(args.json_out, payload, interrupted=interrupted)}")
    if args.plot and result.curves:
        from ._report import plot_roc_curves

        title = f"{dataset.name}, {args.protocol} (seed 0){', interrupted' if interrupted else ''}"
        print(f"wrote {plot_roc_curves(result.curves, args.plot, title=title)}")
    elif args.plot:
        log(f"tt-ref ood: no ROC curve was finished, {args.plot} not written")
    sys.stdout.flush()
    return EXIT_INTERRUPTED if interrupted else 0


def _print_summary(summary, notes, n_seeds: int, seconds: float, interrupted: bool) -> None:
    from ._report import OOD_COLUMNS, format_table, ood_table_rows

    print(format_table(ood_table_rows(summary), [c for c, _ in OOD_COLUMNS], [h for _, h in OOD_COLUMNS]))
    spread = f"mean ± std over {n_seeds} seeds" if n_seeds > 1 else "one seed"
    print(f"({spread}; {seconds:.1f} s)")
    for note in notes:
        print(f"note: {note}")
    if interrupted:
        print(INTERRUPTED_NOTE)
