using System.Globalization;
using System.Text;
using GpuRunner.Core.Metrics;
using GpuRunner.Core.Services;
using GpuRunner.Lifecycle;

namespace GpuRunner.Core.Pages;

/// <summary>
/// The operator's fleet view (admins only): every live Space, and every Space stopped by the platform's GPU fault,
/// with its hardware, its latest GPU readings, its health and its last GPU event. Sick ones first.
/// </summary>
internal static class FleetPage
{
    public static async Task<string> RenderAsync(CoreService core, GpuTelemetry telemetry, PageUser u, CancellationToken ct)
    {
        var inv = CultureInfo.InvariantCulture;
        var spaces = (await core.Store.ListSpacesAsync(null, ct)).Where(s => s.Stage.IsAlive() || s.PlatformFault is not null)
            .Select(s => (S: s, Health: Health(s, telemetry.Latest(s.Id)), Readings: telemetry.Latest(s.Id)))
            .OrderBy(x => x.Health.Rank).ThenBy(x => x.S.Id, StringComparer.Ordinal).ToList();
        var cat = core.Machine.Catalogue;
        var sb = new StringBuilder("<h1>GPU fleet</h1><section class=\"card\">");
        if (spaces.Count == 0)
        {
            sb.Append("<p class=\"muted\" id=\"fleet-empty\">No live Space.</p></section>");
            return new PageBuilder("GPU fleet", u.Name, u.Session.Csrf, true).Add(sb.ToString()).Render();
        }
        sb.Append("<table class=\"spaces\" id=\"fleet\"><thead><tr><th>Space</th><th>Stage</th><th>Hardware</th><th>Health</th>")
          .Append("<th>GPU readings (util · memory · power · temperature)</th><th>Last GPU event</th></tr></thead><tbody>");
        foreach (var (s, health, readings) in spaces)
        {
            var flavor = s.CurrentFlavor ?? s.RequestedFlavor;
            sb.Append("<tr data-space=\"").Append(Html.Attr(s.Id)).Append("\" data-health=\"").Append(health.Name).Append("\"><td><a href=\"/spaces/")
              .Append(Html.Attr(s.Id)).Append("\">").Append(Html.E(s.Id)).Append("</a></td><td>").Append(Html.StagePill(s.Stage)).Append("</td><td>")
              .Append(Html.Badge(cat.Find(flavor), flavor));
            // The card the runner found, when it is not the one asked for: the badge alone would hide the mismatch.
            if (s.Mismatch is { } m)
                sb.Append("<div class=\"muted mismatch\">detected: ").Append(Html.E(m.Detected ?? "no matching tier")).Append("</div>");
            sb.Append("</td><td><span class=\"pill pill-").Append(health.Pill).Append("\">")
              .Append(health.Name).Append("</span></td><td class=\"readings\">");
            if (readings.Count == 0) sb.Append("<span class=\"muted\">none recently</span>");
            foreach (var r in readings)
                sb.Append(inv, $"<div>GPU {r.Gpu}: {Num(r.Util, "%")} · {Num(r.MemUsedMiB, " MiB")} · {Num(r.PowerW, " W")} · {Num(r.TempC, " °C")}</div>");
            sb.Append("</td><td>");
            if (CurrentHardwareFault(s) is { } hf)
                sb.Append("<span class=\"muted\">").Append(Html.E(Html.Time(hf.AtMs))).Append("</span> start-up smoke test: ").Append(Html.E(hf.Summary));
            else if (s.LastGpuEvent is { } e)
                sb.Append("<span class=\"muted\">").Append(Html.E(Html.Time(e.AtMs))).Append("</span> ").Append(Html.E(e.Class)).Append(": ").Append(Html.E(e.Message));
            else sb.Append("<span class=\"muted\">—</span>");
            sb.Append("</td></tr>");
        }
        sb.Append("</tbody></table><p class=\"note\">Readings are the latest heartbeat this core received (within ")
          .Append(GpuTelemetry.StaleAfter.TotalMinutes.ToString("0", inv)).Append(" min). Health: <b>fault</b> = stopped by a GPU fault of the platform, ")
          .Append("or this run's start-up smoke test found the hardware faulty; <b>warning</b> = a hardware, driver or user-code GPU event ")
          .Append("in this run, or a card other than the one asked for; <b>ok</b> = readings and nothing to say; <b>silent</b> = no readings.</p></section>");
        return new PageBuilder("GPU fleet", u.Name, u.Session.Csrf, true).Add(sb.ToString()).Render();
    }

    /// <summary>The smoke test's hardware fault of the run the Space is on (the app may run anyway without
    /// --require: the run is then not billed, and the fleet must not call it ok).</summary>
    private static HardwareFault? CurrentHardwareFault(SpaceState s) => s.HardwareFault is { } f && f.RunId == s.RunId ? f : null;

    private static string Num(double? v, string unit) => v is { } x ? Html.E(x.ToString("0.#", CultureInfo.InvariantCulture) + unit) : "n/a";

    private static (int Rank, string Name, string Pill) Health(SpaceState s, IReadOnlyList<GpuReading> readings)
    {
        if (s.PlatformFault is not null || CurrentHardwareFault(s) is not null) return (0, "fault", "bad");
        if (s.Mismatch is not null) return (1, "warning", "busy");
        if (s.LastGpuEvent is { Class: not "info" } e && e.AtMs >= (s.RunStartedAtMs ?? 0)) return (1, "warning", "busy");
        return readings.Count > 0 ? (3, "ok", "ok") : (2, "silent", "idle");
    }
}
