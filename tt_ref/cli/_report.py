"""The one table formatter (terminal and Markdown), plots and a small Markdown report writer.

Every command prints its tables with :func:`format_table` and writes report tables with
:func:`markdown_table`. Everything written to disk goes through ``tt_ref._backend._io``
(a temporary file in the destination folder, then ``os.replace``), so a crash never
leaves a half-written report, JSON or PNG.

Plots are ``matplotlib.figure.Figure`` objects made by :func:`new_figure`, never pyplot:
saving one as PNG needs no display, and tt_ref never changes matplotlib's backend (a
notebook that imports tt_ref keeps its own). matplotlib is imported only when a plot is
drawn.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Iterable, Sequence

from .._backend import MissingDependencyError
from .._backend._io import save_figure, write_json, write_text

__all__ = [
    "format_table",
    "markdown_table",
    "atomic_write_text",
    "write_json",
    "new_figure",
    "plot_roc_curves",
    "plot_bars",
    "plot_metric_vs_compression",
    "Report",
    "OOD_COLUMNS",
    "ood_table_rows",
]


def _cell(value: Any, digits: int) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 10_000 else str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        if value != 0.0 and (abs(value) >= 1e5 or abs(value) < 10 ** (-digits)):
            return f"{value:.{digits}g}"
        return f"{value:.{digits}f}"
    return str(value)


def _rows_as_text(rows: Sequence[dict], columns: Sequence[str], headers, digits: int):
    headers = list(headers) if headers is not None else list(columns)
    if len(headers) != len(columns):
        raise ValueError(f"headers has {len(headers)} entries but columns has {len(columns)}")
    body = [[_cell(row.get(col), digits) for col in columns] for row in rows]
    return headers, body


def format_table(rows: Sequence[dict], columns: Sequence[str], headers: Sequence[str] | None = None, *, digits: int = 3) -> str:
    """A fixed-width text table of ``rows`` (dicts) for the terminal.

    Examples
    --------
    >>> from tt_ref.cli._report import format_table
    >>> print(format_table([{"bank": "full", "auroc": 0.98765}], ["bank", "auroc"]))
    bank  auroc
    ----  -----
    full  0.988
    """
    headers, body = _rows_as_text(rows, columns, headers, digits)
    widths = [max([len(h)] + [len(r[i]) for r in body]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    for r in body:
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    return "\n".join(lines)


def markdown_table(rows: Sequence[dict], columns: Sequence[str], headers: Sequence[str] | None = None, *, digits: int = 3) -> str:
    """A GitHub-flavoured Markdown table of ``rows`` (dicts).

    Examples
    --------
    >>> from tt_ref.cli._report import markdown_table
    >>> print(markdown_table([{"bank": "tt", "auroc": 0.5}], ["bank", "auroc"], ["bank", "AUROC"]))
    | bank | AUROC |
    |---|---|
    | tt | 0.500 |
    """
    headers, body = _rows_as_text(rows, columns, headers, digits)
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(r) + " |" for r in body]
    return "\n".join(lines)


# --------------------------------------------------------------------------- files
# Atomic writers live once in tt_ref._backend._io; these names are kept for the commands.
atomic_write_text = write_text
_save_figure = save_figure


def new_figure(n_rows: int = 1, n_cols: int = 1, *, figsize=(6.0, 4.0)):
    """``(figure, axes)``: a ``matplotlib.figure.Figure`` and its ``(n_rows, n_cols)`` grid of axes.

    No pyplot: the figure belongs to no GUI and changes no global state; save it with
    ``tt_ref._backend._io.save_figure``.

    Examples
    --------
    >>> from tt_ref.cli._report import new_figure
    >>> fig, axes = new_figure(1, 2, figsize=(4, 2))
    >>> axes.shape, type(fig).__name__
    ((1, 2), 'Figure')
    """
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise MissingDependencyError("plots need matplotlib: pip install 'tt-ref[demo]'") from exc
    fig = Figure(figsize=figsize)
    return fig, fig.subplots(n_rows, n_cols, squeeze=False)


# --------------------------------------------------------------------------- plots
_KIND_STYLE = {
    "full": ("black", "-"),
    "tt": ("tab:red", "-"),
    "tt_svd": ("tab:pink", "--"),
    "coreset": ("tab:blue", "--"),
    "random": ("tab:gray", ":"),
    "kmeans": ("tab:green", "-."),
}


def plot_roc_curves(curves: dict, path, *, title: str = "ROC curves per memory bank") -> Path:
    """One panel per compression: ROC curves of each bank; ``curves`` maps ``(compression, kind) -> (fpr, tpr)``.

    The full bank (compression 1) is drawn in every panel as the reference.
    """
    compressions = sorted({c for c, kind in curves if kind != "full"}) or [1]
    full = [(c, kind) for c, kind in curves if kind == "full"]
    fig, axes = new_figure(1, len(compressions), figsize=(4.2 * len(compressions), 4))
    for ax, compression in zip(axes[0], compressions):
        keys = full + [(c, kind) for c, kind in curves if c == compression and kind != "full"]
        for key in keys:
            fpr, tpr = curves[key]
            color, style = _KIND_STYLE.get(key[1], (None, "-"))
            ax.plot(fpr, tpr, style, color=color, label=key[1], linewidth=1.6)
        ax.plot([0, 1], [0, 1], color="0.8", linewidth=0.8)
        ax.set_xlabel("false positive rate")
        ax.set_ylabel("true positive rate")
        ax.set_title(f"{compression:g}x compression" if compression != 1 else "full bank")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.01)
        ax.legend(loc="lower right", fontsize=8)
    fig.suptitle(title)
    return _save_figure(fig, path)


def plot_bars(groups: Sequence[str], series: dict, path, *, ylabel: str, title: str, errors: dict | None = None,
              ylim: tuple | None = None, log: bool = False) -> Path:
    """Grouped bar chart: ``series`` maps a label to one value per group (``None`` = missing)."""
    fig, axes = new_figure(figsize=(max(5.0, 1.3 * len(groups) * max(1, len(series)) / 2), 3.8))
    ax = axes[0, 0]
    width = 0.8 / max(1, len(series))
    for j, (label, values) in enumerate(series.items()):
        xs = [i + (j - (len(series) - 1) / 2) * width for i in range(len(groups))]
        vals = [float("nan") if v is None else v for v in values]
        err = None
        if errors and label in errors:
            err = [0.0 if e is None else e for e in errors[label]]
        color = _KIND_STYLE.get(label, (None, "-"))[0]
        ax.bar(xs, vals, width, yerr=err, label=label, color=color, capsize=2)
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(groups)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if ylim is not None:
        ax.set_ylim(*ylim)
    if log:
        ax.set_yscale("log")
    ax.legend(fontsize=8, ncol=min(len(series), 6))
    return _save_figure(fig, path)


def plot_metric_vs_compression(panels: dict, path, *, metric: str = "auroc", ylabel: str | None = None) -> Path:
    """One panel per entry of ``panels`` (title -> :func:`tt_ref.ood.summarize` rows): ``metric`` against compression.

    Each bank kind is a line with error bars (the spread over seeds); the full bank is a
    horizontal reference line.
    """
    n_cols = min(len(panels), 2)
    n_rows = -(-len(panels) // n_cols)
    fig, axes = new_figure(n_rows, n_cols, figsize=(5.0 * n_cols, 3.8 * n_rows))
    for ax in axes.reshape(-1)[len(panels):]:
        ax.set_visible(False)
    for ax, (title, summary) in zip(axes.reshape(-1), panels.items()):
        kinds = []
        for row in summary:
            if row["kind"] not in kinds:
                kinds.append(row["kind"])
        for kind in kinds:
            rows = sorted((r for r in summary if r["kind"] == kind), key=lambda r: r["compression"])
            color, style = _KIND_STYLE.get(kind, (None, "-"))
            if kind == "full":
                ax.axhline(rows[0][metric], color=color, linestyle="-", linewidth=1.2, label="full")
                continue
            ax.errorbar([r["compression"] for r in rows], [r[metric] for r in rows],
                        yerr=[r.get(metric + "_std", 0.0) for r in rows], fmt="o" + style, color=color,
                        label=kind, capsize=3, linewidth=1.4, markersize=4)
        ax.set_xscale("log")
        ax.set_xlabel("compression of the bank's parameters")
        ax.set_ylabel(ylabel or metric)
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return _save_figure(fig, path)


# --------------------------------------------------------------------------- OOD tables
#: Columns of the OOD table (keys of :func:`tt_ref.ood.summarize` rows) and their headers.
OOD_COLUMNS = (
    ("compression", "compression"),
    ("kind", "bank"),
    ("n_params", "params"),
    ("auroc_pm", "AUROC"),
    ("aupr_pm", "AUPR"),
    ("p_at_r90_pm", "P@R90"),
    ("fpr_at_95_pm", "FPR@95"),
)


def ood_table_rows(summary: Iterable[dict], *, digits: int = 3) -> list[dict]:
    """Summary rows with ``mean ± std`` strings for the four measures and ``1x`` style compressions.

    With one seed (``n_seeds == 1``) only the mean is shown.

    Examples
    --------
    >>> from tt_ref.cli._report import ood_table_rows
    >>> row, = ood_table_rows([dict(compression=100, kind="tt", n_params=420, n_seeds=3, auroc=0.9,
    ...     auroc_std=0.01, aupr=0.8, aupr_std=0.0, p_at_r90=0.7, p_at_r90_std=0.02, fpr_at_95=0.3, fpr_at_95_std=0.1)])
    >>> row["auroc_pm"], row["compression"]
    ('0.900 ± 0.010', '100x')
    """
    out = []
    for row in summary:
        entry = dict(row)
        entry["compression"] = "1x" if row["compression"] == 1 else f"{row['compression']:g}x"
        for measure in ("auroc", "aupr", "p_at_r90", "fpr_at_95"):
            mean, std = row[measure], row.get(measure + "_std", 0.0)
            # One seed has no spread to show.
            single = row.get("n_seeds", 2) <= 1
            entry[measure + "_pm"] = f"{mean:.{digits}f}" if single else f"{mean:.{digits}f} ± {std:.{digits}f}"
        out.append(entry)
    return out


# --------------------------------------------------------------------------- report
class Report:
    """A Markdown report assembled in memory and written atomically to ``folder/report.md``.

    Images are referenced relative to the folder, so the folder can be moved as a whole.

    Examples
    --------
    >>> import tempfile
    >>> from tt_ref.cli._report import Report
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     report = Report(folder, "Demo")
    ...     report.paragraph("Hello.")
    ...     report.table([{"a": 1}], ["a"])
    ...     print(report.write().read_text())
    # Demo
    <BLANKLINE>
    Hello.
    <BLANKLINE>
    | a |
    |---|
    | 1 |
    <BLANKLINE>
    """

    def __init__(self, folder, title: str):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._parts = [f"# {title}\n"]

    def heading(self, text: str, level: int = 2) -> None:
        self._parts.append("#" * level + " " + text + "\n")

    def paragraph(self, text: str, *, at_top: bool = False) -> None:
        """Add a paragraph at the end (or, ``at_top``, right under the title)."""
        self._parts.insert(1 if at_top else len(self._parts), text.strip() + "\n")

    def table(self, rows, columns, headers=None, *, digits: int = 3) -> None:
        self._parts.append(markdown_table(rows, columns, headers, digits=digits) + "\n")

    def image(self, path, caption: str) -> None:
        path = Path(path)
        try:
            rel = path.resolve().relative_to(self.folder.resolve())
        except ValueError:
            rel = path
        self._parts.append(f"![{caption}]({rel.as_posix()})\n")

    def write(self, name: str = "report.md") -> Path:
        return atomic_write_text(self.folder / name, "\n".join(self._parts))
