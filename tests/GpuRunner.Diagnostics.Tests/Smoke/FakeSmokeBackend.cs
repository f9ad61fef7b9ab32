using GpuRunner.Diagnostics.Smoke;

namespace GpuRunner.Diagnostics.Tests.Smoke;

/// <summary>A test double for the runner: timings are what the test says; the memtest runs the real pattern
/// generators and verifier over host memory, with faults the test injects between write and verify.</summary>
internal sealed class FakeSmokeBackend(string? unavailable, params FakeDevice[] devices) : ISmokeBackend
{
    public string? UnavailableReason { get; } = unavailable;
    public IReadOnlyList<ISmokeDevice> Devices { get; } = devices;
    public IReadOnlyList<string> Trace { get; } = [];
    public bool Disposed { get; private set; }
    public void Dispose() => Disposed = true;
}

internal sealed class FakeDevice(int index, string name = "NVIDIA H200") : ISmokeDevice
{
    public SmokeGpuInfo Info { get; init; } = new(index, name, $"GPU-{index}", $"00000000:00:0{index + 6}.0",
        143L << 30, 140L << 30, "9.0", 132, 60L << 20);
    public GpuHealthFacts Health { get; set; } = new()
    {
        EccEnabled = true, EccVolatileUncorrected = 0, EccAggregateUncorrected = 0, RowRemapPending = false, RowRemapFailure = false,
        ThrottleReasons = [], TemperatureC = 35, SlowdownThresholdC = 87, PcieGen = 5, PcieGenMax = 5, PcieWidth = 16,
        PcieWidthMax = 16, PersistenceMode = true,
    };
    /// <summary>Device copy time per rep in ms for a given byte count (read+write counted by the runner).</summary>
    public Func<long, double> DeviceCopyMs { get; set; } = bytes => 2.0 * bytes / 4.3e12 * 1e3; // 4.3 TB/s
    public double HostGBs { get; set; } = 53;
    public double GemmTflops { get; set; } = 780;
    public double GemmRelativeError { get; set; } = 1.2e-3;
    /// <summary>Host memory the fake memtest may use (the real one would take the GPU's).</summary>
    public long MemtestBytesAvailable { get; set; } = 8L << 20;
    public Action<ulong[], ulong>? InjectFault { get; set; }
    public Action<string>? OnCall { get; set; }
    public string? PeerReason { get; set; }

    public GpuHealthFacts ReadHealth() => Health;
    public TelemetrySample ReadTelemetry() => new(1980, 3200, 650, 60, ["sw_power_cap"], 0);

    public IReadOnlyList<double> TimeDeviceCopy(long bytes, int reps, CancellationToken ct)
    {
        OnCall?.Invoke("d2d");
        return Enumerable.Repeat(DeviceCopyMs(bytes), reps).ToList();
    }

    /// <summary>What the real device throws when the copy kernel's output does not match its source.</summary>
    public string? CopyKernelFault { get; set; }

    public IReadOnlyList<double> TimeCopyKernel(long bytes, int reps, CancellationToken ct) =>
        CopyKernelFault is { } f ? throw new InvalidOperationException(f) : TimeDeviceCopy(bytes, reps, ct);

    public IReadOnlyList<double> TimeHostCopy(HostCopyKind kind, long bytes, int reps, CancellationToken ct)
    {
        var gbs = kind is HostCopyKind.H2DPageable or HostCopyKind.D2HPageable ? HostGBs / 7 : HostGBs;
        return Enumerable.Range(0, reps).Select(i => bytes / (gbs * 1e9) * 1e3 * (1 + 0.01 * i)).ToList();
    }

    public GemmRun RunGemm(int n, int reps, CancellationToken ct)
    {
        OnCall?.Invoke("gemm");
        return new("cublasLt", "bf16 (fp32 accumulate)", true, n,
            Enumerable.Repeat(2.0 * n * n * n / (GemmTflops * 1e12) * 1e3, reps).ToList(), GemmRelativeError, "float64 host reference, 64 sampled elements");
    }

    public long SustainGemm(int n, CancellationToken ct)
    {
        ct.WaitHandle.WaitOne();
        return 42;
    }

    public IMemtestSession OpenMemtest(long targetBytes) => new HostMemtest(Math.Min(targetBytes, MemtestBytesAvailable), InjectFault);
    public string? PeerUnsupportedReason(ISmokeDevice other) => PeerReason;
    public IReadOnlyList<double> TimePeerCopy(ISmokeDevice destination, long bytes, int reps, CancellationToken ct) =>
        Enumerable.Repeat(bytes / 45e9 * 1e3, reps).ToList();
    public void ReleaseCaches() => OnCall?.Invoke("release");

    private sealed class HostMemtest(long bytes, Action<ulong[], ulong>? inject) : IMemtestSession
    {
        private const ulong Base = 0x7f00_0000_0000;
        private readonly ulong[] _words = new ulong[bytes / 8];
        public long Bytes => _words.Length * 8L;
        public int Chunks => 1;

        public MemtestPassResult RunPass(MemoryPattern pattern, ulong seed, int maxLogged, CancellationToken ct)
        {
            MemoryPatterns.Fill(_words, pattern, Base, 0, seed);
            inject?.Invoke(_words, Base);
            var log = new List<MemoryErrorRecord>();
            var errors = MemoryPatterns.Verify(_words, pattern, Base, 0, seed, log, maxLogged);
            return new(pattern, seed, Bytes, 1, 1, errors, log);
        }

        public void Dispose() { }
    }
}
