using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using GpuRunner.Cli.Infrastructure;
using GpuRunner.Client;

namespace GpuRunner.Cli.Commands;

/// <summary>
/// `gpurunner spaces upgrade NS/NAME FLAVOR [--wait] [--timeout S]`: requests the hardware and, with --wait, waits for
/// the new run's smoke report (the runner smoke-tests new hardware before the app starts), then prints the figures
/// before and after the change with the price of each. Exit 0: requested (without --wait) or proven; 1: the smoke
/// test failed or no report came in time; 2: usage or the core refused.
/// </summary>
public static class SpacesUpgradeCommand
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromMinutes(15);
    /// <summary>Between two looks at the core's reports; a report needs a build and a smoke test, so seconds apart is plenty.</summary>
    public static TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(1);

    public static Command Create(IConsole console)
    {
        var space = new Argument<string>("space") { Description = "NAMESPACE/NAME" };
        var flavor = new Argument<string>("flavor") { Description = "The flavor to move to, e.g. a10g-large." };
        var wait = new Option<bool>("--wait") { Description = "Wait until the new hardware's smoke report arrives and print before/after." };
        var timeout = new Option<double>("--timeout")
        {
            Description = "Seconds --wait waits for the smoke report (default 900).", DefaultValueFactory = _ => DefaultTimeout.TotalSeconds,
        };
        var c = new Command("upgrade", "Move a Space to other hardware and prove it: wait for its smoke report, show before and after.")
        {
            space, flavor, wait, timeout,
        };
        c.SetHandler(console, async (p, ct) =>
        {
            var seconds = p.GetValue(timeout);
            if (!(seconds >= 1 && seconds <= 86_400)) throw new CommandException($"--timeout must be 1..86400 seconds, got {seconds}");
            if (p.GetValue(timeout) != DefaultTimeout.TotalSeconds && !p.GetValue(wait)) throw new CommandException("--timeout applies with --wait only");
            using var cl = SpacesCommand.Client(p);
            try
            {
                return await RunAsync(console, cl, p.GetValue(space)!, p.GetValue(flavor)!, p.GetValue(wait), TimeSpan.FromSeconds(seconds),
                    p.GetValue(CommonOptions.Json), ct);
            }
            catch (Exception e) when (e is SpacesApiException or ArgumentException) { throw new CommandException(e.Message); }
        });
        return c;
    }

    private static async Task<ReturnCode> RunAsync(IConsole console, SpacesClient cl, string id, string flavor, bool wait, TimeSpan timeout,
        bool json, CancellationToken ct)
    {
        // Reports that exist before the request cannot be the proof of this upgrade.
        var earlier = await cl.SmokeReportsAsync(id, ct);
        var seen = Reports(earlier).Select(r => Str(r, "eventId")).ToHashSet();
        var before = Reports(earlier).Select(r => (JsonElement?)r).FirstOrDefault(); // null, not a default element, when none
        var runtime = await cl.RequestHardwareAsync(id, flavor, null, ct);
        var from = runtime.TryGetProperty("hardware", out var hw) ? Str(hw, "current") : null;
        if (!wait)
        {
            console.Out.WriteLine(json ? runtime.GetRawText()
                : $"requested {flavor} for {id} (now on {from ?? "nothing yet"}); `gpurunner spaces upgrade {id} {flavor} --wait` waits for its smoke report");
            return ReturnCode.Ok;
        }
        if (!json) console.Error.WriteLine($"gpurunner: requested {flavor} for {id}; waiting up to {timeout.TotalSeconds:0} s for its smoke report");

        var deadline = DateTimeOffset.UtcNow + timeout;
        JsonElement? after = null;
        string? lastError = null;
        while (after is null && DateTimeOffset.UtcNow < deadline)
        {
            try
            {
                var now = await cl.SmokeReportsAsync(id, ct);
                after = Reports(now).Where(r => !seen.Contains(Str(r, "eventId")) && Str(r, "flavor") == flavor).Select(r => (JsonElement?)r).FirstOrDefault();
                lastError = null;
            }
            catch (SpacesApiException e) when (e.Status is null || (int)e.Status >= 500)
            {
                // The core restarting is not the end of the wait; say it once.
                if (lastError is null) console.Error.WriteLine($"gpurunner: {e.Message}; still waiting");
                lastError = e.Message;
            }
            if (after is null) await Task.Delay(PollInterval, ct);
        }
        if (after is not { } a)
        {
            console.Error.WriteLine($"gpurunner: no smoke report of {flavor} for {id} within {timeout.TotalSeconds:0} s: the upgrade is not proven");
            if (json) console.Out.WriteLine(Json(before, null, false));
            return ReturnCode.CheckFailed;
        }
        var proven = Str(a, "verdict") is "PASS" or "WARN";
        console.Out.WriteLine(json ? Json(before, a, proven) : Table(id, before, a, proven));
        return proven ? ReturnCode.Ok : ReturnCode.CheckFailed;
    }

    private static IEnumerable<JsonElement> Reports(JsonElement view) =>
        view.TryGetProperty("reports", out var r) && r.ValueKind == JsonValueKind.Array ? r.EnumerateArray() : [];

    private static string Json(JsonElement? before, JsonElement? after, bool proven)
    {
        var sb = new StringBuilder("{\"proven\":").Append(proven ? "true" : "false");
        sb.Append(",\"before\":").Append(before is { } b ? Summary(b) : "null");
        sb.Append(",\"after\":").Append(after is { } a ? Summary(a) : "null").Append('}');
        return sb.ToString();
    }

    /// <summary>A report without its raw body (the API has it): flavor, price, verdict, fault, figures, run and time.</summary>
    private static string Summary(JsonElement r)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            foreach (var p in r.EnumerateObject().Where(p => p.Name != "report")) p.WriteTo(w);
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(ms.ToArray());
    }

    private static readonly (string Check, string Label)[] Figures =
        [("bandwidth.d2d", "memory bandwidth"), ("compute.gemm", "GEMM"), ("memtest", "memory tested"), ("pcie.h2d-pinned", "host to device")];

    internal static string Table(string id, JsonElement? before, JsonElement after, bool proven)
    {
        var cols = before is { } b ? new[] { b, after } : [after];
        var lines = new List<string> { $"{id}: {(before is { } b0 ? Str(b0, "flavor") + " -> " : "")}{Str(after, "flavor")}" };
        void Row(string label, Func<JsonElement, string> cell) =>
            lines.Add($"  {label,-18}" + string.Concat(cols.Select(c => $"{cell(c),-34}")).TrimEnd());
        Row("", c => $"{Str(c, "flavor")} ({Price(c)})");
        Row("verdict", c => $"{Str(c, "verdict")}, {Str(c, "level")} level, {(c.TryGetProperty("gpus", out var g) ? g.GetArrayLength() : 0)} GPU(s)");
        foreach (var (check, label) in Figures) Row(label, c => Figure(c, check));
        Row("measured by run", c => Short(Str(c, "runId")));
        Row("at", c => Str(c, "at"));
        lines.Add(proven
            ? $"upgrade PROVEN: {Str(after, "flavor")} passed its smoke test ({Str(after, "verdict")})"
            : $"upgrade NOT proven: platform hardware fault on {Str(after, "flavor")}: {Str(after, "fault")} (that run is not billed)");
        return string.Join('\n', lines);
    }

    /// <summary>The weakest GPU's figure (the weakest card decides), with its % of spec.</summary>
    private static string Figure(JsonElement report, string check)
    {
        var figs = report.TryGetProperty("gpus", out var gpus) && gpus.ValueKind == JsonValueKind.Array
            ? gpus.EnumerateArray().SelectMany(g => g.GetProperty("figures").EnumerateArray()).Where(f => Str(f, "check") == check).ToList()
            : [];
        if (figs.Count == 0) return "-";
        var f = figs.OrderBy(x => Str(x, "status") == "FAIL" ? 0 : 1).ThenBy(x => Num(x, "percentOfSpec") ?? double.MaxValue).First();
        if (Num(f, "value") is not { } v) return Str(f, "status");
        var text = $"{v.ToString(v >= 100 ? "0" : "0.#", CultureInfo.InvariantCulture)} {Str(f, "unit")}";
        if (Num(f, "errors") is { } e) text += $", {e:0} errors";
        if (Num(f, "percentOfSpec") is { } pct) text += $" ({pct.ToString("0", CultureInfo.InvariantCulture)} %)";
        return Str(f, "status") is "FAIL" or "WARN" ? $"{Str(f, "status")} {text}" : text;
    }

    private static string Price(JsonElement r) => Num(r, "hourlyMicroUsd") is { } micro
        ? micro == 0 ? "free" : "$" + (micro / 1e6).ToString("0.00", CultureInfo.InvariantCulture) + "/h"
        : "price unknown";

    private static string Short(string s) => s.Length > 13 ? s[..13] + "…" : s;

    private static string Str(JsonElement o, string name) =>
        o.TryGetProperty(name, out var v) ? v.ValueKind switch { JsonValueKind.String => v.GetString()!, JsonValueKind.Null => "-", _ => v.GetRawText() } : "-";

    private static double? Num(JsonElement o, string name) =>
        o.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : null;
}
