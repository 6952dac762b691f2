"""One module per ``tt-ref`` command; each exposes ``register(subparsers)``."""
