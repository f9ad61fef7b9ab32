#!/usr/bin/env python3
"""Builds GpuRunner's small test models, deterministically (fixed seeds), with numpy + onnx only.

Run with Debian's packages (apt install python3-onnx python3-numpy):  /usr/bin/python3 models/make_models.py
Outputs (next to this script), per model NAME in {mlp, cnn}:
  NAME.onnx          ONNX graph, opset 13, dynamic batch dimension "batch" (ONNX Runtime 1.31 runs it)
  NAME.weights.bin   the same weights, raw little-endian float32, concatenated (TorchSharp / native engine)
  NAME.json          manifest: layers in order, each tensor's name/shape/offset in the .bin, input/output names
                     and shapes, tolerance, and the fixed test data files
  NAME.input.npy     fixed input batch (float32)
  NAME.expected.npy  its expected output, computed here in float64 numpy from the same float32 weights
The expected outputs are computed independently of ONNX Runtime, so a test that runs the .onnx in ORT and
compares is a real cross-check of both.
"""
import json
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
OPSET = 13
# float32 inference vs a float64 reference: differences come from summation order only. Documented in README.
TOLERANCE = {"abs": 1e-4, "rel": 1e-3}


def softmax(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


# ---------------------------------------------------------------- MLP classifier (trained on synthetic blobs)
def train_mlp(rng, sizes, classes, steps=300, lr=0.05):
    """A 3-layer MLP trained with plain SGD on 10 Gaussian blobs: small, but it really classifies."""
    centers = rng.normal(0, 1, (classes, sizes[0]))
    def batch(n):
        y = rng.integers(0, classes, n)
        return (centers[y] + rng.normal(0, 4.0, (n, sizes[0]))), y
    ws, bs = [], []
    dims = sizes + [classes]
    for i in range(len(dims) - 1):
        ws.append(rng.normal(0, np.sqrt(2.0 / dims[i]), (dims[i + 1], dims[i])))  # PyTorch Linear layout [out, in]
        bs.append(np.zeros(dims[i + 1]))
    for _ in range(steps):
        x, y = batch(64)
        acts = [x]
        for i, (w, b) in enumerate(zip(ws, bs)):
            z = acts[-1] @ w.T + b
            acts.append(np.maximum(z, 0) if i < len(ws) - 1 else z)
        p = softmax(acts[-1])
        g = p.copy(); g[np.arange(len(y)), y] -= 1; g /= len(y)
        for i in reversed(range(len(ws))):
            gw, gb = g.T @ acts[i], g.sum(axis=0)
            if i > 0:
                g = (g @ ws[i]) * (acts[i] > 0)
            ws[i] -= lr * gw; bs[i] -= lr * gb
    xt, yt = batch(1000)
    acc = (np.argmax(mlp_forward(xt, [w.astype(np.float32) for w in ws], [b.astype(np.float32) for b in bs]), 1) == yt).mean()
    return [w.astype(np.float32) for w in ws], [b.astype(np.float32) for b in bs], batch, acc


def mlp_forward(x, ws, bs):
    h = x.astype(np.float64)
    for i, (w, b) in enumerate(zip(ws, bs)):
        h = h @ w.astype(np.float64).T + b.astype(np.float64)
        if i < len(ws) - 1:
            h = np.maximum(h, 0)
    return softmax(h)


def make_mlp():
    rng = np.random.default_rng(20261128)
    ws, bs, batch, acc = train_mlp(rng, [256, 512, 512], 10)
    x, y = batch(8)
    x = x.astype(np.float32)
    expected = mlp_forward(x, ws, bs).astype(np.float32)

    tensors, layers, nodes = [], [], []
    prev = "input"
    for i, (w, b) in enumerate(zip(ws, bs)):
        wn, bn = f"fc{i + 1}.weight", f"fc{i + 1}.bias"
        tensors += [(wn, w), (bn, b)]
        layers.append({"op": "linear", "weight": wn, "bias": bn})
        out = f"fc{i + 1}"
        nodes.append(helper.make_node("Gemm", [prev, wn, bn], [out], transB=1))
        prev = out
        if i < len(ws) - 1:
            nodes.append(helper.make_node("Relu", [prev], [f"relu{i + 1}"]))
            layers.append({"op": "relu"})
            prev = f"relu{i + 1}"
    nodes.append(helper.make_node("Softmax", [prev], ["probs"], axis=1))
    layers.append({"op": "softmax", "axis": 1})
    write("mlp", "MLP classifier 256-512-512-10 (ReLU, softmax), trained on synthetic Gaussian blobs "
          f"(held-out accuracy {acc:.3f})", nodes, tensors, layers,
          ("input", ["batch", 256]), ("probs", ["batch", 10]), x, expected, {"labels": y.tolist()})


# ---------------------------------------------------------------- small CNN (deterministic He init)
def conv2d(x, w, b, pad):
    n, c, h, wd = x.shape
    k = w.shape[2]
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out = np.zeros((n, w.shape[0], h, wd))
    for i in range(k):
        for j in range(k):
            patch = xp[:, :, i:i + h, j:j + wd]                      # [n, c, h, w]
            out += np.einsum("nchw,oc->nohw", patch, w[:, :, i, j])
    return out + b[None, :, None, None]


def maxpool2(x):
    n, c, h, w = x.shape
    return x.reshape(n, c, h // 2, 2, w // 2, 2).max(axis=(3, 5))


def make_cnn():
    rng = np.random.default_rng(7)
    he = lambda shape, fan_in: rng.normal(0, np.sqrt(2.0 / fan_in), shape).astype(np.float32)
    c1w, c1b = he((8, 1, 3, 3), 9), rng.normal(0, 0.05, 8).astype(np.float32)
    c2w, c2b = he((16, 8, 3, 3), 72), rng.normal(0, 0.05, 16).astype(np.float32)
    fw, fb = he((10, 16 * 7 * 7), 784), rng.normal(0, 0.05, 10).astype(np.float32)
    x = rng.normal(0, 1, (4, 1, 28, 28)).astype(np.float32)

    h = maxpool2(np.maximum(conv2d(x.astype(np.float64), c1w.astype(np.float64), c1b.astype(np.float64), 1), 0))
    h = maxpool2(np.maximum(conv2d(h, c2w.astype(np.float64), c2b.astype(np.float64), 1), 0))
    h = h.reshape(h.shape[0], -1) @ fw.astype(np.float64).T + fb
    expected = softmax(h).astype(np.float32)

    nodes = [
        helper.make_node("Conv", ["input", "conv1.weight", "conv1.bias"], ["c1"], pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["p1", "conv2.weight", "conv2.bias"], ["c2"], pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
        helper.make_node("Relu", ["c2"], ["r2"]),
        helper.make_node("MaxPool", ["r2"], ["p2"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["p2"], ["flat"], axis=1),
        helper.make_node("Gemm", ["flat", "fc.weight", "fc.bias"], ["logits"], transB=1),
        helper.make_node("Softmax", ["logits"], ["probs"], axis=1),
    ]
    tensors = [("conv1.weight", c1w), ("conv1.bias", c1b), ("conv2.weight", c2w), ("conv2.bias", c2b),
               ("fc.weight", fw), ("fc.bias", fb)]
    layers = [
        {"op": "conv2d", "weight": "conv1.weight", "bias": "conv1.bias", "padding": 1}, {"op": "relu"}, {"op": "maxpool2d", "kernel": 2},
        {"op": "conv2d", "weight": "conv2.weight", "bias": "conv2.bias", "padding": 1}, {"op": "relu"}, {"op": "maxpool2d", "kernel": 2},
        {"op": "flatten"}, {"op": "linear", "weight": "fc.weight", "bias": "fc.bias"}, {"op": "softmax", "axis": 1},
    ]
    write("cnn", "small CNN: conv3x3(8)-relu-pool-conv3x3(16)-relu-pool-fc(10)-softmax, 1x28x28 input, He init (untrained)",
          nodes, tensors, layers, ("input", ["batch", 1, 28, 28]), ("probs", ["batch", 10]), x, expected, {})


def write(name, description, nodes, tensors, layers, inp, out, x, expected, extra):
    graph = helper.make_graph(
        nodes, name,
        [helper.make_tensor_value_info(inp[0], TensorProto.FLOAT, inp[1])],
        [helper.make_tensor_value_info(out[0], TensorProto.FLOAT, out[1])],
        initializer=[numpy_helper.from_array(t, n) for n, t in tensors])
    model = helper.make_model(graph, producer_name="gpurunner-make_models", opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, os.path.join(HERE, f"{name}.onnx"))

    entries, offset = [], 0
    with open(os.path.join(HERE, f"{name}.weights.bin"), "wb") as f:
        for n, t in tensors:
            data = np.ascontiguousarray(t, dtype="<f4").tobytes()
            f.write(data)
            entries.append({"name": n, "shape": list(t.shape), "offset": offset})
            offset += len(data)
    np.save(os.path.join(HERE, f"{name}.input.npy"), x)
    np.save(os.path.join(HERE, f"{name}.expected.npy"), expected)
    manifest = {
        "schema": "gpurunner.model/1",
        "name": name,
        "description": description,
        "onnx": f"{name}.onnx",
        "opset": OPSET,
        "input": {"name": inp[0], "shape": [-1 if isinstance(d, str) else d for d in inp[1]]},
        "output": {"name": out[0], "shape": [-1 if isinstance(d, str) else d for d in out[1]]},
        "layers": layers,
        "weights": {"file": f"{name}.weights.bin", "dtype": "float32", "byteOrder": "little", "tensors": entries},
        "testInput": f"{name}.input.npy",
        "expectedOutput": f"{name}.expected.npy",
        "tolerance": TOLERANCE,
        **extra,
    }
    with open(os.path.join(HERE, f"{name}.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    print(f"{name}: {description}; {offset} weight bytes; input {list(x.shape)} -> output {list(expected.shape)}")


if __name__ == "__main__":
    make_mlp()
    make_cnn()
