using System.Text.Json;
using System.Text.Json.Serialization;
using GpuRunner.Lifecycle;

namespace GpuRunner.Core.Storage;

/// <summary>JSON used for stored state/events and the API: camelCase, enums as strings.</summary>
public static class CoreJson
{
    public static readonly JsonSerializerOptions Options = Create();

    private static JsonSerializerOptions Create()
    {
        var o = new JsonSerializerOptions(JsonSerializerDefaults.Web)
        {
            DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        };
        o.Converters.Add(new JsonStringEnumConverter());
        o.MakeReadOnly(populateMissingResolver: true);
        return o;
    }

    public static string State(SpaceState s) => JsonSerializer.Serialize(s, Options);
    public static SpaceState ReadState(string json) => JsonSerializer.Deserialize<SpaceState>(json, Options)!;
    public static string Event(SpaceEvent e) => JsonSerializer.Serialize(e, Options);
    public static SpaceEvent ReadEvent(string json) => JsonSerializer.Deserialize<SpaceEvent>(json, Options)!;
}
