using System.Globalization;
using System.Text;
using GpuRunner.Core.Storage;
using GpuRunner.Lifecycle;

namespace GpuRunner.Core.Pages;

/// <summary>Metered time of one billed flavor on one UTC day, with that day's minutes and cost.</summary>
internal sealed record DayUsage(DateOnly Day, string Flavor, long MeteredMs, long Minutes, long CostMicroUsd);

/// <summary>
/// Per-day usage of one Space, from its ledger rows (compensations netted) and its open interval up to now. Each
/// day is rounded with the same rule as an invoice (<see cref="Money"/>) as if it were its own period, so the bars
/// can add up to slightly more than the invoice, which rounds once per period — the chart says so.
/// </summary>
internal static class UsageByDay
{
    private const long DayMs = 86_400_000;

    public static IReadOnlyList<DayUsage> Compute(IEnumerable<LedgerRow> rows, OpenInterval? open, long nowMs, long fromMs, long toMs)
    {
        var ms = new Dictionary<(long Day, string Flavor, long Hourly), long>();
        void Add(long start, long end, string flavor, long hourly, int sign)
        {
            var s = Math.Max(start, fromMs);
            var e = Math.Min(end, toMs);
            for (var day = s - Mod(s, DayMs); day < e; day += DayMs)
            {
                var part = Math.Min(e, day + DayMs) - Math.Max(s, day);
                if (part <= 0) continue;
                var key = (day, flavor, hourly);
                ms[key] = ms.GetValueOrDefault(key) + sign * part;
            }
        }
        foreach (var r in rows) Add(r.Interval.StartMs, r.Interval.EndMs, r.Interval.BilledFlavor, r.Interval.HourlyMicroUsd, r.Sign);
        if (open is not null && nowMs > open.StartMs) Add(open.StartMs, nowMs, open.BilledFlavor, open.HourlyMicroUsd, +1);

        return ms.Where(p => p.Value > 0)
            .GroupBy(p => (p.Key.Day, p.Key.Flavor))
            .Select(g =>
            {
                var minutes = g.Sum(p => Money.BilledMinutes(p.Value));
                var cost = g.Sum(p => Money.Amount(Money.BilledMinutes(p.Value), p.Key.Hourly));
                return new DayUsage(DateOnly.FromDateTime(DateTimeOffset.FromUnixTimeMilliseconds(g.Key.Day).UtcDateTime),
                    g.Key.Flavor, g.Sum(p => p.Value), minutes, cost);
            })
            .OrderBy(d => d.Day).ThenBy(d => d.Flavor, StringComparer.Ordinal)
            .ToArray();
    }

    private static long Mod(long a, long m) => ((a % m) + m) % m;
}

/// <summary>
/// Stacked bar charts (one bar per day, one colour per flavor) as inline SVG rendered on the server: no script and
/// no chart library needed, and it prints. Colours are SVG presentation attributes, allowed by the page's CSP.
/// </summary>
internal static class UsageChart
{
    // Colour-blind-friendly palette (Okabe–Ito), by the flavor's position in the catalogue.
    private static readonly string[] Palette = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000", "#999999"];

    public static string Colour(HardwareCatalogue catalogue, string flavor)
    {
        var i = catalogue.Flavors.Select(f => f.Id).ToList().IndexOf(flavor);
        return i < 0 ? "#777777" : Palette[i % Palette.Length];
    }

