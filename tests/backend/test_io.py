"""tt_ref._backend._io: atomic writes and tagged, pickle-free archives (specs/backend.md §Files)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from tt_ref._backend._io import atomic_path, load_npz, save_npz, write_json, write_text


def test_npz_round_trip_with_meta(tmp_path):
    path = tmp_path / "a.npz"
    save_npz(path, {"x": np.arange(5.0)}, format_tag="tag", version=3, meta={"k": [1, 2]})
    arrays, meta = load_npz(path, format_tag="tag", version=3, what="test")
    assert np.array_equal(arrays["x"], np.arange(5.0)) and meta == {"k": [1, 2]}
    assert os.listdir(tmp_path) == ["a.npz"]


@pytest.mark.parametrize("kind", ["foreign", "npy", "text", "version", "object"])
def test_load_rejects_what_it_did_not_write(tmp_path, kind):
    path = tmp_path / "f.npz"
    if kind == "foreign":
        np.savez(path, a=np.zeros(2))
    elif kind == "npy":
        with open(path, "wb") as handle:
            np.save(handle, np.zeros(2))
    elif kind == "text":
        path.write_text("hello")
    elif kind == "version":
        save_npz(path, {}, format_tag="tag", version=2)
    else:  # a pickled object array must never be unpickled
        np.savez(path, format=np.array("tag"), version=np.array(1), x=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError, match="not a tt_ref test file"):
        load_npz(path, format_tag="tag", version=1, what="test")
    with pytest.raises(FileNotFoundError, match="path"):
        load_npz(tmp_path / "missing.npz", format_tag="tag", version=1, what="test")


def test_failed_write_keeps_old_file_and_leaves_no_temp(tmp_path):
    path = tmp_path / "out.txt"
    write_text(path, "old")
    with pytest.raises(RuntimeError):
        with atomic_path(path) as tmp:
            with open(tmp, "w") as handle:
                handle.write("half")
            raise RuntimeError("interrupted")
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["out.txt"]
    with pytest.raises(FileNotFoundError, match="folder"):
        with atomic_path(tmp_path / "no" / "such" / "file"):
            pass


def test_json_has_no_nan_and_plain_types(tmp_path):
    path = write_json(tmp_path / "r.json", {"a": np.float32(0.5), "b": float("inf"), "c": np.arange(2)})
    assert json.loads(path.read_text()) == {"a": 0.5, "b": None, "c": [0, 1]}
