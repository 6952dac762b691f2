"""The command line's error, output and Ctrl-C policy (specs/errors.md §Command line).

A user's mistake or an environment fault is one line ``tt-ref: error: ...`` and exit 2,
found before any computing; a bug keeps its traceback; Ctrl-C keeps the finished work,
marks it interrupted (table, report, JSON) and exits 130.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest

from tt_ref._backend import ArgumentValueError
from tt_ref.cli import main

_ENV = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _one_error_line(capsys, *needles):
    err = capsys.readouterr().err
    lines = [line for line in err.strip().splitlines() if not line.startswith("compress:")]
    assert len(lines) == 1 and lines[0].startswith("tt-ref: error: "), err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    assert "Traceback" not in err
    return lines[0]


def _npy_bytes(array) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def _make_data(path, kind):
    """The audit's bad data files."""
    if kind == "empty_npy":
        path.write_bytes(b"")
    elif kind == "empty_npz":
        path.write_bytes(b"")
    elif kind == "truncated_npz":
        np.savez(path, X=np.ones((200, 8)))
        path.write_bytes(path.read_bytes()[:1000])
    elif kind == "crafted_npz":  # 10^11 x 8 float64 declared in a few KB
        text = repr({"descr": "<f8", "fortran_order": False, "shape": (10**11, 8)}).encode()
        text += b" " * (63 - (10 + len(text)) % 64) + b"\n"
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("X.npy", b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text + b"\0" * 6000)
    elif kind == "zero_rows":
        np.save(path, np.ones((0, 8)))
    elif kind == "one_row":
        np.save(path, np.ones((1, 8)))
    elif kind == "foreign":
        path.write_text("this is not an array\n")
    elif kind == "pickled":
        np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)


_BAD_DATA = {
    "empty_npy": ("d.npy", "empty"),
    "empty_npz": ("d.npz", "empty"),
    "truncated_npz": ("d.npz", "damaged or truncated"),
    "crafted_npz": ("d.npz", "declares shape (100000000000, 8)"),
    "zero_rows": ("d.npy", "empty"),
    "one_row": ("d.npy", "at least 2"),
    "foreign": ("d.npy", "foreign"),
    "pickled": ("d.npy", "pickle"),
}


@pytest.mark.parametrize("kind", sorted(_BAD_DATA))
@pytest.mark.parametrize("command", ["compress", "ood"])
def test_bad_data_files_one_line(tmp_path, capsys, kind, command):
    """specs/errors.md §Command line: empty, truncated, crafted, 0-row, foreign, pickled data: one line, exit 2."""
    name, problem = _BAD_DATA[kind]
    path = tmp_path / name
    _make_data(path, kind)
    argv = [command, "--data", str(path), "--no-progress"]
    if command == "ood":
        if kind == "one_row":
            pytest.skip("a one-row file with labels is the protocol's check, covered by tests/ood")
        np.save(tmp_path / "y.npy", np.zeros(3, dtype=np.int64))
        argv += ["--labels", str(tmp_path / "y.npy")]
    assert main(argv) == 2
    _one_error_line(capsys, problem)


@pytest.mark.parametrize("labels, problem", [
    (np.array(["a", "b"] * 50), "labels must be integers"),
    (np.linspace(0, 3, 100), "non-integral values"),
])
def test_bad_labels_one_line(tmp_path, capsys, labels, problem):
    """specs/errors.md §Command line: string labels and float labels are refused, never truncated."""
    np.save(tmp_path / "x.npy", np.random.default_rng(0).normal(size=(100, 4)))
    np.save(tmp_path / "y.npy", labels)
    assert main(["ood", "--data", str(tmp_path / "x.npy"), "--labels", str(tmp_path / "y.npy"), "--no-progress"]) == 2
    _one_error_line(capsys, problem, "y.npy")


def _outputs(tmp_path, suffix):
    (tmp_path / "afile").write_text("x")
    (tmp_path / "adir.png").mkdir()
    return {
        "folder is a file": (str(tmp_path / "afile" / f"r{suffix}"), "is a file, so"),
        "a folder given as file": (str(tmp_path / "adir.png"), "is a folder"),
    }


