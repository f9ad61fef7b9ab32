#!/usr/bin/env bash
# Core ingest/invoice benchmark on the idle GPU machine (16 cores; no .NET needed: the self-contained publish).
# The 2-core dev machine is shared by several agents, so its figures are CPU-starved; these are the reference ones.
# SQLite only (no PostgreSQL there). Needs the JIT flavour of bench/gpu/publish.sh (.device/jit.tgz): the core's
# ASP.NET endpoints serialise with reflection, which the NativeAOT flavour does not carry. Writes $OUT/core-bench.txt.
set -euo pipefail
cd "$(dirname "$0")/../.."
source bench/gpu/unpack.sh
out=${OUT:-/tmp}
if [ -x .device/jit/gpurunner ]; then bin=.device/jit/gpurunner
elif [ -f .device/jit.tgz ]; then tmp=$(mktemp -d); tar -C "$tmp" -xzf .device/jit.tgz; bin="$tmp/jit/gpurunner"
else echo "core-bench: no JIT flavour (.device/jit.tgz); run bench/gpu/publish.sh first" >&2; exit 2; fi
export GPURUNNER_DATA=$(mktemp -d)
"$bin" core bench --db sqlite --runners 8,32,64,128 --seconds 5 --spaces 10000 --days 30 --heartbeats-per-day 24 | tee "$out/core-bench.txt"
