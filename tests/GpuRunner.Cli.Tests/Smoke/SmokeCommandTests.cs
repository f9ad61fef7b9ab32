using System.Text.Json;
using GpuRunner.Cli.Commands;
using GpuRunner.Cli.Smoke;
using GpuRunner.Diagnostics.Smoke;

namespace GpuRunner.Cli.Tests.Smoke;

public class SmokeCommandTests
{
    private static bool HasGpu => System.Runtime.InteropServices.NativeLibrary.TryLoad("libcuda.so.1", out _);

    [SkippableFact]
    public async Task WithoutAGpuEveryCheckIsSkipAndExitIsZero()
    {
        Skip.If(HasGpu, "this machine has an NVIDIA driver: the no-GPU path cannot be seen here");
        var (code, console) = await TestConsole.RunAsync("smoke", "--level", "quick");
        Assert.Equal(0, code);
        var lines = console.StdOut.TrimEnd().Split('\n');
        var checks = lines.Where(l => !l.StartsWith("smoke: ")).ToArray();
        Assert.Equal(16, checks.Length - 1); // every GPU check of the quick level, then the verdict
        Assert.All(checks[..^1], l => Assert.StartsWith("SKIP ", l));
        Assert.Contains(lines, l => l.StartsWith("smoke: tried ") && l.Contains("libcuda.so.1")); // where it looked
        Assert.Contains(checks, l => l.StartsWith("SKIP memtest: libcuda.so.1 not found"));
        Assert.StartsWith("SMOKE VERDICT: SKIP no GPU tested", lines[^1]);
    }

    [SkippableFact]
    public async Task JsonWorksWithoutAGpuAndTheVerdictLineGoesToStderr()
    {
        Skip.If(HasGpu, "this machine has an NVIDIA driver: the no-GPU path cannot be seen here");
        var (code, console) = await TestConsole.RunAsync("smoke", "--json", "--level", "quick");
        Assert.Equal(0, code);
        using var doc = JsonDocument.Parse(console.StdOut);
        Assert.Equal("SKIP", doc.RootElement.GetProperty("verdict").GetString());
        Assert.All(doc.RootElement.GetProperty("checks").EnumerateArray(),
            c => Assert.False(string.IsNullOrEmpty(c.GetProperty("evidence").GetString())));
        Assert.StartsWith("SMOKE VERDICT: SKIP", console.StdErr);
    }

    [SkippableFact]
    public async Task TerminalGetsATableAndTheVerdict()
    {
        Skip.If(HasGpu, "this machine has an NVIDIA driver");
        var console = new TestConsole(interactive: true);
        var code = await CliApp.RunAsync(["smoke", "--level", "quick"], console);
        Assert.Equal(0, code);
        Assert.Contains("Memory test", console.StdOut);
        Assert.Contains("SMOKE VERDICT: SKIP", console.StdOut);
    }

    [SkippableFact]
    public async Task ExpectingAGpuTierWithoutAGpuFails()
    {
        Skip.If(HasGpu, "this machine has an NVIDIA driver");
        var (code, console) = await TestConsole.RunAsync("smoke", "--level", "quick", "--expect", "h200");
        Assert.Equal(1, code);
        Assert.Contains("FAIL identity.tier: does not match h200", console.StdOut);
        Assert.Contains("SMOKE VERDICT: FAIL", console.StdOut);
    }

    [Theory]
    [InlineData("smoke", "--expect", "h20")] // unknown flavor: said before anything runs, with a suggestion
    [InlineData("smoke", "--level", "fast")]
    [InlineData("smoke", "--level", "quick", "--duration", "30")]
    [InlineData("smoke", "--level", "long", "--duration", "0")]
    [InlineData("smoke", "--plot", "/proc/not-here/plots")]
    public async Task BadUsageIsExitTwoWithOneLine(params string[] args)
    {
        var (code, console) = await TestConsole.RunAsync(args);
        Assert.Equal(2, code);
        Assert.Matches("^gpurunner: (usage|error): ", console.StdErr);
        Assert.Empty(console.StdOut);
    }

    [Fact]
    public async Task FailedCheckIsExitOneAndBackendIsDisposed()
    {
        var backend = new BrokenBackend();
        var console = new TestConsole();
        var root = new System.CommandLine.RootCommand();
        root.Options.Add(Infrastructure.CommonOptions.Json);
        root.Subcommands.Add(SmokeCommand.Create(console, () => backend));
        var code = await root.Parse(["smoke", "--level", "quick"]).InvokeAsync();
        Assert.Equal(1, code);
        Assert.True(backend.Disposed);
        Assert.Contains("FAIL health.ecc gpu0: ECC on; volatile uncorrectable 5", console.StdOut);
        Assert.Contains("FAIL bandwidth.d2d gpu0: CUDA_ERROR_DEVICE_UNAVAILABLE", console.StdOut);
        Assert.Contains("cause: uncorrectable memory errors", console.StdOut);
        Assert.Matches(@"SMOKE VERDICT: FAIL 1x Test GPU .*failed: health.ecc@gpu0", console.StdOut);
    }