@pytest.mark.parametrize("case", ["folder is a file", "a folder given as file"])
@pytest.mark.parametrize("option, command", [
    ("--json", ["compress", "--data", "digits"]),
    ("--plot", ["compress", "--data", "digits"]),
    ("--json", ["ood", "--data", "digits"]),
    ("--json", ["bench", "tt", "--quick"]),
    ("--json", ["bench", "ann", "--data", "digits", "--quick"]),
    ("--plot", ["bench", "ann", "--data", "digits", "--quick"]),
    ("--plot", ["bench", "tt", "--quick"]),
])
def test_output_destinations_checked_before_computing(tmp_path, capsys, case, option, command):
    """specs/errors.md §Command line: a wrong --json / --plot destination fails in well under a second,
    before any data is loaded or fitted."""
    path, problem = _outputs(tmp_path, ".png" if option == "--plot" else ".json")[case]
    started = time.perf_counter()
    assert main(command + [option, path]) == 2
    assert time.perf_counter() - started < 2.0
    _one_error_line(capsys, option, problem)


def test_demo_out_pointing_at_a_file(tmp_path, capsys):
    """specs/errors.md §Command line: ``demo --out FILE`` is refused before the demo runs."""
    (tmp_path / "afile").write_text("x")
    assert main(["demo", "--quick", "--out", str(tmp_path / "afile"), "--no-progress"]) == 2
    _one_error_line(capsys, "--out", "is a file")
    assert main(["demo", "--quick", "--out", str(tmp_path / "afile" / "sub"), "--no-progress"]) == 2
    _one_error_line(capsys, "--out", "is a file, so")


def test_only_input_errors_become_one_line(monkeypatch, capsys):
    """specs/errors.md §Command line: InputError and OSError are one line; any other exception is a bug
    and keeps its traceback."""
    import tt_ref.cli._bench_tt as bench

    def input_mistake(args):
        raise ArgumentValueError("--x must be positive, got -1")

    def file_fault(args):
        raise PermissionError(13, "Permission denied", "/root/x.json")

    def bug(args):
        raise TypeError("unsupported operand type(s) for +: 'int' and 'str'")

    monkeypatch.setattr(bench, "run", input_mistake)
    assert main(["bench", "tt"]) == 2
    _one_error_line(capsys, "--x must be positive")
    monkeypatch.setattr(bench, "run", file_fault)
    assert main(["bench", "tt"]) == 2
    _one_error_line(capsys, "Permission denied", "/root/x.json")
    monkeypatch.setattr(bench, "run", bug)
    with pytest.raises(TypeError, match="unsupported operand"):
        main(["bench", "tt"])


@pytest.mark.parametrize("argv, problem", [
    (["compress", "--methods", "tt", "kmeans"], "unrecognized arguments: kmeans"),
    (["compress", "--methods", "tt,nope"], "unknown 'nope'"),
    (["compress", "--mode-sizes", "4,x"], "comma-separated integers"),
    (["compress", "--mode-sizes", ","], "comma-separated list"),
    (["compress", "--ranks", "0"], "integers >= 1"),
    (["ood", "--compression", "10", "100"], "unrecognized arguments: 100"),
    (["ood", "--banks", "tt,nope"], "unknown 'nope'"),
])
def test_one_list_syntax(capsys, argv, problem):
    """specs/errors.md §Command line: every list option is comma-separated; a malformed one is argparse's
    usage error (exit 2)."""
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert problem in capsys.readouterr().err