    /// <param name="emptyTop">The y scale of an empty chart (e.g. 60 minutes), so its axis reads sensibly.</param>
    public static string Render(string id, string title, string unit, IReadOnlyList<DayUsage> usage, DateOnly first, int days,
        Func<DayUsage, long> value, Func<long, string> label, long emptyTop, HardwareCatalogue catalogue)
    {
        const int W = 1000, H = 200, Left = 70, Right = 12, Top = 26, Bottom = 34;
        var plotW = W - Left - Right;
        var plotH = H - Top - Bottom;
        var byDay = usage.GroupBy(u => u.Day).ToDictionary(g => g.Key, g => g.ToArray());
        var max = byDay.Count == 0 ? 0 : byDay.Values.Max(v => v.Sum(value));
        var basis = max == 0 ? emptyTop : max;
        var step = NiceStep(basis);
        var top = Math.Max(step, (basis + step - 1) / step * step);
        var slot = (double)plotW / Math.Max(days, 1);
        var barW = Math.Max(2, slot * 0.72);
        var inv = CultureInfo.InvariantCulture;

        var sb = new StringBuilder();
        sb.Append(inv, $"<svg id=\"{id}\" class=\"usage-chart\" viewBox=\"0 0 {W} {H}\" role=\"img\" aria-labelledby=\"{id}-t\" preserveAspectRatio=\"xMinYMin meet\">");
        sb.Append(inv, $"<title id=\"{id}-t\">{Html.E(title)}</title>");
        // Grid lines and y labels.
        for (long v = 0; v <= top; v += step)
        {
            var y = Top + plotH - (double)v / top * plotH;
            sb.Append(inv, $"<line x1=\"{Left}\" x2=\"{W - Right}\" y1=\"{y:0.#}\" y2=\"{y:0.#}\" stroke=\"#e3e6ea\" stroke-width=\"1\"/>");
            sb.Append(inv, $"<text x=\"{Left - 6}\" y=\"{y + 4:0.#}\" text-anchor=\"end\" class=\"axis\">{Html.E(label(v))}</text>");
        }
        sb.Append(inv, $"<text x=\"{Left - 6}\" y=\"11\" text-anchor=\"end\" class=\"axis unit\">{Html.E(unit)}</text>");
        for (var d = 0; d < days; d++)
        {
            var day = first.AddDays(d);
            var x = Left + d * slot + (slot - barW) / 2;
            if (d == 0 || (d + 1) % 5 == 0 || d == days - 1)
                sb.Append(inv, $"<text x=\"{x + barW / 2:0.#}\" y=\"{H - Bottom + 16}\" text-anchor=\"middle\" class=\"axis\">{day.Day}</text>");
            if (!byDay.TryGetValue(day, out var parts)) continue;
            double y = Top + plotH;
            foreach (var p in parts)
            {
                var v = value(p);
                if (v <= 0) continue;
                var h = (double)v / top * plotH;
                y -= h;
                sb.Append(inv, $"<rect class=\"bar\" data-day=\"{day:yyyy-MM-dd}\" data-flavor=\"{Html.Attr(p.Flavor)}\" x=\"{x:0.##}\" y=\"{y:0.##}\" width=\"{barW:0.##}\" height=\"{Math.Max(h, 0.5):0.##}\" fill=\"{Colour(catalogue, p.Flavor)}\">")
                  .Append(inv, $"<title>{day:yyyy-MM-dd} · {Html.E(p.Flavor)}: {p.Minutes} min, {Html.E(Html.Usd(p.CostMicroUsd))}</title></rect>");
            }
        }
        sb.Append(inv, $"<line x1=\"{Left}\" x2=\"{W - Right}\" y1=\"{Top + plotH}\" y2=\"{Top + plotH}\" stroke=\"#8a929b\" stroke-width=\"1\"/>");
        sb.Append(inv, $"<text x=\"{Left + plotW / 2}\" y=\"{H - 4}\" text-anchor=\"middle\" class=\"axis\">day of {first:MMMM yyyy} (UTC)</text>");
        if (max == 0)
        {
            // A backing plate keeps the message readable over the grid lines.
            sb.Append(inv, $"<rect x=\"{Left + plotW / 2 - 130}\" y=\"{Top + plotH / 2 - 16}\" width=\"260\" height=\"24\" fill=\"#ffffff\"/>");
            sb.Append(inv, $"<text x=\"{Left + plotW / 2}\" y=\"{Top + plotH / 2}\" text-anchor=\"middle\" class=\"empty\">no billed usage in this period</text>");
        }
        sb.Append("</svg>");
        return sb.ToString();
    }

    /// <summary>A step of 1, 2 or 5 × 10^k giving about 4 grid lines.</summary>
    private static long NiceStep(long max)
    {
        if (max <= 4) return 1;
        var raw = max / 4.0;
        var pow = Math.Pow(10, Math.Floor(Math.Log10(raw)));
        var n = raw / pow;
        var m = n <= 1 ? 1 : n <= 2 ? 2 : n <= 5 ? 5 : 10;
        return Math.Max(1, (long)(m * pow));
    }

    public static string Legend(IEnumerable<string> flavors, HardwareCatalogue catalogue)
    {
        var sb = new StringBuilder("<ul class=\"legend\">");
        foreach (var f in flavors)
            sb.Append("<li><svg width=\"12\" height=\"12\" aria-hidden=\"true\"><rect width=\"12\" height=\"12\" rx=\"2\" fill=\"")
              .Append(Colour(catalogue, f)).Append("\"/></svg>").Append(Html.E(f)).Append("</li>");
        return sb.Append("</ul>").ToString();
    }
}
