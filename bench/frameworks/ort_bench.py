#!/usr/bin/env python3
"""Python onnxruntime side of bench/frameworks/vs-python.sh: the same .onnx, the same tiled input, the same
warm-up + timed loop as `gpurunner run --engine ort` (one session.run per iteration, host arrays in and out).
Session options are Python's defaults, spelled out as OrtEngine.Create spells them. Prints one JSON line."""
import json, sys, time

import numpy as np

import peer_common as pc

a = pc.parse_args("cpu", "CPU clocks, caches, ORT's arena")
try:
    import onnxruntime as ort
except ImportError as e:
    print(json.dumps({"skipped": f"python onnxruntime not installed ({e})"})); sys.exit(0)

manifest = json.load(open(a.base + ".json"))
x = pc.tile(np.load(a.base + ".input.npy"), a.batch)
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
warm, lat, total, out = pc.timed(a, lambda: sess.run(out_name, feed))
pc.report(a, manifest, {"engine": f"python onnxruntime {ort.__version__}", "providers": sess.get_providers(), "loadSeconds": load},
          warm, lat, total, out[0])
