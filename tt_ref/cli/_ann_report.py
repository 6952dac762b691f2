"""Tables, targets and plots of ``tt-ref bench ann``.

Tables are printed as Markdown pipe tables, so the results pages hold the command's
output as it was printed. Ratios are to faiss: QPS to the best faiss IVF-Flat setting
that reaches the recall target, distance computations to the faiss IVF-Flat with the
same coarse parameters as the regime's TT cloud.
"""

from __future__ import annotations

import numpy as np

from .._backend._io import save_figure
from ..search import pareto_front
from ._report import markdown_table

TARGET_RECALL = 0.9
EMPTY_SHARE_TARGET = 0.10
QPS_SHARE_TARGET = 0.5
#: The same target for the faiss-backed scan (``--scan faiss``): at least faiss IVF-Flat's best.
QPS_SHARE_TARGET_FAISS_SCAN = 1.0


def _ok(items):
    return [item for item in items if item["status"] == "ok"]


def _fmt(value, spec=".3f"):
    if value is None:
        return "-"
    if isinstance(value, float) and not np.isfinite(value):
        return "-"
    return format(value, spec)


def _table(header, lines):
    """Pre-formatted cells as a Markdown table (the one formatter, ``_report.markdown_table``)."""
    columns = [str(j) for j in range(len(header))]
    rows = [{c: str(cell) for c, cell in zip(columns, line)} for line in lines]
    return markdown_table(rows, columns, list(header))


def mark_pareto(rows) -> None:
    """Mark each row on the recall / QPS front of its regime (the exact search counts in each)."""
    for regime in sorted({row["regime"] for row in rows} - {"-"}):
        group = [r for r in _ok(rows) if r["regime"] in (regime, "-")]
        front = pareto_front([r["recall"] for r in group], [r["qps"] for r in group])
        for row, mark in zip(group, front):
            if row["regime"] == regime:
                row["pareto"] = bool(mark)


# --------------------------------------------------------------------------- reading the rows
def _best_qps(rows, target):
    good = [r for r in _ok(rows) if r["recall"] >= target]
    return max(good, key=lambda r: r["qps"]) if good else None


def _fewest_distances(rows, target):
    good = [r for r in _ok(rows) if r["recall"] >= target and r["distances_per_query"] is not None]
    return min(good, key=lambda r: r["distances_per_query"]) if good else None


def _same(row, key):
    return (row["regime"], row["method"], row["config"]) == key


def _equal_params_ivf(infos, regime):
    for info in _ok(infos):
        if info["regime"] == regime and info["method"] == "faiss IVF-Flat" and "params" in info["match"]:
            return info
    return None


def summary(rows, infos, target=TARGET_RECALL) -> list[dict]:
    """Per index: best QPS and fewest distances at recall >= target, with ratios to faiss."""
    ivf_best = _best_qps([r for r in rows if r["method"] == "faiss IVF-Flat"], target)
    out = []
    for info in infos:
        key = (info["regime"], info["method"], info["config"])
        own = [r for r in rows if _same(r, key)]
        best, fewest = _best_qps(own, target), _fewest_distances(own, target)
        ref = _equal_params_ivf(infos, info["regime"])
        ref_fewest = ref and _fewest_distances([r for r in rows if _same(r, (ref["regime"], ref["method"],
                                                                              ref["config"]))], target)
        out.append({
            "regime": info["regime"], "method": info["method"], "config": info["config"], "match": info["match"],
            "status": info["status"], "note": info["note"],
            "max_recall": max((r["recall"] for r in _ok(own)), default=None),
            "best_qps": best and best["qps"], "best_qps_search": best and best["search"],
            "qps_vs_faiss_ivf_best": best and ivf_best and best["qps"] / ivf_best["qps"],
            "fewest_distances": fewest and fewest["distances_per_query"],
            "fewest_distances_search": fewest and fewest["search"],
            "distances_vs_faiss_ivf_equal_params": (fewest and ref_fewest
                                                    and fewest["distances_per_query"] / ref_fewest["distances_per_query"]),
        })
    return out


# --------------------------------------------------------------------------- targets
def _tt_info(infos, regime):
    return next((i for i in _ok(infos) if i["regime"] == regime and i["method"] == "TT index"), None)


def _target_distances(rows, infos, regime, target):
    tt = _tt_info(infos, regime)
    ref = _equal_params_ivf(infos, regime)
    tt_d = _fewest_distances([r for r in rows if r["regime"] == regime and r["method"] == "TT index"], target)
    if ref is None:
        return {"measured": "no faiss IVF-Flat with equal parameters in this run", "short": "-", "met": None}
    ref_d = _fewest_distances([r for r in rows if _same(r, (regime, ref["method"], ref["config"]))], target)
    if tt_d is None:
        best = max((r["recall"] for r in _ok(rows) if r["regime"] == regime and r["method"] == "TT index"),
                   default=None)
        return {"measured": f"TT {tt['config'] if tt else ''} reaches at most {_fmt(best)}",
                "short": f"TT max {_fmt(best)}", "met": False}
    ref_text = (f"{ref['config']} {ref_d['distances_per_query']:,.0f} ({ref_d['search']})" if ref_d
                else f"{ref['config']} does not reach it")
    met = ref_d is None or tt_d["distances_per_query"] <= ref_d["distances_per_query"]
    short = f"{tt_d['distances_per_query']:,.0f} vs " + (f"{ref_d['distances_per_query']:,.0f}" if ref_d else "-")
    return {"measured": f"TT {tt_d['distances_per_query']:,.0f} ({tt_d['search']}); IVF-Flat {ref_text}",
            "short": short, "met": met}


