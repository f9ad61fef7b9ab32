using System.Text.Json;
using GpuRunner.Diagnostics.Smoke;

namespace GpuRunner.Diagnostics.Tests.Smoke;

public class SmokeRunnerTests
{
    private static readonly SmokeSpec H200 = new("H200", 4800, 989, 989, 67, 5, "test");

    private static SmokeReport Run(FakeSmokeBackend backend, SmokeLevel level = SmokeLevel.Quick, CancellationToken ct = default,
        SmokeSpec? spec = null) =>
        new SmokeRunner(backend, SmokePlan.For(level), _ => spec ?? H200).Run([], null, "test", ct);

    [Fact]
    public void WithoutAGpuEveryGpuCheckIsSkipWithItsReason()
    {
        var report = Run(new FakeSmokeBackend("libcuda.so.1 not found (tried /usr/local/nvidia/lib64: no such file)"));
        Assert.Equal(SmokeStatus.Skip, report.Verdict);
        Assert.NotEmpty(report.Checks);
        Assert.All(report.Checks, c =>
        {
            Assert.Equal(SmokeStatus.Skip, c.Status);
            Assert.Contains("libcuda.so.1 not found", c.Evidence);
        });
        Assert.StartsWith("SMOKE VERDICT: SKIP no GPU tested: libcuda.so.1 not found", report.VerdictLine);
    }

    [Fact]
    public void HealthyFakeH200Passes()
    {
        var report = Run(new FakeSmokeBackend(null, new FakeDevice(0)));
        Assert.Equal(SmokeStatus.Pass, report.Verdict);
        var d2d = report.Checks.Single(c => c.Id == "bandwidth.d2d");
        Assert.Equal(4800, d2d.Spec);
        Assert.InRange(d2d.PercentOfSpec!.Value, 89, 90);
        Assert.Equal(5, d2d.Samples.Count); // every repetition kept
        var gemm = report.Checks.Single(c => c.Id == "compute.gemm");
        Assert.Equal(780, gemm.Value!.Value, 0);
        Assert.Contains("rel. error", gemm.Evidence);
        var h2d = report.Checks.Single(c => c.Id == "pcie.h2d-pinned");
        Assert.Equal(40, h2d.Spec); // low end of the Gen5 practical figure
        Assert.Equal(SmokeStatus.Pass, report.Checks.Single(c => c.Id == "pcie.h2d-pageable").Status);
        Assert.Contains("no spec", report.Checks.Single(c => c.Id == "pcie.h2d-pageable").Evidence);
        var sweep = report.Checks.Single(c => c.Id == "bandwidth.sweep");
        Assert.Equal(SmokePlan.For(SmokeLevel.Quick).SweepSizes.Count * 3, sweep.Samples.Count);
        Assert.Matches(@"^SMOKE VERDICT: PASS 1x NVIDIA H200 146432 MiB \| level quick \| d2d 4300 GB/s 90% \| h2d 52.\d GB/s \d+% \| gemm 780 TFLOP/s 79% \| memtest 0 errors", report.VerdictLine);
    }

    [Fact]
    public void AFlippedBitFailsTheMemtestWithItsAddress()
    {
        var device = new FakeDevice(0) { InjectFault = (words, baseAddress) => words[1000] ^= 1UL << 3 };
        var report = Run(new FakeSmokeBackend(null, device));
        var mem = report.Checks.Single(c => c.Id == "memtest");
        Assert.Equal(SmokeStatus.Fail, mem.Status);
        Assert.Equal(3, mem.ErrorCount); // one per pattern
        Assert.Equal(0x7f00_0000_0000UL + 8000, mem.Errors[0].Address);
        Assert.Contains("address 0x7f0000001f40", mem.Evidence);
        Assert.Equal(SmokeStatus.Fail, report.Verdict);
        Assert.Contains("failed: memtest@gpu0", report.VerdictLine);
    }

    [Fact]
    public void LowCoverageWarnsAtStandardLevel()
    {
        // 8 MiB of 140 GiB free: the fake cannot give the memtest 90 %.
        var report = Run(new FakeSmokeBackend(null, new FakeDevice(0)), SmokeLevel.Standard);
        var mem = report.Checks.Single(c => c.Id == "memtest");
        Assert.Equal(SmokeStatus.Warn, mem.Status);
        Assert.Contains("under 90", mem.Diagnosis!.Cause);
    }

    [Fact]
    public void WrongGemmResultFailsWhateverTheSpeed()
    {
        var report = Run(new FakeSmokeBackend(null, new FakeDevice(0) { GemmRelativeError = 0.3 }));
        var gemm = report.Checks.Single(c => c.Id == "compute.gemm");
        Assert.Equal(SmokeStatus.Fail, gemm.Status);
        Assert.Contains("wrong", gemm.Diagnosis!.Cause);
    }

