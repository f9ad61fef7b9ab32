using System.Text.Json.Serialization;

namespace GpuRunner.Diagnostics.Catalogue;

// Source-generated so the detect path stays trim/AOT safe.
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    ReadCommentHandling = System.Text.Json.JsonCommentHandling.Skip, AllowTrailingCommas = true,
    DefaultIgnoreCondition = JsonIgnoreCondition.Never, WriteIndented = true)]
[JsonSerializable(typeof(TiersFile))]
[JsonSerializable(typeof(GpusFile))]
[JsonSerializable(typeof(CudaDriverFile))]
[JsonSerializable(typeof(TierMatch))]
[JsonSerializable(typeof(GpuRunner.Diagnostics.Requirements.WheelsFile))]
internal sealed partial class CatalogueJsonContext : JsonSerializerContext;
