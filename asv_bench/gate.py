"""Quality gate: run a fast subset of the asv benchmarks on a base commit and on HEAD, compare.

Usage, from the repository root::

    python asv_bench/gate.py                  # base: merge base with main, or HEAD~1 on main
    python asv_bench/gate.py --base v0.1.0    # any revision
    python asv_bench/gate.py --base stored    # HEAD against the newest stored history (also
                                              # what happens where there is no base commit)
    python asv_bench/gate.py compare main HEAD --machine local  # results asv already has
    python asv_bench/gate.py compare BASE_DIR HEAD_DIR           # two asv results folders

Both sides run today's benchmark suite (``asv run --python=same``, one BLAS thread) in
this environment: HEAD with the working tree's ``tt_ref``, the base with the base
commit's ``tt_ref`` extracted by ``git archive`` (put first on ``sys.path`` through
``ASV_PYTHONPATH``). Then:

* every ``track_`` figure is compared in its declared direction ("higher" or "lower"
  is better, ``benchmarks/_common.figure``): worse than the base by more than
  ``max(tolerance, rtol * |base|)`` fails, and so does a figure that the base computed
  and HEAD no longer does;
* timings (``time_``, ``peakmem_``) that changed by more than ``--factor`` (1.5) are
  printed and never fail: shared machines are too noisy for a timing gate; a benchmark
  that ran on the base and fails on HEAD fails the gate (both sides run the same suite).

Exit status 1 when a figure got worse, 0 otherwise.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MACHINE = "gate"

# The fast subset: every tracked figure, and the hot paths timed on NumPy. asv matches a
# parameterized benchmark as "name(param, ...)" (parameters as their repr).
NUMPY = r"\(.*'numpy'\)$"
FAST_SUBSET = [
    r"^quality\.",
    r"^backend\.Threads\.",
    r"^ttm_layer\.\w+\.track_",
    r"^tt_decompositions\.TTSVD\.time_tt_svd" + NUMPY,
    r"^tt_decompositions\.TTRound\.time_round" + NUMPY,
    r"^point_cloud\.Fit\.time_fit_20_steps\('glove-1%', 'numpy'\)$",
    r"^baselines\.ExactSearch\.time_nearest_neighbors\(\(20000, 50\), 'numpy'\)$",
    r"^index\.Search\.time_search\(20000, 4000, 'lists', 'numpy'\)$",
]
ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _git(*args) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, check=True, capture_output=True, text=True).stdout.strip()


def _resolve(rev: str) -> str | None:
    try:
        return _git("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    except subprocess.CalledProcessError:
        return None


def default_base(head: str) -> tuple[str | None, str]:
    """The merge base with main; on main itself (merge base = HEAD), HEAD's parent."""
    for ref in ("origin/main", "main"):
        main = _resolve(ref)
        if main is None:
            continue
        try:
            merge_base = _git("merge-base", main, head)
        except subprocess.CalledProcessError:  # unrelated histories
            continue
        if merge_base != head:
            return merge_base, f"merge base of HEAD and {ref}"
    parent = _resolve(f"{head}~1")
    return parent, "HEAD's parent (HEAD is on main)"


def _asv_config(workdir: str, results_dir: str) -> str:
    """A copy of asv.conf.json with absolute paths and its own results folder."""
    from asv import util

    conf = util.load_json(os.path.join(HERE, "asv.conf.json"), js_comments=True)
    conf.update({"repo": ROOT, "benchmark_dir": os.path.join(HERE, "benchmarks"), "results_dir": results_dir,
                 "html_dir": os.path.join(workdir, "html"), "env_dir": os.path.join(workdir, "env")})
    path = os.path.join(workdir, f"asv-{os.path.basename(results_dir)}.conf.json")
    with open(path, "w") as f:
        json.dump(conf, f, indent=1)
    return path


