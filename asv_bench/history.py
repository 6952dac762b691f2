"""Record the history: the main benchmarks of recent commits on the reference machine.

Usage, from the repository root, on the reference machine (see asv_bench/README.md)::

    python asv_bench/history.py                 # the last 8 commits of HEAD (first parents)
    python asv_bench/history.py --commits 30    # more
    python asv_bench/history.py REV [REV ...]   # given commits

Runs ``asv run`` in asv's own environments (virtualenv with the light requirements,
one BLAS thread: asv.conf.json) on each commit that has no results yet, with the gate's
subset of benchmarks plus the index's add; the results go to
``asv_bench/results/<machine>/``, which the repository keeps. Then ``asv publish``
renders the static site (``asv_bench/html/``, not kept: ``asv preview`` serves it) and
``plot_history.py`` draws the figures of docs/performance-history.md.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

from gate import FAST_SUBSET  # noqa: E402

REFERENCE_MACHINE = "ref-2core"
HISTORY_SUBSET = FAST_SUBSET + [r"^index\.Add\.time_add\(20000, 'beam', 'numpy'\)$"]
# What `asv machine` records for the reference machine (the development and CI kind).
REFERENCE_INFO = {"os": "Linux", "arch": "x86_64", "cpu": "AMD EPYC (2 cores, shared virtual machine)",
                  "num_cpu": "2", "ram": "24GB"}


def _git(*args) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, check=True, capture_output=True, text=True).stdout.strip()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("revs", nargs="*", help="commits to run (default: the last --commits of HEAD)")
    parser.add_argument("--commits", type=int, default=8)
    parser.add_argument("--machine", default=REFERENCE_MACHINE)
    parser.add_argument("--no-publish", dest="publish", action="store_false", help="skip asv publish and the plots")
    args = parser.parse_args(argv)
    revs = args.revs or _git("rev-list", "--first-parent", f"--max-count={args.commits}", "HEAD").split()
    hashes = [_git("rev-parse", rev) for rev in revs]
    asv = [sys.executable, "-m", "asv"]
    info = [f"--{key}={value}" for key, value in REFERENCE_INFO.items()] if args.machine == REFERENCE_MACHINE else []
    subprocess.run(asv + ["machine", "--machine", args.machine, "--yes", *info], cwd=HERE, check=True,
                   stdout=subprocess.DEVNULL)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write("\n".join(hashes) + "\n")
    command = asv + ["run", "--machine", args.machine, "--skip-existing-commits", "--show-stderr", f"HASHFILE:{f.name}",
                     # five samples a timing, one round, no warm-up: minutes per commit, not tens
                     "-a", "repeat=5", "-a", "rounds=1", "-a", "warmup_time=0"]
    for pattern in HISTORY_SUBSET:
        command += ["--bench", pattern]
    start = time.perf_counter()
    try:
        subprocess.run(command, cwd=HERE, check=False)
    finally:
        os.unlink(f.name)
    print(f"history: {len(hashes)} commits in {time.perf_counter() - start:.0f} s")
    if args.publish:
        subprocess.run(asv + ["publish"], cwd=HERE, check=True)
        subprocess.run([sys.executable, os.path.join(HERE, "plot_history.py"), "--machine", args.machine], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
