using System.Diagnostics;
using System.Globalization;

namespace GpuRunner.Diagnostics.Smoke;

public sealed record SmokeProgress(string Step, int Done, int Total);

/// <summary>
/// Runs the smoke checks of a plan on every GPU of a backend and builds the report. Pure orchestration: measuring is
/// the backend's job, judging is <see cref="SpecComparison"/> / <see cref="HealthEvaluator"/>'s. Each check runs under
/// its own time limit (a check past it is a FAIL that says so); Ctrl-C stops between operations, marks the report
/// interrupted, and the caller disposes the backend, which frees every GPU buffer.
/// </summary>
public sealed class SmokeRunner(ISmokeBackend backend, SmokePlan plan, Func<SmokeGpuInfo, SmokeSpec?> specFor,
    IProgress<SmokeProgress>? progress = null, TimeProvider? time = null)
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private int _done, _total;
    private long _deadline = long.MaxValue; // Stopwatch timestamp: the current GPU's level budget ends here

    public const string NoGpuFix = "run on a GPU machine (container started with --gpus / the NVIDIA runtime)";

    /// <summary>Ids of the checks one GPU gets at this plan's level, in order (also the skip list without a GPU).</summary>
    public IReadOnlyList<(string Id, string Title)> GpuChecks()
    {
        var list = new List<(string, string)>
        {
            ("health.ecc", "ECC mode and uncorrectable errors"), ("health.retired-pages", "Retired pages"),
            ("health.row-remap", "Row remapping"), ("health.throttle", "Throttle reasons"),
            ("health.temperature", "Temperature against the slowdown threshold"),
            ("health.pcie", "PCIe link generation and width"), ("health.persistence", "Persistence mode"),
            ("bandwidth.d2d", "Device-to-device copy (cuMemcpyDtoD)"), ("bandwidth.kernel", "Read/write kernel (16-byte vectors)"),
            ("pcie.h2d-pinned", "Host to device, pinned"), ("pcie.d2h-pinned", "Device to host, pinned"),
            ("pcie.h2d-pageable", "Host to device, pageable"), ("pcie.d2h-pageable", "Device to host, pageable"),
            ("bandwidth.sweep", "Bandwidth against transfer size"), ("compute.gemm", "GEMM at the best precision"),
            ("memtest", "Memory test (walking ones, random, address)"),
        };
        if (plan.StabilityDuration > TimeSpan.Zero) list.Add(("stability", "Sustained GEMM, clocks, power, temperature"));
        return list;
    }

    public SmokeReport Run(IEnumerable<SmokeCheckResult> machineChecks, string? expect, string toolVersion, CancellationToken ct)
    {
        var started = Stopwatch.GetTimestamp();
        var report = new SmokeReport
        {
            Tool = new SmokeTool(toolVersion.Split('+')[0]), Timestamp = _time.GetUtcNow(), Level = plan.Level, Expect = expect,
        };
        report.Trace.AddRange(backend.Trace);
        foreach (var m in machineChecks) Add(report, m);
        var devices = backend.UnavailableReason is null ? backend.Devices : [];
        _total = Math.Max(1, devices.Count * GpuChecks().Count + devices.Count * (devices.Count - 1));

        if (devices.Count == 0)
        {
            var reason = backend.UnavailableReason ?? "no GPU visible to the CUDA driver";
            foreach (var (id, title) in GpuChecks())
            {
                var skipped = SmokeCheckResult.Skipped(id, title, null, reason);
                skipped.Diagnosis = new SmokeDiagnosis(reason, NoGpuFix);
                Add(report, skipped);
            }
        }
        else
        {
            try
            {
                foreach (var d in devices)
                {
                    var spec = specFor(d.Info);
                    var gpu = new SmokeGpuReport
                    {
                        Index = d.Info.Index, Name = d.Info.Name, Uuid = d.Info.Uuid, PciBusId = d.Info.PciBusId,
                        MemoryTotalBytes = d.Info.TotalBytes, MemoryFreeBytes = d.Info.FreeBytes,
                        ComputeCapability = d.Info.ComputeCapability, Spec = spec,
                    };
                    report.Gpus.Add(gpu);
                    RunGpu(d, spec, report, ct);
                    gpu.Status = SmokeVerdict.Worst(report.Checks.Where(c => c.Gpu == d.Info.Index));
                }
                RunPeers(devices, report, ct);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                report.Interrupted = true;
            }
        }

        report.Seconds = Math.Round(Stopwatch.GetElapsedTime(started).TotalSeconds, 2);
        report.Verdict = SmokeVerdict.Worst(report.Checks);
        report.VerdictLine = SmokeVerdict.Line(report, devices.Count == 0 ? backend.UnavailableReason ?? "no GPU visible" : null);
        return report;
    }

    private void RunGpu(ISmokeDevice d, SmokeSpec? spec, SmokeReport report, CancellationToken run)
    {
        var i = d.Info.Index;
        _deadline = Stopwatch.GetTimestamp() + (long)(plan.BudgetPerGpu.TotalSeconds * Stopwatch.Frequency);
        var noSpec = $"no spec for '{d.Info.Name}' in the catalogue (requirements/gpus.json)";

        // Health first: a card that is already throttling explains bad numbers below.
        GpuHealthFacts facts = new();
        var read = Step(report, "health", "NVML health", i, plan.HealthLimit, run, (r, _) =>
        {
            facts = d.ReadHealth();
            r.Status = SmokeStatus.Pass;
        }, record: false);
        if (read.Status == SmokeStatus.Fail) Add(report, read); // NVML broke mid-run: say so, not seven quiet SKIPs
        foreach (var h in HealthEvaluator.Evaluate(i, facts))
        {
            h.LimitSeconds = plan.HealthLimit.TotalSeconds;
            Add(report, h);
            Tick(h.Title);
        }

        Step(report, "bandwidth.d2d", "Device-to-device copy (cuMemcpyDtoD)", i, plan.DeviceCopyLimit, run, (r, ct) =>
            Bandwidth(r, d.TimeDeviceCopy(plan.DeviceCopyBytes, plan.DeviceCopyReps, ct), 2 * plan.DeviceCopyBytes,
                "d2d", spec?.MemoryBandwidthGBs, "GB/s datasheet (read + write counted)", Thresholds.MemoryBandwidth, noSpec,
                $"{SmokeFormat.Bytes(plan.DeviceCopyBytes)} x {plan.DeviceCopyReps}", plan.DeviceCopyBytes));
        Step(report, "bandwidth.kernel", "Read/write kernel (16-byte vectors)", i, plan.DeviceCopyLimit, run, (r, ct) =>
            Bandwidth(r, d.TimeCopyKernel(plan.DeviceCopyBytes, plan.DeviceCopyReps, ct), 2 * plan.DeviceCopyBytes,
                "kernel", spec?.MemoryBandwidthGBs, "GB/s datasheet (read + write counted)", Thresholds.MemoryBandwidth, noSpec,
                $"{SmokeFormat.Bytes(plan.DeviceCopyBytes)} x {plan.DeviceCopyReps}", plan.DeviceCopyBytes));

        var gen = spec?.PcieGen ?? facts.PcieGenMax;
        var width = facts.PcieWidthMax ?? 16;
        var practical = gen is { } g ? PcieFigures.Practical(g, width) : null;
        var pcieSource = gen is { } g2 ? string.Format(CultureInfo.InvariantCulture, PcieFigures.Source, g2, width) : null;
        foreach (var (kind, id, title) in new[]
                 {
                     (HostCopyKind.H2DPinned, "pcie.h2d-pinned", "Host to device, pinned"),
                     (HostCopyKind.D2HPinned, "pcie.d2h-pinned", "Device to host, pinned"),
                     (HostCopyKind.H2DPageable, "pcie.h2d-pageable", "Host to device, pageable"),
                     (HostCopyKind.D2HPageable, "pcie.d2h-pageable", "Device to host, pageable"),
                 })
        {
            var pinned = kind is HostCopyKind.H2DPinned or HostCopyKind.D2HPinned;
            Step(report, id, title, i, plan.HostCopyLimit, run, (r, ct) =>
            {
                var ms = d.TimeHostCopy(kind, plan.HostCopyBytes, plan.HostCopyReps, ct);
                var size = $"{SmokeFormat.Bytes(plan.HostCopyBytes)} x {plan.HostCopyReps}";
                if (pinned)
                    Bandwidth(r, ms, plan.HostCopyBytes, id["pcie.".Length..], practical?.Low, pcieSource ?? "", Thresholds.PinnedTransfer,
                        "PCIe generation unknown (no catalogue entry and NVML did not report the link)", size);
                else
                    // Pageable copies stage through a driver buffer: their speed is the host's memcpy, not the card's.
                    Bandwidth(r, ms, plan.HostCopyBytes, id["pcie.".Length..], null, "", Thresholds.PinnedTransfer,
                        "no spec: pageable copies go through a staging buffer and depend on the host", size);
                if (kind == HostCopyKind.H2DPinned)
                {
                    // Read the link right after the transfer: a generation drop at idle is power saving, not a fault.
                    var loaded = HealthEvaluator.Pcie(i, d.ReadHealth(), underLoad: true);
                    var idle = report.Checks.FindLast(c => c.Id == "health.pcie" && c.Gpu == i);
                    if (idle is not null && loaded.Status > idle.Status)
                    {
                        idle.Status = loaded.Status;
                        idle.Evidence = loaded.Evidence + " (read right after the pinned transfer)";
                        idle.Diagnosis = loaded.Diagnosis;
                    }
                }
            });
        }

        Step(report, "bandwidth.sweep", "Bandwidth against transfer size", i, plan.SweepLimit, run, (r, ct) =>
        {
            foreach (var size in plan.SweepSizes)
            {
                ct.ThrowIfCancellationRequested();
                var reps = size <= 16L << 20 ? 10 : 3;
                r.Samples.Add(new("h2d-pinned", GBs(size, Median(d.TimeHostCopy(HostCopyKind.H2DPinned, size, reps, ct))), size));
                r.Samples.Add(new("d2h-pinned", GBs(size, Median(d.TimeHostCopy(HostCopyKind.D2HPinned, size, reps, ct))), size));
                r.Samples.Add(new("d2d", GBs(2 * size, Median(d.TimeDeviceCopy(size, reps, ct))), size));
            }
            var peak = r.Samples.Where(s => s.Series == "h2d-pinned").Max(s => s.Value);
            r.Status = SmokeStatus.Pass;
            r.Value = Math.Round(peak, 2);
            r.Unit = "GB/s";
            r.Evidence = $"{plan.SweepSizes.Count} sizes {SmokeFormat.Bytes(plan.SweepSizes[0])}..{SmokeFormat.Bytes(plan.SweepSizes[^1])}; " +
                         $"peak H2D {SmokeFormat.Number(peak)} GB/s, D2H {SmokeFormat.Number(r.Samples.Where(s => s.Series == "d2h-pinned").Max(s => s.Value))} GB/s, " +
                         $"D2D {SmokeFormat.Number(r.Samples.Where(s => s.Series == "d2d").Max(s => s.Value))} GB/s";
        });

        Step(report, "compute.gemm", "GEMM at the best precision", i, plan.GemmLimit, run, (r, ct) => Gemm(r, d.RunGemm(plan.GemmSize, plan.GemmReps, ct), spec, noSpec));

        // Give the memtest everything: drop the buffers the bandwidth checks kept.
        d.ReleaseCaches();
        Step(report, "memtest", "Memory test (walking ones, random, address)", i, plan.MemtestLimit, run, (r, ct) => Memtest(r, d, ct));

        if (plan.StabilityDuration > TimeSpan.Zero)
            Step(report, "stability", "Sustained GEMM, clocks, power, temperature", i,
                plan.StabilityDuration + TimeSpan.FromSeconds(30), run, (r, ct) => Stability(r, d, ct));
    }

    private void RunPeers(IReadOnlyList<ISmokeDevice> devices, SmokeReport report, CancellationToken run)
    {
        if (devices.Count < 2) return;
        _deadline = long.MaxValue; // each pair has its own limit; the per-GPU budget does not apply
        foreach (var d in devices)
            report.Topology.Add($"GPU{d.Info.Index} {d.Info.Name} {d.Info.PciBusId ?? "?"}");
        foreach (var a in devices)
        foreach (var b in devices)
        {
            if (a == b) continue;
            var title = $"Peer copy GPU{a.Info.Index} -> GPU{b.Info.Index}";
            var why = a.PeerUnsupportedReason(b);
            if (why is not null)
            {
                var skipped = SmokeCheckResult.Skipped("peer.copy", title, a.Info.Index, why);
                Add(report, new SmokeCheckResult { Id = "peer.copy", Title = title, Gpu = a.Info.Index, Peer = b.Info.Index,
                    Status = SmokeStatus.Skip, Evidence = skipped.Evidence });
                report.Topology.Add($"GPU{a.Info.Index} -> GPU{b.Info.Index}: no P2P ({why})");
                Tick(title);
                continue;
            }
            var practical = PcieFigures.Practical(report.Gpus.First(g => g.Index == a.Info.Index).Spec?.PcieGen ?? 4);
            var result = Step(report, "peer.copy", title, a.Info.Index, plan.PeerLimit, run, (r, ct) =>
                Bandwidth(r, a.TimePeerCopy(b, plan.PeerCopyBytes, 5, ct), plan.PeerCopyBytes, "p2p", practical?.Low,
                    "practical PCIe figure (NVLink pairs reach far more)", Thresholds.PeerTransfer, "", $"{SmokeFormat.Bytes(plan.PeerCopyBytes)} x 5"),
                peer: b.Info.Index);
            report.Topology.Add($"GPU{a.Info.Index} -> GPU{b.Info.Index}: P2P, {(result.Value is { } v ? SmokeFormat.Number(v) + " GB/s" : result.Evidence)}");
        }
    }

    private SmokeCheckResult Step(SmokeReport report, string id, string title, int gpu, TimeSpan limit, CancellationToken ct,
        Action<SmokeCheckResult, CancellationToken> body, bool record = true, int? peer = null)
    {
        ct.ThrowIfCancellationRequested();
        var remaining = _deadline == long.MaxValue ? limit : TimeSpan.FromSeconds((_deadline - Stopwatch.GetTimestamp()) / (double)Stopwatch.Frequency);
        if (remaining < limit) limit = remaining;
        var r = new SmokeCheckResult { Id = id, Title = title, Gpu = gpu, Peer = peer, LimitSeconds = Math.Round(Math.Max(0, limit.TotalSeconds), 3) };
        if (limit <= TimeSpan.Zero)
        {
            // The level promises a bound on the whole run: checks that would pass it are skipped, and say so.
            r.Status = SmokeStatus.Skip;
            r.Evidence = $"not run: the {plan.Level.ToString().ToLowerInvariant()} level's {plan.BudgetPerGpu.TotalSeconds:0} s budget per GPU was used up";
            if (record) Add(report, r);
            Tick(title);
            return r;
        }
        progress?.Report(new SmokeProgress($"GPU{gpu}: {title}", _done, _total));
        var started = Stopwatch.GetTimestamp();
        using var limited = CancellationTokenSource.CreateLinkedTokenSource(ct);
        limited.CancelAfter(limit);
        try
        {
            body(r, limited.Token);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            throw;
        }
        catch (OperationCanceledException)
        {
            r.Status = SmokeStatus.Fail;
            r.Evidence = $"stopped at its {limit.TotalSeconds:0.#} s limit" + (r.Evidence.Length > 0 ? "; " + r.Evidence : "");
            r.Diagnosis = new SmokeDiagnosis("the check did not finish within its time limit",
                "the GPU is far slower than expected or hangs: check throttle reasons and the host log (Xid)");
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // A failed CUDA call, a missing kernel, a wrong result: the check fails with the library's own message.
            r.Status = SmokeStatus.Fail;
            r.Evidence = e.Message;
            r.Diagnosis ??= new SmokeDiagnosis(e.Message, "see the evidence; rerun with --json for every sample");
        }
        r.Seconds = Math.Round(Stopwatch.GetElapsedTime(started).TotalSeconds, 3);
        if (r.Seconds > limit.TotalSeconds && r.Status != SmokeStatus.Fail)
        {
            // Operations are not interrupted mid-kernel, so a limit is judged when the check returns.
            r.Status = SmokeStatus.Fail;
            r.Diagnosis = new SmokeDiagnosis($"took {r.Seconds:0.0} s, over its {limit.TotalSeconds:0} s limit",
                "the GPU is far slower than expected or hangs: check throttle reasons and the host log (Xid)");
        }
        if (record) Add(report, r);
        Tick(title);
        return r;
    }

    /// <summary>Called with each check as it completes (plain output streams them to the log).</summary>
    public Action<SmokeCheckResult>? OnCheck { get; init; }

    private void Add(SmokeReport report, SmokeCheckResult r)
    {
        report.Checks.Add(r);
        OnCheck?.Invoke(r);
    }

    private void Tick(string title) => progress?.Report(new SmokeProgress(title, ++_done, _total));

    /// <summary>Judges a copy: <paramref name="bytesPerRep"/> are the bytes counted (read + write for device copies),
    /// <paramref name="transferBytes"/> the transfer size recorded as each sample's X.</summary>
    private static void Bandwidth(SmokeCheckResult r, IReadOnlyList<double> ms, long bytesPerRep, string series, double? reference,
        string referenceName, Thresholds thresholds, string noReference, string size, long? transferBytes = null)
    {
        foreach (var m in ms) r.Samples.Add(new SmokeSample(series, GBs(bytesPerRep, m), transferBytes ?? bytesPerRep));
        var gbs = GBs(bytesPerRep, Median(ms));
        r.Value = Math.Round(gbs, 2);
        r.Unit = "GB/s";
        var spread = ms.Count > 1 ? $", min {SmokeFormat.Number(GBs(bytesPerRep, ms.Max()))} max {SmokeFormat.Number(GBs(bytesPerRep, ms.Min()))}" : "";
        if (reference is { } refValue and > 0)
        {
            var cmp = SpecComparison.Compare(gbs, refValue, thresholds);
            r.Spec = refValue;
            r.SpecSource = referenceName;
            r.PercentOfSpec = cmp.PercentOfReference;
            r.Status = cmp.Status;
            r.Evidence = $"{cmp.Describe("GB/s", referenceName)} (median of {size}{spread})";
            if (cmp.Status != SmokeStatus.Pass)
                r.Diagnosis = new SmokeDiagnosis($"below {thresholds.PassFraction:P0} of the reference",
                    "check throttle reasons, PCIe link and other processes on the GPU (nvidia-smi)");
        }
        else
        {
            r.Status = SmokeStatus.Pass;
            r.Evidence = $"{SmokeFormat.Number(gbs)} GB/s (median of {size}{spread}); {noReference}";
        }
    }

    private static void Gemm(SmokeCheckResult r, GemmRun g, SmokeSpec? spec, string noSpec)
    {
        var flops = 2.0 * g.N * g.N * g.N;
        foreach (var m in g.Milliseconds) r.Samples.Add(new SmokeSample("tflops", flops / (m * 1e-3) / 1e12));
        var tflops = flops / (Median(g.Milliseconds) * 1e-3) / 1e12;
        r.Value = Math.Round(tflops, 1);
        r.Unit = "TFLOP/s";
        var what = $"{g.Engine} {g.Precision} {g.N}^3";
        double? reference = g.TensorCores
            ? (g.Precision.StartsWith("bf16", StringComparison.Ordinal) ? spec?.Bf16TensorTflops : spec?.Fp16TensorTflops) ?? spec?.Fp16TensorTflops
            : spec?.Fp32Tflops;
        var thresholds = g.TensorCores ? Thresholds.TensorGemm : Thresholds.FallbackGemm;
        var refName = g.TensorCores ? "TFLOP/s dense tensor spec" : "TFLOP/s fp32 spec (fallback kernel without tensor cores: expect a few %)";
        var accuracy = $"rel. error {g.RelativeError:0.0e0} vs {g.ReferenceDescription}";
        if (reference is { } refValue and > 0)
        {
            var cmp = SpecComparison.Compare(tflops, refValue, thresholds);
            r.Spec = refValue;
            r.SpecSource = refName;
            r.PercentOfSpec = cmp.PercentOfReference;
            r.Status = cmp.Status;
            r.Evidence = $"{what}: {cmp.Describe("TFLOP/s", refName)}; {accuracy}";
        }
        else
        {
            r.Status = SmokeStatus.Pass;
            r.Evidence = $"{what}: {SmokeFormat.Number(tflops)} TFLOP/s; {accuracy}; {noSpec}";
        }
        // bf16 inputs with fp32 accumulation land near 1e-3 against a float64 reference; 2e-2 means wrong results.
        if (!(g.RelativeError <= 2e-2))
        {
            r.Status = SmokeStatus.Fail;
            r.Diagnosis = new SmokeDiagnosis($"GEMM result is wrong ({accuracy})", "the GPU computes wrong results: stop using it and report it to the provider");
        }
    }

    private void Memtest(SmokeCheckResult r, ISmokeDevice d, CancellationToken ct)
    {
        var free = d.Info.FreeBytes;
        using var session = d.OpenMemtest(plan.MemtestTarget(free));
        var coverage = free > 0 ? (double)session.Bytes / free : 0;
        long errors = 0;
        var passes = new List<string>();
        for (var loop = 0; loop < plan.MemtestLoops; loop++)
        foreach (var p in MemoryPatterns.All)
        {
            ct.ThrowIfCancellationRequested();
            // Vary the pattern each loop: shift the walking bit, reseed the random, invert the addresses.
            var seed = p switch
            {
                MemoryPattern.WalkingOnes => (ulong)loop * 7,
                MemoryPattern.Random => 0x5EED0000UL + (ulong)loop,
                _ => loop % 2 == 0 ? 0UL : ulong.MaxValue,
            };
            var pass = session.RunPass(p, seed, SmokePlan.MaxLoggedErrors - r.Errors.Count, ct);
            errors += pass.ErrorCount;
            r.Errors.AddRange(pass.Errors.Take(SmokePlan.MaxLoggedErrors - r.Errors.Count));
            var name = MemoryPatterns.Name(p);
            r.Samples.Add(new SmokeSample(name + ".writeMs", pass.WriteMs, pass.Bytes));
            r.Samples.Add(new SmokeSample(name + ".verifyMs", pass.VerifyMs, pass.Bytes));
            r.Samples.Add(new SmokeSample(name + ".errors", pass.ErrorCount, pass.Bytes));
            if (loop == 0) passes.Add($"{name} {(pass.WriteMs + pass.VerifyMs) / 1000:0.000} s");
        }
        r.ErrorCount = errors;
        r.Value = Math.Round(session.Bytes / (double)(1L << 30), 2);
        r.Unit = "GiB";
        r.Spec = Math.Round(free / (double)(1L << 30), 2);
        r.SpecSource = "GiB free when the smoke test started";
        r.PercentOfSpec = Math.Round(coverage * 100, 1);
        var summary = $"{errors} errors over {SmokeFormat.Bytes(session.Bytes)} ({coverage:P1} of free) in {session.Chunks} chunks, " +
                      $"{MemoryPatterns.All.Count} patterns x {plan.MemtestLoops}; write+verify: {string.Join(", ", passes)}";
        if (errors > 0)
        {
            r.Status = SmokeStatus.Fail;
            r.Evidence = summary + "; first: " + r.Errors[0];
            r.Diagnosis = new SmokeDiagnosis($"{errors} memory words read back wrong (addresses in errors[])",
                "stop using this GPU: ask the provider to run their diagnostics (dcgmi diag -r 3) and replace it");
        }
        else if (plan.Level != SmokeLevel.Quick && coverage < SmokePlan.RequiredMemtestCoverage)
        {
            r.Status = SmokeStatus.Warn;
            r.Evidence = summary;
            r.Diagnosis = new SmokeDiagnosis($"covered {coverage:P1} of free memory, under {SmokePlan.RequiredMemtestCoverage:P0}",
                "another process holds GPU memory (nvidia-smi); rerun when the GPU is idle");
        }
        else
        {
            r.Status = SmokeStatus.Pass;
            r.Evidence = summary;
        }
    }

    private void Stability(SmokeCheckResult r, ISmokeDevice d, CancellationToken ct)
    {
        var before = d.ReadTelemetry();
        var samples = new List<(double T, TelemetrySample S)>();
        var duration = Math.Min(plan.StabilityDuration.TotalSeconds, r.LimitSeconds - 5);
        long gemms;
        using (var stop = CancellationTokenSource.CreateLinkedTokenSource(ct))
        {
            var load = Task.Factory.StartNew(() => d.SustainGemm(8192, stop.Token), TaskCreationOptions.LongRunning);
            var started = Stopwatch.GetTimestamp();
            try
            {
                while (Stopwatch.GetElapsedTime(started).TotalSeconds < duration && !load.IsCompleted)
                {
                    ct.WaitHandle.WaitOne(TimeSpan.FromSeconds(1));
                    ct.ThrowIfCancellationRequested();
                    samples.Add((Stopwatch.GetElapsedTime(started).TotalSeconds, d.ReadTelemetry()));
                }
            }
            finally
            {
                // Whatever happened, the GPU load stops before its buffers and the context go away.
                stop.Cancel();
                try { load.Wait(TimeSpan.FromSeconds(30)); } catch (AggregateException) when (ct.IsCancellationRequested) { }
            }
            gemms = load.GetAwaiter().GetResult();
        }
        var after = d.ReadTelemetry();
        var s = StabilityJudge.Judge(samples, before, after);
        foreach (var (t, x) in samples)
        {
            if (x.SmClockMHz is { } sm) r.Samples.Add(new("smClockMHz", sm, TimeS: t));
            if (x.MemClockMHz is { } mem) r.Samples.Add(new("memClockMHz", mem, TimeS: t));
            if (x.PowerW is { } p) r.Samples.Add(new("powerW", p, TimeS: t));
            if (x.TemperatureC is { } c) r.Samples.Add(new("temperatureC", c, TimeS: t));
        }
        r.Status = s.Status;
        r.Evidence = $"{gemms} GEMMs in {duration:0} s; {s.Evidence}";
        r.Diagnosis = s.Diagnosis;
        r.Value = s.MinSmClockMHz;
        r.Unit = "MHz (lowest SM clock under load)";
    }

    public static double Median(IReadOnlyList<double> xs)
    {
        if (xs.Count == 0) throw new InvalidOperationException("no timing samples");
        var sorted = xs.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }

    /// <summary>Decimal GB/s (1e9 bytes), as NVIDIA's datasheets and nvbandwidth count.</summary>
    public static double GBs(double bytes, double ms) => bytes / (ms * 1e-3) / 1e9;
}
