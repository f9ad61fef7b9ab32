using System.Text.Json;

namespace GpuRunner.Core.Tests;

/// <summary>The door for the runner's GPU data: `POST gpu-event` and the heartbeat's watch readings.</summary>
public class GpuEventApiTests
{
    private static Dictionary<string, object?> Fault(Dictionary<string, object?>? change = null)
    {
        var b = new Dictionary<string, object?>
        {
            ["gpu"] = 0, ["kind"] = "xid", ["code"] = 79, ["class"] = "hardware", ["fatal"] = true,
            ["message"] = "the GPU fell off the bus (Xid 79) at 12:00:00: hardware fault, not your code",
        };
        foreach (var (k, v) in change ?? []) b[k] = v;
        return b;
    }

    /// <summary>A core with alice/app RUNNING on an A10G for 3 minutes.</summary>
    private static async Task<TestCore> RunningAsync(string db)
    {
        var c = await TestCore.StartAsync(db);
        await c.CreateSpaceAsync(hardware: "a10g-small");
        await c.UpAsync();
        c.Clock.Advance(TimeSpan.FromMinutes(3));
        return c;
    }

    [SkippableTheory, InlineData("sqlite"), InlineData("postgres")]
    public async Task AFatalHardwareFaultStopsTheRunWithoutPausingAndARepeatIsADuplicate(string db)
    {
        await using var c = await RunningAsync(db);
        var body = Fault();
        body["eventId"] = "fault-1";
        var ack = await c.RunnerAsync("gpu-event", body);
        Assert.Equal("RUNTIME_ERROR", ack.GetProperty("stage").GetString());
        Assert.True((await c.RunnerAsync("gpu-event", new(body))).GetProperty("duplicate").GetBoolean());

        var rt = await c.ExpectAsync(200, HttpMethod.Get, "api/spaces/alice/app/runtime", TestCore.Alice);
        Assert.False(rt.GetProperty("paused").GetBoolean());
        Assert.Equal(79, rt.GetProperty("platformFault").GetProperty("code").GetInt32());
        var ledger = await c.ExpectAsync(200, HttpMethod.Get, "api/usage/spaces/alice/app/ledger", TestCore.Alice);
        Assert.Equal(180m, Assert.Single(ledger.EnumerateArray()).GetProperty("seconds").GetDecimal());
    }

    [SkippableFact]
    public async Task BadGpuEventsAreRefusedAtTheDoorAndChangeNothing()
    {
        await using var c = await TestCore.StartAsync("sqlite");
        await c.CreateSpaceAsync(hardware: "a10g-small");
        await c.UpAsync();
        foreach (var (field, value, says) in new (string, object?, string)[]
        {
            ("gpu", 64, "'gpu'"), ("gpu", null, "'gpu'"), ("kind", "meltdown", "'kind'"), ("class", "cosmic", "'class'"),
            ("fatal", null, "'fatal'"), ("code", 5000, "'code'"), ("code", null, "'code'"), ("message", "", "'message'"),
            ("message", new string('x', 501), "'message'"),
        })
        {
            var e = await c.RunnerAsync("gpu-event", Fault(new() { [field] = value }), status: 400);
            Assert.Contains(says, e.GetProperty("error").GetString());
        }
        var rt = await c.ExpectAsync(200, HttpMethod.Get, "api/spaces/alice/app/runtime", TestCore.Alice);
        Assert.Equal("RUNNING", rt.GetProperty("stage").GetString());
        Assert.Equal(JsonValueKind.Null, rt.GetProperty("platformFault").ValueKind);

        // The heartbeat's watch readings: numbers in range or null.
        await c.RunnerAsync("heartbeat", new() { ["gpus"] = new[] { new Dictionary<string, object?> { ["index"] = 0, ["utilizationPct"] = 50, ["memUtilPct"] = 20, ["smClockMHz"] = 1980, ["throttle"] = 4, ["eccCorrected"] = 0, ["processMemoryMiB"] = null } } });
        var bad = await c.RunnerAsync("heartbeat", new() { ["gpus"] = new[] { new Dictionary<string, object?> { ["index"] = 0, ["memUtilPct"] = 150 } } }, status: 400);
        Assert.Contains("memUtilPct", bad.GetProperty("error").GetString());
        await c.RunnerAsync("heartbeat", new() { ["gpus"] = new[] { new Dictionary<string, object?> { ["index"] = 0, ["eccUncorrected"] = "many" } } }, status: 400);
    }

    [SkippableFact]
    public async Task AnInformationalEventInABatchIsNotedAndCounted()
    {
        await using var c = await TestCore.StartAsync("sqlite");
        await c.CreateSpaceAsync(hardware: "a10g-small");
        await c.UpAsync();
        var info = Fault(new() { ["kind"] = "throttle", ["code"] = 4, ["class"] = "info", ["fatal"] = false, ["message"] = "power-cap throttling" });
        info["eventId"] = "t-1"; info["at"] = c.At(); info["runId"] = "run-1";
        var r = await c.ExpectAsync(200, HttpMethod.Post, "api/runner/spaces/alice/app/batch", TestCore.Alice,
            new { events = new object[] { new { route = "gpu-event", body = info } } });
        Assert.Equal(200, r.GetProperty("results")[0].GetProperty("status").GetInt32());
        var rt = await c.ExpectAsync(200, HttpMethod.Get, "api/spaces/alice/app/runtime", TestCore.Alice);
        Assert.Equal("RUNNING", rt.GetProperty("stage").GetString());
        using var m = await c.SendAsync(HttpMethod.Get, "metrics", null);
        Assert.Contains("gpurunner_gpu_events_total{class=\"info\",code=\"throttle\"} 1\n", await m.Content.ReadAsStringAsync());
    }

    /// <summary>The platform's fault arriving after the crash it explains (the runner's outbox delivered them in the
    /// other order): the history is folded by `at`, so the Space ends as if they had come in order.</summary>
    [SkippableTheory, InlineData("sqlite"), InlineData("postgres")]
    public async Task AFaultThatArrivesAfterTheCrashItPrecededStillMakesItThePlatformsAndUnpauses(string db)
    {
        await using var c = await RunningAsync(db);
        var fault = Fault();
        fault["at"] = c.At(TimeSpan.FromMilliseconds(-40)); // the GPU was lost 40 ms before the app died
        await c.RunnerAsync("stage", new() { ["runId"] = "run-1", ["stage"] = "RUNTIME_ERROR", ["message"] = "RuntimeError: CUDA error: unknown error" });
        Assert.True((await c.ExpectAsync(200, HttpMethod.Get, "api/spaces/alice/app/runtime", TestCore.Alice)).GetProperty("paused").GetBoolean());

        await c.RunnerAsync("gpu-event", fault);
        var rt = await c.ExpectAsync(200, HttpMethod.Get, "api/spaces/alice/app/runtime", TestCore.Alice);
        Assert.Equal("RUNTIME_ERROR", rt.GetProperty("stage").GetString());
        Assert.False(rt.GetProperty("paused").GetBoolean());
        Assert.Equal(79, rt.GetProperty("platformFault").GetProperty("code").GetInt32());
    }
}
