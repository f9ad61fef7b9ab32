#!/usr/bin/env bash
# Core benchmark on this machine (loopback only): `gpurunner core bench` built in Release.
# PostgreSQL is measured when --db includes postgres and GPURUNNER_BENCH_POSTGRES (or GPURUNNER_TEST_POSTGRES) is set.
# Example: bench/core/run.sh --db sqlite,postgres --runners 8,64 --seconds 5
# Scale-out: bench/core/run.sh --instances 1,2,3 --runners 64 --seconds 10   (N `core serve` processes on one PostgreSQL)
set -euo pipefail
cd "$(dirname "$0")/../.."
dotnet build -c Release src/GpuRunner.Cli -v q -nologo >/dev/null
dotnet src/GpuRunner.Cli/bin/Release/net10.0/gpurunner.dll core bench "$@"
