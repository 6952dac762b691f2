"""``tt-ref bench ttm``: TT-matrix linear layers against the dense product, and the digits MLP.

- Default: GPT-2 small's fully connected layers (``c_fc`` 768 -> 3072, ``c_proj`` 3072 ->
  768) at batches of 512 to 8192 tokens and TT ranks 16 to 72, mode sizes by the paper's
  code's rule: forward and backward seconds (full and memory-lean saving), the bytes kept
  between forward and backward and the peak of each pass, all as ratios to the dense
  layer; and a check of the cost model (each contraction order's predicted work against
  its measured time).
- ``--mlp``: a ReLU network on scikit-learn's handwritten digits trained with the layers'
  own backward (Adam), dense against TT-matrix hidden layers at several ranks.

One thread (threadpoolctl); seconds are process CPU time (wall time on CuPy), so other
processes on a shared machine do not count. Peak memory is measured with ``tracemalloc``
(NumPy and array_api_strict report their buffers to it; not measured on CuPy).
Ctrl-C stops after the row in progress (one layer, batch and rank; one MLP
configuration): the finished rows are printed and written (JSON, Markdown, plot) with an
``interrupted`` mark, exit status 130. Results and their reading: ``docs/results-ttm.md``.
"""

from __future__ import annotations

import math
import os
import platform
import statistics
import time
import tracemalloc

import numpy as np

from .._backend import ArgumentValueError, backend_name, from_numpy, synchronize
from .._backend._io import save_figure, write_text
from ..layers import (
    random_ttm_layer,
    ttm_layer_shape,
    ttm_linear,
    ttm_linear_backward,
    ttm_linear_cost,
    ttm_linear_forward,
)
from ._common import INTERRUPTED_NOTE, InterruptWatch, add_backend_argument, check_outputs, int_list, log, pin_threads, \
    require_backend, write_json_output
from ._report import format_table, markdown_table

FORMAT = "tt_ref.bench_ttm"
VERSION = 1

#: GPT-2 small's fully connected layers: (name, n_in, n_out).
GPT2_LAYERS = (("c_fc", 768, 3072), ("c_proj", 3072, 768))
_DEFAULTS = {"batches": (512, 2048, 8192), "ranks": (16, 32, 64, 72), "mlp_ranks": (1, 2, 4, 8, 16)}
_QUICK = {"batches": (64,), "ranks": (8,), "mlp_ranks": (2,)}


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "ttm", help="TT-matrix layers vs the dense product at GPT-2 sizes (ratios), or the digits MLP (--mlp)",
        description=__doc__.split("\n\n")[1].replace("\n", " "))
    add = parser.add_argument
    add("--mlp", action="store_true", help="train the digits MLP (dense vs TT-matrix hidden layers) instead")
    add("--batches", type=int_list(), default=None, help="tokens per batch (default 512,2048,8192)")
    add("--ranks", type=int_list(), default=None,
        help="TT ranks (default 16,32,64,72; with --mlp 1,2,4,8,16)")
    add("--rule", choices=("greenal", "balanced"), default="greenal",
        help="mode sizes: the paper's code's rule (default) or balanced factors (--d cores)")
    add("--d", type=int, default=4, help="cores for --rule balanced (default 4)")
    add("--dtype", choices=("float32", "float64"), default="float32", help="default float32")
    add("--repeat", type=int, default=3, help="timed calls per measurement after the measured first (fastest; default 3)")
    add("--epochs", type=int, default=30, help="--mlp: epochs (default 30)")
    add("--seeds", type=int, default=3, help="--mlp: networks per configuration, seeds 0.. (default 3)")
    add("--quick", action="store_true", help="a few seconds: one small batch and rank (a smoke run)")
    add("--json", metavar="PATH", default=None, help="write every row as JSON")
    add("--markdown", metavar="PATH", default=None, help="write the tables as Markdown (for docs/results-ttm.md)")
    add("--plot", metavar="PNG", default=None, help="draw the ratios (or the MLP's accuracy against parameters)")
    add("--seed", type=int, default=0, help="seed of the random inputs and weights (default 0)")
    add_backend_argument(parser, "the layers")
    parser.set_defaults(func=run)


# --------------------------------------------------------------------------- measuring
# The clock of _measure: process CPU time on the host, wall time on a GPU (set by run()).
_CLOCK = [time.process_time]