def _target_peers(infos):
    tt = _tt_info(infos, "fine")
    peers = [i for i in _ok(infos) if i["regime"] == "fine" and i["method"] in ("faiss IMI", "faiss RCQ-IVF")
             and "params" in i["match"]]
    if tt is None or not peers:
        return {"measured": "TT or the equal-parameter IMI / residual IVF not in this run", "short": "-", "met": None}
    parts, met, short = [], True, []
    tt_r = tt["one_recall_at"].get(100)
    parts.append(f"TT 1-recall@100 {_fmt(tt_r)}, E[size] {tt['expected_bucket_size']:.2f}")
    for peer in peers:
        r = peer["one_recall_at"].get(100)
        parts.append(f"{peer['config']} {_fmt(r)}, {peer['expected_bucket_size']:.2f}")
        met = met and tt_r is not None and r is not None and tt_r > r
        met = met and tt["expected_bucket_size"] < peer["expected_bucket_size"]
        short.append(f"{_fmt(r, '.2f')}/{peer['expected_bucket_size']:.1f}")
    return {"measured": "; ".join(parts), "met": met,
            "short": f"{_fmt(tt_r, '.2f')}/{tt['expected_bucket_size']:.1f} vs " + ", ".join(short)}


def _target_qps(rows, target, backend, share):
    tt = _best_qps([r for r in rows if r["method"] == "TT index"], target)
    ivf = _best_qps([r for r in rows if r["method"] == "faiss IVF-Flat"], target)
    if ivf is None:
        return {"measured": "faiss IVF-Flat not measured or below the target", "short": "-", "met": None}
    if tt is None:
        return {"measured": f"TT does not reach the target; IVF-Flat best {ivf['qps']:,.0f}", "short": "TT < target",
                "met": False}
    ratio = tt["qps"] / ivf["qps"]
    text = (f"TT {tt['qps']:,.0f} ({tt['regime']}, {tt['search']}) vs IVF-Flat {ivf['qps']:,.0f} "
            f"({ivf['config']} {ivf['search']}): {ratio:.2f}x ({backend})")
    return {"measured": text, "short": f"{ratio:.2f}x", "met": ratio >= share}


def targets(rows, infos, k, backend, target=TARGET_RECALL, scan="auto") -> list[dict]:
    """The four index targets, read off this run's rows and index figures.

    With ``scan="faiss"`` (the TT buckets scanned by faiss) the QPS target is
    ``QPS_SHARE_TARGET_FAISS_SCAN`` times faiss IVF-Flat's best, else ``QPS_SHARE_TARGET``.
    """
    qps_share = QPS_SHARE_TARGET_FAISS_SCAN if scan == "faiss" else QPS_SHARE_TARGET
    path = f"{backend}, faiss scan" if scan == "faiss" else backend
    out = []
    for regime in ("ivf", "fine"):
        tt = _tt_info(infos, regime)
        if tt is not None:
            share = tt["empty_buckets"] / tt["n_buckets"]
            out.append({"target": f"empty TT leaves <= {EMPTY_SHARE_TARGET:.0%} ({regime})",
                        "measured": f"{tt['empty_buckets']:,} of {tt['n_buckets']:,} ({share:.1%})",
                        "short": f"{share:.0%}", "met": share <= EMPTY_SHARE_TARGET})
            out.append({"target": f"recall@{k} {target} with distances <= IVF-Flat equal params ({regime})",
                        **_target_distances(rows, infos, regime, target)})
    out.append({"target": "1-recall@100 and E[bucket size] better than IMI and RCQ of equal parameters (fine)",
                **_target_peers(infos)})
    out.append({"target": f"QPS at recall@{k} {target} >= {qps_share}x faiss IVF-Flat best",
                **_target_qps(rows, target, path, qps_share)})
    return out