def test_comma_lists_accepted(tmp_path, capsys):
    """specs/errors.md §Command line: ``--methods a,b``, ``--mode-sizes 4,4``, ``--compression 10,100``."""
    X = np.random.default_rng(0).normal(size=(200, 4))
    np.save(tmp_path / "x.npy", X)
    np.save(tmp_path / "y.npy", np.arange(200) % 2)
    assert main(["compress", "--data", str(tmp_path / "x.npy"), "--budget", "0.2", "--methods", "tt,random",
                 "--mode-sizes", "4,4", "--ranks", "2", "--steps", "2", "--no-progress", "--no-reference"]) == 0
    assert main(["ood", "--data", str(tmp_path / "x.npy"), "--labels", str(tmp_path / "y.npy"),
                 "--compression", "5,10", "--banks", "random,coreset", "--seeds", "1", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "5x" in out and "10x" in out


def _start(argv, tmp_path, command=("-m", "tt_ref")):
    return subprocess.Popen([sys.executable, *command] + argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=_ENV, cwd=tmp_path)


def _interrupt_when(proc, stream, marker, delay, timeout=120):
    """Send SIGINT ``delay`` seconds after ``marker`` appears on ``stream``; return (stdout, stderr)."""
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = stream.readline()
        seen.append(line)
        if marker in line or not line:
            break
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=timeout)
    streams = {"out": out, "err": err}
    streams["out" if stream is proc.stdout else "err"] = "".join(seen) + streams["out" if stream is proc.stdout else "err"]
    return streams["out"], streams["err"]


@pytest.mark.slow
def test_ctrl_c_during_compress_keeps_the_fit(tmp_path):
    """specs/errors.md §Ctrl-C: SIGINT during the TT fit of a real ``tt-ref compress`` process: the best
    cloud is evaluated, the other methods are not run, table and JSON say interrupted, exit 130."""
    proc = _start(["compress", "--data", "digits", "--methods", "tt,kmeans", "--steps", "100000", "--no-progress",
                   "--json", "r.json"], tmp_path)
    out, err = _interrupt_when(proc, proc.stderr, "fitting tt", 2.0)
    assert proc.returncode == 130, err
    assert "tt (interrupted)" in out and "INTERRUPTED" in out and "Traceback" not in err
    payload = json.loads((tmp_path / "r.json").read_text())
    assert payload["interrupted"] is True
    assert [r["method"] for r in payload["rows"]] == ["tt"] and payload["rows"][0]["interrupted"] is True
    assert payload["rows"][0]["coverage"] > 0 and payload["rows"][0]["n_params"] > 0  # the best cloud, measured


@pytest.mark.slow
def test_ctrl_c_during_demo_is_not_swallowed(tmp_path):
    """specs/errors.md §Ctrl-C: SIGINT during a real ``tt-ref demo``: it stops (no later section runs), the
    printed tables, report.md and results.json say interrupted, exit 130."""
    proc = _start(["demo", "--out", "rep", "--no-progress"], tmp_path)
    out, err = _interrupt_when(proc, proc.stdout, "tt-ref demo:", 1.5)
    assert proc.returncode == 130, err
    assert "INTERRUPTED" in out and "[3/3]" not in out and "Traceback" not in err
    results = json.loads((tmp_path / "rep" / "results.json").read_text())
    assert results["interrupted"] is True and "ood" not in results
    assert "INTERRUPTED" in (tmp_path / "rep" / "report.md").read_text()


@pytest.mark.slow
def test_ctrl_c_during_bench_ann_keeps_the_finished_rows(tmp_path):
    """specs/errors.md §Ctrl-C: SIGINT during the TT fit of a real ``tt-ref bench ann``: the half-trained
    index is not measured, the exact search's row is kept; table and JSON say interrupted, exit 130."""
    proc = _start(["bench", "ann", "--data", "digits", "--steps", "100000", "--methods", "exact,tt",
                   "--json", "r.json"], tmp_path)
    out, err = _interrupt_when(proc, proc.stdout, "tt-ref bench ann:", 2.0)  # the fit runs for minutes
    assert proc.returncode == 130, err
    assert "INTERRUPTED" in out and "Traceback" not in err
    payload = json.loads((tmp_path / "r.json").read_text())
    assert payload["interrupted"] is True and payload["indexes"] == []
    assert [r["method"] for r in payload["rows"]] == ["exact (numpy GEMM)"]


@pytest.mark.slow
def test_ctrl_c_during_index_build_saves_nothing(tmp_path):
    """specs/errors.md §Ctrl-C: SIGINT during the fit of a real ``tt-ref index build``: the half-trained
    index is not saved; the one-line message, exit 130."""
    proc = _start(["index", "build", "--data", "digits", "--steps", "100000", "--out", "idx.npz"], tmp_path)
    out, err = _interrupt_when(proc, proc.stderr, "data: digits", 2.0)
    assert proc.returncode == 130, err
    assert "tt-ref: interrupted (Ctrl-C)" in err and "Traceback" not in err
    assert not (tmp_path / "idx.npz").exists()


@pytest.mark.slow
def test_ctrl_c_during_bench_ttm_keeps_the_finished_rows(tmp_path):
    """specs/errors.md §Ctrl-C: SIGINT while a real ``tt-ref bench ttm`` measures its second rank: the
    first row is printed and written (JSON, Markdown) marked interrupted, no cost check runs, exit 130."""
    proc = _start(["bench", "ttm", "--batches", "512", "--ranks", "8,16,32,64", "--json", "r.json",
                   "--markdown", "t.md"], tmp_path)
    out, err = _interrupt_when(proc, proc.stderr, "rank 16:", 0.0)  # logged once the rank-8 row is kept
    assert proc.returncode == 130, err
    assert "INTERRUPTED" in out and "Traceback" not in err and "cost-model check" not in err
    payload = json.loads((tmp_path / "r.json").read_text())
    assert payload["interrupted"] is True and payload["rows"][0]["rank"] == 8 and payload["cost_check"] == []
    assert "INTERRUPTED" in (tmp_path / "t.md").read_text()


@pytest.mark.slow
def test_ctrl_c_during_bench_fit_keeps_the_fit(tmp_path):
    """specs/errors.md §Ctrl-C: SIGINT during the second variant's fit of a real ``tt-ref bench fit``: the
    first row, and the second measured on its best cloud and marked ``(interrupted)``; no later variant or
    set runs; table and JSON say interrupted, exit 130."""
    proc = _start(["bench", "fit", "--data", "digits,cancer", "--variants", "sw,nn,mixed", "--budget", "0.05",
                   "--max-rows", "600", "--steps", "300", "--json", "r.json"], tmp_path)
    out, err = _interrupt_when(proc, proc.stderr, "digits: nn ...", 0.8)  # each fit takes seconds
    assert proc.returncode == 130, err
    assert "| nn (interrupted) |" in out and "INTERRUPTED" in out and "Traceback" not in err
    payload = json.loads((tmp_path / "r.json").read_text())
    assert payload["interrupted"] is True and [r["data"] for r in payload["results"]] == ["digits"]
    rows = payload["results"][0]["rows"]
    assert [(r["variant"], r["interrupted"]) for r in rows] == [("sw", False), ("nn", True)]
    assert rows[1]["coverage"] > 0  # the best cloud, measured


@pytest.mark.slow
def test_ctrl_c_during_bench_dask_keeps_the_finished_rows(tmp_path):
    """specs/errors.md §Ctrl-C: SIGINT while a real ``tt-ref bench dask`` measures its second layout: the
    first row is printed and written marked interrupted, the local cluster is closed, exit 130."""
    pytest.importorskip("distributed", reason="bench dask needs the dask extra")
    proc = _start(["bench", "dask", "--scheduler", "local:1", "--data", "random", "--rows", "3000", "--dim", "8",
                   "--queries", "100", "--steps", "5", "--train-size", "1500", "--n-shards", "3", "--batch", "50",
                   "--block-rows", "1000", "--repeat", "1", "--beam", "8", "--n-candidates", "100",
                   "--layout", "buckets,rows", "--n-probe", "4", "--json", "r.json"], tmp_path)
    out, err = _interrupt_when(proc, proc.stderr, "layout rows ...", 0.0)  # logged once the first row is kept
    assert proc.returncode == 130, err
    assert "INTERRUPTED" in out and "Traceback" not in err
    payload = json.loads((tmp_path / "r.json").read_text())
    assert payload["interrupted"] is True and [r["layout"] for r in payload["rows"]] == ["buckets"]
    assert payload["rows"][0]["identical_ids"] == 1.0


# An adapter that is tt_ref itself, slowed down and numbering its calls on standard error, so a
# test knows how many cases are finished when it presses Ctrl-C.
_SLOW_ADAPTER = """
import sys, time
from tt_ref.conformance import ReferenceAdapter

CALLS = []

class Slow:
    def __getattr__(self, name):
        method = getattr(ReferenceAdapter(), name)

        def call(**kwargs):
            CALLS.append(name)
            print(f"call {len(CALLS)}", file=sys.stderr, flush=True)
            time.sleep(0.2)
            return method(**kwargs)
        return call
"""

# ``tt-ref conformance generate`` writes about 90 cases in well under a second: slowed down per case.
_SLOW_GENERATE = """
import sys, time
import tt_ref.conformance._store as store
from tt_ref.cli import main

real, calls = store._write_case, []

def slow(folder, case):
    calls.append(case.name)
    print(f"writing {len(calls)}", file=sys.stderr, flush=True)
    time.sleep(0.2)
    return real(folder, case)

store._write_case = slow
sys.exit(main(["conformance", "generate", "cases"]))
"""


@pytest.mark.slow
@pytest.mark.parametrize("action", ["generate", "check", "fuzz"])
def test_ctrl_c_during_conformance_keeps_the_finished_cases(tmp_path, action):
    """specs/errors.md §Ctrl-C: SIGINT during a real ``tt-ref conformance`` run, in its third case: check
    reports the two finished cases under an INTERRUPTED line; fuzz's --json report has them and
    ``"interrupted": true``; generate leaves a readable set of two cases, its manifest marked; exit 130."""
    from tt_ref.conformance import all_cases, read_case_set, select, write_case_set

    (tmp_path / "slow_adapter.py").write_text(_SLOW_ADAPTER)
    (tmp_path / "slow_generate.py").write_text(_SLOW_GENERATE)
    if action == "generate":
        proc = _start([], tmp_path, command=("slow_generate.py",))
    elif action == "check":
        write_case_set(tmp_path / "cases", select(all_cases(), ["tt_svd/*", "full/*"]))
        proc = _start(["conformance", "check", "cases", "--impl", "slow_adapter:Slow"], tmp_path)
    else:
        proc = _start(["conformance", "fuzz", "--impl", "slow_adapter:Slow", "--examples", "16", "--json"], tmp_path)
    out, err = _interrupt_when(proc, proc.stderr, "writing 3" if action == "generate" else "call 3", 0.0)
    assert proc.returncode == 130, err
    assert "INTERRUPTED" in (err if action == "fuzz" else out) and "Traceback" not in err
    if action == "generate":
        manifest = json.loads((tmp_path / "cases" / "manifest.json").read_text())
        assert manifest["interrupted"] is True and "wrote 2 of" in out
        assert [c.name for c in read_case_set(tmp_path / "cases")] == manifest["cases"] and len(manifest["cases"]) == 2
    elif action == "check":
        assert "2 passed, 0 failed, 0 errors, 0 refused (allowed), 0 not implemented, of 2 cases" in out
    else:
        report = json.loads(out)
        assert report["interrupted"] is True and [c["status"] for c in report["cases"]] == ["pass", "pass"]


def test_no_progress_bar_without_terminal_and_no_pyplot(tmp_path):
    """specs/errors.md §Command line: no tqdm redraws into a file; plots never import pyplot (the library
    never switches matplotlib's backend)."""
    pytest.importorskip("matplotlib")
    code = (
        "import sys, matplotlib\n"
        "raw = lambda: dict.__getitem__(matplotlib.rcParams, 'backend')  # get_backend() would import pyplot\n"
        "backend = raw()\n"
        "from tt_ref.cli import main\n"
        "code = main(['bench', 'tt', '--quick', '--plot', 'p.png'])\n"
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported'\n"
        "assert raw() == backend\n"
        "X = __import__('numpy').random.default_rng(0).normal(size=(300, 4))\n"
        "__import__('numpy').save('x.npy', X)\n"
        "code += main(['compress', '--data', 'x.npy', '--methods', 'tt', '--steps', '30', '--budget', '0.2'])\n"
        "assert 'matplotlib.pyplot' not in sys.modules\n"
        "sys.exit(code)\n"
    )
    with open(tmp_path / "err.txt", "w") as err:
        proc = subprocess.run([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=err, text=True, env=_ENV,
                              cwd=tmp_path, timeout=300)
    logged = (tmp_path / "err.txt").read_text()
    assert proc.returncode == 0, logged
    assert "\r" not in logged and "it/s" not in logged and "step/s" not in logged
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"
