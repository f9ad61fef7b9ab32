using System.CommandLine;
using System.Text.Json;
using GpuRunner.Cli.Exec;
using GpuRunner.Cli.Infrastructure;
using GpuRunner.Client;

namespace GpuRunner.Cli.Commands;

/// <summary>
/// `gpurunner report`: one device report to the core (for cron or a smoke pipeline), and whatever earlier runs left
/// in the outbox for the same core and Space; then what the core holds for the Space (events that do not fit its
/// history yet) and the dead letters it gave up on, each with why. Exit 0: all delivered; 1: delivered but verify FAILed;
/// 75: the core could not be reached in time (kept in the outbox for the next try); 2: bad usage.
/// </summary>
public static class ReportCommand
{
    /// <summary>sysexits' EX_TEMPFAIL: try again later, nothing was lost.</summary>
    public const ReturnCode NotDelivered = (ReturnCode)75;
    public static readonly TimeSpan Budget = TimeSpan.FromSeconds(15);

    public static Command Create(IConsole console)
    {
        var report = new Command("report", "Send one device report to the core, plus any events earlier runs could not deliver.")
        {
            ExecCommand.Core, ExecCommand.Space, ExecCommand.Token,
        };
        report.SetHandler(console, async (parse, _) =>
        {
            var settings = CoreSettings.Resolve(parse.GetValue(ExecCommand.Core), parse.GetValue(ExecCommand.Space), parse.GetValue(ExecCommand.Token))
                ?? throw new CommandException($"report needs a core: pass --core URL --space NS/NAME --token T or set {CoreSettings.UrlVariable}, {CoreSettings.SpaceVariable}, {CoreSettings.TokenVariable}");
            return await RunAsync(console, settings, ExecServices.DeviceReporter(new RunnerLog(console.Error)), parse.GetValue(CommonOptions.Json));
        });
        return report;
    }

    internal static async Task<ReturnCode> RunAsync(IConsole console, CoreSettings settings, IDeviceReporter reporter, bool json)
    {
        var log = new RunnerLog(console.Error);
        await using var events = ExecServices.Recorder(settings, log);
        var device = await reporter.RunAsync(CancellationToken.None);
        if (device is null)
        {
            if (reporter is UnavailableDeviceReporter u) log.Line($"no device report sent: {u.Reason}");
        }
        else
        {
            if (!json) foreach (var line in device.Block) log.Line(line);
            if (events.JoinLiveRunOrStart(Environment.MachineName))
                log.Line($"attaching the report to the running exec's run {events.RunId}");
            events.Device(device.Json);
        }
        var pending = await events.FlushAsync(Budget);
        var dead = events.Outbox!.DeadLetters().Count;
        // What the core holds is the core's to say: asked, not counted here. Unknown when it cannot be asked.
        HeldEvents? held = null;
        using (var client = ExecServices.DesiredClient(settings))
        {
            try { held = await client!.HeldAsync(); }
            catch (Client.RunnerApiException e) { log.Line($"cannot ask the core what it holds: {e.Message}"); }
        }

        var code = pending > 0 ? NotDelivered : device?.Failed == true ? ReturnCode.CheckFailed : ReturnCode.Ok;
        if (json)
        {
            var payload = new Dictionary<string, object?>
            {
                ["runId"] = events.RunId,
                ["deviceReportSent"] = device is not null && pending == 0,
                ["verdict"] = device?.Verdict,
                ["pending"] = pending,
                ["deadLetters"] = dead,
                ["outbox"] = events.Outbox.Location,
                ["coreHeld"] = held?.Held,
                ["coreDeadLetters"] = held?.DeadLetters,
            };
            console.Out.WriteLine(Json(payload));
        }
        else
        {
            console.Out.WriteLine(pending == 0
                ? $"report: delivered to {settings.Url} for {settings.Space}{(device is null ? " (no device report in this build)" : $", verdict {device.Verdict}")}"
                : $"report: {pending} event(s) not delivered (core unreachable); kept in {events.Outbox.Location}");
            if (dead > 0) console.Out.WriteLine($"report: {dead} event(s) were refused by the core for good (dead letters in {events.Outbox.Location})");
            foreach (var h in held?.Held ?? [])
                console.Out.WriteLine($"report: the core holds {h.Kind} {h.EventId} ({h.Source}, at {h.At}): {h.Reason}");
            foreach (var h in held?.DeadLetters ?? [])
                console.Out.WriteLine($"report: the core gave up on {h.Kind} {h.EventId} ({h.Source}, at {h.At}; a dead letter): {h.Reason}");
        }
        return code;
    }

    private static string Json(Dictionary<string, object?> payload)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream))
        {
            w.WriteStartObject();
            foreach (var (k, v) in payload)
            {
                switch (v)
                {
                    case null: w.WriteNull(k); break;
                    case bool b: w.WriteBoolean(k, b); break;
                    case int i: w.WriteNumber(k, i); break;
                    case IReadOnlyList<HeldEventInfo> list:
                        w.WriteStartArray(k);
                        foreach (var h in list)
                        {
                            w.WriteStartObject();
                            w.WriteString("eventId", h.EventId);
                            w.WriteString("source", h.Source);
                            w.WriteString("kind", h.Kind);
                            w.WriteString("at", h.At);
                            w.WriteString("receivedAt", h.ReceivedAt);
                            w.WriteString("reason", h.Reason);
                            w.WriteEndObject();
                        }
                        w.WriteEndArray();
                        break;
                    default: w.WriteString(k, v.ToString()); break;
                }
            }
            w.WriteEndObject();
        }
        return System.Text.Encoding.UTF8.GetString(stream.ToArray());
    }
}
