"""The conformance kit: cases, comparison rules, the case set on disk, the CLI and the
property suite (specs/conformance.md)."""

from __future__ import annotations

import json
import math
import pathlib

import numpy as np
import pytest
from conformance.broken_adapters import BROKEN
from conformance.numpy_adapter import NumpyAdapter

from tt_ref._backend import FileFormatError
from tt_ref.cli import main
from tt_ref.conformance import (
    PROVIDERS, RULES, TOLERANCES, ConformanceCase, ReferenceAdapter, all_cases, compare, fuzz_cases, read_case_set,
    run_adapter, run_outputs, summary, write_case_set, write_outputs,
)
from tt_ref.conformance._registry import _load_provider
from tt_ref.testing import tolerance


@pytest.fixture(scope="module")
def cases():
    return all_cases()


@pytest.fixture(scope="module")
def case_set(tmp_path_factory, cases):
    folder = tmp_path_factory.mktemp("cases")
    write_case_set(folder, cases)
    return folder


def statuses(results) -> dict:
    return {r.name: r.outcome.status for r in results}


# --------------------------------------------------------------------------- the cases
def test_cases_are_well_formed(cases):
    """specs/conformance.md §Case format: unique names, a known rule, a stated tolerance and
    what may differ, JSON parameters, NumPy arrays; every operation the issue lists is covered."""
    names = [c.name for c in cases]
    assert len(names) == len(set(names))
    for case in cases:
        assert case.compare in RULES, case.name
        assert {"c", "K", "unit"} <= set(case.tolerance), case.name
        assert case.may_differ, case.name
        json.dumps(case.params)
        json.dumps({k: v for k, v in case.tolerance.items()})
        assert all(isinstance(v, np.ndarray) for v in {**case.inputs, **case.expected}.values()), case.name
    operations = {c.operation for c in cases}
    assert {"full", "get_many", "tt_svd", "round", "orthogonalize", "add", "scale", "hadamard", "dot", "norm",
            "matvec", "decode", "centroids", "sliced_wasserstein", "fit_gradients", "knn", "beam_search",
            "auroc", "aupr", "fpr_at_tpr", "precision_at_recall"} <= operations
    labels = " ".join(names)
    for edge in ("range_edge", "mode_size_1", "d1", "zero", "ties"):
        assert edge in labels, edge


def test_registry_skips_only_missing_providers(monkeypatch):
    """specs/conformance.md §Providers: a provider module that does not exist is skipped; a
    provider whose own import fails is an error, never silently dropped."""
    assert "tt_ref.conformance._cases_ttm" in PROVIDERS
    assert _load_provider("tt_ref.conformance._no_such_provider") is None
    with pytest.raises(ModuleNotFoundError):
        _load_provider("tt_ref.conformance._cases_tt_broken.sub")  # a missing parent is not the module itself
    all_cases(("tt_ref.conformance._no_such_provider", "tt_ref.conformance._cases_search"))


def test_reference_adapter_passes_every_case(cases):
    """specs/conformance.md §Adapter protocol: tt_ref behind the protocol passes its own cases."""
    results = run_adapter(cases, ReferenceAdapter())
    assert summary(results)["pass"] == len(cases), [r for r in results if r.outcome.status != "pass"]


def test_foreign_numpy_implementation_passes_every_case(cases):
    """specs/conformance.md §Adapter protocol: a correct plain-NumPy implementation (written
    without tt_ref) passes every case; it refuses only range-edge cases, which is allowed."""
    results = run_adapter(cases, NumpyAdapter())
    bad = {r.name: r.outcome for r in results if not r.outcome.ok}
    assert not bad, bad
    refused = {r.name for r in results if r.outcome.status == "refused"}
    assert refused and all("range_edge" in name for name in refused)


@pytest.mark.parametrize("mistake", sorted(BROKEN))
def test_broken_implementations_are_caught(cases, mistake):
    """specs/conformance.md §Diagnostics: each deliberate mistake fails, and a failure message
    names it (Fortran order, an off-by-one rank cut, ties broken, sqrt(S) split, a dropped
    1/sqrt(d - 1))."""
    adapter, keyword = BROKEN[mistake]
    results = run_adapter([c for c in cases if not c.operation.startswith("ttm")], adapter())
    failed = [r for r in results if r.outcome.status == "fail"]
    assert failed, f"{mistake} passed every case"
    assert any(keyword in r.outcome.message for r in failed), [r.outcome.message for r in failed]


