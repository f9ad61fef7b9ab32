#!/usr/bin/env bash
# GPU machine: checks `gpurunner detect --json` against nvidia-smi (the GPU tests' logic, without .NET), saves
# H200 fixtures, and benchmarks start-up: `detect` vs `nvidia-smi -q`, `verify` vs the PyTorch snippet.
# Usage (repo root, the self-contained publish at .device/gpurunner/gpurunner):  bash bench/gpu/detect-verify.sh
# Needs only bash, coreutils, awk and python3 (to read JSON). Writes to $OUT: nvidia-smi-q.txt, query-gpu.csv, detect.json (fixtures: take all three from ONE run),
# verify.json, run.log (every step's output and exit code), bench.txt (medians and ratios).
set -uo pipefail
OUT=${OUT:-/tmp/gpurunner-out}; mkdir -p "$OUT"
source bench/gpu/unpack.sh
G=${GPURUNNER:-.device/gpurunner/gpurunner}
RUNS=${RUNS:-7}
LOG="$OUT/run.log"; : > "$LOG"
FIELDS=name,uuid,pci.bus_id,memory.total,driver_version,compute_cap
fail=0

step() { # step NAME CMD... : runs under a timeout, logs output + exit code + wall time
  local name=$1; shift
  local t0 t1 rc
  t0=$(date +%s.%N)
  timeout 120 "$@" >>"$LOG" 2>&1; rc=$?
  t1=$(date +%s.%N)
  printf '== %s: exit %s, %.3f s\n' "$name" "$rc" "$(awk "BEGIN{print $t1 - $t0}")" | tee -a "$LOG"
  return $rc
}

echo "== machine: $(nvidia-smi -L 2>&1 | head -1); $(uname -r); $(nproc) CPUs" | tee -a "$LOG"
[ -x "$G" ] || { echo "missing $G (publish: see /work/shared/device/RECIPE.md)" | tee -a "$LOG"; exit 2; }

# --- fixtures -------------------------------------------------------------------------------------------------
timeout 60 nvidia-smi -q > "$OUT/nvidia-smi-q.txt" 2>>"$LOG"
timeout 60 nvidia-smi --query-gpu=$FIELDS --format=csv,noheader > "$OUT/query-gpu.csv" 2>>"$LOG"
timeout 60 "$G" detect --json > "$OUT/detect.json" 2>>"$LOG"; echo "== detect --json: exit $?" | tee -a "$LOG"
timeout 300 "$G" verify --json > "$OUT/verify.json" 2>>"$LOG"; echo "== verify --json: exit $?" | tee -a "$LOG"
step "detect (plain)" "$G" detect
step "verify (plain)" "$G" verify
step "verify --expect h200" "$G" verify --expect h200 --only tier.match
step "verify --expect a10g-small (must fail, exit 1)" "$G" verify --expect a10g-small --only tier.match

# --- detect vs nvidia-smi, field by field (python3 only reads JSON; no jq on the machine) ----------------------
python3 - "$OUT" <<'PY' 2>&1 | tee -a "$LOG"
import json, re, sys
out = sys.argv[1]
d = json.load(open(f"{out}/detect.json"))
rows = [[f.strip() for f in l.split(",")] for l in open(f"{out}/query-gpu.csv") if l.strip()]
q = open(f"{out}/nvidia-smi-q.txt").read()
cuda = re.search(r"^CUDA Version\s*:\s*(\S+)", q, re.M).group(1)
bad = []
def same(field, ours, theirs):
    if str(ours) != str(theirs): bad.append(f"{field}: detect {ours!r}, nvidia-smi {theirs!r}")
same("gpu count", len(d["gpus"]), len(rows))
same("cudaDriverVersion", d["driver"]["cudaDriverVersion"], cuda)
for g, r in zip(d["gpus"], rows):
    name, uuid, bus, mem, drv, cc = r
    i = g["index"]
    same(f"gpu {i} name", g["name"], name); same(f"gpu {i} uuid", g["uuid"], uuid)
    same(f"gpu {i} pciBusId", g["pciBusId"], bus); same(f"gpu {i} memoryTotalMiB", g["memoryTotalMiB"], int(mem.split()[0]))
    same(f"gpu {i} computeCapability", g["computeCapability"], cc); same("driverVersion", d["driver"]["driverVersion"], drv)
v = json.load(open(f"{out}/verify.json"))
k = [c for c in v["checks"] if c["id"] == "cuda.kernel"]
if not k or k[0]["status"] != "PASS": bad.append(f"cuda.kernel: {k[0]['status'] + ' ' + k[0]['evidence'] if k else 'missing'}")
print("== GPU TESTS:", "PASS (detect == nvidia-smi on name, uuid, pci bus id, memory total, driver, CUDA, cc; vectorAdd PASS)" if not bad else "FAIL")
for b in bad: print("   ", b)
print("== verify checks:", ", ".join(f"{c['id']}={c['status']}" for c in v["checks"]), "verdict", v["verdict"])
print("== tier:", (d.get("tier") or {}).get("summary"))
sys.exit(1 if bad else 0)
PY
[ "${PIPESTATUS[0]}" = 0 ] || fail=1

# --- benchmark: interleaved runs, median wall time --------------------------------------------------------------
walltime() { local t0 t1; t0=$(date +%s.%N); timeout 120 "$@" >/dev/null 2>&1; t1=$(date +%s.%N); awk "BEGIN{print $t1 - $t0}"; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
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
med() { echo ${T[$1]} | tr ' ' '\n' | median; }
{
  echo "# gpurunner start-up benchmark, $(date -u +%FT%TZ), $(nvidia-smi -L | head -1), $RUNS runs each, medians"
  for k in smi detect version torch native verify; do echo "$k runs: ${T[$k]}"; done
  ms=$(med smi); md=$(med detect); mt=$(med torch); mn=$(med native); mv=$(med verify)
  printf 'nvidia-smi -q                 %.3f s\ngpurunner detect              %.3f s   ratio %.2fx (goal <= 0.50x)\n' "$ms" "$md" "$(awk "BEGIN{print $md / $ms}")"
  printf 'gpurunner version (floor)     %.3f s\n' "$(med version)"
  printf 'torch snippet                 %.3f s\ngpurunner verify --only native %.3f s   ratio %.3fx (goal <= 0.15x)\n' "$mt" "$mn" "$(awk "BEGIN{print $mn / $mt}")"
  # The full verify also runs the torch/JAX/TF snippets themselves (side by side), so it cannot beat the torch one.
  printf 'gpurunner verify (all checks)  %.3f s   ratio %.3fx (includes the Python snippets)\n' "$mv" "$(awk "BEGIN{print $mv / $mt}")"
  echo "# where detect's time goes (GPURUNNER_TRACE_TIMING=1, 3 runs; +ms since main):"
  for i in 1 2 3; do
    t0=$(date +%s.%N); GPURUNNER_TRACE_TIMING=1 "$G" detect 2>&1 >/dev/null | grep '^timing:' | tr '\n' ' ' | sed 's/timing: //g'
    echo " | wall $(awk "BEGIN{print $(date +%s.%N) - $t0}") s"
  done
} | tee "$OUT/bench.txt" | tee -a "$LOG"
exit $fail
