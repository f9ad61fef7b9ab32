#!/usr/bin/env python3
"""Python onnxruntime side of bench/frameworks/vs-python.sh: the same .onnx, the same tiled input, the same
warm-up + timed loop as `gpurunner run --engine ort` (one session.run per iteration, host arrays in and out).
Session options are Python's defaults, spelled out as OrtEngine.Create spells them. Prints one JSON line."""
import argparse, gc, json, os, sys, time

import numpy as np

p = argparse.ArgumentParser()
p.add_argument("--model", required=True)          # models/NAME.onnx (NAME.json + NAME.input.npy beside it)
p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
p.add_argument("--batch", type=int, default=8)
p.add_argument("--iterations", type=int, default=100)
p.add_argument("--warmup", type=int, default=10)
# gpurunner's JIT build keeps warming up until its JIT settled (~0.5-1 s); this side keeps warming at least as long,
# so that both timed loops start from the same warm state (CPU clocks, caches, ORT's arena).
p.add_argument("--warmup-seconds", type=float, default=0.0)
a = p.parse_args()
try:
    import onnxruntime as ort
except ImportError as e:
    print(json.dumps({"skipped": f"python onnxruntime not installed ({e})"})); sys.exit(0)

base = os.path.splitext(a.model)[0]
manifest = json.load(open(base + ".json"))
tile = lambda arr: np.ascontiguousarray(np.concatenate([arr] * (a.batch // len(arr) + 1))[: a.batch].astype(np.float32))
x = tile(np.load(base + ".input.npy"))            # row r = shipped row r % rows, as ManagedReference.TiledTestData
providers = ["CPUExecutionProvider"]
if a.device == "cuda":
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        print(json.dumps({"skipped": f"python onnxruntime {ort.__version__} has no CUDAExecutionProvider"})); sys.exit(0)
    providers = [("CUDAExecutionProvider", {"use_tf32": 0})]
opts = ort.SessionOptions()
opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
opts.intra_op_num_threads = 0                     # ORT's choice: one thread per physical core, pinned
opts.inter_op_num_threads = 0
opts.enable_cpu_mem_arena = True
opts.enable_mem_pattern = True
t0 = time.perf_counter()
sess = ort.InferenceSession(a.model, opts, providers=providers)
load = time.perf_counter() - t0
feed = {manifest["input"]["name"]: x}
out_name = [manifest["output"]["name"]]
t0 = time.perf_counter()
warm = 0
while warm < a.warmup or time.perf_counter() - t0 < a.warmup_seconds:
    sess.run(out_name, feed)
    warm += 1
gc.collect()                                      # as gpurunner does before its timed loop
lat = [0.0] * a.iterations
t0 = time.perf_counter()
for i in range(a.iterations):
    t = time.perf_counter()
    out = sess.run(out_name, feed)
    lat[i] = (time.perf_counter() - t) * 1000
total = time.perf_counter() - t0
ref = tile(np.load(base + ".expected.npy"))
tol = manifest.get("tolerance", {"abs": 1e-4, "rel": 1e-3})
lat.sort()
pct = lambda q: lat[max(0, min(len(lat) - 1, -(-q * len(lat) // 100) - 1))]
print(json.dumps({"engine": f"python onnxruntime {ort.__version__}", "providers": sess.get_providers(), "batch": a.batch,
                  "iterations": a.iterations, "warmup": warm, "loadSeconds": load, "p50Ms": pct(50), "p95Ms": pct(95), "p99Ms": pct(99),
                  "throughputSamplesPerSecond": a.batch * a.iterations / total,
                  "maxAbsDiff": float(np.abs(out[0] - ref).max()),
                  "within": bool(np.allclose(out[0], ref, rtol=tol["rel"], atol=tol["abs"]))}))
