"""``tt-ref bench ann``: the TT index in two regimes against its real peers, in one run.

- IVF regime (about ``4 sqrt(N)`` buckets): the TT index against faiss IVF-Flat (same
  buckets and parameters) and hnswlib.
- Fine regime (one to four vectors per bucket: tens of thousands to millions of buckets,
  the paper's regime): against faiss's IMI (``IndexIVFFlat`` over ``MultiIndexQuantizer``),
  an IVF over ``ResidualCoarseQuantizer`` (beam search) and IVF-Flat, each at the TT
  cloud's number of buckets and at its number of parameters.

Every library is pinned to one thread; QPS is one batch of all queries per second of
process CPU time. Reported: recall@k against QPS and against distance computations per
query, 1-recall@R, empty buckets, expected bucket size, build time, bytes per vector,
and the index targets. Regimes: :mod:`tt_ref.cli._ann_tt`; peers:
:mod:`tt_ref.cli._ann_peers`; tables: :mod:`tt_ref.cli._ann_report`; results and
their reading: ``docs/results-ann.md``. Ctrl-C stops after the index in progress (a TT
index whose fit it stopped is not measured): the finished rows are printed and written
with an ``interrupted`` mark, exit status 130.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
from pathlib import Path

import numpy as np

from .._backend import ArgumentValueError, FileFormatError, namespace_for, to_numpy
from . import _ann_peers as peers
from . import _ann_report as report
from . import _ann_tt as tt
from ._common import INTERRUPTED_NOTE, InterruptWatch, add_backend_argument, check_outputs, choice_list, int_list, \
    pin_threads, write_json_output

FORMAT = "tt_ref.bench_ann"
VERSION = 2

METHODS = ("tt", "exact", "ivf", "imi", "rcq", "hnsw")

#: Sweeps: (full, --quick), in steps of about sqrt(2) (2 for the fine regime's probes) so
#: that no method's curve is read off a coarser grid than another's. Candidates by
#: default: 25 x 2**(j/2) up to half the base and 25,600 (every fourth with --quick).
_SWEEPS = {
    "beams": ("8,16,32,64", "8,32"),
    "probes": ("1,2,3,4,6,8,11,16,23,32,45,64,91,128,181,256", "1,4,16"),
    "fine_probes": ("1,2,4,8,16,32,64,128,256,512,1024,2048,4096,8192,16384", "1,16,256"),
    "efs": ("10,14,20,28,40,56,80,113,160,226,320", "16,64"),
}
_QUICK_STEPS = 50


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "ann", help="TT index (IVF and fine regimes) vs faiss IVF-Flat / IMI / residual IVF and hnswlib",
        description=__doc__.split("\n\n")[1].replace("\n", " "))
    add = parser.add_argument
    add("--data", default=None, help="digits, mnist5k, mnist, glove50, or a .npy/.npz/.fvecs path (required)")
    add("--queries", type=int, default=None, help="queries drawn at random from the set (default min(2000, N/10))")
    add("--max-base", type=int, default=None, help="keep a random sample of this many base vectors (default all)")
    add("--k", type=int, default=10, help="neighbours per query (recall@k; default 10)")
    add("--regimes", default="ivf,fine", help="comma list of ivf,fine (default both)")
    add("--methods", default=",".join(METHODS), help=f"comma list of {','.join(METHODS)} (default all)")
    for regime in tt.REGIMES:
        add(f"--{regime}-modes", default=None, help=f"TT mode sizes of the {regime} regime, e.g. 32,32 (default: auto)")
        add(f"--{regime}-ranks", default=None, help=f"TT ranks of the {regime} regime, e.g. 31 (default: auto)")
    add("--steps", type=int, default=None, help=f"fit steps (default: the library's; {_QUICK_STEPS} with --quick)")
    add("--fit-options", default=None, metavar="KEY=VALUE,...",
        help="other fit_point_cloud options, comma list, e.g. refine_sweeps=0,repair=false (default: the library's)")
    add("--train-size", type=int, default=100_000, help="vectors every coarse quantizer is trained on (default 100000)")
    add("--beams", default=None, help=f"TT beams, comma list (default {_SWEEPS['beams'][0]}; --quick {_SWEEPS['beams'][1]})")
    add("--candidates", default=None, help="TT candidates re-ranked, comma list (default 25, 35, 50, ... up to N/2 and 25600)")
    add("--probes", default=None, help=f"IVF-regime nprobe list (default {_SWEEPS['probes'][0]})")
    add("--fine-probes", default=None, help=f"fine-regime nprobe list (default {_SWEEPS['fine_probes'][0]})")
    add("--efs", default=None, help=f"hnswlib ef list (default {_SWEEPS['efs'][0]})")
    add("--scan", default="auto", choices=("auto", "lists", "gather", "faiss"),
        help="how the TT index scans its buckets (TTIndex.search's scan; faiss: faiss scans the TT buckets; "
             "default auto, the NumPy reference path)")
    add("--rcq-beam-factor", type=float, default=4.0, help="ResidualCoarseQuantizer beam / nprobe (default 4)")
    add("--quick", action="store_true", help="short sweeps and a short fit: a smoke run")
    add("--seed", type=int, default=0, help="seed of the split, the samples and the fits (default 0)")
    add_backend_argument(parser, "the TT index and exact search (on cupy, QPS is per wall-clock second with "
                                 "the device synchronised)")
    add("--json", metavar="PATH", default=None, help="write settings, rows, index figures and targets as JSON")
    add("--plot", metavar="PNG", default=None, help="plot recall@k against QPS and distances per query")
    add("--summarize", metavar="JSONS", default=None,
        help="print the targets of earlier runs side by side (comma list of --json files) and stop")
    parser.set_defaults(func=run)


# --------------------------------------------------------------------------- options
def parse_list(text, option: str, *, kind=int, choices=None) -> tuple:
    """A comma-separated option (the one list syntax of the command) as a tuple.

    Examples
    --------
    >>> parse_list("8, 32", "--beams")
    (8, 32)
    >>> parse_list("ivf", "--regimes", kind=str, choices=("ivf", "fine"))
    ('ivf',)
    """
    if kind is Path:
        items = [item.strip() for item in str(text).split(",") if item.strip()]
        if not items:
            raise ArgumentValueError(f"{option} must be a comma-separated list, got {text!r}")
        return tuple(Path(item) for item in items)
    # The list parsers every command shares (tt_ref.cli._common), checked at run time here.
    parse = choice_list(choices) if kind is str else int_list(minimum=1)
    try:
        return parse(str(text))
    except argparse.ArgumentTypeError as exc:
        raise ArgumentValueError(f"{option}: {exc}") from None


def _sweep(args, name):
    text = getattr(args, name)
    option = "--" + name.replace("_", "-")
    return parse_list(text if text is not None else _SWEEPS[name][int(bool(args.quick))], option)


def _candidates(args, n_base):
    if args.candidates is not None:
        return parse_list(args.candidates, "--candidates")
    values = [round(25 * 2 ** (j / 2)) for j in range(0, 21) if 25 * 2 ** (j / 2) <= max(25, n_base // 2)]
    return tuple(values[::4] if args.quick else values)


def _check_args(args):
    for option, value, minimum in (("--k", args.k, 1), ("--train-size", args.train_size, 1), ("--seed", args.seed, 0)):
        if value < minimum:
            raise ArgumentValueError(f"{option} must be an integer >= {minimum}, got {value}")
    for option, value in (("--queries", args.queries), ("--max-base", args.max_base), ("--steps", args.steps)):
        if value is not None and value < 1:
            raise ArgumentValueError(f"{option} must be an integer >= 1, got {value}")
    if not (math.isfinite(args.rcq_beam_factor) and args.rcq_beam_factor >= 1):
        raise ArgumentValueError(f"--rcq-beam-factor must be a number >= 1, got {args.rcq_beam_factor}")
    check_outputs(json=args.json, plot=args.plot)  # before the (long) run, not after it


def parse_options(text, option: str) -> dict:
    """``KEY=VALUE`` comma list as a dict; values as int, float, true/false/none, or text.

    Examples
    --------
    >>> parse_options("refine_sweeps=0, repair=false, lr=0.01, init=random", "--fit-options")
    {'refine_sweeps': 0, 'repair': False, 'lr': 0.01, 'init': 'random'}
    """
    out = {}
    for item in (part.strip() for part in str(text).split(",")):
        if not item:
            continue
        key, sep, value = (part.strip() for part in item.partition("="))
        if not sep or not key.isidentifier() or not value:
            raise ArgumentValueError(f"{option} must be a comma list of KEY=VALUE, got {item!r}")
        words = {"true": True, "false": False, "none": None}
        if value.lower() in words:
            out[key] = words[value.lower()]
            continue
        for kind in (int, float):
            try:
                out[key] = kind(value)
                break
            except ValueError:
                continue
        else:
            out[key] = value
    return out


def _fit_options(args, n_train):
    """Options of ``fit_point_cloud``: the library's defaults, with --fit-options, --steps
    (or --quick's short fit) and a batch no larger than the training rows."""
    from ..cloud._fit import DEFAULTS

    options = {} if args.fit_options is None else parse_options(args.fit_options, "--fit-options")
    if args.steps is not None:
        options["steps"] = args.steps
    elif args.quick:
        options["steps"] = _QUICK_STEPS
    if options.get("batch_size", DEFAULTS["batch_size"]) > n_train:
        options["batch_size"] = n_train
    return options


# --------------------------------------------------------------------------- data
def _load(args):
    """Host float32 ``(name, base, queries, train)``: a seeded random split and samples."""
    from ..datasets import load_dataset, train_test_split

    ds = load_dataset(args.data)
    X = np.ascontiguousarray(ds.X, dtype=np.float32)
    if ds.metric == "cosine":  # L2 search on unit vectors is cosine search
        norms = np.linalg.norm(X, axis=1, keepdims=True)
        X = X / np.where(norms > 0, norms, 1.0)
    n = X.shape[0]
    n_queries = args.queries if args.queries is not None else max(1, min(2000, n // 10))
    if n < 2 or not 1 <= n_queries < n:
        raise ArgumentValueError(f"--queries must be in [1, {n - 1}] for {ds.name} ({n} vectors), got {n_queries}")
    base_rows, query_rows = train_test_split(n, n_queries, seed=args.seed)
    rng = np.random.default_rng(args.seed)
    if args.max_base is not None and args.max_base < base_rows.size:
        base_rows = np.sort(rng.choice(base_rows, args.max_base, replace=False))
    base = np.ascontiguousarray(X[base_rows])
    if args.k > base.shape[0]:
        raise ArgumentValueError(f"--k must be at most the base size {base.shape[0]}, got {args.k}")
    n_train = min(args.train_size, base.shape[0])
    train = base if n_train == base.shape[0] else np.ascontiguousarray(
        base[np.sort(rng.choice(base.shape[0], n_train, replace=False))])
    return ds.name, base, np.ascontiguousarray(X[query_rows]), train


def _pin_threads():
    """The one thread pinner (tt_ref.cli._common.pin_threads), faiss included; hnswlib gets num_threads=1."""
    return pin_threads(1, faiss=True)


# --------------------------------------------------------------------------- the two regimes
def _bits_for(n_buckets):
    return max(1, round(math.log2(max(n_buckets, 2)) / 2))


def _capped_bits(bits, n_train):
    """At most MAX_PEER_BUCKETS buckets and 4 training vectors per codeword."""
    limit = min(int(math.log2(peers.MAX_PEER_BUCKETS)) // 2, int(math.log2(max(n_train // 4, 2))))
    return min(bits, limit), bits > limit


def _peer_plan(regime, config, dim, n_train, methods):
    """``[(kind, size, match)]``: the peers of one regime, matched to its TT cloud."""
    P, params = config.n_buckets, config.n_params
    plan = []
    if regime == "ivf":
        if "ivf" in methods:
            eq_params = max(1, round(params / dim))
            if eq_params == P or abs(eq_params - P) <= 0.05 * P:
                plan.append(("ivf", P, "equal buckets and params"))
            else:
                cap = max(1, n_train // 8)
                plan += [("ivf", P, "equal buckets"),
                         ("ivf", min(eq_params, cap), "equal params" + (" (capped at N/8)" if eq_params > cap else ""))]
        if "hnsw" in methods:
            plan.append(("hnsw", None, "-"))
        return plan
    bits = _bits_for(P)
    same = "equal buckets" if 4**bits == P else f"buckets 4^{bits} (TT {P:,})"
    for kind, per_codeword in (("imi", 1), ("rcq", 2)):
        if kind in methods:
            plan.append((kind, bits, same))
            eq_bits, capped = _capped_bits(_bits_for((params / (per_codeword * dim)) ** 2), n_train)
            if eq_bits != bits:
                plan.append((kind, eq_bits, "equal params" + (" (capped)" if capped else "")))
            else:
                plan[-1] = (kind, bits, same + ", equal params" + (" (capped)" if capped else ""))
    if "ivf" in methods:
        nlist = max(1, round(params / dim))
        cap = max(1, n_train // 8)
        plan.append(("ivf", min(nlist, cap), "equal params" + (" (capped at N/8)" if nlist > cap else "")))
    return plan


def _run_peer(kind, size, match, regime, wl, args):
    if kind == "ivf":
        probes = _sweep(args, "probes" if regime == "ivf" else "fine_probes")
        return peers.ivf_flat(wl, size, regime, match, probes)
    if kind == "imi":
        return peers.imi(wl, size, regime, match, _sweep(args, "fine_probes"))
    if kind == "rcq":
        return peers.residual_ivf(wl, size, regime, match, _sweep(args, "fine_probes"), args.rcq_beam_factor)
    return peers.hnsw(wl, regime, _sweep(args, "efs"))


def _regime_configs(args, regimes, n_base, dim):
    """Each regime's TT configuration, from the options or the defaults (checked before any work)."""
    configs = {}
    for regime in regimes:
        modes, ranks = getattr(args, f"{regime}_modes"), getattr(args, f"{regime}_ranks")
        configs[regime] = tt.regime_config(regime, n_base, dim,
                                           None if modes is None else parse_list(modes, f"--{regime}-modes"),
                                           None if ranks is None else parse_list(ranks, f"--{regime}-ranks"))
    return configs


def _run_regime(config, args, methods, wl, x_data, fit_options, sync, log, rows, infos, watch):
    """Append the regime's rows and index infos to ``rows`` / ``infos`` as each index is measured
    (kept when Ctrl-C stops the run)."""
    regime, dim = config.regime, wl.base.shape[1]
    x_base, x_queries, x_train = x_data
    if "tt" in methods:
        index, fit, add = tt.build(config, x_base, x_train, fit_options, args.seed, sync)
        watch.checkpoint()  # a fit Ctrl-C stopped leaves a half-trained index: do not measure it
        log(f"{regime} regime: TT {config.label} ({config.n_params:,} parameters) fitted in {fit.cpu:.1f} CPU s, "
            f"filled in {add.cpu:.1f} CPU s")
        r, i = tt.measure(index, config, fit, add, x_queries, wl.true_ids, wl.k, _sweep(args, "beams"),
                          _candidates(args, wl.base.shape[0]), sync, scan=args.scan)
        rows += r
        infos += i
        watch.checkpoint()
    for kind, size, match in _peer_plan(regime, config, dim, wl.train.shape[0], methods):
        r, i = _run_peer(kind, size, match, regime, wl, args)
        log(f"{regime} regime: {i[0]['method']} {i[0]['config']} ({match}) "
            + ("done" if i[0]["status"] == "ok" else i[0]["note"]))
        rows += r
        infos += i
        watch.checkpoint()


# --------------------------------------------------------------------------- run
def _summarize(paths) -> int:
    """Print the targets table of earlier runs (their --json files), one column per run."""
    runs = []
    for path in parse_list(paths, "--summarize", kind=Path):
        try:
            payload = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise FileFormatError(f"--summarize: cannot read {str(path)!r} as JSON: {exc}") from None
        if not isinstance(payload, dict) or payload.get("format") != FORMAT or payload.get("version") != VERSION:
            raise FileFormatError(f"--summarize: {str(path)!r} is not a version-{VERSION} {FORMAT} file")
        runs.append(payload)
    print(report.overview_table(runs))
    return 0


def run(args) -> int:
    if args.summarize is not None:
        return _summarize(args.summarize)
    if args.data is None:
        raise ArgumentValueError("--data is required (a data set name or a vector file), or --summarize")
    _check_args(args)
    methods = parse_list(args.methods, "--methods", kind=str, choices=METHODS)
    regimes = parse_list(args.regimes, "--regimes", kind=str, choices=tt.REGIMES)
    for name in ("beams", "probes", "fine_probes", "efs"):
        _sweep(args, name)  # a malformed list fails before any work
    name, base, queries, train = _load(args)
    configs = _regime_configs(args, regimes, base.shape[0], base.shape[1])
    fit_options = _fit_options(args, train.shape[0])
    _candidates(args, base.shape[0])
    xp = namespace_for(args.backend)
    sync = xp if args.backend == "cupy" else None
    x_data = tuple(xp.asarray(a) for a in (base, queries, train))
    with _pin_threads() as thread_note, InterruptWatch() as watch:
        thread_note += "; hnswlib num_threads=1"
        print(f"tt-ref bench ann: {name}, base {base.shape[0]:,} x {base.shape[1]}, {queries.shape[0]:,} random "
              f"queries, k={args.k}, quantizers trained on {train.shape[0]:,} vectors, backend {args.backend}")
        print(thread_note)
        print(f"machine: {platform.machine()} {platform.processor() or ''}, {os.cpu_count()} CPUs; QPS = queries per "
              "second of process CPU time (one batch); build = CPU seconds")
        from ..search import nearest_neighbors, recall_at_k

        gt = peers.Clock(lambda: nearest_neighbors(x_data[1], x_data[0], args.k, check_values=False), sync)
        wl = peers.Workload(base, queries, args.k, to_numpy(gt.out[1]).astype(np.int64), train, bool(args.quick))
        rows, infos = [], []
        if "exact" in methods:
            rows.append(peers.make_row("-", f"exact ({args.backend} GEMM)", "-", "-", "-", recall=recall_at_k(
                to_numpy(gt.out[1]), wl.true_ids, args.k), **gt.qps(queries.shape[0]),
                distances_per_query=float(base.shape[0]), build_seconds=0.0, bytes_per_vector=4.0 * base.shape[1]))
        try:
            for regime in regimes:
                _run_regime(configs[regime], args, methods, wl, x_data, fit_options, sync,
                            lambda text: print("  " + text, flush=True), rows, infos, watch)
        except KeyboardInterrupt:
            watch.stop()
    report.mark_pareto(rows)
    entries = report.summary(rows, infos)
    goals = report.targets(rows, infos, args.k, args.backend, scan=args.scan)
    for title, text in (("Indexes: buckets, 1-recall@R (true neighbour among the first R vectors visited), size",
                         report.index_table(infos)),
                        (f"At recall@{args.k} >= {report.TARGET_RECALL} (ratios to faiss)",
                         report.summary_table(entries, args.k)),
                        ("Targets", report.targets_table(goals)),
                        ("All search settings", report.rows_table(rows, args.k))):
        print(f"\n### {title}\n\n{text}")
    if watch.requested:
        print(f"\n{INTERRUPTED_NOTE}")
    if args.json:
        write_json_output(args.json, {
            "format": FORMAT, "version": VERSION, "data": name, "n_base": int(base.shape[0]),
            "n_queries": int(queries.shape[0]), "dim": int(base.shape[1]), "k": args.k, "threads": 1,
            "thread_note": thread_note, "backend": args.backend, "quick": bool(args.quick),
            "machine": f"{platform.machine()} {platform.processor()}", "cpus": os.cpu_count(),
            "ground_truth_seconds": gt.cpu, "n_train": int(train.shape[0]), "regimes": list(regimes),
            "fit_options": fit_options,
            "indexes": infos, "rows": rows, "summary": entries, "targets": goals}, interrupted=watch.requested)
        print(f"wrote {args.json}")
    if args.plot and rows:
        report.plot(rows, args.plot, f"{name} ({base.shape[0]:,} x {base.shape[1]})", args.k)
        print(f"wrote {args.plot}")
    return watch.exit_code
