"""Saving and loading a TT index: one tagged ``.npz`` file, checked whole before use
(specs/index.md §File format).

The file goes through :mod:`tt_ref._backend._io` (atomic write, no pickle, every array
header checked against the file size and the memory limit before it is read). Then
every field is checked against the format here, before any object is built: a
violation is a :class:`tt_ref.FileFormatError` naming the file and the field.
"""

from __future__ import annotations

import math
import warnings
import zipfile

import numpy as np

from .._backend import FileFormatError, from_numpy, namespace_for, to_numpy
from .._backend._io import load_archive, save_npz
from ._lists import MAX_ID, InvertedLists

__all__ = ["FORMAT_TAG", "FORMAT_VERSION", "READABLE_VERSIONS", "save_index", "load_index"]

#: Format tag written into every saved index and checked on load.
FORMAT_TAG = "tt_ref.TTIndex"
#: Version written. 3 added ``fit_options`` to the meta and allows ``"auto"`` mode sizes
#: and ranks in an untrained index.
FORMAT_VERSION = 3
#: Versions :func:`load_index` reads (version 2 files load with empty ``fit_options``).
READABLE_VERSIONS = (3, 2)

_WHAT = "TTIndex"
_METRICS = ("l2", "cosine")
_ASSIGN = ("exact", "beam")


# --------------------------------------------------------------------------- save
def save_index(index, path) -> None:
    """Write ``index`` to ``path`` (format :data:`FORMAT_VERSION`)."""
    fit_options, not_saved = _json_options(index.fit_options)
    if not_saved:
        warnings.warn(f"fit_options {not_saved} are not saved (a file holds numbers, strings and lists only); "
                      "set them again after load", UserWarning, stacklevel=3)
    trained = index.is_trained
    meta = {
        "dim": index.dim,
        "mode_sizes": list(index.mode_sizes) if trained or index.mode_sizes != "auto" else "auto",
        "ranks": list(index.ranks) if trained or index.ranks != "auto" else "auto",
        "metric": index.metric,
        "assign": index.assign,
        "assign_beam": index.assign_beam,
        "train_size": index.train_size,
        "seed": index.seed,
        "trained": trained,
        "next_id": index._lists.next_id if trained else 0,
        "fit_options": fit_options,
        "fit_options_not_saved": not_saved,
    }
    arrays = {}
    if trained:
        for j, core in enumerate(index.cloud.cores):
            arrays[f"core_{j}"] = to_numpy(core)
        arrays["vectors"] = to_numpy(index._lists.vectors)
        arrays["ids"] = to_numpy(index._lists.ids)
        arrays["offsets"] = to_numpy(index._lists.offsets)
    save_npz(path, arrays, format_tag=FORMAT_TAG, version=FORMAT_VERSION, meta=meta)


def _json_options(options: dict) -> tuple[dict, list[str]]:
    """The options a JSON file can hold (tuples become lists), and the names of the others."""
    kept = {key: _plain(value) for key, value in options.items() if _is_plain(value)}
    return kept, sorted(key for key in options if key not in kept)


def _is_plain(value) -> bool:
    if value is None or isinstance(value, (bool, int, str)):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, (list, tuple)):
        return all(_is_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_plain(v) for k, v in value.items())
    return False


def _plain(value):
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


# --------------------------------------------------------------------------- load
def load_index(cls, path, backend: str):
    """Read, check and build an index written by :func:`save_index` (any readable version)."""
    archive, version = _read(path)
    config = _check_meta(archive, version)
    index = cls(config["dim"], config["mode_sizes"], config["ranks"], config["metric"], assign=config["assign"],
                assign_beam=config["assign_beam"], train_size=config["train_size"], seed=config["seed"],
                fit_options=config["fit_options"])
    if config["fit_options_not_saved"]:
        warnings.warn(f"{archive.path!r} was saved without the fit_options {config['fit_options_not_saved']}; "
                      "set them in index.fit_options before training again", UserWarning, stacklevel=3)
    if not config["trained"]:
        return index
    cores, vectors, ids, offsets = _check_arrays(archive, config)
    from ..cloud._point_cloud import TTPointCloud

    xp = namespace_for(backend)
    index._check_memory(cores[0].dtype.itemsize, vectors.shape[0], what="TTIndex.load")
    cloud = TTPointCloud([from_numpy(c, xp) for c in cores], check_values=False)
    lists = InvertedLists.from_arrays(from_numpy(vectors, xp), from_numpy(ids, xp), from_numpy(offsets, xp),
                                      config["next_id"], xp=xp)
    index._set_parts(cloud, lists)
    return index


def _read(path):
    """The checked archive and its version (an older readable version on a second read)."""
    try:
        return load_archive(path, format_tag=FORMAT_TAG, version=FORMAT_VERSION, what=_WHAT), FORMAT_VERSION
    except FileFormatError:
        found = _peek_version(path)
        if found not in READABLE_VERSIONS or found == FORMAT_VERSION:
            raise
    return load_archive(path, format_tag=FORMAT_TAG, version=found, what=_WHAT), found


