"""``tt-ref conformance``: write the golden case set, check an implementation against it,
and run the property suite (specs/conformance.md, docs/guide-conformance.md).

* ``generate DIR``: one folder per case (``case.json`` and ``.npy`` inputs and expected
  outputs), ``tolerances.json`` and a manifest with sha256 sums;
* ``check DIR --impl package.module:adapter`` (a Python adapter) or ``check DIR --outputs
  OUTDIR`` (results another language wrote in the documented layout): one line per case
  (pass / fail, measured error, tolerance), a summary, exit status 1 when a case fails;
* ``fuzz --impl ...``: random shapes, ranks, dtypes and scales compared with tt_ref live.

Ctrl-C stops ``check`` and ``fuzz`` after the case in progress: the finished cases are
reported (the ``--json`` report with ``"interrupted": true``) under an ``INTERRUPTED`` line,
and ``generate`` after the case it is writing: the cases written so far form a readable set
whose manifest says ``"interrupted": true``. Exit status 130.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .._backend import ArgumentValueError
from ._common import EXIT_INTERRUPTED, INTERRUPTED_NOTE, InterruptWatch, log

_DESCRIPTION = """\
A conformance kit for other implementations of tt_ref's methods (C++, CUDA, JAX, PyTorch):
  tt-ref conformance generate cases/
  tt-ref conformance check cases/ --impl mypackage.adapter:Adapter
  tt-ref conformance check cases/ --outputs results/      (outputs written by any language)
  tt-ref conformance fuzz --impl mypackage.adapter:Adapter
An adapter has one method per operation (full, tt_svd, knn, ...), called with the case's
inputs and params as keyword arguments; see docs/guide-conformance.md."""


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "conformance", help="golden cases and a checker for other implementations (generate, check, fuzz)",
        description=_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="conformance_command", metavar="ACTION")

    gen = sub.add_parser("generate", help="write the case set to DIR")
    gen.add_argument("dir", help="output folder (created)")
    gen.add_argument("--select", action="append", default=None, metavar="PATTERN",
                     help="only cases whose name matches this pattern (fnmatch, e.g. 'tt_svd/*'; repeatable)")
    gen.set_defaults(func=_generate)

    check = sub.add_parser("check", help="check an implementation against the case set in DIR")
    check.add_argument("dir", help="a case set written by `tt-ref conformance generate`")
    source = check.add_mutually_exclusive_group(required=True)
    source.add_argument("--impl", metavar="MODULE:ADAPTER", help="a Python adapter, e.g. mypkg.conformance:Adapter")
    source.add_argument("--outputs", metavar="OUTDIR", help="outputs written as OUTDIR/<case name>/<output>.npy")
    _filters(check)
    check.set_defaults(func=_check)

    fuzz = sub.add_parser("fuzz", help="random cases compared with tt_ref live (the property suite)")
    fuzz.add_argument("--impl", required=True, metavar="MODULE:ADAPTER", help="a Python adapter")
    fuzz.add_argument("--examples", type=int, default=64, help="number of random cases (default: 64)")
    fuzz.add_argument("--seed", type=int, default=0, help="seed of the draws (default: 0)")
    _filters(fuzz)
    fuzz.set_defaults(func=_fuzz)
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])


def _filters(parser) -> None:
    parser.add_argument("--select", action="append", default=None, metavar="PATTERN",
                        help="only cases whose name matches (fnmatch; repeatable)")
    parser.add_argument("--exclude", action="append", default=None, metavar="PATTERN",
                        help="skip cases whose name matches (fnmatch; repeatable)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--verbose", action="store_true", help="print the message of passing cases too")


def _generate(args) -> int:
    from ..conformance import all_cases, select, write_case_set

    cases = select(all_cases(), args.select)
    if not cases:
        raise ArgumentValueError(f"no case matches --select {args.select}")
    with InterruptWatch() as watch:
        try:
            manifest = write_case_set(args.dir, cases)
        except KeyboardInterrupt:
            watch.stop()
            manifest = Path(args.dir) / "manifest.json"
            if not _manifest(args.dir).get("interrupted"):
                raise  # stopped before the first case: nothing to keep
    if watch.requested:
        print(f"wrote {len(_manifest(args.dir)['cases'])} of {len(cases)} cases to {args.dir} (interrupted: "
              f"{manifest.name} lists them with their sha256 sums and says \"interrupted\": true)")
        print(INTERRUPTED_NOTE)
    else:
        print(f"wrote {len(cases)} cases to {args.dir} ({manifest.name} lists them with their sha256 sums)")
    return watch.exit_code


def _manifest(folder) -> dict:
    """The case set's manifest (``{}`` when there is none)."""
    path = Path(folder) / "manifest.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _collect(results) -> tuple[list, InterruptWatch]:
    """Each case's result as it comes, and the watch that says whether Ctrl-C stopped the
    run (the cases finished are kept; an adapter that swallows the interrupt is caught at
    the next case)."""
    done = []
    with InterruptWatch() as watch:
        try:
            watch.collect(results, done)
        except KeyboardInterrupt:
            watch.stop()
    return done, watch


def _report(results, watch, args) -> int:
    from ..conformance import format_report, report_json, summary

    print(report_json(results, interrupted=watch.requested) if args.json
          else format_report(results, verbose=args.verbose))
    if watch.requested:
        # The --json report stays one JSON document on standard output.
        (log if args.json else print)(INTERRUPTED_NOTE)
        return EXIT_INTERRUPTED
    return 0 if summary(results)["ok"] else 1


def _check(args) -> int:
    from ..conformance import iter_adapter, iter_outputs, load_adapter, read_case_set, select

    cases = select(read_case_set(args.dir), args.select, args.exclude)
    if _manifest(args.dir).get("interrupted"):
        log(f"note: {args.dir} was written by an interrupted generate: it holds only the cases listed")
    results = iter_adapter(cases, load_adapter(args.impl)) if args.impl is not None else iter_outputs(cases, args.outputs)
    return _report(*_collect(results), args)


def _fuzz(args) -> int:
    from ..conformance import fuzz_cases, iter_adapter, load_adapter, select

    if args.examples < 1:
        raise ArgumentValueError(f"--examples must be >= 1, got {args.examples}")
    adapter = load_adapter(args.impl)
    cases = select(fuzz_cases(args.examples, seed=args.seed), args.select, args.exclude)
    return _report(*_collect(iter_adapter(cases, adapter)), args)
