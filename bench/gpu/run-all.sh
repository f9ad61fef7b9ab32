#!/usr/bin/env bash
# GPU machine: runs the per-issue GPU scripts in one device call and packs every output into $OUT/all.tgz
# (the device tool returns at most 8 files). Usage: bash bench/gpu/run-all.sh [detect-verify smoke frameworks exec core-bench]
set -uo pipefail
cd "$(dirname "$0")/../.."
final=${OUT:-/tmp/gpu-out}; work=$(mktemp -d)
# The JIT flavour (TorchSharp, ORT CUDA EP) and the xz'd NativeAOT files travel packed; unpack them.
source bench/gpu/unpack.sh
steps=("$@"); [ ${#steps[@]} -gt 0 ] || steps=(detect-verify smoke frameworks exec core-bench)
for s in "${steps[@]}"; do
  mkdir -p "$work/$s"; t0=$(date +%s)
  OUT="$work/$s" timeout "${STEP_TIMEOUT:-420}" bash "bench/gpu/$s.sh" > "$work/$s/stdout.txt" 2>&1; rc=$?
  echo "== $s: exit $rc, $(( $(date +%s) - t0 )) s"; tail -n "${TAIL:-25}" "$work/$s/stdout.txt"
done
tar -czf "$final/${PACK:-all}.tgz" -C "$work" .
