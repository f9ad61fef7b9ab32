using System.Text.Json.Serialization;

namespace GpuRunner.Diagnostics.Smoke;

/// <summary>Source-generated (trim/AOT safe) camelCase JSON for the smoke report.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = true,
    DefaultIgnoreCondition = JsonIgnoreCondition.Never)]
[JsonSerializable(typeof(SmokeReport))]
public sealed partial class SmokeJsonContext : JsonSerializerContext;
