#!/usr/bin/env bash
# GPU-machine evidence for the host part (issue 2 host facts + tier matching, issue 4 requirements preflight).
# Runs the self-contained publish at .device/gpurunner/gpurunner (see shared/device/RECIPE.md); writes to $OUT.
# Expect: detect names no default tier and says the H200 fits the non-default entry h200; verify --expect h200
# passes the tier check while --expect a100-large fails naming the GPU; requirements check asks the driver (CUDA 13.0).
# Prints ✓/✗ per expected exit code and exits 1 when one differs (the requirements checks are information).
set -u
cd "$(dirname "$0")/../.."
source bench/gpu/unpack.sh
BIN=${GPURUNNER_BIN:-.device/gpurunner/gpurunner}
OUT=${OUT:-/tmp/gpurunner-out}
mkdir -p "$OUT"
fail=0
step() { # expected exit code ('-': any, information only), name, command...
  local want=$1 name=$2; shift 2
  local t0=$(date +%s%N)
  timeout 60 "$@" >"$OUT/$name.out" 2>"$OUT/$name.err"
  local rc=$? mark=" "
  if [ "$want" != - ]; then if [ "$rc" = "$want" ]; then mark=✓; else mark=✗; fail=1; fi; fi
  printf '%s %-28s rc=%-3s %6d ms%s\n' "$mark" "$name" "$rc" $(( ($(date +%s%N) - t0) / 1000000 )) \
    "$([ "$want" = - ] || echo " (expected $want)")" | tee -a "$OUT/summary.txt"
}
step 0 detect-json           "$BIN" detect --json
step 0 detect-plain          "$BIN" detect
step 0 verify-expect-h200    "$BIN" verify --expect h200 --only tier.match --json
step 1 verify-expect-a100    "$BIN" verify --expect a100-large --only tier.match
for f in pytorch-cu113 jax-cuda11-pip tensorflow good-cuda12 cpu-only too-new; do
  step - "req-$f" "$BIN" requirements check "requirements/samples/$f.txt"
done
# The facts the tier was computed from, to compare with detect's host section.
{ cat /proc/self/cgroup; nproc; grep -E 'MemTotal|Cpus_allowed_list' /proc/meminfo /proc/self/status; df -B1 / .;
  cat /sys/fs/cgroup/cpu.max /sys/fs/cgroup/memory.max 2>&1; cat /proc/driver/nvidia/version 2>&1; } >"$OUT/host-facts.txt" 2>&1
python3 - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
d = json.load(open(f"{out}/detect-json.out"))
print("host:", {k: d["host"][k] for k in ("vcpu", "vcpuSource", "memoryBytes", "memorySource")})
print("tier:", d["tier"]["summary"])
PY
[ "${PIPESTATUS[0]}" = 0 ] || fail=1
echo "$([ $fail = 0 ] && echo ✓ || echo ✗) host-tier: $([ $fail = 0 ] && echo 'every expected exit code' || echo 'an exit code differs from the expected one')"
exit $fail
