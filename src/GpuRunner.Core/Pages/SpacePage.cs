using System.Globalization;
using System.Text;
using GpuRunner.Core.Api;
using GpuRunner.Core.Services;
using GpuRunner.Lifecycle;
using Microsoft.AspNetCore.Http;

namespace GpuRunner.Core.Pages;

/// <summary>
/// One Space: badge, stage, requested vs current hardware, the runner's last device report, the settings panel,
/// the usage chart and the invoice. Anyone logged in sees the public part read-only; the device report, usage and
/// invoice follow the API's read rule (owner or admin); the controls are the owner's only (and the server refuses
/// anyone else whatever the form says).
/// </summary>
internal static class SpacePage
{
    /// <summary>Sleep-time choices (seconds), like the Hub's settings list; -1 = never.</summary>
    private static readonly long[] SleepChoices = [-1, 300, 900, 1800, 3600, 36000, 86400, 172800, 259200, 604800];

    public static async Task<string> RenderAsync(HttpContext ctx, CoreService core, PageUser u, string id, string? error, CancellationToken ct)
    {
        var s = await core.Store.GetSpaceAsync(id, ct) ?? throw new LifecycleException(LifecycleErrorKind.NotFound, $"Space {id} not found");
        var p = u.Principal;
        var owner = p.IsOwnerOf(s);
        var canRead = owner || p.IsAdmin;
        var cat = core.Machine.Catalogue;
        var current = cat.Find(s.CurrentFlavor);
        var requested = cat.Find(s.RequestedFlavor);
        var (ns, name) = (s.Namespace, s.Name);
        var basePath = $"/spaces/{Html.Url(ns)}/{Html.Url(name)}";

        var sb = new StringBuilder();
        sb.Append("<div class=\"title\"><h1><a class=\"muted\" href=\"/spaces\">Spaces</a> / <span id=\"space-id\">").Append(Html.E(id)).Append("</span></h1>")
          .Append(TitleBadge(s, cat, current ?? requested)).Append(' ').Append(Html.StagePill(s.Stage)).Append("</div>");
        if (error is not null) sb.Append("<p class=\"flash error\" role=\"alert\" id=\"flash\">").Append(Html.E(error)).Append("</p>");
        else if (ctx.Request.Query["done"].ToString() is { Length: > 0 } done) sb.Append("<p class=\"flash ok\" role=\"status\" id=\"flash\">").Append(Html.E(Done(done, s, cat))).Append("</p>");

        sb.Append("<div class=\"grid\">");
        Overview(sb, s, core, requested, current, owner);
        if (canRead) await DeviceAsync(sb, core, s, ct);
        sb.Append("</div>");
        if (canRead) await SmokeSection.RenderAsync(sb, core, s, ct); // hardware proof: smoke reports, before/after
        Settings(sb, s, core, basePath, owner, u.Session.Csrf);
        if (canRead) await HeldSection.RenderAsync(sb, core, p, s, ct);
        if (canRead) await GpuCharts.RenderAsync(sb, core, s, ct);
        if (canRead) await UsageAsync(sb, ctx, core, s, basePath, ct);
        else sb.Append("<section class=\"card\" id=\"usage\"><h2>Usage</h2><p class=\"note\">Usage, cost and the device report of ")
                .Append(Html.E(id)).Append(" are visible to its owner only.</p></section>");
        return new PageBuilder(id, u.Name, u.Session.Csrf, p.IsAdmin).Add(sb.ToString()).Render();
    }

    /// <summary>The hardware it runs on; when the runner reports other hardware than requested, that hardware, flagged.</summary>
    private static string TitleBadge(SpaceState s, HardwareCatalogue cat, Flavor? shown)
    {
        if (s.Mismatch is not { } mm || mm.Requested != (s.CurrentFlavor ?? s.RequestedFlavor))
            return Html.Badge(shown, s.CurrentFlavor ?? s.RequestedFlavor, "big");
        var detected = cat.Find(mm.Detected);
        return $"<span class=\"badge big badge-warn\" id=\"badge-mismatch\" title=\"requested {Html.Attr(mm.Requested)}; the runner reports {Html.Attr(mm.Detected ?? "hardware outside the catalogue")}\">"
               + $"⚠ {Html.E(detected is null ? "unmatched hardware" : Html.BadgeText(detected, detected.Id))}</span>";
    }

