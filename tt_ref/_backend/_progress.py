"""The one progress-bar helper: tqdm on a terminal, nothing otherwise.

A bar redrawn into a log file or a pipe is hundreds of lines of noise, so a bar is
shown only when asked for, when tqdm is installed, and when standard error is a
terminal. Every long loop of tt_ref (the TT fit, the anomaly-detection protocols, the
command line) gets its bar here.
"""

from __future__ import annotations

import sys

__all__ = ["progress_bar", "stderr_is_terminal"]


class _NoBar:
    """Stands in for a tqdm bar: same methods, no output."""

    def update(self, n: int = 1) -> None:
        pass

    def set_postfix(self, *args, **kwargs) -> None:
        pass

    def set_description(self, *args, **kwargs) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def stderr_is_terminal() -> bool:
    """Whether standard error is an interactive terminal."""
    try:
        return bool(sys.stderr is not None and sys.stderr.isatty())
    except (AttributeError, ValueError):  # replaced by an object without isatty, or closed
        return False


def progress_bar(total: int | None, *, desc: str, enabled: bool = True, unit: str = "it", leave: bool = False):
    """A tqdm bar over ``total`` steps, or a silent stand-in with the same methods.

    The bar is shown when ``enabled``, tqdm is installed and standard error is a
    terminal; otherwise the returned object accepts ``update``, ``set_postfix`` and
    ``close`` and prints nothing.

    Examples
    --------
    >>> from tt_ref._backend._progress import progress_bar
    >>> bar = progress_bar(3, desc="demo")  # under pytest stderr is not a terminal: silent
    >>> for _ in range(3):
    ...     bar.update(1)
    >>> bar.close()
    """
    if not enabled or not stderr_is_terminal():
        return _NoBar()
    try:
        from tqdm.auto import tqdm
    except ImportError:  # tqdm is optional: no bar without it
        return _NoBar()
    return tqdm(total=total, desc=desc, unit=unit, leave=leave)
