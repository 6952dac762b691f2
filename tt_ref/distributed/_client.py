"""Reaching a Dask cluster: the optional dependency, ``local:N`` or an address, worker placement
(specs/distributed.md §Cluster).

tt_ref never starts a cluster of its own kind: it uses ``dask.distributed`` (a
``LocalCluster`` on one machine; dask-jobqueue, Kubernetes or dask-cuda clusters
elsewhere) through a ``Client``. Dask is an optional extra (``pip install
"tt-ref[dask]"``); every entry point imports it through :func:`require_dask`, so the rest
of tt_ref works without it.
"""

from __future__ import annotations

import contextlib
import importlib
import re

from .._backend import ArgumentTypeError, ArgumentValueError, MissingDependencyError

__all__ = ["require_dask", "parse_scheduler", "connect", "get_client", "worker_addresses"]

_LOCAL = re.compile(r"^local:(\d+)$")


def require_dask():
    """``(dask, dask.array, distributed)``, or :class:`~tt_ref.MissingDependencyError` saying how to install them."""
    try:
        dask = importlib.import_module("dask")
        array = importlib.import_module("dask.array")
        distributed = importlib.import_module("distributed")
    except ImportError as exc:
        raise MissingDependencyError(
            "tt_ref.distributed needs Dask: pip install \"tt-ref[dask]\" (dask[array,distributed])") from exc
    return dask, array, distributed


def parse_scheduler(spec) -> tuple[str, object]:
    """``("local", n_workers)`` for ``"local:N"``, ``("address", spec)`` for a scheduler address.

    Examples
    --------
    >>> parse_scheduler("local:2"), parse_scheduler("tcp://10.0.0.5:8786")
    (('local', 2), ('address', 'tcp://10.0.0.5:8786'))
    >>> parse_scheduler("local:0")
    Traceback (most recent call last):
    ...
    tt_ref.ArgumentValueError: scheduler 'local:0' must start at least one worker (local:N, N >= 1)
    """
    if not isinstance(spec, str):
        raise ArgumentTypeError(f"scheduler must be a string ('local:N' or an address), got {type(spec).__name__}")
    match = _LOCAL.match(spec.strip())
    if match:
        n_workers = int(match.group(1))
        if n_workers < 1:
            raise ArgumentValueError(f"scheduler {spec!r} must start at least one worker (local:N, N >= 1)")
        return "local", n_workers
    if spec.startswith("local"):
        raise ArgumentValueError(f"scheduler {spec!r} is not of the form local:N (N workers, e.g. local:2)")
    if "://" not in spec and ":" not in spec:
        raise ArgumentValueError(f"scheduler must be 'local:N' or an address such as tcp://host:8786, got {spec!r}")
    return "address", spec.strip()


@contextlib.contextmanager
def connect(scheduler: str, *, processes: bool = True, threads_per_worker: int = 1, memory_limit="auto"):
    """A ``distributed.Client`` for ``scheduler``, closed (with its local cluster) on exit.

    Parameters
    ----------
    scheduler : str
        ``"local:N"`` starts a ``LocalCluster`` of ``N`` workers on this machine (one
        process each unless ``processes=False``); anything else is the address of a
        running scheduler (``tcp://host:8786``), e.g. one started by dask-jobqueue,
        dask-kubernetes or ``dask_cuda.LocalCUDACluster``.
    processes : bool
        Worker processes (True) or threads of this process (False) for ``local:N``.
    threads_per_worker : int
        Threads per local worker (one keeps each worker on one core).
    memory_limit : str or int
        Per local worker (Dask's ``memory_limit``).

    Examples
    --------
    >>> from tt_ref.distributed import connect
    >>> with connect("local:1", processes=False) as client:
    ...     len(client.scheduler_info()["workers"])
    1
    """
    dask, _, distributed = require_dask()
    kind, value = parse_scheduler(scheduler)
    if kind == "address":
        client = distributed.Client(value)
        try:
            yield client
        finally:
            client.close()
        return
    # Dask's nannies set MALLOC_TRIM_THRESHOLD_ in their workers, which turns off glibc's
    # adaptive mmap threshold: every large temporary is then a fresh mmap, and the scans'
    # many short-lived arrays ran twice as slow in worker processes (measured). Unset here.
    with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}):
        cluster = distributed.LocalCluster(n_workers=value, threads_per_worker=threads_per_worker,
                                           processes=processes, memory_limit=memory_limit, dashboard_address=":0")
    try:
        client = distributed.Client(cluster)
        try:
            yield client
        finally:
            client.close()
    finally:
        cluster.close()


def get_client(client=None):
    """``client``, or the current default ``Client``; a clear error when there is none."""
    _, _, distributed = require_dask()
    if client is not None:
        if not isinstance(client, distributed.Client):
            raise ArgumentTypeError(f"client must be a distributed.Client, got {type(client).__name__}")
        return client
    try:
        return distributed.get_client()
    except ValueError as exc:
        raise ArgumentValueError("no Dask client: pass client=, or create one first (tt_ref.distributed.connect"
                                 "('local:2') or distributed.Client(address))") from exc


def worker_addresses(client) -> list[str]:
    """The addresses of the workers now connected, sorted (the placement order of shards)."""
    workers = sorted(client.scheduler_info(n_workers=-1)["workers"])
    if not workers:
        raise ArgumentValueError("the Dask cluster has no workers")
    return workers