    private static string Done(string action, SpaceState s, HardwareCatalogue cat) => action switch
    {
        "hardware" => $"Hardware requested: {s.RequestedFlavor} ({Html.BadgeText(cat.Find(s.RequestedFlavor), s.RequestedFlavor)}). "
                      + (s.CurrentFlavor is not null && s.CurrentFlavor != s.RequestedFlavor ? $"It keeps running on {s.CurrentFlavor} until the new hardware is up." : ""),
        "sleeptime" => $"Sleep time set: {(s.SleepSeconds is { } sec ? Html.Duration(sec) : "default")}.",
        "pause" => "Paused. Billing stopped; only you can restart it.",
        "restart" => "Restart requested.",
        _ => "Done.",
    };

    private static void Overview(StringBuilder sb, SpaceState s, CoreService core, Flavor? requested, Flavor? current, bool owner)
    {
        var m = core.Machine;
        var switching = s.CurrentFlavor is not null && s.CurrentFlavor != s.RequestedFlavor;
        sb.Append("<section class=\"card\" id=\"overview\"><h2>Runtime</h2><dl class=\"facts\">");
        sb.Append("<dt>Stage</dt><dd id=\"stage\">").Append(Html.StagePill(s.Stage)).Append(" <span class=\"muted\">since ")
          .Append(Html.E(Html.Time(s.StageSinceMs))).Append("</span></dd>");
        sb.Append("<dt>Requested</dt><dd id=\"requested\"><code>").Append(Html.E(s.RequestedFlavor)).Append("</code> ")
          .Append(Html.Badge(requested, s.RequestedFlavor)).Append(" <span class=\"muted\">").Append(Html.E(Html.PerHour(requested?.HourlyMicroUsd ?? 0))).Append("</span></dd>");
        sb.Append("<dt>Current</dt><dd id=\"current\">")
          .Append(s.CurrentFlavor is null ? "<span class=\"muted\">not run yet</span>" : $"<code>{Html.E(s.CurrentFlavor)}</code> {Html.Badge(current, s.CurrentFlavor)}")
          .Append(switching ? " <span class=\"pill pill-busy\" id=\"switching\">switching to " + Html.E(s.RequestedFlavor) + "</span>" : "")
          .Append(s.Mismatch is { } mm ? $" <span class=\"pill pill-busy\">runner reports {Html.E(mm.Detected ?? "other hardware")}</span>" : "").Append("</dd>");
        var sleep = m.EffectiveSleepSeconds(s);
        sb.Append("<dt>Sleep</dt><dd id=\"sleep-effective\">")
          .Append(sleep is null ? "never sleeps" : $"sleeps after {Html.E(Html.Duration(sleep.Value))} without a visit").Append("</dd>");
        if (s.Open is { } o)
        {
            var cost = Money.Amount(Money.BilledMinutes(core.NowMs - o.StartMs), o.HourlyMicroUsd);
            sb.Append("<dt>Billing</dt><dd id=\"billing\">").Append(Html.E(Html.PerHour(o.HourlyMicroUsd))).Append(" as <code>").Append(Html.E(o.BilledFlavor))
              .Append("</code> since ").Append(Html.E(Html.Time(o.StartMs)));
            if (owner) sb.Append(" · <span class=\"muted\">this stretch so far ").Append(Html.E(Html.Usd(cost))).Append("</span>");
            sb.Append("</dd>");
        }
        else sb.Append("<dt>Billing</dt><dd id=\"billing\">not billing <span class=\"muted\">(billed while RUNNING, and while the old hardware serves during a hardware change)</span></dd>");
        if (s.PauseReason is not null && s.Paused) sb.Append("<dt>Paused</dt><dd>").Append(Html.E(s.PauseReason)).Append("</dd>");
        if (s.LastError is not null) sb.Append("<dt>Last error</dt><dd class=\"err\">").Append(Html.E(s.LastError)).Append("</dd>");
        sb.Append("<dt>Owner</dt><dd>").Append(Html.E(s.Owner)).Append(" · sdk ").Append(Html.E(s.Sdk)).Append("</dd>");
        sb.Append("</dl></section>");
    }