    [Fact]
    public void ACopyThatWritesWrongDataFailsAndSaysWhyInPlainWords()
    {
        const string fault = "the copy kernel wrote wrong data: byte 4096 of 2147483648 differs from its source";
        var report = Run(new FakeSmokeBackend(null, new FakeDevice(0) { CopyKernelFault = fault }));
        var kernel = report.Checks.Single(c => c.Id == "bandwidth.kernel");
        Assert.Equal(SmokeStatus.Fail, kernel.Status);
        Assert.Equal(fault, kernel.Evidence);
        Assert.Equal(fault, kernel.Diagnosis!.Cause); // the message, never the .NET exception's type name
        Assert.Equal(SmokeStatus.Pass, report.Checks.Single(c => c.Id == "bandwidth.d2d").Status); // the others still ran
    }

    [Fact]
    public void SlowCopyIsJudgedAgainstTheSpec()
    {
        var device = new FakeDevice(0) { DeviceCopyMs = bytes => 2.0 * bytes / 2.0e12 * 1e3 }; // 2 TB/s of 4.8
        var report = Run(new FakeSmokeBackend(null, device));
        var d2d = report.Checks.Single(c => c.Id == "bandwidth.d2d");
        Assert.Equal(SmokeStatus.Fail, d2d.Status);
        Assert.InRange(d2d.PercentOfSpec!.Value, 41, 42);
    }

    [Fact]
    public void AFailingCallFailsItsCheckOnlyAndTheRunGoesOn()
    {
        var device = new FakeDevice(0) { OnCall = what => { if (what == "gemm") throw new InvalidOperationException("cuBLAS: CUBLAS_STATUS_NOT_SUPPORTED"); } };
        var report = Run(new FakeSmokeBackend(null, device));
        var gemm = report.Checks.Single(c => c.Id == "compute.gemm");
        Assert.Equal(SmokeStatus.Fail, gemm.Status);
        Assert.Contains("CUBLAS_STATUS_NOT_SUPPORTED", gemm.Evidence);
        Assert.Equal(SmokeStatus.Pass, report.Checks.Single(c => c.Id == "memtest").Status);
    }

    [Fact]
    public void CtrlCStopsBetweenChecksAndMarksTheReport()
    {
        using var cts = new CancellationTokenSource();
        var device = new FakeDevice(0) { OnCall = what => { if (what == "gemm") cts.Cancel(); } };
        var report = Run(new FakeSmokeBackend(null, device), ct: cts.Token);
        Assert.True(report.Interrupted);
        Assert.DoesNotContain(report.Checks, c => c.Id == "memtest");
        Assert.Contains("(interrupted)", report.VerdictLine);
    }

    [Fact]
    public void EveryGpuIsTestedAndPairsGetPeerChecks()
    {
        var report = Run(new FakeSmokeBackend(null, new FakeDevice(0), new FakeDevice(1) { PeerReason = "cuDeviceCanAccessPeer: 0" }));
        Assert.Equal(2, report.Gpus.Count);
        Assert.Equal(2, report.Checks.Count(c => c.Id == "memtest"));
        var peers = report.Checks.Where(c => c.Id == "peer.copy").ToList();
        Assert.Equal(2, peers.Count);
        Assert.Equal(SmokeStatus.Pass, peers.Single(p => p.Gpu == 0).Status);
        Assert.Equal(SmokeStatus.Skip, peers.Single(p => p.Gpu == 1).Status);
        Assert.Contains(report.Topology, l => l.StartsWith("GPU0 -> GPU1: P2P, 45.0 GB/s"));
        Assert.Contains(report.Topology, l => l.Contains("GPU1 -> GPU0: no P2P"));
        Assert.Contains("2x NVIDIA H200", report.VerdictLine);
    }

    [Fact]
    public void UnknownGpuIsMeasuredButNotJudgedAgainstAGuess()
    {
        var report = new SmokeRunner(new FakeSmokeBackend(null, new FakeDevice(0, "NVIDIA Mystery")), SmokePlan.For(SmokeLevel.Quick), _ => null)
            .Run([], null, "test", default);
        var d2d = report.Checks.Single(c => c.Id == "bandwidth.d2d");
        Assert.Null(d2d.Spec);
        Assert.Contains("no spec for 'NVIDIA Mystery'", d2d.Evidence);
    }

