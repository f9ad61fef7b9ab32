namespace GpuRunner.Diagnostics.Catalogue;

/// <summary>One hardware flavor (requirements/tiers.json). A null figure is unknown and is not compared.</summary>
public sealed record Flavor
{
    public string Id { get; init; } = "";
    public string? Name { get; init; }
    /// <summary>Part of the default catalogue (the source document's seven tiers). Missing means true (user files).</summary>
    public bool? Default { get; init; }
    public FlavorGpu? Gpu { get; init; }
    public int? Vcpu { get; init; }
    public int? RamGB { get; init; }
    public int? DiskGB { get; init; }
    /// <summary>Integer micro-USD per hour (1 USD = 1 000 000); null when not known.</summary>
    public long? PriceMicroUsdPerHour { get; init; }
    public string? Source { get; init; }

    public bool IsDefault => Default ?? true;

    /// <summary>Per-minute price in micro-USD, rounded half up (4.13 $/h is 68 833.33 µ$/min → 68 833).</summary>
    public long? PriceMicroUsdPerMinute => PriceMicroUsdPerHour is { } h ? Money.PerMinute(h) : null;
}

public sealed record FlavorGpu
{
    /// <summary>The GPU family (gpus.json "model"), e.g. "A10G".</summary>
    public string Model { get; init; } = "";
    public int Count { get; init; }
    /// <summary>Nominal GB per GPU, as the tier table states it.</summary>
    public int MemoryGB { get; init; }
}

/// <summary>Spec figures of one GPU model (requirements/gpus.json).</summary>
public sealed record GpuSpec
{
    public string Id { get; init; } = "";
    public string Model { get; init; } = "";
    public string? DisplayName { get; init; }
    public int MemoryGB { get; init; }
    public string? MemoryType { get; init; }
    public double? BandwidthGBs { get; init; }
    public double? Fp16TensorTflops { get; init; }
    public double? Bf16TensorTflops { get; init; }
    public double? Fp32Tflops { get; init; }
    public int? PcieGen { get; init; }
    public string? ComputeCapability { get; init; }
    public IReadOnlyList<string> NvmlNames { get; init; } = [];
    public string? Source { get; init; }
}

/// <summary>A newer price for a default tier, kept apart so the default catalogue keeps the document's figures.</summary>
public sealed record NewerPrice
{
    public string Id { get; init; } = "";
    public long PriceMicroUsdPerHour { get; init; }
    public string? Source { get; init; }
}

/// <summary>The file shapes (tiers.json, gpus.json); a user catalogue is a tiers.json that may also carry "gpus".</summary>
public sealed record TiersFile
{
    public string? Schema { get; init; }
    public IReadOnlyList<Flavor>? Flavors { get; init; }
    public IReadOnlyList<NewerPrice>? NewerPrices { get; init; }
    public IReadOnlyList<GpuSpec>? Gpus { get; init; }
}

public sealed record GpusFile
{
    public string? Schema { get; init; }
    public IReadOnlyList<GpuSpec>? Gpus { get; init; }
}

/// <summary>Money is integer micro-USD; never floating point.</summary>
public static class Money
{
    public const long MicroPerUsd = 1_000_000;

    /// <summary>
    /// The charge for one minute, rounded up: the same rule as the billing domain (GpuRunner.Lifecycle.Money), so
    /// the catalogue never shows a per-minute price other than the one billed. README: "Rounding rule".
    /// </summary>
    public static long PerMinute(long microUsdPerHour) => microUsdPerHour <= 0 ? 0 : (microUsdPerHour + 59) / 60;

    /// <summary>"$1.05" (to the cent when exact, else to the micro-dollar: "$0.068833").</summary>
    public static string Format(long microUsd)
    {
        var sign = microUsd < 0 ? "-" : "";
        var abs = Math.Abs(microUsd);
        var dollars = abs / MicroPerUsd;
        var micros = abs % MicroPerUsd;
        return micros % 10_000 == 0 ? $"{sign}${dollars}.{micros / 10_000:00}" : $"{sign}${dollars}.{micros:000000}".TrimEnd('0');
    }
}
