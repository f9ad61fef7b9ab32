"""What the Python peers of bench/frameworks/vs-python.sh share, so that ort_bench.py and torch_bench.py time and
report in exactly the same way: the options, the tiled input, the warm-up + timed loop, and the one JSON line."""
import argparse, gc, json, os, time

import numpy as np


def parse_args(default_device, warm_state):
    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True)      # models/NAME.onnx (NAME.json + NAME.input.npy beside it)
    p.add_argument("--device", default=default_device, choices=["cpu", "cuda"])
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--iterations", type=int, default=100)
    p.add_argument("--warmup", type=int, default=10)
    # gpurunner's JIT build keeps warming up until its JIT settled (~0.5-1 s); this side keeps warming at least as
    # long, so that both timed loops start from the same warm state (warm_state names what warms up on this side).
    p.add_argument("--warmup-seconds", type=float, default=0.0, help=f"warm at least this long ({warm_state})")
    a = p.parse_args()
    a.base = os.path.splitext(a.model)[0]
    return a


def tile(arr, batch):
    """Row r = shipped row r % rows, as ManagedReference.TiledTestData."""
    return np.ascontiguousarray(np.concatenate([arr] * (batch // len(arr) + 1))[:batch].astype(np.float32))


def timed(a, step):
    """Warm-up (count, then at least --warmup-seconds), gc.collect() as gpurunner does, then the timed loop.
    Returns (warm-up runs, sorted latencies in ms, total seconds, the last output)."""
    t0 = time.perf_counter()
    warm = 0
    while warm < a.warmup or time.perf_counter() - t0 < a.warmup_seconds:
        step()
        warm += 1
    gc.collect()
    lat = [0.0] * a.iterations
    t0 = time.perf_counter()
    out = None
    for i in range(a.iterations):
        t = time.perf_counter()
        out = step()
        lat[i] = (time.perf_counter() - t) * 1000
    total = time.perf_counter() - t0
    lat.sort()
    return warm, lat, total, out


def report(a, manifest, fields, warm, lat, total, out):
    """The one JSON line: latency percentiles, throughput and the output checked against NAME.expected.npy."""
    ref = tile(np.load(a.base + ".expected.npy"), a.batch)
    tol = manifest.get("tolerance", {"abs": 1e-4, "rel": 1e-3})
    pct = lambda q: lat[max(0, min(len(lat) - 1, -(-q * len(lat) // 100) - 1))]
    print(json.dumps({**fields, "batch": a.batch, "iterations": a.iterations, "warmup": warm,
                      "p50Ms": pct(50), "p95Ms": pct(95), "p99Ms": pct(99),
                      "throughputSamplesPerSecond": a.batch * a.iterations / total,
                      "maxAbsDiff": float(np.abs(out - ref).max()),
                      "within": bool(np.allclose(out, ref, rtol=tol["rel"], atol=tol["abs"]))}))
