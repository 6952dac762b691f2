"""Package-level contracts: exports, version, the CLI entry point, layering."""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

import pytest

import tt_ref
from tt_ref.cli import main

PACKAGE = pathlib.Path(tt_ref.__file__).parent

# Layers (CONTRIBUTING.md "Layout and layers"): a subpackage imports only from itself and
# from the layers below it; inside a subpackage the modules form no import cycle.
LAYERS = {
    "_backend": 0,
    "tt": 1, "datasets": 1,
    "cloud": 2, "layers": 2,
    "search": 3,
    "ood": 4,
    "testing": 5, "conformance": 5, "distributed": 5,
    "cli": 6,
    "__init__": 7, "__main__": 7,
}


def _unit_of(rel: pathlib.PurePath) -> str:
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _imported_modules(path: pathlib.Path) -> list[str]:
    """Absolute names of the tt_ref modules a file imports (lazy imports included)."""
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    package = list(rel.parts[:-1]) if rel.name != "__init__" else list(rel.parts[:-1])
    if rel.name == "__init__":
        package = list(rel.parts[:-1])
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level == 0:
                base = (node.module or "").split(".")
            else:
                base = package[: len(package) - (node.level - 1)] + ((node.module or "").split(".") if node.module else [])
            if base[0] != "tt_ref":
                continue
            if node.module is None or node.level and not node.module:
                found.extend(".".join(base + [alias.name]) for alias in node.names)
            else:
                found.append(".".join(base))
        elif isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names if alias.name.split(".")[0] == "tt_ref")
    return found


def test_every_export_resolves():
    for name in tt_ref.__all__:
        assert getattr(tt_ref, name) is not None, name
    with pytest.raises(AttributeError, match="no attribute"):
        tt_ref.not_a_name  # noqa: B018


def test_exports_are_not_shadowed_by_submodules():
    """Every exported name resolves to the object its subpackage exports, after every module loaded."""
    import importlib

    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        if "__main__" not in rel.parts:
            importlib.import_module(".".join(p for p in rel.parts if p != "__init__"))
    for name, module in tt_ref._EXPORTS.items():
        assert getattr(tt_ref, name) is getattr(importlib.import_module(f"tt_ref.{module}"), name), name
    assert callable(tt_ref.kmeans)


def test_round_is_reachable_but_not_star_exported():
    """``tt_ref.round`` works; ``from tt_ref import *`` does not shadow the builtin."""
    namespace: dict = {}
    exec("from tt_ref import *", namespace)
    assert "round" not in namespace
    assert tt_ref.round is tt_ref.tt.round


def test_version_flag(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert tt_ref.__version__ in capsys.readouterr().out


def test_console_entry_point_runs():
    out = subprocess.run([sys.executable, "-m", "tt_ref", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"tt-ref {tt_ref.__version__}"


def test_no_command_prints_help_and_fails(capsys):
    assert main([]) == 2
    assert "usage" in capsys.readouterr().out


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_layers_import_downward_only(path):
    """A unit imports tt_ref units of its own layer or lower (lazy imports included)."""
    rel = path.relative_to(PACKAGE)
    own = _unit_of(rel)
    assert own in LAYERS, f"{rel}: unit {own!r} has no layer in LAYERS"
    for module in _imported_modules(path):
        parts = module.split(".")
        target = parts[1] if len(parts) > 1 else "__init__"
        if target == "__version__":
            continue
        assert target in LAYERS, f"{rel} imports {module}, which has no layer"
        assert LAYERS[target] <= LAYERS[own], f"{rel} (layer {LAYERS[own]}) imports {module} (layer {LAYERS[target]})"


def test_no_import_cycles():
    """The module import graph (lazy imports included) has no cycle, inside subpackages too."""
    graph = {}
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        name = ".".join(p for p in rel.parts if p != "__init__")
        graph[name] = {m for m in _imported_modules(path)}
    # Resolve "pkg.name" imports of a package's re-exported attribute to the package.
    graph = {k: {m if m in graph else m.rsplit(".", 1)[0] for m in v} - {k} for k, v in graph.items()}
    # A package's __init__ re-exports its private modules, so edges into a package from its own
    # modules would be spurious; keep only edges to private modules and to other units.
    state: dict[str, int] = {}

    def visit(node, stack):
        state[node] = 1
        for nxt in graph.get(node, ()):
            if nxt.startswith(node + "."):
                continue  # a package importing its own modules
            if node.startswith(nxt + ".") :
                continue  # a module importing the package it belongs to (its re-exports): not used
            if state.get(nxt) == 1:
                raise AssertionError(" -> ".join(stack + [node, nxt]))
            if state.get(nxt) is None:
                visit(nxt, stack + [node])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [])


_LONG_NOTE = "why this unit is long:"


def _units(path):
    tree = ast.parse(path.read_text())
    source = path.read_text().splitlines()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            start = node.lineno
            doc = node.body[0] if node.body else None
            if isinstance(node, ast.ClassDef):
                pass  # a class counts whole: its methods' docstrings are part of what a reader scrolls
            elif isinstance(doc, ast.Expr) and isinstance(getattr(doc, "value", None), ast.Constant) and isinstance(doc.value.value, str):
                start = doc.end_lineno  # a function's docstring is documentation, not code
            length = node.end_lineno - start + 1
            body = "\n".join(source[node.lineno - 1 : node.end_lineno]).lower()
            yield node, length, _LONG_NOTE in body


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_units_do_one_job(path):
    """No class above 300 lines and no function body above 80 (docstring excluded) without ``# Why this unit is long: ...``."""
    too_long = []
    for node, length, noted in _units(path):
        limit = 300 if isinstance(node, ast.ClassDef) else 80
        if length > limit and not noted:
            too_long.append(f"{node.name} ({length} lines, limit {limit})")
    assert not too_long, too_long