def _measure(func, repeat: int, sync, *, memory: bool):
    """``(fastest seconds, peak bytes allocated during the first call, result)``.

    The first call runs under ``tracemalloc`` (when ``memory``) and is not timed; then
    ``repeat`` timed calls, of which the fastest counts. Seconds are process CPU time on
    the host backends (one pinned thread: what the work costs, whatever else the machine
    runs), wall time after a device sync on CuPy.
    """
    peak = None
    if memory:
        tracemalloc.start()
        try:  # stopped even when Ctrl-C lands here: tracing would slow what the command still does
            base = tracemalloc.get_traced_memory()[0]
            result = func()
            sync()
            peak = tracemalloc.get_traced_memory()[1] - base
        finally:
            tracemalloc.stop()
    else:
        result = func()
        sync()
    samples = []
    for _ in range(repeat):
        start = _CLOCK[0]()
        result = func()
        sync()
        samples.append(_CLOCK[0]() - start)
    return min(samples), peak, result


def _ratio(value, base):
    return None if value is None or not base else value / base


def _dense_layer(x, w, b, g, xp, repeat, sync, memory):
    """The dense baseline: forward ``x W^T + b``; backward ``(G W, G^T x, sum G)``."""
    fwd = _measure(lambda: xp.tensordot(x, w, axes=([1], [1])) + b, repeat, sync, memory=memory)
    bwd = _measure(lambda: (g @ w, xp.tensordot(g, x, axes=([0], [0])), xp.sum(g, axis=0)), repeat, sync,
                   memory=memory)
    itemsize = 4 if x.dtype == xp.float32 else 8
    return {"fwd_s": fwd[0], "bwd_s": bwd[0], "fwd_peak": fwd[1], "bwd_peak": bwd[1],
            "saved": x.shape[0] * x.shape[1] * itemsize}


def _ttm_layer(x, weight, b, g, repeat, sync, memory, itemsize):
    """Forward and backward of the TT-matrix layer with each saving, on ``path="auto"``."""
    out = {}
    for saving in ("full", "lean"):
        fwd_s, fwd_peak, (_, saved) = _measure(lambda: ttm_linear_forward(x, weight, b, saving=saving), repeat,
                                               sync, memory=memory)
        bwd_s, bwd_peak, _ = _measure(lambda: ttm_linear_backward(g, saved), repeat, sync, memory=memory)
        out[saving] = {"fwd_s": fwd_s, "bwd_s": bwd_s, "fwd_peak": fwd_peak, "bwd_peak": bwd_peak,
                       "saved": saved.n_saved_elements * itemsize, "path": saved.path}
    return out


def _layer_rows(name, n_in, n_out, batch, ranks, args, xp, sync):
    """Rows for one GPT-2 layer and batch: the dense layer, then one TT-matrix layer per rank,
    yielded one at a time (the caller keeps each as it comes)."""
    rng = np.random.default_rng(args.seed)
    memory = backend_name(xp) != "cupy"
    dtype = args.dtype
    itemsize = 4 if dtype == "float32" else 8
    x = from_numpy(rng.standard_normal((batch, n_in)), xp, dtype=dtype)
    g = from_numpy(rng.standard_normal((batch, n_out)), xp, dtype=dtype)
    b = from_numpy(np.zeros(n_out), xp, dtype=dtype)
    w = from_numpy(rng.standard_normal((n_out, n_in)) / math.sqrt(n_in), xp, dtype=dtype)
    dense = _dense_layer(x, w, b, g, xp, args.repeat, sync, memory)
    for rank in ranks:
        shape = ttm_layer_shape(n_in, n_out, rank, rule=args.rule, d=args.d if args.rule == "balanced" else None)
        weight = random_ttm_layer(shape, seed=args.seed, dtype=dtype, backend=backend_name(xp))
        log(f"  {name} batch {batch} rank {rank}: modes {shape.row_shape} x {shape.col_shape}")
        ttm = _ttm_layer(x, weight, b, g, args.repeat, sync, memory, itemsize)
        cost = ttm_linear_cost(weight, batch)
        full, lean = ttm["full"], ttm["lean"]
        yield {
            "layer": name, "n_in": n_in, "n_out": n_out, "batch": batch, "rank": rank,
            "row_shape": list(shape.row_shape), "col_shape": list(shape.col_shape), "ranks": list(shape.ranks),
            "params": shape.n_params, "params_ratio": shape.n_params / shape.dense_params, "path": full["path"],
            "flops_ratio": cost["forward"][cost["inference_path"]] / cost["dense_forward"],
            "sweep_flops_ratio": min(cost["forward"]["left_to_right"], cost["forward"]["right_to_left"])
            / cost["dense_forward"],
            "fwd_ratio": _ratio(full["fwd_s"], dense["fwd_s"]), "bwd_ratio": _ratio(full["bwd_s"], dense["bwd_s"]),
            "lean_fwd_ratio": _ratio(lean["fwd_s"], dense["fwd_s"]),
            "lean_bwd_ratio": _ratio(lean["bwd_s"], dense["bwd_s"]),
            "saved_ratio": _ratio(full["saved"], dense["saved"]), "lean_saved_ratio": _ratio(lean["saved"], dense["saved"]),
            "sweep_saved_ratio": _sweep_saved(weight, batch) / (batch * n_in),
            "fwd_peak_ratio": _ratio(full["fwd_peak"], dense["fwd_peak"]),
            "bwd_peak_ratio": _ratio(full["bwd_peak"], dense["bwd_peak"]),
            "lean_bwd_peak_ratio": _ratio(lean["bwd_peak"], dense["bwd_peak"]),
            "dense": dense, "ttm": ttm,
        }


