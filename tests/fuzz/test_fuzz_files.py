"""Every loader against corrupted files (specs/errors.md §Files).

Valid files written by tt_ref (a point cloud, an index, a data set) are damaged in fixed
ways (the audit's list: missing ``next_id``, meta as a list or null, duplicate / float /
negative ids, short ids, non-monotone offsets, NaN vectors, vectors of the wrong width, a
crafted header, truncation) and at random (hypothesis: truncation at any byte, a flipped
byte, garbage appended). Each load must give a usable object or a FileFormatError /
MemoryLimitError naming the file; a loaded object must then work.
"""

from __future__ import annotations

import json
import os
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fuzz_kit
import tt_ref

_EXAMPLES = int(os.environ.get("TT_REF_FUZZ_EXAMPLES", "0")) or None
_X = np.random.default_rng(0).normal(size=(60, 5))


def _write_cloud(path):
    tt_ref.TTPointCloud.random(5, (3, 4), (2,), seed=0).save(path)


def _write_index(path):
    index = tt_ref.TTIndex(5, (3, 3), (2,), fit_options={"steps": 3, "progress": False, "batch_size": 16})
    index.train(_X)
    index.add(_X)
    index.save(path)


def _write_data(path):
    np.savez(path, X=_X, labels=np.arange(60) % 3)


def _use_cloud(path):
    cloud = tt_ref.TTPointCloud.load(path)
    assert np.all(np.isfinite(tt_ref._backend.to_numpy(cloud.all_points())))


def _use_index(path):
    index = tt_ref.TTIndex.load(path)
    if index.is_trained:
        distances, ids = index.search(_X[:3], 2)
        ids = tt_ref._backend.to_numpy(ids)
        assert ids.shape == (3, 2) and np.all(ids < 2**63 - 1)


def _use_data(path):
    dataset = tt_ref.load_dataset(path)
    assert dataset.X.ndim == 2 and np.all(np.isfinite(dataset.X))


LOADERS = {"cloud": (_write_cloud, _use_cloud), "index": (_write_index, _use_index), "data": (_write_data, _use_data)}


def _members(path) -> dict:
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def _rewrite(path, **changes):
    arrays = _members(path)
    for key, value in changes.items():
        if value is None:
            arrays.pop(key, None)
        else:
            arrays[key] = value
    np.savez(path, **arrays)


def _meta(path) -> dict:
    return json.loads(str(_members(path)["meta"]))


def _set_meta(path, **changes):
    meta = _meta(path)
    for key, value in changes.items():
        if value is _DROP:
            meta.pop(key, None)
        else:
            meta[key] = value
    _rewrite(path, meta=np.array(json.dumps(meta)))


_DROP = object()


def _crafted(path, key):
    arrays = _members(path)
    text = repr({"descr": "<f8", "fortran_order": False, "shape": (10**11, 8)}).encode()
    text += b" " * (63 - (10 + len(text)) % 64) + b"\n"
    with zipfile.ZipFile(path, "w") as archive:
        for name, value in arrays.items():
            if name != key:
                import io

                buffer = io.BytesIO()
                np.save(buffer, value)
                archive.writestr(f"{name}.npy", buffer.getvalue())
        archive.writestr(f"{key}.npy", b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text + b"\0" * 6000)


def _damage(kind, path, what):
    """The fixed damages; each must be refused (expect "error")."""
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    elif kind == "text":
        path.write_text("not a file of tt_ref\n")
    elif kind == "bare npy":
        with open(path, "wb") as handle:
            np.save(handle, np.ones((3, 3)))
    elif kind == "crafted header":
        _crafted(path, {"cloud": "core_0", "index": "vectors", "data": "X"}[what])
    elif kind == "pickled member":
        arrays = _members(path)
        arrays["evil"] = np.array([{"a": 1}], dtype=object)
        np.savez(path, **arrays)
    elif kind == "meta list":
        _rewrite(path, meta=np.array(json.dumps([1, 2, 3])))
    elif kind == "meta null":
        _rewrite(path, meta=np.array("null"))
    elif kind == "no meta":
        _rewrite(path, meta=None)
    elif kind == "no next_id":
        _set_meta(path, next_id=_DROP)
    elif kind == "next_id -5":
        _set_meta(path, next_id=-5)
    elif kind == "next_id not above ids":
        _set_meta(path, next_id=3)
    elif kind == "dim as string":
        _set_meta(path, dim="5")
    elif kind == "n_cores wrong":
        _set_meta(path, n_cores=7)
    elif kind == "duplicate ids":
        ids = _members(path)["ids"].copy()
        ids[:3] = ids[0]
        _rewrite(path, ids=ids)
    elif kind == "float ids":
        _rewrite(path, ids=_members(path)["ids"].astype(np.float64) + 0.5)
    elif kind == "negative ids":
        _rewrite(path, ids=_members(path)["ids"] - 100)
    elif kind == "short ids":
        _rewrite(path, ids=_members(path)["ids"][:-2])
    elif kind == "offsets not monotone":
        offsets = _members(path)["offsets"].copy()
        offsets[1], offsets[2] = offsets[2] + 5, offsets[1]
        _rewrite(path, offsets=offsets)
    elif kind == "short offsets":
        _rewrite(path, offsets=_members(path)["offsets"][:-1])
    elif kind == "NaN vectors":
        vectors = _members(path)["vectors"].copy()
        vectors[0, 0] = np.nan
        _rewrite(path, vectors=vectors)
    elif kind == "vectors wrong width":
        _rewrite(path, vectors=_members(path)["vectors"][:, :-1])
    elif kind == "NaN core":
        core = _members(path)["core_0"].copy()
        core.flat[0] = np.nan
        _rewrite(path, core_0=core)
    elif kind == "core missing":
        _rewrite(path, core_1=None)
    elif kind == "core wrong rank":
        _rewrite(path, core_1=np.ones((3, 4, 1)))
    elif kind == "string data":
        _rewrite(path, X=_X.astype(str))
    elif kind == "float16 data":
        _rewrite(path, X=_X.astype(np.float16))
    elif kind == "zero rows":
        _rewrite(path, X=_X[:0], labels=None)
    elif kind == "string labels":
        _rewrite(path, labels=np.array(["a"] * 60))
    elif kind == "fractional labels":
        _rewrite(path, labels=np.linspace(0, 2, 60))
    else:
        raise ValueError(kind)


