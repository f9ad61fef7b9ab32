#!/usr/bin/env bash
# GpuRunner vs its Python peer on the same model and input, in the same run (issue 4's framework goals):
#   --engine ort   ONNX Runtime from C# (`gpurunner run --engine ort`) vs Python onnxruntime (ort_bench.py), same .onnx;
#                  goal ratio >= 1.0
#   --engine torch TorchSharp (`gpurunner run --engine torch`) vs Python torch (torch_bench.py), same NAME.weights.bin
#                  and functional ops; goal ratio >= 0.95
# Like for like: the same tiled input, session options / dtype / TF32 / cudnn.benchmark settings, warm-up count plus at
# least WARMUP_S seconds of warm-up on both sides (gpurunner's JIT build settles its tier-up, ~0.5-1 s), the same
# iteration count, one run per iteration with host arrays in and out. Every case runs REPS times, each side in its own
# process, alternating which side goes first; ratio_table.py prints medians and the ratio of medians (gpurunner/python)
# with ✓/✗ per case. Exit 1 when a goal is missed or a figure is missing.
#
# usage: bench/frameworks/vs-python.sh --engine ort|torch [--device cpu|cuda]      (default device: ort cpu, torch cuda)
# env:   GPURUNNER (default: .device/jit/gpurunner, else .device/gpurunner/gpurunner, else a Release build here)
#        PYTHON (python3)  MODELS ("mlp cnn")  BATCHES ("1 64 256")  REPS (3)  WARMUP (100)  WARMUP_S (1)
#        ITER (default per batch: 5000 at b<=8, 2000 at b<=64, 500 above)  RUN_TIMEOUT (180 s per process)
#        OUT (folder for the JSON; optional)
set -uo pipefail
cd "$(dirname "$0")/../.."
engine=""; device=""
while [ $# -gt 0 ]; do
  case "$1" in
    --engine) engine="${2:?--engine needs ort or torch}"; shift 2 ;;
    --device) device="${2:?--device needs cpu or cuda}"; shift 2 ;;
    *) echo "usage: $0 --engine ort|torch [--device cpu|cuda]"; exit 64 ;;
  esac
done
case "$engine" in ort) device=${device:-cpu}; peer=bench/frameworks/ort_bench.py ;;
                  torch) device=${device:-cuda}; peer=bench/frameworks/torch_bench.py ;;
                  *) echo "usage: $0 --engine ort|torch [--device cpu|cuda]"; exit 64 ;; esac
PYTHON=${PYTHON:-python3}; MODELS=${MODELS:-"mlp cnn"}; BATCHES=${BATCHES:-"1 64 256"}
REPS=${REPS:-3}; WARMUP=${WARMUP:-100}; WARMUP_S=${WARMUP_S:-1}
if [ -z "${GPURUNNER:-}" ]; then
  [ -f .device/jit.tgz ] && [ ! -x .device/jit/gpurunner ] && tar -xzf .device/jit.tgz -C .device
  if [ -x .device/jit/gpurunner ]; then GPURUNNER=.device/jit/gpurunner
  elif [ -x .device/gpurunner/gpurunner ]; then GPURUNNER=.device/gpurunner/gpurunner
  else
    dotnet build src/GpuRunner.Cli -c Release -o artifacts/bench-cli -v q >/dev/null || { echo "build failed"; exit 70; }
    GPURUNNER=artifacts/bench-cli/gpurunner
  fi
fi
# TorchSharp loads the libtorch of the Python it is given: the peer's own torch/lib, so both run the same kernels.
pyopt=(); [ "$engine" = torch ] && py=$(command -v "$PYTHON") && pyopt=(--python "$py")
out=${OUT:-$(mktemp -d)}
mkdir -p "$out"
iters() { if [ -n "${ITER:-}" ]; then echo "$ITER"; elif [ "$1" -le 8 ]; then echo 5000; elif [ "$1" -le 64 ]; then echo 2000; else echo 500; fi; }
echo "$engine on $device: $GPURUNNER vs $PYTHON $peer; models $MODELS, batches $BATCHES, $REPS reps, warm-up $WARMUP + ${WARMUP_S}s; $(nproc) CPUs"
for rep in $(seq "$REPS"); do
  for model in $MODELS; do
    for batch in $BATCHES; do
      it=$(iters "$batch"); f="$out/$engine-$model-$device-b$batch-r$rep"
      # Both sides read the repository's models/ (the same bytes the publish copies beside gpurunner).
      ours() { timeout "${RUN_TIMEOUT:-180}" "$GPURUNNER" run --model "models/$model.onnx" --engine "$engine" --device "$device" \
                 --batch "$batch" --iterations "$it" --warmup "$WARMUP" "${pyopt[@]}" --json > "$f.gpurunner.json" 2> "$f.gpurunner.err"; }
      theirs() { timeout "${RUN_TIMEOUT:-180}" "$PYTHON" "$peer" --model "models/$model.onnx" --device "$device" --batch "$batch" \
                   --iterations "$it" --warmup "$WARMUP" --warmup-seconds "$WARMUP_S" > "$f.python.json" 2> "$f.python.err"; }
      if [ $((rep % 2)) = 1 ]; then ours; theirs; else theirs; ours; fi
      echo "  rep $rep $model b$batch: done" >&2
    done
  done
done
# The verdict: ratio_table.py prints ✓/✗ per case and exits 1 when a goal is missed or a figure is missing.
"$PYTHON" bench/frameworks/ratio_table.py "$out"; rc=$?
echo "JSON: $out"
exit $rc
