#!/usr/bin/env bash
# GPU machine (issue 4): frameworks see the GPU and the model runs on it. For the lead, with the device tool:
#   run(command="bash bench/gpu/frameworks.sh", carry=[".device"], timeout_s=600)
#   run(command="bash bench/gpu/frameworks.sh ratios", ...)   only sections 4-6 (the GpuRunner/Python ratio table, ~5 min)
# Expects the self-contained publish at .device/gpurunner/gpurunner (models/ beside it). For the ORT CUDA EP, publish
# with -p:OrtGpu=true and put libonnxruntime.so + libonnxruntime_providers_{cuda,shared}.so of
# Microsoft.ML.OnnxRuntime.Gpu.Linux 1.31.0 beside gpurunner (split carry: shared/device/RECIPE.md); without them
# onnx.cuda / --engine ort --device cuda report the named cause instead.
# Writes $OUT/frameworks-summary.txt (read this) and $OUT/frameworks.tar.gz (every log and JSON).
set -uo pipefail
fail=0
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/gpurunner-out}; mkdir -p "$OUT"
d=$(mktemp -d); sum="$OUT/frameworks-summary.txt"; : > "$sum"
# The JIT build hosts TorchSharp and the ORT CUDA EP (bench/gpu/publish.sh; run-all.sh unpacks .device/jit.tgz);
# the NativeAOT build is checked too where it can run (python snippets, model on device via our PTX kernels).
source bench/gpu/unpack.sh
AOT=.device/gpurunner/gpurunner
GR=${GPURUNNER:-$( [ -x .device/jit/gpurunner ] && echo .device/jit/gpurunner || echo $AOT )}
PY=${PYTHON:-python3}
log() { echo "$*" | tee -a "$sum"; }
only=${1:-all}

# step NAME TIMEOUT CMD...: runs under timeout, logs wall time and exit code, keeps stdout/stderr in $d/NAME.{out,err}
step() {
  local name=$1 limit=$2; shift 2
  local t0=$(date +%s.%N)
  timeout "$limit" "$@" > "$d/$name.out" 2> "$d/$name.err"; local rc=$?
  log "$(printf '%-28s rc=%-3s %6.2fs  %s' "$name" "$rc" "$(awk "BEGIN{print $(date +%s.%N) - $t0}")" "$*")"
  return 0
}

log "== host: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | head -1); $($PY --version 2>&1)"
[ -x "$GR" ] || { log "no $GR: publish first (see shared/device/RECIPE.md)"; exit 2; }
log "== ORT libraries beside gpurunner: $(cd "$(dirname "$GR")" && ls libonnxruntime*.so 2>/dev/null | tr '\n' ' ')"

if [ "$only" != ratios ]; then
log "== 1. the document's Python snippets, as users run them"
step py-torch 120 $PY -c "import torch; print(torch.__version__, torch.version.cuda, torch.cuda.is_available(), torch.cuda.device_count(), torch.cuda.get_device_name(torch.cuda.current_device())); x=torch.ones(4).to('cuda'); print((x*2).sum().item())"
step py-jax 120 $PY -c "import jax; print(jax.__version__, jax.devices(), jax.devices()[0].device_kind)"
step py-tf 120 $PY -c "import tensorflow as tf; print(tf.config.list_physical_devices('GPU'))"
for s in py-torch py-jax py-tf; do log "   $s: $(tail -2 "$d/$s.out" | tr '\n' ' ') $(tail -1 "$d/$s.err")"; done

log "== 2. gpurunner verify (framework checks + model on device)"
step verify-frameworks 300 "$GR" verify --only python,onnx,torch,model
step verify-frameworks-json 300 "$GR" verify --only python,onnx,torch,model --json
grep -E '^(PASS|WARN|FAIL|SKIP) |cause:|fix:|verdict' "$d/verify-frameworks.out" | tee -a "$sum"
if [ -x "$AOT" ] && [ "$AOT" != "$GR" ]; then
  step verify-aot 300 "$AOT" verify --only python,model
  grep -E '^(PASS|WARN|FAIL|SKIP) |cause:|verdict' "$d/verify-aot.out" | sed 's/^/   aot: /' | tee -a "$sum"
