#!/usr/bin/env bash
# Core ingest/invoice benchmark on the idle GPU machine (16 cores; no .NET needed: the self-contained publish).
# The 2-core dev machine is shared by several agents, so its figures are CPU-starved; these are the reference ones.
# SQLite only (no PostgreSQL there). Writes $OUT/core-bench.txt.
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=.device/gpurunner/gpurunner
out=${OUT:-/tmp}
export GPURUNNER_DATA=$(mktemp -d)
"$bin" core bench --db sqlite --runners 8,32,64,128 --seconds 5 --spaces 10000 --days 30 --heartbeats-per-day 24 | tee "$out/core-bench.txt"
