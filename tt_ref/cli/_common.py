"""One module per ``tt-ref`` command; each exposes ``register(subparsers)``."""

from __future__ import annotations

from .._backend import BACKENDS


def add_backend_argument(parser, what: str) -> None:
    """The ``--backend`` option every command shares; ``what`` says what runs on it."""
    parser.add_argument("--backend", default="numpy", choices=BACKENDS,
                        help=f"array backend of {what} (default: numpy; cupy needs an NVIDIA GPU)")
