"""What every ``tt-ref`` command shares, once (specs/errors.md §Command line).

* options: :func:`add_backend_argument`, the comma-separated list types
  (:func:`int_list`, :func:`float_list`, :func:`choice_list`: one list syntax,
  ``--methods tt,kmeans``, in every command);
* checks before any work: :func:`check_outputs` (every ``--json`` / ``--plot`` /
  ``--out`` destination), :func:`require_backend`, :func:`require_matplotlib`;
* :func:`pin_threads`: the one thread pinner (threadpoolctl, and faiss when asked);
* :func:`write_json_output`: the one JSON writer (missing parent folders are created);
* :func:`log`: status lines on standard error; progress bars come from
  ``tt_ref._backend.progress_bar`` (tqdm only when standard error is a terminal);
* :class:`InterruptWatch`: Ctrl-C stops every command the same way: the work finished so
  far (and the best state a TT fit had reached) is kept, printed and written with an
  ``interrupted`` mark, and the command exits with :data:`EXIT_INTERRUPTED` (130);
  :func:`mark_interrupted` marks the row of a fit that Ctrl-C stopped.

Tables are formatted by ``tt_ref.cli._report.format_table`` (terminal) and
``markdown_table`` (reports).
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading

from .._backend import BACKENDS, MissingDependencyError, is_backend_available, namespace_for
from .._backend._io import check_output_path, write_json

__all__ = [
    "EXIT_INTERRUPTED",
    "INTERRUPTED_NOTE",
    "add_backend_argument",
    "int_list",
    "float_list",
    "choice_list",
    "check_outputs",
    "require_backend",
    "require_matplotlib",
    "pin_threads",
    "write_json_output",
    "log",
    "InterruptWatch",
    "mark_interrupted",
]

#: Exit status of a command stopped by Ctrl-C (128 + SIGINT, the shell's convention).
EXIT_INTERRUPTED = 130

#: The line printed under a table (and written into reports) when Ctrl-C stopped a command.
INTERRUPTED_NOTE = (
    "INTERRUPTED (Ctrl-C): the run stopped early; the rows above are the work finished "
    "before the interrupt (a TT fit keeps the best cloud it had reached)"
)


# --------------------------------------------------------------------------- options
def add_backend_argument(parser, what: str) -> None:
    """The ``--backend`` option every command shares; ``what`` says what runs on it."""
    parser.add_argument("--backend", default="numpy", choices=BACKENDS,
                        help=f"array backend of {what} (default: numpy; cupy needs an NVIDIA GPU)")


def _split(text: str) -> list[str]:
    # Spaces around items and empty items (a trailing comma) are forgiven; no item at all is not.
    items = [item.strip() for item in str(text).split(",") if item.strip()]
    if not items:
        raise argparse.ArgumentTypeError(f"expected a comma-separated list such as 4,8,16, got {text!r}")
    return items


def int_list(minimum: int | None = 1):
    """argparse ``type=``: ``"4,8,16"`` -> ``(4, 8, 16)``, each ``>= minimum``.

    Examples
    --------
    >>> from tt_ref.cli._common import int_list
    >>> int_list()("16,16,8")
    (16, 16, 8)
    """
    def parse(text: str) -> tuple[int, ...]:
        try:
            values = tuple(int(item) for item in _split(text))
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected comma-separated integers such as 4,8,16, got {text!r}") from None
        if minimum is not None and any(v < minimum for v in values):
            raise argparse.ArgumentTypeError(f"expected integers >= {minimum}, got {text!r}")
        return values

    parse.__name__ = "integer list"
    return parse


def float_list(minimum: float | None = None):
    """argparse ``type=``: ``"10,100"`` -> ``(10.0, 100.0)``, each finite and ``>= minimum``."""
    def parse(text: str) -> tuple[float, ...]:
        try:
            values = tuple(float(item) for item in _split(text))
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected comma-separated numbers such as 10,100, got {text!r}") from None
        if any(v != v or v in (float("inf"), float("-inf")) for v in values):
            raise argparse.ArgumentTypeError(f"expected finite numbers, got {text!r}")
        if minimum is not None and any(v < minimum for v in values):
            raise argparse.ArgumentTypeError(f"expected numbers >= {minimum:g}, got {text!r}")
        return values

    parse.__name__ = "number list"
    return parse


def choice_list(choices):
    """argparse ``type=``: ``"tt,kmeans"`` -> ``("tt", "kmeans")``, each one of ``choices`` (repeats dropped).

    Examples
    --------
    >>> from tt_ref.cli._common import choice_list
    >>> choice_list(("tt", "kmeans", "random"))("tt,random")
    ('tt', 'random')
    """
    choices = tuple(choices)

    def parse(text: str) -> tuple[str, ...]:
        values = tuple(_split(text))
        unknown = [v for v in values if v not in choices]
        if unknown:
            raise argparse.ArgumentTypeError(f"unknown {', '.join(map(repr, unknown))}; choose from {','.join(choices)}")
        return tuple(dict.fromkeys(values))

    parse.__name__ = "list"
    return parse


# --------------------------------------------------------------------------- checks before work
def check_outputs(**destinations) -> None:
    """Check every output destination before any work (``tt_ref._backend._io.check_output_path``).

    Keywords name the option (``json="r.json"`` checks ``--json``); values are ``None``
    (not given), a path, or ``(path, kind, suffix)`` with ``kind`` ``"file"`` or
    ``"folder"``. A plot (``plot=``) must end in ``.png`` and needs matplotlib.
    """
    for option, spec in destinations.items():
        if spec is None:
            continue
        path, kind, suffix = spec if isinstance(spec, tuple) else (spec, "file", None)
        if option == "plot":
            suffix = ".png"
        check_output_path(path, option="--" + option.replace("_", "-"), kind=kind, suffix=suffix)
        if option == "plot":
            require_matplotlib("--plot")


def require_backend(backend: str):
    """The namespace of ``backend``, or :class:`MissingDependencyError` saying what is missing."""
    if not is_backend_available(backend):
        if backend == "cupy":
            raise MissingDependencyError("--backend cupy needs CuPy and an NVIDIA GPU: pip install 'tt-ref[gpu]'")
        raise MissingDependencyError(f"--backend {backend} is not available here: pip install {backend.replace('_', '-')}")
    return namespace_for(backend)


def require_matplotlib(option: str) -> None:
    """:class:`MissingDependencyError` unless matplotlib can be imported (checked before work)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError as exc:
        raise MissingDependencyError(f"{option} needs matplotlib: pip install matplotlib") from exc


