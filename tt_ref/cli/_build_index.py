"""``tt-ref index build``: train a TT index on a vector set, add every vector, save it.

In memory by default (one ``.npz``, ``TTIndex.save``); with ``--scheduler local:N`` or a
scheduler address, on Dask: trained on a seeded sample drawn on the cluster, the vectors
assigned by the workers into ``--n-shards`` shards, saved as one file per shard plus the
manifest ``--out`` (``ShardedIndex.save``; the workers must see the same file system).
Ctrl-C saves nothing (an index whose fit it stopped is half-trained), exit status 130.
"""

from __future__ import annotations

import time

from .._backend import ArgumentValueError
from ._common import InterruptWatch, check_outputs, int_list, log, write_json_output

LAYOUTS = ("buckets", "rows")


def register(subparsers) -> None:
    parser = subparsers.add_parser("index", help="build TT indexes (in memory or sharded on Dask)")
    sub = parser.add_subparsers(dest="index_command", metavar="WHAT")
    build = sub.add_parser("build", help="train, add and save a TT index (--scheduler: sharded on Dask)",
                           description=__doc__.split("\n\n")[1].replace("\n", " "))
    add = build.add_argument
    add("--data", required=True, help="digits, mnist, mnist5k, glove50, or a .npy/.npz/.fvecs path")
    add("--out", required=True, help="the index file (.npz; with --scheduler the manifest)")
    add("--scheduler", default=None, help="local:N (N worker processes here) or a scheduler address; "
                                          "default: build in memory")
    add("--mode-sizes", type=int_list(), default=None, help="TT mode sizes (default: chosen from N)")
    add("--ranks", type=int_list(), default=None, help="TT ranks (default: min(32, ...))")
    add("--metric", choices=("l2", "cosine"), default=None, help="default: the data set's own (l2 for files)")
    add("--steps", type=int, default=300, help="fit steps")
    add("--train-size", type=int, default=100_000, help="seeded training sample")
    add("--seed", type=int, default=0, help="seed of the sample and of the fit")
    add("--n-shards", type=int, default=None, help="shards (default: twice the workers)")
    add("--layout", choices=LAYOUTS, default="buckets", help="shard layout (default: buckets)")
    add("--block-rows", type=int, default=65_536, help="rows per Dask block")
    add("--json", dest="json_out", default=None, help="write what was built (sizes, times) as JSON here")
    build.set_defaults(func=run)
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])


def run(args) -> int:
    from ..datasets._datasets import load_dataset

    check_outputs(out=(args.out, "file", ".npz"), json=args.json_out)
    for name in ("steps", "train_size", "block_rows"):
        if getattr(args, name) < 1:
            raise ArgumentValueError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    data = load_dataset(args.data)
    X, metric = data.X, args.metric or data.metric
    options = {"train_size": args.train_size, "seed": args.seed, "fit_options": {"steps": args.steps, "progress": False}}
    config = (X.shape[1], args.mode_sizes or "auto", args.ranks or "auto", metric)
    log(f"data: {args.data}, {X.shape[0]:,} x {X.shape[1]}, metric {metric}")
    start = time.perf_counter()
    if args.scheduler is None:
        from ..search import TTIndex

        with InterruptWatch() as watch:
            index = TTIndex(*config, **options).train(X)
            watch.checkpoint()  # the fit swallows Ctrl-C to return its best cloud: do not save it
        index.add(X)
        index.save(args.out)
        summary = {"ntotal": index.ntotal, "shards": None}
    else:
        summary = _build_on_dask(args, X, config, options)
    summary.update(seconds=time.perf_counter() - start, out=args.out, scheduler=args.scheduler)
    print(f"built {summary['ntotal']:,} vectors into {args.out}"
          + (f" ({summary['shards']} shard files)" if summary["shards"] else "")
          + f" in {summary['seconds']:.1f} s")
    if args.json_out:
        write_json_output(args.json_out, summary)
    return 0


def _build_on_dask(args, X, config, options) -> dict:
    import dask.array as da

    from ..distributed import ShardedIndex, connect

    if args.n_shards is not None and args.n_shards < 1:
        raise ArgumentValueError(f"--n-shards must be at least 1, got {args.n_shards}")
    with connect(args.scheduler) as client:
        rows = da.from_array(X, chunks=(args.block_rows, -1))
        index = ShardedIndex(*config, n_shards=args.n_shards, layout=args.layout, client=client, **options)
        index.train(rows)
        index.add(rows)
        index.save(args.out)
        return {"ntotal": index.ntotal, "shards": index.n_shards, "bounds": index.bounds}

