"""Files, once: atomic writes, checked output paths, and pickle-free ``.npz`` / ``.npy`` reads.

Every file tt_ref writes (clouds, indexes, reports, JSON rows, plots) goes through
:func:`atomic_path`: the bytes land in a temporary file in the destination folder, which
replaces the destination only when complete, so a crash or an error never leaves a
half-written file. A temporary file left by a process that was killed mid-save is
removed by the next save into the same folder (specs/backend.md §Files).

Reading trusts nothing: the container (zip or ``.npy``) is recognised from its first
bytes, each array's header is read and checked against the file's size and the memory
limit (:mod:`tt_ref._backend._memory`) before anything is allocated, object arrays
(pickles) are refused, and the format tag, version and JSON meta are checked. Every
problem is a :class:`FileFormatError` naming the file and the field. Callers check the
fields of their own format with :class:`Archive` (specs/errors.md §Files).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
import socket
import tempfile
import threading
import time
import zipfile
import zlib
from pathlib import Path

import numpy as np

from ._errors import ArgumentTypeError, ArgumentValueError, FileFormatError
from ._memory import check_allocation

__all__ = [
    "atomic_path",
    "remove_stale_temporaries",
    "check_output_path",
    "write_text",
    "write_json",
    "save_figure",
    "save_npz",
    "load_npz",
    "load_archive",
    "Archive",
    "read_array_file",
]


# --------------------------------------------------------------------------- writing
# Temporary files are named ".<name>.tt_ref-<host>-<pid>-<random>.tmp": the pattern says
# they are ours, the host and process say whether their writer can still be alive.
_HOST = hashlib.sha1(socket.gethostname().encode()).hexdigest()[:8]
_TMP_PATTERN = re.compile(r"^\..*\.tt_ref-([0-9a-f]{8})-(\d+)-[A-Za-z0-9_]+\.tmp$")
_active_temps: set[str] = set()
_active_lock = threading.Lock()


def _final_mode(tmp: str) -> None:
    # mkstemp creates 0600 files; give the final file the usual mode (0666 minus the umask).
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)


def _writer_alive(host: str, pid: int) -> bool:
    if host != _HOST:
        return True  # another machine's process (a shared folder): never ours to judge
    if pid == os.getpid():
        return False  # our own, not in the active set: left over
    if os.name != "posix":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists but belongs to someone else
        return True
    return True


def remove_stale_temporaries(folder, *, older_than: float | None = None) -> list[str]:
    """Remove tt_ref's temporary files in ``folder`` whose writer is gone.

    Only names of tt_ref's own pattern (``.<name>.tt_ref-<host>-<pid>-<random>.tmp``),
    written on this host by a process that no longer runs, and last modified before
    ``older_than`` (a ``time.time()`` value; default: now). Returns the removed paths.
    """
    older_than = time.time() if older_than is None else older_than
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        match = _TMP_PATTERN.match(entry.name)
        if match is None:
            continue
        with _active_lock:
            if entry.path in _active_temps:
                continue
        try:
            if _writer_alive(match.group(1), int(match.group(2))) or entry.stat().st_mtime >= older_than:
                continue
            os.unlink(entry.path)
            removed.append(entry.path)
        except OSError:  # gone already, or not ours to remove
            continue
    return removed


@contextlib.contextmanager
def atomic_path(path, *, name: str = "path"):
    """Yield a temporary path beside ``path``; on success it replaces ``path``.

    On any exception the temporary file is removed and ``path`` is left as it was.
    The destination folder must exist (``FileNotFoundError`` naming ``name`` if not).
    Stale temporary files of interrupted saves into the same folder are removed first.
    """
    started = time.time()
    path = Path(os.fspath(path))
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise FileNotFoundError(f"{name}: folder {str(folder)!r} does not exist")
    remove_stale_temporaries(folder, older_than=started)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tt_ref-{_HOST}-{os.getpid()}-", suffix=".tmp", dir=folder)
    os.close(fd)
    tmp = os.path.join(str(folder), os.path.basename(tmp))  # as os.scandir(folder) names it
    with _active_lock:
        _active_temps.add(tmp)
    try:
        yield tmp
        _final_mode(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    finally:
        with _active_lock:
            _active_temps.discard(tmp)


def check_output_path(path, *, option: str, kind: str = "file", suffix: str | None = None) -> Path:
    """Check, before any work, that ``path`` can be written; returns it as a ``Path``.

    The policy for every output of tt_ref: missing parent folders are created when the
    file is written, so ``path``'s nearest existing ancestor must be a writable folder.
    Refused, with an :class:`ArgumentValueError` naming ``option``: an ancestor that is
    a file, a ``kind="file"`` path that is an existing folder (or a ``kind="folder"``
    path that is an existing file), an unwritable folder, a wrong ``suffix``.

    Examples
    --------
    >>> import os, tempfile
    >>> from tt_ref._backend._io import check_output_path
    >>> folder = tempfile.mkdtemp()
    >>> check_output_path(os.path.join(folder, "new", "r.json"), option="--json").name
    'r.json'
    >>> check_output_path(folder, option="--json")
    Traceback (most recent call last):
    ...
    tt_ref.ArgumentValueError: --json: ... is a folder; give a file path
    """
    if kind not in ("file", "folder"):
        raise ArgumentValueError(f"kind must be 'file' or 'folder', got {kind!r}")
    if not isinstance(path, (str, os.PathLike)):
        raise ArgumentTypeError(f"{option} must be a path, got {type(path).__name__}")
    if os.fspath(path) == "":
        raise ArgumentValueError(f"{option} must not be empty")
    path = Path(os.fspath(path))
    if suffix is not None and kind == "file" and path.suffix.lower() != suffix:
        raise ArgumentValueError(f"{option} must end in {suffix}, got {str(path)!r}")
    if kind == "file" and path.is_dir():
        raise ArgumentValueError(f"{option}: {str(path)!r} is a folder; give a file path")
    if kind == "folder" and path.exists() and not path.is_dir():
        raise ArgumentValueError(f"{option}: {str(path)!r} is a file; give a folder")
    folder = path if kind == "folder" else path.parent
    ancestor = Path(os.path.abspath(folder))
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise ArgumentValueError(f"{option}: {str(ancestor)!r} is a file, so {str(path)!r} cannot be created under it")
    if not _can_write(ancestor):
        raise ArgumentValueError(f"{option}: folder {str(ancestor)!r} is not writable")
    return path


def _can_write(folder: Path) -> bool:
    # os.access misses read-only mounts and answers True for root; a real probe does not.
    if not os.access(folder, os.W_OK | os.X_OK):
        return False
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError:
        return False
    return True


def write_text(path, text: str, *, make_parents: bool = True) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically (missing parent folders created)."""
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
    """Write ``obj`` as indented JSON, atomically (missing parent folders created);
    NumPy values become Python ones and NaN / inf become ``null`` (JSON has no NaN).

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
    """Save a matplotlib ``Figure`` as PNG atomically (missing parent folders created).

    The figure should be a ``matplotlib.figure.Figure`` built without pyplot: saving
    one needs no GUI backend, and tt_ref never changes matplotlib's backend. A figure
    that pyplot manages is closed afterwards.
    """
    path = Path(os.fspath(path))
    try:
        if path.suffix.lower() != ".png":
            raise ArgumentValueError(f"plot path must end in .png, got {str(path)!r}")
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format="png")
    finally:
        if getattr(fig.canvas, "manager", None) is not None:  # made by pyplot: release it there
            import matplotlib.pyplot as plt

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


# --------------------------------------------------------------------------- reading
_ZIP_MAGIC = b"PK\x03\x04"
_NPY_MAGIC = b"\x93NUMPY"


def _file_error(path, what: str, problem: str, field: str | None = None) -> FileFormatError:
    where = f"{what} file {str(path)!r}"
    return FileFormatError(f"{where}: field {field!r} {problem}" if field else f"{where}: {problem}")


def _read_npy_header(handle, size: int, *, path, what: str, field: str | None):
    """Shape, Fortran order and dtype from an ``.npy`` header, checked against ``size``
    bytes and the memory limit."""
    try:
        major, minor = np.lib.format.read_magic(handle)
        if (major, minor) == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(handle)
        elif (major, minor) == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(handle)
        else:
            raise ValueError(f"unsupported .npy format version {major}.{minor}")
    except (ValueError, EOFError, SyntaxError, TypeError) as exc:
        raise _file_error(path, what, f"has an unreadable .npy header ({exc})", field) from None
    if dtype.hasobject:
        raise _file_error(path, what, "holds Python objects (a pickle); tt_ref never unpickles", field)
    count = math.prod(shape)
    need = count * dtype.itemsize
    have = size - handle.tell()
    if need > have:
        raise _file_error(path, what, f"declares shape {shape} of {dtype} ({need:,} bytes) but holds "
                                      f"{max(have, 0):,} bytes: truncated or crafted", field)
    check_allocation(count, dtype.itemsize, what=f"{what} file {str(path)!r}: field {field!r} shape {shape}"
                     if field else f"{what} file {str(path)!r}: shape {shape}")
    return shape, fortran, dtype


def _container(path, what: str) -> str:
    """``"zip"`` or ``"npy"`` from the file's first bytes; errors for missing, empty, foreign."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{what}: no such file {path!r}")
    if os.path.isdir(path):
        raise _file_error(path, what, "is a folder, not a file")
    with open(path, "rb") as handle:
        head = handle.read(len(_NPY_MAGIC))
    if not head:
        raise _file_error(path, what, "is empty (0 bytes)")
    if head.startswith(_ZIP_MAGIC):
        return "zip"
    if head == _NPY_MAGIC:
        return "npy"
    raise _file_error(path, what, "is neither an .npz archive nor an .npy array (foreign file)")