def _sweep_saved(weight, batch) -> int:
    """Elements a full-saving sweep keeps (what autograd through the sweep would keep)."""
    from ..layers._cost import memory_elements

    shapes = (weight.row_shape, weight.col_shape, weight.ranks)
    return min(memory_elements(*shapes, batch, p, "full")["saved"] for p in ("left_to_right", "right_to_left"))


def _cost_check_rows(batch, ranks, args, xp, sync):
    """Each contraction order forced, forward only: predicted multiply-adds and measured
    seconds, both relative to the dense product ``x W^T``; yielded one row at a time."""
    rng = np.random.default_rng(args.seed)
    for name, n_in, n_out in GPT2_LAYERS:
        x = from_numpy(rng.standard_normal((batch, n_in)), xp, dtype=args.dtype)
        w = from_numpy(rng.standard_normal((n_out, n_in)), xp, dtype=args.dtype)
        dense_s = _measure(lambda: xp.tensordot(x, w, axes=([1], [1])), args.repeat, sync, memory=False)[0]
        for rank in ranks:
            shape = ttm_layer_shape(n_in, n_out, rank, rule=args.rule, d=args.d if args.rule == "balanced" else None)
            weight = random_ttm_layer(shape, seed=args.seed, dtype=args.dtype, backend=backend_name(xp))
            cost = ttm_linear_cost(weight, batch)
            for path, flops in cost["forward"].items():
                seconds = _measure(lambda: ttm_linear(x, weight, path=path), args.repeat, sync, memory=False)[0]
                yield {"layer": name, "batch": batch, "rank": rank, "path": path,
                       "chosen": path == cost["inference_path"],
                       "predicted": flops / cost["dense_forward"], "measured": seconds / dense_s}


# --------------------------------------------------------------------------- GPT-2 layers
_TIME_COLUMNS = ["layer", "batch", "rank", "params_ratio", "path", "flops_ratio", "sweep_flops_ratio",
                 "fwd_ratio", "bwd_ratio", "lean_fwd_ratio", "lean_bwd_ratio"]
_TIME_HEADERS = ["layer", "batch", "rank", "params", "path", "work", "sweep work", "fwd", "bwd", "lean fwd",
                 "lean bwd"]
_MEMORY_COLUMNS = ["layer", "batch", "rank", "saved_ratio", "lean_saved_ratio", "sweep_saved_ratio",
                   "fwd_peak_ratio", "bwd_peak_ratio", "lean_bwd_peak_ratio"]
_MEMORY_HEADERS = ["layer", "batch", "rank", "saved", "lean saved", "sweep saved", "fwd peak", "bwd peak",
                   "lean bwd peak"]
_CHECK_COLUMNS = ["layer", "batch", "rank", "path", "chosen", "predicted", "measured"]


