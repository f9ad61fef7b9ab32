#!/usr/bin/env bash
# GPU machine: the published single file as a container entrypoint wrapper, reporting to a core on loopback.
#   1. `gpurunner core serve` on 127.0.0.1 (SQLite in $OUT), a user, a Space on h200, a runner token;
#   2. `gpurunner exec -- python3 -c "<~20 s of bf16 matmuls on cuda, printing progress>"` (verify first, device
#      report, APP_STARTING, RUNNING on the first progress line, heartbeats every 2 s with NVML readings, STOPPED);
#   3. a second run that crashes (CUDA OOM on purpose) -> RUNTIME_ERROR -> auto-paused, billing stopped;
#   4. the core's view: runtime, ledger, invoice, and the heartbeats it stored (GPU utilisation/memory/power);
#   5. supervision: an app holding ~20 GiB of GPU memory and running matmuls is paused through the API; NVML
#      (nvidia-smi) must show the memory freed within 5 s, the ledger must close at the pause's instant, `exec` must
#      stay up; a restart brings the app back as a new run (memory used again, RUNNING, billed); delete ends `exec`
#      with its code 77.
# Usage (repo root, the self-contained publish at .device/gpurunner/gpurunner):  bash bench/gpu/exec.sh
# Writes to $OUT: run.log (every step, exit codes, wall times), exec.log, crash.log, core.log, runtime*.json,
# ledger.json, invoice.json, heartbeats.json, supervised.log, supervision.json.
set -uo pipefail
source bench/gpu/local-core.sh
PORT=${PORT_CORE:-18787}; URL="http://127.0.0.1:$PORT"; OWNER=alice; OWNER_TOKEN=alice-local-token
export GPURUNNER_DATA="$OUT/data" DOTNET_BUNDLE_EXTRACT_BASE_DIR="$OUT/bundle"
mkdir -p "$GPURUNNER_DATA"

start_core "$OUT"
trap 'kill $CORE_PID 2>/dev/null' EXIT
say "core up: $(head -1 "$OUT/core.log")"

export GPURUNNER_CORE_URL="$URL" GPURUNNER_TOKEN="$OWNER_TOKEN"
timeout 30 "$G" spaces create "$OWNER/torch-app" --hardware "$GPU_FLAVOR" >>"$LOG" 2>&1; say "spaces create: exit $?"
timeout 30 "$G" spaces create "$OWNER/crashy" --hardware "$GPU_FLAVOR" >>"$LOG" 2>&1; say "spaces create crashy: exit $?"
timeout 30 "$G" spaces create "$OWNER/supervised" --hardware "$GPU_FLAVOR" >>"$LOG" 2>&1; say "spaces create supervised: exit $?"
RT=$(timeout 30 "$G" spaces token "$OWNER/torch-app" 2>>"$LOG" | tail -1)
RT2=$(timeout 30 "$G" spaces token "$OWNER/crashy" 2>>"$LOG" | tail -1)
RT3=$(timeout 30 "$G" spaces token "$OWNER/supervised" 2>>"$LOG" | tail -1)
[ -n "$RT" ] && [ -n "$RT2" ] && [ -n "$RT3" ] || { say "no runner token"; exit 1; }

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

# 5. Supervision: the core's decisions take effect on a live GPU app.
HOLDER=$(cat <<'PY'
import time, torch
dev = torch.device("cuda")
hold = torch.empty(20 * 2**30, dtype=torch.uint8, device=dev)  # 20 GiB held for the app's life
a = torch.randn(8192, 8192, device=dev, dtype=torch.bfloat16); b = torch.randn(8192, 8192, device=dev, dtype=torch.bfloat16)
torch.cuda.synchronize()
print(f"ready: holding {torch.cuda.memory_reserved() / 2**30:.1f} GiB", flush=True)
while True:
    for _ in range(20): c = a @ b
    torch.cuda.synchronize()
PY
)
[ -n "${SUP_APP:-}" ] && HOLDER=$SUP_APP # a CPU dry run of this step brings its own app (and a stand-in nvidia-smi)
say "supervision: exec keeps a GPU app under the core's decisions (pause -> memory freed within 5 s, restart, delete)"
timeout 300 "$G" exec --core "$URL" --space "$OWNER/supervised" --token "$RT3" --heartbeat 2 --grace 5 \
  --ready-log '^ready' -- python3 -c "$HOLDER" > "$OUT/supervised.log" 2>&1 &
