using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace GpuRunner.Core.Tests;

/// <summary>
/// Walks every route the core maps with malformed bodies, wrong types, extreme numbers, long strings and bad route
/// and query values, as every kind of caller. Asserts: never a 5xx; an API refusal is JSON with `error`; a refused
/// request (3xx/4xx) changes nothing in the database. The seed is printed; GPURUNNER_FUZZ_SEED replays a run and
/// GPURUNNER_FUZZ_CASES sets its length (default 2500).
/// </summary>
public class FuzzTests(ITestOutputHelper output)
{
    [Fact]
    public async Task EveryRouteSurvivesMalformedInputAndARefusalChangesNothing()
    {
        var seed = int.TryParse(Environment.GetEnvironmentVariable("GPURUNNER_FUZZ_SEED"), out var s) ? s : Random.Shared.Next();
        var cases = int.TryParse(Environment.GetEnvironmentVariable("GPURUNNER_FUZZ_CASES"), out var n) ? n : 2500;
        output.WriteLine($"fuzz seed {seed} ({cases} cases); replay with GPURUNNER_FUZZ_SEED={seed}");
        var rng = new Random(seed);

        await using var c = await TestCore.StartAsync("sqlite");
        await c.CreateSpaceAsync();
        await c.UpAsync();
        var runner = (await c.ExpectAsync(200, HttpMethod.Post, "api/spaces/alice/app/tokens", TestCore.Alice)).GetProperty("token").GetString()!;
        var routes = ((IEndpointRouteBuilder)c.App).DataSources.SelectMany(d => d.Endpoints).OfType<RouteEndpoint>()
            .SelectMany(e => (e.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods ?? ["GET", "POST"]).Select(m => (Method: m, Pattern: e.RoutePattern.RawText!)))
            .Where(r => r.Pattern != "{*path:nonfile}" && !r.Pattern.Contains("{**"))
            .OrderBy(r => r.Pattern).ThenBy(r => r.Method).ToList();
        Assert.True(routes.Count > 25, $"only {routes.Count} routes found");
        output.WriteLine($"{routes.Count} routes: " + string.Join(", ", routes.Select(r => $"{r.Method} {r.Pattern}")));

        await using var db = new SqliteConnection($"Data Source={c.Db.Spec["sqlite:".Length..]};Mode=ReadOnly");
        await db.OpenAsync();
        string[] tokens = [TestCore.Alice, TestCore.Bob, TestCore.Admin, runner, "grr_not-a-real-token-000000000000", "x", new string('t', 5000)];
        var seen = new Dictionary<int, int>();
        for (var i = 0; i < cases; i++)
        {
            var (method, pattern) = routes[rng.Next(routes.Count)];
            var path = FillRoute(pattern, rng) + Query(rng);
            var token = rng.Next(8) is var t && t < tokens.Length ? tokens[t] : null;
            var body = method is "POST" or "PUT" or "DELETE" || rng.Next(10) == 0 ? Body(pattern, rng) : null;
            var before = await FingerprintAsync(db);
            var what = $"case {i} (seed {seed}): {method} {path} token={token?[..Math.Min(token.Length, 12)]} body={Clip(body)}";
            HttpResponseMessage r;
            try { r = await c.SendAsync(new HttpMethod(method), path, token, raw: body); }
            catch (HttpRequestException)
            {
                // A server answers a body it will not read (413, or a refusal before reading it) and closes the
                // connection, which the client may see as a failed send, also on the next request of a reused
                // connection: normal HTTP. Once more on a fresh connection, which must answer.
                c.Http.CancelPendingRequests();
                before = await FingerprintAsync(db);
                try { r = await c.SendAsync(new HttpMethod(method), path, token, raw: body); }
                catch (HttpRequestException e) when (body is { Length: > 32 * 1024 })
                {
                    _ = e;
                    Assert.True(before == await FingerprintAsync(db), $"{what}: cut off, but the database changed");
                    seen[0] = seen.GetValueOrDefault(0) + 1;
                    continue;
                }
                catch (HttpRequestException e) { throw new Xunit.Sdk.XunitException($"{what}: the connection failed twice: {e.Message}"); }
            }
            using (r)
            {
                var status = (int)r.StatusCode;
                seen[status] = seen.GetValueOrDefault(status) + 1;
                var text = await r.Content.ReadAsStringAsync();
                Assert.True(status < 500, $"{what}: {status} {Clip(text)}");
                if (status >= 400 && path.StartsWith("api/", StringComparison.Ordinal) && status != 405)
                {
                    using var err = JsonDocument.Parse(text);
                    Assert.False(string.IsNullOrWhiteSpace(err.RootElement.GetProperty("error").GetString()), $"{what}: no error message");
                    Assert.DoesNotContain("GpuRunner.", text);
                    Assert.DoesNotContain("System.", text);
                }
                if (status >= 300) Assert.True(before == await FingerprintAsync(db), $"{what}: refused with {status} but the database changed");
            }
        }
        output.WriteLine("statuses: " + string.Join(", ", seen.OrderBy(k => k.Key).Select(k => $"{k.Key}×{k.Value}")));
        Assert.True(seen.Keys.Count(k => k >= 400) >= 4, "the fuzzer should provoke several kinds of refusal");
        // The core still works after all that.
        await c.ExpectAsync(200, HttpMethod.Get, "healthz", null);
        await c.RunnerAsync("heartbeat", new() { ["gpus"] = Array.Empty<object>() });
    }

