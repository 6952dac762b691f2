"""Sphinx configuration of the API reference (``docs/api.rst``), generated from the docstrings.

Build with ``python -m sphinx -W -n -b html docs docs/_build/html``: ``-W`` fails on any warning,
``-n`` (nitpicky) on any cross-reference that does not resolve. Only ``api.rst`` is a Sphinx source;
the Markdown guides are read on GitHub and doctested by pytest.
"""

import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

project = "tt_ref"
author = "tt_ref developers"
release = "0.1.0"

extensions = ["sphinx.ext.autodoc", "numpydoc"]
root_doc = "api"
source_suffix = {".rst": "restructuredtext"}
exclude_patterns = ["_build", "img"]

# Signatures without type hints: the docstrings' Parameters sections carry the types, and
# hints like ``Sequence[int] | None`` are not cross-referenceable without intersphinx (offline).
autodoc_typehints = "none"
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "undoc-members": False, "show-inheritance": False}
numpydoc_show_class_members = False
numpydoc_xref_param_type = False
numpydoc_validation_checks = set()

# Names the docstrings mention as types in prose that are not documented here.
nitpick_ignore_regex = [
    ("py:class", r"(numpy|np|cupy|array_api_strict)\..*"),
    ("py:class", r"(array|array-like|optional|callable|default .*)"),
]

html_theme = "alabaster"
html_static_path = []


def _resolve_top_level(app, env, node, contnode):
    """Resolve ``tt_ref.NAME`` (the lazily exported top-level names) to the defining module's object."""
    target = node.get("reftarget", "")
    if node.get("refdomain") != "py" or not target.startswith("tt_ref.") or target.count(".") != 1:
        return None
    from tt_ref import _EXPORTS

    module = _EXPORTS.get(target.split(".", 1)[1])
    if module is None:
        return None
    new_target = f"tt_ref.{module}.{target.split('.', 1)[1]}"
    new_node = node.deepcopy()
    new_node["reftarget"] = new_target
    return env.get_domain("py").resolve_xref(
        env, node["refdoc"], app.builder, node["reftype"], new_target, new_node, contnode
    )


def setup(app):
    app.connect("missing-reference", _resolve_top_level)
