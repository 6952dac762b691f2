"""The ``tt-ref`` command line.

Each command lives in its own private module of :mod:`tt_ref.cli` (``_demo``, ``_compress``, ...) and exposes
``register(subparsers)``, which adds its parser and sets ``func(args) -> int``.
``bench`` groups the benchmark commands (``tt-ref bench tt``, ``tt-ref bench ann``).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from .. import __version__

# Top-level commands, then the ``bench`` family.
_COMMANDS = ("demo", "compress", "ood")
_BENCH_COMMANDS = ("bench_tt", "bench_ann")


def _register_all(subparsers, names) -> None:
    for name in names:
        try:
            module = importlib.import_module(f"tt_ref.cli._{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"tt_ref.cli._{name}":
                continue  # command not part of this build
            raise
        module.register(subparsers)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tt-ref",
        description="Tensor-train compression and search of vector sets (reference implementation).",
    )
    parser.add_argument("--version", action="version", version=f"tt-ref {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _register_all(sub, _COMMANDS)
    bench = sub.add_parser("bench", help="benchmarks against the field's libraries (prints ratio tables)")
    bench_sub = bench.add_subparsers(dest="bench_command", metavar="WHAT")
    _register_all(bench_sub, _BENCH_COMMANDS)
    bench.set_defaults(func=lambda args: (bench.print_help(), 2)[1])
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        return int(func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (ValueError, FileNotFoundError, ImportError, TypeError) as exc:
        # Bad input and missing optional packages end with one clear line, not a traceback.
        print(f"tt-ref: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
