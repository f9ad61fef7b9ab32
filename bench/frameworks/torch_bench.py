#!/usr/bin/env python3
"""Python PyTorch side of the TorchSharp comparison (bench/gpu/frameworks.sh): the model built from the same
NAME.json + NAME.weights.bin with the same functional ops as GpuRunner's torch engine, TF32 off, one forward per
iteration with the input copied to the device and the output back (x.to(dev) ... .cpu()). Prints one JSON line."""
import argparse, json, os, sys, time

import numpy as np

p = argparse.ArgumentParser()
p.add_argument("--model", required=True)
p.add_argument("--device", default="cuda", choices=["cpu", "cuda"])
p.add_argument("--batch", type=int, default=8)
p.add_argument("--iterations", type=int, default=100)
p.add_argument("--warmup", type=int, default=10)
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

base = os.path.splitext(a.model)[0]
m = json.load(open(base + ".json"))
raw = np.fromfile(os.path.join(os.path.dirname(a.model), m["weights"]["file"]), dtype="<f4")
dev = torch.device(a.device)
W = {t["name"]: torch.from_numpy(raw[t["offset"] // 4: t["offset"] // 4 + int(np.prod(t["shape"]))].reshape(t["shape"]).copy()).to(dev)
     for t in m["weights"]["tensors"]}
x = np.load(base + ".input.npy")
x = torch.from_numpy(np.concatenate([x] * (a.batch // len(x) + 1))[: a.batch].astype(np.float32))

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
    for _ in range(a.warmup):
        forward(x.to(dev)).cpu()
    lat = []
    t0 = time.perf_counter()
    for _ in range(a.iterations):
        t = time.perf_counter()
        out = forward(x.to(dev)).cpu()
        lat.append((time.perf_counter() - t) * 1000)
    total = time.perf_counter() - t0
expected = np.load(base + ".expected.npy")
ref = np.concatenate([expected] * (a.batch // len(expected) + 1))[: a.batch]
lat.sort()
pct = lambda q: lat[max(0, min(len(lat) - 1, -(-q * len(lat) // 100) - 1))]
print(json.dumps({"engine": f"python torch {torch.__version__}", "device": a.device, "batch": a.batch, "iterations": a.iterations,
                  "p50Ms": pct(50), "p95Ms": pct(95), "p99Ms": pct(99), "throughputSamplesPerSecond": a.batch * a.iterations / total,
                  "maxAbsDiff": float(np.abs(out.numpy() - ref).max())}))
