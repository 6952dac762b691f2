"""The ``tt-ref`` command line.

Each command lives in its own private module of :mod:`tt_ref.cli` (``_demo``, ``_compress``, ...) and exposes
``register(subparsers)``, which adds its parser and sets ``func(args) -> int``.
``bench`` groups the benchmark commands (``tt-ref bench tt``, ``tt-ref bench ann``).
What the commands share (list options, output checks, threads, JSON, Ctrl-C) is in
``_common``; tables and plots in ``_report``.

Exit status (specs/errors.md §Command line): 0 done; 2 a user's mistake or an
environment fault, reported on one line ``tt-ref: error: ...`` (any
:class:`~tt_ref.InputError`, and ``OSError`` for files); 130 stopped by Ctrl-C (the work
finished so far kept and marked ``interrupted``). Every other exception is a bug and
keeps its traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import signal
import sys
import threading

from .. import __version__
from .._backend import InputError
from ._common import EXIT_INTERRUPTED

# Top-level commands, then the ``bench`` family (a module not in this build is skipped).
_COMMANDS = ("demo", "compress", "ood", "conformance", "build_index")
_BENCH_COMMANDS = ("bench_tt", "bench_ann", "bench_ttm", "bench_fit", "bench_dask")


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


@contextlib.contextmanager
def _stop_on_ctrl_c():
    """Ctrl-C stops every command, even one whose library call catches it.

    SIGINT raises ``KeyboardInterrupt``. A TT fit catches it to return the best cloud it
    has reached; a command that watches for that (``_common.InterruptWatch``) installs its
    own handler and stops at its next step. For any other command the interrupt is raised
    again one second later (once), so the command stops there (exit 130). Yields a dict
    that is non-empty once this handler saw Ctrl-C.
    """
    armed = {}
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield armed
        return

    def again(signum, frame):
        raise KeyboardInterrupt

    def on_sigint(signum, frame):
        if not armed:
            armed["alarm"] = signal.signal(signal.SIGALRM, again)
            signal.setitimer(signal.ITIMER_REAL, 1.0)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield armed
    finally:
        signal.signal(signal.SIGINT, previous)
        if armed:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, armed["alarm"])


def main(argv: list[str] | None = None) -> int:
    """Run ``tt-ref`` with ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        with _stop_on_ctrl_c() as ctrl_c:
            code = int(func(args) or 0)
        if ctrl_c and code == 0:  # a library caught Ctrl-C and the command ran to its end
            print("tt-ref: interrupted (Ctrl-C): the command stopped early; its results may be incomplete",
                  file=sys.stderr)
            return EXIT_INTERRUPTED
        return code
    except KeyboardInterrupt:
        print("tt-ref: interrupted (Ctrl-C); the command stopped before it finished", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (InputError, OSError) as exc:
        # A user's mistake (tt_ref's InputError kinds) or a file fault: one clear line.
        # Anything else is a bug and keeps its traceback.
        message = str(exc) if not isinstance(exc, OSError) or exc.filename is None or str(exc.filename) in str(exc) \
            else f"{exc}: {exc.filename!r}"
        print(f"tt-ref: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
