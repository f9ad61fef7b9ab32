#!/usr/bin/env python3
"""Python onnxruntime side of bench/frameworks/ort-vs-python.sh: the same .onnx, the same tiled input, the same
warm-up + timed loop as `gpurunner run` (one session.run per iteration, host arrays in and out). Prints one JSON line."""
import argparse, json, os, sys, time

import numpy as np

p = argparse.ArgumentParser()
p.add_argument("--model", required=True)          # models/NAME.onnx (NAME.json + NAME.input.npy beside it)
p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
p.add_argument("--batch", type=int, default=8)
p.add_argument("--iterations", type=int, default=100)
p.add_argument("--warmup", type=int, default=10)
a = p.parse_args()
try:
    import onnxruntime as ort
except ImportError as e:
    print(json.dumps({"skipped": f"python onnxruntime not installed ({e})"})); sys.exit(0)

base = os.path.splitext(a.model)[0]
x = np.load(base + ".input.npy")
x = np.concatenate([x] * (a.batch // len(x) + 1))[: a.batch].astype(np.float32)
manifest = json.load(open(base + ".json"))
providers = ["CPUExecutionProvider"]
if a.device == "cuda":
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        print(json.dumps({"skipped": f"python onnxruntime {ort.__version__} has no CUDAExecutionProvider"})); sys.exit(0)
    providers = [("CUDAExecutionProvider", {"use_tf32": 0})]
opts = ort.SessionOptions()
opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
t0 = time.perf_counter()
sess = ort.InferenceSession(a.model, opts, providers=providers)
load = time.perf_counter() - t0
feed = {manifest["input"]["name"]: x}
out_name = [manifest["output"]["name"]]
for _ in range(a.warmup):
    sess.run(out_name, feed)
lat = []
t0 = time.perf_counter()
for _ in range(a.iterations):
    t = time.perf_counter()
    sess.run(out_name, feed)
    lat.append((time.perf_counter() - t) * 1000)
total = time.perf_counter() - t0
lat.sort()
pct = lambda q: lat[max(0, min(len(lat) - 1, -(-q * len(lat) // 100) - 1))]
print(json.dumps({"engine": f"python onnxruntime {ort.__version__}", "providers": sess.get_providers(), "batch": a.batch,
                  "iterations": a.iterations, "loadSeconds": load, "p50Ms": pct(50), "p95Ms": pct(95), "p99Ms": pct(99),
                  "throughputSamplesPerSecond": a.batch * a.iterations / total}))