    private static async Task DeviceAsync(StringBuilder sb, CoreService core, SpaceState s, CancellationToken ct)
    {
        // The newest device report (its raw `verify --json` is the event's detail). Read through the writer's
        // StateEvents — an indexed read of the Space's state changes only — rather than EventsAsync, which would also
        // load every heartbeat the Space ever sent. The read rides along in the writer's next batch (sub-millisecond).
        var events = await core.Store.WriteAsync(tx => tx.StateEvents(s.Id), ct);
        var last = events.Where(e => e.Kind == "device" && e.Detail is not null).MaxBy(e => (e.AtMs, e.Seq));
        var runId = last?.Source.StartsWith("run:", StringComparison.Ordinal) == true ? last.Source[4..] : null;
        var d = last is null ? null : DeviceSummary.Parse(last.Detail, last.AtMs, runId);
        sb.Append("<section class=\"card\" id=\"device\"><h2>Device</h2>");
        if (s.Mismatch is { } mm)
            sb.Append("<div class=\"warning\" id=\"mismatch\" role=\"alert\"><strong>Hardware mismatch.</strong> Requested <code>").Append(Html.E(mm.Requested))
              .Append("</code>, the runner reports ").Append(mm.Detected is null ? "hardware that matches no tier" : $"<code>{Html.E(mm.Detected)}</code>")
              .Append(" (").Append(Html.E(mm.Summary)).Append("). The requested rate is not billed for this time")
              .Append(s.Open is { } o ? $"; billed as <code>{Html.E(o.BilledFlavor)}</code>" : "").Append(".</div>");
        if (d is null)
        {
            sb.Append("<p class=\"muted\">No device report yet: the runner sends one (<code>gpurunner verify --json</code>) when it starts.</p></section>");
            return;
        }
        sb.Append("<dl class=\"facts\">");
        sb.Append("<dt>GPU</dt><dd id=\"device-gpu\">").Append(d.Gpus.Count == 0 ? "none detected" : string.Join("<br>", d.Gpus.Select(Html.E))).Append("</dd>");
        sb.Append("<dt>Driver</dt><dd>").Append(Html.E(d.Driver ?? "—")).Append("</dd>");
        sb.Append("<dt>CUDA</dt><dd>").Append(Html.E(d.Cuda ?? "—")).Append("</dd>");
        var verdictClass = d.Verdict switch { "PASS" => "ok", "WARN" => "busy", "FAIL" => "bad", _ => "idle" };
        sb.Append("<dt>Verify</dt><dd id=\"device-verdict\"><span class=\"pill pill-").Append(verdictClass).Append("\">").Append(Html.E(d.Verdict ?? "unknown")).Append("</span></dd>");
        sb.Append("<dt>Tier</dt><dd>").Append(Html.E(d.TierSummary ?? d.TierFlavor ?? "—")).Append("</dd>");
        sb.Append("<dt>Reported</dt><dd class=\"muted\">").Append(Html.E(Html.Time(d.AtMs)))
          .Append(d.RunId is null ? "" : $" by run <code>{Html.E(d.RunId)}</code>")
          .Append(RunNote(d, s)).Append("</dd>");
        sb.Append("</dl>");
        if (d.Problems.Count > 0)
        {
            sb.Append("<ul class=\"checks\">");
            foreach (var (cid, status, evidence) in d.Problems.Take(8))
                sb.Append("<li><span class=\"pill pill-").Append(status == "FAIL" ? "bad" : "busy").Append("\">").Append(status).Append("</span> <code>")
                  .Append(Html.E(cid)).Append("</code> ").Append(Html.E(evidence)).Append("</li>");
            sb.Append("</ul>");
        }
        sb.Append("</section>");
    }

    /// <summary>
    /// How the report's run relates to the Space's current one: "earlier" only when it was made before that run began
    /// (a report from a newer run, e.g. one whose start has not arrived yet, is not an earlier one).
    /// </summary>
    internal static string RunNote(DeviceSummary d, SpaceState s) =>
        d.RunId is null || s.RunId is null || d.RunId == s.RunId ? ""
        : s.RunStartedAtMs is { } started && d.AtMs < started ? " (an earlier run)"
        : " (not the current run)";

