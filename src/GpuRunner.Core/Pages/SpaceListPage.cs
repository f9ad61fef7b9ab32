using System.Text;
using GpuRunner.Core.Services;
using GpuRunner.Lifecycle;

namespace GpuRunner.Core.Pages;

/// <summary>The Spaces list: the user's Spaces (an admin sees all) with stage, badge, requested vs current hardware
/// and what each owes so far this month.</summary>
internal static class SpaceListPage
{
    public static async Task<string> RenderAsync(CoreService core, PageUser u, CancellationToken ct)
    {
        var admin = u.Principal.IsAdmin;
        var owner = admin ? null : u.Name;
        var spaces = await core.Store.ListSpacesAsync(owner, ct);
        var now = DateTimeOffset.FromUnixTimeMilliseconds(core.NowMs);
        var month = new DateTimeOffset(now.Year, now.Month, 1, 0, 0, 0, TimeSpan.Zero);
        // One invoice over all the listed Spaces: the same numbers as the usage routes, including the open interval.
        var inv = await core.InvoiceAsync(admin ? "all" : $"owner {owner}", month.ToUnixTimeMilliseconds(), month.AddMonths(1).ToUnixTimeMilliseconds(),
            null, owner, ct);
        var owed = inv.Lines.GroupBy(l => l.SpaceId).ToDictionary(g => g.Key, g => (Owed: g.Sum(l => l.OwedMicroUsd), Charged: g.Sum(l => l.ChargedMicroUsd)));
        var cat = core.Machine.Catalogue;

        var sb = new StringBuilder();
        sb.Append("<h1>").Append(admin ? "All Spaces" : "Your Spaces").Append("</h1>");
        if (spaces.Count == 0)
        {
            sb.Append("<section class=\"card empty\"><p>No Spaces yet. Create one with ")
              .Append("<code>gpurunner spaces create ").Append(Html.E(u.Name)).Append("/my-app --hardware t4-small</code>.</p></section>");
            return new PageBuilder("Spaces", u.Name, u.Session.Csrf, admin).Add(sb.ToString()).Render();
        }
        sb.Append("<section class=\"card\"><table class=\"spaces\" id=\"spaces\"><thead><tr><th>Space</th>");
        if (admin) sb.Append("<th>Owner</th>");
        sb.Append("<th>Stage</th><th>Hardware</th><th>Requested → current</th><th class=\"num\">Cost in ")
          .Append(month.ToString("MMMM", System.Globalization.CultureInfo.InvariantCulture)).Append("</th></tr></thead><tbody>");
        foreach (var s in spaces)
        {
            var current = cat.Find(s.CurrentFlavor);
            var requested = cat.Find(s.RequestedFlavor);
            var switching = s.CurrentFlavor is not null && s.CurrentFlavor != s.RequestedFlavor;
            var cost = owed.GetValueOrDefault(s.Id);
            sb.Append("<tr data-space=\"").Append(Html.Attr(s.Id)).Append("\"><td><a href=\"/spaces/").Append(Html.Attr(s.Id)).Append("\">")
              .Append(Html.E(s.Id)).Append("</a></td>");
            if (admin) sb.Append("<td>").Append(Html.E(s.Owner)).Append("</td>");
            sb.Append("<td>").Append(Html.StagePill(s.Stage)).Append("</td><td>")
              .Append(Html.Badge(current ?? requested, s.CurrentFlavor ?? s.RequestedFlavor)).Append("</td><td class=\"hw-state\">")
              .Append("<code>").Append(Html.E(s.RequestedFlavor)).Append("</code> → ")
              .Append(s.CurrentFlavor is null ? "<span class=\"muted\">not run yet</span>" : $"<code>{Html.E(s.CurrentFlavor)}</code>")
              .Append(switching ? " <span class=\"pill pill-busy\">switching</span>" : "")
              .Append("</td><td class=\"num cost\" title=\"charged ").Append(Html.Attr(Html.Usd(cost.Charged))).Append(", owed after grants ")
              .Append(Html.Attr(Html.Usd(cost.Owed))).Append("\">").Append(Html.E(Html.Usd(cost.Owed))).Append("</td></tr>");
        }
        sb.Append("</tbody></table>");
        sb.Append("<p class=\"note\">Cost so far this month (UTC), after grants, including the time the running Spaces have run until now")
          .Append(inv.Provisional ? " (provisional)" : "").Append(".</p></section>");
        return new PageBuilder("Spaces", u.Name, u.Session.Csrf, admin).Add(sb.ToString()).Render();
    }
}
