using System.Globalization;
using System.Text;
using GpuRunner.Core.Services;
using GpuRunner.Lifecycle;

namespace GpuRunner.Core.Pages;

/// <summary>
/// The Space page's "Hardware proof" card: a platform hardware fault of the current run (not billed), the latest smoke
/// report's figures per GPU as % of spec, and the before/after table across the last hardware change with each
/// flavor's price; every figure says which run measured it and when. The owner's and admins' only, like the device report.
/// </summary>
internal static class SmokeSection
{
    public static async Task RenderAsync(StringBuilder sb, CoreService core, SpaceState s, CancellationToken ct)
    {
        var all = await SmokeReports.ListAsync(core, s.Id, ct);
        var (before, after) = SmokeReports.Comparison(all);
        var cat = core.Machine.Catalogue;
        sb.Append("<section class=\"card\" id=\"smoke\"><h2>Hardware proof</h2>");
        if (s.HardwareFault is { } f && f.RunId == s.RunId)
            sb.Append("<div class=\"warning\" id=\"hardware-fault\" role=\"alert\"><strong>Platform hardware fault.</strong> The smoke test of run <code>")
              .Append(Html.E(f.RunId)).Append("</code> on <code>").Append(Html.E(f.Flavor)).Append("</code> failed: ").Append(Html.E(f.Summary))
              .Append(f.Billed
                  ? ". The report reached the core only after the app was running, so this run is billed as usual.</div>"
                  : ". This is the platform's fault, not the app's: the run is not billed.</div>");
        if (after is null)
        {
            sb.Append("<p class=\"muted\" id=\"smoke-none\">No smoke report yet: the runner smoke-tests the GPUs before the app starts on hardware this Space has not been proven on.</p></section>");
            return;
        }

        // The latest report, per GPU.
        sb.Append("<p id=\"smoke-latest\">Latest: <span class=\"pill pill-").Append(Pill(after.Verdict)).Append("\">").Append(Html.E(after.Verdict)).Append("</span> on <code>")
          .Append(Html.E(after.Flavor)).Append("</code>, ").Append(Html.E(after.Level)).Append(" level")
          .Append(after.Seconds is { } sec ? $", {sec.ToString("0.0", CultureInfo.InvariantCulture)} s" : "")
          .Append(" <span class=\"muted\">· run <code>").Append(Html.E(after.RunId)).Append("</code> at ").Append(Html.E(Html.Time(after.AtMs))).Append("</span></p>");
        sb.Append("<table class=\"smoke\" id=\"smoke-gpus\"><thead><tr><th>GPU</th>");
        foreach (var (_, label) in SmokeReports.KeyFigures) sb.Append("<th class=\"num\">").Append(Html.E(label)).Append("</th>");
        sb.Append("</tr></thead><tbody>");
        if (after.Gpus.Count == 0)
            sb.Append("<tr><td colspan=\"").Append(SmokeReports.KeyFigures.Length + 1).Append("\" class=\"muted\">no GPU was tested</td></tr>");
        foreach (var g in after.Gpus)
        {
            sb.Append("<tr><td>").Append(g.Index).Append(' ').Append(Html.E(g.Name)).Append(" <span class=\"pill pill-").Append(Pill(g.Status)).Append("\">")
              .Append(Html.E(g.Status)).Append("</span></td>");
            foreach (var (check, _) in SmokeReports.KeyFigures)
                sb.Append("<td class=\"num\">").Append(Cell(g.Figures.FirstOrDefault(x => x.Check == check))).Append("</td>");
            sb.Append("</tr>");
        }
        sb.Append("</tbody></table>");

        // Before and after the last hardware change: the weakest GPU's figure each (the weakest card decides).
        if (before is not null)
        {
            sb.Append("<h3>Before and after the hardware change</h3><table class=\"smoke\" id=\"smoke-compare\"><thead><tr><th></th>");
            foreach (var r in new[] { before, after })
                sb.Append("<th class=\"num\"><code>").Append(Html.E(r.Flavor)).Append("</code> ").Append(Html.Badge(cat.Find(r.Flavor), r.Flavor)).Append("</th>");
            sb.Append("</tr></thead><tbody><tr><th>Price</th>");
            foreach (var r in new[] { before, after })
                sb.Append("<td class=\"num price\">").Append(cat.Find(r.Flavor) is { } fl ? Html.E(Html.PerHour(fl.HourlyMicroUsd)) : "—").Append("</td>");
            sb.Append("</tr><tr><th>Verdict</th>");
            foreach (var r in new[] { before, after })
                sb.Append("<td class=\"num\"><span class=\"pill pill-").Append(Pill(r.Verdict)).Append("\">").Append(Html.E(r.Verdict)).Append("</span> ")
                  .Append(r.Gpus.Count).Append(r.Gpus.Count == 1 ? " GPU" : " GPUs").Append("</td>");
            sb.Append("</tr>");
            foreach (var (check, label) in SmokeReports.KeyFigures)
            {
                sb.Append("<tr><th>").Append(Html.E(label)).Append("</th>");
                foreach (var r in new[] { before, after }) sb.Append("<td class=\"num\">").Append(Cell(Weakest(r, check))).Append("</td>");
                sb.Append("</tr>");
            }
            sb.Append("<tr><th>Measured</th>");
            foreach (var r in new[] { before, after })
                sb.Append("<td class=\"num muted\">run <code>").Append(Html.E(Short(r.RunId))).Append("</code><br>").Append(Html.E(Html.Time(r.AtMs))).Append("</td>");
            sb.Append("</tr></tbody></table>");
        }
        sb.Append("<p class=\"note\">All reports as JSON: <a href=\"/api/spaces/").Append(Html.Url(s.Namespace)).Append('/').Append(Html.Url(s.Name))
          .Append("/smoke\"><code>GET /api/spaces/").Append(Html.E(s.Id)).Append("/smoke</code></a></p></section>");
    }

    private static SmokeFigure? Weakest(SmokeRecord r, string check) =>
        r.Gpus.Select(g => g.Figures.FirstOrDefault(f => f.Check == check)).Where(f => f is not null)
            .OrderBy(f => f!.Status == "FAIL" ? 0 : 1).ThenBy(f => f!.PercentOfSpec ?? double.MaxValue).FirstOrDefault();

    private static string Cell(SmokeFigure? f)
    {
        if (f is null) return "<span class=\"muted\">—</span>";
        var text = Html.E(SmokeReports.Format(f));
        var pct = f.PercentOfSpec is { } p ? $" <span class=\"muted\">{p.ToString("0", CultureInfo.InvariantCulture)} % of spec</span>" : "";
        return f.Status is "FAIL" or "WARN" ? $"<span class=\"pill pill-{Pill(f.Status)}\">{f.Status}</span> {text}{pct}" : text + pct;
    }

    private static string Pill(string status) => status switch { "PASS" => "ok", "WARN" => "busy", "FAIL" => "bad", _ => "idle" };

    private static string Short(string runId) => runId.Length > 13 ? runId[..13] + "…" : runId;
}