    private static void Settings(StringBuilder sb, SpaceState s, CoreService core, string basePath, bool owner, string csrf)
    {
        var cat = core.Machine.Catalogue;
        var policy = core.Machine.Policy;
        var requested = cat.Find(s.RequestedFlavor);
        var free = requested?.IsFree ?? true;
        var disabled = owner ? "" : " disabled";
        sb.Append("<section class=\"card\" id=\"settings\"><h2>Settings</h2>");
        if (!owner)
            sb.Append("<p class=\"note readonly\" id=\"readonly\">Read-only: only the owner, <strong>").Append(Html.E(s.Owner))
              .Append("</strong>, can change the hardware or the sleep time, pause or restart this Space.</p>");

        // Hardware picker: every flavor, with its price.
        sb.Append("<form method=\"post\" action=\"").Append(basePath).Append("/hardware\" id=\"hardware-form\" data-confirm=\"Change the hardware? The Space restarts on the new hardware, and billing follows the hardware it runs on.\">")
          .Append(PageForms.Csrf(csrf)).Append("<fieldset").Append(disabled).Append("><legend>Hardware</legend>")
          .Append("<table class=\"hw\"><thead><tr><th></th><th>Hardware</th><th>CPU</th><th>RAM</th><th>Disk</th><th>Accelerator</th><th class=\"num\">Price</th></tr></thead><tbody>");
        foreach (var f in cat.Flavors)
        {
            var isReq = f.Id == s.RequestedFlavor;
            var isCur = f.Id == s.CurrentFlavor;
            sb.Append("<tr").Append(isReq ? " class=\"selected\"" : "").Append("><td><input type=\"radio\" name=\"flavor\" id=\"hw-").Append(Html.Attr(f.Id))
              .Append("\" value=\"").Append(Html.Attr(f.Id)).Append('"').Append(isReq ? " checked" : "").Append("></td>")
              .Append("<td><label for=\"hw-").Append(Html.Attr(f.Id)).Append("\">").Append(Html.E(f.PrettyName)).Append(" <code>").Append(Html.E(f.Id)).Append("</code>")
              .Append(isCur ? " <span class=\"tag\">current</span>" : "").Append(isReq && !isCur ? " <span class=\"tag\">requested</span>" : "").Append("</label></td>")
              .Append("<td>").Append(Html.E(f.Cpu)).Append("</td><td>").Append(Html.E(f.Ram)).Append("</td><td>").Append(Html.E(f.Disk)).Append("</td><td>")
              .Append(f.Accelerator is null ? "<span class=\"muted\">—</span>" : Html.Badge(f, f.Id)).Append("</td>")
              .Append("<td class=\"num price\">").Append(Html.E(Html.PerHour(f.HourlyMicroUsd)))
              .Append(f.IsFree ? "" : $"<br><small class=\"muted\">{Html.E(Html.Usd(Money.PerMinute(f.HourlyMicroUsd)))}/min</small>").Append("</td></tr>");
        }
        sb.Append("</tbody></table><div class=\"row\"><button type=\"submit\" class=\"primary\" id=\"save-hardware\">Save hardware</button>")
          .Append("<span class=\"note\">Billed per minute while RUNNING, on the hardware it runs on.</span></div></fieldset></form>");

        // Sleep time: fixed on free hardware (the rule the domain enforces; the form says why before anyone tries).
        sb.Append("<form method=\"post\" action=\"").Append(basePath).Append("/sleeptime\" id=\"sleep-form\">").Append(PageForms.Csrf(csrf))
          .Append("<fieldset").Append(owner && !free ? "" : " disabled").Append("><legend>Sleep time</legend><div class=\"row\">")
          .Append("<label for=\"sleep\">Sleep after</label><select id=\"sleep\" name=\"seconds\">");
        var selected = free ? (long)policy.FreeSleep.TotalSeconds : s.SleepSeconds ?? -1;
        foreach (var c in SleepChoices.Append(selected).Distinct().OrderBy(c => c < 0 ? long.MaxValue : c))
            sb.Append("<option value=\"").Append(c.ToString(CultureInfo.InvariantCulture)).Append('"').Append(c == selected ? " selected" : "").Append('>')
              .Append(c < 0 ? "Never" : Html.E(Html.Duration(c) + " without a visit")).Append("</option>");
        sb.Append("</select><button type=\"submit\" id=\"save-sleep\">Save sleep time</button></div>");
        if (free)
            sb.Append("<p class=\"note\" id=\"sleep-note\">").Append(Html.E(requested?.PrettyName ?? s.RequestedFlavor))
              .Append(" is free hardware: it sleeps after ").Append(Html.E(Html.Duration((long)policy.FreeSleep.TotalSeconds)))
              .Append(" without a visit, and that cannot be changed. Choose paid hardware to set a sleep time or to never sleep.</p>");
        else
            sb.Append("<p class=\"note\" id=\"sleep-note\">A sleeping Space is not billed; the next visitor wakes it.</p>");
        sb.Append("</fieldset></form>");

        // Pause and restart: the owner's only (hidden for others; the server refuses them anyway).
        if (owner)
        {
            sb.Append("<div class=\"actions\"><form method=\"post\" action=\"").Append(basePath).Append("/pause\" id=\"pause-form\" data-confirm=\"Pause ")
              .Append(Html.Attr(s.Id)).Append("? It stops, billing stops, and it stays paused until you restart it.\">").Append(PageForms.Csrf(csrf))
              .Append("<button type=\"submit\" class=\"danger\" id=\"pause\"").Append(s.Paused ? " disabled title=\"already paused\"" : "").Append(">Pause</button></form>")
              .Append("<form method=\"post\" action=\"").Append(basePath).Append("/restart\" id=\"restart-form\">").Append(PageForms.Csrf(csrf))
              .Append("<label class=\"check\"><input type=\"checkbox\" name=\"factory\" id=\"factory\"> factory reboot</label>")
              .Append("<button type=\"submit\" id=\"restart\">Restart</button></form></div>");
        }
        sb.Append("</section>");
    }

