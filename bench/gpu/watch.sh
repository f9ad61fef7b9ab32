#!/usr/bin/env bash
# GPU machine: the GPU watch under a real load, with its own verdict.
#   1. `gpurunner core serve` on loopback (SQLite in $OUT), a Space on h200, a runner token; `nvidia-smi dmon`
#      sampling every second in the background for the whole script;
#   2. `exec` WITHOUT the watch (--no-gpu-watch): 60 s of bf16 8192^3 matmuls (bench/gpu/watch_matmul.py) -> TFLOP/s;
#   3. `exec` WITH the watch (NVML events registered, poll every 5 s, heartbeats every 1 s as in 2): the same app;
#   4. checks: 0 false alarms (no GPU event of class user/hardware/driver; power-cap throttling may appear, as
#      information only); the runner's heartbeat readings vs dmon over the same steady window (medians: utilisation
#      within 5 points, memory used within 2 %, power within 5 %); the watch's cost on the app's throughput <= 1 %;
#      the heartbeat's size in bytes; the Space page and the fleet page saved as HTML (render them elsewhere).
# Usage (repo root, after bench/gpu/publish.sh here):  bash bench/gpu/watch.sh   (about 3 min)
# Env: SECONDS_RUN (default 60), ORDER ("without-with", default, or "with-without"), WATCH_APP (the app command,
# default "python3 bench/gpu/watch_matmul.py"; a stub lets the script be tried without a GPU).
# Writes to $OUT: run.log (verdict, /metrics GPU series), exec-with.log, exec-without.log, dmon.txt, core.log,
# space.html, fleet.html, watch.json (every figure). The database stays in $WORK (/tmp/gpurunner-watch).
set -uo pipefail
source bench/gpu/local-core.sh
SECS=${SECONDS_RUN:-60}; ORDER=${ORDER:-without-with}
PORT=${PORT_CORE:-18788}; URL="http://127.0.0.1:$PORT"; OWNER=alice; OWNER_TOKEN=alice-local-token; ROOT_TOKEN=root-local-token
WORK=${WORK:-/tmp/gpurunner-watch}; rm -rf "$WORK"; mkdir -p "$WORK"  # the database and outboxes: not sent back
export GPURUNNER_DATA="$WORK/data" DOTNET_BUNDLE_EXTRACT_BASE_DIR="$WORK/bundle"
mkdir -p "$GPURUNNER_DATA"

start_core "$WORK" --admin "root=$ROOT_TOKEN"
TZ=UTC nvidia-smi dmon -s pucm -d 1 -o DT > "$OUT/dmon.txt" 2>&1 &
DMON_PID=$!
trap 'kill $CORE_PID $DMON_PID 2>/dev/null' EXIT
export GPURUNNER_CORE_URL="$URL" GPURUNNER_TOKEN="$OWNER_TOKEN"
for s in with without; do
  timeout 30 "$G" spaces create "$OWNER/watch-$s" --hardware "$GPU_FLAVOR" >>"$LOG" 2>&1 || say "spaces create watch-$s failed"
done
RT_WITH=$(timeout 30 "$G" spaces token "$OWNER/watch-with" 2>>"$LOG" | tail -1)
FETCH_PID=
RT_WITHOUT=$(timeout 30 "$G" spaces token "$OWNER/watch-without" 2>>"$LOG" | tail -1)

# A page through the login form (session cookie + CSRF field), as a browser would: fetch TOKEN PATH DEST.
fetch() {
  python3 - "$URL" "$1" "$2" "$3" <<'PY' >> "$LOG" 2>&1
import sys, re, urllib.request, urllib.parse, http.cookiejar
url, token, path, dest = sys.argv[1:5]
op = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
page = op.open(url + "/login", timeout=10).read().decode()
csrf = re.search(r'name="_csrf" value="([^"]+)"', page).group(1)
op.open(url + "/login", urllib.parse.urlencode({"_csrf": csrf, "token": token, "next": path}).encode(), timeout=10)
html = op.open(url + path, timeout=10).read().decode()
open(dest, "w").write(html)
print(f"saved {path} -> {dest} ({len(html)} bytes)")
PY
}

run() { # $1 = with|without
  local token flag=""
  if [ "$1" = with ]; then token=$RT_WITH; else token=$RT_WITHOUT; flag=--no-gpu-watch; fi
  say "exec $1 the watch: $SECS s of bf16 matmuls"
  local t0=$(date +%s.%N)
  # The fleet page is taken mid-run (a live Space); the Space page after it (the whole run charted).
  if [ "$1" = with ]; then ( sleep $((SECS / 2 + 5)); fetch "$ROOT_TOKEN" /admin/fleet "$OUT/fleet.html" ) & FETCH_PID=$!; fi
  timeout $((SECS + 120)) "$G" exec --core "$URL" --space "$OWNER/watch-$1" --token "$token" --heartbeat 1 $flag \
    --ready-log '^workload started' -- ${WATCH_APP:-python3 bench/gpu/watch_matmul.py} "$SECS" > "$OUT/exec-$1.log" 2>&1
  say "exec $1: exit $?, $(awk "BEGIN{printf \"%.1f\", $(date +%s.%N) - $t0}") s wall; $(grep RESULT "$OUT/exec-$1.log")"
  grep -E '^\[gpurunner\] (GPU|stage)' "$OUT/exec-$1.log" | head -20 >> "$LOG"
}
if [ "$ORDER" = with-without ]; then run with; run without; else run without; run with; fi
wait "$FETCH_PID" 2>/dev/null
fetch "$OWNER_TOKEN" /spaces/alice/watch-with "$OUT/space.html"

