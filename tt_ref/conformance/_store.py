"""The case set on disk: one folder per case, ``.npy`` arrays, a manifest with sha256 sums.

Layout (``specs/conformance.md`` §Case set)::

    DIR/manifest.json          format, version, tt_ref version, every file with its sha256
    DIR/tolerances.json        the tolerance table (tt_ref.testing.TOLERANCES)
    DIR/cases/<name>/case.json operation, params, tolerance, may_differ, compare, array index
    DIR/cases/<name>/inputs/<input>.npy
    DIR/cases/<name>/expected/<output>.npy

Everything is read back through :func:`tt_ref._backend._io.read_array_file` (headers
checked, never unpickled) and checked against the manifest's sums.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import numpy as np

from .. import __version__
from .._backend import FileFormatError
from .._backend._io import atomic_path, read_array_file, write_text
from ._case import ConformanceCase
from ._tolerances import TOLERANCES

__all__ = ["FORMAT", "VERSION", "write_case_set", "read_case_set", "write_outputs", "read_outputs"]

FORMAT = "tt_ref.conformance"
#: Version of the case-set layout; a reader refuses any other.
VERSION = 1
_NAME = re.compile(r"^[A-Za-z0-9_.\-]+(/[A-Za-z0-9_.\-]+)*$")


def _check_name(name: str) -> str:
    if not _NAME.match(name) or ".." in name.split("/"):
        raise FileFormatError(f"case name {name!r} is not a safe relative path (letters, digits, _ . - and /)")
    return name


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _save_npy(path: Path, array) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    array = np.asarray(array)
    if array.dtype == object:
        raise FileFormatError(f"{path}: object arrays cannot be stored")
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            # (np.ascontiguousarray would turn a 0-d array into shape (1,).)
            np.save(handle, np.array(array, order="C", copy=True), allow_pickle=False)


def _json_value(value):
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def write_case_set(folder, cases) -> Path:
    """Write ``cases`` under ``folder`` (created); returns the manifest's path.

    The manifest is written last (a manifest already there is removed first), so a set that
    was not finished is never read as complete. Ctrl-C (``KeyboardInterrupt``) while
    writing still leaves a readable set: the manifest lists the cases written so far and
    says ``"interrupted": true``; then the interrupt propagates.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from tt_ref.conformance import ConformanceCase
    >>> case = ConformanceCase("norm/one", "norm", {}, {"a_0": np.ones((1, 4, 1))},
    ...                        {"result": np.asarray(2.0), "scale_result": np.asarray(2.0)},
    ...                        {"c": 4.0, "K": 12, "unit": 2.2e-16}, "rounding", "scalar_norm")
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     _ = write_case_set(folder, [case])
    ...     [c.name for c in read_case_set(folder)]
    ['norm/one']
    """
    folder = Path(os.fspath(folder))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "manifest.json").unlink(missing_ok=True)
    write_text(folder / "tolerances.json", json.dumps(_json_value(TOLERANCES), indent=2) + "\n")
    files: dict[str, str] = {}
    index = []
    try:
        for case in cases:
            files.update(_write_case(folder, case))  # a case counts once all its files are written
            index.append(case.name)
    except KeyboardInterrupt:
        _write_manifest(folder, index, files, interrupted=True)
        raise
    return _write_manifest(folder, index, files)


def _write_case(folder: Path, case) -> dict:
    """Write one case's arrays and ``case.json``; returns ``{relative path: sha256}``."""
    base = Path("cases") / _check_name(case.name)
    files, arrays = {}, {}
    for kind, mapping in (("inputs", case.inputs), ("expected", case.expected)):
        arrays[kind] = {}
        for key, value in mapping.items():
            _check_name(key)
            rel = base / kind / f"{key}.npy"
            _save_npy(folder / rel, value)
            files[rel.as_posix()] = _sha256(folder / rel)
            arr = np.asarray(value)
            arrays[kind][key] = {"file": f"{kind}/{key}.npy", "dtype": str(arr.dtype), "shape": list(arr.shape)}
    meta = {"name": case.name, "operation": case.operation, "params": _json_value(case.params),
            "tolerance": _json_value(case.tolerance), "may_differ": case.may_differ, "compare": case.compare,
            **arrays}
    rel = base / "case.json"
    write_text(folder / rel, json.dumps(meta, indent=2) + "\n")
    files[rel.as_posix()] = _sha256(folder / rel)
    return files