    private static async Task UsageAsync(StringBuilder sb, HttpContext ctx, CoreService core, SpaceState s, string basePath, CancellationToken ct)
    {
        var (from, to) = Http.Period(ctx.Request, core.NowMs);
        var cat = core.Machine.Catalogue;
        var rows = await core.Store.LedgerAsync(from, to, s.Id, null, ct);
        var days = UsageByDay.Compute(rows, s.Open, core.NowMs, from, to);
        var first = DateOnly.FromDateTime(DateTimeOffset.FromUnixTimeMilliseconds(from).UtcDateTime);
        var dayCount = (int)Math.Clamp((to - from + 86_399_999) / 86_400_000, 1, 93);
        var label = PeriodLabel(from, to);
        var monthValue = DateTimeOffset.FromUnixTimeMilliseconds(from).UtcDateTime.ToString("yyyy-MM", CultureInfo.InvariantCulture);

        sb.Append("<section class=\"card\" id=\"usage\"><div class=\"row spread\"><h2>Usage · ").Append(Html.E(label)).Append("</h2>")
          .Append("<form method=\"get\" action=\"").Append(basePath).Append("\" class=\"period\" id=\"period-form\"><label for=\"period\">Period</label>")
          .Append("<input type=\"month\" id=\"period\" name=\"period\" value=\"").Append(monthValue).Append("\" required>")
          .Append("<button type=\"submit\">Show</button></form></div>");
        var totalMin = days.Sum(d => d.Minutes);
        sb.Append("<h3>Billed minutes per day <span class=\"muted\">(").Append(Html.Inv(totalMin)).Append(" in all)</span></h3>")
          .Append(UsageChart.Render("chart-minutes", $"Billed minutes per day, {label}", "min", days, first, dayCount, d => d.Minutes, v => Html.Inv(v), 60, cat))
          .Append("<h3>Cost per day</h3>")
          .Append(UsageChart.Render("chart-cost", $"Cost per day, {label}", "USD", days, first, dayCount, d => d.CostMicroUsd, v => Html.Usd(v), Money.MicroPerUsd, cat));
        var flavors = days.Select(d => d.Flavor).Distinct().OrderBy(f => f, StringComparer.Ordinal).ToArray();
        if (flavors.Length > 0) sb.Append(UsageChart.Legend(flavors, cat));
        sb.Append("<p class=\"note\">Each day is rounded like its own invoice (minutes rounded up); the invoice below rounds once per period, so it can be a little less than the sum of the bars.</p></section>");

        var inv = await core.InvoiceAsync($"space {s.Id}", from, to, s.Id, null, ct);
        sb.Append("<section class=\"card\" id=\"invoice\"><div class=\"row spread\"><h2>Invoice · ").Append(Html.E(label))
          .Append(inv.Provisional ? " <span class=\"pill pill-busy\">provisional</span>" : "").Append("</h2>")
          .Append("<a class=\"button\" id=\"invoice-csv\" href=\"").Append(basePath).Append("/invoice.csv?").Append(Html.Attr(PeriodQuery(ctx.Request, monthValue)))
          .Append("\" download>Download CSV</a></div>");
        if (inv.Lines.Count == 0) sb.Append("<p class=\"muted\">Nothing billed in this period.</p>");
        else
        {
            sb.Append("<table class=\"invoice\"><thead><tr><th>Flavor</th><th class=\"num\">Price</th><th class=\"num\">Metered</th><th class=\"num\">Minutes</th>")
              .Append("<th class=\"num\">Charged</th><th class=\"num\">Granted</th><th class=\"num\">Owed</th></tr></thead><tbody>");
            foreach (var l in inv.Lines)
                sb.Append("<tr><td><code>").Append(Html.E(l.Flavor)).Append("</code></td><td class=\"num\">").Append(Html.E(Html.PerHour(l.HourlyMicroUsd)))
                  .Append("</td><td class=\"num\">").Append(Html.E(MeteredText(l.MeteredMs))).Append("</td><td class=\"num\">").Append(Html.Inv(l.Minutes))
                  .Append("</td><td class=\"num\">").Append(Html.E(Html.Usd(l.ChargedMicroUsd))).Append("</td><td class=\"num\">").Append(Html.E(Html.Usd(l.GrantedMicroUsd)))
                  .Append("</td><td class=\"num\">").Append(Html.E(Html.Usd(l.OwedMicroUsd))).Append("</td></tr>");
            sb.Append("</tbody><tfoot><tr><th colspan=\"4\">Total</th><td class=\"num\">").Append(Html.E(Html.Usd(inv.ChargedMicroUsd)))
              .Append("</td><td class=\"num\">").Append(Html.E(Html.Usd(inv.GrantedMicroUsd))).Append("</td><td class=\"num\" id=\"invoice-owed\">")
              .Append(Html.E(Html.Usd(inv.OwedMicroUsd))).Append("</td></tr></tfoot></table>");
        }
        sb.Append("<p class=\"note\">Rounding: per flavor, minutes = ceil(metered seconds / 60); amount = minutes × hourly price / 60, rounded up to a micro-dollar.</p></section>");
    }