# --------------------------------------------------------------------------- printing
def index_table(infos) -> str:
    lines = []
    for i in infos:
        if i["status"] != "ok":
            lines.append([i["regime"], i["method"], i["config"], i["match"], f"skipped: {i['note']}"] + [""] * 9)
            continue
        curve = i["one_recall_at"]
        empty = "-" if i["n_buckets"] is None else f"{i['empty_buckets']:,} ({i['empty_buckets'] / i['n_buckets']:.0%})"
        lines.append([i["regime"], i["method"], i["config"], i["match"], _fmt(i["n_buckets"], ","), empty,
                      _fmt(i["expected_bucket_size"], ".2f"), _fmt(i["coarse_params"], ",")]
                     + [_fmt(curve.get(R)) for R in (1, 10, 100, 1000)]
                     + [_fmt(i["build_seconds"], ".1f"), _fmt(i["bytes_per_vector"], ".1f")])
    return _table(["regime", "method", "config", "matches TT by", "buckets", "empty", "E[bucket size]",
                   "coarse params", "1-R@1", "1-R@10", "1-R@100", "1-R@1000", "build CPU s", "bytes/vector"], lines)


def summary_table(entries, k, target=TARGET_RECALL) -> str:
    lines = []
    for e in entries:
        if e["status"] != "ok":
            continue
        lines.append([e["regime"], e["method"], e["config"], _fmt(e["max_recall"]),
                      _fmt(e["best_qps"], ",.0f"), e["best_qps_search"] or "-", _fmt(e["qps_vs_faiss_ivf_best"], ".2f"),
                      _fmt(e["fewest_distances"], ",.0f"), _fmt(e["distances_vs_faiss_ivf_equal_params"], ".2f")])
    return _table(["regime", "method", "config", f"max recall@{k}", f"best QPS at >= {target}", "at",
                   "x faiss IVF-Flat best", f"fewest dist. at >= {target}", "x IVF-Flat equal params"], lines)


def rows_table(rows, k) -> str:
    lines = []
    for r in rows:
        if r["status"] != "ok":
            lines.append([r["regime"], r["method"], r["config"], f"skipped: {r['note']}"] + [""] * 6)
            continue
        lines.append([r["regime"], r["method"], r["config"], r["search"], _fmt(r["recall"]), _fmt(r["qps"], ",.0f"),
                      _fmt(r["qps_wall"], ",.0f"), _fmt(r["distances_per_query"], ",.0f"),
                      _fmt(r["build_seconds"], ".1f"), "*" if r.get("pareto") else ""])
    return _table(["regime", "method", "config", "search", f"recall@{k}", "QPS (CPU)", "QPS (wall)",
                   "dist./query", "build CPU s", "front"], lines)


_VERDICT = {True: "met", False: "**missed**", None: "not measured"}


def targets_table(entries) -> str:
    return _table(["target", "measured", "met?"], [[e["target"], e["measured"], _VERDICT[e["met"]]] for e in entries])


def overview_table(runs) -> str:
    """Targets (rows) by data set (columns) from several runs' JSON payloads."""
    names = [f"{run['data']} ({run['n_base']:,} x {run['dim']})" for run in runs]
    order = list(dict.fromkeys(t["target"] for run in runs for t in run["targets"]))
    lines = []
    for target in order:
        cells = []
        for run in runs:
            entry = next((t for t in run["targets"] if t["target"] == target), None)
            cells.append("-" if entry is None else f"{_VERDICT[entry['met']]} ({entry.get('short', '-')})")
        lines.append([target] + cells)
    return _table(["target"] + names, lines)


# --------------------------------------------------------------------------- plot
def plot(rows, path, title, k) -> None:
    """Recall@k against QPS and against distance computations, one row of panels per regime."""
    from ._report import new_figure  # a Figure without pyplot: matplotlib's backend is never changed

    regimes = [g for g in ("ivf", "fine") if any(r["regime"] == g for r in _ok(rows))]
    fig, axes = new_figure(max(len(regimes), 1), 2, figsize=(12, 4.5 * max(len(regimes), 1)))
    for ax_row, regime in zip(axes, regimes):
        curves = {}
        for r in _ok(rows):
            if r["regime"] != regime:
                continue
            label = f"{r['method']} {r['config']}"
            if r["method"] == "TT index":
                label += " " + r["search"].split()[0]
            elif r["match"] != "-":
                label += f" ({r['match']})"
            curves.setdefault(label, []).append(r)
        for j, (label, pts) in enumerate(curves.items()):
            pts = sorted(pts, key=lambda r: r["recall"])
            style = {"marker": "os^vDP*Xh<>"[j % 11], "color": f"C{j % 10}", "label": label}
            ax_row[0].plot([p["recall"] for p in pts], [p["qps"] for p in pts], **style)
            with_d = [p for p in pts if p["distances_per_query"] is not None]
            if with_d:
                ax_row[1].plot([p["recall"] for p in with_d], [p["distances_per_query"] for p in with_d], **style)
        for ax, ylabel in zip(ax_row, ("queries per second (1 thread, CPU time)", "distance computations per query")):
            ax.set_yscale("log")
            ax.set_xlabel(f"recall@{k}")
            ax.set_ylabel(ylabel)
            ax.set_title(f"{title}: {regime} regime")
            ax.grid(True, which="both", alpha=0.3)
            ax.axvline(TARGET_RECALL, color="grey", lw=0.8, ls="--")
        ax_row[0].legend(fontsize=6)
    fig.tight_layout()
    save_figure(fig, path)
