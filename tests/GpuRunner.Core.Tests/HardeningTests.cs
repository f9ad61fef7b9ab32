using System.Net.Sockets;
using System.Text.Json;
using GpuRunner.Lifecycle;

namespace GpuRunner.Core.Tests;

/// <summary>The core as an attacker or an overloaded operator would probe it: floods, malformed bodies, token
/// lifecycle, throttling. Each test fails without its fix.</summary>
public class HardeningTests
{
    private static readonly HttpMethod Get = HttpMethod.Get, Post = HttpMethod.Post, Delete = HttpMethod.Delete;

    [SkippableFact]
    public async Task AConnectionFloodUnderALowFileLimitLeavesTheCoreUpAndHealthy()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "the flood test reads /proc and uses `ulimit -n` (Linux)");
        await using var tdb = TestDb.Create("sqlite");
        var server = await CoreProcess.StartAsync(tdb.Spec, fdLimit: 512);
        try
        {
            var uri = new Uri(server.Url);
            // More idle connections, with no token, than the process has file descriptors.
            var sockets = new List<Socket>();
            try
            {
                for (var i = 0; i < 700; i++)
                {
                    var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                    sockets.Add(s);
                    using var connect = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                    try { await s.ConnectAsync(uri.Host, uri.Port, connect.Token); }
                    catch (Exception e) when (e is SocketException or OperationCanceledException or IOException) { break; } // the backlog is full: flooded enough
                }
                // Give the server time to accept them all: wait until a probe is refused or answered, at most 20 s.
                using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
                try { using var _ = await http.GetAsync(server.Url + "healthz"); } catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException) { }
                Assert.False(server.HasExited, "the core died under the flood: " + server.Log);
            }
            finally
            {
                foreach (var s in sockets) s.Dispose();
            }
            // Once the flood ends the core answers again (deadline 30 s).
            using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
            var deadline = DateTime.UtcNow.AddSeconds(30);
            var answers = new List<string>();
            var healthy = false;
            while (!healthy && DateTime.UtcNow < deadline && !server.HasExited)
            {
                try
                {
                    using var r = await client.GetAsync(server.Url + "healthz");
                    answers.Add(((int)r.StatusCode).ToString());
                    healthy = r.StatusCode == System.Net.HttpStatusCode.OK;
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException) { answers.Add(e.GetType().Name); }
                if (!healthy) await Task.Delay(200);
            }
            Assert.False(server.HasExited, $"the core exited with {(server.HasExited ? server.ExitCode : 0)}: {server.Log}");
            Assert.True(healthy, $"/healthz after the flood: {string.Join(", ", answers)}; log: {server.Log}");
        }
        finally
        {
            server.Kill();
        }
    }

    [SkippableTheory, InlineData("sqlite"), InlineData("postgres")]
    public async Task MalformedRunnerDataIsRefusedAtTheDoorWithTheFieldsName(string db)
    {
        await using var c = await TestCore.StartAsync(db);
        await c.CreateSpaceAsync();
        await c.UpAsync();
        var runner = "api/runner/spaces/alice/app/";
        string Ev(string extra) => $$"""{"eventId":"{{c.NextEventId()}}","at":"{{c.At()}}","runId":"run-1",{{extra}}}""";
        var cases = new (string Route, string Body, string Field)[]
        {
            ("device", Ev("""  "report":{"gpus":[{"name":"Tesla T4","memoryTotalMiB":"15360"}]}"""), "memoryTotalMiB"),
            ("device", Ev("""  "report":{"gpus":[7]}"""), "report.gpus"),
            ("device", Ev("""  "report":{"gpus":[{"name":5}]}"""), "name"),
            ("device", Ev("""  "report":{"gpus":[],"host":{"vcpu":-3}}"""), "vcpu"),
            ("device", Ev("""  "report":{"gpus":[""" + string.Join(",", Enumerable.Repeat("{\"name\":\"T4\"}", 65)) + "]}"), "report.gpus"),
            ("heartbeat", Ev("""  "gpus":[{"index":0,"utilizationPct":1e308}]"""), "utilizationPct"),
            ("heartbeat", Ev("""  "gpus":[{"index":0,"powerW":-5}]"""), "powerW"),
            ("heartbeat", Ev("""  "gpus":[{"index":0,"temperatureC":"hot"}]"""), "temperatureC"),
            ("heartbeat", Ev("""  "gpus":["x"]"""), "gpus"),
            ("heartbeat", Ev("""  "gpus":[{"index":1000}]"""), "index"),
            ("exit", Ev("""  "exitCode":"1" """), "exitCode"),
            ("exit", Ev("""  "exitCode":100000 """), "exitCode"),
            ("runs", Ev("""  "host":5 """), "host"),
        };
        foreach (var (route, body, field) in cases)
        {
            var err = await c.ExpectAsync(400, Post, runner + route, TestCore.Alice, raw: body);
            var message = err.GetProperty("error").GetString()!;
            Assert.True(message.Contains(field, StringComparison.Ordinal), $"{route} {body}: '{message}' does not name {field}");
            Assert.DoesNotContain("GpuRunner.", message);
            Assert.DoesNotContain("System.", message);
        }
        // A body that is not an object at all: no internal type name either (issue 13's RunBody leak).
        foreach (var route in new[] { "runs", "heartbeat", "exit", "device", "stage" })
        {
            var err = await c.ExpectAsync(400, Post, runner + route, TestCore.Alice, raw: "[1,2]");
            Assert.DoesNotContain("GpuRunner", err.GetProperty("error").GetString());
        }
        // The same inside a batch: the entry is refused with the field, the others go on.
        var batch = await c.ExpectAsync(200, Post, runner + "batch", TestCore.Alice, raw: $$"""
            {"events":[{"route":"exit","body":{{Ev("\"exitCode\":\"1\"")}}},{"route":"heartbeat","body":{{Ev("\"gpus\":[{\"index\":0,\"utilizationPct\":50}]")}}}]}
            """);
        var results = batch.GetProperty("results");
        Assert.Equal(400, results[0].GetProperty("status").GetInt32());
        Assert.Contains("exitCode", results[0].GetProperty("error").GetString());
        Assert.Equal(200, results[1].GetProperty("status").GetInt32());
        // Nothing refused changed the Space: `exitCode: "1"` no longer pauses it.
        var rt = await c.ExpectAsync(200, Get, "api/spaces/alice/app/runtime", TestCore.Alice);
        Assert.Equal("RUNNING", rt.GetProperty("stage").GetString());
        // A well-formed report with every documented field is accepted.
        await c.RunnerAsync("device", new() { ["report"] = JsonDocument.Parse("""
            {"gpus":[{"index":0,"name":"Tesla T4","memoryTotalMiB":15360,"computeCapability":"7.5"}],"host":{"vcpu":4,"memoryBytes":16000000000},
             "tier":{"flavor":"t4-small","summary":"matches t4-small"},"checks":[],"verdict":"PASS"}
            """).RootElement });
    }

    [SkippableTheory, InlineData("sqlite")]
    public async Task OddInputsAreFourHundredsWithJsonNever500(string db)
    {
        await using var c = await TestCore.StartAsync(db);
        await c.CreateSpaceAsync();
        foreach (var q in new[] { "period=9999-12", "period=0001-01", "from=0001-01-01T00:00:00Z&to=9999-12-31T23:59:59Z" })
            await c.ExpectAsync(400, Get, "api/usage/spaces/alice/app?" + q, TestCore.Alice);
        foreach (var name in new[] { ".", ".." })
            await c.ExpectAsync(400, Post, "api/repos/create", TestCore.Alice, new { name, type = "space", sdk = "docker" });
        var err = await c.ExpectAsync(400, Post, "api/spaces/alice/app/restart?factory=maybe", TestCore.Alice);
        Assert.Contains("factory", err.GetProperty("error").GetString());
        Assert.DoesNotContain("bool", err.GetProperty("error").GetString());
        var rt = await c.ExpectAsync(200, Get, "api/spaces/alice/app/runtime", TestCore.Alice);
        Assert.Equal("BUILDING", rt.GetProperty("stage").GetString()); // the refused restart changed nothing
    }

    [SkippableTheory, InlineData("sqlite"), InlineData("postgres")]
    public async Task ADeletedSpacesRunnerTokenNeverActsOnANewSpaceOfTheSameName(string db)
    {
        await using var c = await TestCore.StartAsync(db);
        await c.CreateSpaceAsync();
        var token = (await c.ExpectAsync(200, Post, "api/spaces/alice/app/tokens", TestCore.Alice)).GetProperty("token").GetString()!;
        await c.RunnerAsync("runs", new() { ["host"] = "h" }, token); // cached as valid now
        await c.ExpectAsync(200, Delete, "api/repos/delete", TestCore.Alice, new { name = "app", type = "space" });
        await c.CreateSpaceAsync();
        // This instance forgot it at once.
        await c.RunnerAsync("stage", new() { ["stage"] = "APP_STARTING" }, token, status: 401);
        await c.RunnerAsync("heartbeat", new(), token, status: 401);

        // Another instance that still holds the old Space's principal (a cache it had not dropped yet): the token is
        // bound to the deleted Space's uid, so the new Space refuses it for state events and heartbeats alike.
        var old = Principal.Runner("alice/app", "alice", "uid-of-the-deleted-space");
        var now = c.Clock.GetUtcNow().ToUnixTimeMilliseconds();
        await Assert.ThrowsAsync<LifecycleException>(() => c.Service.RunnerEventAsync(old, "alice/app", "run-2", "x1", new RunStarted("run-2", "h") { AtMs = now }, now, null, null));
        await Assert.ThrowsAsync<LifecycleException>(() => c.Service.RunnerEventAsync(old, "alice/app", "run-2", "x2", null, now, "[]", null));
        var rt = await c.ExpectAsync(200, Get, "api/spaces/alice/app/runtime", TestCore.Alice);
        Assert.Equal("BUILDING", rt.GetProperty("stage").GetString());
        Assert.Equal(JsonValueKind.Null, rt.GetProperty("lastHeartbeat").ValueKind);
    }

    [SkippableTheory, InlineData("sqlite"), InlineData("postgres")]
    public async Task SeededUsersAreADeclarationAndNamedTokensAreMadeListedAndRevoked(string db)
    {
        await using var c = await TestCore.StartAsync(db, o => o.Users.Add(("ops", "ops-token-0123456789", true)));
        Assert.True((await c.ExpectAsync(200, Get, "api/whoami-v2", "ops-token-0123456789")).GetProperty("isAdmin").GetBoolean());

        // A named token: its secret once, then listed by id, name and prefix; stored only as a hash.
        var made = await c.ExpectAsync(200, Post, "api/user/tokens", TestCore.Alice, new { name = "laptop" });
        var secret = made.GetProperty("token").GetString()!;
        Assert.StartsWith("gru_", secret);
        Assert.Equal("alice", (await c.ExpectAsync(200, Get, "api/whoami-v2", secret)).GetProperty("name").GetString());
        var list = await c.ExpectAsync(200, Get, "api/user/tokens", secret);
        Assert.Equal(["laptop", "seed"], list.EnumerateArray().Select(t => t.GetProperty("name").GetString()).Order().ToArray());
        Assert.DoesNotContain(secret, list.GetRawText());
        await c.ExpectAsync(409, Post, "api/user/tokens", TestCore.Alice, new { name = "laptop" });
        await c.ExpectAsync(400, Post, "api/user/tokens", TestCore.Alice, new { name = "no spaces" });
        await c.ExpectAsync(404, Delete, $"api/user/tokens/{made.GetProperty("id").GetString()}", TestCore.Bob); // not bob's
        await c.ExpectAsync(200, Delete, $"api/user/tokens/{made.GetProperty("id").GetString()}", TestCore.Alice);
        await c.ExpectAsync(401, Get, "api/whoami-v2", secret); // refused at once (it was cached as valid)

        // Restart with a new token for alice and without ops: the old token is gone, ops is no admin and cannot log in.
        await c.App.StopAsync();
        var o = new CoreOptions { Clock = c.Clock, RunTimeRules = false };
        o.Urls.Add("http://127.0.0.1:0");
        o.Users.Add(("alice", "alice-NEW-token-0123456789", false));
        o.Users.Add(("bob", TestCore.Bob, false));
        o.Users.Add(("admin", TestCore.Admin, true));
        await using var again = await CoreHost.CreateAsync(c.Store, o);
        await again.StartAsync();
        var url = CoreHost.Addresses(again)[0].TrimEnd('/') + "/";
        async Task<int> Who(string token)
        {
            using var req = new HttpRequestMessage(Get, url + "api/whoami-v2");
            req.Headers.Authorization = new("Bearer", token);
            using var r = await c.Http.SendAsync(req);
            return (int)r.StatusCode;
        }
        Assert.Equal(401, await Who(TestCore.Alice));
        Assert.Equal(200, await Who("alice-NEW-token-0123456789"));
        Assert.Equal(401, await Who("ops-token-0123456789"));
        Assert.Equal(200, await Who(TestCore.Bob));
        await again.StopAsync();
    }

    [SkippableTheory, InlineData("sqlite")]
    public async Task WrongTokensAreThrottledByAddressAndPrefixWithoutLockingOutAValidToken(string db)
    {
        await using var c = await TestCore.StartAsync(db, o => o.MaxAuthFailures = 5);
        await c.ExpectAsync(200, Get, "api/whoami-v2", TestCore.Alice); // alice's token has worked before
        for (var i = 0; i < 5; i++) await c.ExpectAsync(401, Get, "api/whoami-v2", $"wrong-{i}-0123456789");
        using (var r = await c.SendAsync(Get, "api/whoami-v2", "wrong-5-0123456789"))
        {
            Assert.Equal(429, (int)r.StatusCode);
            Assert.True(r.Headers.RetryAfter?.Delta?.TotalSeconds > 0, "429 carries Retry-After");
            Assert.Contains("\"error\"", await r.Content.ReadAsStringAsync());
        }
        // The owner with a valid token is not locked out by someone else's wrong tokens from the same address.
        await c.ExpectAsync(200, Get, "api/whoami-v2", TestCore.Alice);
        // After the window, wrong tokens are looked at again (401, not 429).
        c.Clock.Advance(c.Options.AuthFailureWindow + TimeSpan.FromSeconds(1));
        await c.ExpectAsync(401, Get, "api/whoami-v2", "wrong-6-0123456789");
    }
}