    /// <summary>The CSV covers exactly the period shown: the request's from/to when given, else the month.</summary>
    private static string PeriodQuery(HttpRequest req, string month) =>
        !string.IsNullOrEmpty(req.Query["from"]) || !string.IsNullOrEmpty(req.Query["to"])
            ? $"from={Uri.EscapeDataString(req.Query["from"].ToString())}&to={Uri.EscapeDataString(req.Query["to"].ToString())}"
            : $"period={month}";

    private static string MeteredText(long ms)
    {
        var t = TimeSpan.FromMilliseconds(ms);
        return t.TotalHours >= 1 ? $"{(long)t.TotalHours} h {t.Minutes:00} min" : $"{t.Minutes} min {t.Seconds:00} s";
    }

    private static bool IsMonth(long from, long to, out DateTime month)
    {
        month = DateTimeOffset.FromUnixTimeMilliseconds(from).UtcDateTime;
        return month.Day == 1 && month.TimeOfDay == TimeSpan.Zero && new DateTimeOffset(month).AddMonths(1).ToUnixTimeMilliseconds() == to;
    }

    public static string PeriodLabel(long from, long to) => IsMonth(from, to, out var m)
        ? m.ToString("MMMM yyyy", CultureInfo.InvariantCulture)
        : $"{Html.Time(from)} – {Html.Time(to)}";

    public static string PeriodSlug(long from, long to) => IsMonth(from, to, out var m)
        ? m.ToString("yyyy-MM", CultureInfo.InvariantCulture)
        : $"{DateTimeOffset.FromUnixTimeMilliseconds(from):yyyyMMddTHHmm}-{DateTimeOffset.FromUnixTimeMilliseconds(to):yyyyMMddTHHmm}";
}