SUP_PID=$!
python3 - "$URL" "$OWNER_TOKEN" "$OWNER/supervised" "$SUP_PID" "$OUT/supervision.json" <<'PY' 2>&1 | tee -a "$LOG"
import json, os, subprocess, sys, time, urllib.request
url, token, space, sup, out = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
def call(method, path, body=None):
    r = urllib.request.Request(url + path, method=method, data=None if body is None else json.dumps(body).encode(),
                               headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    with urllib.request.urlopen(r, timeout=15) as resp:
        text = resp.read(); return json.loads(text) if text else None
def used_mib():  # NVML through nvidia-smi: memory used on GPU 0
    return int(subprocess.check_output(["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits", "-i", "0"], text=True).split()[0])
def runtime(): return call("GET", f"/api/spaces/{space}/runtime")
def until(pred, seconds, step=0.05):
    t0 = time.time()
    while time.time() - t0 < seconds:
        v = pred()
        if v: return time.time()
        time.sleep(step)
    return None
def alive(): return os.path.exists(f"/proc/{sup}") and open(f"/proc/{sup}/stat").read().split()[2] != "Z"
r = {}
until(lambda: runtime()["stage"] == "RUNNING", 120, 0.2)
time.sleep(3)
r["runningRunId"] = runtime()["runId"]; r["usedRunningMiB"] = used_mib()
t_pause = time.time(); call("POST", f"/api/spaces/{space}/pause")
freed = until(lambda: used_mib() < r["usedRunningMiB"] - 15 * 1024, 30)
r["freedSeconds"] = None if freed is None else round(freed - t_pause, 2)
r["usedPausedMiB"] = used_mib()
time.sleep(2)
rt = runtime(); ledger = call("GET", f"/api/usage/spaces/{space}/ledger")
r["pausedStage"] = rt["stage"]; r["pausedAt"] = rt["stageSince"]; r["ledgerEnd"] = ledger[-1]["end"] if ledger else None
r["meteredAfterPause"] = sum(x["seconds"] * x["sign"] for x in ledger)
r["execAliveWhilePaused"] = alive()
t_restart = time.time(); call("POST", f"/api/spaces/{space}/restart")
back = until(lambda: runtime()["stage"] == "RUNNING", 120, 0.2)
r["restartToRunningSeconds"] = None if back is None else round(back - t_restart, 2)
r["restartRunId"] = runtime()["runId"]; r["usedRestartedMiB"] = used_mib()
time.sleep(3)
r["billingAfterRestart"] = runtime()["billing"]["billing"]
t_del = time.time(); call("DELETE", "/api/repos/delete", {"type": "space", "name": space.split("/")[1]})
gone = until(lambda: not alive(), 30)
r["deleteToExitSeconds"] = None if gone is None else round(gone - t_del, 2)
json.dump(r, open(out, "w"), indent=1)
for k, v in r.items(): print(f"  {k}: {v}")
PY
wait $SUP_PID; SUP_RC=$?
say "supervised exec: exit $SUP_RC (77 = the Space was deleted)"
echo "$SUP_RC" > "$OUT/supervised.rc"
grep '\[gpurunner\]' "$OUT/supervised.log" | tail -25 >> "$LOG"
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
sv = json.load(open(f"{out}/supervision.json")); sup_rc = int(open(f"{out}/supervised.rc").read())
sup_ok = (sv["freedSeconds"] is not None and sv["freedSeconds"] < 5 and sv["pausedStage"] == "PAUSED"
          and sv["ledgerEnd"] == sv["pausedAt"] and sv["execAliveWhilePaused"] and sv["restartRunId"] != sv["runningRunId"]
          and sv["usedRestartedMiB"] > sv["usedPausedMiB"] + 15 * 1024 and sv["billingAfterRestart"] and sup_rc == 77)
print(f"supervision: memory freed {sv['freedSeconds']} s after the pause ({sv['usedRunningMiB']} -> {sv['usedPausedMiB']} MiB), "
      f"ledger closed at {sv['ledgerEnd']} (pause at {sv['pausedAt']}), RUNNING again {sv['restartToRunningSeconds']} s after the restart "
      f"({sv['usedRestartedMiB']} MiB), exec exit {sup_rc} {sv['deleteToExitSeconds']} s after the delete: {'PASS' if sup_ok else 'FAIL'}")
for met, what in ((rt["stage"] == "STOPPED", "the torch app's Space ends STOPPED"),
                  (rc["stage"] == "PAUSED" and not rc["billing"]["billing"], "the crashing app's Space is auto-paused and not billed"),
                  (bool(m), "the runner delivered every event"),
                  (len(beats) >= 5 and bool(busy), "heartbeats stored, with GPU utilisation > 50%"),
                  (15 <= secs <= 40, f"metered {secs:.1f} s for a ~20 s workload (goal 15-40 s)"),
                  (sup_ok, "pause frees the app's GPU memory within 5 s, the ledger closes at the pause, a restart brings it back, a delete ends exec")):
    print(("✓ " if met else "✗ ") + what)
ok = bool(ok and sup_ok)
print(("✓" if ok else "✗"), "exec:", "every goal met" if ok else "a goal was missed")
sys.exit(0 if ok else 1)
PY
exit "${PIPESTATUS[0]}"
