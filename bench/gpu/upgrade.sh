#!/usr/bin/env bash
# GPU machine: a hardware upgrade, proven. The published single file as runner, core and CLI, all on loopback.
#   1. `gpurunner core serve` with an operator catalogue that prices the H200; a Space alice/up on cpu-basic;
#   2. exec on cpu-basic: nothing to smoke-test (a CPU flavor pays for no GPU); the app starts at once;
#   3. `spaces upgrade alice/up h200 --wait` in the background; exec on the H200: the quick smoke test runs before the
#      app starts (APP_STARTING, not billed), one line per GPU, the report to the core; the upgrade command prints
#      before/after and exits 0;
#   4. exec again on the same H200: proven already, no smoke test (the start-up time it saves is printed);
#   5. the core's view: GET /api/spaces/alice/up/smoke, runtime, invoice; the Space page's HTML (with its CSS) for
#      rendering elsewhere (Chromium is not on the GPU machine).
# Usage (repo root, the self-contained publish at .device/gpurunner/gpurunner):  bash bench/gpu/upgrade.sh
# Writes to $OUT: run.log (every step, exit codes, wall times), exec-*.log, upgrade.out/.err, core.log, smoke.json,
# runtime.json, invoice.json, page/space.html (+ page/assets/*). The last line is its verdict.
set -uo pipefail
source bench/gpu/local-core.sh
PORT=${PORT_CORE:-18788}; URL="http://127.0.0.1:$PORT"; OWNER=alice; OWNER_TOKEN=alice-local-token
export GPURUNNER_DATA="$OUT/data" DOTNET_BUNDLE_EXTRACT_BASE_DIR="$OUT/bundle"
mkdir -p "$GPURUNNER_DATA"
secs() { awk "BEGIN{printf \"%.2f\", $2 - $1}"; }

start_core "$OUT"
trap 'kill $CORE_PID 2>/dev/null' EXIT
say "core up: $(head -1 "$OUT/core.log")"

export GPURUNNER_CORE_URL="$URL" GPURUNNER_TOKEN="$OWNER_TOKEN"
timeout 30 "$G" spaces create "$OWNER/up" --hardware cpu-basic >>"$LOG" 2>&1; say "spaces create on cpu-basic: exit $?"
RT=$(timeout 30 "$G" spaces token "$OWNER/up" 2>>"$LOG" | tail -1)
[ -n "$RT" ] || { say "no runner token"; exit 1; }

# The app: ready at once, a short life. Each exec reports as the Space's runner (its own token).
run_exec() { # name
  local t0 t1 rc
  t0=$(date +%s.%N)
  timeout 300 "$G" exec --core "$URL" --space "$OWNER/up" --token "$RT" --heartbeat 2 --ready-log '^ready' -- \
    sh -c 'echo ready; sleep 3; echo bye' > "$OUT/exec-$1.log" 2>&1
  rc=$?; t1=$(date +%s.%N)
  echo "$rc $(secs "$t0" "$t1")"
}
say "exec on cpu-basic (expect: smoke skipped, exit 0)"
read -r rc1 w1 < <(run_exec cpu); say "exec cpu-basic: exit $rc1, $w1 s wall"; grep -h "smoke" "$OUT/exec-cpu.log" | tee -a "$LOG"

say "spaces upgrade $OWNER/up $GPU_FLAVOR --wait (background), then exec on the H200 (expect: quick smoke before the app)"
timeout 400 "$G" spaces upgrade "$OWNER/up" "$GPU_FLAVOR" --wait --timeout 300 > "$OUT/upgrade.out" 2> "$OUT/upgrade.err" &
UP_PID=$!
for _ in $(seq 1 100); do
  timeout 10 "$G" spaces runtime "$OWNER/up" 2>/dev/null | grep -q "requested $GPU_FLAVOR" && break; sleep 0.2
done
read -r rc2 w2 < <(run_exec gpu); say "exec $GPU_FLAVOR (smoked): exit $rc2, $w2 s wall"
grep -h "smoke\|SMOKE\|stage\|started" "$OUT/exec-gpu.log" | tee -a "$LOG"
wait $UP_PID; rcu=$?
say "spaces upgrade --wait: exit $rcu"; cat "$OUT/upgrade.out" "$OUT/upgrade.err" | tee -a "$LOG"

say "exec again on the same H200 (expect: proven already, smoke skipped)"
read -r rc3 w3 < <(run_exec gpu-again); say "exec $GPU_FLAVOR again: exit $rc3, $w3 s wall"; grep -h "smoke" "$OUT/exec-gpu-again.log" | tee -a "$LOG"

