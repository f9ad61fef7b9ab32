using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using GpuRunner.Core.Api;
using GpuRunner.Core.Storage;
using GpuRunner.Lifecycle;

namespace GpuRunner.Core.Tests;

/// <summary>
/// The source-generated contexts (NativeAOT has no reflection-based JSON). Under the JIT the HTTP options still fall
/// back to reflection, so the API tests alone would not notice a missing type: these serialize with the contexts
/// only, and compare byte for byte with the reflection-based output the code produced before.
/// </summary>
public class JsonContextTests
{
    private static readonly JsonSerializerOptions ReflectionApi = new(JsonSerializerDefaults.Web)
    {
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        TypeInfoResolver = new DefaultJsonTypeInfoResolver(),
    };

    private static readonly JsonSerializerOptions ReflectionStore = CreateReflectionStore();

    private static JsonSerializerOptions CreateReflectionStore()
    {
        var o = new JsonSerializerOptions(JsonSerializerDefaults.Web)
        {
            DefaultIgnoreCondition = JsonIgnoreCondition.Never, TypeInfoResolver = new DefaultJsonTypeInfoResolver(),
        };
        o.Converters.Add(new JsonStringEnumConverter());
        return o;
    }

    private static readonly SpaceMachine Machine = new(HardwareCatalogue.Default, LifecyclePolicy.Default);
    private const long T = 1_793_491_200_000; // 2026-11-01T00:00:00Z

    private static SpaceState Full() => new()
    {
        Id = "alice/app", Uid = "u1", Owner = "alice", Sdk = "docker", RequestedFlavor = "t4-small", CurrentFlavor = "t4-small",
        Stage = Stage.AppStarting, SleepSeconds = 3600, CreatedAtMs = T, StageSinceMs = T + 1000, LastStateEventAtMs = T + 1000,
        LastVisitAtMs = T + 2, LastHeartbeatAtMs = T + 3, RunId = "r1", RunStartedAtMs = T + 4, DetectedFlavor = "a10g-small",
        Mismatch = new HardwareMismatch("t4-small", "a10g-small", "runner 'h' reports A10G", T + 5),
        Open = new OpenInterval(T, "t4-small", "t4-small", 600_000), PauseReason = "x \"quoted\" <b>", LastError = "exit code 1: 'boom'",
    };

    private static SpaceState Bare() => new()
    {
        Id = "bob/x", Uid = "u2", Owner = "bob", Sdk = "gradio", RequestedFlavor = "cpu-basic", Stage = Stage.Building, CreatedAtMs = T, StageSinceMs = T,
    };

    private static void SameAsReflection(Dictionary<string, object?> view)
    {
        Assert.Equal(JsonSerializer.Serialize(view, ReflectionApi), JsonSerializer.Serialize(view, ApiJson.Object));
    }

    [Fact]
    public void EveryViewSerializesWithTheContextAloneAndUnchanged()
    {
        foreach (var s in new[] { Full(), Bare() }) SameAsReflection(Views.Runtime(s, Machine, T + 90_000));
        foreach (var f in HardwareCatalogue.Default.Flavors) SameAsReflection(Views.Hardware(f));
        var inv = new Invoice("space alice/app", T, T + 1, [new InvoiceLine("alice/app", "alice", "t4-small", 600_000, 61_500, 2, 20_000, 0, 20_000)],
            20_000, 0, 20_000, true);
        var body = Views.Invoice(inv);
        body["runId"] = "r1"; body["stage"] = "RUNNING"; body["billing"] = true; // /current adds these
        SameAsReflection(body);
        SameAsReflection(new Dictionary<string, object?> { ["id"] = 7L, ["seconds"] = 61.5m, ["sign"] = -1, ["ratio"] = 0.5, ["none"] = null });

        var list = new[] { new Dictionary<string, object?> { ["id"] = "alice/app", ["runtime"] = Views.Runtime(Full(), Machine, T) } };
        var info = (JsonTypeInfo<Dictionary<string, object?>[]>)ApiJson.Options.GetTypeInfo(typeof(Dictionary<string, object?>[]));
        Assert.Equal(JsonSerializer.Serialize(list, ReflectionApi), JsonSerializer.Serialize(list, info));
    }

    [Fact]
    public void StoredStateAndEventsKeepTheirFormat()
    {
        foreach (var s in new[] { Full(), Bare() })
        {
            var json = CoreJson.State(s);
            Assert.Equal(JsonSerializer.Serialize(s, ReflectionStore), json);
            Assert.Contains("\"stage\":\"AppStarting\"", CoreJson.State(Full()));
            Assert.Equal(s, CoreJson.ReadState(json));
        }
        SpaceEvent[] events =
        [
            new Created("alice", "docker", "t4-small", null, "u1") { AtMs = T }, new HardwareRequested("a10g-small", 60) { AtMs = T },
            new SleepTimeSet(-1), new PauseRequested(true, "why"), new RestartRequested(true), new Visited { AtMs = T },
            new RunStarted("r1", null), new StageReported("r1", Stage.RuntimeError, "m"), new DeviceReported("r1", null, "s"),
            new DeviceReported("r1", "t4-small", null, new DeviceFacts([new GpuFact("Tesla T4", 15360), new GpuFact("", null)], 8, 32_000_000_000)),
            new RunExited("r1", 137, "SIGKILL", "tail"), new HeartbeatsLost(), new SleepDue(), new DeleteRequested(),
        ];
        foreach (var e in events)
        {
            var json = CoreJson.Event(e);
            Assert.Equal(JsonSerializer.Serialize(e, ReflectionStore), json);
            Assert.Equal(e, CoreJson.ReadEvent(json));
        }
    }

    [Fact]
    public void EveryRequestBodyTypeHasMetadata()
    {
        var b = JsonSerializer.Deserialize("{\"name\":\"app\",\"type\":\"space\",\"sleepTimeSeconds\":60}", CoreJson.Info<HubEndpoints.CreateRepoBody>())!;
        Assert.Equal(("app", "space", 60L), (b.Name, b.Type, b.SleepTimeSeconds));
        var d = JsonSerializer.Deserialize("{\"eventId\":\"e\",\"at\":\"2026-11-01T00:00:00Z\",\"report\":{\"tier\":{}}}", CoreJson.Info<RunnerEndpoints.DeviceBody>())!;
        Assert.Equal(JsonValueKind.Object, d.Report!.Value.ValueKind);
        foreach (var t in typeof(HubEndpoints).GetNestedTypes().Concat(typeof(RunnerEndpoints).GetNestedTypes()).Concat(typeof(UsageEndpoints).GetNestedTypes())
                     .Where(t => t.Name.EndsWith("Body", StringComparison.Ordinal)))
            Assert.NotNull(CoreJsonContext.Default.GetTypeInfo(t));
    }
}