def _run_layers(args, xp, sync, watch) -> dict:
    """The layer rows and the cost-model check; Ctrl-C keeps the rows finished so far."""
    quick = _QUICK if args.quick else _DEFAULTS
    batches = args.batches or quick["batches"]
    ranks = args.ranks or quick["ranks"]
    check_batch = max(1, min(batches) // 4)  # forced sweeps can cost 100x the dense product
    rows, checks = [], []
    try:
        for name, n_in, n_out in GPT2_LAYERS:
            for batch in batches:
                watch.collect(_layer_rows(name, n_in, n_out, batch, ranks, args, xp, sync), rows)
        log(f"  cost-model check at batch {check_batch}")
        watch.collect(_cost_check_rows(check_batch, ranks, args, xp, sync), checks)
    except KeyboardInterrupt:
        watch.stop()
    tables = {
        "Time (TT-matrix layer / dense layer)": (rows, _TIME_COLUMNS, _TIME_HEADERS),
        "Memory (TT-matrix layer / dense layer)": (rows, _MEMORY_COLUMNS, _MEMORY_HEADERS),
        f"Cost model: forward work and time of each path / dense, batch {check_batch}": (checks, _CHECK_COLUMNS, None),
    }
    return {"rows": rows, "cost_check": checks, "tables": tables}


# --------------------------------------------------------------------------- the digits MLP
_MLP_COLUMNS = ["name", "hidden_params", "total_params", "compression", "test_accuracy", "test_accuracy_std",
                "train_accuracy", "seconds"]
_MLP_HEADERS = ["hidden layers", "hidden params", "all params", "hidden compression", "test acc.", "+-",
                "train acc.", "seconds"]


def _run_mlp(args, backend: str, watch) -> dict:
    """The digits MLP, dense then each rank; Ctrl-C keeps the configurations finished so far."""
    from ..datasets import load_dataset, train_test_split

    data = load_dataset("digits")
    x = np.asarray(data.X, dtype=np.float64) / 16.0
    y = np.asarray(data.labels, dtype=np.int64)
    train, test = train_test_split(x.shape[0], x.shape[0] // 4, seed=args.seed)
    data_split = (x[train], y[train], x[test], y[test])
    ranks = args.ranks or (_QUICK if args.quick else _DEFAULTS)["mlp_ranks"]
    epochs, seeds = (2, 1) if args.quick else (args.epochs, args.seeds)
    rows = []
    try:
        watch.collect(_mlp_rows(data_split, ranks, epochs, seeds, args, backend), rows)
    except KeyboardInterrupt:
        watch.stop()
    title = f"Digits MLP 64-256-256-10, {epochs} epochs, Adam, {seeds} seed(s), {len(train)} train / {len(test)} test"
    return {"rows": rows, "tables": {title: (rows, _MLP_COLUMNS, _MLP_HEADERS)}}


def _mlp_rows(data_split, ranks, epochs, seeds, args, backend):
    """One row per configuration (dense, then each rank), yielded as each is trained."""
    from ..layers._mlp import train_mlp

    x_train, y_train, x_test, y_test = data_split
    dense_hidden = None
    for rank in (None,) + tuple(ranks):
        runs = [train_mlp(x_train, y_train, x_test, y_test, rank=rank, epochs=epochs, seed=seed, backend=backend,
                          dtype=args.dtype) for seed in range(seeds)]
        first = runs[0]
        dense_hidden = dense_hidden or first.hidden_params
        accuracies = [r.test_accuracy for r in runs]
        log(f"  {first.name}: test accuracy {statistics.mean(accuracies):.4f}")
        yield {"name": first.name, "rank": rank, "hidden_params": first.hidden_params,
               "total_params": first.total_params, "compression": dense_hidden / first.hidden_params,
               "test_accuracy": statistics.mean(accuracies), "test_accuracy_std": statistics.pstdev(accuracies),
               "train_accuracy": statistics.mean(r.train_accuracy for r in runs),
               "seconds": statistics.mean(r.seconds for r in runs), "accuracies": accuracies}


# --------------------------------------------------------------------------- plots
def _plot_layers(rows, path) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4))
    axes = fig.subplots(1, 2)
    for (name, _, _), ax in zip(GPT2_LAYERS, axes):
        for rank in sorted({r["rank"] for r in rows}):
            sel = [r for r in rows if r["layer"] == name and r["rank"] == rank]
            if not sel:  # not measured: Ctrl-C stopped the run first
                continue
            batches = [r["batch"] for r in sel]
            total = [(r["ttm"]["full"]["fwd_s"] + r["ttm"]["full"]["bwd_s"])
                     / (r["dense"]["fwd_s"] + r["dense"]["bwd_s"]) for r in sel]
            lean = [(r["ttm"]["lean"]["fwd_s"] + r["ttm"]["lean"]["bwd_s"])
                    / (r["dense"]["fwd_s"] + r["dense"]["bwd_s"]) for r in sel]
            line, = ax.plot(batches, total, "o-", label=f"rank {rank} ({sel[0]['params_ratio']:.0%} params)")
            ax.plot(batches, lean, "s--", color=line.get_color())
        ax.axhline(1.0, color="0.6", linewidth=0.8)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("tokens per batch")
        ax.set_ylabel("(forward + backward) seconds / dense")
        ax.set_title(f"{name}: solid full saving, dashed lean")
        if ax.get_legend_handles_labels()[0]:  # an interrupted run may not have reached this layer
            ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path)


