"""The exceptions tt_ref raises for a caller's mistake.

Each is a subclass of the built-in exception a Python user expects (``ValueError``,
``TypeError``, ``MemoryError``), so ``except ValueError`` keeps working, and of
:class:`InputError`, so the command line can tell a user's mistake (one line, exit 2)
from a bug (a traceback). ``specs/errors.md`` lists which input gets which error.
"""

from __future__ import annotations

__all__ = [
    "InputError",
    "ArgumentValueError",
    "ArgumentTypeError",
    "FileFormatError",
    "MemoryLimitError",
    "MissingDependencyError",
    "ArgumentIndexError",
]


class InputError(Exception):
    """Marker base: the caller gave tt_ref something it cannot use; the message says what."""

    __module__ = "tt_ref"  # shown, and pickled, under its public name


class ArgumentValueError(InputError, ValueError):
    """An argument has the right type but a value outside what is accepted."""

    __module__ = "tt_ref"  # shown, and pickled, under its public name


class ArgumentTypeError(InputError, TypeError):
    """An argument has the wrong type (or dtype)."""

    __module__ = "tt_ref"  # shown, and pickled, under its public name


class FileFormatError(InputError, ValueError):
    """A file is missing, truncated, foreign or inconsistent with its format."""

    __module__ = "tt_ref"  # shown, and pickled, under its public name


class MemoryLimitError(InputError, MemoryError):
    """A request would allocate more than the configured limit (checked before allocating)."""

    __module__ = "tt_ref"  # shown, and pickled, under its public name


class MissingDependencyError(InputError, ImportError):
    """An optional package (or a device) the request needs is not installed here."""

    __module__ = "tt_ref"  # shown, and pickled, under its public name


class ArgumentIndexError(InputError, IndexError):
    """An index argument points outside the object it indexes (a multi-index, an id, a level)."""

    __module__ = "tt_ref"  # shown, and pickled, under its public name