    private static string Clip(string? s) => s is null ? "-" : s.Length <= 200 ? s : s[..200] + $"…({s.Length})";

    /// <summary>Everything a refused request must leave as it was.</summary>
    private static async Task<string> FingerprintAsync(SqliteConnection db)
    {
        await using var cmd = db.CreateCommand();
        cmd.CommandText = """
            SELECT (SELECT COUNT(*) FROM events) || '|' || (SELECT COALESCE(MAX(seq), 0) FROM events) || '|' ||
                   (SELECT COUNT(*) FROM tokens) || '|' || (SELECT COUNT(*) FROM usage_ledger) || '|' ||
                   (SELECT COUNT(*) || ':' || COALESCE(SUM(admin), 0) FROM users) || '|' || (SELECT COUNT(*) FROM grants) || '|' ||
                   COALESCE((SELECT group_concat(id || ':' || stage || ':' || COALESCE(last_heartbeat_ms, 0) || ':' || state, ',') FROM spaces), '')
            """;
        return (string)(await cmd.ExecuteScalarAsync())!;
    }

    private static readonly string[] Names = ["app", "nope", ".", "..", "a b", "é", "x%2Fy", new string('n', 300), "-", "app.", "%2e%2e", "alice"];
    private static readonly string[] Owners = ["alice", "bob", "admin", "nobody", "..", new string('o', 200)];

    private static string FillRoute(string pattern, Random rng)
    {
        var sb = new StringBuilder();
        foreach (var part in pattern.TrimStart('/').Split('/'))
        {
            if (sb.Length > 0) sb.Append('/');
            if (!part.StartsWith('{')) { sb.Append(part); continue; }
            var name = part.Trim('{', '}').Split(':')[0].TrimStart('*');
            var v = name switch
            {
                "ns" or "owner" => rng.Next(3) > 0 ? Owners[rng.Next(Owners.Length)] : Names[rng.Next(Names.Length)],
                "name" => Names[rng.Next(Names.Length)],
                "action" => new[] { "hardware", "sleeptime", "pause", "restart", "explode", "" }[rng.Next(6)],
                "tokenId" => new[] { "0123456789ab", "zz", new string('f', 12), "x;y", new string('1', 500) }[rng.Next(5)],
                "file" => new[] { "site.css", "../x", "none.js", "site.css%00" }[rng.Next(4)],
                _ => Names[rng.Next(Names.Length)],
            };
            sb.Append(v.Length == 0 ? "x" : Uri.EscapeDataString(v).Replace("%252", "%2"));
        }
        return sb.ToString();
    }

    private static readonly string[] Queries =
    [
        "", "", "", "?period=9999-12", "?period=0000-00", "?period=2026-11", "?period=" + new string('9', 500), "?from=x&to=y",
        "?from=0001-01-01T00:00:00Z&to=9999-12-31T23:59:59Z", "?from=2026-11-02T00:00:00Z&to=2026-11-01T00:00:00Z",
        "?format=xml", "?format=csv", "?factory=maybe", "?factory=true", "?factory=", "?author=" + new string('a', 3000),
        "?author=bob", "?next=%0b", "?next=/%09/evil.example", "?done=%00", "?period=2026-11&period=2026-12", "?seconds=-1e308",
    ];

    private static string Query(Random rng) => Queries[rng.Next(Queries.Length)];