def _read_zip(path, what: str) -> dict:
    """Every array of an ``.npz`` archive, each header checked before it is read."""
    arrays = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                if not info.filename.endswith(".npy"):
                    raise _file_error(path, what, f"holds {info.filename!r}, which is not an array")
                key = info.filename[: -len(".npy")]
                # Damaged header flags: zipfile would ask for a password or an unknown codec.
                if info.flag_bits & 0x1 or info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                    raise _file_error(path, what, "is damaged (encrypted or unknown compression flags)", key)
                with archive.open(info) as member:
                    header = _read_npy_header(member, info.file_size, path=path, what=what, field=key)
                    arrays[key] = _read_values(member, *header, path=path, what=what, field=key)
    except zipfile.BadZipFile as exc:
        raise _file_error(path, what, f"is a damaged or truncated .npz archive ({exc})") from None
    except (EOFError, OSError, ValueError, zlib.error, NotImplementedError, RuntimeError) as exc:
        # zipfile's answers to damaged members (a codec or password it cannot use) included.
        if isinstance(exc, FileFormatError):
            raise
        raise _file_error(path, what, f"cannot be read ({exc})") from None
    return arrays


def _read_values(handle, shape, fortran, dtype, *, path, what, field) -> np.ndarray:
    """The array after its checked header: exactly the declared bytes, copied into an owned array."""
    nbytes = math.prod(shape) * dtype.itemsize
    buffer = handle.read(nbytes)
    if len(buffer) != nbytes:
        raise _file_error(path, what, f"is truncated ({len(buffer):,} of {nbytes:,} bytes)", field)
    flat = np.frombuffer(buffer, dtype=dtype)
    return (flat.reshape(shape[::-1]).T if fortran else flat.reshape(shape)).copy()


