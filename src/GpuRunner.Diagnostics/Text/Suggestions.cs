namespace GpuRunner.Diagnostics.Text;

/// <summary>"Did you mean": the names a mistyped one most likely meant (flavors, commands, options, check ids).</summary>
public static class Suggestions
{
    /// <summary>
    /// Up to <paramref name="max"/> candidates: those that start with the input first (what was typed is the start of a
    /// name: `a10g` → a10g-small, a10g-large), then those within a small edit distance, each group closest first and
    /// otherwise in the candidates' own order.
    /// </summary>
    public static IReadOnlyList<string> For(string input, IEnumerable<string> candidates, int max = 3)
    {
        var typed = input.Trim().ToLowerInvariant();
        if (typed.Length == 0) return [];
        var limit = Math.Max(2, typed.Length / 3);
        return candidates.Distinct(StringComparer.OrdinalIgnoreCase)
            .Select(c => (Name: c, Prefix: c.StartsWith(typed, StringComparison.OrdinalIgnoreCase), Distance: Distance(c.ToLowerInvariant(), typed)))
            .Where(c => c.Prefix || c.Distance <= limit)
            .OrderBy(c => c.Prefix ? 0 : 1).ThenBy(c => c.Distance) // OrderBy is stable: ties keep the candidates' order
            .Take(max).Select(c => c.Name).ToList();
    }

    /// <summary>" (did you mean a10g-small or a10g-large?)", or "" when nothing is close.</summary>
    public static string Hint(string input, IEnumerable<string> candidates)
    {
        var close = For(input, candidates);
        return close.Count switch
        {
            0 => "",
            1 => $" (did you mean {close[0]}?)",
            _ => $" (did you mean {string.Join(", ", close.Take(close.Count - 1))} or {close[^1]}?)",
        };
    }

    /// <summary>Levenshtein distance: insertions, deletions and substitutions each cost 1.</summary>
    public static int Distance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (var i = 0; i <= a.Length; i++) d[i, 0] = i;
        for (var j = 0; j <= b.Length; j++) d[0, j] = j;
        for (var i = 1; i <= a.Length; i++)
            for (var j = 1; j <= b.Length; j++)
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
        return d[a.Length, b.Length];
    }
}
