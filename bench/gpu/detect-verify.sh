#!/usr/bin/env bash
# GPU machine: detect and verify as a user runs them (each exit code judged), the H200 fixtures from one run, and the
# start-up benchmark: `gpurunner detect` vs `nvidia-smi -q` (goal ≤ 0.50x) and `gpurunner verify --only native` vs the
# PyTorch snippet (goal ≤ 0.15x), medians of RUNS cold runs each (default 9), interleaved. Prints ✓/✗ per goal and
# exits 1 when a goal is missed or a figure is missing (a command that failed gives no figure).
# The C# GPU tests (detect == nvidia-smi field by field, the kernel check) are bench/gpu/gpu-tests.sh.
# Usage (repo root, the publish at .device/gpurunner/gpurunner):  bash bench/gpu/detect-verify.sh
# Writes to $OUT: nvidia-smi-q.txt, query-gpu.csv, detect.json, verify.json (fixtures: all four from this ONE run),
# run.log (every step's output and exit code), bench.txt (runs, medians, ratios, verdicts).
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/gpurunner-out}; mkdir -p "$OUT"
source bench/gpu/unpack.sh
G=${GPURUNNER:-.device/gpurunner/gpurunner}
RUNS=${RUNS:-9}
LOG="$OUT/run.log"; : > "$LOG"
FIELDS=name,uuid,pci.bus_id,memory.total,driver_version,compute_cap
fail=0

expect() { # expect CODE NAME CMD... : runs under a timeout, logs output; ✓ when it exits with CODE
  local want=$1 name=$2; shift 2
  local t0 rc; t0=$(date +%s.%N)
  timeout 120 "$@" >>"$LOG" 2>&1; rc=$?
  local ok=✓; [ "$rc" = "$want" ] || { ok=✗; fail=1; }
  printf '%s %s: exit %s (expected %s), %.3f s\n' "$ok" "$name" "$rc" "$want" "$(awk "BEGIN{print $(date +%s.%N) - $t0}")" | tee -a "$LOG"
}

echo "== machine: $(nvidia-smi -L 2>&1 | head -1); $(uname -r); $(nproc) CPUs" | tee -a "$LOG"
[ -x "$G" ] || { echo "✗ missing $G (bench/gpu/publish.sh aot)" | tee -a "$LOG"; exit 2; }

# --- fixtures: one run, back to back --------------------------------------------------------------------------
timeout 60 nvidia-smi -q > "$OUT/nvidia-smi-q.txt" 2>>"$LOG"
timeout 60 nvidia-smi --query-gpu=$FIELDS --format=csv,noheader > "$OUT/query-gpu.csv" 2>>"$LOG"
expect 0 "detect --json" sh -c "'$G' detect --json > '$OUT/detect.json'"
expect 0 "verify --json" sh -c "'$G' verify --json > '$OUT/verify.json'"
expect 0 "detect (plain)" "$G" detect
expect 0 "verify (plain)" "$G" verify
expect 0 "verify --expect $GPU_FLAVOR" "$G" verify --expect "$GPU_FLAVOR" --only tier.match
expect 1 "verify --expect a10g-small (a mismatch must fail)" "$G" verify --expect a10g-small --only tier.match

# --- benchmark: interleaved cold runs, wall time of each; a failed run gives no figure -------------------------
walltime() { local t0 rc; t0=$(date +%s.%N); timeout 120 "$@" >/dev/null 2>&1; rc=$?
  [ $rc = 0 ] && awk "BEGIN{print $(date +%s.%N) - $t0}" || echo "failed(exit $rc)"; }
TORCH='import torch; torch.zeros(1).cuda(); print(torch.cuda.is_available())'
declare -A T
for i in $(seq 1 "$RUNS"); do  # interleaved so drift (clocks, page cache) hits both sides alike
  T[smi]+="$(walltime nvidia-smi -q) "
  T[detect]+="$(walltime "$G" detect) "
  T[version]+="$(walltime "$G" version) "                         # the floor: process start and exit, no GPU
  T[torch]+="$(walltime python3 -c "$TORCH") "
  T[native]+="$(walltime "$G" verify --only native) "
  T[verify]+="$(walltime "$G" verify) "
done
{
  echo "# gpurunner start-up benchmark, $(date -u +%FT%TZ), $(nvidia-smi -L | head -1), $RUNS cold runs each, medians"
  for k in smi detect version torch native verify; do echo "$k: ${T[$k]}"; done
} > "$OUT/bench.txt"
python3 - "$OUT/bench.txt" "$RUNS" <<'PY' | tee -a "$OUT/bench.txt"
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    if ":" in line and not line.startswith("#"):
        k, v = line.split(":", 1); runs[k.strip()] = v.split()
want = int(sys.argv[2])
def med(k):
    v = runs.get(k, [])
    try: vals = [float(x) for x in v]
    except ValueError: return None        # a failed run: no figure
    return statistics.median(vals) if len(vals) == want else None
m = {k: med(k) for k in ("smi", "detect", "version", "torch", "native", "verify")}
for k, label in (("smi", "nvidia-smi -q"), ("detect", "gpurunner detect"), ("version", "gpurunner version (floor)"),
                 ("torch", "torch snippet"), ("native", "gpurunner verify --only native"), ("verify", "gpurunner verify (all checks)")):
    print(f"{label:32} {'missing (a run failed)' if m[k] is None else f'{m[k]:.3f} s'}")
ok = True
def goal(name, ours, peer, limit):
    global ok
    if ours is None or peer is None:
        ok = False; print(f"✗ {name}: figure missing"); return
    r = ours / peer; met = r <= limit; ok &= met
    print(f"{'✓' if met else '✗'} {name}: {r:.3f}x (goal ≤ {limit:.2f}x)")
goal("detect / nvidia-smi -q", m["detect"], m["smi"], 0.50)
goal("verify --only native / torch snippet", m["native"], m["torch"], 0.15)
# The full verify also runs the torch/JAX/TF snippets themselves, so it cannot beat the torch one: information only.
if m["verify"] and m["torch"]: print(f"  verify (all checks) / torch snippet: {m['verify'] / m['torch']:.3f}x (information: it runs the Python snippets too)")
sys.exit(0 if ok else 1)
PY
[ "${PIPESTATUS[0]}" = 0 ] || fail=1
echo "$([ $fail = 0 ] && echo ✓ || echo ✗) detect-verify: $([ $fail = 0 ] && echo 'every step and goal met' || echo 'a step or goal FAILED (see above)')"
exit $fail
