"""Named real data sets from installed packages, plus ``.npy`` / ``.npz`` / ``.fvecs`` files.

See ``specs/datasets.md``.
"""

from __future__ import annotations

from ._datasets import DATASETS, Dataset, load_dataset, read_fvecs, train_test_split, write_fvecs

__all__ = ["DATASETS", "Dataset", "load_dataset", "read_fvecs", "write_fvecs", "train_test_split"]
