# Sourced first by the bench/gpu scripts that run the published gpurunner against a core on loopback (exec, upgrade,
# watch). It sets $OUT (made), unpacks the publish, sets $G (the NativeAOT gpurunner, absolute) and $LOG (emptied),
# defines say (a "== " line on stdout and in $LOG), exits 2 when the publish is missing, and says which machine this is.
OUT=${OUT:-/tmp/gpurunner-out}; mkdir -p "$OUT"
source bench/gpu/unpack.sh
G=${GPURUNNER:-.device/gpurunner/gpurunner}
G=$(readlink -f "$G" 2>/dev/null || echo "$G")
LOG="$OUT/run.log"; : > "$LOG"
say() { echo "== $*" | tee -a "$LOG"; }
[ -x "$G" ] || { say "missing $G (run bash bench/gpu/publish.sh here first)"; exit 2; }
say "machine: $(nvidia-smi -L 2>&1 | head -1); driver $(nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>&1 | head -1); $(uname -r); $(nproc) CPUs; binary $(du -h "$G" | cut -f1)"

# Sourced by the bench/gpu scripts that need a core: start_core DIR [core serve options...] writes an operator
# catalogue that prices this machine's GPU flavor (the built-in one prices only the default tiers; $10/h is an
# assumption for the test, not a Spaces price), starts `$G core serve` on $URL with SQLite in DIR and the user
# $OWNER, logs to $OUT/core.log, and waits until /healthz answers. Sets CORE_PID; the caller sets its own trap.
start_core() {
  local dir=$1; shift
  python3 - requirements/tiers.json "$dir/tiers-gpu.json" "$GPU_FLAVOR" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))
for f in t["flavors"]:
    if f["id"] == sys.argv[3]:
        f.update({"default": True, "vcpu": 16, "ramGB": 128, "diskGB": 250, "priceMicroUsdPerHour": 10000000})
json.dump(t, open(sys.argv[2], "w"), indent=1)
PY
  "$G" core serve --urls "$URL" --db "sqlite:$dir/core.db" --user "$OWNER=$OWNER_TOKEN" --tick 1 \
    --catalogue "$dir/tiers-gpu.json" "$@" > "$OUT/core.log" 2>&1 &
  CORE_PID=$!
  for _ in $(seq 1 100); do
    python3 -c "import urllib.request; urllib.request.urlopen('$URL/healthz', timeout=1)" 2>/dev/null && return 0; sleep 0.2
  done
  return 1
}
