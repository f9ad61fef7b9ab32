namespace GpuRunner.Diagnostics.Models;

/// <summary>How far an engine's output lies from the reference, judged with numpy allclose semantics.</summary>
public sealed record OutputComparison(double MaxAbsDiff, double MaxRelDiff, int Mismatches, int Count, Tolerance Tolerance)
{
    public bool Within => Mismatches == 0;

    public static OutputComparison Compare(ReadOnlySpan<float> actual, ReadOnlySpan<float> expected, Tolerance tolerance)
    {
        if (actual.Length != expected.Length)
            return new(double.PositiveInfinity, double.PositiveInfinity, Math.Max(actual.Length, expected.Length), expected.Length, tolerance);
        double maxAbs = 0, maxRel = 0;
        var bad = 0;
        for (var i = 0; i < actual.Length; i++)
        {
            double a = actual[i], e = expected[i];
            var diff = Math.Abs(a - e);
            if (double.IsNaN(diff)) { bad++; maxAbs = maxRel = double.NaN; continue; }
            maxAbs = Math.Max(maxAbs, diff);
            // Relative to the reference, ignoring exact zeros (where only the absolute bound means anything).
            if (e != 0) maxRel = Math.Max(maxRel, diff / Math.Abs(e));
            if (diff > tolerance.Abs + tolerance.Rel * Math.Abs(e)) bad++;
        }
        return new(maxAbs, maxRel, bad, actual.Length, tolerance);
    }

    public override string ToString() =>
        $"max abs diff {MaxAbsDiff:0.###e+0}, max rel diff {MaxRelDiff:0.###e+0} " +
        (Within ? $"(within abs {Tolerance.Abs:g} + rel {Tolerance.Rel:g})" : $"({Mismatches}/{Count} beyond abs {Tolerance.Abs:g} + rel {Tolerance.Rel:g})");
}
