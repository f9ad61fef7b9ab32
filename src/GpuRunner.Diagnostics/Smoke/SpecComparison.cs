namespace GpuRunner.Diagnostics.Smoke;

/// <summary>
/// A measured value as a share of a reference figure: PASS at or above <paramref name="PassFraction"/>, WARN at or
/// above <paramref name="WarnFraction"/>, FAIL below. The fractions sit under what good tools reach on healthy cards
/// (public reports; README "Smoke test"), so a PASS is not luck and a FAIL is not noise.
/// </summary>
public sealed record Thresholds(double PassFraction, double WarnFraction)
{
    /// <summary>Device-to-device copy / copy kernel (read + write counted) against datasheet bandwidth. Good tools
    /// reach 75-90 % (H200 here: 4276 of 4800 GB/s = 89 %).</summary>
    public static readonly Thresholds MemoryBandwidth = new(0.70, 0.50);
    /// <summary>bf16/fp16 GEMM through cuBLAS against the dense tensor spec. Good tools reach 80-87 %.</summary>
    public static readonly Thresholds TensorGemm = new(0.60, 0.40);
    /// <summary>Our fallback FMA kernel against the card's fp32 spec: a tiled kernel without tensor cores reaches
    /// a fraction of it, so this only catches a card that is far off.</summary>
    public static readonly Thresholds FallbackGemm = new(0.05, 0.02);
    /// <summary>Pinned host-device copies against the low end of the practical figure for the PCIe generation.</summary>
    public static readonly Thresholds PinnedTransfer = new(0.80, 0.50);
    /// <summary>Peer-to-peer copies against the practical PCIe figure (NVLink pairs exceed it by far).</summary>
    public static readonly Thresholds PeerTransfer = new(0.50, 0.25);

    public SmokeStatus Classify(double fraction) =>
        double.IsNaN(fraction) ? SmokeStatus.Fail
        : fraction >= PassFraction ? SmokeStatus.Pass
        : fraction >= WarnFraction ? SmokeStatus.Warn
        : SmokeStatus.Fail;
}

public readonly record struct SpecComparison(double Measured, double Reference, double PercentOfReference, SmokeStatus Status)
{
    public static SpecComparison Compare(double measured, double reference, Thresholds thresholds)
    {
        if (!(reference > 0)) throw new ArgumentOutOfRangeException(nameof(reference), reference, "reference must be > 0");
        if (double.IsNaN(measured) || measured < 0)
            return new(measured, reference, double.NaN, SmokeStatus.Fail);
        var fraction = measured / reference;
        return new(measured, reference, Math.Round(fraction * 100, 1), thresholds.Classify(fraction));
    }

    /// <summary>"4276 GB/s, 89.1 % of 4800 GB/s spec".</summary>
    public string Describe(string unit, string referenceName) =>
        $"{SmokeFormat.Number(Measured)} {unit}, {PercentOfReference:0.#} % of {SmokeFormat.Number(Reference)} {unit} {referenceName}";
}

/// <summary>What pinned host-to-device copies practically reach per PCIe generation at x16 (public reports; the
/// theoretical rate is about 1, 2, 4, 8, 16 and 32 GB/s per lane-group of 8 lanes, less protocol overhead).</summary>
public static class PcieFigures
{
    /// <summary>(low, high) GB/s pinned at x16 for generations 1..6.</summary>
    private static readonly (double Low, double High)[] X16 =
    [
        (2.5, 3.2),   // Gen1: 4 GB/s raw
        (5.0, 6.4),   // Gen2: 8 GB/s raw
        (10, 12),     // Gen3: 15.8 GB/s raw
        (20, 25),     // Gen4: 31.5 GB/s raw
        (40, 55),     // Gen5: 63 GB/s raw (H200 here: 51-55 GB/s)
        (80, 110),    // Gen6: 121 GB/s raw (extrapolated; no card in the catalogue yet)
    ];

    public const string Source = "practical pinned figure for PCIe Gen{0} x{1} (public reports: Gen3 10-12, Gen4 20-25, Gen5 40-55 GB/s at x16)";

    /// <summary>Practical pinned figure for a link; width scales it linearly. Null for an unknown generation.</summary>
    public static (double Low, double High)? Practical(int gen, int width = 16)
    {
        if (gen < 1 || gen > X16.Length || width < 1) return null;
        var (low, high) = X16[gen - 1];
        var scale = Math.Min(width, 16) / 16.0;
        return (low * scale, high * scale);
    }
}

public static class SmokeFormat
{
    /// <summary>Three significant figures for humans: 4276, 53.1, 0.412.</summary>
    public static string Number(double v) =>
        double.IsNaN(v) ? "NaN"
        : Math.Abs(v) >= 100 ? v.ToString("0", System.Globalization.CultureInfo.InvariantCulture)
        : Math.Abs(v) >= 10 ? v.ToString("0.0", System.Globalization.CultureInfo.InvariantCulture)
        : v.ToString("0.###", System.Globalization.CultureInfo.InvariantCulture);

    public static string Bytes(double bytes) =>
        bytes >= 1L << 30 ? $"{Number(bytes / (1L << 30))} GiB"
        : bytes >= 1L << 20 ? $"{Number(bytes / (1L << 20))} MiB"
        : bytes >= 1L << 10 ? $"{Number(bytes / (1L << 10))} KiB"
        : $"{bytes:0} B";
}
