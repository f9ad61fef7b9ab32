#!/usr/bin/env python3
"""Python PyTorch side of bench/frameworks/vs-python.sh --engine torch: the model built from the same NAME.json +
NAME.weights.bin with the same functional ops as GpuRunner's torch engine (TorchSharpEngine), float32, TF32 off,
cudnn.benchmark off (TorchSharp 0.107 cannot set it; libtorch's default is off), under no_grad; one iteration is
forward(x.to(dev)).cpu(): one synchronous H2D copy, the layers, one synchronous D2H copy. Prints one JSON line."""
import argparse, gc, json, os, sys, time

import numpy as np

p = argparse.ArgumentParser()
p.add_argument("--model", required=True)
p.add_argument("--device", default="cuda", choices=["cpu", "cuda"])
p.add_argument("--batch", type=int, default=8)
p.add_argument("--iterations", type=int, default=100)
p.add_argument("--warmup", type=int, default=10)
# gpurunner's JIT build keeps warming up until its JIT settled (~0.5-1 s); this side keeps warming at least as long,
# so that both timed loops start from the same warm state (GPU and CPU clocks, caching allocator, cuDNN).
p.add_argument("--warmup-seconds", type=float, default=0.0)
a = p.parse_args()
try:
    import torch
    import torch.nn.functional as F
except ImportError as e:
    print(json.dumps({"skipped": f"torch not installed ({e})"})); sys.exit(0)
if a.device == "cuda" and not torch.cuda.is_available():
    print(json.dumps({"skipped": "torch.cuda.is_available() is False"})); sys.exit(0)
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
torch.backends.cudnn.benchmark = False

base = os.path.splitext(a.model)[0]
m = json.load(open(base + ".json"))
raw = np.fromfile(os.path.join(os.path.dirname(a.model), m["weights"]["file"]), dtype="<f4")
dev = torch.device(a.device)
W = {t["name"]: torch.from_numpy(raw[t["offset"] // 4: t["offset"] // 4 + int(np.prod(t["shape"]))].reshape(t["shape"]).copy()).to(dev)
     for t in m["weights"]["tensors"]}
tile = lambda arr: np.ascontiguousarray(np.concatenate([arr] * (a.batch // len(arr) + 1))[: a.batch].astype(np.float32))
x = torch.from_numpy(tile(np.load(base + ".input.npy")))   # host tensor, made once (TorchSharpEngine.Bound: the same)

def forward(h):
    for l in m["layers"]:
        op = l["op"]
        if op == "linear": h = F.linear(h, W[l["weight"]], W.get(l.get("bias")))
        elif op == "relu": h = F.relu(h)
        elif op == "softmax": h = F.softmax(h, dim=l.get("axis", 1))
        elif op == "conv2d": h = F.conv2d(h, W[l["weight"]], W.get(l.get("bias")), padding=l.get("padding", 0))
        elif op == "maxpool2d": h = F.max_pool2d(h, l["kernel"], l["kernel"])
        elif op == "flatten": h = h.flatten(1)
        else: raise SystemExit(f"unknown op {op}")
    return h

with torch.no_grad():
    t0 = time.perf_counter()
    warm = 0
    while warm < a.warmup or time.perf_counter() - t0 < a.warmup_seconds:
        forward(x.to(dev)).cpu()
        warm += 1
    gc.collect()                                  # as gpurunner does before its timed loop
    lat = [0.0] * a.iterations
    t0 = time.perf_counter()
    for i in range(a.iterations):
        t = time.perf_counter()
        out = forward(x.to(dev)).cpu()
        lat[i] = (time.perf_counter() - t) * 1000
    total = time.perf_counter() - t0
ref = tile(np.load(base + ".expected.npy"))
tol = m.get("tolerance", {"abs": 1e-4, "rel": 1e-3})
lat.sort()
pct = lambda q: lat[max(0, min(len(lat) - 1, -(-q * len(lat) // 100) - 1))]
print(json.dumps({"engine": f"python torch {torch.__version__}", "device": a.device, "batch": a.batch, "iterations": a.iterations,
                  "warmup": warm, "p50Ms": pct(50), "p95Ms": pct(95), "p99Ms": pct(99),
                  "throughputSamplesPerSecond": a.batch * a.iterations / total,
                  "maxAbsDiff": float(np.abs(out.numpy() - ref).max()),
                  "within": bool(np.allclose(out.numpy(), ref, rtol=tol["rel"], atol=tol["abs"]))}))