def test_not_implemented_is_never_passed(cases):
    """specs/conformance.md §Adapter protocol: a missing method, or one raising
    NotImplementedError, is reported "not implemented"; an exception on a case that is not a
    range edge is an error, not a refusal."""
    class Partial:
        def full(self, **kw):
            raise NotImplementedError("later")

        def knn(self, queries, base, k):
            raise ValueError("boom")

    results = run_adapter(cases, Partial())
    counts = summary(results)
    assert counts["pass"] == 0 and counts["not implemented"] == len(cases) - sum(c.operation == "knn" for c in cases)
    assert all(r.outcome.status == "error" and "boom" in r.outcome.message for r in results if r.operation == "knn")
    assert not counts["ok"]


def test_rules_measure_error_against_the_tolerance():
    """specs/conformance.md §Comparison rules: error <= tolerance passes, 2x the bound fails;
    a scalar may come back as shape () or (1,); missing outputs and NaN fail."""
    ref = np.array([1.0, -2.0, 3.0])
    case = ConformanceCase("x/y", "full", {}, {}, {"result": ref, "scale_result": np.abs(ref)},
                           {"c": 4.0, "K": 10, "unit": 2.0**-52}, "rounding", "elementwise")
    bound = tolerance("evaluate", K=10)
    assert compare(case, ref * (1 + 0.5 * bound)).status == "pass"
    outcome = compare(case, ref * (1 + 2 * bound))
    assert outcome.status == "fail" and math.isclose(outcome.error, 2 * bound, rel_tol=1e-6)
    assert compare(case, {"other": ref}).status == "fail"
    assert compare(case, np.array([np.nan, 0, 0])).status == "fail"
    scalar = ConformanceCase("s/t", "dot", {}, {}, {"result": np.asarray(2.0)}, {"c": 4.0, "K": 1, "unit": 1e-16},
                             "rounding", "elementwise")
    assert compare(scalar, np.array([2.0])).status == "pass"


def test_neighbors_rule_is_tie_aware():
    """specs/conformance.md §Distances: any id among tied distances passes; a missing strictly
    closer id, a wrong distance or a repeated id fails."""
    base = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 3.0], [0.0, 0.5]])
    queries = np.zeros((1, 2))
    case = ConformanceCase("knn/t", "knn", {"k": 2}, {"queries": queries, "base": base},
                           {"distances": np.array([[0.25, 1.0]]), "ids": np.array([[3, 0]])},
                           {"c": 4.0, "K": 4, "unit": 2.0**-52}, "ties", "neighbors")
    ok = {"distances": np.array([[0.25, 1.0]]), "ids": np.array([[3, 1]])}
    assert compare(case, ok).status == "pass"
    closer_missing = {"distances": np.array([[1.0, 1.0]]), "ids": np.array([[0, 1]])}
    assert compare(case, closer_missing).status == "fail"
    assert compare(case, {"distances": np.array([[0.25, 1.0]]), "ids": np.array([[3, 3]])}).status == "fail"
    assert compare(case, {"distances": np.array([[0.25, 1.0]]), "ids": np.array([[3, 2]])}).status == "fail"


# --------------------------------------------------------------------------- on disk and the CLI
def test_case_set_round_trip(case_set, cases):
    """specs/conformance.md §Case set: every case reads back identically (arrays, dtypes, shapes)."""
    back = {c.name: c for c in read_case_set(case_set)}
    assert list(back) == [c.name for c in cases]
    for case in cases:
        other = back[case.name]
        assert (other.operation, other.params, other.compare) == (case.operation, case.params, case.compare)
        for kind in ("inputs", "expected"):
            for key, value in getattr(case, kind).items():
                got = getattr(other, kind)[key]
                assert got.dtype == value.dtype and got.shape == value.shape and np.array_equal(got, value)
    manifest = json.loads((case_set / "manifest.json").read_text())
    assert manifest["format"] == "tt_ref.conformance" and manifest["version"] == 1
    assert json.loads((case_set / "tolerances.json").read_text()) == TOLERANCES


def test_manifest_catches_a_modified_file(tmp_path, cases, capsys):
    """specs/conformance.md §Case set: a file that no longer matches its sha256 is refused
    (one line on the command line, exit 2)."""
    write_case_set(tmp_path, [c for c in cases if c.name.startswith("dot/")])
    target = tmp_path / "cases" / "dot" / "basic" / "expected" / "result.npy"
    np.save(target, np.asarray(1.0))
    with pytest.raises(FileFormatError, match="sha256"):
        read_case_set(tmp_path)
    assert main(["conformance", "check", str(tmp_path), "--impl", "tt_ref.conformance:ReferenceAdapter"]) == 2
    assert "sha256" in capsys.readouterr().err