fi

log "== 3. gpurunner run: every engine, cpu and cuda (batch 64, 500 iterations)"
for spec in "mlp ort cpu" "mlp ort cuda" "mlp torch cpu" "mlp torch cuda" "mlp native cuda" "cnn ort cpu" "cnn ort cuda" "cnn torch cuda"; do
  set -- $spec
  step "run-$1-$2-$3" 300 "$GR" run --model models/$1.onnx --engine $2 --device $3 --batch 64 --iterations ${ITER:-500} --warmup 20 --json
done
step run-mlp-native-plain 120 "$GR" run --model models/mlp.onnx --engine native --device cuda --batch 256 --iterations 200
$PY - "$d" <<'PY' | tee -a "$sum"
import json, glob, os, sys
for f in sorted(glob.glob(os.path.join(sys.argv[1], "run-*.out"))):
    name = os.path.basename(f)[4:-4]
    try: r = json.load(open(f))
    except Exception:
        err = open(f[:-4] + ".err").read().strip().splitlines()
        print(f"   {name:<22} no JSON: {' | '.join(err[:3])}"); continue
    c, l = r["comparison"], r["latency"]
    if c["reference"] == "not run":
        print(f"   {name:<22} FAIL {r['detail']}"); continue
    mem = f"{r['deviceMemoryBytes']/2**20:.1f} MiB" if r.get("deviceMemoryBytes") is not None else "-"
    print(f"   {name:<22} {r['verdict']:<4} p50 {l['p50Ms']:.3f} p95 {l['p95Ms']:.3f} p99 {l['p99Ms']:.3f} ms  "
          f"{r['throughputSamplesPerSecond']:>12,.0f}/s  mem {mem}  maxabs {c['maxAbsDiff']:.2e}  load {r['loadSeconds']:.2f}s  | {r['detail']}")
PY
fi

# Sections 4-6: bench/frameworks/vs-python.sh (the method is in its header): batches 1, 64, 256 of both models, each
# case REPS times in fresh processes, alternating which side goes first; medians and the ratio of medians.
log "== 4. ORT from C# vs Python onnxruntime on the CPU, same .onnx, same run (goal >= 1.0x)"
OUT="$d/vs-ort-cpu" GPURUNNER="$GR" PYTHON=$PY bash bench/frameworks/vs-python.sh --engine ort --device cpu 2>"$d/vs-ort-cpu.progress" | tee -a "$sum"
[ "${PIPESTATUS[0]}" = 0 ] || fail=1
log "== 4b. ORT CUDA EP from C# (the Python onnxruntime here is a CPU-only build: no peer, figures only)"
OUT="$d/vs-ort-cuda" GPURUNNER="$GR" PYTHON=$PY REPS=1 bash bench/frameworks/vs-python.sh --engine ort --device cuda 2>"$d/vs-ort-cuda.progress" | tee -a "$sum"
log "== 5. TorchSharp (C#) vs Python torch on cuda, same weights, same libtorch (goal >= 0.95x)"
OUT="$d/vs-torch-cuda" GPURUNNER="$GR" PYTHON=$PY bash bench/frameworks/vs-python.sh --engine torch --device cuda 2>"$d/vs-torch-cuda.progress" | tee -a "$sum"
[ "${PIPESTATUS[0]}" = 0 ] || fail=1
log "== 6. all GpuRunner/Python ratios in one table"
$PY bench/frameworks/ratio_table.py "$d/vs-ort-cpu" "$d/vs-torch-cuda" 2>&1 | tee -a "$sum"
[ "${PIPESTATUS[0]}" = 0 ] || fail=1

tar -czf "$OUT/frameworks.tar.gz" -C "$d" .
log "== done: $OUT/frameworks-summary.txt, $OUT/frameworks.tar.gz"
# The verdict: sections 4 and 5 have peers and goals (4b has no peer here: figures only; 1-3 print gpurunner's own).
log "$([ $fail = 0 ] && echo ✓ || echo ✗) frameworks: $([ $fail = 0 ] && echo 'ORT CPU and TorchSharp CUDA goals met' || echo 'a goal was missed or has no figure (sections 4-5)')"
exit $fail
