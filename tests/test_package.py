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

# Layers (README "What is in it"): a module may import only from its own layer or below.
LAYERS = {
    "_backend": 0, "_io": 0,
    "tensor_train": 1,
    "_linalg": 2, "svd": 2, "rounding": 2, "arithmetic": 2, "evaluate": 2, "creation": 2,
    "tt_matrix": 2, "neighbors": 2,
    "point_cloud": 3, "losses": 3, "optim": 3, "kmeans": 3, "fit": 3, "budget": 3,
    "baselines": 3, "quality": 3, "datasets": 3,
    "index": 4, "ann_eval": 4, "ood": 4, "report": 4,
    "cli": 5, "commands": 5, "__init__": 5, "__main__": 5,
}


def test_every_export_resolves():
    for name in tt_ref.__all__:
        assert getattr(tt_ref, name) is not None, name
    with pytest.raises(AttributeError, match="no attribute"):
        tt_ref.not_a_name  # noqa: B018


def test_exports_are_not_shadowed_by_submodules():
    """A name that is also a module (``kmeans``) stays the exported object after the submodule loads."""
    import importlib

    for name, module in tt_ref._EXPORTS.items():
        importlib.import_module(f"tt_ref.{module}")
        value = getattr(tt_ref, name)
        assert value is getattr(importlib.import_module(f"tt_ref.{module}"), name), name
    assert callable(tt_ref.kmeans)


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
    """A module imports tt_ref modules of its own layer or lower (lazy imports included)."""
    rel = path.relative_to(PACKAGE)
    own = "commands" if rel.parts[0] == "commands" else rel.stem
    own_layer = LAYERS[own]
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, ast.ImportFrom):
            if node.level == 0 and (node.module or "").startswith("tt_ref"):
                targets = [(node.module or "").split(".")[1:2] or ["__init__"]]
            elif node.level >= 1:
                base = (node.module or "").split(".")[0] if node.module else None
                if base and not (rel.parts[0] == "commands" and node.level == 1):
                    targets = [[base]]
                elif not base:
                    targets = [[alias.name] for alias in node.names]
        for target in targets:
            name = target[0] if target else "__init__"
            if name not in LAYERS:
                continue
            # TensorTrain's operators import arithmetic lazily by design (t3f style).
            if own == "tensor_train" and name == "arithmetic":
                continue
            assert LAYERS[name] <= own_layer, f"{rel} (layer {own_layer}) imports {name} (layer {LAYERS[name]})"
