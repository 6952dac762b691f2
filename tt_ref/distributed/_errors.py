"""The error of a cluster fault (specs/distributed.md §Faults)."""

from __future__ import annotations

__all__ = ["ShardedIndexError"]


class ShardedIndexError(RuntimeError):
    """A distributed operation could not complete (workers lost beyond Dask's retries, a
    shard that cannot be rebuilt). The message says whether the index is unchanged or
    must be loaded again from its last save; an index never reports a partial state as whole."""
