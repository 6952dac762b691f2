"""The documentation builds: the API reference with ``-W -n``, and the docs map links resolve (issue 5)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"


def _sphinx(source: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "-n", "--keep-going", "-q", "-b", "html", str(source), str(out)],
        capture_output=True, text=True, timeout=120,
    )


def test_api_reference_builds(tmp_path):
    """docs/api.rst builds from the docstrings with every warning and broken reference an error."""
    pytest.importorskip("sphinx")
    pytest.importorskip("numpydoc")
    result = _sphinx(DOCS, tmp_path / "html")
    assert result.returncode == 0, result.stderr[-4000:]
    html = (tmp_path / "html" / "api.html").read_text(encoding="utf-8")
    for name in ("tt_ref.ood.KNNDetector", "tt_ref.tt.TensorTrain", "tt_ref.search.nearest_neighbors", "tt_ref.cloud.fit_point_cloud"):
        assert f'id="{name}"' in html, name


def test_broken_reference_fails_the_build(tmp_path):
    """The -W -n build is strict: a reference to a missing function fails it."""
    pytest.importorskip("sphinx")
    (tmp_path / "conf.py").write_text("root_doc = 'index'\n")
    (tmp_path / "index.rst").write_text("Title\n=====\n\nSee :func:`no_such_function`.\n")
    result = _sphinx(tmp_path, tmp_path / "html")
    assert result.returncode != 0
    assert "no_such_function" in result.stderr


def test_docs_map_links_resolve():
    """Every relative link in docs/index.md points at an existing file."""
    text = (DOCS / "index.md").read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)#:]+)\)", text)
    assert "guide-ood.md" in links and "results-ood.md" in links
    missing = [link for link in links if not (DOCS / link).exists()]
    assert not missing, missing
