#!/usr/bin/env bash
# GPU machine: the published single file as a container entrypoint wrapper, reporting to a core on loopback.
#   1. `gpurunner core serve` on 127.0.0.1 (SQLite in $OUT), a user, a Space on h200, a runner token;
#   2. `gpurunner exec -- python3 -c "<~20 s of bf16 matmuls on cuda, printing progress>"` (verify first, device
#      report, APP_STARTING, RUNNING on the first progress line, heartbeats every 2 s with NVML readings, STOPPED);
#   3. a second run that crashes (CUDA OOM on purpose) -> RUNTIME_ERROR -> auto-paused, billing stopped;
#   4. the core's view: runtime, ledger, invoice, and the heartbeats it stored (GPU utilisation/memory/power).
# Usage (repo root, the self-contained publish at .device/gpurunner/gpurunner):  bash bench/gpu/exec.sh
# Writes to $OUT: run.log (every step, exit codes, wall times), exec.log, crash.log, core.log, runtime*.json,
# ledger.json, invoice.json, heartbeats.json.
set -uo pipefail
OUT=${OUT:-/tmp/gpurunner-out}; mkdir -p "$OUT"
source bench/gpu/unpack.sh
G=${GPURUNNER:-.device/gpurunner/gpurunner}
G=$(readlink -f "$G" 2>/dev/null || echo "$G")
LOG="$OUT/run.log"; : > "$LOG"
PORT=${PORT_CORE:-18787}; URL="http://127.0.0.1:$PORT"; OWNER=alice; OWNER_TOKEN=alice-local-token
export GPURUNNER_DATA="$OUT/data" DOTNET_BUNDLE_EXTRACT_BASE_DIR="$OUT/bundle"
mkdir -p "$GPURUNNER_DATA"
say() { echo "== $*" | tee -a "$LOG"; }
[ -x "$G" ] || { say "missing $G (publish: dotnet publish src/GpuRunner.Cli -p:PublishProfile=linux-x64, copy artifacts/linux-x64 to .device/gpurunner)"; exit 2; }
say "machine: $(nvidia-smi -L 2>&1 | head -1); $(uname -r); $(nproc) CPUs; binary $(du -h "$G" | cut -f1)"

# The built-in catalogue prices only the source document's seven tiers; an operator's own catalogue adds the H200
# (priced like the H100 the newer docs list at $10/h: an assumption for this test, not a Spaces price).
python3 - requirements/tiers.json "$OUT/tiers-h200.json" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))
for f in t["flavors"]:
    if f["id"] == "h200":
        f.update({"default": True, "vcpu": 16, "ramGB": 128, "diskGB": 250, "priceMicroUsdPerHour": 10000000})
json.dump(t, open(sys.argv[2], "w"), indent=1)
PY
"$G" core serve --urls "$URL" --db "sqlite:$OUT/core.db" --user "$OWNER=$OWNER_TOKEN" --tick 1 --catalogue "$OUT/tiers-h200.json" > "$OUT/core.log" 2>&1 &
CORE_PID=$!
trap 'kill $CORE_PID 2>/dev/null' EXIT
for _ in $(seq 1 100); do
  python3 -c "import urllib.request,sys; urllib.request.urlopen('$URL/healthz', timeout=1)" 2>/dev/null && break; sleep 0.2
done
say "core up: $(head -1 "$OUT/core.log")"

export GPURUNNER_CORE_URL="$URL" GPURUNNER_TOKEN="$OWNER_TOKEN"
timeout 30 "$G" spaces create "$OWNER/torch-app" --hardware h200 >>"$LOG" 2>&1; say "spaces create: exit $?"
timeout 30 "$G" spaces create "$OWNER/crashy" --hardware h200 >>"$LOG" 2>&1; say "spaces create crashy: exit $?"
RT=$(timeout 30 "$G" spaces token "$OWNER/torch-app" 2>>"$LOG" | tail -1)
RT2=$(timeout 30 "$G" spaces token "$OWNER/crashy" 2>>"$LOG" | tail -1)
[ -n "$RT" ] && [ -n "$RT2" ] || { say "no runner token"; exit 1; }

WORKLOAD=$(cat <<'PY'
import time, torch
assert torch.cuda.is_available(), "no CUDA"
dev = torch.device("cuda")
a = torch.randn(8192, 8192, device=dev, dtype=torch.bfloat16)
b = torch.randn(8192, 8192, device=dev, dtype=torch.bfloat16)
torch.cuda.synchronize()
t0 = time.time(); step = 0; flops = 2 * 8192**3
print(f"workload started on {torch.cuda.get_device_name(0)}", flush=True)
while time.time() - t0 < 20:
    t = time.time()
    for _ in range(50): c = a @ b
    torch.cuda.synchronize()
    step += 1
    print(f"step {step}: {50 * flops / (time.time() - t) / 1e12:.0f} TFLOP/s, mem {torch.cuda.memory_allocated() / 2**30:.1f} GiB", flush=True)
print(f"done: {step} steps in {time.time() - t0:.1f} s", flush=True)
PY
)
# The runner and its app in the foreground, as an entrypoint would be; RUNNING when the workload prints its first line.
say "exec: torch workload (expect APP_STARTING, RUNNING, heartbeats, STOPPED; exit 0)"
t0=$(date +%s.%N)
timeout 180 "$G" exec --core "$URL" --space "$OWNER/torch-app" --token "$RT" --heartbeat 2 \
  --ready-log '^workload started' -- python3 -c "$WORKLOAD" > "$OUT/exec.log" 2>&1
