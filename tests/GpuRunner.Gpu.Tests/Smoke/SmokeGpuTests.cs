using GpuRunner.Diagnostics.Smoke;
using GpuRunner.Diagnostics.Smoke.Cuda;

namespace GpuRunner.Gpu.Tests.Smoke;

/// <summary>The smoke backend on a real GPU. Without one each test reports Skipped with the driver's reason.</summary>
public sealed class SmokeGpuTests : IDisposable
{
    private readonly ISmokeBackend _backend = CudaSmokeBackend.Open();

    public void Dispose() => _backend.Dispose();

    private ISmokeDevice Gpu0()
    {
        Assert.SkipWhen(_backend.UnavailableReason is not null, $"no NVIDIA GPU: {_backend.UnavailableReason}");
        return _backend.Devices[0];
    }

    [Fact]
    public void MemtestFindsNoErrorsOnAHealthyCardAndCoversWhatItAllocated()
    {
        var gpu = Gpu0();
        // Opening runs the self-check: a bit flipped from the host must come back with its address.
        using var session = gpu.OpenMemtest(512L << 20);
        Assert.Equal(512L << 20, session.Bytes);
        foreach (var p in MemoryPatterns.All)
        {
            var pass = session.RunPass(p, 5, 16, TestContext.Current.CancellationToken);
            Assert.Equal(0, pass.ErrorCount);
            Assert.True(pass.WriteMs > 0 && pass.VerifyMs > 0);
        }
    }

    [Fact]
    public void CopiesAndGemmGiveSaneNumbers()
    {
        var gpu = Gpu0();
        var d2d = SmokeRunner.GBs(2.0 * (256 << 20), SmokeRunner.Median(gpu.TimeDeviceCopy(256 << 20, 5, TestContext.Current.CancellationToken)));
        var kernel = SmokeRunner.GBs(2.0 * (256 << 20), SmokeRunner.Median(gpu.TimeCopyKernel(256 << 20, 5, TestContext.Current.CancellationToken)));
        Assert.InRange(d2d, 50, 20_000);
        Assert.InRange(kernel / d2d, 0.5, 2.0); // our kernel is in the same league as the driver's copy
        var gemm = gpu.RunGemm(2048, 3, TestContext.Current.CancellationToken);
        Assert.InRange(gemm.RelativeError, 0, 2e-2);
        Assert.All(gemm.Milliseconds, ms => Assert.True(ms > 0));
    }

    [Fact]
    public void QuickSmokeOnThisGpuDoesNotFail()
    {
        Gpu0();
        var report = new SmokeRunner(_backend, SmokePlan.For(SmokeLevel.Quick), _ => null).Run([], null, "test", TestContext.Current.CancellationToken);
        Assert.DoesNotContain(report.Checks, c => c.Status == SmokeStatus.Fail && !c.Id.StartsWith("health."));
        Assert.StartsWith("SMOKE VERDICT:", report.VerdictLine);
    }
}
