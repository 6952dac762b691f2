"""Tests of the index file format: round trips and every corrupted field refused (specs/index.md §File format)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from helpers import to_np, to_xp

from tt_ref._backend import FileFormatError
from tt_ref.cloud._point_cloud import TTPointCloud
from tt_ref.search._index import TTIndex
from tt_ref.search._persist import FORMAT_TAG, FORMAT_VERSION


def _saved(tmp_path, xp=None, dtype="float64", n=60):
    rng = np.random.default_rng(0)
    cloud = TTPointCloud.random(4, (3, 4), (2,), seed=0, dtype=dtype)
    if xp is not None:
        cloud = TTPointCloud([to_xp(to_np(c), xp) for c in cloud.cores])
    index = TTIndex.from_point_cloud(cloud, fit_options={"steps": 7, "lr": 0.01, "progress": False})
    X = rng.standard_normal((n, 4))
    index.add(to_xp(X, xp, dtype) if xp is not None else X.astype(dtype), ids=np.arange(100, 100 + n))
    path = tmp_path / "index.npz"
    index.save(path)
    return index, path, X


def _rewrite(path, out, *, version=FORMAT_VERSION, meta_changes=None, meta_text=None, drop=(), **arrays):
    """A copy of the archive at ``path`` with some entries changed (written without tt_ref's checks)."""
    with np.load(path, allow_pickle=False) as data:
        entries = {key: data[key] for key in data.files}
    meta = json.loads(str(entries.pop("meta")))
    for key, value in (meta_changes or {}).items():
        if value is _DROP:
            meta.pop(key)
        else:
            meta[key] = value
    entries["meta"] = np.array(json.dumps(meta) if meta_text is None else meta_text)
    entries["version"] = np.array(version, dtype=np.int64)
    entries.update(arrays)
    for key in drop:
        entries.pop(key)
    np.savez(out, **entries)
    return out


_DROP = object()


def test_round_trip_keeps_everything(xp, dtype, tmp_path, backend):
    """§File format: load gives the same search results, ids, next id and fit options."""
    index, path, X = _saved(tmp_path, xp, dtype)
    loaded = TTIndex.load(path, backend=backend)
    Q = to_xp(X[:7] + 0.01, xp, dtype)
    for scan in ("gather", "lists"):
        a, b = index.search(Q, 5, beam=3, n_candidates=30, scan=scan), loaded.search(Q, 5, beam=3, n_candidates=30,
                                                                                     scan=scan)
        assert np.array_equal(to_np(a[1]), to_np(b[1])) and np.array_equal(to_np(a[0]), to_np(b[0]))
    assert loaded.fit_options == {"steps": 7, "lr": 0.01, "progress": False}
    assert loaded._lists.next_id == index._lists.next_id == 160
    index.add(to_xp(X[:3], xp, dtype))
    loaded.add(to_xp(X[:3], xp, dtype))
    assert to_np(index._lists.ids).tolist() == to_np(loaded._lists.ids).tolist()


def test_untrained_auto_index_round_trips(tmp_path):
    """§File format: an untrained index keeps "auto" mode sizes and ranks and its fit options."""
    index = TTIndex(6, "auto", fit_options={"steps": 3, "init": "random"}, seed=4, train_size=50)
    index.save(tmp_path / "auto.npz")
    loaded = TTIndex.load(tmp_path / "auto.npz")
    assert not loaded.is_trained and loaded.mode_sizes == "auto" and loaded.ranks == "auto"
    assert (loaded.fit_options, loaded.seed, loaded.train_size) == ({"steps": 3, "init": "random"}, 4, 50)


def test_options_a_file_cannot_hold_are_named(tmp_path):
    """§File format: fit options that are not JSON values are left out, with a warning on save and load."""
    index = TTIndex(4, (3, 3), (2,), fit_options={"steps": 5, "callback": print})
    with pytest.warns(UserWarning, match="callback"):
        index.save(tmp_path / "cb.npz")
    with pytest.warns(UserWarning, match="callback"):
        loaded = TTIndex.load(tmp_path / "cb.npz")
    assert loaded.fit_options == {"steps": 5}


def test_version_2_files_load(tmp_path):
    """§File format: version 2 files (no fit options) load, with empty fit options."""
    index, path, X = _saved(tmp_path)
    old = _rewrite(path, tmp_path / "v2.npz", version=2,
                   meta_changes={"fit_options": _DROP, "fit_options_not_saved": _DROP})
    loaded = TTIndex.load(old)
    assert loaded.fit_options == {} and loaded.ntotal == 60
    assert np.array_equal(to_np(loaded.search(X[:4], 3)[1]), to_np(index.search(X[:4], 3)[1]))
    with pytest.raises(FileFormatError, match="'version' is 1"):
        TTIndex.load(_rewrite(path, tmp_path / "v1.npz", version=1))


def _corruptions(path):
    """(name, field, rewrite keywords) for every documented check."""
    with np.load(path) as data:
        ids, offsets, vectors = data["ids"], data["offsets"], data["vectors"]
        core_0, core_1 = data["core_0"], data["core_1"]
    nan_vectors = vectors.copy()
    nan_vectors[3, 1] = np.nan
    nan_core = core_0.copy()
    nan_core[0, 0, 0] = np.inf
    dup = ids.copy()
    dup[5] = dup[4]
    neg = ids.copy()
    neg[0] = -1
    swapped = offsets.copy()
    swapped[3], swapped[4] = swapped[4] + 1, swapped[3]
    return [
        ("no next_id", "next_id", {"meta_changes": {"next_id": _DROP}}),
        ("negative next_id", "next_id", {"meta_changes": {"next_id": -5}}),
        ("next_id at an id", "next_id", {"meta_changes": {"next_id": int(ids.max())}}),
        ("float next_id", "next_id", {"meta_changes": {"next_id": 160.0}}),
        ("meta a list", "meta", {"meta_text": "[1, 2]"}),
        ("meta null", "meta", {"meta_text": "null"}),
        ("meta not JSON", "meta", {"meta_text": "{oops"}),
        ("dim a string", "dim", {"meta_changes": {"dim": "4"}}),
        ("mode sizes floats", "mode_sizes", {"meta_changes": {"mode_sizes": [3.0, 4.0]}}),
        ("ranks too many", "ranks", {"meta_changes": {"ranks": [2, 2]}}),
        ("metric unknown", "metric", {"meta_changes": {"metric": "manhattan"}}),
        ("assign unknown", "assign", {"meta_changes": {"assign": 3}}),
        ("trained not bool", "trained", {"meta_changes": {"trained": 1}}),
        ("train_size zero", "train_size", {"meta_changes": {"train_size": 0}}),
        ("seed negative", "seed", {"meta_changes": {"seed": -1}}),
        ("fit options a list", "fit_options", {"meta_changes": {"fit_options": [1]}}),
        ("core shape", "core_1", {"core_1": core_1[:, :2, :]}),
        ("core inf", "core_0", {"core_0": nan_core}),
        ("core missing", "core_1", {"drop": ("core_1",)}),
        ("vectors width", "vectors", {"vectors": vectors[:, :3]}),
        ("vectors NaN", "vectors", {"vectors": nan_vectors}),
        ("vectors integer", "vectors", {"vectors": vectors.astype(np.int64)}),
        ("vectors dtype", "vectors", {"vectors": vectors.astype(np.float32)}),
        ("ids short", "ids", {"ids": ids[:-1]}),
        ("ids duplicate", "ids", {"ids": dup}),
        ("ids float", "ids", {"ids": ids.astype(np.float64)}),
        ("ids negative", "ids", {"ids": neg}),
        ("offsets short", "offsets", {"offsets": offsets[:-1]}),
        ("offsets not monotone", "offsets", {"offsets": swapped}),
        ("offsets end", "offsets", {"offsets": np.concatenate([offsets[:-1], [offsets[-1] - 1]])}),
        ("offsets missing", "offsets", {"drop": ("offsets",)}),
        ("an extra array", "extra", {"extra": np.zeros(3)}),
        ("a pickle", "ids", {"ids": np.array([object()] * len(ids), dtype=object)}),
    ]


def test_every_corruption_is_a_file_format_error_naming_the_field(tmp_path):
    """§File format: each violation of the format is a FileFormatError naming the file and the field."""
    _, path, _ = _saved(tmp_path)
    for name, field, changes in _corruptions(path):
        bad = tmp_path / f"{name.replace(' ', '_')}.npz"
        if "a pickle" in name:
            with np.load(path) as data:
                entries = {key: data[key] for key in data.files}
            entries.update({k: v for k, v in changes.items()})
            np.savez(bad, **entries)
        else:
            _rewrite(path, bad, **changes)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with pytest.raises(FileFormatError) as info:
                TTIndex.load(bad)
        message = str(info.value)
        assert str(bad) in message, (name, message)
        assert f"'{field}'" in message, (name, message)


def test_foreign_and_damaged_files(tmp_path):
    """§File format: another tag, a truncated archive, a missing file."""
    _, path, _ = _saved(tmp_path)
    with np.load(path) as data:
        entries = {key: data[key] for key in data.files}
    entries["format"] = np.array("tt_ref.TTPointCloud")
    np.savez(tmp_path / "other.npz", **entries)
    with pytest.raises(FileFormatError, match="not a tt_ref TTIndex file"):
        TTIndex.load(tmp_path / "other.npz")
    raw = path.read_bytes()
    (tmp_path / "cut.npz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(FileFormatError, match="cut.npz"):
        TTIndex.load(tmp_path / "cut.npz")
    with pytest.raises(FileNotFoundError):
        TTIndex.load(tmp_path / "missing.npz")
    assert FORMAT_TAG == "tt_ref.TTIndex"
