#!/usr/bin/env bash
# GPU machine: runs the real C# GPU tests (tests/GpuRunner.Gpu.Tests, published by `bench/gpu/publish.sh tests`)
# against the shipped NativeAOT gpurunner, and prints passed/failed/skipped per test. Every test must PASS here: a
# skip on a GPU machine means the GPU was not found, so it counts against the verdict.
# Usage (repo root there):  bash bench/gpu/gpu-tests.sh        Writes $OUT/gpu-tests.xml (xunit XML) and gpu-tests.txt.
set -uo pipefail
cd "$(dirname "$0")/../.."
source bench/gpu/unpack.sh
OUT=${OUT:-/tmp/gpurunner-out}; mkdir -p "$OUT"
exe=.device/gputests/GpuRunner.Gpu.Tests
bin=$(readlink -f "${GPURUNNER_BIN:-.device/gpurunner/gpurunner}" 2>/dev/null)
[ -x "$exe" ] || { echo "✗ GPU tests: no $exe (run bench/gpu/publish.sh tests here first)"; exit 2; }
[ -x "$bin" ] || { echo "✗ GPU tests: no gpurunner binary at ${GPURUNNER_BIN:-.device/gpurunner/gpurunner} (bench/gpu/publish.sh aot)"; exit 2; }
echo "== machine: $(nvidia-smi -L 2>&1 | head -1)"
GPURUNNER_BIN=$bin timeout "${TEST_TIMEOUT:-300}" "$exe" -noLogo -noColor -result-xml "$OUT/gpu-tests.xml" > "$OUT/gpu-tests.txt" 2>&1
rc=$?
echo "== test executable: exit $rc"
# On failure the runner's own output first (failures with their messages), the per-test verdict last.
[ $rc = 0 ] || grep -vE '^\s*$' "$OUT/gpu-tests.txt" | tail -40
python3 bench/gpu/xunit_summary.py "$OUT/gpu-tests.xml" --min-tests 5 --no-skips || exit 1
exit $rc