def _peek_version(path) -> int | None:
    """The ``version`` entry of an archive, read without trusting it (None when unreadable)."""
    try:
        with zipfile.ZipFile(path) as archive, archive.open("version.npy") as member:
            major, minor = np.lib.format.read_magic(member)
            read_header = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
            shape, _, dtype = read_header(member)
            if shape != () or dtype.kind not in "iu":
                return None
            return int(np.frombuffer(member.read(dtype.itemsize), dtype=dtype)[0])
    except (OSError, ValueError, KeyError, EOFError, IndexError, SyntaxError, zipfile.BadZipFile):
        return None


def _check_meta(archive, version: int) -> dict:
    """Every meta field's type and range; returns them as a dict."""
    trained = archive.value("trained", bool)
    config = {"trained": trained, "dim": archive.integer("dim", minimum=1)}
    if not trained and archive.meta.get("mode_sizes") == "auto":
        config["mode_sizes"] = "auto"
    else:
        config["mode_sizes"] = archive.integers("mode_sizes", minimum=1)
        if not config["mode_sizes"]:
            raise archive.error("mode_sizes", "must not be empty")
    if not trained and archive.meta.get("ranks") == "auto":
        config["ranks"] = "auto"
    else:
        length = None if config["mode_sizes"] == "auto" else len(config["mode_sizes"]) - 1
        config["ranks"] = archive.integers("ranks", minimum=1, length=length)
    for key, choices in (("metric", _METRICS), ("assign", _ASSIGN)):
        config[key] = archive.value(key, str)
        if config[key] not in choices:
            raise archive.error(key, f"must be one of {choices}, got {config[key]!r}")
    config["assign_beam"] = archive.integer("assign_beam", minimum=1)
    config["train_size"] = archive.integer("train_size", minimum=1, optional=True)
    seed = archive.value("seed", (int, type(None)))
    config["seed"] = 0 if seed is None else seed
    if config["seed"] < 0:
        raise archive.error("seed", f"must be >= 0, got {seed}")
    config["next_id"] = archive.integer("next_id", minimum=0)
    if config["next_id"] > MAX_ID + 1 or not trained and config["next_id"] != 0:
        raise archive.error("next_id", f"must be in [0, 2**63] (0 before training), got {config['next_id']}")
    # Version 2 wrote no fit options (they were dropped); they load as {}.
    config["fit_options"] = archive.value("fit_options", dict) if version >= 3 else {}
    not_saved = archive.value("fit_options_not_saved", list) if version >= 3 else []
    if any(not isinstance(name, str) for name in not_saved):
        raise archive.error("fit_options_not_saved", f"must be a list of names, got {not_saved!r}")
    config["fit_options_not_saved"] = not_saved
    known = {f"core_{j}" for j in range(len(config["mode_sizes"]) if trained else 0)}
    known |= {"vectors", "ids", "offsets"} if trained else set()
    extra = sorted(set(archive.arrays) - known)
    if extra:
        raise archive.error(extra[0], "is not a field of this format")
    return config


def _check_arrays(archive, config):
    """Cores, vectors, ids and offsets against the meta and each other."""
    dim, mode_sizes, ranks = config["dim"], config["mode_sizes"], config["ranks"]
    left, right = (dim,) + ranks, ranks + (1,)
    cores = [archive.array(f"core_{j}", ndim=3, kind="f", shape=(a, n, b), finite=True)
             for j, (a, n, b) in enumerate(zip(left, mode_sizes, right))]
    dtype = cores[0].dtype
    for j, core in enumerate(cores):
        if core.dtype != dtype:
            raise archive.error(f"core_{j}", f"has dtype {core.dtype}, core_0 {dtype}")
    vectors = archive.array("vectors", ndim=2, kind="f", shape=(None, dim), finite=True)
    if vectors.dtype != dtype:
        raise archive.error("vectors", f"has dtype {vectors.dtype}, the cores {dtype}")
    n = vectors.shape[0]
    ids = archive.array("ids", ndim=1, kind="i", shape=(n,))
    if n:
        if ids.dtype.kind == "u" and int(ids.max()) > MAX_ID or ids.dtype.kind == "i" and int(ids.min()) < 0:
            raise archive.error("ids", "must be non-negative int64 values")
        if np.unique(ids).shape[0] != n:
            raise archive.error("ids", "must be unique")
        if int(ids.max()) >= config["next_id"]:
            raise archive.error("next_id", f"must be above every id (largest id {int(ids.max())}, "
                                           f"next_id {config['next_id']})")
    offsets = archive.array("offsets", ndim=1, kind="i", shape=(math.prod(mode_sizes) + 1,))
    if int(offsets[0]) != 0 or int(offsets[-1]) != n:
        raise archive.error("offsets", f"must start at 0 and end at the number of vectors {n}, "
                                       f"got {int(offsets[0])} and {int(offsets[-1])}")
    if np.any(np.diff(offsets.astype(np.int64)) < 0):
        raise archive.error("offsets", "must be non-decreasing")
    return cores, vectors, ids.astype(np.int64), offsets.astype(np.int64)
