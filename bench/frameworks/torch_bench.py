#!/usr/bin/env python3
"""Python PyTorch side of bench/frameworks/vs-python.sh --engine torch: the model built from the same NAME.json +
NAME.weights.bin with the same functional ops as GpuRunner's torch engine (TorchSharpEngine), float32, TF32 off,
cudnn.benchmark off (TorchSharp 0.107 cannot set it; libtorch's default is off), under no_grad; one iteration is
forward(x.to(dev)).cpu(): one synchronous H2D copy, the layers, one synchronous D2H copy. Prints one JSON line."""
import json, os, sys

import numpy as np

import peer_common as pc

a = pc.parse_args("cuda", "GPU and CPU clocks, caching allocator, cuDNN")
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

m = json.load(open(a.base + ".json"))
raw = np.fromfile(os.path.join(os.path.dirname(a.model), m["weights"]["file"]), dtype="<f4")
dev = torch.device(a.device)
W = {t["name"]: torch.from_numpy(raw[t["offset"] // 4: t["offset"] // 4 + int(np.prod(t["shape"]))].reshape(t["shape"]).copy()).to(dev)
     for t in m["weights"]["tensors"]}
x = torch.from_numpy(pc.tile(np.load(a.base + ".input.npy"), a.batch))   # host tensor, made once (TorchSharpEngine.Bound: the same)

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
    warm, lat, total, out = pc.timed(a, lambda: forward(x.to(dev)).cpu())
pc.report(a, m, {"engine": f"python torch {torch.__version__}", "device": a.device}, warm, lat, total, out.numpy())
