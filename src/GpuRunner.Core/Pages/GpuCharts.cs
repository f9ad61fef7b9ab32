using System.Globalization;
using System.Text;
using System.Text.Json;
using GpuRunner.Core.Api;
using GpuRunner.Core.Services;
using GpuRunner.Core.Storage;
using GpuRunner.Lifecycle;

namespace GpuRunner.Core.Pages;

/// <summary>
/// The Space page's GPU section: the platform-fault notice, and per GPU four line charts of the latest run
/// (utilisation, memory used, power, temperature) from the stored heartbeats, with the stage changes (grey) and GPU
/// events (red: fatal; amber: others) marked on the time axis. Server-rendered SVG like the usage chart: no script.
/// </summary>
internal static class GpuCharts
{
    /// <summary>Points per line at most: longer runs are averaged into this many buckets.</summary>
    public const int MaxPoints = 360;
    /// <summary>The window when the Space has no run: the last hours before now.</summary>
    private static readonly TimeSpan DefaultWindow = TimeSpan.FromHours(6);

    private static readonly (string Id, string Title, string Unit, string Field, string Colour, double MinTop)[] Series =
    [
        ("util", "utilisation", "%", "utilizationPct", "#0072B2", 100),
        ("mem", "memory used", "MiB", "memoryUsedMiB", "#009E73", 1024),
        ("power", "power", "W", "powerW", "#D55E00", 50),
        ("temp", "temperature", "°C", "temperatureC", "#CC79A7", 50),
    ];

    private sealed record Marker(long AtMs, string Label, string Colour, string Id);

    public static async Task RenderAsync(StringBuilder sb, CoreService core, SpaceState s, CancellationToken ct)
    {
        var now = core.NowMs;
        var from = s.RunStartedAtMs ?? now - (long)DefaultWindow.TotalMilliseconds;
        var events = (await core.Store.EventsAsync(s.Id, ct)).Where(e => e.AtMs >= from).ToList();
        var beats = new SortedDictionary<int, List<(long At, JsonElement Gpu)>>();
        var markers = new List<Marker>();
        var docs = new List<JsonDocument>();
        try
        {
            foreach (var e in events)
            {
                if (e.Kind == "heartbeat" && e.Payload is not null)
                {
                    var doc = JsonDocument.Parse(e.Payload);
                    docs.Add(doc);
                    if (doc.RootElement.ValueKind != JsonValueKind.Array) continue;
                    foreach (var g in doc.RootElement.EnumerateArray())
                        if (g.ValueKind == JsonValueKind.Object && GpuEvents.Reading(g, "index") is { } i && i is >= 0 and <= GpuEvents.MaxGpu)
                        {
                            if (!beats.TryGetValue((int)i, out var list)) beats[(int)i] = list = [];
                            list.Add((e.AtMs, g));
                        }
                }
                else if (e.StateChange && e.Kind.StartsWith("stage:", StringComparison.Ordinal))
                    markers.Add(new Marker(e.AtMs, e.Kind[6..], "#8a929b", "stage"));
                else if (e.StateChange && e.Kind.StartsWith("gpu:", StringComparison.Ordinal) && e.Payload is not null
                         && CoreJson.ReadEvent(e.Payload) is GpuReported g)
                    markers.Add(new Marker(e.AtMs, $"GPU {g.Note.Gpu}: {g.Note.Message}", g.Note.Fatal ? "#C62828" : "#E69F00", "gpu-event"));
            }

            sb.Append("<section class=\"card\" id=\"gpu\"><h2>GPU</h2>");
            if (s.PlatformFault is { } f)
                sb.Append("<div class=\"warning\" id=\"gpu-fault\" role=\"alert\"><strong>The platform's fault, not the app's.</strong> ")
                  .Append(Html.E(f.Message)).Append(". Billing closed at ").Append(Html.E(Html.Time(f.AtMs)))
                  .Append("; the Space is not paused: it waits for a restart on healthy hardware.</div>");
            if (s.LastGpuEvent is { } last)
                sb.Append("<p id=\"gpu-last-event\" class=\"muted\">Last GPU event: GPU ").Append(last.Gpu < 0 ? "?" : last.Gpu.ToString(CultureInfo.InvariantCulture))
                  .Append(" · ").Append(Html.E(last.Class)).Append(" · ").Append(Html.E(last.Message)).Append("</p>");
            if (beats.Count == 0)
            {
                sb.Append("<p class=\"muted\">No GPU readings for this run yet: the runner sends them with every heartbeat.</p></section>");
                return;
            }
            var end = Math.Max(now, from + 60_000);
            foreach (var (gpu, list) in beats)
            {
                sb.Append("<h3>GPU ").Append(gpu).Append("</h3><div class=\"gpu-charts\">");
                foreach (var (id, title, unit, field, colour, minTop) in Series)
                {
                    var points = list.Select(p => (p.At, V: GpuEvents.Reading(p.Gpu, field))).Where(p => p.V is not null)
                        .Select(p => (p.At, V: p.V!.Value)).ToList();
                    sb.Append(Render($"gpu{gpu}-{id}", $"GPU {gpu} {title} ({unit})", unit, Downsample(points, from, end), from, end, colour, minTop, markers));
                }
                sb.Append("</div>");
            }
            sb.Append("<p class=\"note\">From the runner's heartbeats since the run started (times UTC). Grey lines: stage changes; red: a fatal GPU event; amber: other GPU events.</p></section>");
        }
        finally
        {
            foreach (var d in docs) d.Dispose();
        }
    }

