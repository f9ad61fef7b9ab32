using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using GpuRunner.Cli.Exec;
using GpuRunner.Client;
using GpuRunner.Diagnostics.Tests.Smoke;
using RunnerCatalogue = GpuRunner.Diagnostics.Catalogue.HardwareCatalogue;

namespace GpuRunner.Cli.Tests.Exec;

/// <summary>A device report with the hardware's facts, so the core bills the requested flavor unless something says otherwise.</summary>
internal sealed class FactsReporter(string gpu, long mib, int vcpu, long memoryBytes) : IDeviceReporter
{
    public Task<VerifyOutcome?> RunAsync(CancellationToken ct) => Task.FromResult<VerifyOutcome?>(new VerifyOutcome(
        JsonDocument.Parse($$"""
            {"schema":"gpurunner.report/1","gpus":[{"index":0,"name":"{{gpu}}","memoryTotalMiB":{{mib}}}],
             "host":{"vcpu":{{vcpu}},"memoryBytes":{{memoryBytes}}},"tier":{"flavor":null,"summary":"test"},"verdict":"PASS"}
            """).RootElement, "PASS", ["verify: PASS (test block)"]));

    public static FactsReporter T4 => new("Tesla T4", 15360, 4, 16_000_000_000);
    public static FactsReporter A10GLarge => new("NVIDIA A10G", 23028, 12, 48_000_000_000);
}

/// <summary>The smoke test's GPUs: host-memory doubles with the figures a healthy card of each model gives.</summary>
internal static class Cards
{
    public static FakeDevice T4() => new(0, "Tesla T4")
    {
        Info = new(0, "Tesla T4", "GPU-t4-0", "00000000:00:06.0", 16L << 30, 15L << 30, "7.5", 40, 4L << 20),
        DeviceCopyMs = b => 2.0 * b / 300e9 * 1e3, GemmTflops = 60, HostGBs = 12,
    };

    public static FakeDevice A10G() => new(0, "NVIDIA A10G")
    {
        Info = new(0, "NVIDIA A10G", "GPU-a10g-0", "00000000:00:1e.0", 24L << 30, 23L << 30, "8.6", 80, 6L << 20),
        DeviceCopyMs = b => 2.0 * b / 560e9 * 1e3, GemmTflops = 110, HostGBs = 24,
    };
}

/// <summary>
/// Smoke on start, end to end: a real core process, `exec` in-process (its real outbox, client and smoke runner) with
/// the smoke backend's host-memory GPUs, `sh` as the app.
/// </summary>
public sealed class SmokeOnStartTests
{
    private sealed record Run(int Code, string Log, string Out, string RunId);

    private static async Task<Run> ExecAsync(LiveCore core, string space, string token, FakeDevice card, IDeviceReporter reporter,
        string script = "echo ready; sleep 1", bool require = false)
    {
        var dir = Path.Combine(core.Dir, "runner-" + space.Replace('/', '-')); // one machine per Space: its outbox is reused
        var err = new StringWriter();
        var stdout = new StringWriter();
        var io = new ExecIO(new TextWriterStream(stdout), new TextWriterStream(err), new RunnerLog(err), StdinIsTerminal: false);
        using var client = new RunnerClient(core.Url, space, token);
        await using var events = EventRecorder.ForCore(Outbox.Open(dir, Outbox.TargetOf(core.Url, space)), client.SendAsync, io.Log,
            sendBatch: client.SendBatchAsync);
        var smoke = new SmokeOnStart(SmokePolicy.Changed, ct => client.GetSmokeBaselineAsync(ct), () => new FakeSmokeBackend(null, card),
            RunnerCatalogue.LoadDefault(), io.Log, dir);
        var code = await new ExecRunner(ExecHarness.Sh(script) with { Require = require }, io, events, reporter, new FakeSampler(), smoke: smoke).RunAsync();
        lock (io.Log.Gate) return new Run(code, err.ToString(), stdout.ToString(), events.RunId);
    }

