using System.Text.Json;

namespace GpuRunner.Core.Api;

/// <summary>
/// The runner bodies' documented schema (docs/contracts.md), checked at the door before anything is parsed into
/// events or stored: types, ranges and counts, with the field's name in the 400. Whatever a runner sends is its
/// user's claim, so nothing malformed may reach the store, where a page would later trip on it.
/// </summary>
public static class RunnerValidation
{
    /// <summary>GPUs per device report or heartbeat: more than any machine has (an 8-GPU node, MIG slices of 8).</summary>
    public const int MaxGpus = 64;
    private const long MaxMiB = 16L << 20;          // 16 TiB of GPU memory
    private const long MaxMemoryBytes = 1L << 50;    // 1 PiB of host memory

    public static void Check(RunnerEndpoints.RunBody b) => Text(b.Host, "host", 256);

    public static void Check(RunnerEndpoints.StageBody b) => Text(b.Message, "message", 100_000);

    public static void Check(RunnerEndpoints.ExitBody b)
    {
        if (b.ExitCode is < -255 or > 255) throw Bad($"'exitCode' must be an integer in -255..255, got {b.ExitCode}");
        Text(b.Signal, "signal", 64);
    }

    public static void Check(RunnerEndpoints.HeartbeatBody b)
    {
        if (b.Gpus is not { ValueKind: JsonValueKind.Array } gpus) return; // absent/null: no GPU readings; other kinds: the route says so
        var i = 0;
        foreach (var g in Gpus(gpus, "gpus"))
        {
            var at = $"gpus[{i++}]";
            Integer(g, "index", at, 0, MaxGpus - 1);
            Number(g, "utilizationPct", at, 0, 100);
            Integer(g, "memoryUsedMiB", at, 0, MaxMiB);
            Number(g, "temperatureC", at, -100, 250);
            Number(g, "powerW", at, 0, 10_000);
        }
    }

    public static void Check(RunnerEndpoints.DeviceBody b)
    {
        if (b.Report is not { ValueKind: JsonValueKind.Object } report) return; // the route refuses it with its own message
        if (report.TryGetProperty("gpus", out var gpus) && gpus.ValueKind != JsonValueKind.Null)
        {
            var i = 0;
            foreach (var g in Gpus(gpus, "report.gpus"))
            {
                var at = $"report.gpus[{i++}]";
                Integer(g, "index", at, 0, MaxGpus - 1);
                String(g, "name", at, 200);
                Integer(g, "memoryTotalMiB", at, 0, MaxMiB);
                Integer(g, "memoryUsedMiB", at, 0, MaxMiB);
                String(g, "computeCapability", at, 16);
            }
        }
        if (report.TryGetProperty("host", out var host) && host.ValueKind != JsonValueKind.Null)
        {
            if (host.ValueKind != JsonValueKind.Object) throw Bad("'report.host' must be an object");
            Integer(host, "vcpu", "report.host", 0, 1 << 16);
            Integer(host, "memoryBytes", "report.host", 0, MaxMemoryBytes);
        }
        if (report.TryGetProperty("tier", out var tier) && tier.ValueKind != JsonValueKind.Null)
        {
            if (tier.ValueKind != JsonValueKind.Object) throw Bad("'report.tier' must be an object");
            String(tier, "flavor", "report.tier", 100);
            String(tier, "summary", "report.tier", 2000);
        }
        if (report.TryGetProperty("verdict", out var v) && v.ValueKind is not (JsonValueKind.String or JsonValueKind.Null))
            throw Bad("'report.verdict' must be a string");
        if (report.TryGetProperty("checks", out var checks) && checks.ValueKind is not (JsonValueKind.Array or JsonValueKind.Null))
            throw Bad("'report.checks' must be a list");
        if (report.TryGetProperty("driver", out var d) && d.ValueKind is not (JsonValueKind.Object or JsonValueKind.Null))
            throw Bad("'report.driver' must be an object");
    }

    private static JsonElement.ArrayEnumerator Gpus(JsonElement gpus, string name)
    {
        if (gpus.ValueKind != JsonValueKind.Array) throw Bad($"'{name}' must be a list of objects");
        var n = gpus.GetArrayLength();
        if (n > MaxGpus) throw Bad($"'{name}' has {n} entries; at most {MaxGpus}");
        foreach (var g in gpus.EnumerateArray())
            if (g.ValueKind != JsonValueKind.Object) throw Bad($"'{name}' must be a list of objects");
        return gpus.EnumerateArray();
    }

    private static void Text(string? s, string field, int max)
    {
        if (s is not null && s.Length > max) throw Bad($"'{field}' is {s.Length} characters long; at most {max}");
    }

    private static void String(JsonElement o, string field, string at, int max)
    {
        if (!o.TryGetProperty(field, out var v) || v.ValueKind == JsonValueKind.Null) return;
        if (v.ValueKind != JsonValueKind.String) throw Bad($"'{at}.{field}' must be a string");
        if (v.GetString()!.Length > max) throw Bad($"'{at}.{field}' is longer than {max} characters");
    }

    private static void Integer(JsonElement o, string field, string at, long min, long max)
    {
        if (!o.TryGetProperty(field, out var v) || v.ValueKind == JsonValueKind.Null) return;
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt64(out var n) || n < min || n > max)
            throw Bad($"'{at}.{field}' must be an integer in {min}..{max}, got {Show(v)}");
    }

    private static void Number(JsonElement o, string field, string at, double min, double max)
    {
        if (!o.TryGetProperty(field, out var v) || v.ValueKind == JsonValueKind.Null) return;
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetDouble(out var n) || !double.IsFinite(n) || n < min || n > max)
            throw Bad($"'{at}.{field}' must be a number in {min}..{max}, got {Show(v)}");
    }

    private static string Show(JsonElement v) => v.ValueKind == JsonValueKind.Number ? Http.Clip(v.GetRawText()) : v.ValueKind.ToString().ToLowerInvariant();

    private static ApiException Bad(string m) => new(400, m);
}