    /// <summary>Averages the points into at most <see cref="MaxPoints"/> equal time buckets.</summary>
    internal static IReadOnlyList<(long At, double V)> Downsample(IReadOnlyList<(long At, double V)> points, long from, long to)
    {
        if (points.Count <= MaxPoints) return points;
        var width = Math.Max(1, (to - from) / MaxPoints + 1);
        return points.GroupBy(p => (p.At - from) / width).OrderBy(g => g.Key)
            .Select(g => ((long)g.Average(p => p.At), g.Average(p => p.V))).ToList();
    }

    private static string Render(string id, string title, string unit, IReadOnlyList<(long At, double V)> points, long from, long to,
        string colour, double minTop, List<Marker> markers)
    {
        const int W = 1000, H = 150, Left = 70, Right = 12, Top = 22, Bottom = 26;
        var inv = CultureInfo.InvariantCulture;
        var plotW = W - Left - Right;
        var plotH = H - Top - Bottom;
        var max = points.Count == 0 ? 0 : points.Max(p => p.V);
        var top = unit == "%" ? 100 : NiceTop(Math.Max(max, minTop));
        double X(long at) => Left + (double)(at - from) / Math.Max(1, to - from) * plotW;
        double Y(double v) => Top + plotH - Math.Clamp(v / top, 0, 1) * plotH;

        var sb = new StringBuilder();
        sb.Append(inv, $"<svg id=\"{id}\" class=\"gpu-chart\" viewBox=\"0 0 {W} {H}\" role=\"img\" aria-labelledby=\"{id}-t\" preserveAspectRatio=\"xMinYMin meet\">");
        sb.Append(inv, $"<title id=\"{id}-t\">{Html.E(title)}</title>");
        for (var k = 0; k <= 4; k++)
        {
            var v = top * k / 4;
            sb.Append(inv, $"<line x1=\"{Left}\" x2=\"{W - Right}\" y1=\"{Y(v):0.#}\" y2=\"{Y(v):0.#}\" stroke=\"#e3e6ea\" stroke-width=\"1\"/>");
            sb.Append(inv, $"<text x=\"{Left - 6}\" y=\"{Y(v) + 4:0.#}\" text-anchor=\"end\" class=\"axis\">{v.ToString("0.#", inv)}</text>");
        }
        sb.Append(inv, $"<text x=\"{Left - 6}\" y=\"11\" text-anchor=\"end\" class=\"axis unit\">{Html.E(unit)}</text>");
        sb.Append(inv, $"<text x=\"{Left + 4}\" y=\"14\" class=\"axis\">{Html.E(title)}</text>");
        foreach (var m in markers.Where(m => m.AtMs >= from && m.AtMs <= to))
            sb.Append(inv, $"<line class=\"marker {m.Id}\" x1=\"{X(m.AtMs):0.#}\" x2=\"{X(m.AtMs):0.#}\" y1=\"{Top}\" y2=\"{Top + plotH}\" stroke=\"{m.Colour}\" stroke-width=\"2\" stroke-dasharray=\"4 3\"><title>{Html.E(Html.Time(m.AtMs))} · {Html.E(m.Label)}</title></line>");
        if (points.Count > 0)
        {
            sb.Append(inv, $"<polyline class=\"series\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" points=\"");
            foreach (var (at, v) in points) sb.Append(inv, $"{X(at):0.#},{Y(v):0.#} ");
            sb.Append("\"/>");
        }
        else sb.Append(inv, $"<text x=\"{Left + plotW / 2}\" y=\"{Top + plotH / 2}\" text-anchor=\"middle\" class=\"empty\">n/a on this GPU</text>");
        sb.Append(inv, $"<line x1=\"{Left}\" x2=\"{W - Right}\" y1=\"{Top + plotH}\" y2=\"{Top + plotH}\" stroke=\"#8a929b\" stroke-width=\"1\"/>");
        sb.Append(inv, $"<text x=\"{Left}\" y=\"{H - 6}\" class=\"axis\">{Html.E(Html.Time(from))}</text>");
        sb.Append(inv, $"<text x=\"{W - Right}\" y=\"{H - 6}\" text-anchor=\"end\" class=\"axis\">{Html.E(Html.Time(to))}</text>");
        sb.Append("</svg>");
        return sb.ToString();
    }

    /// <summary>1, 2 or 5 × 10^k at or above <paramref name="max"/>.</summary>
    private static double NiceTop(double max)
    {
        var pow = Math.Pow(10, Math.Floor(Math.Log10(max)));
        var n = max / pow;
        return (n <= 1 ? 1 : n <= 2 ? 2 : n <= 5 ? 5 : 10) * pow;
    }
}