    private static async Task OwnerPostAsync(LiveCore core, string path, object body)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", LiveCore.OwnerToken);
        using var r = await http.PostAsJsonAsync(new Uri(core.Url, path), body);
        Assert.True(r.IsSuccessStatusCode, await r.Content.ReadAsStringAsync());
    }

    /// <summary>Waits (with a deadline) until the core has applied the hardware request.</summary>
    private static async Task RequestedAsync(LiveCore core, string space, string flavor)
    {
        var deadline = DateTimeOffset.UtcNow + TimeSpan.FromSeconds(30);
        while ((await core.GetAsync($"api/spaces/{space}/runtime")).GetProperty("hardware").GetProperty("requested").GetString() != flavor)
        {
            Assert.True(DateTimeOffset.UtcNow < deadline, $"{space} never requested {flavor}");
            await Task.Delay(100);
        }
    }

    private static IEnumerable<JsonElement> InvoiceLines(JsonElement invoice) => invoice.GetProperty("lines").EnumerateArray();

    [Fact]
    public async Task TheFirstRunOnNewHardwareSmokesTheSecondDoesNotAndTheCoreKeepsBeforeAndAfter()
    {
        using var core = new LiveCore();
        await core.StartAsync();
        var token = await core.CreateSpaceAsync("up", "t4-small");

        var first = await ExecAsync(core, "alice/up", token, Cards.T4(), FactsReporter.T4);
        Assert.Equal(0, first.Code);
        Assert.Contains("t4-small was never proven for this Space", first.Log);
        Assert.Matches(@"smoke GPU 0 Tesla T4 \(GPU-t4-0\): (PASS|WARN) \| bandwidth 300 GB/s 94 %", first.Log);
        Assert.Contains("before the app started", first.Log);
        Assert.True(first.Log.IndexOf("smoke GPU 0", StringComparison.Ordinal) < first.Log.IndexOf("] started sh", StringComparison.Ordinal), first.Log);

        // Same flavor, same GPU: proven already, no smoke.
        var second = await ExecAsync(core, "alice/up", token, Cards.T4(), FactsReporter.T4);
        Assert.Equal(0, second.Code);
        Assert.Contains($"smoke: skipped: t4-small on these GPUs was proven by run {first.RunId}", second.Log);
        Assert.DoesNotContain("smoke GPU", second.Log);

        // The owner moves it to an A10G: the next run smokes the new card before the app starts.
        await OwnerPostAsync(core, "api/spaces/alice/up/hardware", new { flavor = "a10g-large" });
        await RequestedAsync(core, "alice/up", "a10g-large");
        var third = await ExecAsync(core, "alice/up", token, Cards.A10G(), FactsReporter.A10GLarge);
        Assert.Equal(0, third.Code);
        Assert.Contains("new hardware: t4-small -> a10g-large", third.Log);
        Assert.Matches(@"smoke GPU 0 NVIDIA A10G \(GPU-a10g-0\): (PASS|WARN) \| bandwidth 560 GB/s 93 %", third.Log);

        var view = await core.GetAsync("api/spaces/alice/up/smoke");
        var reports = view.GetProperty("reports").EnumerateArray().ToList();
        Assert.Equal([third.RunId, first.RunId], reports.Select(r => r.GetProperty("runId").GetString()));
        var before = view.GetProperty("comparison").GetProperty("before");
        var after = view.GetProperty("comparison").GetProperty("after");
        Assert.Equal(("t4-small", 600_000L), (before.GetProperty("flavor").GetString(), before.GetProperty("hourlyMicroUsd").GetInt64()));
        Assert.Equal(("a10g-large", 3_150_000L), (after.GetProperty("flavor").GetString(), after.GetProperty("hourlyMicroUsd").GetInt64()));
        var bandwidth = after.GetProperty("gpus")[0].GetProperty("figures").EnumerateArray().Single(f => f.GetProperty("check").GetString() == "bandwidth.d2d");
        Assert.Equal(93.3, bandwidth.GetProperty("percentOfSpec").GetDouble(), 0);
        Assert.Equal("a10g-large", view.GetProperty("verified").GetProperty("flavor").GetString());
        Assert.Equal(["GPU-a10g-0"], view.GetProperty("verified").GetProperty("gpuUuids").EnumerateArray().Select(u => u.GetString()));
        // Bounded: the samples behind the plots stay with the runner (its full report file), not in the core.
        Assert.All(reports, r => Assert.All(r.GetProperty("report").GetProperty("checks").EnumerateArray(),
            c => Assert.False(c.TryGetProperty("samples", out _))));
        Assert.Contains("\"samples\"", File.ReadAllText(Path.Combine(core.Dir, "runner-alice-up", $"smoke-{third.RunId}.json")));

        // A healthy, proven A10G is billed at its price (the device report's facts match the flavor).
        var invoice = await core.GetAsync("api/usage/spaces/alice/up");
        Assert.Contains(InvoiceLines(invoice), l => l.GetProperty("flavor").GetString() == "a10g-large" && l.GetProperty("hourlyMicroUSD").GetInt64() == 3_150_000);
    }

    [Fact]
    public async Task AMemtestFailureIsAPlatformHardwareFaultThatIsNotBilledAndRequireKeepsTheAppFromStarting()
    {
        using var core = new LiveCore();
        await core.StartAsync();
        var token = await core.CreateSpaceAsync("bad", "a10g-large");
        FakeDevice Faulty()
        {
            var card = Cards.A10G();
            card.InjectFault = (words, _) => words[1234] ^= 1UL << 17; // one flipped bit between write and verify
            return card;
        }

        // Without --require: the app starts anyway, the fault is recorded, the run is not billed.
        var run = await ExecAsync(core, "alice/bad", token, Faulty(), FactsReporter.A10GLarge, "echo ready; sleep 1.5");
        Assert.Equal(0, run.Code);
        Assert.Contains("ready", run.Out);
        Assert.Contains("smoke: hardware FAULT (GPU 0 memtest:", run.Log);
        Assert.Contains("starting the app anyway", run.Log);
        var view = await core.GetAsync("api/spaces/alice/bad/smoke");
        var fault = view.GetProperty("hardwareFault");
        Assert.Equal(run.RunId, fault.GetProperty("runId").GetString());
        Assert.Contains("memtest", fault.GetProperty("summary").GetString());
        Assert.Equal(JsonValueKind.Null, view.GetProperty("verified").ValueKind); // a faulty card proves nothing
        var invoice = await core.GetAsync("api/usage/spaces/alice/bad");
        var lines = InvoiceLines(invoice).ToList();
        Assert.NotEmpty(lines); // it ran: metered, at $0 as the platform's fault
        Assert.All(lines, l => Assert.Equal(("hardware-fault", 0L), (l.GetProperty("flavor").GetString(), l.GetProperty("hourlyMicroUSD").GetInt64())));
        Assert.Equal(0, invoice.GetProperty("owedMicroUSD").GetInt64());

        // With --require (after the owner's restart): smoked again (nothing proven yet), the app never starts, and the
        // pause says whose fault it is.
        await OwnerPostAsync(core, "api/spaces/alice/bad/restart", new { });
        var refused = await ExecAsync(core, "alice/bad", token, Faulty(), FactsReporter.A10GLarge, require: true);
        Assert.Equal(ExecRunner.VerifyFailedCode, refused.Code);
        Assert.DoesNotContain("ready", refused.Out);
        Assert.Contains("smoke FAILED and --require is set: not starting the app", refused.Log);
        var runtime = await core.GetAsync("api/spaces/alice/bad/runtime");
        Assert.Equal("PAUSED", runtime.GetProperty("stage").GetString());
        Assert.Contains("platform hardware fault", runtime.GetProperty("pauseReason").GetString());
    }

    [Fact]
    public async Task SpacesUpgradeWaitExitsZeroWhenTheProofArrivesAndOneWhenTheSmokeTestFails()
    {
        using var core = new LiveCore();
        await core.StartAsync();
        var token = await core.CreateSpaceAsync("mv", "t4-small");
        Assert.Equal(0, (await ExecAsync(core, "alice/mv", token, Cards.T4(), FactsReporter.T4)).Code);
        string[] Upgrade(string flavor) => ["spaces", "upgrade", "alice/mv", flavor, "--wait", "--timeout", "120", "--core", core.Url.ToString(), "--token", LiveCore.OwnerToken];

        // T4 -> A10G: the new run's smoke report is the proof.
        var waiting = TestConsole.RunAsync(Upgrade("a10g-large"));
        await RequestedAsync(core, "alice/mv", "a10g-large");
        Assert.False(waiting.IsCompleted); // still waiting for the proof
        var run = await ExecAsync(core, "alice/mv", token, Cards.A10G(), FactsReporter.A10GLarge);
        var (code, console) = await waiting.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.True(code == 0, console.StdOut + console.StdErr);
        Assert.Contains("alice/mv: t4-small -> a10g-large", console.StdOut);
        Assert.Contains("t4-small ($0.60/h)", console.StdOut);
        Assert.Contains("a10g-large ($3.15/h)", console.StdOut);
        Assert.Matches(@"memory bandwidth\s+300 GB/s \(94 %\)\s+560 GB/s \(93 %\)", console.StdOut);
        Assert.Contains(run.RunId[..13], console.StdOut);
        Assert.Contains("upgrade PROVEN: a10g-large", console.StdOut);

        // A Space never smoke-tested before (cpu-basic has no GPU to prove): only an "after".
        var fresh = await core.CreateSpaceAsync("fresh", "cpu-basic");
        waiting = TestConsole.RunAsync(["spaces", "upgrade", "alice/fresh", "t4-small", "--wait", "--timeout", "120", "--core", core.Url.ToString(), "--token", LiveCore.OwnerToken]);
        await RequestedAsync(core, "alice/fresh", "t4-small");
        Assert.Equal(0, (await ExecAsync(core, "alice/fresh", fresh, Cards.T4(), FactsReporter.T4)).Code);
        (code, console) = await waiting.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.True(code == 0, console.StdOut + console.StdErr);
        Assert.StartsWith("alice/fresh: t4-small\n", console.StdOut);

        // A10G -> A100, but the machine still has the A10G: the wrong card fails the smoke test; exit 1.
        waiting = TestConsole.RunAsync(Upgrade("a100-large"));
        await RequestedAsync(core, "alice/mv", "a100-large");
        var wrong = await ExecAsync(core, "alice/mv", token, Cards.A10G(), FactsReporter.A10GLarge);
        Assert.Contains("identity.gpu", wrong.Log);
        (code, console) = await waiting.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.True(code == 1, console.StdOut + console.StdErr);
        Assert.Contains("upgrade NOT proven: platform hardware fault on a100-large: identity.gpu: a100-large is 1x A100; found 1x NVIDIA A10G", console.StdOut);
    }
}