def read_array_file(path, *, what: str = "data") -> dict | np.ndarray:
    """Read an ``.npy`` (an array) or ``.npz`` (a dict of arrays) after checking every header.

    Raises ``FileNotFoundError`` for a missing file and :class:`FileFormatError` naming
    the file (and the field) for an empty, truncated, foreign, crafted or pickled one;
    :class:`MemoryLimitError` when an array would exceed the memory limit. Nothing is
    allocated before its header has been checked against the file's size.
    """
    kind = _container(path, what)
    if kind == "zip":
        return _read_zip(path, what)
    size = os.path.getsize(path)
    with open(path, "rb") as handle:
        header = _read_npy_header(handle, size, path=path, what=what, field=None)
        return _read_values(handle, *header, path=path, what=what, field=None)


class Archive:
    """A checked tt_ref archive: ``arrays`` (host), ``meta`` (a dict), and field checks.

    Every check raises :class:`FileFormatError` as ``"<what> file '<path>': field
    '<name>' <problem>"``, so a loader states its format once and a damaged file is
    refused before an object is built from it.
    """

    def __init__(self, path, what: str, arrays: dict, meta: dict):
        self.path = os.fspath(path)
        self.what = what
        self.arrays = arrays
        self.meta = meta

    def error(self, field: str, problem: str) -> FileFormatError:
        """The error for ``field`` (to raise)."""
        return _file_error(self.path, self.what, problem, field)

    def value(self, key: str, types, *, optional: bool = False):
        """``meta[key]`` if it is an instance of ``types`` (bool never counts as int)."""
        if key not in self.meta:
            if optional:
                return None
            raise self.error(key, "is missing")
        value = self.meta[key]
        if value is None and optional:
            return None
        types = types if isinstance(types, tuple) else (types,)
        if isinstance(value, bool) and bool not in types or not isinstance(value, types):
            names = " or ".join(t.__name__ for t in types)
            raise self.error(key, f"must be {names}, got {type(value).__name__}")
        return value

    def integer(self, key: str, *, minimum: int | None = None, optional: bool = False):
        """``meta[key]`` as an int ``>= minimum``."""
        value = self.value(key, int, optional=optional)
        if value is not None and minimum is not None and value < minimum:
            raise self.error(key, f"must be >= {minimum}, got {value}")
        return value

    def integers(self, key: str, *, minimum: int | None = None, length: int | None = None) -> tuple[int, ...]:
        """``meta[key]`` as a tuple of ints ``>= minimum`` (of ``length`` entries)."""
        values = self.value(key, list)
        if any(isinstance(v, bool) or not isinstance(v, int) for v in values):
            raise self.error(key, f"must be a list of integers, got {values!r}")
        if minimum is not None and any(v < minimum for v in values):
            raise self.error(key, f"must hold integers >= {minimum}, got {values!r}")
        if length is not None and len(values) != length:
            raise self.error(key, f"must have {length} entries, got {len(values)}")
        return tuple(values)

    def array(self, key: str, *, ndim: int | None = None, kind: str | None = None, shape=None,
              finite: bool = False) -> np.ndarray:
        """``arrays[key]`` checked: ``ndim``, dtype ``kind`` (``"f"`` real floating, ``"i"``
        integer), ``shape`` (``None`` entries are free), finite values."""
        if key not in self.arrays:
            raise self.error(key, "is missing")
        value = self.arrays[key]
        if ndim is not None and value.ndim != ndim:
            raise self.error(key, f"must have {ndim} dimensions, got shape {value.shape}")
        if kind == "f" and value.dtype.kind != "f" or kind == "i" and value.dtype.kind not in "iu":
            wanted = {"f": "a real floating", "i": "an integer"}[kind]
            raise self.error(key, f"must have {wanted} dtype, got {value.dtype}")
        if shape is not None and (len(shape) != value.ndim or any(
                want is not None and want != got for want, got in zip(shape, value.shape))):
            expected = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"
            raise self.error(key, f"must have shape {expected}, got {value.shape}")
        if finite and value.dtype.kind == "f" and not np.all(np.isfinite(value)):
            raise self.error(key, "contains NaN or inf")
        return value