def run_side(label: str, commit: str, tree: str, workdir: str, benchmarks: list[str], quick: bool) -> str:
    """``asv run --python=same`` of the benchmarks with ``tree``'s tt_ref; returns the results folder."""
    results = os.path.join(workdir, f"{label}-results")
    config = _asv_config(workdir, results)
    env = dict(os.environ, **ONE_THREAD, ASV_PYTHONPATH=tree)
    subprocess.run([sys.executable, "-m", "asv", "machine", "--config", config, "--machine", MACHINE, "--yes"],
                   check=True, env=env, stdout=subprocess.DEVNULL)
    command = [sys.executable, "-m", "asv", "run", "--config", config, "--python=same", "--machine", MACHINE,
               "--set-commit-hash", commit, "--show-stderr"]
    if quick:  # three samples each (asv keeps their median), no warm-up, one round
        command += ["-a", "repeat=3", "-a", "warmup_time=0", "-a", "rounds=1"]
    for pattern in benchmarks:
        command += ["--bench", pattern]
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    print(f"{label}: {commit[:8]} ({tree}) ran in {time.perf_counter() - start:.0f} s")
    if done.returncode not in (0, 2):  # 2: some benchmarks failed (compared below), the rest saved
        print(done.stdout[-4000:], done.stderr[-4000:], sep="\n")
        raise SystemExit(f"asv run failed on the {label} side")
    if done.returncode == 2:
        failed = [line.strip() for line in done.stdout.splitlines() if line.rstrip().endswith("failed")]
        print(f"{label}: benchmarks that failed: {', '.join(failed) or 'see asv output'}")
        if label == "HEAD":
            print(done.stdout[-6000:])
    TIMED_OUT.update(timed_out(done.stdout))
    return results


TIMED_OUT: set[str] = set()


def timed_out(asv_output: str) -> set[str]:
    """Names of the benchmarks that asv reports as timed out (asv keeps no error codes in its files)."""
    names, current, setup_timed_out = set(), None, False
    for line in asv_output.splitlines():
        if "··· Setting up " in line:
            current, setup_timed_out = None, False
        # asv's code for a timeout is -256; a shared set-up that timed out skips its benchmarks
        setup_timed_out |= "setup_cache failed (exit status -256)" in line
        match = re.search(r"··· (?:Running \()?([A-Za-z_][\w.]*\.\w+)", line)
        if match and "skipped (setup_cache failed)" in line:
            if setup_timed_out:
                names.add(match.group(1))
        elif match:
            current = match.group(1)
        if "benchmark timed out" in line and current:
            names.add(current)
    return names


# --------------------------------------------------------------------------- reading results
def load_results(where: str, machine: str | None = None) -> dict[tuple[str, tuple], float]:
    """{(benchmark name, parameter values): value} of an asv results folder, or of a revision.

    ``where`` is a folder (every result file under it), or a revision whose results are
    looked up in ``asv_bench/results`` (of ``machine`` when given).
    """
    from asv.results import iter_results

    commit = None
    if not os.path.isdir(where):
        commit = _resolve(where)
        if commit is None and re.fullmatch(r"[0-9a-f]{40}", where):
            commit = where  # a stored result's commit, absent from a shallow clone
        if commit is None:
            raise SystemExit(f"gate: error: {where!r} is neither a results folder nor a revision")
        where = os.path.join(HERE, "results", machine) if machine else os.path.join(HERE, "results")
    values = {}
    for result in iter_results(where):
        if commit is not None and result.commit_hash != commit:
            continue
        for key in result.get_all_result_keys():
            params = result.get_result_params(key)
            for combo, value in zip(_combinations(params), result.get_result_value(key, params)):
                values[(key, combo)] = value
    if commit is not None and not values:
        raise SystemExit(f"gate: error: no results for {commit[:8]} under {where}")
    return values


def _combinations(params) -> list[tuple]:
    combos = [()]
    for values in params:
        combos = [c + (v,) for c in combos for v in values]
    return combos


def declared(name: str):
    """The ``figure`` attributes of benchmark ``module.Class.track_x`` (None if not declared)."""
    if HERE not in sys.path:
        sys.path.insert(0, HERE)
    module_name, *attrs = name.split(".")
    try:
        obj = importlib.import_module(f"benchmarks.{module_name}")
        for attr in attrs:
            obj = getattr(obj, attr)
    except (ImportError, AttributeError):
        return None
    if not hasattr(obj, "better"):
        return None
    return {"unit": obj.unit, "better": obj.better, "tolerance": obj.tolerance, "rtol": obj.rtol}


