"""``tt-ref conformance``: write the golden case set, check an implementation against it,
and run the property suite (specs/conformance.md, docs/guide-conformance.md).

* ``generate DIR``: one folder per case (``case.json`` and ``.npy`` inputs and expected
  outputs), ``tolerances.json`` and a manifest with sha256 sums;
* ``check DIR --impl package.module:adapter`` (a Python adapter) or ``check DIR --outputs
  OUTDIR`` (results another language wrote in the documented layout): one line per case
  (pass / fail, measured error, tolerance), a summary, exit status 1 when a case fails;
* ``fuzz --impl ...``: random shapes, ranks, dtypes and scales compared with tt_ref live.
"""

from __future__ import annotations

import argparse

from .._backend import ArgumentValueError

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
    manifest = write_case_set(args.dir, cases)
    print(f"wrote {len(cases)} cases to {args.dir} ({manifest.name} lists them with their sha256 sums)")
    return 0


def _report(results, args) -> int:
    from ..conformance import format_report, report_json, summary

    print(report_json(results) if args.json else format_report(results, verbose=args.verbose))
    return 0 if summary(results)["ok"] else 1


def _check(args) -> int:
    from ..conformance import load_adapter, read_case_set, run_adapter, run_outputs, select

    cases = select(read_case_set(args.dir), args.select, args.exclude)
    if args.impl is not None:
        results = run_adapter(cases, load_adapter(args.impl))
    else:
        results = run_outputs(cases, args.outputs)
    return _report(results, args)


def _fuzz(args) -> int:
    from ..conformance import fuzz_cases, load_adapter, run_adapter, select

    if args.examples < 1:
        raise ArgumentValueError(f"--examples must be >= 1, got {args.examples}")
    adapter = load_adapter(args.impl)
    cases = select(fuzz_cases(args.examples, seed=args.seed), args.select, args.exclude)
    return _report(run_adapter(cases, adapter), args)
