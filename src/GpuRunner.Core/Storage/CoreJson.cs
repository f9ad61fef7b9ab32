using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using GpuRunner.Core.Api;
using GpuRunner.Lifecycle;

namespace GpuRunner.Core.Storage;

/// <summary>JSON used for stored state/events and request bodies: camelCase, enums as strings. Source-generated
/// (<see cref="CoreJsonContext"/>) because NativeAOT has no reflection-based serialization.</summary>
public static class CoreJson
{
    public static readonly JsonSerializerOptions Options = CoreJsonContext.Default.Options;

    /// <summary>The metadata of a request-body type; it must be listed on <see cref="CoreJsonContext"/>.</summary>
    public static JsonTypeInfo<T> Info<T>() => (JsonTypeInfo<T>)Options.GetTypeInfo(typeof(T));

    public static string State(SpaceState s) => JsonSerializer.Serialize(s, CoreJsonContext.Default.SpaceState);
    public static SpaceState ReadState(string json) => JsonSerializer.Deserialize(json, CoreJsonContext.Default.SpaceState)!;
    public static string Event(SpaceEvent e) => JsonSerializer.Serialize(e, CoreJsonContext.Default.SpaceEvent);
    public static SpaceEvent ReadEvent(string json) => JsonSerializer.Deserialize(json, CoreJsonContext.Default.SpaceEvent)!;
}

// Stage is the only enum stored; the generic converter writes the same names ("AppStarting") as the old
// non-generic JsonStringEnumConverter did, so existing databases read back unchanged.
// NumberHandling Strict: the web defaults read "15360" (a string) as a number; a body field typed as a number must be one.
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    NumberHandling = JsonNumberHandling.Strict, Converters = [typeof(JsonStringEnumConverter<Stage>)])]
[JsonSerializable(typeof(SpaceState))]
[JsonSerializable(typeof(SpaceEvent))]
[JsonSerializable(typeof(HubEndpoints.CreateRepoBody))]
[JsonSerializable(typeof(HubEndpoints.DeleteRepoBody))]
[JsonSerializable(typeof(HubEndpoints.HardwareBody))]
[JsonSerializable(typeof(HubEndpoints.SleepBody))]
[JsonSerializable(typeof(UsageEndpoints.GrantBody))]
[JsonSerializable(typeof(RunnerEndpoints.RunBody))]
[JsonSerializable(typeof(RunnerEndpoints.DeviceBody))]
[JsonSerializable(typeof(RunnerEndpoints.StageBody))]
[JsonSerializable(typeof(RunnerEndpoints.HeartbeatBody))]
[JsonSerializable(typeof(RunnerEndpoints.ExitBody))]
[JsonSerializable(typeof(RunnerEndpoints.GpuEventBody))]
[JsonSerializable(typeof(RunnerEndpoints.BatchBody))]
[JsonSerializable(typeof(TokenEndpoints.UserTokenBody))]
[JsonSerializable(typeof(SmokeReportEndpoints.SmokeBody))]
[JsonSerializable(typeof(SmokeReportEndpoints.SmokeSettingsBody))]
public sealed partial class CoreJsonContext : JsonSerializerContext;

/// <summary>
/// Metadata for the API's responses. The views are Dictionary&lt;string, object?&gt; (key names exact, see Views), so
/// every runtime type that appears as a value is listed too: System.Text.Json resolves `object` values by their
/// runtime type, and a type missing here fails at run time under NativeAOT (JsonContextTests walks every view).
/// </summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(Dictionary<string, object?>))]
[JsonSerializable(typeof(Dictionary<string, object?>[]))]
[JsonSerializable(typeof(object))]
[JsonSerializable(typeof(string))]
[JsonSerializable(typeof(bool))]
[JsonSerializable(typeof(int))]
[JsonSerializable(typeof(long))]
[JsonSerializable(typeof(decimal))]
[JsonSerializable(typeof(double))]
[JsonSerializable(typeof(string[]))]
[JsonSerializable(typeof(JsonElement))]
public sealed partial class ApiJsonContext : JsonSerializerContext;

public static class ApiJson
{
    /// <summary>The options of every API response (also installed into ASP.NET's HTTP JSON options): web defaults,
    /// relaxed escaping so messages quoting names with '...' stay readable.</summary>
    public static readonly JsonSerializerOptions Options = Create();

    private static JsonSerializerOptions Create()
    {
        var o = new JsonSerializerOptions(JsonSerializerDefaults.Web)
        {
            Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
            TypeInfoResolver = ApiJsonContext.Default,
        };
        o.MakeReadOnly();
        return o;
    }

    public static JsonTypeInfo<Dictionary<string, object?>> Object =>
        (JsonTypeInfo<Dictionary<string, object?>>)Options.GetTypeInfo(typeof(Dictionary<string, object?>));
}
