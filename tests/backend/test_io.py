"""tt_ref._backend._io: atomic writes, output checks, checked pickle-free reads (specs/backend.md §Files)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from tt_ref._backend import ArgumentValueError, FileFormatError, MemoryLimitError, memory_limit
from tt_ref._backend._io import (
    atomic_path,
    check_output_path,
    load_archive,
    load_npz,
    read_array_file,
    remove_stale_temporaries,
    save_npz,
    write_json,
    write_text,
)


def test_npz_round_trip_with_meta(tmp_path):
    """specs/backend.md §Files: arrays and meta come back exactly; only the file is left."""
    path = tmp_path / "a.npz"
    arrays = {"x": np.arange(5.0), "f": np.asfortranarray(np.arange(6.0).reshape(2, 3)), "i": np.arange(3)}
    save_npz(path, arrays, format_tag="tag", version=3, meta={"k": [1, 2]})
    back, meta = load_npz(path, format_tag="tag", version=3, what="test")
    assert meta == {"k": [1, 2]} and set(back) == set(arrays)
    for key, value in arrays.items():
        assert np.array_equal(back[key], value) and back[key].dtype == value.dtype
    assert os.listdir(tmp_path) == ["a.npz"]


def _write(path, kind):
    if kind == "foreign":
        np.savez(path, a=np.zeros(2))
    elif kind == "npy":
        with open(path, "wb") as handle:
            np.save(handle, np.zeros(2))
    elif kind == "text":
        path.write_text("hello")
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "version":
        save_npz(path, {}, format_tag="tag", version=2)
    elif kind == "object":  # a pickled object array must never be unpickled
        np.savez(path, format=np.array("tag"), version=np.array(1), x=np.array([{"a": 1}], dtype=object))
    elif kind == "truncated":
        save_npz(path, {"x": np.arange(1000.0)}, format_tag="tag", version=1)
        path.write_bytes(path.read_bytes()[:3000])
    elif kind == "meta_list":
        save_npz(path, {}, format_tag="tag", version=1)
        _rewrite_member(path, "meta", np.array(json.dumps([1, 2])))
    elif kind == "meta_null":
        save_npz(path, {}, format_tag="tag", version=1)
        _rewrite_member(path, "meta", np.array("null"))
    elif kind == "meta_bad_json":
        save_npz(path, {}, format_tag="tag", version=1)
        _rewrite_member(path, "meta", np.array("{not json"))
    elif kind == "not_array_member":
        save_npz(path, {}, format_tag="tag", version=1)
        with zipfile.ZipFile(path, "a") as archive:
            archive.writestr("readme.txt", "hi")


def _rewrite_member(path, key, value):
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    arrays[key] = value
    np.savez(path, **arrays)


_PROBLEMS = {
    "foreign": "format tag", "npy": "bare .npy", "text": "foreign file", "empty": "empty", "version": "version",
    "object": "pickle", "truncated": "truncated", "meta_list": "JSON object", "meta_null": "JSON object",
    "meta_bad_json": "not valid JSON", "not_array_member": "not an array",
}


@pytest.mark.parametrize("kind", sorted(_PROBLEMS))
def test_load_refuses_what_it_did_not_write(tmp_path, kind):
    """specs/errors.md §Files: each damaged or foreign file is a FileFormatError naming the file."""
    path = tmp_path / "f.npz"
    _write(path, kind)
    with pytest.raises(FileFormatError, match=_PROBLEMS[kind]) as info:
        load_npz(path, format_tag="tag", version=1, what="test")
    assert str(path) in str(info.value) and isinstance(info.value, ValueError)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.npz"):
        load_npz(tmp_path / "missing.npz", format_tag="tag", version=1, what="test")
    with pytest.raises(FileFormatError, match="folder"):
        load_npz(tmp_path, format_tag="tag", version=1, what="test")


def _crafted_npz(path, shape, *, key="x", dtype="<f8", payload=b""):
    """A zip whose member declares ``shape`` but holds ``payload`` bytes (the audit's 6 KB file)."""
    header = {"descr": dtype, "fortran_order": False, "shape": shape}
    text = repr(header).encode("latin1")
    text += b" " * (63 - (10 + len(text)) % 64) + b"\n"
    member = b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text + payload
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("format.npy", _npy(np.array("tag")))
        archive.writestr("version.npy", _npy(np.array(1)))
        archive.writestr(f"{key}.npy", member)


def _npy(array):
    import io

    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def test_crafted_header_refused_before_allocating(tmp_path):
    """specs/errors.md §Files: a header declaring 10^11 x 8 float64 in a few KB is refused, not allocated."""
    path = tmp_path / "crafted.npz"
    _crafted_npz(path, (10**11, 8), payload=b"\0" * 6000)
    assert path.stat().st_size < 10_000
    with pytest.raises(FileFormatError, match=r"field 'x' declares shape \(100000000000, 8\)"):
        load_npz(path, format_tag="tag", version=1, what="test")
    # A header that fits the file but not the memory limit: MemoryLimitError, still before allocating.
    path2 = tmp_path / "big.npz"
    _crafted_npz(path2, (1000,), payload=b"\0" * 8000)
    with memory_limit(4000), pytest.raises(MemoryLimitError, match="field 'x'"):
        load_npz(path2, format_tag="tag", version=1, what="test")
    assert load_npz(path2, format_tag="tag", version=1, what="test")[0]["x"].shape == (1000,)


def test_bare_npy_reader_checks_header(tmp_path):
    """specs/backend.md §Files: read_array_file reads .npy/.npz, refuses truncated and pickled .npy."""
    good = np.arange(12, dtype=np.int16).reshape(3, 4)
    np.save(tmp_path / "a.npy", good)
    assert np.array_equal(read_array_file(tmp_path / "a.npy"), good)
    np.save(tmp_path / "f.npy", np.asfortranarray(good))
    assert np.array_equal(read_array_file(tmp_path / "f.npy"), good)
    raw = (tmp_path / "a.npy").read_bytes()
    (tmp_path / "t.npy").write_bytes(raw[:-5])
    with pytest.raises(FileFormatError, match="truncated or crafted"):
        read_array_file(tmp_path / "t.npy")
    np.save(tmp_path / "o.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(FileFormatError, match="pickle"):
        read_array_file(tmp_path / "o.npy")
    (tmp_path / "h.npy").write_bytes(b"\x93NUMPY\x01\x00\x05\x00{bad}")
    with pytest.raises(FileFormatError, match="unreadable .npy header"):
        read_array_file(tmp_path / "h.npy")


def test_archive_field_checks(tmp_path):
    """specs/errors.md §Files: meta types, required keys and array shapes name the field."""
    path = tmp_path / "a.npz"
    save_npz(path, {"ids": np.array([0.5, 1.0]), "v": np.ones((2, 3))}, format_tag="tag", version=1,
             meta={"next_id": -5, "sizes": [4, True], "name": None, "flag": True})
    archive = load_archive(path, format_tag="tag", version=1, what="index")
    with pytest.raises(FileFormatError, match="field 'next_id' must be >= 0, got -5"):
        archive.integer("next_id", minimum=0)
    with pytest.raises(FileFormatError, match="field 'missing' is missing"):
        archive.integer("missing")
    assert archive.integer("missing", optional=True) is None
    with pytest.raises(FileFormatError, match="field 'flag' must be int, got bool"):
        archive.integer("flag")
    with pytest.raises(FileFormatError, match="field 'sizes' must be a list of integers"):
        archive.integers("sizes")
    with pytest.raises(FileFormatError, match="field 'ids' must have an integer dtype"):
        archive.array("ids", kind="i")
    with pytest.raises(FileFormatError, match=r"field 'v' must have shape \(\*, 4\)"):
        archive.array("v", shape=(None, 4))
    assert archive.array("v", ndim=2, kind="f", shape=(2, None), finite=True).shape == (2, 3)
    with pytest.raises(FileFormatError, match="field 'v' must have 1 dimensions"):
        archive.array("v", ndim=1)


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


def test_stale_temporary_of_killed_save_is_removed(tmp_path):
    """specs/backend.md §Files: a save killed by SIGKILL leaves a temp file; the next save removes it."""
    script = (
        "import sys, time\n"
        "from tt_ref._backend._io import atomic_path\n"
        "with atomic_path(sys.argv[1]) as tmp:\n"
        "    open(tmp, 'wb').write(b'x' * 1000)\n"
        "    print(tmp, flush=True)\n"
        "    time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script, str(tmp_path / "index.npz")], stdout=subprocess.PIPE,
                            text=True)
    tmp = proc.stdout.readline().strip()
    assert os.path.exists(tmp)
    # A foreign hidden file and a live writer's temp file must survive the clean-up.
    (tmp_path / ".keep.tmp").write_text("not ours")
    assert remove_stale_temporaries(tmp_path) == []  # the writer is still alive
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert os.path.exists(tmp) and not (tmp_path / "index.npz").exists()
    save_npz(tmp_path / "other.npz", {}, format_tag="tag", version=1)  # any save into the folder
    assert sorted(os.listdir(tmp_path)) == [".keep.tmp", "other.npz"]


def test_check_output_path(tmp_path):
    """specs/errors.md §Command line: outputs are checked before work; missing parents are allowed."""
    assert check_output_path(tmp_path / "new" / "deeper" / "r.json", option="--json").name == "r.json"
    assert not (tmp_path / "new").exists()  # checking creates nothing
    (tmp_path / "file").write_text("x")
    with pytest.raises(ArgumentValueError, match="--json: .* is a file, so"):
        check_output_path(tmp_path / "file" / "r.json", option="--json")
    with pytest.raises(ArgumentValueError, match="is a folder; give a file path"):
        check_output_path(tmp_path, option="--json")
    with pytest.raises(ArgumentValueError, match="is a file; give a folder"):
        check_output_path(tmp_path / "file", option="--out", kind="folder")
    with pytest.raises(ArgumentValueError, match=r"--plot must end in \.png"):
        check_output_path(tmp_path / "x.jpg", option="--plot", suffix=".png")
    with pytest.raises(ArgumentValueError, match="must not be empty"):
        check_output_path("", option="--json")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_check_output_path_read_only(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(ArgumentValueError, match="not writable"):
            check_output_path(folder / "r.json", option="--json")
    finally:
        folder.chmod(0o700)


def test_json_has_no_nan_and_plain_types_and_creates_parents(tmp_path):
    path = write_json(tmp_path / "a" / "r.json", {"a": np.float32(0.5), "b": float("inf"), "c": np.arange(2)})
    assert json.loads(path.read_text()) == {"a": 0.5, "b": None, "c": [0, 1]}
