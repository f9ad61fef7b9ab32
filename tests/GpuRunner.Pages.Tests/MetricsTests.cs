using System.Globalization;
using System.Text.RegularExpressions;

namespace GpuRunner.Pages.Tests;

/// <summary>/metrics, /readyz against a real core: the series move after events, the format parses.</summary>
public sealed class MetricsTests
{
    private static readonly Regex Sample = new(@"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (-?[0-9.eE+-]+|\+Inf|NaN)$");

    /// <summary>Parses the exposition; fails on any line that is not a comment or a well-formed sample.</summary>
    private static Dictionary<string, double> Parse(string text)
    {
        var d = new Dictionary<string, double>();
        var typed = new HashSet<string>();
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            if (line.StartsWith("# TYPE ", StringComparison.Ordinal)) { typed.Add(line.Split(' ')[2]); continue; }
            if (line.StartsWith('#')) continue;
            var m = Sample.Match(line);
            Assert.True(m.Success, $"not a Prometheus sample: {line}");
            var name = m.Groups[1].Value;
            Assert.True(typed.Contains(name) || typed.Any(t => name.StartsWith(t + "_", StringComparison.Ordinal)), $"{name} has no # TYPE line before it");
            Assert.True(d.TryAdd(name + m.Groups[2].Value, double.Parse(m.Groups[3].Value, CultureInfo.InvariantCulture)), $"duplicate series {line}");
        }
        return d;
    }

    private static double Get(Dictionary<string, double> m, string series) => m.GetValueOrDefault(series);

    [Fact]
    public async Task Series_move_after_runner_events_and_billing()
    {
        await using var core = await TestCore.StartAsync();
        var (status, text) = await core.GetAsync("/metrics");
        Assert.Equal(200, status);
        var before = Parse(text);
        Assert.Equal(1, Get(before, "gpurunner_store_up"));
        Assert.Equal(0, Get(before, "gpurunner_spaces{stage=\"RUNNING\"}"));
        Assert.True(before.ContainsKey("gpurunner_spaces{stage=\"PAUSED\"}"), "every stage is exported, 0 included");

        await core.CreateSpaceAsync("alice/app", "t4-small");
        await core.RunAsync("alice/app", "run-1", "t4-small"); // runs, device, stage x2
        for (var i = 0; i < 3; i++) await core.RunnerAsync("alice/app", "heartbeat", "run-1", new { gpus = Array.Empty<object>() });
        await core.RunnerAsync("alice/app", "stage", "run-1", new { stage = "BUILDING" }, expect: 400); // refused
        core.Clock.Advance(TimeSpan.FromMinutes(10));

        var after = Parse(await core.GetTextAsync("/metrics"));
        Assert.Equal(3, Get(after, "gpurunner_events_ingested_total{kind=\"heartbeat\",code=\"200\",result=\"accepted\"}"));
        Assert.Equal(2, Get(after, "gpurunner_events_ingested_total{kind=\"stage\",code=\"200\",result=\"accepted\"}"));
        Assert.Equal(1, Get(after, "gpurunner_events_ingested_total{kind=\"stage\",code=\"400\",result=\"refused\"}"));
        Assert.Equal(1, Get(after, "gpurunner_events_ingested_total{kind=\"runs\",code=\"200\",result=\"accepted\"}"));
        Assert.Equal(1, Get(after, "gpurunner_events_ingested_total{kind=\"device\",code=\"200\",result=\"accepted\"}"));
        Assert.Equal(3, Get(after, "gpurunner_ingest_duration_seconds_count{kind=\"stage\"}"));
        Assert.Equal(3, Get(after, "gpurunner_ingest_duration_seconds_bucket{kind=\"stage\",le=\"+Inf\"}"));
        Assert.True(Get(after, "gpurunner_ingest_duration_seconds_sum{kind=\"heartbeat\"}") > 0);
        // Buckets are cumulative.
        var buckets = after.Where(p => p.Key.StartsWith("gpurunner_ingest_duration_seconds_bucket{kind=\"heartbeat\"", StringComparison.Ordinal)).Select(p => p.Value).ToArray();
        Assert.Equal(buckets.OrderBy(v => v), buckets);
        Assert.Equal(1, Get(after, "gpurunner_spaces{stage=\"RUNNING\"}"));
        Assert.Equal(0, Get(after, "gpurunner_spaces{stage=\"BUILDING\"}"));
        Assert.Equal(1, Get(after, "gpurunner_spaces_billing{flavor=\"t4-small\"}"));
        Assert.Equal(10, Get(after, "gpurunner_billed_minutes{flavor=\"t4-small\",period=\"2026-11\"}"));
        Assert.Equal(0.10, Get(after, "gpurunner_charged_usd{flavor=\"t4-small\",period=\"2026-11\"}"), 6);

        // Paused: the stage gauges move and billing stops.
        await core.PostAsync("/api/spaces/alice/app/pause", TestCore.AliceToken);
        core.Clock.Advance(TimeSpan.FromMinutes(10));
        var paused = Parse(await core.GetTextAsync("/metrics"));
        Assert.Equal(0, Get(paused, "gpurunner_spaces{stage=\"RUNNING\"}"));
        Assert.Equal(1, Get(paused, "gpurunner_spaces{stage=\"PAUSED\"}"));
        Assert.Equal(10, Get(paused, "gpurunner_billed_minutes{flavor=\"t4-small\",period=\"2026-11\"}")); // paused time is not billed
        Assert.False(paused.ContainsKey("gpurunner_spaces_billing{flavor=\"t4-small\"}"));
    }

    [Fact]
    public async Task Readyz_follows_the_store_and_metrics_say_it_is_down()
    {
        await using var core = await TestCore.StartAsync();
        var (status, body) = await core.GetAsync("/readyz");
        Assert.Equal(200, status);
        Assert.Contains("\"ready\"", body);
        Assert.Contains("sqlite", body);

        core.Store.Down = true;
        (status, body) = await core.GetAsync("/readyz");
        Assert.Equal(503, status);
        Assert.Contains("not reachable", body);
        (status, body) = await core.GetAsync("/metrics");
        Assert.Equal(200, status); // the process still answers: its own counters and store_up 0
        Assert.Equal(0, Parse(body)["gpurunner_store_up"]);

        core.Store.Down = false;
        Assert.Equal(200, (await core.GetAsync("/readyz")).Status);
    }
}
