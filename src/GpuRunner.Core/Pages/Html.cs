using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using GpuRunner.Lifecycle;

namespace GpuRunner.Core.Pages;

/// <summary>
/// Small helpers for hand-written, server-rendered HTML. Everything that comes from data goes through <see cref="E"/>
/// (HTML-encoded), so a Space name or an error message can never inject markup.
/// </summary>
internal static class Html
{
    public static string E(string? s) => s is null ? "" : HtmlEncoder.Default.Encode(s);

    public static string Attr(string? s) => E(s);

    public static string Url(string s) => UrlEncoder.Default.Encode(s);

    public static string Inv(long v) => v.ToString("N0", CultureInfo.InvariantCulture);

    /// <summary>Dollars for people: at least 2 decimals, more only when the amount has them (e.g. $0.015).</summary>
    public static string Usd(long micro) => Money.Format(micro);

    public static string Time(long ms) =>
        DateTimeOffset.FromUnixTimeMilliseconds(ms).UtcDateTime.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture);

    public static string Duration(long seconds)
    {
        if (seconds < 0) return "never";
        if (seconds % 604800 == 0) return Plural(seconds / 604800, "week");
        if (seconds % 86400 == 0 && seconds > 3 * 86400) return Plural(seconds / 86400, "day"); // "48 hours", as the Hub says
        if (seconds % 3600 == 0) return Plural(seconds / 3600, "hour");
        if (seconds % 60 == 0) return Plural(seconds / 60, "minute");
        return Plural(seconds, "second");
    }

    private static string Plural(long n, string unit) => $"{n} {unit}{(n == 1 ? "" : "s")}";

    /// <summary>The stage as a coloured pill; the class groups stages by what they mean to the owner.</summary>
    public static string StagePill(Stage stage)
    {
        var kind = stage switch
        {
            Stage.Running => "ok",
            Stage.Building or Stage.AppStarting or Stage.RunningBuilding or Stage.RunningAppStarting => "busy",
            Stage.RuntimeError or Stage.BuildError or Stage.ConfigError or Stage.NoAppFile => "bad",
            _ => "idle",
        };
        return $"<span class=\"pill pill-{kind}\" data-stage=\"{stage.ToWire()}\">{E(stage.ToWire().Replace('_', ' '))}</span>";
    }

    /// <summary>The hardware badge, as the Hub shows it: "T4 · 16 GB", "4× L4 · 24 GB", or the CPU tier's name.</summary>
    public static string BadgeText(Flavor? f, string? id) => f switch
    {
        null => id ?? "unknown hardware",
        { Accelerator: { } a } => $"{(a.Quantity > 1 ? $"{a.Quantity}× " : "")}{a.Model} · {a.Vram}",
        _ => f.PrettyName,
    };

    public static string Badge(Flavor? f, string? id, string? extraClass = null) =>
        $"<span class=\"badge{(f?.Accelerator is null ? " badge-cpu" : " badge-gpu")}{(extraClass is null ? "" : " " + extraClass)}\" title=\"{Attr(id)}\">{E(BadgeText(f, id))}</span>";

    public static string PerHour(long hourlyMicro) => hourlyMicro == 0 ? "free" : Usd(hourlyMicro) + "/h";
}

/// <summary>Builds one page: the shared layout around a body.</summary>
internal sealed class PageBuilder(string title, string? user, string? csrf, bool admin = false)
{
    private readonly StringBuilder _body = new();

    public PageBuilder Add(string html) { _body.Append(html); return this; }

    public string Render()
    {
        var sb = new StringBuilder(_body.Length + 2048);
        sb.Append("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">")
          .Append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">")
          .Append("<title>").Append(Html.E(title)).Append(" · GpuRunner</title>")
          .Append("<link rel=\"stylesheet\" href=\"").Append(PageAssets.Url("site.css")).Append("\">")
          .Append("<script defer src=\"").Append(PageAssets.Url("site.js")).Append("\"></script>")
          .Append("</head><body><header class=\"top\"><a class=\"brand\" href=\"/spaces\">GpuRunner</a>");
        if (user is not null)
        {
            sb.Append("<nav><a href=\"/spaces\">Spaces</a> <a href=\"/tokens\">Tokens</a>").Append(admin ? " <a href=\"/admin/fleet\">GPU fleet</a>" : "").Append("</nav><div class=\"who\"><span class=\"user\">")
              .Append(Html.E(user)).Append(admin ? " <small>(admin)</small>" : "").Append("</span>")
              .Append("<form method=\"post\" action=\"/logout\" class=\"inline\">").Append(PageForms.Csrf(csrf))
              .Append("<button class=\"link\" type=\"submit\">Log out</button></form></div>");
        }
        sb.Append("</header><main>").Append(_body).Append("</main>")
          .Append("<footer>GpuRunner core · <a href=\"/metrics\">metrics</a> · <a href=\"/readyz\">readyz</a></footer></body></html>\n");
        return sb.ToString();
    }
}