rc=$?; t1=$(date +%s.%N)
say "exec: exit $rc, $(awk "BEGIN{printf \"%.1f\", $t1 - $t0}") s wall"
cat "$OUT/exec.log" >> "$LOG"

say "exec: a crashing app (CUDA OOM on purpose; expect RUNTIME_ERROR, auto-pause, exit 1)"
timeout 120 "$G" exec --core "$URL" --space "$OWNER/crashy" --token "$RT2" --heartbeat 2 --ready-log '^allocating' -- \
  python3 -c "import torch; print('allocating', flush=True); x = torch.empty(10**13, device='cuda')" > "$OUT/crash.log" 2>&1
say "crash: exit $?"
tail -5 "$OUT/crash.log" >> "$LOG"

fetch() { python3 - "$URL$1" "$OWNER_TOKEN" <<'PY'
import sys, urllib.request, json
r = urllib.request.Request(sys.argv[1], headers={"Authorization": "Bearer " + sys.argv[2]})
print(json.dumps(json.load(urllib.request.urlopen(r, timeout=10)), indent=1))
PY
}
fetch "/api/spaces/$OWNER/torch-app/runtime" > "$OUT/runtime.json"
fetch "/api/spaces/$OWNER/crashy/runtime" > "$OUT/runtime-crashy.json"
fetch "/api/usage/spaces/$OWNER/torch-app/ledger" > "$OUT/ledger.json"
fetch "/api/usage/spaces/$OWNER/torch-app" > "$OUT/invoice.json"
timeout 30 "$G" spaces runtime "$OWNER/torch-app" >> "$LOG" 2>&1
timeout 30 "$G" spaces usage "$OWNER/torch-app" >> "$LOG" 2>&1
timeout 30 "$G" spaces runtime "$OWNER/crashy" >> "$LOG" 2>&1
kill $CORE_PID; wait $CORE_PID 2>/dev/null

# The core's stored heartbeats (its SQLite file; python3's sqlite3 reads it) and a summary of what was proven.
python3 - "$OUT" <<'PY' 2>&1 | tee -a "$LOG"
import json, sqlite3, sys, re
out = sys.argv[1]
db = sqlite3.connect(f"{out}/core.db")
rows = db.execute("SELECT at_ms, payload FROM events WHERE space_id='alice/torch-app' AND kind='heartbeat' ORDER BY at_ms").fetchall()
beats = [{"atMs": a, "gpus": json.loads(p) if p else None} for a, p in rows]
json.dump(beats, open(f"{out}/heartbeats.json", "w"), indent=1)
print(f"heartbeats stored: {len(beats)}")
for b in beats[:3] + beats[-2:]: print("  ", b)
busy = [g for b in beats for g in (b["gpus"] or []) if (g.get("utilizationPct") or 0) > 50]
print(f"heartbeats with GPU utilisation > 50%: {len(busy)}")
rt = json.load(open(f"{out}/runtime.json")); rc = json.load(open(f"{out}/runtime-crashy.json"))
ledger = json.load(open(f"{out}/ledger.json")); inv = json.load(open(f"{out}/invoice.json"))
log = open(f"{out}/exec.log").read()
secs = sum(r["seconds"] * r["sign"] for r in ledger)
print(f"torch-app: stage {rt['stage']}, detected {rt.get('detectedHardware')}, mismatch {rt.get('hardwareMismatch')}")
print(f"torch-app: metered {secs:.1f} s in {len(ledger)} interval(s); invoice {[(l['flavor'], l['minutes'], l['owedUSD']) for l in inv['lines']]}")
print(f"crashy: stage {rc['stage']}, pauseReason {rc.get('pauseReason')!r}, billing {rc['billing']['billing']}")
m = re.search(r"run (\S+): (\d+) event\(s\) recorded, all delivered", log)
print("runner summary:", m.group(0) if m else "MISSING (events not all delivered)")
stages = re.findall(r"\[gpurunner\] stage (\w+)", log)
print("stages logged by the runner:", stages)
ok = rt["stage"] == "STOPPED" and rc["stage"] == "PAUSED" and not rc["billing"]["billing"] and m and len(beats) >= 5 and busy and 15 <= secs <= 40
for met, what in ((rt["stage"] == "STOPPED", "the torch app's Space ends STOPPED"),
                  (rc["stage"] == "PAUSED" and not rc["billing"]["billing"], "the crashing app's Space is auto-paused and not billed"),
                  (bool(m), "the runner delivered every event"),
                  (len(beats) >= 5 and bool(busy), "heartbeats stored, with GPU utilisation > 50%"),
                  (15 <= secs <= 40, f"metered {secs:.1f} s for a ~20 s workload (goal 15-40 s)")):
    print(("✓ " if met else "✗ ") + what)
print(("✓" if ok else "✗"), "exec:", "every goal met" if ok else "a goal was missed")
sys.exit(0 if ok else 1)
PY
exit "${PIPESTATUS[0]}"
