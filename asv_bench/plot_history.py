"""Plots and a table of the main figures over commits, from the stored asv results.

Usage, from the repository root::

    python asv_bench/plot_history.py [--machine ref-2core]

Reads ``asv_bench/results/<machine>/`` and writes ``docs/img/history-quality.png``,
``docs/img/history-timings.png`` and ``docs/data/performance-history.csv`` (one row per
commit, benchmark and parameter set), which docs/performance-history.md shows. Commits
are ordered as ``git rev-list --first-parent HEAD`` lists them (others by date).
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# (benchmark, parameter filter, title, unit label, log scale); timings are drawn in ms from 0.
QUALITY = [
    ("quality.IndexQuality.track_recall_at_10", None, "TT index recall@10 (digits)", "recall@10", False),
    ("quality.IndexQuality.track_distance_computations_per_query", None, "TT index distances per query",
     "distances", False),
    ("quality.AnomalyQuality.track_auroc_tt_bank_100x", None, "AUROC, TT bank at 100x (digits)", "AUROC", False),
    ("quality.CompressionQuality.track_coverage_error", None, "coverage error at 30x (digits)",
     "mean squared distance", False),
    ("quality.CompressionQuality.track_sliced_wasserstein", None, "sliced Wasserstein at 30x (digits)", "SW", False),
    ("quality.TTDecompositionQuality.track_tt_svd_error", None, "TT-SVD relative error", "relative error", True),
    ("quality.IndexQuality.track_host_reads_per_search_batch", None, "host reads per search batch", "reads", False),
    ("quality.FitHostReads.track_host_reads_per_fit_step", None, "host reads per fit step", "reads", False),
    ("quality.IndexQuality.track_bytes_per_vector", None, "index bytes per vector", "bytes", False),
]
TIMINGS = [
    ("tt_decompositions.TTSVD.time_tt_svd", "numpy", "tt_svd", "ms", False),
    ("tt_decompositions.TTRound.time_round", "numpy", "round to rank 16", "ms", False),
    ("point_cloud.Fit.time_fit_20_steps", ("numpy", "glove-1%"), "fit, 20 steps, GloVe-50 1% configuration",
     "ms", False),
    ("baselines.ExactSearch.time_nearest_neighbors", ("numpy", "(20000, 50)"), "exact search, 1,000 of 20,000 x 50",
     "ms", False),
    ("index.Search.time_search", "numpy", "TT index search, 1,000 queries", "ms", False),
    ("index.Add.time_add", "numpy", "TT index add, 20,000 vectors", "ms", False),
]


def _order(hashes_and_dates):
    """Commits in first-parent order of HEAD (oldest first), others by date."""
    try:
        listed = subprocess.run(["git", "rev-list", "--first-parent", "HEAD"], cwd=ROOT, check=True,
                                capture_output=True, text=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        listed = []
    position = {h: -i for i, h in enumerate(listed)}
    return sorted(hashes_and_dates, key=lambda hd: (hd[0] not in position, position.get(hd[0], 0), hd[1]))


def load(machine):
    """{commit: {(benchmark, params): value}} and [(commit, date)] for the machine's results."""
    from asv.results import iter_results_for_machine

    by_commit, dates = {}, {}
    for result in iter_results_for_machine(os.path.join(HERE, "results"), machine):
        values = by_commit.setdefault(result.commit_hash, {})
        dates[result.commit_hash] = result.date
        for key in result.get_all_result_keys():
            params = result.get_result_params(key)
            combos = [()]
            for options in params:
                combos = [c + (v,) for c in combos for v in options]
            for combo, value in zip(combos, result.get_result_value(key, params)):
                if value is not None and not math.isnan(value):  # skipped (CuPy) or failed: no point
                    values[(key, combo)] = value
    return by_commit, _order(list(dates.items()))


def _series(by_commit, commits, name, want):
    """{parameter label: [value or None per commit]} of one benchmark, parameters ``want`` fixed."""
    want = (want,) if isinstance(want, str) else tuple(want or ())
    series = {}
    for i, commit in enumerate(commits):
        for (key, combo), value in by_commit[commit].items():
            shown = [str(p).strip("'") for p in combo]
            if key != name or not all(w in shown for w in want):
                continue
            label = ", ".join(p for p in shown if p not in want) or name.rsplit(".", 1)[-1]
            series.setdefault(label, [None] * len(commits))[i] = value
    return series


def plot(by_commit, commits, panels, path, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = 3
    rows = -(-len(panels) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(5 * columns, 3.3 * rows), squeeze=False)
    x = list(range(len(commits)))
    labels = [c[:7] for c in commits]
    for ax, (name, want, panel_title, unit, log) in zip(axes.flat, panels):
        scale = 1e3 if unit == "ms" else 1.0  # asv stores seconds
        for label, values in sorted(_series(by_commit, commits, name, want).items()):
            points = [(i, scale * v) for i, v in zip(x, values) if v is not None]
            if points:
                ax.plot(*zip(*points), marker="o", label=label)
        if unit == "ms":
            ax.set_ylim(bottom=0)
        ax.set_title(panel_title, fontsize=10)
        ax.set_ylabel(unit)
        if log:
            ax.set_yscale("log")
        ax.set_xticks(x)
        ax.set_xticklabels(labels, rotation=60, fontsize=7)
        if len(ax.get_lines()) > 1:
            ax.legend(fontsize=6)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def write_csv(by_commit, commits, path):
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["order", "commit", "benchmark", "params", "value"])
        for i, commit in enumerate(commits):
            for (name, combo), value in sorted(by_commit[commit].items(), key=lambda kv: (kv[0][0], repr(kv[0][1]))):
                writer.writerow([i, commit[:10], name, "; ".join(str(p).strip("'") for p in combo), f"{value:.6g}"])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--machine", default="ref-2core")
    parser.add_argument("--out", default=os.path.join(ROOT, "docs"), help="docs folder (img/ and data/ inside)")
    args = parser.parse_args(argv)
    by_commit, ordered = load(args.machine)
    if not ordered:
        raise SystemExit(f"plot_history: no results for machine {args.machine!r} under asv_bench/results")
    commits = [c for c, _ in ordered]
    os.makedirs(os.path.join(args.out, "img"), exist_ok=True)
    os.makedirs(os.path.join(args.out, "data"), exist_ok=True)
    plot(by_commit, commits, QUALITY, os.path.join(args.out, "img", "history-quality.png"),
         f"Tracked figures over commits ({args.machine}, oldest left)")
    plot(by_commit, commits, TIMINGS, os.path.join(args.out, "img", "history-timings.png"),
         f"Timings over commits ({args.machine}, NumPy, one thread, oldest left)")
    write_csv(by_commit, commits, os.path.join(args.out, "data", "performance-history.csv"))
    print(f"plot_history: {len(commits)} commits, {commits[0][:8]} .. {commits[-1][:8]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
