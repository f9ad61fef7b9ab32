using GpuRunner.Diagnostics.Report;

namespace GpuRunner.Diagnostics.Inventory;

/// <summary>Host facts (vCPU, RAM, disk, OS, container, Space env). The real one lives in Host/ (issue 2, host part).</summary>
public interface IHostInspector
{
    HostReport Inspect();
}

/// <summary>Turns detected facts into the best-matching flavor, or checks an expected one.</summary>
public interface ITierMatcher
{
    /// <summary>Null when no catalogue is available. With <paramref name="expect"/>, compares against that flavor.</summary>
    TierReport? Match(HostReport? host, IReadOnlyList<GpuReport> gpus, string? expect);

    /// <summary>The catalogue's flavor names (empty without a catalogue); an --expect outside them is a usage error.</summary>
    IReadOnlyList<string> Flavors { get; }
}

/// <summary>What a report needs besides the GPU layer. Swappable so tests and the CLI can plug the real ones in.</summary>
public sealed class DiagnosticsServices(IHostInspector host, ITierMatcher tiers)
{
    public IHostInspector Host { get; } = host;
    public ITierMatcher Tiers { get; } = tiers;

    /// <summary>Set by the composition root (CLI) once the host part's implementations are wired in.</summary>
    public static DiagnosticsServices Current { get; set; } = new(new MinimalHostInspector(), new NoCatalogue());
}

/// <summary>Stand-in until Host/ lands: processor count and MemTotal only.</summary>
public sealed class MinimalHostInspector : IHostInspector
{
    public HostReport Inspect()
    {
        var report = new HostReport { Vcpu = Environment.ProcessorCount, VcpuSource = "nproc" };
        try
        {
            var line = File.ReadLines("/proc/meminfo").FirstOrDefault(l => l.StartsWith("MemTotal:", StringComparison.Ordinal));
            if (line != null && long.TryParse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], out var kib))
                (report.MemoryBytes, report.MemorySource) = (kib * 1024, "MemTotal");
        }
        catch (IOException) { }
        return report;
    }
}

public sealed class NoCatalogue : ITierMatcher
{
    public TierReport? Match(HostReport? host, IReadOnlyList<GpuReport> gpus, string? expect) => null;
    public IReadOnlyList<string> Flavors => [];
}
