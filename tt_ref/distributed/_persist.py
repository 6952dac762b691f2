"""Saving and loading a sharded index: one atomic file per shard and a manifest (specs/distributed.md §Files).

Each worker writes its shards through :mod:`tt_ref._backend._io` (atomic, tagged,
pickle-free ``.npz``); the client then writes the manifest (the cloud's cores, the
configuration, and per shard its file, bucket range, count and id checksums), also
atomically, last. Shard files carry a token of their save, so the previous manifest
keeps pointing at complete files until the new one replaces it; the files of earlier
saves are removed after. A load checks the manifest, then each shard file against its
manifest entry (on the worker that reads it), before the index is built.
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

import numpy as np

from .._backend import BACKENDS, check_choice, from_numpy, namespace_for, to_numpy
from .._backend._io import load_archive, save_npz
from ..search._lists import MAX_ID, InvertedLists
from ._client import get_client, worker_addresses
from ._plan import LAYOUTS
from ._shard import Shard, id_checksums, summarize

__all__ = ["MANIFEST_TAG", "SHARD_TAG", "FORMAT_VERSION", "save_sharded", "load_sharded", "save_shard", "load_shard"]

MANIFEST_TAG = "tt_ref.ShardedIndex"
SHARD_TAG = "tt_ref.IndexShard"
FORMAT_VERSION = 1

_CONFIG = ("dim", "mode_sizes", "ranks", "metric", "assign", "assign_beam", "train_size", "seed")


def _shard_name(stem: str, j: int, n_shards: int, token: str) -> str:
    return f"{stem}.shard-{j:05d}-of-{n_shards:05d}.{token}.npz"


# --------------------------------------------------------------------------- shards (on workers)
def save_shard(shard: Shard, path: str) -> dict:
    """Write one shard atomically; returns its manifest entry (without the file name)."""
    summary = summarize(shard)
    entry = {"number": shard.number, "lo": shard.lo, "hi": shard.hi, "ntotal": summary.ntotal,
             "id_sum": str(summary.id_sum), "id_sq_sum": str(summary.id_sq_sum)}
    lists = shard.lists
    save_npz(path, {"vectors": to_numpy(lists.vectors), "ids": to_numpy(lists.ids), "offsets": to_numpy(lists.offsets)},
             format_tag=SHARD_TAG, version=FORMAT_VERSION, meta=entry)
    return entry


def load_shard(path: str, entry: dict, *, dim: int, dtype: str, backend: str) -> Shard:
    """Read one shard file and check it against its manifest ``entry`` (count, range, id checksums)."""
    archive = load_archive(path, format_tag=SHARD_TAG, version=FORMAT_VERSION, what="index shard")
    for key in ("number", "lo", "hi", "ntotal"):
        if archive.integer(key, minimum=0) != entry[key]:
            raise archive.error(key, f"is {archive.meta[key]}, the manifest says {entry[key]}")
    n, n_buckets = entry["ntotal"], entry["hi"] - entry["lo"]
    vectors = archive.array("vectors", ndim=2, kind="f", shape=(n, dim), finite=True)
    if str(vectors.dtype) != dtype:
        raise archive.error("vectors", f"has dtype {vectors.dtype}, the manifest's cloud {dtype}")
    ids = archive.array("ids", ndim=1, kind="i", shape=(n,))
    offsets = archive.array("offsets", ndim=1, kind="i", shape=(n_buckets + 1,)).astype(np.int64)
    if n and (int(ids.min()) < 0 or ids.dtype.kind == "u" and int(ids.max()) > MAX_ID):
        raise archive.error("ids", "must be non-negative int64 values")
    if int(offsets[0]) != 0 or int(offsets[-1]) != n or np.any(np.diff(offsets) < 0):
        raise archive.error("offsets", f"must rise from 0 to the number of vectors {n}")
    sums = tuple(str(v) for v in id_checksums(ids))
    if sums != (entry["id_sum"], entry["id_sq_sum"]):
        raise archive.error("ids", "do not match the manifest's checksums (a shard of another save?)")
    xp = namespace_for(backend)
    lists = InvertedLists.from_arrays(from_numpy(vectors, xp), from_numpy(ids.astype(np.int64), xp),
                                      from_numpy(offsets, xp), 0, xp=xp)
    return Shard(entry["number"], entry["lo"], entry["hi"], lists)


# --------------------------------------------------------------------------- the index (on the client)
def save_sharded(index, path) -> None:
    """Shard files first (by the workers), then the manifest at ``path``, then old files removed."""
    path = Path(os.path.abspath(os.fspath(path)))
    if not path.parent.is_dir():
        raise FileNotFoundError(f"path: folder {str(path.parent)!r} does not exist")
    stem, token = path.name[:-4] if path.name.endswith(".npz") else path.name, secrets.token_hex(6)
    client = index.client
    shards = index._shards
    if shards is None:  # trained but empty: no shard files
        shards = []
    names = [_shard_name(stem, j, len(shards), token) for j in range(len(shards))]
    futures = [client.submit(save_shard, s, str(path.parent / name), pure=False) for s, name in zip(shards, names)]
    entries = [dict(entry, file=name) for entry, name in zip(client.gather(futures), names)]
    base = index._index
    meta = {key: (list(getattr(base, key)) if key in ("mode_sizes", "ranks") else getattr(base, key))
            for key in _CONFIG}
    meta.update(fit_options=_plain_options(base.fit_options), layout=index.layout, n_shards=len(entries),
                bounds=None if index.bounds is None else list(index.bounds), next_id=index.next_id,
                ntotal=index.ntotal, shards=entries, token=token)
    arrays = {f"core_{j}": to_numpy(core) for j, core in enumerate(base.cloud.cores)}
    save_npz(path, arrays, format_tag=MANIFEST_TAG, version=FORMAT_VERSION, meta=meta)
    _remove_old_shards(path.parent, stem, token)


def _plain_options(options: dict) -> dict:
    from ..search._persist import _json_options

    return _json_options(options)[0]


def _remove_old_shards(folder: Path, stem: str, token: str) -> None:
    pattern = re.compile(re.escape(stem) + r"\.shard-\d{5}-of-\d{5}\.([0-9a-f]{12})\.npz$")
    for entry in os.scandir(folder):
        match = pattern.match(entry.name)
        if match and match.group(1) != token:
            try:
                os.unlink(entry.path)
            except OSError:  # another process removed it, or it is not ours to remove
                pass


def load_sharded(cls, path, *, client=None, backend: str = "numpy"):
    """Build a :class:`~._index.ShardedIndex` from a manifest; the shards load on the workers."""
    from ..cloud._point_cloud import TTPointCloud
    from . import _graphs

    backend = check_choice(backend, BACKENDS, name="backend")
    path = Path(os.path.abspath(os.fspath(path)))
    archive = load_archive(path, format_tag=MANIFEST_TAG, version=FORMAT_VERSION, what="sharded index")
    config = _check_manifest(archive)
    cores = [archive.array(f"core_{j}", ndim=3, kind="f", finite=True) for j in range(len(config["mode_sizes"]))]
    xp = namespace_for(backend)
    try:
        cloud = TTPointCloud([from_numpy(c, xp) for c in cores], check_values=False)
    except (ValueError, TypeError) as exc:
        raise archive.error("core_0", f"cores do not form a TT point cloud: {exc}") from exc
    if cloud.dim != config["dim"] or tuple(cloud.mode_sizes) != config["mode_sizes"] or \
            tuple(cloud.ranks) != config["ranks"]:
        raise archive.error("core_0", "cores do not match dim, mode_sizes and ranks")
    index = cls.from_point_cloud(cloud, config["metric"], n_shards=config["n_shards"] or None,
                                 layout=config["layout"], client=get_client(client), assign=config["assign"],
                                 assign_beam=config["assign_beam"], train_size=config["train_size"],
                                 seed=config["seed"], fit_options=config["fit_options"])
    index._ledger = index._ledger.with_next_id(config["next_id"])
    if not config["shards"]:
        return index
    client = index.client
    workers = worker_addresses(client)
    dtype = str(cores[0].dtype)
    futures = [client.submit(load_shard, str(path.parent / e["file"]), e, dim=config["dim"], dtype=dtype,
                             backend=backend, **_graphs.placement(workers, j)) for j, e in enumerate(config["shards"])]
    summaries = _graphs.summaries(client, futures)
    expected = (config["ntotal"], *(sum(int(e[f]) for e in config["shards"]) & ((1 << 64) - 1)
                                    for f in ("id_sum", "id_sq_sum")))
    bounds = None if config["bounds"] is None else tuple(config["bounds"])
    index._commit(futures, summaries, bounds, expected=expected)
    index._ledger = index._ledger.with_next_id(config["next_id"])
    return index


def _check_manifest(archive) -> dict:
    """The manifest's fields, each checked (a :class:`FileFormatError` naming the field)."""
    config = {"dim": archive.integer("dim", minimum=1), "mode_sizes": archive.integers("mode_sizes", minimum=1)}
    config["ranks"] = archive.integers("ranks", minimum=1, length=len(config["mode_sizes"]) - 1)
    for key in ("metric", "assign", "layout"):
        config[key] = archive.value(key, str)
    if config["layout"] not in LAYOUTS:
        raise archive.error("layout", f"must be one of {LAYOUTS}, got {config['layout']!r}")
    config["assign_beam"] = archive.integer("assign_beam", minimum=1)
    config["train_size"] = archive.integer("train_size", minimum=1, optional=True)
    config["seed"] = archive.integer("seed", minimum=0)
    config["fit_options"] = archive.value("fit_options", dict)
    config["n_shards"] = archive.integer("n_shards", minimum=0)
    config["next_id"] = archive.integer("next_id", minimum=0)
    config["ntotal"] = archive.integer("ntotal", minimum=0)
    n_buckets = int(np.prod(config["mode_sizes"]))
    config["bounds"] = archive.value("bounds", list, optional=True)
    shards = archive.value("shards", list)
    if len(shards) != config["n_shards"]:
        raise archive.error("shards", f"lists {len(shards)} shards, n_shards says {config['n_shards']}")
    if config["bounds"] is not None:
        bounds = config["bounds"]
        if len(bounds) != len(shards) + 1 or bounds[0] != 0 or bounds[-1] != n_buckets or \
                any(not isinstance(b, int) or b <= a for a, b in zip(bounds, bounds[1:])):
            raise archive.error("bounds", f"must rise from 0 to {n_buckets} with one range per shard")
    for j, entry in enumerate(shards):
        _check_entry(archive, entry, j, config, n_buckets)
    if sum(e["ntotal"] for e in shards) != config["ntotal"]:
        raise archive.error("ntotal", "is not the sum of the shards' counts")
    config["shards"] = shards
    return config


def _check_entry(archive, entry, j: int, config: dict, n_buckets: int) -> None:
    if not isinstance(entry, dict):
        raise archive.error("shards", f"entry {j} must be an object")
    for key in ("number", "lo", "hi", "ntotal"):
        value = entry.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise archive.error("shards", f"entry {j}: {key} must be a non-negative integer, got {value!r}")
    lo, hi = (config["bounds"][j], config["bounds"][j + 1]) if config["bounds"] is not None else (0, n_buckets)
    if entry["number"] != j or (entry["lo"], entry["hi"]) != (lo, hi):
        raise archive.error("shards", f"entry {j}: number and bucket range must be {j} and {lo}..{hi - 1}")
    name = entry.get("file")
    if not isinstance(name, str) or os.path.basename(name) != name or not name.endswith(".npz"):
        raise archive.error("shards", f"entry {j}: file must be a .npz name in the manifest's folder, got {name!r}")
    for key in ("id_sum", "id_sq_sum"):
        if not isinstance(entry.get(key), str) or not entry[key].isdigit():
            raise archive.error("shards", f"entry {j}: {key} must be a decimal string")
