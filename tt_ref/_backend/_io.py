"""Files, once: atomic writes and pickle-free ``.npz`` archives with a format tag.

Every file tt_ref writes (clouds, indexes, reports, JSON rows, plots) goes through
:func:`atomic_path`: the bytes land in a temporary file in the destination folder, which
replaces the destination only when complete, so a crash or an error never leaves a
half-written file. Archives are read with ``allow_pickle=False`` and checked for their
format tag and version before any array is used.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

__all__ = ["atomic_path", "write_text", "write_json", "save_figure", "save_npz", "load_npz"]


def _final_mode(tmp: str) -> None:
    # mkstemp creates 0600 files; give the final file the usual mode (0666 minus the umask).
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)


@contextlib.contextmanager
def atomic_path(path, *, name: str = "path"):
    """Yield a temporary path beside ``path``; on success it replaces ``path``.

    On any exception the temporary file is removed and ``path`` is left as it was.
    The destination folder must exist (``FileNotFoundError`` naming ``name`` if not).
    """
    path = Path(os.fspath(path))
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise FileNotFoundError(f"{name}: folder {str(folder)!r} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    os.close(fd)
    try:
        yield tmp
        _final_mode(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_text(path, text: str, *, make_parents: bool = True) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    path = Path(os.fspath(path))
    if make_parents:
        path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)
    return path


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if hasattr(obj, "tolist"):
        return _jsonable(obj.tolist())
    if hasattr(obj, "item"):
        return _jsonable(obj.item())
    return obj


def write_json(path, obj) -> Path:
    """Write ``obj`` as indented JSON, atomically; NumPy values become Python ones and
    NaN / inf become ``null`` (JSON has no NaN).

    Examples
    --------
    >>> import json, os, tempfile
    >>> from tt_ref._backend._io import write_json
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = write_json(os.path.join(folder, "r.json"), {"auroc": 0.9, "bad": float("nan")})
    ...     json.loads(path.read_text())
    {'auroc': 0.9, 'bad': None}
    """
    return write_text(path, json.dumps(_jsonable(obj), indent=2) + "\n")


def save_figure(fig, path, *, dpi: int = 110) -> Path:
    """Save a matplotlib figure as PNG atomically, then close it."""
    import matplotlib.pyplot as plt

    path = Path(os.fspath(path))
    try:
        if path.suffix.lower() != ".png":
            raise ValueError(f"plot path must end in .png, got {str(path)!r}")
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format="png")
    finally:
        plt.close(fig)
    return path


def save_npz(path, arrays: dict, *, format_tag: str, version: int, meta: dict | None = None) -> None:
    """Write host arrays (and JSON ``meta``) to ``path`` as ``.npz``, atomically, tagged."""
    payload = {"format": np.array(format_tag), "version": np.array(int(version), dtype=np.int64)}
    if meta is not None:
        payload["meta"] = np.array(json.dumps(meta))
    for key, value in arrays.items():
        payload[key] = np.ascontiguousarray(value)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, **payload)


def load_npz(path, *, format_tag: str, version: int, what: str) -> tuple[dict, dict]:
    """Read an archive written by :func:`save_npz`: ``(arrays, meta)``, all on the host.

    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` naming ``what``
    for anything else: not an archive, a foreign or corrupted file, another version.
    No pickle is ever loaded.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"path: no such file {path!r}")
    try:
        # Open the file ourselves: np.load leaks its handle when the archive is corrupt.
        with open(path, "rb") as handle:
            data = np.load(handle, allow_pickle=False)
            if not hasattr(data, "files"):
                raise ValueError("not an .npz archive (a bare .npy array?)")
            with data:
                if "format" not in data.files or str(data["format"]) != format_tag:
                    raise ValueError(f"format tag {format_tag!r} missing")
                found = int(data["version"]) if "version" in data.files else -1
                if found != version:
                    raise ValueError(f"format version {found}; this tt_ref reads version {version}")
                meta = json.loads(str(data["meta"])) if "meta" in data.files else {}
                arrays = {key: np.asarray(data[key]) for key in data.files if key not in ("format", "version", "meta")}
    except (zipfile.BadZipFile, OSError, KeyError, ValueError, EOFError, json.JSONDecodeError) as exc:
        raise ValueError(f"path {path!r} is not a tt_ref {what} file: {exc}") from exc
    return arrays, meta
