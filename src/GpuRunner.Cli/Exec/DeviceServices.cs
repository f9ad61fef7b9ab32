using System.Text.Json;
using GpuRunner.Client;

namespace GpuRunner.Cli.Exec;

/// <summary>What `verify` found: the contract's device report (docs/contracts.md) and its human-readable block.</summary>
public sealed record DeviceReport(JsonElement Json, string Verdict, IReadOnlyList<string> Block)
{
    public bool Failed => Verdict == "FAIL";
}

/// <summary>Runs the device checks before the app starts (the `verify` pipeline); null when they are unavailable.</summary>
public interface IDeviceReporter
{
    Task<DeviceReport?> RunAsync(CancellationToken ct);
}

/// <summary>One heartbeat's worth of GPU readings; an empty list on a machine without an NVIDIA GPU.</summary>
public interface IHeartbeatSampler
{
    IReadOnlyList<GpuHeartbeat> Sample();
}

/// <summary>Used until the verify pipeline is part of the build: says so, reports nothing.</summary>
public sealed class UnavailableDeviceReporter(string reason) : IDeviceReporter
{
    public string Reason { get; } = reason;
    public Task<DeviceReport?> RunAsync(CancellationToken ct) => Task.FromResult<DeviceReport?>(null);
}

/// <summary>No GPU readings (no NVML): heartbeats still prove the app is alive.</summary>
public sealed class NoGpuSampler : IHeartbeatSampler
{
    public IReadOnlyList<GpuHeartbeat> Sample() => [];
}