    /// <summary>A body for the route: broken JSON, or a plausible body with some fields given wrong types or extreme values.</summary>
    private static string Body(string pattern, Random rng)
    {
        switch (rng.Next(12))
        {
            case 0: return new[] { "{", "[", "null", "1e999", "\"x\"", "{}", "[]", "{\"a\":", "\u0000", "{\"eventId\":\"x\",\"eventId\":\"y\"}" }[rng.Next(10)];
            case 1: return new string('[', rng.Next(1, 2000));
            case 2: return "{\"x\":\"" + new string('y', rng.Next(1000, 300_000)) + "\"}";
        }
        var fields = Template(pattern, rng);
        var keys = fields.Keys.ToList();
        for (var k = rng.Next(0, 3); k > 0 && keys.Count > 0; k--) fields[keys[rng.Next(keys.Count)]] = Value(rng, 0);
        if (rng.Next(4) == 0) fields[new string('k', rng.Next(1, 50))] = Value(rng, 0);
        return JsonSerializer.Serialize(fields);
    }

    private static Dictionary<string, object?> Template(string pattern, Random rng)
    {
        var at = ManualClock.Start.AddMinutes(rng.Next(-60, 60)).ToString("O");
        Dictionary<string, object?> Ev(params (string, object?)[] more)
        {
            var d = new Dictionary<string, object?> { ["eventId"] = "f" + rng.Next(), ["at"] = at, ["runId"] = rng.Next(3) == 0 ? "run-2" : "run-1" };
            foreach (var (k, v) in more) d[k] = v;
            return d;
        }
        var route = pattern.Split('/').Last();
        var gpu = new Dictionary<string, object?> { ["index"] = 0, ["utilizationPct"] = 50.5, ["memoryUsedMiB"] = 100, ["temperatureC"] = 40, ["powerW"] = 70 };
        return route switch
        {
            "runs" => Ev(("host", "h")),
            "device" => Ev(("report", new Dictionary<string, object?>
            {
                ["gpus"] = new[] { new Dictionary<string, object?> { ["name"] = "Tesla T4", ["memoryTotalMiB"] = 15360 } },
                ["host"] = new Dictionary<string, object?> { ["vcpu"] = 4, ["memoryBytes"] = 16_000_000_000L },
                ["tier"] = new Dictionary<string, object?> { ["flavor"] = "t4-small", ["summary"] = "matches" },
            })),
            "stage" => Ev(("stage", new[] { "APP_STARTING", "RUNNING", "STOPPED", "RUNTIME_ERROR" }[rng.Next(4)]), ("message", "m")),
            "heartbeat" => Ev(("gpus", new[] { gpu })),
            "exit" => Ev(("exitCode", rng.Next(2)), ("signal", null), ("stderrTail", "tail")),
            "batch" => new() { ["events"] = new[] { new Dictionary<string, object?> { ["route"] = "heartbeat", ["body"] = Ev(("gpus", new[] { gpu })) } } },
            "create" => new() { ["name"] = "f" + rng.Next(1000), ["type"] = "space", ["sdk"] = "docker", ["hardware"] = "t4-small", ["sleepTimeSeconds"] = 3600 },
            "delete" => new() { ["name"] = "nope", ["type"] = "space" },
            "hardware" => new() { ["flavor"] = "a10g-small", ["sleepTimeSeconds"] = 3600 },
            "sleeptime" => new() { ["seconds"] = 3600 },
            "grants" => new() { ["flavor"] = "t4-small", ["from"] = "2026-11-01T00:00:00Z", ["to"] = "2026-11-02T00:00:00Z", ["note"] = "n" },
            "tokens" => new() { ["name"] = "t" + rng.Next(1000) },
            _ => new() { ["x"] = 1 },
        };
    }

    private static object? Value(Random rng, int depth) => rng.Next(depth > 2 ? 12 : 15) switch
    {
        0 => null,
        1 => rng.Next(2) == 0,
        2 => 1e308,
        3 => -1e308,
        4 => long.MaxValue,
        5 => long.MinValue,
        6 => -1,
        7 => 0.5,
        8 => "",
        9 => new string('s', rng.Next(1, 20_000)),
        10 => "15360",
        11 => "2026-11-10T12:00:00Z",
        12 => new[] { Value(rng, depth + 1), Value(rng, depth + 1) },
        13 => new Dictionary<string, object?> { ["gpus"] = new[] { Value(rng, depth + 1) }, ["index"] = Value(rng, depth + 1) },
        _ => new object?[] { new Dictionary<string, object?> { ["memoryTotalMiB"] = Value(rng, depth + 1), ["name"] = Value(rng, depth + 1) } },
    };
}
