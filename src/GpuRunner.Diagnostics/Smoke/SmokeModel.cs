using System.Text.Json.Serialization;

namespace GpuRunner.Diagnostics.Smoke;

/// <summary>Outcome of one smoke check. Order matters: a report's verdict is the worst of its checks (SKIP aside).</summary>
[JsonConverter(typeof(JsonStringEnumConverter<SmokeStatus>))]
public enum SmokeStatus
{
    [JsonStringEnumMemberName("SKIP")] Skip = 0,
    [JsonStringEnumMemberName("PASS")] Pass = 1,
    [JsonStringEnumMemberName("WARN")] Warn = 2,
    [JsonStringEnumMemberName("FAIL")] Fail = 3,
}

[JsonConverter(typeof(JsonStringEnumConverter<SmokeLevel>))]
public enum SmokeLevel
{
    [JsonStringEnumMemberName("quick")] Quick,
    [JsonStringEnumMemberName("standard")] Standard,
    [JsonStringEnumMemberName("long")] Long,
}

/// <summary>
/// One measurement. <see cref="Series"/> names what was measured ("d2d", "h2d-pinned", "smClockMHz"); X is the
/// transfer size in bytes for sweeps, TimeS the seconds since the check started for telemetry.
/// </summary>
public sealed record SmokeSample(string Series, double Value, double? X = null, double? TimeS = null);

/// <summary>A memory-test mismatch, as DCGM's memtest reports it: where, what was written, what was read back.</summary>
public sealed record MemoryErrorRecord(ulong Address, ulong Expected, ulong Actual, string Pattern)
{
    /// <summary>Bits that differ; one bit is a flip, many bits an addressing or stuck-line fault.</summary>
    public ulong FlippedBits => Expected ^ Actual;
    public override string ToString() =>
        $"{Pattern}: address 0x{Address:x12} expected 0x{Expected:x16} read 0x{Actual:x16} (flipped 0x{FlippedBits:x16})";
}

/// <summary>A cause and its fix, for a check that failed or was skipped for a reason the user can act on.</summary>
public sealed record SmokeDiagnosis(string Cause, string Fix);

/// <summary>One check's result. Value/Unit/Spec/PercentOfSpec are set for measured checks; Samples hold every sample.</summary>
public sealed class SmokeCheckResult
{
    public required string Id { get; init; }
    public required string Title { get; init; }
    /// <summary>GPU index, or null for checks about the machine (identity) or pairs (see Peer).</summary>
    public int? Gpu { get; init; }
    /// <summary>For peer checks: the destination GPU.</summary>
    public int? Peer { get; init; }
    public SmokeStatus Status { get; set; }
    public string Evidence { get; set; } = "";
    public double? Value { get; set; }
    public string? Unit { get; set; }
    /// <summary>The figure the value is compared with (datasheet, or practical PCIe figure), and where it comes from.</summary>
    public double? Spec { get; set; }
    public string? SpecSource { get; set; }
    public double? PercentOfSpec { get; set; }
    public SmokeDiagnosis? Diagnosis { get; set; }
    public double Seconds { get; set; }
    public double LimitSeconds { get; set; }
    public List<SmokeSample> Samples { get; init; } = [];
    /// <summary>Memtest: every mismatch counted; <see cref="Errors"/> logs the first few with their addresses.</summary>
    public long? ErrorCount { get; set; }
    public List<MemoryErrorRecord> Errors { get; init; } = [];

    public static SmokeCheckResult Skipped(string id, string title, int? gpu, string reason) =>
        new() { Id = id, Title = title, Gpu = gpu, Status = SmokeStatus.Skip, Evidence = reason };
}

/// <summary>What the smoke test compares a GPU against (requirements/gpus.json through the catalogue). A null figure
/// is unknown: the measurement is reported without a % of spec rather than against a guess.</summary>
public sealed record SmokeSpec(
    string Model,
    double? MemoryBandwidthGBs,
    double? Bf16TensorTflops,
    double? Fp16TensorTflops,
    double? Fp32Tflops,
    int? PcieGen,
    string? Source);

public sealed class SmokeGpuReport
{
    public int Index { get; init; }
    public string Name { get; init; } = "";
    public string? Uuid { get; init; }
    public string? PciBusId { get; init; }
    public long MemoryTotalBytes { get; init; }
    public long MemoryFreeBytes { get; init; }
    public string? ComputeCapability { get; init; }
    public SmokeSpec? Spec { get; init; }
    public SmokeStatus Status { get; set; }
}

public sealed record SmokeTool(string Version);

public sealed class SmokeReport
{
    public string Schema { get; init; } = "gpurunner.smoke/1";
    public SmokeTool Tool { get; init; } = new("");
    public DateTimeOffset Timestamp { get; init; }
    public SmokeLevel Level { get; init; }
    public string? Expect { get; init; }
    public List<SmokeGpuReport> Gpus { get; init; } = [];
    /// <summary>Every check, machine-wide ones first, then per GPU, then per pair, in the order they ran.</summary>
    public List<SmokeCheckResult> Checks { get; init; } = [];
    /// <summary>nvidia-smi-topo-like lines ("GPU0 -> GPU1: P2P supported, 48.2 GB/s"); empty with fewer than two GPUs.</summary>
    public List<string> Topology { get; init; } = [];
    /// <summary>Where the driver and cuBLAS were loaded from (or every place tried when they were not).</summary>
    public List<string> Trace { get; init; } = [];
    public bool Interrupted { get; set; }
    public double Seconds { get; set; }
    public SmokeStatus Verdict { get; set; }
    /// <summary>The one greppable line ("SMOKE VERDICT: PASS ...") also printed last in every output style.</summary>
    public string VerdictLine { get; set; } = "";
}