    /// <summary>One GPU with a health fault; every measurement throws as if the device vanished.</summary>
    private sealed class BrokenBackend : ISmokeBackend, ISmokeDevice
    {
        public bool Disposed;
        public string? UnavailableReason => null;
        public IReadOnlyList<ISmokeDevice> Devices => [this];
        public IReadOnlyList<string> Trace => ["test backend"];
        public void Dispose() => Disposed = true;
        public SmokeGpuInfo Info { get; } = new(0, "Test GPU", null, null, 1L << 30, 1L << 30, "9.0", 1, 1 << 20);
        public GpuHealthFacts ReadHealth() => new() { EccEnabled = true, EccVolatileUncorrected = 5 };
        public TelemetrySample ReadTelemetry() => new(null, null, null, null, null, null);
        private static Exception Gone() => new InvalidOperationException("CUDA_ERROR_DEVICE_UNAVAILABLE");
        public IReadOnlyList<double> TimeDeviceCopy(long bytes, int reps, CancellationToken ct) => throw Gone();
        public IReadOnlyList<double> TimeCopyKernel(long bytes, int reps, CancellationToken ct) => throw Gone();
        public IReadOnlyList<double> TimeHostCopy(HostCopyKind kind, long bytes, int reps, CancellationToken ct) => throw Gone();
        public GemmRun RunGemm(int n, int reps, CancellationToken ct) => throw Gone();
        public long SustainGemm(int n, CancellationToken ct) => throw Gone();
        public IMemtestSession OpenMemtest(long targetBytes) => throw Gone();
        public string? PeerUnsupportedReason(ISmokeDevice other) => "one GPU";
        public IReadOnlyList<double> TimePeerCopy(ISmokeDevice destination, long bytes, int reps, CancellationToken ct) => throw Gone();
        public void ReleaseCaches() { }
    }
}

public class SmokePlotTests
{
    [Fact]
    public void BandwidthAndTelemetryChartsArePngsOfTheStatedSize()
    {
        var dir = Path.Combine(Path.GetTempPath(), $"smoke-plots-{Guid.NewGuid():N}");
        try
        {
            var sweep = new SmokeCheckResult { Id = "bandwidth.sweep", Title = "sweep", Gpu = 0 };
            foreach (var size in SmokePlan.Sizes(4096, 1L << 30))
            {
                var gbs = 55 * size / (size + 2e6); // latency-bound small, PCIe-bound large
                sweep.Samples.Add(new("h2d-pinned", gbs, size));
                sweep.Samples.Add(new("d2h-pinned", gbs * 1.01, size));
                sweep.Samples.Add(new("d2d", 4300 * size / (size + 5e7), size));
            }
            var stability = new SmokeCheckResult { Id = "stability", Title = "stability", Gpu = 0 };
            for (var t = 1; t <= 60; t++)
            {
                stability.Samples.Add(new("smClockMHz", t == 30 ? 1200 : 1755, TimeS: t));
                stability.Samples.Add(new("powerW", 690, TimeS: t));
                stability.Samples.Add(new("temperatureC", 40 + t / 3.0, TimeS: t));
            }
            var report = new SmokeReport { Checks = { sweep, stability } };
            Directory.CreateDirectory(dir);

            var files = SmokePlots.Write(report, dir);

            Assert.Equal(2, files.Count);
            foreach (var f in files)
            {
                var bytes = File.ReadAllBytes(f);
                Assert.True(bytes.Length > 10_000, $"{f} is only {bytes.Length} bytes");
                Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], bytes[..4]);
                // IHDR: width and height, big-endian, at offsets 16 and 20.
                Assert.Equal(SmokePlots.Width, System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(16)));
                Assert.Equal(SmokePlots.Height, System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(20)));
            }
            Assert.EndsWith("bandwidth-vs-size-gpu0.png", files[0]);
            Assert.EndsWith("stability-gpu0.png", files[1]);
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void NothingToPlotWritesNothing()
    {
        var dir = Path.Combine(Path.GetTempPath(), $"smoke-plots-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        try { Assert.Empty(SmokePlots.Write(new SmokeReport(), dir)); }
        finally { Directory.Delete(dir, recursive: true); }
    }
}
