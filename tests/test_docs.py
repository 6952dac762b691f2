"""The documentation builds: the API reference with ``-W -n``, and the docs map links resolve."""

from __future__ import annotations

import re
import subprocess
import sys
import pathlib
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


_REPO = pathlib.Path(__file__).resolve().parents[1]
_PUBLISHED = [*sorted((_REPO / "tt_ref").rglob("*.py")), *sorted((_REPO / "docs").glob("*.md")),
              *sorted((_REPO / "specs").glob("*.md")), _REPO / "README.md", _REPO / "CONTRIBUTING.md",
              *sorted((_REPO / "asv_bench").rglob("*.md"))]
# What a repository that speaks for itself never names: another repository's notes, an internal
# tracker's numbers, a particular machine's paths.
_FOREIGN = re.compile(
    r"METHOD\.md|\.\./shared|\bshared/data|\b[Ii]ssues? ?#?\d+|\bthe issue'?s?\b|/work/|/root/|/home/\w|[A-Z]:\\\\Users"
)


@pytest.mark.parametrize("path", _PUBLISHED, ids=lambda p: str(p.relative_to(_REPO)))
def test_repository_cites_only_itself(path):
    """No file of the package, docs, specs or README names an issue, a file outside the repository or a machine path."""
    hits = [f"{i}: {line.strip()}" for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
            if _FOREIGN.search(line)]
    assert not hits, "\n".join(hits)


@pytest.mark.parametrize("path", [p for p in _PUBLISHED if p.suffix == ".md"], ids=lambda p: str(p.relative_to(_REPO)))
def test_cited_test_files_exist(path):
    """Every ``tests/...py`` path a page cites exists (tests mirror the package layout)."""
    cited = set(re.findall(r"\btests/[\w/]+\.py", path.read_text(encoding="utf-8")))
    missing = sorted(c for c in cited if not (_REPO / c).exists())
    assert not missing, missing