def _label(name, combo):
    return f"{name}({', '.join(map(str, combo))})" if combo else name


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not math.isnan(value)


def _format(value, unit=None) -> str:
    if not _is_number(value):
        return "n/a"
    if unit:
        from asv.util import human_value

        return human_value(value, unit)
    return f"{value:.6g}"


def figure_verdict(b, h, spec) -> str:
    """"ok", "better", "new", or "FAILED: ..." for a tracked figure going from ``b`` to ``h``."""
    if _is_number(b) and not _is_number(h):
        return "FAILED: no longer computed"
    if not _is_number(b):
        return "new" if _is_number(h) else "ok"
    worse_by = (b - h) if spec["better"] == "higher" else (h - b)
    allowed = max(spec["tolerance"], spec["rtol"] * abs(b))
    if worse_by > allowed:
        return f"FAILED: worse by {worse_by:.3g} (tolerance {allowed:.3g})"
    return "better" if worse_by < -allowed else "ok"


def _timing_change(label, kind, b, h, factor) -> str | None:
    """A line for a timing or memory figure that changed by more than ``factor``, else None."""
    ratio = h / b
    if 1.0 / factor <= ratio <= factor:
        return None
    words = {"time": ("slower", "faster"), "peakmem": ("more memory", "less memory")}.get(kind, ("higher", "lower"))
    unit = "bytes" if kind == "peakmem" else "seconds"
    return (f"{label:<72} {_format(b, unit):>9} -> {_format(h, unit):>9}  "
            f"{max(ratio, 1 / ratio):.2f}x {words[ratio < 1.0]}")


def compare(base: dict, head: dict, factor: float = 1.5) -> tuple[list[str], list[str], list[str], int]:
    """(table rows of the tracked figures, failures, timing changes beyond ``factor``, timings compared)."""
    rows, failures, timings = [], [], []
    n_timings = 0
    # HEAD's keys: what HEAD ran (a failed benchmark is there, with no value); a base may hold more.
    for key in sorted(head, key=lambda k: (k[0], repr(k[1]))):
        name, combo = key
        label = _label(name, combo)
        b, h = base.get(key), head.get(key)
        kind = name.rsplit(".", 1)[-1].split("_", 1)[0]
        if _is_number(b) and not _is_number(h) and name in TIMED_OUT:
            # A loaded machine, or a slower HEAD: timings are printed, never failed.
            timings.append(f"{label:<72} {_format(b):>9} -> timed out on HEAD (not compared)")
        elif kind == "track":
            spec = declared(name) or {"unit": "", "better": "lower", "tolerance": 0.0, "rtol": 0.0}
            verdict = figure_verdict(b, h, spec)
            rows.append(f"{label:<62} {spec['unit']:<34} {spec['better']:<6} {_format(b):>12} {_format(h):>12}  "
                        f"{verdict}")
            if verdict.startswith("FAILED"):
                failures.append(f"{label}: {_format(b)} -> {_format(h)} {spec['unit']} "
                                f"({spec['better']} is better); {verdict}")
        elif _is_number(b) and not _is_number(h):
            failures.append(f"{label}: ran on the base, fails on HEAD")
        elif _is_number(b) and _is_number(h) and b > 0 and h > 0:
            n_timings += 1
            line = _timing_change(label, kind, b, h, factor)
            if line:
                timings.append(line)
    return rows, failures, timings, n_timings


def report(base: str, head: str, factor: float, machine: str | None = None) -> int:
    rows, failures, timings, n_timings = compare(load_results(base, machine), load_results(head, machine), factor)
    print("\nTracked figures (base -> HEAD; a figure worse beyond its tolerance fails):")
    print(f"{'figure':<62} {'unit':<34} {'better':<6} {'base':>12} {'HEAD':>12}  verdict")
    print("\n".join(rows) if rows else "(none)")
    print(f"\nTimings changed by more than {factor}x, of {n_timings} compared (printed only: shared machines "
          "are noisy):")
    print("\n".join(timings) if timings else "(none)")
    if failures:
        print("\nQUALITY GATE FAILED:\n  " + "\n  ".join(failures))
        return 1
    print(f"\nQuality gate passed: {len(rows)} figures, none worse beyond its tolerance.")
    return 0


