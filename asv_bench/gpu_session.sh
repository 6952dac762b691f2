#!/usr/bin/env bash
# Everything issue 6 needs from a GPU machine, in one command, from the repository root:
#
#   bash asv_bench/gpu_session.sh OUTDIR [GLOVE.npy] [tests|report|all]
#
# (default all; the device tool allows 10 minutes a call, so run "tests" and "report"
# as two calls there.)
# 1. the whole test suite on CuPy (TT_REF_BACKENDS=cupy), log in OUTDIR/pytest-cupy.log;
# 2. asv_bench/gpu_report.py (tt_svd/round, fit steps/s, TT index vs exact GEMM, profiles),
#    against the NumPy baseline measured on the 2-core development machine
#    (docs/data/gpu-baseline-numpy-2core.json), JSON in OUTDIR/gpu.json.
# Wheels for packages the GPU image lacks (array-api-compat, array-api-strict) are taken
# from .whl/ when that folder exists (DEVELOPERS.md says how to fetch them).
set -uo pipefail
out=${1:?usage: gpu_session.sh OUTDIR [GLOVE.npy] [tests|report|all]}
glove=${2:-}
what=${3:-all}
mkdir -p "$out"
export MPLBACKEND=Agg PYTHONUNBUFFERED=1
if compgen -G ".whl/*.whl" >/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --upgrade --target /tmp/tt_ref_site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/tt_ref_site:$PWD${PYTHONPATH:+:$PYTHONPATH}
else
    export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1 | tee "$out/device.txt"

# xdist when the image has it: the suite is many small cases.
tests_rc=0
report_rc=0
if [ "$what" != report ]; then
    workers=()
    python3 -c "import xdist" 2>/dev/null && workers=(-n 8)
    TT_REF_BACKENDS=cupy python3 -m pytest tests -q -p no:cacheprovider "${workers[@]}" 2>&1 | tee "$out/pytest-cupy.log"
    tests_rc=${PIPESTATUS[0]}
fi
if [ "$what" != tests ]; then
    # GPU_REPORT_BACKENDS=numpy,array_api_strict checks the script end to end without a GPU.
    report=(--json "$out/gpu.json" --parts tt,fit,ann,profile --backends "${GPU_REPORT_BACKENDS:-numpy,cupy}"
            --cpu-baseline docs/data/gpu-baseline-numpy-2core.json)
    [ -n "$glove" ] && report+=(--glove "$glove")
    python3 asv_bench/gpu_report.py "${report[@]}" 2>&1 | tee "$out/gpu-report.log"
    report_rc=${PIPESTATUS[0]}
fi
echo "pytest rc=$tests_rc gpu_report rc=$report_rc"
exit $(( tests_rc != 0 || report_rc != 0 ))
