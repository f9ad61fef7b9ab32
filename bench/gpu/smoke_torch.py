#!/usr/bin/env python3
"""PyTorch's own figures for the smoke test, measured in the same run as gpurunner's, and the ratios.

Reads gpurunner's `smoke --json` report, measures the same things with PyTorch on GPU 0 (same sizes), prints a
table of ratios against the goals with ✓/✗ and writes it as JSON. Timing: CUDA events, warm-up first, median.
The memtest is judged against the physical limit measured in this run: a pass writes and then reads every tested byte
once, so it cannot beat 2 x tested bytes / the card's device-to-device bandwidth (the better of ours and torch's copy,
read + write counted); goal: each pattern pass (write + verify) <= 1.25x that limit. A naive PyTorch memtest is timed
too, as information. Exit 1 when a goal is missed or a figure is missing (a missing figure never counts as met).
"""
import argparse, json, statistics, sys, time

import torch

GiB = 1 << 30


def events_ms(fn, reps, warmup=2):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    out = []
    for _ in range(reps):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record(); fn(); e.record(); e.synchronize()
        out.append(s.elapsed_time(e))
    return statistics.median(out)


def check(report, cid, gpu=0):
    for c in report["checks"]:
        if c["id"] == cid and c.get("gpu") == gpu:
            return c
    return None


