using System.Text.Json;
using GpuRunner.Lifecycle;

namespace GpuRunner.Core.Api;

/// <summary>
/// The door for the runner's GPU data (docs/gpu-watch.md): a GPU event's fields, and the heartbeat's optional GPU
/// readings with their units and ranges (<see cref="HeartbeatRanges"/>, one table a validator can walk).
/// </summary>
public static class GpuEvents
{
    public static readonly string[] Classes = ["user", "hardware", "driver", "info"];

    /// <summary>Kinds the runner's watch reports; the metrics' `code` label is the Xid for "xid", else the kind.</summary>
    public static readonly string[] Kinds =
        ["xid", "ecc_dbe", "ecc_sbe", "gpu_lost", "throttle", "power_source", "pcie_replay", "remap_pending", "remap_failed", "retired_pending"];

    public const int MaxGpu = 63, MaxXid = 1000, MaxMessage = 500;

    public static GpuNote Validate(RunnerEndpoints.GpuEventBody b, long atMs)
    {
        if (b.Gpu is not { } gpu || gpu < -1 || gpu > MaxGpu) throw new ApiException(400, $"'gpu' must be the GPU's index 0..{MaxGpu}, or -1 when unknown");
        if (b.Kind is not { } kind || !Kinds.Contains(kind)) throw new ApiException(400, $"'kind' must be one of {string.Join(", ", Kinds)}");
        if (b.Class is not { } cls || !Classes.Contains(cls)) throw new ApiException(400, "'class' must be user, hardware, driver or info");
        if (b.Fatal is not { } fatal) throw new ApiException(400, "'fatal' (true or false) is required");
        if (b.Code is { } code && (code < 0 || (kind == "xid" && code > MaxXid))) throw new ApiException(400, $"'code' must be 0..{MaxXid} for an Xid, non-negative otherwise");
        if (kind == "xid" && b.Code is null) throw new ApiException(400, "'code' (the Xid number) is required for kind xid");
        if (string.IsNullOrWhiteSpace(b.Message) || b.Message.Length > MaxMessage) throw new ApiException(400, $"'message' is required (at most {MaxMessage} characters)");
        return new GpuNote(atMs, gpu, cls, kind, b.Code, fatal, b.Message);
    }

    /// <summary>Each GPU reading of a heartbeat: JSON name, unit, allowed range. All optional (null or absent = n/a).</summary>
    public static readonly (string Name, string Unit, double Min, double Max)[] HeartbeatRanges =
    [
        ("utilizationPct", "%", 0, 100),
        ("memUtilPct", "%", 0, 100),
        ("memoryUsedMiB", "MiB", 0, 16_777_216),
        ("temperatureC", "°C", -50, 200),
        ("powerW", "W", 0, 10_000),
        ("smClockMHz", "MHz", 0, 10_000),
        ("throttle", "bits", 0, 1L << 40),
        ("eccCorrected", "errors", 0, int.MaxValue),
        ("eccUncorrected", "errors", 0, int.MaxValue),
        ("processMemoryMiB", "MiB", 0, 16_777_216),
    ];

    /// <summary>The readings the watch added to heartbeats: present ones must be numbers within range.</summary>
    public static readonly HashSet<string> WatchFields = ["memUtilPct", "smClockMHz", "throttle", "eccCorrected", "eccUncorrected", "processMemoryMiB"];

    /// <summary>Refuses a heartbeat whose watch readings are not numbers in range (the rest is the route's own check).</summary>
    public static void CheckHeartbeat(JsonElement gpus)
    {
        foreach (var g in gpus.EnumerateArray())
        {
            if (g.ValueKind != JsonValueKind.Object) continue;
            foreach (var (name, unit, min, max) in HeartbeatRanges)
            {
                if (!WatchFields.Contains(name) || !g.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) continue;
                if (v.ValueKind != JsonValueKind.Number || !v.TryGetDouble(out var d) || d < min || d > max)
                    throw new ApiException(400, $"'gpus[].{name}' must be a number {min}..{max} ({unit}) or null");
            }
        }
    }

    /// <summary>A reading from a stored heartbeat, null when absent or out of range (stored before the check).</summary>
    public static double? Reading(JsonElement gpu, string name)
    {
        if (!gpu.TryGetProperty(name, out var v) || v.ValueKind != JsonValueKind.Number || !v.TryGetDouble(out var d)) return null;
        foreach (var r in HeartbeatRanges)
            if (r.Name == name) return d < r.Min || d > r.Max ? null : d;
        return d;
    }
}