# --------------------------------------------------------------------------- main
def _run(args) -> int:
    start = time.perf_counter()
    head = _resolve("HEAD")
    if args.base == "stored":
        return _run_against_stored(head, args)
    if args.base:
        base, why = _resolve(args.base), f"--base {args.base}"
        if base is None:
            raise SystemExit(f"gate: error: --base {args.base!r} is not a commit")
    else:
        base, why = default_base(head)
    if base is None and args.base_tree is None:
        return _run_against_stored(head, args)
    print(f"gate: base {base[:8] if base else '(tree)'} ({why}), HEAD {head[:8]}; benchmarks: {' | '.join(args.bench)}")
    with tempfile.TemporaryDirectory(prefix="tt-ref-gate-") as workdir:
        base_tree = args.base_tree
        if base_tree is None:
            base_tree = os.path.join(workdir, "base-tree")
            os.makedirs(base_tree)
            archive = subprocess.run(["git", "archive", base], cwd=ROOT, check=True, capture_output=True).stdout
            subprocess.run(["tar", "-x", "-C", base_tree], input=archive, check=True)
        head_tree = args.head_tree or ROOT
        base_results = run_side("base", base or head, os.path.abspath(base_tree), workdir, args.bench, args.quick)
        head_results = run_side("HEAD", head, os.path.abspath(head_tree), workdir, args.bench, args.quick)
        status = report(base_results, head_results, args.factor)
    print(f"gate: {time.perf_counter() - start:.0f} s in all")
    return status


def newest_stored(machine: str = "ref-2core") -> str | None:
    """The newest results file of the reference machine's history (by commit date)."""
    from asv.results import iter_results_for_machine

    folder = os.path.join(HERE, "results")
    if not os.path.isdir(os.path.join(folder, machine)):
        return None
    newest = max(iter_results_for_machine(folder, machine), key=lambda r: r.date or 0, default=None)
    return None if newest is None else newest.commit_hash


def _run_against_stored(head: str, args) -> int:
    """No base commit here (a shallow or single-commit clone): compare with the stored history."""
    stored = newest_stored()
    if stored is None:
        print("gate: no base commit and no stored results: nothing to compare")
        return 0
    print(f"gate: no base commit here; base: the stored results of {stored[:8]} (ref-2core), HEAD {head[:8]}")
    with tempfile.TemporaryDirectory(prefix="tt-ref-gate-") as workdir:
        head_results = run_side("HEAD", head, os.path.abspath(args.head_tree or ROOT), workdir, args.bench,
                                args.quick)
        return report(stored, head_results, args.factor, "ref-2core")


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["compare"]:
        parser = argparse.ArgumentParser(prog="gate.py compare", description="Compare two sets of asv results, "
                                         "each a results folder or a revision with results in asv_bench/results.")
        parser.add_argument("base")
        parser.add_argument("head")
        parser.add_argument("--machine", help="the machine whose results to read for a revision")
        parser.add_argument("--factor", type=float, default=1.5)
        args = parser.parse_args(argv[1:])
        return report(args.base, args.head, args.factor, args.machine)
    parser = argparse.ArgumentParser(prog="gate.py", description=__doc__.splitlines()[0])
    parser.add_argument("--base", help="base revision (default: merge base with main, or HEAD~1 on main), "
                        "or 'stored': the newest results kept in asv_bench/results/ref-2core")
    parser.add_argument("--bench", action="append", help="asv --bench regular expression (repeatable; "
                        "default: the fast subset)")
    parser.add_argument("--factor", type=float, default=1.5, help="timing ratio worth printing (default 1.5)")
    parser.add_argument("--no-quick", dest="quick", action="store_false",
                        help="time with asv's own repeats (default: three samples each)")
    parser.add_argument("--base-tree", help="a folder holding the base's tt_ref (instead of the base commit)")
    parser.add_argument("--head-tree", help="a folder holding HEAD's tt_ref (default: the working tree)")
    args = parser.parse_args(argv)
    args.bench = args.bench or FAST_SUBSET
    return _run(args)


if __name__ == "__main__":
    sys.exit(main())