_COMMON = ("empty", "truncated", "text", "bare npy", "crafted header", "pickled member")
DAMAGES = {
    "cloud": _COMMON + ("meta list", "meta null", "no meta", "n_cores wrong", "NaN core", "core missing",
                        "core wrong rank"),
    "index": _COMMON + ("meta list", "meta null", "no meta", "no next_id", "next_id -5", "next_id not above ids",
                        "dim as string", "duplicate ids", "float ids", "negative ids", "short ids",
                        "offsets not monotone", "short offsets", "NaN vectors", "vectors wrong width", "NaN core",
                        "core missing", "core wrong rank"),
    "data": ("empty", "truncated", "text", "crafted header", "pickled member", "string data", "float16 data",
             "zero rows", "string labels", "fractional labels"),
}


def _judge(what, path, label, expect):
    use = LOADERS[what][1]
    outcome, detail = fuzz_kit.judge(lambda: use(path), names=(str(path), path.name), expect=expect,
                                     allow_file_errors=False)
    fuzz_kit.record(f"{what} file", label, outcome, detail)
    return outcome, detail


@pytest.mark.parametrize("what, kind", [(w, k) for w, kinds in DAMAGES.items() for k in kinds])
def test_damaged_file_is_refused(tmp_path, what, kind):
    """specs/errors.md §Files: each fixed damage is a FileFormatError (or MemoryLimitError) naming the file."""
    path = tmp_path / "f.npz"
    LOADERS[what][0](path)
    _damage(kind, path, what)
    outcome, detail = _judge(what, path, kind, "error")
    assert outcome == "clear", f"{what} file, {kind}: {outcome}: {detail}"


@pytest.mark.parametrize("what", sorted(LOADERS))
def test_missing_file(tmp_path, what):
    with pytest.raises(FileNotFoundError, match="nope.npz"):
        LOADERS[what][1](tmp_path / "nope.npz")


@settings(max_examples=_EXAMPLES, suppress_health_check=list(HealthCheck), deadline=None) if _EXAMPLES else \
    settings(suppress_health_check=list(HealthCheck), deadline=None)
@given(st.data())
def test_random_damage(tmp_path_factory, data):
    """specs/errors.md §Files: a truncation at any byte, a flipped byte or appended garbage gives a
    usable object or a clear error naming the file, never a crash."""
    what = data.draw(st.sampled_from(sorted(LOADERS)), label="file")
    path = tmp_path_factory.mktemp("damage") / "f.npz"
    LOADERS[what][0](path)
    raw = bytearray(path.read_bytes())
    how = data.draw(st.sampled_from(["truncate", "flip", "append", "zero run"]), label="damage")
    where = data.draw(st.integers(0, len(raw) - 1), label="offset")
    if how == "truncate":
        raw = raw[:where]
    elif how == "flip":
        raw[where] ^= data.draw(st.integers(1, 255), label="bits")
    elif how == "append":
        raw += data.draw(st.binary(min_size=1, max_size=64), label="garbage")
    else:
        length = data.draw(st.integers(1, 64), label="length")
        raw[where:where + length] = bytes(len(raw[where:where + length]))
    path.write_bytes(bytes(raw))
    outcome, detail = _judge(what, path, f"{how} at {where}", "either")
    assert outcome not in fuzz_kit.FAILURE_KINDS, f"{what} file, {how} at byte {where}: {outcome}: {detail}"
