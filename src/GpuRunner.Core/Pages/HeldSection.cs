using System.Text;
using GpuRunner.Core.Services;
using GpuRunner.Lifecycle;

namespace GpuRunner.Core.Pages;

/// <summary>
/// The Space page's "Held events" card (owner and admins): runner events the core holds because they do not fit the
/// Space's history yet, and the dead letters it gave up on after the hold bound, each with the reason. Shown only
/// when there is something to show.
/// </summary>
internal static class HeldSection
{
    public static async Task RenderAsync(StringBuilder sb, CoreService core, Principal p, SpaceState s, CancellationToken ct)
    {
        if (s.HeldCount == 0 && s.DeadLetterCount == 0) return;
        var (held, dead) = await core.HeldAsync(p, s.Id, ct);
        sb.Append("<section class=\"card\" id=\"held\"><h2>Held events</h2><p class=\"note\">Events from the runner that do not fit this Space's history are held for ")
          .Append(Html.E($"{core.Machine.Policy.HoldWindow.TotalMinutes:0.#}")).Append(" min, then listed here as dead letters; they are never applied.</p>");
        Table(sb, "held-events", "Held", held.Select(h => (h.Event, h.Why)));
        Table(sb, "dead-letters", "Dead letters", dead.Select(e => (e, e.Detail ?? "")));
        sb.Append("</section>");
    }

    private static void Table(StringBuilder sb, string id, string title, IEnumerable<(Storage.StoredEvent Event, string Why)> rows)
    {
        var list = rows.ToList();
        if (list.Count == 0) return;
        sb.Append("<h3>").Append(Html.E(title)).Append(" (").Append(list.Count).Append(")</h3><table id=\"").Append(id)
          .Append("\"><thead><tr><th>Event</th><th>Run</th><th>At</th><th>Received</th><th>Why</th></tr></thead><tbody>");
        foreach (var (e, why) in list)
            sb.Append("<tr><td><code>").Append(Html.E(e.Kind.StartsWith("dead:", StringComparison.Ordinal) ? e.Kind[5..] : e.Kind)).Append("</code></td><td><code>")
              .Append(Html.E(e.Source.StartsWith("run:", StringComparison.Ordinal) ? e.Source[4..] : e.Source)).Append("</code></td><td>")
              .Append(Html.E(Html.Time(e.AtMs))).Append("</td><td>").Append(Html.E(Html.Time(e.ReceivedMs))).Append("</td><td>")
              .Append(Html.E(why)).Append("</td></tr>");
        sb.Append("</tbody></table>");
    }
}