def test_cli_generate_check_and_json(tmp_path, capsys):
    """docs/guide-conformance.md: generate, check a Python adapter (exit 0), a broken one
    (exit 1, FAIL lines), --json, --select."""
    folder = tmp_path / "cases"
    assert main(["conformance", "generate", str(folder), "--select", "tt_svd/*", "--select", "full/*"]) == 0
    assert main(["conformance", "check", str(folder), "--impl", "conformance.numpy_adapter:NumpyAdapter"]) == 0
    out = capsys.readouterr().out
    assert "PASS    tt_svd/noisy_eps_1e-2" in out and " 0 failed" in out
    assert main(["conformance", "check", str(folder), "--impl", "conformance.broken_adapters:DroppedSqrtD",
                 "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["summary"]["fail"] >= 1 and not report["summary"]["ok"]
    row = next(r for r in report["cases"] if r["status"] == "fail")
    assert {"name", "operation", "status", "error", "tolerance", "message"} <= set(row)
    assert main(["conformance", "check", str(folder), "--impl", "no_such_module:Adapter"]) == 2
    assert "cannot import" in capsys.readouterr().err


def test_check_outputs_written_by_another_language(case_set, cases, tmp_path, capsys):
    """specs/conformance.md §Outputs layout: OUTDIR/<case>/<output>.npy, error.txt for a
    refusal, no folder for not implemented; the same verdicts as the in-process adapter."""
    adapter = NumpyAdapter()
    outdir = tmp_path / "out"
    for case in cases:
        if case.operation == "beam_search":
            continue  # left out: reported "not implemented"
        try:
            outputs = getattr(adapter, case.operation)(**case.inputs, **case.params)
        except ValueError as exc:
            (outdir / case.name).mkdir(parents=True, exist_ok=True)
            (outdir / case.name / "error.txt").write_text(str(exc))
            continue
        write_outputs(outdir, case.name, outputs)
    results = run_outputs(read_case_set(case_set), outdir)
    by_name = statuses(results)
    assert by_name["beam_search/basic"] == "not implemented"
    assert all(s in ("pass", "refused") for n, s in by_name.items() if n != "beam_search/basic"), by_name
    assert main(["conformance", "check", str(case_set), "--outputs", str(outdir)]) == 0
    assert "1 not implemented" in capsys.readouterr().out


# --------------------------------------------------------------------------- the property suite
def test_fuzz_suite_passes_a_correct_implementation_and_catches_a_wrong_one(capsys):
    """specs/conformance.md §Property suite: random shapes, ranks, dtypes and scales over the
    whole finite range; the foreign implementation passes (refusing only outside the normal
    window), an off-by-one rank cut fails."""
    cases = fuzz_cases(48, seed=11)
    assert {c.operation for c in cases} >= {"full", "tt_svd", "round", "dot", "norm", "knn"}
    assert {str(c.tolerance["unit"]) for c in cases} == {str(2.0**-52), str(2.0**-23)}
    results = run_adapter(cases, NumpyAdapter())
    assert summary(results)["ok"], [r for r in results if not r.outcome.ok]
    broken = run_adapter(cases, BROKEN["off_by_one"][0]())
    assert summary(broken)["fail"] >= 1
    assert main(["conformance", "fuzz", "--impl", "tt_ref.conformance:ReferenceAdapter", "--examples", "16"]) == 0
    assert "0 failed" in capsys.readouterr().out


def test_point_cloud_file_version_is_the_documented_one(tmp_path):
    """specs/point_cloud.md §Files: the file says version 2 (the spec once said 1), with n_cores in
    the JSON meta."""
    import zipfile

    from tt_ref import TTPointCloud

    path = tmp_path / "cloud.npz"
    TTPointCloud.random(3, (2, 2), (2,), seed=0).save(path)
    with zipfile.ZipFile(path) as archive:
        arrays = {name: np.load(archive.open(name)) for name in archive.namelist()}
    assert int(arrays["version.npy"]) == 2
    assert json.loads(str(arrays["meta.npy"]))["n_cores"] == 2
    assert "`version = 2`" in (pathlib.Path(__file__).parents[2] / "specs" / "point_cloud.md").read_text()
