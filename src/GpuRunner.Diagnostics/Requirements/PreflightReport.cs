using System.Text.Json.Serialization;

namespace GpuRunner.Diagnostics.Requirements;

[JsonConverter(typeof(JsonStringEnumConverter<PreflightStatus>))]
public enum PreflightStatus
{
    [JsonStringEnumMemberName("OK")] Ok,
    [JsonStringEnumMemberName("WARN")] Warn,
    [JsonStringEnumMemberName("FAIL")] Fail,
    [JsonStringEnumMemberName("SKIP")] Skip,
}

/// <summary>One GPU-relevant requirement and what the driver makes of it.</summary>
public sealed record PreflightItem
{
    public required string File { get; init; }
    public required int Line { get; init; }
    public required string Requirement { get; init; }
    public required string Package { get; init; }
    public required PreflightStatus Status { get; init; }
    /// <summary>"CUDA 11.3 (cu113 from --extra-index-url ...)", "CPU-only", or null when not determined.</summary>
    public string? Build { get; init; }
    /// <summary>The minimum driver for that build, from requirements/cuda-driver.json.</summary>
    public string? RequiredDriver { get; init; }
    public required string Message { get; init; }
    /// <summary>The line(s) to use instead; empty when nothing needs to change.</summary>
    public IReadOnlyList<string> InsteadUse { get; init; } = [];
}

public sealed record PreflightReport
{
    public string Schema { get; init; } = "gpurunner.requirements/1";
    public required string File { get; init; }
    public required string DriverCuda { get; init; }
    /// <summary>"--driver-cuda" or what detected it.</summary>
    public required string DriverSource { get; init; }
    public required IReadOnlyList<PreflightItem> Items { get; init; }
    /// <summary>Requirements that have nothing to do with CUDA (not checked).</summary>
    public required int OtherRequirements { get; init; }
    public IReadOnlyList<string> Notes { get; init; } = [];
    /// <summary>PASS (all can use the GPU), WARN (they can, with a caveat), FAIL (some cannot).</summary>
    public required string Verdict { get; init; }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = true,
    DefaultIgnoreCondition = JsonIgnoreCondition.Never, UseStringEnumConverter = true)]
[JsonSerializable(typeof(PreflightReport))]
public sealed partial class RequirementsJsonContext : JsonSerializerContext;
