#!/usr/bin/env bash
# Inference throughput on the same .onnx, in the same run: GpuRunner (ONNX Runtime from C#) vs Python onnxruntime.
# Goal: ratio (GpuRunner / Python) >= 1.0. Both use ORT's default threading, ORT_ENABLE_ALL, one run per iteration
# with host arrays in and out, the same tiled input, the same warm-up and iteration counts.
#
# usage: bench/frameworks/ort-vs-python.sh [--device cpu|cuda]
# env:   GPURUNNER (default: .device/gpurunner/gpurunner if present, else `dotnet run` of src/GpuRunner.Cli, Release)
#        PYTHON (python3)  MODELS ("mlp cnn")  BATCHES ("1 64")  ITER (300)  WARMUP (20)  OUT (folder for JSON; optional)
set -uo pipefail
cd "$(dirname "$0")/../.."
device=cpu
[ "${1:-}" = "--device" ] && device="${2:?--device needs cpu or cuda}"
PYTHON=${PYTHON:-python3}; MODELS=${MODELS:-"mlp cnn"}; BATCHES=${BATCHES:-"1 64"}; ITER=${ITER:-300}; WARMUP=${WARMUP:-20}
if [ -z "${GPURUNNER:-}" ]; then
  if [ -x .device/gpurunner/gpurunner ]; then GPURUNNER=.device/gpurunner/gpurunner
  else
    dotnet build src/GpuRunner.Cli -c Release -o artifacts/bench-cli -v q >/dev/null || { echo "build failed"; exit 70; }
    GPURUNNER=artifacts/bench-cli/gpurunner
  fi
fi
out=${OUT:-$(mktemp -d)}
mkdir -p "$out"
have_py=1
if ! "$PYTHON" -c 'import onnxruntime' 2>/dev/null; then
  have_py=0
  echo "python onnxruntime: not installed for $PYTHON (on the dev/CI machine there is no PyPI access and Debian has no package): GpuRunner figures only"
fi
printf '%-5s %-6s %5s  %14s  %14s  %6s  %s\n' model device batch "gpurunner/s" "python/s" ratio "p50 ms (gpurunner / python)"
for model in $MODELS; do
  for batch in $BATCHES; do
    g="$out/ort-$model-$device-b$batch.gpurunner.json"; p="$out/ort-$model-$device-b$batch.python.json"
    # Both sides read the repository's models/ (the same bytes the publish copies beside gpurunner).
    timeout 600 "$GPURUNNER" run --model "models/$model.onnx" --engine ort --device "$device" \
      --batch "$batch" --iterations "$ITER" --warmup "$WARMUP" --json > "$g" 2>"$g.err"
    rc=$?
    [ $have_py = 1 ] && timeout 600 "$PYTHON" bench/frameworks/ort_bench.py --model "models/$model.onnx" --device "$device" \
      --batch "$batch" --iterations "$ITER" --warmup "$WARMUP" > "$p" 2>"$p.err"
    "$PYTHON" - "$g" "$p" "$model" "$device" "$batch" "$rc" <<'PY'
import json, sys, os
g, p, model, device, batch, rc = sys.argv[1:]
def load(f):
    try: return json.load(open(f)) if os.path.getsize(f) else None
    except Exception: return None
G, P = load(g), load(p) if os.path.exists(p) else None
gt = G["throughputSamplesPerSecond"] if G and G.get("verdict") == "PASS" else None
pt = P.get("throughputSamplesPerSecond") if P and "skipped" not in P else None
ratio = f"{gt / pt:.2f}x" if gt and pt else "-"
note = "" if gt else f"gpurunner exit {rc}: {open(g + '.err').read().strip().splitlines()[:1]}"
if P and "skipped" in P: note += " python: " + P["skipped"]
p50 = f"{G['latency']['p50Ms']:.3f} / {P['p50Ms']:.3f}" if gt and pt else (f"{G['latency']['p50Ms']:.3f} / -" if gt else "-")
print(f"{model:<5} {device:<6} {batch:>5}  {gt or 0:>14,.0f}  {pt or 0:>14,.0f}  {ratio:>6}  {p50} {note}")
PY
  done
done
echo "JSON: $out"