python3 - "$URL" "$OWNER_TOKEN" "$OUT" <<'PY' 2>&1 | tee -a "$LOG"
import json, re, sys, os, urllib.request, urllib.parse, http.cookiejar
url, token, out = sys.argv[1:4]; F = os.environ["GPU_FLAVOR"]
def api(path):
    r = urllib.request.Request(url + path, headers={"Authorization": "Bearer " + token})
    return json.load(urllib.request.urlopen(r, timeout=10))
for name, path in [("smoke", "/api/spaces/alice/up/smoke"), ("runtime", "/api/spaces/alice/up/runtime"), ("invoice", "/api/usage/spaces/alice/up")]:
    json.dump(api(path), open(f"{out}/{name}.json", "w"), indent=1)
# The Space page as its owner sees it (a logged-in session), with its stylesheet beside it for rendering elsewhere.
jar = http.cookiejar.CookieJar()
web = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
csrf = re.search(r'name="_csrf" value="([^"]+)"', web.open(url + "/login", timeout=10).read().decode()).group(1)
web.open(url + "/login", urllib.parse.urlencode({"token": token, "_csrf": csrf}).encode(), timeout=10)
html = web.open(url + "/spaces/alice/up", timeout=10).read().decode()
os.makedirs(f"{out}/page/assets", exist_ok=True)
for href in set(re.findall(r'(?:href|src)="(/assets/[^"?]+)(?:\?[^"]*)?"', html)):
    open(f"{out}/page/assets/{os.path.basename(href)}", "wb").write(web.open(url + href, timeout=10).read())
html = re.sub(r'(href|src)="/assets/([^"?]+)(\?[^"]*)?"', r'\1="assets/\2"', html)
open(f"{out}/page/space.html", "w").write(html)

smoke = json.load(open(f"{out}/smoke.json")); rt = json.load(open(f"{out}/runtime.json")); inv = json.load(open(f"{out}/invoice.json"))
logs = {n: open(f"{out}/exec-{n}.log").read() for n in ("cpu", "gpu", "gpu-again")}
after = smoke["comparison"]["after"] or {}
took = re.search(r"smoke: (\w+) level on " + F + r" took ([\d.]+) s", logs["gpu"])
print(f"smoke on the {F}:", took.group(0) if took else "MISSING")
for g in after.get("gpus", []):
    print(f"  GPU {g['index']} {g['name']} {g['uuid']}: {g['status']}")
    for f in g["figures"]:
        print(f"    {f['label']:<18} {f['value']} {f['unit']}  spec {f['spec']}  {f['percentOfSpec']} % of spec  {f['status']}")
print(f"report: run {after.get('runId')} at {after.get('at')}, verdict {after.get('verdict')}, {after.get('seconds')} s; verified {smoke['verified']}")
print(f"runtime: stage {rt['stage']}, hardware {rt['hardware']}; invoice lines {[(l['flavor'], l['hourlyMicroUSD'], l['minutes'], l['owedUSD']) for l in inv['lines']]}")
upgrade = open(f"{out}/upgrade.out").read()
checks = {
    "cpu-basic run skipped the smoke test": "smoke: skipped: cpu-basic has no GPU to prove" in logs["cpu"],
    f"{F} run smoked before the app started": bool(took) and logs["gpu"].find("smoke GPU 0") < logs["gpu"].find("] started sh"),
    f"{F} run's app ran": "bye" in logs["gpu"],
    f"second {F} run did not smoke": f"smoke: skipped: {F} on these GPUs was proven" in logs["gpu-again"],
    "upgrade --wait proved it": f"upgrade PROVEN: {F}" in upgrade,
    "core kept the report": after.get("flavor") == F and after.get("verdict") in ("PASS", "WARN") and smoke["hardwareFault"] is None,
    f"billed as {F}": any(l["flavor"] == F and l["hourlyMicroUSD"] == 10000000 for l in inv["lines"]),
    "page has the proof card": 'id="smoke"' in html and F in html,
}
for k, v in checks.items(): print(f"  {'ok ' if v else 'NO '} {k}")
print("RESULT:", "PASS" if all(checks.values()) else "FAIL")
PY
say "wall: cpu-basic exec ${w1} s, $GPU_FLAVOR exec with smoke ${w2} s, $GPU_FLAVOR exec without ${w3} s (smoke added $(awk "BEGIN{printf \"%.1f\", $w2 - $w3}") s); exit codes $rc1 $rc2 $rcu $rc3"
