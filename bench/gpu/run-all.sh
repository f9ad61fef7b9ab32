#!/usr/bin/env bash
# GPU machine: runs bench/gpu scripts in one device call, prints each one's own verdict lines (✓/✗) and exit code,
# packs every output into $OUT/all.tgz (the device tool returns few files) and exits non-zero if any step failed.
#   bash bench/gpu/run-all.sh proof     the GPU tests, the smoke, the detect/verify benchmark (+ H200 fixtures)
#   bash bench/gpu/run-all.sh [STEP...] any of: gpu-tests smoke detect-verify frameworks exec host-tier core-bench
#                                       (none: all of them)
# Publish here first: `bench/gpu/publish.sh proof` for proof, `bench/gpu/publish.sh` for everything.
set -uo pipefail
cd "$(dirname "$0")/../.."
final=${OUT:-/tmp/gpu-out}; mkdir -p "$final"; work=$(mktemp -d)
source bench/gpu/unpack.sh
steps=("$@"); [ ${#steps[@]} -gt 0 ] || steps=(gpu-tests smoke detect-verify frameworks exec host-tier core-bench)
[ "${steps[*]}" = proof ] && steps=(gpu-tests smoke detect-verify)
failed=()
for s in "${steps[@]}"; do
  [ -f "bench/gpu/$s.sh" ] || { echo "run-all.sh: no step '$s' (bench/gpu/$s.sh)"; failed+=("$s"); continue; }
  mkdir -p "$work/$s"; t0=$(date +%s)
  OUT="$work/$s" timeout "${STEP_TIMEOUT:-420}" bash "bench/gpu/$s.sh" > "$work/$s/stdout.txt" 2>&1; rc=$?
  echo "== $s: exit $rc, $(( $(date +%s) - t0 )) s"
  # The step's last lines, then every verdict line it printed (✓/✗), so none is lost to the tail.
  tail -n "${TAIL:-15}" "$work/$s/stdout.txt" | grep -vE '^(✓|✗) '; grep -E '^(✓|✗) ' "$work/$s/stdout.txt"
  [ $rc = 0 ] || failed+=("$s")
done
# The card's fixtures for tests/GpuRunner.Diagnostics.Tests come from one detect-verify run, packed at their repo paths
# under the machine's own flavor (an H100 never overwrites the H200's): `tar -xzf fixtures-h200.tgz` at the repo root
# refreshes all four together.
if [ -f "$work/detect-verify/detect.json" ]; then
  fx=$work/fixtures/tests/GpuRunner.Diagnostics.Tests/Fixtures/$GPU_FLAVOR; mkdir -p "$fx"
  cp "$work"/detect-verify/{nvidia-smi-q.txt,query-gpu.csv,detect.json,verify.json} "$fx/"
  tar -czf "$final/fixtures-$GPU_FLAVOR.tgz" -C "$work/fixtures" tests
fi
tar -czf "$final/${PACK:-all}.tgz" -C "$work" --exclude=./fixtures .
echo "== run-all: ${#steps[@]} step(s), $(( ${#steps[@]} - ${#failed[@]} )) passed${failed:+; FAILED: ${failed[*]}}"
[ ${#failed[@]} = 0 ]
