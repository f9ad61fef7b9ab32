"""The watch benchmark's app: bf16 matmuls on cuda for SECONDS (argv[1], default 60), one progress line a second,
then `RESULT tflops=<mean> steps=<n> seconds=<s>`. The first line says "workload started" (the readiness line)."""
import sys, time, torch

seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 60.0
assert torch.cuda.is_available(), "no CUDA"
n = 8192
a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
for _ in range(20): c = a @ b  # warm-up (cuBLAS heuristics, clocks)
torch.cuda.synchronize()
print(f"workload started on {torch.cuda.get_device_name(0)}", flush=True)
flops = 2 * n ** 3
t0 = time.perf_counter(); steps = 0; last = t0; done_at_last = 0
while True:
    for _ in range(25): c = a @ b
    torch.cuda.synchronize()
    steps += 25
    now = time.perf_counter()
    if now - last >= 1.0:
        print(f"t={now - t0:.0f}s {(steps - done_at_last) * flops / (now - last) / 1e12:.0f} TFLOP/s", flush=True)
        last, done_at_last = now, steps
    if now - t0 >= seconds: break
elapsed = time.perf_counter() - t0
print(f"RESULT tflops={steps * flops / elapsed / 1e12:.2f} steps={steps} seconds={elapsed:.2f}", flush=True)