def _write_manifest(folder: Path, index: list, files: dict, *, interrupted: bool = False) -> Path:
    files = {**files, "tolerances.json": _sha256(folder / "tolerances.json")}
    manifest = {"format": FORMAT, "version": VERSION, "generator": f"tt_ref {__version__}", "cases": index,
                "files": files}
    if interrupted:
        manifest["interrupted"] = True
    return write_text(folder / "manifest.json", json.dumps(manifest, indent=2) + "\n")


def _read_manifest(folder: Path) -> dict:
    path = folder / "manifest.json"
    if not path.is_file():
        raise FileNotFoundError(f"{folder}: no manifest.json (write a case set with `tt-ref conformance generate`)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise FileFormatError(f"{path}: not JSON ({exc})") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise FileFormatError(f"{path}: not a tt_ref conformance case set (format {manifest.get('format')!r})"
                              if isinstance(manifest, dict) else f"{path}: not a case-set manifest")
    if manifest.get("version") != VERSION:
        raise FileFormatError(f"{path}: case-set version {manifest.get('version')!r}, this reader knows {VERSION}")
    return manifest


def read_case_set(folder, *, verify: bool = True) -> list:
    """The cases of a case set, in manifest order; ``verify`` checks every sha256 first."""
    folder = Path(os.fspath(folder))
    manifest = _read_manifest(folder)
    if verify:
        for rel, digest in manifest["files"].items():
            path = folder / rel
            if not path.is_file():
                raise FileFormatError(f"{folder}: {rel} is listed in the manifest but missing")
            if _sha256(path) != digest:
                raise FileFormatError(f"{folder}: {rel} does not match its sha256 in the manifest (modified?)")
    cases = []
    for name in manifest["cases"]:
        base = folder / "cases" / _check_name(name)
        meta = json.loads((base / "case.json").read_text(encoding="utf-8"))
        arrays = {}
        for kind in ("inputs", "expected"):
            arrays[kind] = {key: _read_array(base / entry["file"], entry, f"case {name} {kind} {key}")
                            for key, entry in meta[kind].items()}
        cases.append(ConformanceCase(
            name=meta["name"], operation=meta["operation"], params=meta["params"], inputs=arrays["inputs"],
            expected=arrays["expected"], tolerance=meta["tolerance"], may_differ=meta["may_differ"],
            compare=meta["compare"]))
    return cases


def _read_array(path: Path, entry: dict, what: str) -> np.ndarray:
    """An array of the case set, checked against the shape and dtype its ``case.json`` lists."""
    array = np.asarray(read_array_file(path, what=what))
    shape = tuple(entry.get("shape", array.shape))
    if array.size != int(np.prod(shape)) or str(array.dtype) != entry.get("dtype", str(array.dtype)):
        raise FileFormatError(f"{path}: holds {array.dtype} {array.shape}, case.json says {entry.get('dtype')} "
                              f"{list(shape)}")
    return array.reshape(shape)


def write_outputs(folder, case_name: str, outputs) -> None:
    """Store an implementation's outputs for one case in the ``--outputs`` layout:
    ``<folder>/<case name>/<output>.npy`` (one array: ``result.npy``)."""
    if not isinstance(outputs, dict):
        outputs = {"result": outputs}
    base = Path(os.fspath(folder)) / _check_name(case_name)
    for key, value in outputs.items():
        _save_npy(base / f"{_check_name(key)}.npy", value)


def read_outputs(folder, case_name: str):
    """An implementation's outputs for one case: a dict of arrays, ``None`` when the case's
    folder is absent (not implemented), or an ``Exception`` carrying the text of
    ``error.txt`` (the implementation refused or failed)."""
    base = Path(os.fspath(folder)) / _check_name(case_name)
    if not base.is_dir():
        return None
    error = base / "error.txt"
    if error.is_file():
        return RuntimeError(error.read_text(encoding="utf-8", errors="replace").strip() or "error")
    return {p.stem: read_array_file(p, what=f"output {case_name}/{p.name}") for p in sorted(base.glob("*.npy"))}