    [Fact]
    public void ReportJsonIsCamelCaseWithStatusWordsAndEverySample()
    {
        var report = Run(new FakeSmokeBackend(null, new FakeDevice(0)));
        var json = JsonSerializer.Serialize(report, SmokeJsonContext.Default.SmokeReport);
        using var doc = JsonDocument.Parse(json);
        var root = doc.RootElement;
        Assert.Equal("gpurunner.smoke/1", root.GetProperty("schema").GetString());
        Assert.Equal("PASS", root.GetProperty("verdict").GetString());
        Assert.Equal("quick", root.GetProperty("level").GetString());
        var checks = root.GetProperty("checks").EnumerateArray().ToList();
        var d2d = checks.Single(c => c.GetProperty("id").GetString() == "bandwidth.d2d");
        Assert.Equal(5, d2d.GetProperty("samples").GetArrayLength());
        Assert.Equal("d2d", d2d.GetProperty("samples")[0].GetProperty("series").GetString());
        Assert.StartsWith("SMOKE VERDICT: PASS", root.GetProperty("verdictLine").GetString());
        var back = JsonSerializer.Deserialize(json, SmokeJsonContext.Default.SmokeReport)!;
        Assert.Equal(report.Checks.Count, back.Checks.Count);
    }

    [Fact]
    public void LevelsFitTheirBudgets()
    {
        var quick = SmokePlan.For(SmokeLevel.Quick);
        var standard = SmokePlan.For(SmokeLevel.Standard);
        var longPlan = SmokePlan.For(SmokeLevel.Long, TimeSpan.FromMinutes(10));
        Assert.Equal(TimeSpan.FromSeconds(15), quick.BudgetPerGpu);
        Assert.Equal(TimeSpan.FromMinutes(2), standard.BudgetPerGpu);
        Assert.Equal(TimeSpan.FromMinutes(10), longPlan.StabilityDuration);
        Assert.Equal(TimeSpan.Zero, standard.StabilityDuration);
        // Standard must aim at >= 90 % of free memory on the H200 (143156 MiB free), leaving headroom.
        var free = 143156L << 20;
        var target = standard.MemtestTarget(free);
        Assert.InRange((double)target / free, 0.90, 0.96);
        Assert.True(free - target >= 1L << 30);
        Assert.True(quick.MemtestTarget(free) < target);
        Assert.Equal(0, standard.MemtestTarget(512L << 20)); // no room: nothing, not a negative size
        // Buffers several times the largest L2 (60 MiB).
        Assert.True(quick.DeviceCopyBytes >= 8 * (60L << 20));
    }

    [Fact]
    public void ChecksPastTheLevelBudgetAreSkippedAndSaySo()
    {
        // The first device copy takes longer than the whole budget: everything after it is skipped.
        var device = new FakeDevice(0) { OnCall = what => { if (what == "d2d") Thread.Sleep(30); } };
        var plan = SmokePlan.For(SmokeLevel.Quick) with { BudgetPerGpu = TimeSpan.FromMilliseconds(20) };
        var report = new SmokeRunner(new FakeSmokeBackend(null, device), plan, _ => H200).Run([], null, "test", default);
        var skipped = report.Checks.Where(c => c.Status == SmokeStatus.Skip && c.Evidence.Contains("budget")).ToList();
        Assert.NotEmpty(skipped);
        Assert.Contains(skipped, c => c.Id == "memtest");
    }

    [Fact]
    public void LongLevelSustainsLoadAndSamplesTelemetryEverySecond()
    {
        var plan = SmokePlan.For(SmokeLevel.Long, TimeSpan.FromSeconds(2));
        var report = new SmokeRunner(new FakeSmokeBackend(null, new FakeDevice(0)), plan, _ => H200).Run([], null, "test", default);
        var run = report.Checks.Single(c => c.Id == "stability");
        Assert.Equal(SmokeStatus.Pass, run.Status);
        var clocks = run.Samples.Where(x => x.Series == "smClockMHz").ToList();
        Assert.InRange(clocks.Count, 1, 3);
        Assert.All(clocks, x => Assert.NotNull(x.TimeS));
        Assert.Contains("42 GEMMs", run.Evidence); // the load ran until the runner stopped it
        Assert.Equal(4, report.Checks.Single(c => c.Id == "memtest").Samples.Count(x => x.Series == "random.writeMs")); // 4 loops
    }

    [Fact]
    public void DeviceCopySamplesRecordTheTransferSize()
    {
        var report = Run(new FakeSmokeBackend(null, new FakeDevice(0)));
        Assert.All(report.Checks.Single(c => c.Id == "bandwidth.d2d").Samples, x => Assert.Equal(1L << 30, x.X));
    }
}