curl -s "$URL/metrics" 2>/dev/null | grep -E '^(DCGM_|gpurunner_gpu)' >> "$LOG" || \
  python3 -c "import urllib.request;print(urllib.request.urlopen('$URL/metrics').read().decode())" | grep -E '^(DCGM_|gpurunner_gpu)' >> "$LOG"
kill $DMON_PID 2>/dev/null; kill $CORE_PID; wait $CORE_PID 2>/dev/null

python3 - "$OUT" "$WORK" <<'PY' 2>&1 | tee -a "$LOG"
import json, re, sqlite3, statistics, sys, datetime
out, work = sys.argv[1:3]
db = sqlite3.connect(f"{work}/core.db")
def tflops(which):
    m = re.search(r"RESULT tflops=([\d.]+)", open(f"{out}/exec-{which}.log").read())
    return float(m.group(1)) if m else None
with_t, without_t = tflops("with"), tflops("without")
overhead = None if not with_t or not without_t else (without_t - with_t) / without_t * 100
# GPU events of the watched run: anything but class info is a false alarm on a healthy GPU.
events = db.execute("SELECT kind, payload FROM events WHERE space_id='alice/watch-with' AND kind LIKE 'gpu:%'").fetchall()
notes = [json.loads(p)["note"] for _, p in events]
alarms = [n for n in notes if n["class"] != "info"]
# The runner's readings vs dmon, medians over the steady window (from 5 s after RUNNING to the end of the run).
rows = db.execute("SELECT at_ms, payload FROM events WHERE space_id='alice/watch-with' AND kind='heartbeat' ORDER BY at_ms").fetchall()
running = db.execute("SELECT min(at_ms) FROM events WHERE space_id='alice/watch-with' AND kind='stage:RUNNING'").fetchone()[0] or 0
beats = [(a, json.loads(p)[0]) for a, p in rows if p and json.loads(p)]
steady = [(a, g) for a, g in beats if a >= running + 5000]
lo, hi = (steady[0][0], steady[-1][0]) if steady else (0, 0)
hdr, dm = None, []
for line in open(f"{out}/dmon.txt"):
    f = line.split()
    if line.startswith("#") and "Date" in line and hdr is None: hdr = line.lstrip("#").split(); continue
    if line.startswith("#") or not hdr or len(f) != len(hdr): continue
    r = dict(zip(hdr, f))
    try:
        t = datetime.datetime.strptime(r["Date"] + " " + r["Time"], "%Y%m%d %H:%M:%S").replace(tzinfo=datetime.timezone.utc).timestamp() * 1000
    except Exception: continue
    dm.append((t, r))
# dmon ran with TZ=UTC, so its Date/Time columns are UTC like the heartbeats' at.
dsteady = [r for t, r in dm if lo <= t <= hi]
def med(xs): xs = [x for x in xs if x is not None]; return statistics.median(xs) if xs else None
def num(r, k):
    try: return float(r[k])
    except Exception: return None
ours = {"util": med([g.get("utilizationPct") for _, g in steady]), "memMiB": med([g.get("memoryUsedMiB") for _, g in steady]),
        "powerW": med([g.get("powerW") for _, g in steady])}
theirs = {"util": med([num(r, "sm") for r in dsteady]), "memMiB": med([num(r, "fb") for r in dsteady]), "powerW": med([num(r, "pwr") for r in dsteady])}
def within(k, tol, rel):
    a, b = ours[k], theirs[k]
    if a is None or b is None: return False
    return abs(a - b) <= (tol * max(abs(b), 1) if rel else tol)
checks = {
    "util within 5 points": within("util", 5, False),
    "memory within 2 %": within("memMiB", 0.02, True),
    "power within 5 %": within("powerW", 0.05, True),
    "0 false alarms": len(alarms) == 0,
    "throughput cost <= 1 %": overhead is not None and overhead <= 1.0,
    "heartbeats with readings >= 30": len(steady) >= 30,
}
sizes = [len(p) for _, p in rows if p]
facts = {"tflops_without": without_t, "tflops_with": with_t, "overhead_pct": overhead, "events": notes, "false_alarms": alarms,
         "ours": ours, "dmon": theirs, "dmon_samples_in_window": len(dsteady), "heartbeats_steady": len(steady),
         "heartbeat_gpus_json_bytes": {"median": med(sizes), "max": max(sizes) if sizes else None},
         "sample_heartbeat": beats[len(beats) // 2][1] if beats else None, "checks": checks}
json.dump(facts, open(f"{out}/watch.json", "w"), indent=1)
print(json.dumps(facts, indent=1))
print("RESULT:", "PASS" if all(checks.values()) else "FAIL " + ", ".join(k for k, v in checks.items() if not v))
PY
