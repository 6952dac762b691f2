#!/usr/bin/env bash
# The GPU run, prepared beforehand and proven on the CPU backends (docs/performance-gpu.md).
# From the repository root:
#
#   bash asv_bench/gpu_session.sh prepare [--synthetic]     # with network access: fills .gpu/
#   bash asv_bench/gpu_session.sh run OUTDIR                # on the GPU machine, under ten minutes
#   bash asv_bench/gpu_session.sh run OUTDIR --cpu-check    # the same on numpy + array_api_strict, small
#
# prepare: wheels of the pure-Python dependencies a GPU image may lack (pip download for
#   Python 3.12, no dependencies, binary only) in .gpu/wheels/, and a float16 copy of
#   GloVe-50 (40 MB; needs the [bench] extra) in .gpu/glove50_f16.npy. --synthetic writes
#   a small clustered float16 set (.gpu/synthetic50_f16.npy) instead of GloVe. .gpu/ is
#   git-ignored; carry it to the GPU machine with the working tree.
# run: 1. the whole test suite with TT_REF_BACKENDS=cupy (-q, OUTDIR/junit.xml, the log, and
#   the summary line in OUTDIR/pytest-summary.txt), stopped cleanly (SIGINT) after
#   TEST_SECONDS (330); 2. asv_bench/gpu_report.py: tt_svd, round, fit steps/s, brute-force
#   search and the TT index on GloVe-50 with 10,000 batched queries, and profiles, beside
#   docs/data/gpu-baseline-numpy-2core.json (OUTDIR/gpu.json, OUTDIR/summary.md), stopped
#   after REPORT_SECONDS (210). --cpu-check runs both steps with array_api_strict in the
#   GPU's place (the tests that compare backends and count host reads; the report at small
#   sizes; both limits 900 s) and then checks that every output is there: CI runs it.
set -uo pipefail
cd "$(dirname "$0")/.."
gpu=.gpu

prepare() {
    local synthetic=0
    [ "${1:-}" = "--synthetic" ] && synthetic=1
    export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
    mkdir -p "$gpu/wheels"
    python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
        --dest "$gpu/wheels" "array-api-compat>=1.11" "array-api-strict>=2.2" || return 1
    python3 - "$gpu" "$synthetic" <<'EOF' || return 1
import os, sys
import numpy as np
folder, synthetic = sys.argv[1], sys.argv[2] == "1"
if synthetic:
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((64, 50))
    X = centres[rng.integers(0, 64, 20_000)] + 0.5 * rng.standard_normal((20_000, 50))
    path = os.path.join(folder, "synthetic50_f16.npy")
else:
    import tt_ref
    X = tt_ref.load_dataset("glove50").X
    path = os.path.join(folder, "glove50_f16.npy")
np.save(path, np.ascontiguousarray(X, dtype=np.float16))
size = os.path.getsize(path)
assert size < 64 * 2**20, f"{path} is {size} bytes, over 64 MiB"
print(f"prepare: {path} {X.shape} float16, {size / 2**20:.1f} MiB")
EOF
    ls -1 "$gpu/wheels"
}