# --------------------------------------------------------------------------- threads
@contextlib.contextmanager
def pin_threads(n_threads: int = 1, *, faiss: bool = False):
    """Limit BLAS / OpenMP thread pools (threadpoolctl) to ``n_threads`` inside the block.

    With ``faiss=True``, faiss's OpenMP threads too (restored afterwards). Yields the
    message a command prints, saying what was pinned (or that nothing could be).
    """
    messages, restore = [], []
    with contextlib.ExitStack() as stack:
        try:
            from threadpoolctl import threadpool_info, threadpool_limits
        except ImportError:
            messages.append(f"BLAS NOT pinned (threadpoolctl missing; set OMP_NUM_THREADS={n_threads})")
        else:
            stack.enter_context(threadpool_limits(limits=n_threads))
            apis = sorted({str(p.get("internal_api", "?")) for p in threadpool_info()})
            messages.append(f"threadpoolctl ({', '.join(apis) or 'no pools found'})")
        if faiss:
            with contextlib.suppress(ImportError):
                import faiss as faiss_module

                restore.append((faiss_module.omp_set_num_threads, faiss_module.omp_get_max_threads()))
                faiss_module.omp_set_num_threads(n_threads)
                messages.append(f"faiss.omp_set_num_threads({n_threads})")
        try:
            yield f"threads: pinned to {n_threads} thread{'s' if n_threads > 1 else ''} with " + ", ".join(messages)
        finally:
            for setter, value in restore:
                setter(value)


# --------------------------------------------------------------------------- output
def write_json_output(path, payload: dict, *, interrupted: bool = False):
    """Write a command's JSON (``tt_ref._backend._io.write_json``: atomic, NaN as null,
    missing parent folders created); ``"interrupted": true`` is added when Ctrl-C
    stopped the command."""
    if interrupted:
        payload = {**payload, "interrupted": True}
    return write_json(path, payload)


def log(message: str) -> None:
    """A status line on standard error (kept apart from the results on standard output)."""
    print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- Ctrl-C
class InterruptWatch:
    """Notices Ctrl-C during a command, even where the library catches it.

    A TT fit catches ``KeyboardInterrupt`` to return the best cloud it has reached, so
    the library call returns normally. Inside this context SIGINT both sets
    :attr:`requested` and raises ``KeyboardInterrupt`` as usual; the command calls
    :meth:`checkpoint` after each step, which raises ``KeyboardInterrupt`` again if an
    interrupt was swallowed, so the command stops at the next step boundary, keeps what
    it has, marks it interrupted and exits with :data:`EXIT_INTERRUPTED`.

    Examples
    --------
    >>> from tt_ref.cli._common import InterruptWatch
    >>> with InterruptWatch() as watch:
    ...     try:
    ...         for step in range(3):
    ...             watch.checkpoint()
    ...     except KeyboardInterrupt:
    ...         pass
    >>> watch.requested
    False
    """

    def __init__(self):
        self.requested = False
        self._previous = None

    def _handler(self, signum, frame):
        self.requested = True
        raise KeyboardInterrupt

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, exc_type, exc, tb):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
        if exc_type is KeyboardInterrupt:
            self.requested = True
        return False

    def stop(self) -> None:
        """Record an interrupt caught by the command itself (``except KeyboardInterrupt``)."""
        self.requested = True

    def checkpoint(self) -> None:
        """Raise ``KeyboardInterrupt`` if Ctrl-C was pressed (and perhaps swallowed) since entry."""
        if self.requested:
            raise KeyboardInterrupt

    def collect(self, steps, into: list) -> list:
        """Append each item of ``steps`` (an iterator that does one step of work per item) to
        ``into`` as it comes, with a :meth:`checkpoint` after each: when Ctrl-C stops the
        command, ``into`` holds the steps finished. Returns ``into``."""
        for item in steps:
            into.append(item)
            self.checkpoint()
        return into

    @property
    def exit_code(self) -> int:
        """:data:`EXIT_INTERRUPTED` after Ctrl-C, else 0."""
        return EXIT_INTERRUPTED if self.requested else 0


def mark_interrupted(rows, column: str = "method") -> list[dict]:
    """Rows as a table shows them: `` (interrupted)`` after ``column`` of each row whose
    ``"interrupted"`` is set (a TT fit that Ctrl-C stopped, measured on its best cloud).

    Examples
    --------
    >>> from tt_ref.cli._common import mark_interrupted
    >>> [r["method"] for r in mark_interrupted([{"method": "kmeans"}, {"method": "tt", "interrupted": True}])]
    ['kmeans', 'tt (interrupted)']
    """
    return [dict(r, **{column: f"{r[column]} (interrupted)"}) if r.get("interrupted") else r for r in rows]
