namespace GpuRunner.Lifecycle;

/// <summary>A community grant: pays for one flavor of one Space between two instants.</summary>
public sealed record Grant(string SpaceId, string Flavor, long FromMs, long ToMs, string? Note = null);

/// <summary>Metered time of one Space on one (billed flavor, price) inside a period, and how much a grant covers.</summary>
public sealed record UsageTotal(string SpaceId, string Owner, string BilledFlavor, long HourlyMicroUsd, long MeteredMs, long GrantedMs);

public sealed record InvoiceLine(string SpaceId, string Owner, string Flavor, long HourlyMicroUsd, long MeteredMs,
    long Minutes, long ChargedMicroUsd, long GrantedMicroUsd, long OwedMicroUsd);

public sealed record Invoice(string Scope, long FromMs, long ToMs, IReadOnlyList<InvoiceLine> Lines,
    long ChargedMicroUsd, long GrantedMicroUsd, long OwedMicroUsd, bool Provisional);

/// <summary>Period arithmetic and the rounding rule (see <see cref="Money"/>), shared by every invoice and usage route.</summary>
public static class Invoicing
{
    public static long Overlap(long start, long end, long from, long to) => Math.Max(0, Math.Min(end, to) - Math.Max(start, from));

    /// <summary>How much of [start, end) inside [from, to) is covered by grants of <paramref name="flavor"/>.</summary>
    public static long GrantedMs(string spaceId, string flavor, long start, long end, long from, long to, IEnumerable<Grant> grants)
    {
        var s = Math.Max(start, from);
        var e = Math.Min(end, to);
        if (e <= s) return 0;
        // Merge overlapping grant windows so a double grant never covers the same minute twice.
        var windows = grants.Where(g => g.SpaceId == spaceId && g.Flavor == flavor && g.ToMs > s && g.FromMs < e)
            .Select(g => (From: Math.Max(g.FromMs, s), To: Math.Min(g.ToMs, e))).OrderBy(w => w.From);
        long covered = 0, curFrom = 0, curTo = 0;
        var any = false;
        foreach (var w in windows)
        {
            if (!any) { (curFrom, curTo, any) = (w.From, w.To, true); continue; }
            if (w.From <= curTo) { curTo = Math.Max(curTo, w.To); continue; }
            covered += curTo - curFrom;
            (curFrom, curTo) = (w.From, w.To);
        }
        if (any) covered += curTo - curFrom;
        return covered;
    }

    /// <summary>Rounds per (Space, flavor, price) line; totals are sums of the rounded lines.</summary>
    public static Invoice Build(string scope, long fromMs, long toMs, IEnumerable<UsageTotal> totals, bool provisional)
    {
        var lines = totals
            .GroupBy(t => (t.SpaceId, t.Owner, t.BilledFlavor, t.HourlyMicroUsd))
            .Select(g =>
            {
                var metered = Math.Max(0, g.Sum(t => t.MeteredMs));
                var granted = Math.Clamp(g.Sum(t => t.GrantedMs), 0, metered);
                var minutes = Money.BilledMinutes(metered);
                var charged = Money.Amount(minutes, g.Key.HourlyMicroUsd);
                var owed = Money.Amount(Money.BilledMinutes(metered - granted), g.Key.HourlyMicroUsd);
                return new InvoiceLine(g.Key.SpaceId, g.Key.Owner, g.Key.BilledFlavor, g.Key.HourlyMicroUsd, metered, minutes,
                    charged, charged - owed, owed);
            })
            .Where(l => l.MeteredMs > 0)
            .OrderBy(l => l.SpaceId, StringComparer.Ordinal).ThenBy(l => l.Flavor, StringComparer.Ordinal).ThenBy(l => l.HourlyMicroUsd)
            .ToArray();
        return new Invoice(scope, fromMs, toMs, lines, lines.Sum(l => l.ChargedMicroUsd), lines.Sum(l => l.GrantedMicroUsd),
            lines.Sum(l => l.OwedMicroUsd), provisional);
    }
}
