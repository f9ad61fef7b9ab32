#!/usr/bin/env bash
# GPU machine: gpurunner smoke judged in the same run against PyTorch's own figures and the card's memtest limit
# (bench/gpu/smoke_torch.py). Prints ✓/✗ per goal; exits 1 when the smoke fails, the quick level takes over 15 s per
# GPU, or a goal is missed or has no figure.
# Run from the repo root there:  bash bench/gpu/smoke.sh [standard|quick|long]
# Needs the published binary at .device/gpurunner/gpurunner (RECIPE.md) and python3 with torch.
# Writes to $OUT: smoke.json (every sample), smoke.txt (plain log), smoke-quick.txt, ratios.json, ratios.txt, plots.
set -uo pipefail
cd "$(dirname "$0")/../.."
source bench/gpu/unpack.sh
OUT="${OUT:-/tmp/smoke-out}"
mkdir -p "$OUT"
level="${1:-standard}"
bin=.device/gpurunner/gpurunner
if [ ! -x "$bin" ] && [ -f .device/gpurunner.tar.gz ]; then tar -xzf .device/gpurunner.tar.gz -C .device; fi
[ -x "$bin" ] || { echo "no $bin: publish it first (see shared/device/RECIPE.md)"; exit 2; }

fail=0
verdict() { echo "$([ "$1" = 0 ] && echo ✓ || echo ✗) $2"; [ "$1" = 0 ] || fail=1; }
step() { # name, timeout, command...
  local name=$1 limit=$2; shift 2
  local t0; t0=$(date +%s%N)
  timeout "$limit" "$@"; local rc=$?
  local ms=$(( ($(date +%s%N) - t0) / 1000000 )); LAST_MS=$ms
  # To stderr and steps.txt only: stdout of a step may be redirected into a JSON file.
  printf 'step %-14s rc=%-3s wall=%d.%03ds\n' "$name" "$rc" $((ms / 1000)) $((ms % 1000)) | tee -a "$OUT/steps.txt" >&2
  return $rc
}

nvidia-smi --query-gpu=name,memory.total,memory.used,temperature.gpu,clocks.sm,power.draw,pcie.link.gen.current --format=csv | tee "$OUT/steps.txt"
# The quick level first: its plain log shows what a user sees, and it must stay within 15 s per GPU.
step smoke-quick 120 "$bin" smoke --level quick > "$OUT/smoke-quick.txt" 2>&1; rc=$?
tail -3 "$OUT/smoke-quick.txt"
gpus=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU')
verdict $rc "smoke --level quick: exit $rc"
verdict $(( LAST_MS <= 15000 * (gpus > 0 ? gpus : 1) ? 0 : 1 )) "smoke --level quick: $((LAST_MS / 1000)).$(printf %03d $((LAST_MS % 1000))) s for $gpus GPU(s) (goal ≤ 15 s per GPU)"
step smoke-$level 600 "$bin" smoke --level "$level" --json --plot "$OUT" > "$OUT/smoke.json" 2> "$OUT/smoke.txt"; rc=$?
tail -2 "$OUT/smoke.txt"
verdict $rc "smoke --level $level: exit $rc"
# Plain lines of the same report for the log (jq-free: python).
python3 - "$OUT/smoke.json" <<'PY' | tee -a "$OUT/smoke.txt"
import json, sys
r = json.load(open(sys.argv[1]))
for c in r["checks"]:
    print(f'{c["status"]:4} {c["id"]} gpu{c.get("gpu")}: {c["evidence"]} [{c["seconds"]:.2f} s / limit {c["limitSeconds"]:.0f} s]')
print(r["verdictLine"])
# A smoke that tested no GPU (SKIP) or found a fault (FAIL) misses the goal on a GPU machine.
ok = r["verdictLine"].startswith(("SMOKE VERDICT: PASS", "SMOKE VERDICT: WARN"))
print(("✓" if ok else "✗"), "smoke verdict:", r["verdictLine"].split(" | ")[0].removeprefix("SMOKE VERDICT: "), "(goal: PASS or WARN)")
sys.exit(0 if ok else 1)
PY
[ "${PIPESTATUS[0]}" = 0 ] || fail=1
step torch 600 python3 bench/gpu/smoke_torch.py --ours "$OUT/smoke.json" --out "$OUT/ratios.json" | tee "$OUT/ratios.txt"
verdict "${PIPESTATUS[0]}" "smoke vs torch and the memtest limit (bench/gpu/smoke_torch.py)"
verdict $fail "smoke: $([ $fail = 0 ] && echo 'every goal met' || echo 'a goal was missed or has no figure')"
exit $fail
