namespace GpuRunner.Diagnostics.Smoke;

/// <summary>
/// What each level runs, how big, how often, and the time limit of every check. Budgets are per GPU: quick fits in
/// 15 s and standard in 2 min on an H200 (allocations and driver start-up included); long adds the stability run.
/// Sizes are several times the largest L2 in the catalogue (60 MiB on H200) so caches do not flatter the numbers.
/// </summary>
public sealed record SmokePlan
{
    public required SmokeLevel Level { get; init; }
    public required TimeSpan BudgetPerGpu { get; init; }
    public required TimeSpan HealthLimit { get; init; }

    public required long DeviceCopyBytes { get; init; }
    public required int DeviceCopyReps { get; init; }
    public required TimeSpan DeviceCopyLimit { get; init; }

    public required long HostCopyBytes { get; init; }
    public required int HostCopyReps { get; init; }
    public required TimeSpan HostCopyLimit { get; init; }
    /// <summary>Transfer sizes for the bandwidth-vs-size sweep (pinned H2D, D2H and device copy).</summary>
    public required IReadOnlyList<long> SweepSizes { get; init; }
    public required TimeSpan SweepLimit { get; init; }

    public required int GemmSize { get; init; }
    public required int GemmReps { get; init; }
    public required TimeSpan GemmLimit { get; init; }

    /// <summary>Share of free memory the memtest allocates (in large chunks, leaving <see cref="MemtestHeadroomBytes"/>).</summary>
    public required double MemtestShare { get; init; }
    public required long MemtestHeadroomBytes { get; init; }
    public required int MemtestLoops { get; init; }
    public required TimeSpan MemtestLimit { get; init; }

    public required long PeerCopyBytes { get; init; }
    public required TimeSpan PeerLimit { get; init; }

    /// <summary>Zero outside the long level.</summary>
    public required TimeSpan StabilityDuration { get; init; }

    /// <summary>Coverage a standard or long memtest must reach, as a share of free memory, or the check warns.</summary>
    public const double RequiredMemtestCoverage = 0.90;
    public const int MaxLoggedErrors = 64;

    private const long KiB = 1024, MiB = KiB * 1024, GiB = MiB * 1024;

    public static SmokePlan For(SmokeLevel level, TimeSpan? stability = null) => level switch
    {
        SmokeLevel.Quick => new SmokePlan
        {
            Level = level, BudgetPerGpu = TimeSpan.FromSeconds(15), HealthLimit = TimeSpan.FromSeconds(3),
            DeviceCopyBytes = 1 * GiB, DeviceCopyReps = 5, DeviceCopyLimit = TimeSpan.FromSeconds(3),
            HostCopyBytes = 256 * MiB, HostCopyReps = 3, HostCopyLimit = TimeSpan.FromSeconds(4),
            SweepSizes = Sizes(64 * KiB, 256 * MiB), SweepLimit = TimeSpan.FromSeconds(2),
            GemmSize = 4096, GemmReps = 5, GemmLimit = TimeSpan.FromSeconds(4),
            MemtestShare = 0.25, MemtestHeadroomBytes = 1 * GiB, MemtestLoops = 1, MemtestLimit = TimeSpan.FromSeconds(5),
            PeerCopyBytes = 256 * MiB, PeerLimit = TimeSpan.FromSeconds(3),
            StabilityDuration = TimeSpan.Zero,
        },
        SmokeLevel.Standard => new SmokePlan
        {
            Level = level, BudgetPerGpu = TimeSpan.FromMinutes(2), HealthLimit = TimeSpan.FromSeconds(5),
            DeviceCopyBytes = 2 * GiB, DeviceCopyReps = 20, DeviceCopyLimit = TimeSpan.FromSeconds(10),
            HostCopyBytes = 1 * GiB, HostCopyReps = 5, HostCopyLimit = TimeSpan.FromSeconds(20),
            SweepSizes = Sizes(4 * KiB, 1 * GiB), SweepLimit = TimeSpan.FromSeconds(15),
            GemmSize = 8192, GemmReps = 20, GemmLimit = TimeSpan.FromSeconds(20),
            MemtestShare = 0.95, MemtestHeadroomBytes = 1 * GiB, MemtestLoops = 1, MemtestLimit = TimeSpan.FromSeconds(45),
            PeerCopyBytes = 1 * GiB, PeerLimit = TimeSpan.FromSeconds(10),
            StabilityDuration = TimeSpan.Zero,
        },
        SmokeLevel.Long => For(SmokeLevel.Standard) with
        {
            Level = level,
            MemtestLoops = 4, MemtestLimit = TimeSpan.FromMinutes(5),
            StabilityDuration = stability ?? TimeSpan.FromSeconds(60),
            BudgetPerGpu = TimeSpan.FromMinutes(8) + (stability ?? TimeSpan.FromSeconds(60)),
        },
        _ => throw new ArgumentOutOfRangeException(nameof(level)),
    };

    /// <summary>Powers of four from <paramref name="min"/> to <paramref name="max"/>, as nvbandwidth's sweeps.</summary>
    public static IReadOnlyList<long> Sizes(long min, long max)
    {
        var list = new List<long>();
        for (var s = min; s <= max; s *= 4) list.Add(s);
        return list;
    }

    /// <summary>Bytes the memtest asks for: the share of free memory, minus headroom for the driver and the
    /// context, rounded down to whole MiB.</summary>
    public long MemtestTarget(long freeBytes)
    {
        var target = Math.Min((long)(freeBytes * MemtestShare), freeBytes - MemtestHeadroomBytes);
        return Math.Max(0, target / MiB * MiB);
    }
}