def torch_memtest(total_bytes, chunk_bytes=2 * GiB):
    """A naive PyTorch memtest: int64 chunks, each pattern written with tensor ops and verified against a freshly
    computed expected chunk (one scratch chunk), as one would write it without a custom kernel."""
    n_chunks = max(1, total_bytes // chunk_bytes)
    words = chunk_bytes // 8
    chunks = [torch.empty(words, dtype=torch.int64, device="cuda") for _ in range(n_chunks)]
    scratch = torch.empty(words, dtype=torch.int64, device="cuda")
    one = torch.ones(1, dtype=torch.int64, device="cuda")
    results = {}

    def address(t, out):
        torch.arange(words, out=out, device="cuda"); out.mul_(8).add_(t.data_ptr())

    def walking(i, out):
        torch.arange(words, out=out, device="cuda"); out.add_(i * words).bitwise_and_(63)
        torch.bitwise_left_shift(one.expand(words), out, out=out)

    def random(i, out):
        g = torch.Generator(device="cuda"); g.manual_seed(1234 + i)
        out.random_(generator=g)

    for name, fill in (("walking-ones", lambda i, t, out: walking(i, out)),
                       ("random", lambda i, t, out: random(i, out)),
                       ("address", lambda i, t, out: address(t, out))):
        def one_pass():
            bad = torch.zeros((), dtype=torch.int64, device="cuda")
            for i, t in enumerate(chunks):
                fill(i, t, t)
            for i, t in enumerate(chunks):
                fill(i, t, scratch)
                bad += (t != scratch).sum()
            return bad
        one_pass()  # warm-up (allocator, kernels)
        torch.cuda.synchronize()
        t0 = time.perf_counter(); bad = one_pass(); torch.cuda.synchronize(); dt = time.perf_counter() - t0
        results[name] = {"seconds": dt, "errors": int(bad.item())}
    covered = n_chunks * chunk_bytes
    del chunks, scratch
    torch.cuda.empty_cache()
    return covered, results


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ours", required=True, help="gpurunner smoke --json output")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    ours = json.load(open(args.ours))
    rows, torch_figures = [], {}

    def row(name, our, peer, target, higher_is_better=True, unit="", peer_name="torch"):
        # No figure on either side: the goal is not met (it cannot be shown to be).
        ratio = (our / peer) if (our is not None and peer) else None
        ok = ratio is not None and (ratio >= target if higher_is_better else ratio <= target)
        rows.append({"metric": name, "ours": our, "torch": peer, "ratio": ratio, "unit": unit, "peer": peer_name,
                     "target": (">=" if higher_is_better else "<=") + str(target), "ok": ok})

    # Device-to-device copy, the same size as ours, read + write counted.
    d2d = check(ours, "bandwidth.d2d")
    size = int(d2d["samples"][0]["x"]) if d2d and d2d["samples"] else 2 * GiB
    src = torch.randint(0, 255, (size,), dtype=torch.uint8, device="cuda"); dst = torch.empty_like(src)
    t_d2d = 2 * size / (events_ms(lambda: dst.copy_(src), 20) * 1e-3) / 1e9
    torch_figures["d2dGBs"] = t_d2d
    row(f"D2D copy {size / GiB:g} GiB (GB/s)", d2d and d2d["value"], t_d2d, 0.97, unit="GB/s")
    kernel = check(ours, "bandwidth.kernel")
    row(f"our read/write kernel vs torch copy (GB/s)", kernel and kernel["value"], t_d2d, 0.90, unit="GB/s")
    del src, dst

    # Pinned host-to-device (and back), the same size as ours.
    h2d = check(ours, "pcie.h2d-pinned")
    hsize = int(h2d["samples"][0]["x"]) if h2d and h2d["samples"] else GiB
    host = torch.empty(hsize, dtype=torch.uint8, pin_memory=True); host.fill_(0x5A)
    dev = torch.empty(hsize, dtype=torch.uint8, device="cuda")
    t_h2d = hsize / (events_ms(lambda: dev.copy_(host, non_blocking=True), 5) * 1e-3) / 1e9
    t_d2h = hsize / (events_ms(lambda: host.copy_(dev, non_blocking=True), 5) * 1e-3) / 1e9
    torch_figures.update(h2dPinnedGBs=t_h2d, d2hPinnedGBs=t_d2h)
    row(f"H2D pinned {hsize / GiB:g} GiB (GB/s)", h2d and h2d["value"], t_h2d, 0.97, unit="GB/s")
    d2h = check(ours, "pcie.d2h-pinned")
    row(f"D2H pinned {hsize / GiB:g} GiB (GB/s)", d2h and d2h["value"], t_d2h, 0.97, unit="GB/s")
    del host, dev

    # bf16 GEMM at our size (8192^3 at standard level), random inputs.
    gemm = check(ours, "compute.gemm")
    n = 8192
    if gemm and "^3" in gemm["evidence"]:
        n = int(gemm["evidence"].split("^3")[0].split()[-1])
    a = torch.rand(n, n, device="cuda", dtype=torch.bfloat16) * 2 - 1
    b = torch.rand(n, n, device="cuda", dtype=torch.bfloat16) * 2 - 1
    t_gemm = 2 * n ** 3 / (events_ms(lambda: torch.matmul(a, b), 20, warmup=3) * 1e-3) / 1e12
    torch_figures["gemmTflops"] = t_gemm
    row(f"GEMM bf16 {n}^3 (TFLOP/s)", gemm and gemm["value"], t_gemm, 0.95, unit="TFLOP/s")
    del a, b
    torch.cuda.empty_cache()

    # Memtest: coverage, and each pattern pass (write + verify) against the physical limit of this card, measured in
    # this run: 2 x tested bytes / the best device-to-device copy bandwidth (read + write counted) seen above.
    mem = check(ours, "memtest")
    best_d2d = max(x for x in (d2d and d2d["value"], t_d2d) if x)
    if mem is None or mem["status"] == "SKIP" or mem.get("value") is None:
        rows.append({"metric": "memtest", "ours": None, "torch": None, "ratio": None, "unit": "", "peer": "limit",
                     "target": "ran", "ok": False})
    else:
        rows.append({"metric": "memtest coverage (% of free)", "ours": mem["percentOfSpec"], "torch": None, "ratio": None,
                     "unit": "%", "peer": "-", "target": ">=90", "ok": mem["percentOfSpec"] is not None and mem["percentOfSpec"] >= 90})
        our_bytes = int(mem["value"] * GiB)
        limit_s = 2 * our_bytes / (best_d2d * 1e9)
        torch_figures["memtestLimitSeconds"] = limit_s
        torch_figures["memtestLimitBasis"] = f"2 x {our_bytes} B / {best_d2d:.1f} GB/s"
        free = torch.cuda.mem_get_info()[0]
        covered, passes = torch_memtest(min(our_bytes, free - 6 * GiB))
        torch_figures["memtest"] = {"bytes": covered, "passes": passes}
        for name, t in passes.items():
            w = next((x for x in mem["samples"] if x["series"] == f"{name}.writeMs"), None)
            v = next((x for x in mem["samples"] if x["series"] == f"{name}.verifyMs"), None)
            ours_s = (w["value"] + v["value"]) / 1000 if (w and v) else None
            pass_bytes = int(w["x"]) if w and w.get("x") else our_bytes   # the bytes this pass covered
            row(f"memtest {name} pass over {pass_bytes / GiB:.1f} GiB (s)", ours_s, 2 * pass_bytes / (best_d2d * 1e9), 1.25,
                higher_is_better=False, unit="s", peer_name="limit")
            # Information: a naive PyTorch pass over the same bytes (per byte, it may cover fewer for its scratch chunk).
            torch_figures["memtest"]["passes"][name]["secondsForOurBytes"] = t["seconds"] * our_bytes / covered

    print(f"{'metric':48} {'ours':>10} {'peer':>10} {'':6} {'ratio':>7} {'goal':>7}")
    for r in rows:
        f = lambda x: "-" if x is None else f"{x:.4g}"
        print(f"{'✓' if r['ok'] else '✗'} {r['metric']:46} {f(r['ours']):>10} {f(r['torch']):>10} {r['peer']:6} {f(r['ratio']):>7} {r['target']:>7}")
    for name, p in torch_figures.get("memtest", {}).get("passes", {}).items():
        print(f"  information: naive PyTorch memtest {name} pass {p['secondsForOurBytes']:.3f} s for the same bytes")
    met = sum(1 for r in rows if r["ok"])
    print(f"{'✓' if met == len(rows) else '✗'} smoke vs torch and the memtest limit: {met} of {len(rows)} goals met")
    json.dump({"torch": torch.__version__, "device": torch.cuda.get_device_name(0), "rows": rows, "torchFigures": torch_figures},
              open(args.out, "w"), indent=2)
    return 0 if met == len(rows) else 1

if __name__ == "__main__":
    sys.exit(main())