use_wheels() {
    # The prepared wheels go first on the path, in a private folder (nothing is installed).
    if compgen -G "$gpu/wheels/*.whl" >/dev/null; then
        local site
        site=$(mktemp -d)
        python3 -m pip install --quiet --no-index --no-deps --no-compile --target "$site" "$gpu"/wheels/*.whl || return 1
        export PYTHONPATH="$site:$PWD${PYTHONPATH:+:$PYTHONPATH}"
    else
        export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
    fi
}

check_outputs() {
    # The CPU check proves the run end to end: every output is there and says what it should.
    local out=$1 ok=0
    for file in junit.xml pytest.log pytest-summary.txt gpu.json summary.md; do
        [ -s "$out/$file" ] || { echo "missing or empty: $out/$file"; ok=1; }
    done
    grep -Eq "[0-9]+ passed" "$out/pytest-summary.txt" 2>/dev/null || { echo "no pytest summary line"; ok=1; }
    python3 - "$out/gpu.json" <<'EOF' || ok=1
import json, sys
rows = json.load(open(sys.argv[1]))["rows"]
kinds = {"tt_svd": 0, "fit": 0, "exact search": 0, "TTIndex": 0, "profile": 0}
for row in rows:
    for kind in kinds:
        kinds[kind] += row["case"].startswith(kind)
missing = [kind for kind, n in kinds.items() if n == 0]
print("gpu.json rows:", kinds)
sys.exit(f"gpu.json has no {missing} rows" if missing else 0)
EOF
    return $ok
}

run() {
    local out=${1:?usage: gpu_session.sh run OUTDIR [--cpu-check]} mode=${2:-gpu}
    mkdir -p "$out"
    export MPLBACKEND=Agg PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
    use_wheels || return 1
    local start=$SECONDS backends tests data report_options test_limit report_limit
    if [ "$mode" = "--cpu-check" ]; then
        # No ten-minute window to fit here, and a loaded 2-core machine can be slow.
        test_limit=${TEST_SECONDS:-900} report_limit=${REPORT_SECONDS:-900}
        backends=numpy,array_api_strict
        tests=(tests/backend/test_backends_agree.py tests/backend/test_sync_points.py)
        data=$gpu/synthetic50_f16.npy
        [ -f "$data" ] || prepare --synthetic >/dev/null || return 1
        report_options=(--quick --n-queries 500 --mode-sizes 16 32 --ranks 16)
    else
        test_limit=${TEST_SECONDS:-330} report_limit=${REPORT_SECONDS:-210}
        backends=numpy,cupy
        tests=()  # the whole suite: the configured test paths
        data=$gpu/glove50_f16.npy
        report_options=(--n-queries 10000)
        nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1 | tee "$out/device.txt"
    fi
    python3 -c "import sys, numpy, array_api_compat; print('python', sys.version.split()[0], 'numpy', numpy.__version__)"

    # 1. The test suite on the device backend alone (xdist when the image has it).
    local workers=()
    python3 -c "import xdist" 2>/dev/null && workers=(-n 8)
    TT_REF_BACKENDS=${backends#numpy,} timeout -s INT -k 30 "$test_limit" \
        python3 -m pytest "${tests[@]}" -q -p no:cacheprovider --junitxml="$out/junit.xml" "${workers[@]}" \
        2>&1 | tee "$out/pytest.log"
    local tests_rc=${PIPESTATUS[0]}
    tail -n 1 "$out/pytest.log" | tee "$out/pytest-summary.txt"

    # 2. The report, beside the NumPy 2-core baseline.
    local report=(--backends "$backends" --parts tt,fit,ann,profile --glove "$data"
                  --cpu-baseline docs/data/gpu-baseline-numpy-2core.json
                  --json "$out/gpu.json" --summary "$out/summary.md" "${report_options[@]}")
    timeout -s INT -k 30 "$report_limit" python3 asv_bench/gpu_report.py "${report[@]}" \
        2>&1 | tee "$out/gpu-report.log"
    local report_rc=${PIPESTATUS[0]}
    cat "$out/summary.md" 2>/dev/null
    echo "gpu_session: pytest rc=$tests_rc, gpu_report rc=$report_rc, $((SECONDS - start)) s"
    local check_rc=0
    if [ "$mode" = "--cpu-check" ]; then
        check_outputs "$out"
        check_rc=$?
    fi
    return $(( tests_rc != 0 || report_rc != 0 || check_rc != 0 ))
}

case "${1:-}" in
    prepare) shift; prepare "$@" ;;
    run) shift; run "$@" ;;
    *) echo "usage: gpu_session.sh prepare [--synthetic] | run OUTDIR [--cpu-check]" >&2; exit 2 ;;
esac
