namespace GpuRunner.Diagnostics.Smoke;

/// <summary>What the smoke runner needs from the GPUs. The CUDA implementation is <c>CudaSmokeBackend</c>; tests use
/// a host-memory double. Every timing is in milliseconds, measured with device events around the work.</summary>
public interface ISmokeBackend : IDisposable
{
    /// <summary>Null when GPUs can be tested; otherwise the one-line reason (e.g. "libcuda.so.1 not found (...)").</summary>
    string? UnavailableReason { get; }
    IReadOnlyList<ISmokeDevice> Devices { get; }
    /// <summary>Lines for the report explaining what was loaded from where (driver, cuBLAS).</summary>
    IReadOnlyList<string> Trace { get; }
}

public sealed record SmokeGpuInfo(int Index, string Name, string? Uuid, string? PciBusId, long TotalBytes, long FreeBytes,
    string? ComputeCapability, int MultiprocessorCount, long L2Bytes);

public enum HostCopyKind { H2DPinned, D2HPinned, H2DPageable, D2HPageable }

public sealed record TelemetrySample(double? SmClockMHz, double? MemClockMHz, double? PowerW, double? TemperatureC,
    IReadOnlyList<string>? ThrottleReasons, ulong? EccVolatileUncorrected);

/// <summary>A GEMM run: which engine did it, per-repetition times, and the relative error against a reference.</summary>
public sealed record GemmRun(string Engine, string Precision, bool TensorCores, int N, IReadOnlyList<double> Milliseconds,
    double RelativeError, string ReferenceDescription);

public sealed record MemtestPassResult(MemoryPattern Pattern, ulong Seed, long Bytes, double WriteMs, double VerifyMs,
    long ErrorCount, IReadOnlyList<MemoryErrorRecord> Errors);

/// <summary>Memory held for the memtest (large chunks); disposing frees it.</summary>
public interface IMemtestSession : IDisposable
{
    long Bytes { get; }
    int Chunks { get; }
    MemtestPassResult RunPass(MemoryPattern pattern, ulong seed, int maxLogged, CancellationToken ct);
}

public interface ISmokeDevice
{
    SmokeGpuInfo Info { get; }
    GpuHealthFacts ReadHealth();
    TelemetrySample ReadTelemetry();
    IReadOnlyList<double> TimeDeviceCopy(long bytes, int reps, CancellationToken ct);
    IReadOnlyList<double> TimeCopyKernel(long bytes, int reps, CancellationToken ct);
    IReadOnlyList<double> TimeHostCopy(HostCopyKind kind, long bytes, int reps, CancellationToken ct);
    GemmRun RunGemm(int n, int reps, CancellationToken ct);
    /// <summary>Keeps the GPU busy with GEMMs until <paramref name="ct"/> fires; returns how many ran.</summary>
    long SustainGemm(int n, CancellationToken ct);
    /// <summary>Allocates up to <paramref name="targetBytes"/> in large chunks; stops early (not an error) when the
    /// driver refuses more.</summary>
    IMemtestSession OpenMemtest(long targetBytes);
    /// <summary>Null when peer access to <paramref name="other"/> is possible; otherwise why not.</summary>
    string? PeerUnsupportedReason(ISmokeDevice other);
    IReadOnlyList<double> TimePeerCopy(ISmokeDevice destination, long bytes, int reps, CancellationToken ct);
    /// <summary>Frees buffers kept between checks (pinned host memory, copy buffers) before the memtest.</summary>
    void ReleaseCaches();
}
