using System.Text.Json.Serialization;
using GpuRunner.Diagnostics.Catalogue;

namespace GpuRunner.Diagnostics.Host;

/// <summary>camelCase, nulls written (the contract shows unknown figures as null); source-generated for trimming.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = true,
    DefaultIgnoreCondition = JsonIgnoreCondition.Never)]
[JsonSerializable(typeof(HostFacts))]
[JsonSerializable(typeof(TierMatch))]
public sealed partial class HostJsonContext : JsonSerializerContext;
