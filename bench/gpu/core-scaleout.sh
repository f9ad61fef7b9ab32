#!/usr/bin/env bash
# The core's scale-out benchmark on the 16-core GPU machine: Debian's PostgreSQL 15 (bench/gpu/pg-carry.sh ->
# .device/pg.txz) started there as an unprivileged user on 127.0.0.1, then `core bench --instances` with 1..4
# `core serve` processes on it. Needs the JIT flavour of bench/gpu/publish.sh (.device/jit.txz). Writes
# $OUT/core-scaleout.txt and the server's log. Also runs here for a check: PG_PORT=55433 bench/gpu/core-scaleout.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:-/tmp}
instances=${INSTANCES:-1,2,3,4}
runners=${RUNNERS:-64}
seconds=${SECONDS_PER_RUN:-10}
port=${PG_PORT:-55432}
if [ -n "${GPURUNNER_BIN:-}" ]; then read -r -a gr <<<"$GPURUNNER_BIN"   # here: "dotnet src/GpuRunner.Cli/bin/Release/net10.0/gpurunner.dll"
else
  [ -x .device/jit/gpurunner ] || source bench/gpu/unpack.sh
  gr=(.device/jit/gpurunner)
  [ -x "${gr[0]}" ] || { echo "core-scaleout: no JIT flavour; run bench/gpu/publish.sh first" >&2; exit 2; }
fi
[ -f .device/pg.txz ] || { echo "core-scaleout: no .device/pg.txz; run bench/gpu/pg-carry.sh first" >&2; exit 2; }

pg=$(mktemp -d /tmp/gpurunner-pg.XXXX)
xz -dc .device/pg.txz | tar -C "$pg" -xf -
bin="$pg/usr/lib/postgresql/15/bin"
export LD_LIBRARY_PATH="$pg/usr/lib/pg-deps${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
data="$pg/data"; mkdir -p "$data" "$pg/sock"
# PostgreSQL refuses to run as root: run it as nobody (setpriv drops to that user for every step).
as=()
if [ "$(id -u)" = 0 ]; then
  chown -R nobody "$pg"; chmod 755 "$pg"
  as=(setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups --reset-env env LD_LIBRARY_PATH="$LD_LIBRARY_PATH")
fi
t0=$(date +%s%N)
timeout 120 "${as[@]}" "$bin/initdb" -D "$data" -U postgres --auth=trust -E UTF8 --locale=C >"$out/pg-initdb.log" 2>&1
cat >>"$data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$pg/sock'
max_connections = 300
shared_buffers = 2GB
synchronous_commit = on
fsync = on
CONF
timeout 60 "${as[@]}" "$bin/pg_ctl" -D "$data" -l "$pg/postgres.log" -w start >/dev/null || { cat "$pg/postgres.log" >&2; exit 1; }
stop() { timeout 60 "${as[@]}" "$bin/pg_ctl" -D "$data" -m fast -w stop >/dev/null 2>&1 || true; cp "$pg/postgres.log" "$out/" 2>/dev/null || true; rm -rf "$pg"; }
trap stop EXIT
echo "postgres started in $(( ($(date +%s%N) - t0) / 1000000 )) ms ($(nproc) CPU cores)"
cs="Host=127.0.0.1;Port=$port;Username=postgres;Database=postgres"
set +e
timeout 540 "${gr[@]}" core bench --instances "$instances" --runners "$runners" --seconds "$seconds" --postgres "$cs" | tee "$out/core-scaleout.txt"
rc=${PIPESTATUS[0]}
set -e
echo "core bench exit code $rc"
exit "$rc"
