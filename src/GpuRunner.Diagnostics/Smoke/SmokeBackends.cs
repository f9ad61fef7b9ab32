namespace GpuRunner.Diagnostics.Smoke;

/// <summary>A backend with no GPU to test, and the reason (every GPU check becomes a SKIP that says it).</summary>
public sealed class UnavailableSmokeBackend(string reason, IReadOnlyList<string>? trace = null) : ISmokeBackend
{
    public string? UnavailableReason { get; } = reason;
    public IReadOnlyList<ISmokeDevice> Devices { get; } = [];
    public IReadOnlyList<string> Trace { get; } = trace ?? [];
    public void Dispose() { }
}

public static class SmokeBackends
{
    /// <summary>The GPUs of this machine through the CUDA driver, or the reason there are none.</summary>
    public static ISmokeBackend Open() => Cuda.CudaSmokeBackend.Open();
}