def load_archive(path, *, format_tag: str, version: int, what: str) -> Archive:
    """Read and check an archive written by :func:`save_npz`: container, every array
    header (against the file size and the memory limit, before allocating), no pickles,
    the format tag and version, and ``meta`` being a JSON object.

    Examples
    --------
    >>> import numpy as np, os, tempfile
    >>> from tt_ref._backend._io import load_archive, save_npz
    >>> path = os.path.join(tempfile.mkdtemp(), "a.npz")
    >>> save_npz(path, {"x": np.arange(3.0)}, format_tag="demo", version=1, meta={"n": 3})
    >>> archive = load_archive(path, format_tag="demo", version=1, what="demo")
    >>> archive.integer("n", minimum=1), archive.array("x", ndim=1, kind="f").tolist()
    (3, [0.0, 1.0, 2.0])
    >>> archive.integer("next_id")
    Traceback (most recent call last):
    ...
    tt_ref.FileFormatError: demo file '...a.npz': field 'next_id' is missing
    """
    path = os.fspath(path)
    if _container(path, what) != "zip":
        raise _file_error(path, what, "is a bare .npy array, not a tt_ref .npz archive")
    arrays = _read_zip(path, what)
    tag = arrays.pop("format", None)
    if tag is None or tag.dtype.kind != "U" or tag.shape != () or str(tag) != format_tag:
        raise _file_error(path, what, f"is not a tt_ref {what} file (format tag {format_tag!r} missing)", "format")
    found = arrays.pop("version", None)
    if found is None or found.dtype.kind not in "iu" or found.shape != ():
        raise _file_error(path, what, "is missing or not an integer", "version")
    if int(found) != version:
        raise _file_error(path, what, f"is {int(found)}; this tt_ref reads version {version}", "version")
    meta = {}
    if "meta" in arrays:
        text = arrays.pop("meta")
        if text.dtype.kind != "U" or text.shape != ():
            raise _file_error(path, what, "must be a JSON string", "meta")
        try:
            meta = json.loads(str(text))
        except json.JSONDecodeError as exc:
            raise _file_error(path, what, f"is not valid JSON ({exc})", "meta") from None
        if not isinstance(meta, dict):
            raise _file_error(path, what, f"must be a JSON object, got {type(meta).__name__}", "meta")
    return Archive(path, what, arrays, meta)


def load_npz(path, *, format_tag: str, version: int, what: str) -> tuple[dict, dict]:
    """:func:`load_archive` as ``(arrays, meta)``, all on the host.

    Raises ``FileNotFoundError`` for a missing file, :class:`FileFormatError` naming the
    file for anything else (empty, truncated, foreign, bare ``.npy``, pickled, another
    version, a crafted header) and :class:`MemoryLimitError` for a header that declares
    more than the memory limit.
    """
    archive = load_archive(path, format_tag=format_tag, version=version, what=what)
    return archive.arrays, archive.meta