def _plot_mlp(rows, path) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    ttm = [r for r in rows if r["rank"] is not None]
    dense = [r for r in rows if r["rank"] is None]
    ax.errorbar([r["hidden_params"] for r in ttm], [r["test_accuracy"] for r in ttm],
                yerr=[r["test_accuracy_std"] for r in ttm], fmt="o-", label="TT-matrix hidden layers", capsize=3)
    for r in ttm:
        ax.annotate(f"r={r['rank']}", (r["hidden_params"], r["test_accuracy"]), textcoords="offset points",
                    xytext=(4, -10), fontsize=8)
    ax.errorbar([r["hidden_params"] for r in dense], [r["test_accuracy"] for r in dense],
                yerr=[r["test_accuracy_std"] for r in dense], fmt="s", color="black", label="dense", capsize=3)
    ax.set_xscale("log")
    ax.set_xlabel("parameters of the two hidden layers")
    ax.set_ylabel("test accuracy (digits)")
    ax.set_title("MLP on digits: accuracy against parameters")
    ax.legend(loc="lower right")
    fig.tight_layout()
    save_figure(fig, path)


# --------------------------------------------------------------------------- command
def _check_args(args) -> None:
    for option, value, low in (("--repeat", args.repeat, 1), ("--epochs", args.epochs, 1), ("--seeds", args.seeds, 1),
                               ("--d", args.d, 1), ("--seed", args.seed, 0)):
        if value < low:
            raise ArgumentValueError(f"{option} must be >= {low}, got {value}")
    check_outputs(json=args.json, plot=args.plot, markdown=(args.markdown, "file", ".md") if args.markdown else None)


def run(args) -> int:
    _check_args(args)
    xp = require_backend(args.backend)
    sync = lambda: synchronize(xp)  # noqa: E731
    _CLOCK[0] = time.perf_counter if args.backend == "cupy" else time.process_time
    with pin_threads(1) as message, InterruptWatch() as watch:
        print(message)
        clock = "wall time after a device sync" if args.backend == "cupy" else "process CPU time"
        print(f"backend: {args.backend}; dtype: {args.dtype}; seed: {args.seed}; timed calls: {args.repeat} "
              f"(fastest, {clock})", flush=True)
        result = _run_mlp(args, args.backend, watch) if args.mlp else _run_layers(args, xp, sync, watch)
    blocks = []
    for title, (rows, columns, headers) in result["tables"].items():
        print(f"\n{title}")
        print(format_table(rows, columns, headers))
        blocks.append(f"### {title}\n\n{markdown_table(rows, columns, headers)}\n")
    if not args.mlp:
        print("\nratios: TT-matrix layer / dense layer (below 1: the TT-matrix layer is cheaper); work = "
              "multiply-adds of the path taken; lean = saving only x")
    if watch.requested:
        print(INTERRUPTED_NOTE)
        blocks.append(f"**{INTERRUPTED_NOTE}.**\n")
    if args.markdown:
        write_text(args.markdown, "\n".join(blocks))
    if args.json:
        payload = {"format": FORMAT, "version": VERSION, "mode": "mlp" if args.mlp else "layers",
                   "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count(), "threads": message},
                   "backend": args.backend, "dtype": args.dtype, "rule": args.rule, "quick": bool(args.quick),
                   "rows": result["rows"], "cost_check": result.get("cost_check")}
        write_json_output(args.json, payload, interrupted=watch.requested)
    if args.plot and result["rows"]:
        (_plot_mlp if args.mlp else _plot_layers)(result["rows"], args.plot)
        print(f"wrote the plot to {args.plot}")
    return watch.exit_code
